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

/* The log target of rp-als and rp-twotower (--target log, docs/stages/als.md): a normalised
 * train value v of shards.h5 is the watch ratio wr = norm_min + v (norm_max - norm_min); the
 * target keeps the views with lo <= wr < hi and v < 1 (the clipped maximum's log is not its
 * value) as log(wr). */
typedef struct rp_log_range {
    double norm_min, norm_max, lo, hi;
} rp_log_range;

/* rp_shards_log_range - norm_min and norm_max of the shards.h5 at path; lo = log_min, hi =
 * log_max when in (0, norm_max), else norm_max. Collective. Returns RP_OK, RP_ERR_NOINPUT,
 * RP_ERR_DATA (bad attributes), RP_ERR_USAGE (lo >= hi), each naming the file or option. */
int rp_shards_log_range(MPI_Comm comm, const char *path, double log_min, double log_max,
                        rp_log_range *r);

/* rp_log_keep - 1 when the normalised value v is kept, with *log_wr = log(wr); else 0. */
int rp_log_keep(const rp_log_range *r, float v, double *log_wr);

/* rp_log_gain - the least-squares gain of the log target's interaction g for the bias model's
 * residual r from sum g r and sum g^2 over the validation pairs; 0 when it would not be
 * positive (then the bias model itself is the prediction). */
double rp_log_gain(double sum_gr, double sum_gg);

#endif
