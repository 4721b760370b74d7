/* rp_model_hybrid.h - the hybrid model kinds of hybrid.h5 (schema recpipe.hybrid): "blend"
 * (ridge-weighted sum of component predictions) and "concat" (an MLP on the concatenated ALS and
 * two-tower embeddings). rp_model_load dispatches here; rp-hybrid builds the same inputs. */
#ifndef RP_MODEL_HYBRID_H
#define RP_MODEL_HYBRID_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "rp_model.h"

/* hybrid.h5 layout (see docs/stages/hybrid.md):
 *   root attrs: default ("blend"|"concat"), valid_rmse_blend, valid_rmse_concat
 *   /components/<name>/score/{user,item} + attrs post/scale/shift (dot form), name in
 *     {als, twotower, bias}
 *   /blend/weights float64 [1 + n]: intercept then one weight per /blend components attr name
 *   /concat/dims int64 [L+1], /concat/params float32 [P] (rp_mlp layout),
 *   /concat/{user,item}_{mean,scale} float32: standardisation of the user / item feature rows */
#define RP_HYB_COMPONENTS "/components"
#define RP_HYB_BLEND "/blend"
#define RP_HYB_BLEND_WEIGHTS "/blend/weights"
#define RP_HYB_CONCAT "/concat"
#define RP_HYB_CONCAT_DIMS "/concat/dims"
#define RP_HYB_CONCAT_PARAMS "/concat/params"
#define RP_HYB_CONCAT_USER_MEAN "/concat/user_mean"
#define RP_HYB_CONCAT_USER_SCALE "/concat/user_scale"
#define RP_HYB_CONCAT_ITEM_MEAN "/concat/item_mean"
#define RP_HYB_CONCAT_ITEM_SCALE "/concat/item_scale"

/* rp_model_load_hybrid - load variant ("" = the file's default attribute) of an open hybrid
 * file. The default is named "hybrid", a named variant "hybrid-<variant>". Collective.
 * Returns RP_OK or RP_ERR_DATA (unknown variant, missing or inconsistent datasets). */
int rp_model_load_hybrid(MPI_Comm comm, int64_t file, const char *path, const char *variant,
                         int64_t n_users, int64_t n_items, rp_model **m);

/* What a concat model is made of (rp-hybrid builds one in memory to score validation pairs
 * exactly as rp-eval will after loading hybrid.h5). */
typedef struct rp_hybrid_concat_parts {
    rp_model *als, *tt; /* dot-form components: their predictions are the last two inputs */
    int borrow;         /* 1: borrowed (caller destroys); 0: ownership passes on success */
    const float *Fu;    /* [n_users, du] standardised user feature rows (copied) */
    int64_t du;
    const float *Fi;    /* [n_items, di] standardised item feature rows (copied) */
    int64_t di;
    const struct rp_mlp *mlp; /* dims[0] == du + di + 2, output width 1 (copied) */
} rp_hybrid_concat_parts;

/* rp_model_concat_create - pred = clamp01(sigmoid(MLP([Fu[u], Fi[i], p_als, p_tt]))). Local.
 * Returns RP_OK, RP_ERR_DATA (inconsistent widths), RP_ERR_NOMEM. */
int rp_model_concat_create(const char *name, int64_t n_users, int64_t n_items,
                           const rp_hybrid_concat_parts *parts, rp_model **m);

/* rp_hybrid_feature_rows - the concat model's standardised feature rows for n entities:
 * F[r] = (concat(A[r] (da doubles), T[r] (dt doubles)) - mean) * scale. If mean/scale are
 * NULL they are computed here (column mean, 1/std or 1 for constant columns) and returned in
 * mean_out and scale_out (caller frees). Out: *F [n, da+dt] (caller frees). Local. */
int rp_hybrid_feature_rows(const double *A, int64_t da, const double *T, int64_t dt, int64_t n,
                           const float *mean, const float *scale, float **F, float **mean_out,
                           float **scale_out);

#endif
