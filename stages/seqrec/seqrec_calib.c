/* seqrec_calib.c - rp-seqrec's log target (docs/stages/seqrec.md, "The log target"), as in
 * rp-als and rp-twotower: the loss fits log(watch ratio) of the next view when it lies in the
 * log-normal main part (rp_log_keep), and predictions on the normalised scale are the bias
 * model plus one gain, fitted on validation, times e^(b_u + b_i) (state . content). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_baseline.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "seqrec.h"

/* bias_terms - copies of the bias model's terms (rp_baseline_bias_terms). */
static int bias_terms(MPI_Comm comm, const sr_opts *o, sr_data *d)
{
    int rc = RP_OK;
    rp_model *bm = NULL;
    const double *U = NULL, *V = NULL;
    RP_CALL(rp_baseline_bias_terms(comm, o->train.shards, o->train.bias_reg, &bm, &U, &V,
                                   &d->cmu));
    d->cu = rp_malloc((size_t)d->n_users * sizeof *d->cu);
    d->ci = rp_malloc((size_t)d->n_items * sizeof *d->ci);
    RP_AGREE_LOCAL(comm, d->cu == NULL || d->ci == NULL);
    for (int64_t u = 0; u < d->n_users; u++) d->cu[u] = U[2 * u];
    for (int64_t i = 0; i < d->n_items; i++) d->ci[i] = V[2 * i + 1];
cleanup:
    rp_model_destroy(&bm);
    return rc;
}

int seqrec_log_setup(MPI_Comm comm, const sr_opts *o, sr_data *d)
{
    int rc = RP_OK;
    int64_t n = d->hoff[d->n_users], kept = 0;
    double sum = 0.0;
    d->log_target = strcmp(o->target, "log") == 0;
    if (!d->log_target) return RP_OK;
    RP_CALL(rp_shards_log_range(comm, o->train.shards, o->log_min, o->log_max, &d->lr));
    d->hlog = rp_malloc((size_t)(n > 0 ? n : 1) * sizeof *d->hlog);
    RP_AGREE_LOCAL(comm, d->hlog == NULL);
    for (int64_t u = 0; u < d->n_users; u++)
        for (int64_t h = d->hoff[u]; h < d->hoff[u + 1]; h++) {
            double lw = 0.0;
            d->hlog[h] = rp_log_keep(&d->lr, d->hval[h], &lw) ? (float)lw : NAN;
            if (h < d->hoff[u] + d->ntrain[u] && !isnan(d->hlog[h])) {
                sum += d->hlog[h];
                kept++;
            }
        }
    if (kept == 0)
        RP_FAIL_USER0(RP_ERR_NOINPUT, "%s: /train has no views with %g <= watch_ratio < %g for "
                      "--target log", o->train.shards, d->lr.lo, d->lr.hi);
    d->train_mean = sum / (double)kept;
    rp_log_info("log target: %lld of %lld train views with %g <= watch_ratio < %g",
                (long long)kept, (long long)d->n_train, d->lr.lo, d->lr.hi);
    RP_CALL(bias_terms(comm, o, d));
cleanup:
    return rp_mpi_agree(comm, rc);
}

double seqrec_interaction(const sr_model *m, int32_t u, int32_t i, const float *state,
                          const float *content)
{
    double dot = 0.0;
    for (int q = 0; q < m->c.d; q++) dot += (double)state[q] * content[q];
    return exp((double)m->w[m->l.user_bias + u] + (double)m->w[m->l.item_bias + i]) * dot;
}

double seqrec_base(const sr_data *d, int32_t u, int32_t i)
{
    return d->cmu + d->cu[u] + d->ci[i];
}
