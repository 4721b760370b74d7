/* rp_shards.h - the one reader of shards.h5's header (rp-shard's output, docs/SCHEMA.md): the
 * catalogue sizes n_users and n_items under one validity rule, used by every stage that reads
 * shards.h5 (features, als, twotower, hybrid, eval, recommend and the baselines). */
#ifndef RP_SHARDS_H
#define RP_SHARDS_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

/* rp_shards_read_header - check an open shards.h5 (path names it in messages) and read its
 * header. The rule: schema "recpipe.shards"; root attributes n_users and n_items present, each
 * in [1, INT32_MAX] (dense indices are int32); /ids/user_raw and /ids/item_raw, where present,
 * have exactly that many rows. Collective (metadata reads alike on every rank).
 * Out: *n_users, *n_items, written only on success. Returns RP_OK or RP_ERR_DATA
 * ("path: ..."). */
int rp_shards_read_header(hid_t f, const char *path, int64_t *n_users, int64_t *n_items);

/* rp_shards_open - rp_h5_open + rp_shards_read_header. Collective. Out: *f (rp_h5_close),
 * *n_users and *n_items, on success only. Returns RP_OK, RP_ERR_NOINPUT (missing),
 * RP_ERR_DATA. */
int rp_shards_open(MPI_Comm comm, const char *path, hid_t *f, int64_t *n_users,
                   int64_t *n_items);

#endif
