/* rp_baseline.h - baseline recommenders fitted on the /train split of shards.h5 and returned as
 * dot-form rp_models (rp_model.h), so rp-eval, rp-hybrid and rp-recommend score them like any
 * trained model: global mean, user mean, video mean, the regularised bias model, and (with
 * features.h5, rp_linreg.h) a ridge linear regression on user and video features.
 *
 * All fits are collective on comm. Each rank reads only its contiguous block of rows of
 * /train/by_user or /train/by_item (blocks balanced by nonzeros); per-row statistics are
 * computed sequentially in the file's order by the rank owning the row, then gathered in row
 * order, so every fitted number is bit-identical for any number of ranks. The returned model is
 * replicated on every rank. Out: *m (rp_model_destroy), written only on success.
 * Returns RP_OK, RP_ERR_DATA (malformed shards/features, message names the file), RP_ERR_IO,
 * RP_ERR_INTERNAL; the rc is agreed over comm. */
#ifndef RP_BASELINE_H
#define RP_BASELINE_H

#include <hdf5.h>
#include <mpi.h>

#include "rp_model.h"

/* Model names given to the baselines (rp_model.name). */
#define RP_BASELINE_GLOBAL_MEAN "global_mean"
#define RP_BASELINE_USER_MEAN "user_mean"
#define RP_BASELINE_ITEM_MEAN "video_mean"
#define RP_BASELINE_BIAS "bias"
#define RP_BASELINE_LINREG "linreg"

/* rp_baseline_global_mean - pred(u, i) = mu, the mean normalised train value.
 * Dot form: U = [1], V = [0], shift = mu. */
int rp_baseline_global_mean(MPI_Comm comm, hid_t shards, rp_model **m);

/* rp_baseline_user_mean - pred(u, i) = mean of u's train values (mu if u has none).
 * Dot form: U = [mean_u], V = [1]. */
int rp_baseline_user_mean(MPI_Comm comm, hid_t shards, rp_model **m);

/* rp_baseline_item_mean - pred(u, i) = mean of i's train values (mu if i has none).
 * Dot form: U = [1], V = [mean_i]. Name "video_mean". */
int rp_baseline_item_mean(MPI_Comm comm, hid_t shards, rp_model **m);

/* rp_baseline_bias - pred(u, i) = clamp01(mu + b_u + b_i) with (one pass, items first)
 *   b_i = sum_{u in R(i)} (r_ui - mu) / (reg + |R(i)|)         from /train/by_item
 *   b_u = sum_{i in R(u)} (r_ui - mu - b_i) / (reg + |R(u)|)   from /train/by_user
 * Dot form: U = [b_u, 1], V = [1, b_i], shift = mu. reg >= 0. Name "bias". */
int rp_baseline_bias(MPI_Comm comm, hid_t shards, double reg, rp_model **m);

/* rp_baseline_bias_terms - the bias model of rp_baseline_bias fitted on the shards file at path
 * (opened and closed here), with views of its terms: b_u = U[2u], b_i = V[2i + 1] (U[2u + 1] and
 * V[2i] are 1) and mu. *m owns U and V; the caller destroys it. Collective. */
int rp_baseline_bias_terms(MPI_Comm comm, const char *path, double reg, rp_model **m,
                           const double **U, const double **V, double *mu);

/* rp_baseline_train_mean - mu alone (the same number rp_baseline_global_mean uses). Collective. */
int rp_baseline_train_mean(MPI_Comm comm, hid_t shards, double *mu);

#endif
