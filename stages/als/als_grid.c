/* als_grid.c - rp-als model selection: the K x lambda pattern search on the validation split,
 * snapshots of the best iterate, and the bias baseline every ALS model must beat. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"
#include "rp_baseline.h"
#include "rp_h5.h"
#include "rp_log.h"
#include "rp_mpi.h"

/* parse_list - comma-separated positive numbers, strictly ascending, at most 64 of them. */
static int parse_list(const char *opt, const char *s, int ints, double **out, int *n_out)
{
    int rc = RP_OK, n = 0;
    double *v = NULL;
    const char *p = s;
    RP_ALLOC(v = malloc(64 * sizeof *v));
    while (p != NULL && *p != '\0') {
        char *end = NULL;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || errno != 0 || !isfinite(x) || !(x > 0.0) || (*end != ',' && *end != '\0')
            || (ints && x != floor(x)) || n == 64 || (n > 0 && x <= v[n - 1]))
            RP_FAIL_USER0(RP_ERR_USAGE, "%s '%s': want up to 64 strictly ascending positive %s, "
                          "comma-separated", opt, s, ints ? "integers" : "numbers");
        v[n++] = x;
        p = *end == ',' ? end + 1 : end;
    }
    if (n == 0) RP_FAIL_USER0(RP_ERR_USAGE, "%s: empty list", opt);
    *out = v;
    *n_out = n;
    v = NULL;
cleanup:
    free(v);
    return rc;
}

void als_grid_clear(als_grid *g)
{
    free(g->ks);
    free(g->ls);
    free(g->k);
    free(g->lambda);
    free(g->lambda_bias);
    free(g->valid_rmse);
    free(g->best_iter);
    free(g->iters);
    memset(g, 0, sizeof *g);
}

int als_grid_init(const als_opts *opt, als_grid *g)
{
    int rc = RP_OK, nk = 1;
    double *kv = NULL;
    memset(g, 0, sizeof *g);
    if (opt->k > 0) {
        RP_ALLOC(kv = malloc(sizeof *kv));
        kv[0] = opt->k;
    } else {
        RP_CALL(parse_list("--grid-k", opt->grid_k, 1, &kv, &nk));
        if (kv[nk - 1] > 1024) RP_FAIL_USER0(RP_ERR_USAGE, "--grid-k: ranks must be <= 1024");
    }
    if (opt->lambda > 0.0) {
        RP_ALLOC(g->ls = malloc(sizeof *g->ls));
        g->ls[0] = opt->lambda;
        g->nl = 1;
    } else {
        const char *gl = opt->grid_lambda;
        if (gl == NULL || strcmp(gl, "auto") == 0) /* the penalty's own scale */
            gl = als_penalty(opt) == ALS_PEN_CONST ? ALS_GRID_LAMBDA_CONST : ALS_GRID_LAMBDA_WR;
        RP_CALL(parse_list("--grid-lambda", gl, 0, &g->ls, &g->nl));
    }
    g->nk = nk;
    size_t np = (size_t)nk * (size_t)g->nl;
    RP_ALLOC(g->ks = malloc((size_t)nk * sizeof *g->ks));
    for (int i = 0; i < nk; i++) g->ks[i] = (int32_t)kv[i];
    RP_ALLOC(g->k = calloc(np, sizeof *g->k));
    RP_ALLOC(g->lambda = calloc(np, sizeof *g->lambda));
    RP_ALLOC(g->lambda_bias = calloc(np, sizeof *g->lambda_bias));
    RP_ALLOC(g->valid_rmse = calloc(np, sizeof *g->valid_rmse));
    RP_ALLOC(g->best_iter = calloc(np, sizeof *g->best_iter));
    RP_ALLOC(g->iters = calloc(np, sizeof *g->iters));
cleanup:
    free(kv);
    if (rc != RP_OK) als_grid_clear(g);
    return rc;
}

int als_penalty(const als_opts *opt)
{
    return strcmp(als_penalty_name(opt), "const") == 0 ? ALS_PEN_CONST : ALS_PEN_WR;
}

