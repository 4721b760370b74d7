/* als_target.c - rp-als's log target: the filter of the train blocks, the bias baseline the
 * calibrated prediction starts from, the gain. Why (docs/stages/als.md, "The log target"): a
 * view's watch ratio is a mixture of skips, partial views, loops and a log-normal main part;
 * the user x video effect moves the log median of the main part. Fitting the factors to
 * log(wr) of the main part's views measures that effect with about half the noise of the
 * normalised value, whose spread is dominated by the mixture; one gain per model maps it back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"
#include "rp_baseline.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_shards.h"

int als_log_scale(const als_opts *opt)
{
    const char *s = opt->log_scale != NULL ? opt->log_scale : ALS_DEFAULT_LOG_SCALE;
    if (strcmp(s, "none") == 0) return ALS_SCALE_NONE;
    if (strcmp(s, "item") == 0) return ALS_SCALE_ITEM;
    return ALS_SCALE_BOTH;
}

double als_scale_of(int mode, double user_bias, double item_bias)
{
    if (mode == ALS_SCALE_NONE) return 1.0;
    if (mode == ALS_SCALE_ITEM) return exp(item_bias);
    return exp(user_bias + item_bias);
}

/* filter - keep the block's pairs rp_log_keep accepts, as log(wr), in place. */
static void filter(const als_state *st, als_block *b)
{
    int64_t w = 0, start = 0;
    for (int64_t i = 0; i < b->nrows; i++) {
        int64_t end = b->off[i + 1];
        for (int64_t e = start; e < end; e++) {
            double lw = 0.0;
            if (!rp_log_keep(&st->lr, b->val[e], &lw)) continue;
            b->col[w] = b->col[e];
            b->val[w] = (float)lw;
            w++;
        }
        start = end;
        b->off[i + 1] = w;
    }
    b->nnz = w;
}

/* bias_terms - copies of the bias baseline's terms (replicated). */
static int bias_terms(MPI_Comm comm, const als_opts *opt, als_state *st)
{
    int rc = RP_OK;
    rp_model *m = NULL;
    const double *U = NULL, *V = NULL;
    int64_t nu = st->side[ALS_USER].n_global, ni = st->side[ALS_ITEM].n_global;
    RP_CALL(rp_baseline_bias_terms(comm, opt->shards, opt->bias_reg, &m, &U, &V, &st->cmu));
    st->cu = rp_malloc((size_t)(nu + 1) * sizeof *st->cu);
    st->ci = rp_malloc((size_t)(ni + 1) * sizeof *st->ci);
    RP_AGREE_LOCAL(comm, st->cu == NULL || st->ci == NULL);
    for (int64_t u = 0; u < nu; u++) st->cu[u] = U[2 * u];
    for (int64_t i = 0; i < ni; i++) st->ci[i] = V[2 * i + 1];
cleanup:
    rp_model_destroy(&m);
    return rc;
}

int als_target_setup(MPI_Comm comm, const als_opts *opt, als_state *st)
{
    int rc = RP_OK;
    st->log_target = strcmp(als_target_name(opt), "log") == 0;
    st->nnz_train_all = st->nnz_train;
    if (!st->log_target) return RP_OK;
    st->log_scale = als_log_scale(opt);
    RP_CALL(rp_shards_log_range(comm, opt->shards, opt->log_min, opt->log_max, &st->lr));
    filter(st, &st->side[ALS_USER].train);
    filter(st, &st->side[ALS_ITEM].train);
    int64_t kept = st->side[ALS_USER].train.nnz;
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, &kept, 1, MPI_INT64_T, MPI_SUM, comm));
    st->nnz_train = kept;
    rp_log_info("log target: %lld of %lld train pairs with %g <= watch_ratio < %g",
                (long long)kept, (long long)st->nnz_train_all, st->lr.lo, st->lr.hi);
    RP_CALL(bias_terms(comm, opt, st));
cleanup:
    return rp_mpi_agree(comm, rc);
}
