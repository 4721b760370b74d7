/* eval_pairs.h - rp-eval: models reported from per-pair predictions (a model file's /test_pred,
 * aligned with shards.h5 /test/by_user) as well as from their /score dot form. */
#ifndef EVAL_PAIRS_H
#define EVAL_PAIRS_H

#include <mpi.h>
#include <stdint.h>

#include "rp_model.h"

/* eval_pairs_has - 1 on every rank when the (readable) file has /test_pred. Collective. */
int eval_pairs_has(MPI_Comm comm, const char *path);

/* eval_pairs_load - a model that predicts each test pair of users [u0, u0 + nu) (this rank's
 * block: only their rows of /test_pred and /test/by_user/item are read and held) from path's
 * /test_pred, and any other pair (test pairs of other users included) and user blocks from
 * path's dot form; named like the dot form. Collective (each rank its own block).
 * Out: *out (rp_model_destroy). Returns RP_OK, RP_ERR_NOINPUT, RP_ERR_DATA (lengths or values
 * that do not fit the test split; message names the file). */
int eval_pairs_load(MPI_Comm comm, const char *path, const char *shards, int64_t n_users,
                    int64_t n_items, int64_t u0, int64_t nu, rp_model **out);

#endif