int als_grid_best(const als_grid *g)
{
    int best = -1;
    for (int p = 0; p < g->n; p++)
        if (!isnan(g->valid_rmse[p]) &&
            (best < 0 || g->valid_rmse[p] < g->valid_rmse[best] * (1.0 - ALS_GRID_TOL)))
            best = p;
    return best;
}

static int grid_done(const als_grid *g, int ik, int il)
{
    for (int p = 0; p < g->n; p++)
        if (g->k[p] == g->ks[ik] && g->lambda[p] == g->ls[il]) return 1;
    return 0;
}

int als_grid_next(const als_grid *g, int *k, double *lambda)
{
    int ik = (g->nk - 1) / 2, il = (g->nl - 1) / 2;
    if (g->n > 0) {
        int b = als_grid_best(g);
        if (b < 0) return 0; /* every point diverged: nothing to walk from */
        while (g->ks[ik] != g->k[b]) ik = g->ks[ik] < g->k[b] ? ik + 1 : ik - 1;
        while (g->ls[il] != g->lambda[b]) il = g->ls[il] < g->lambda[b] ? il + 1 : il - 1;
    }
    /* the best point itself (first call), then its axis neighbours in a fixed order */
    const int step[5][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}};
    for (int d = 0; d < 5; d++) {
        int a = ik + step[d][0], c = il + step[d][1];
        if (a < 0 || a >= g->nk || c < 0 || c >= g->nl || grid_done(g, a, c)) continue;
        *k = g->ks[a];
        *lambda = g->ls[c];
        return 1;
    }
    return 0;
}

void als_grid_push(als_grid *g, int k, double lambda, double lambda_bias, double valid_rmse,
                   int best_iter, int iters)
{
    int p = g->n++;
    g->k[p] = k;
    g->lambda[p] = lambda;
    g->lambda_bias[p] = lambda_bias;
    g->valid_rmse[p] = valid_rmse;
    g->best_iter[p] = best_iter;
    g->iters[p] = iters;
}

void als_hist_clear(als_hist *h)
{
    free(h->iter);
    free(h->train_rmse);
    free(h->valid_rmse);
    free(h->train_mae);
    free(h->valid_mae);
    free(h->seconds);
    memset(h, 0, sizeof *h);
}

int als_hist_copy(als_hist *dst, const als_hist *src)
{
    int rc = RP_OK;
    als_hist h = {0};
    double *const from[5] = {src->train_rmse, src->valid_rmse, src->train_mae, src->valid_mae,
                             src->seconds};
    double **to[5] = {&h.train_rmse, &h.valid_rmse, &h.train_mae, &h.valid_mae, &h.seconds};
    size_t n = (size_t)src->n;
    RP_ALLOC(h.iter = malloc((n + 1) * sizeof *h.iter));
    if (n > 0) memcpy(h.iter, src->iter, n * sizeof *h.iter);
    for (int c = 0; c < 5; c++) {
        RP_ALLOC(*to[c] = malloc((n + 1) * sizeof(double)));
        if (n > 0) memcpy(*to[c], from[c], n * sizeof(double));
    }
    h.n = src->n;
    als_hist_clear(dst);
    *dst = h;
    memset(&h, 0, sizeof h);
cleanup:
    als_hist_clear(&h);
    return rc;
}

int als_snap_alloc(const als_state *st, als_snap *sn)
{
    int rc = RP_OK;
    size_t es = st->dbl ? sizeof(double) : sizeof(float);
    for (int s = 0; s < 2; s++)
        if (sn->fac[s] == NULL)
            RP_ALLOC(sn->fac[s] = calloc((size_t)(st->side[s].nrows + 1) * (size_t)(st->kmax + 1),
                                         es));
cleanup:
    return rc;
}

