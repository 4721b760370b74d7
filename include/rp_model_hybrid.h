/* rp_model_hybrid.h - the hybrid model kinds of hybrid.h5 (schema recpipe.hybrid): "blend"
 * (ridge-weighted sum of component predictions) and "concat" (an MLP on the concatenated
 * component embeddings and predictions). rp_model_load dispatches here; rp-hybrid builds the
 * same inputs. */
#ifndef RP_MODEL_HYBRID_H
#define RP_MODEL_HYBRID_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "rp_model.h"

/* hybrid.h5 layout (see docs/stages/hybrid.md):
 *   root attrs: default ("blend"|"concat"), valid_rmse_blend, valid_rmse_concat
 *   /components/<name>/score/{user,item} + attrs post/scale/shift (dot form), name in
 *     {als, twotower, seqrec, bias}
 *   /blend/weights float64 [1 + n]: intercept then one weight per /blend components attr name
 *   /concat/dims int64 [L+1], /concat/params float32 [P] (rp_mlp layout),
 *   /concat/{user,item}_{mean,scale} float32: standardisation of the user / item feature rows
 *   /concat attrs: components (prediction inputs, in order), embeddings (components whose rows
 *     are the features, in order); both absent = "als, twotower" (files before seqrec);
 *     fallback: "" or the component the variant scores alone
 *   /concat/offset_weights float64 [k+1]: the logit offset's blend weights (absent = no offset) */
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
#define RP_HYB_CONCAT_OFFSET "/concat/offset_weights"

/* rp_model_load_hybrid - load variant ("" = the file's default attribute) of an open hybrid
 * file. The default is named "hybrid", a named variant "hybrid-<variant>". Collective.
 * Returns RP_OK or RP_ERR_DATA (unknown variant, missing or inconsistent datasets). */
int rp_model_load_hybrid(MPI_Comm comm, int64_t file, const char *path, const char *variant,
                         int64_t n_users, int64_t n_items, rp_model **m);

/* What a concat model is made of (rp-hybrid builds one in memory to score validation pairs
 * exactly as rp-eval will after loading hybrid.h5). */
typedef struct rp_hybrid_concat_parts {
    int n_comp;                /* components whose predictions are the last n_comp inputs */
    rp_model *const *comp;     /* dot-form components [n_comp] */
    int borrow;                /* 1: borrowed (caller destroys); 0: ownership passes on success */
    const float *Fu;           /* [n_users, du] standardised user feature rows (copied) */
    int64_t du;
    const float *Fi;           /* [n_items, di] standardised item feature rows (copied) */
    int64_t di;
    const struct rp_mlp *mlp;  /* dims[0] == du + di + n_comp, output width 1 (copied) */
    const double *offset_w;    /* [n_comp + 1] blend weights of the logit offset, or NULL */
} rp_hybrid_concat_parts;

/* rp_hybrid_offset - the concat's logit offset: logit(clamp(w0 + sum_q w_q p_q, eps, 1 - eps)),
 * eps = RP_HYB_OFFSET_EPS. Local, pure. */
#define RP_HYB_OFFSET_EPS 1e-3
double rp_hybrid_offset(int k, const double *w, const double *p);

/* rp_model_concat_create - pred = clamp01(sigmoid(offset + MLP([Fu[u], Fi[i], p_0 .. p_{n-1}])))
 * (offset 0 without offset_w). Local.
 * Returns RP_OK, RP_ERR_DATA (inconsistent widths), RP_ERR_NOMEM. */
int rp_model_concat_create(const char *name, int64_t n_users, int64_t n_items,
                           const rp_hybrid_concat_parts *parts, rp_model **m);

/* rp_hybrid_feature_rows - the concat model's standardised feature rows for n entities:
 * F[r] = (concat(A_0[r] (d[0] doubles), .., A_{nm-1}[r]) - mean) * scale. If mean/scale are
 * NULL they are computed here (column mean, 1/std or 1 for constant columns) and returned in
 * mean_out and scale_out (caller frees). Out: *F [n, sum d] (caller frees). Local. */
int rp_hybrid_feature_rows(int nm, const double *const *A, const int64_t *d, int64_t n,
                           const float *mean, const float *scale, float **F, float **mean_out,
                           float **scale_out);

#endif
