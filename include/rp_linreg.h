/* rp_linreg.h - the ridge linear regression baseline on user and video features (features.h5),
 * fitted on /train of shards.h5 and returned as a dot-form rp_model like the other baselines
 * (rp_baseline.h); rp-eval reports it. Collective on comm; the rc is agreed. */
#ifndef RP_LINREG_H
#define RP_LINREG_H

#include <hdf5.h>
#include <mpi.h>

#include "rp_model.h"

/* Options of the linear regression. */
typedef struct rp_linreg_opts {
    double ridge;        /* penalty on every weight but the intercept (> 0 keeps it solvable) */
    int max_cardinality; /* categorical columns with more levels (including 0) are left out */
} rp_linreg_opts;

/* rp_linreg_fit - ridge regression of the normalised train value on x_ui = [1, f_u, f_i]:
 * f_u = one-hot of each /user/cat column (cardinality from /user/cat_cardinality) + /user/num;
 * f_i = one-hot of /item/cat + multi-hot of /item/tags (slot = tag value, 0 = pad, ignored) +
 * /item/num (each dataset optional). Solves (X^T X + ridge * diag(0, 1, .., 1)) w = X^T y with
 * rp_la_dposv_info. X^T X and X^T y are built from per-user sums (by_user block: user-user and
 * user-item blocks) and per-item counts (by_item block: item-item block), each term rounded
 * to a fixed-point int64 with a scale set by global bounds, and reduced with MPI_Allreduce:
 * integer sums are exact, so the fit is identical for any rank count. Additive, hence dot form:
 * U = [w_0 + f_u.w_u, 1], V = [1, f_i.w_i]. features rows must match n_users / n_items.
 * Columns left out are announced (rank 0); more than 8000 columns in all is RP_ERR_DATA.
 * Name "linreg". */
int rp_linreg_fit(MPI_Comm comm, hid_t shards, hid_t features, const rp_linreg_opts *o,
                  rp_model **m);

#endif