void als_snap_take(const als_state *st, als_snap *sn, int64_t iter, double valid_rmse)
{
    size_t es = st->dbl ? sizeof(double) : sizeof(float);
    for (int s = 0; s < 2; s++)
        memcpy(sn->fac[s], st->side[s].fac, (size_t)st->side[s].nrows * (size_t)(st->k + 1) * es);
    sn->k = st->k;
    sn->lambda = st->lambda;
    sn->iter = iter;
    sn->valid_rmse = valid_rmse;
    sn->valid_plain = st->last_valid_plain; /* of the als_metrics call that gave valid_rmse */
    sn->gamma = st->gamma;
}

void als_snap_restore(als_state *st, const als_snap *sn)
{
    size_t es = st->dbl ? sizeof(double) : sizeof(float);
    for (int s = 0; s < 2; s++)
        memcpy(st->side[s].fac, sn->fac[s], (size_t)st->side[s].nrows * (size_t)(sn->k + 1) * es);
}

void als_snap_clear(als_snap *sn)
{
    free(sn->fac[0]);
    free(sn->fac[1]);
    als_hist_clear(&sn->hist);
    memset(sn, 0, sizeof *sn);
}

/* Own rows [0 .. 0, b] at the current k from the baseline's dot form: users U = [b_u, 1],
 * items V = [1, b_i] (rp_baseline.h). */
static void fill_bias_rows(als_state *st, const double *U, const double *V)
{
    int k = st->k;
    for (int s = 0; s < 2; s++) {
        als_side *sd = &st->side[s];
        for (int64_t i = 0; i < sd->nrows; i++) {
            int64_t g = sd->row_offset + i;
            /* the log target keeps the baseline's terms apart (cu, ci): zero rows are it */
            double b = st->log_target ? 0.0 : s == ALS_USER ? U[2 * g] : V[2 * g + 1];
            for (int j = 0; j <= k; j++) {
                double v = j < k ? 0.0 : b;
                if (st->dbl) ((double *)sd->fac)[i * (k + 1) + j] = v;
                else ((float *)sd->fac)[i * (k + 1) + j] = (float)v;
            }
        }
    }
}

int als_bias_baseline(als_state *st, const als_opts *opt)
{
    int rc = RP_OK;
    rp_model *m = NULL;
    const double *U = NULL, *V = NULL;
    double shift = 0.0, mu = st->mu, m4[4];
    /* the log target read the baseline's terms once (als_target_setup); its rows are zeros */
    if (st->log_target) shift = st->cmu;
    else RP_CALL(rp_baseline_bias_terms(st->comm, opt->shards, opt->bias_reg, &m, &U, &V, &shift));
    fill_bias_rows(st, U, V);
    st->bias_mu = shift;
    if (!st->log_target) st->mu = shift; /* the same metric code, with the baseline's mean */
    rc = als_exchange(st, ALS_ITEM);
    if (rc == RP_OK) rc = als_metrics(st, &m4[0], &m4[2], &m4[1], &m4[3]);
    st->mu = mu;
    RP_CALL(rc);
    st->bias_valid_rmse = m4[1];
    st->bias_valid_plain = st->last_valid_plain;
    if (st->log_target)
        rp_log_info("bias baseline (reg %g): valid_rmse=%.6f", opt->bias_reg, m4[1]);
    else
        rp_log_info("bias baseline (reg %g): train_rmse=%.6f valid_rmse=%.6f", opt->bias_reg,
                    m4[0], m4[1]);
cleanup:
    rp_model_destroy(&m);
    return rp_mpi_agree(st->comm, rc);
}

int als_fallback(als_state *st, const als_opts *opt)
{
    int rc = RP_OK;
    int k = st->best.k > 0 ? st->best.k : st->k;
    RP_CALL(als_set_rank(st, k, st->best.k > 0 ? st->best.lambda : st->lambda));
    RP_CALL(als_bias_baseline(st, opt)); /* leaves the baseline's rows in the factors */
    RP_CALL(als_snap_alloc(st, &st->best));
    als_snap_take(st, &st->best, st->best.iter, st->bias_valid_rmse);
    st->fallback = 1;
cleanup:
    return rc;
}
