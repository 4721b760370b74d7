/* twotower_calib.c - rp-twotower's log target (docs/stages/twotower.md, "The log target"): the
 * train pairs kept as log(watch_ratio), the bias model the calibrated prediction starts from,
 * the gain fitted on validation, and the calibrated /score rows. As in rp-als: the user x video
 * effect moves the log median of a view's main part; fitting it there halves the noise the
 * towers see, and one gain maps the interaction back onto the normalised scale. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_baseline.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "twotower.h"

#define TT_FIX 4294967296.0 /* fixed-point unit of the gain's sums: exact for any rank count */

void twotower_log_filter(tt_data *d)
{
    tt_split *s = &d->train;
    int64_t w = 0;
    double sum = 0.0;
    for (int64_t k = 0; k < s->n; k++) {
        double lw = 0.0;
        if (!rp_log_keep(&d->lr, s->value[k], &lw)) continue;
        s->user[w] = s->user[k];
        s->item[w] = s->item[k];
        s->value[w] = (float)lw;
        sum += s->value[w];
        w++;
    }
    d->train_all = s->n;
    s->n = w;
    d->train_mean = w > 0 ? sum / (double)w : 0.0;
}

int twotower_log_setup(MPI_Comm comm, const tt_opts *o, tt_data *d)
{
    int rc = RP_OK;
    d->log_target = strcmp(o->target, "log") == 0;
    d->train_all = d->train.n;
    if (!d->log_target) return RP_OK;
    RP_CALL(rp_shards_log_range(comm, o->train.shards, o->log_min, o->log_max, &d->lr));
    twotower_log_filter(d);
    if (d->train.n == 0)
        RP_FAIL_USER0(RP_ERR_NOINPUT, "%s: /train has no pairs with %g <= watch_ratio < %g for "
                      "--target log", o->train.shards, d->lr.lo, d->lr.hi);
    rp_log_info("log target: %lld of %lld train pairs with %g <= watch_ratio < %g",
                (long long)d->train.n, (long long)d->train_all, d->lr.lo, d->lr.hi);
    RP_CALL(twotower_bias_terms(comm, o, d, &d->cu, &d->ci, &d->cmu));
cleanup:
    return rp_mpi_agree(comm, rc);
}

/* The interaction of a pair from the model's score rows [a u, b_u, 1] and [v, 1, b_i]:
 * exp(b_u + b_i) (u . v), the log-scale effect times the slope of the watch ratio there. */
static double interaction(int D, const float *su, const float *si)
{
    double s = 0.0;
    for (int k = 0; k < D; k++) s += (double)su[k] * si[k];
    return exp((double)su[D] + (double)si[D + 1]) * s;
}

int twotower_calib_gamma(MPI_Comm comm, const tt_model *m, const tt_data *d, const float *su,
                         const float *si, double *gamma)
{
    int rc = RP_OK, rank = 0, size = 1, D = m->D, S = m->S;
    int64_t acc[2] = {0, 0}, off = 0, cnt = 0;
    const tt_split *s = &d->valid;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    rp_part_even(s->n, size, rank, &off, &cnt);
    for (int64_t k = off; k < off + cnt; k++) {
        int32_t u = s->user[k], i = s->item[k];
        double g = interaction(D, su + (int64_t)u * S, si + (int64_t)i * S);
        double r = s->value[k] - d->cmu - d->cu[u] - d->ci[i];
        acc[0] += llrint(g * r * TT_FIX);
        acc[1] += llrint(g * g * TT_FIX);
    }
    RP_CALL(rp_mpi_sum_i64(comm, acc, 2));
    *gamma = rp_log_gain((double)acc[0], (double)acc[1]);
cleanup:
    return rc;
}

void twotower_calib_rows(const tt_model *m, const tt_data *d, double gamma, float *su, float *si,
                         tt_dot *dot)
{
    int D = m->D, S = m->S;
    for (int64_t u = 0; u < d->n_users; u++) {
        float *r = su + u * S;
        double c = gamma * exp((double)r[D]);
        for (int k = 0; k < D; k++) r[k] = (float)(c * r[k]);
        r[D] = (float)d->cu[u];
        r[D + 1] = 1.0f;
    }
    for (int64_t i = 0; i < d->n_items; i++) {
        float *r = si + i * S;
        double c = exp((double)r[D + 1]);
        for (int k = 0; k < D; k++) r[k] = (float)(c * r[k]);
        r[D] = 1.0f;
        r[D + 1] = (float)d->ci[i];
    }
    *dot = (tt_dot){S, 0, 1.0, d->cmu, su, si};
}

int twotower_evaluate_data(MPI_Comm comm, const tt_model *m, const tt_data *d, const tt_split *s,
                           double *rmse, double *mae, double *gamma)
{
    int rc = RP_OK;
    float *su = NULL, *si = NULL;
    int64_t S = m->S;
    tt_dot dot;
    double g = 0.0;
    if (!d->log_target) {
        if (gamma) *gamma = 1.0;
        return twotower_evaluate(comm, m, s, rmse, mae);
    }
    su = rp_malloc((size_t)(d->n_users * S) * sizeof(float));
    si = rp_malloc((size_t)(d->n_items * S) * sizeof(float));
    RP_AGREE_LOCAL(comm, su == NULL || si == NULL);
    rc = twotower_embed_all(m, TT_USER, su, NULL);
    if (rc == RP_OK) rc = twotower_embed_all(m, TT_ITEM, si, NULL);
    RP_AGREE(comm, rc);
    RP_CALL(twotower_calib_gamma(comm, m, d, su, si, &g));
    twotower_calib_rows(m, d, g, su, si, &dot);
    RP_CALL(twotower_eval_scores(comm, &dot, s, rmse, mae));
    if (gamma) *gamma = g;
cleanup:
    free(su);
    free(si);
    return rc;
}
