/* twotower_finish.c - rp-twotower against the bias model: the selected epoch's validation RMSE
 * next to rp_baseline_bias's on the same pairs, and the fallback to the bias model's terms when
 * the two-tower loses (docs/stages/twotower.md, "Never worse than the bias model"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_baseline.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "twotower.h"

/* The bias model rp-eval reports (rp_baseline_bias on /train, bit-identical for any rank
 * count): b_u [n_users], b_i [n_items] (allocated here, caller frees) and the global mean. */
int twotower_bias_terms(MPI_Comm comm, const tt_opts *o, const tt_data *d, double **bu,
                        double **bi, double *mu)
{
    int rc = RP_OK;
    rp_model *bm = NULL;
    const double *U = NULL, *V = NULL;
    double *u = NULL, *v = NULL;
    RP_CALL(rp_baseline_bias_terms(comm, o->train.shards, o->train.bias_reg, &bm, &U, &V, mu));
    RP_ALLOC(u = malloc((size_t)d->n_users * sizeof *u));
    RP_ALLOC(v = malloc((size_t)d->n_items * sizeof *v));
    for (int64_t r = 0; r < d->n_users; r++) u[r] = U[r * 2];
    for (int64_t r = 0; r < d->n_items; r++) v[r] = V[r * 2 + 1];
    *bu = u;
    *bi = v;
    u = v = NULL;
cleanup:
    free(u);
    free(v);
    rp_model_destroy(&bm);
    return rp_mpi_agree(comm, rc);
}

int twotower_init_biases(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_model *m)
{
    int rc = RP_OK;
    double *bu = NULL, *bi = NULL, mu = 0.0;
    RP_CALL(twotower_bias_terms(comm, o, d, &bu, &bi, &mu));
    for (int t = 0; t < 2; t++) {
        const tt_tower *tw = &m->tw[t];
        const double *b = t == TT_USER ? bu : bi;
        for (int64_t r = 0; tw->has_bias && r < tw->f->n; r++)
            m->emb[(tw->id_base + r * tw->id_span) * m->E + (tw->id_add ? m->D : 0)] = (float)b[r];
    }
    m->dense[m->head_off + 1] = (float)mu;
cleanup:
    free(bu);
    free(bi);
    return rc;
}

/* Rows [0 .. 0, b_u, 1] (users) and [0 .. 0, 1, b_i] (videos) of width D + 2: the bias model in
 * the bias-column layout of the two-tower's /score. */
static int bias_rows(const double *bu, const double *bi, int D, int64_t n_users, int64_t n_items,
                     float **user, float **item)
{
    int rc = RP_OK;
    int64_t S = D + 2;
    float *u = NULL, *v = NULL;
    RP_ALLOC(u = calloc((size_t)(n_users * S), sizeof *u));
    RP_ALLOC(v = calloc((size_t)(n_items * S), sizeof *v));
    for (int64_t r = 0; r < n_users; r++) {
        u[r * S + D] = (float)bu[r];
        u[r * S + D + 1] = 1.0f;
    }
    for (int64_t r = 0; r < n_items; r++) {
        v[r * S + D] = 1.0f;
        v[r * S + D + 1] = (float)bi[r];
    }
    *user = u;
    *item = v;
    u = v = NULL;
cleanup:
    free(u);
    free(v);
    return rc;
}

int twotower_finish(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_train *tr)
{
    int rc = RP_OK;
    double *b_u = NULL, *b_i = NULL, mu = 0.0, mae = 0.0;
    float *bu = NULL, *bi = NULL;
    tr->fallback[0] = '\0';
    /* the log target read the bias model's terms once (twotower_log_setup) */
    const double *cu = d->cu, *ci = d->ci;
    mu = d->cmu;
    if (!d->log_target) {
        RP_CALL(twotower_bias_terms(comm, o, d, &b_u, &b_i, &mu));
        cu = b_u;
        ci = b_i;
    }
    rc = bias_rows(cu, ci, tr->m.D, d->n_users, d->n_items, &bu, &bi);
    RP_AGREE(comm, rc);
    /* Both models are scored through the same float rows and the same fixed-point sums. */
    tt_dot bias = {tr->m.D + 2, 0, 1.0, mu, bu, bi};
    RP_CALL(twotower_eval_scores(comm, &bias, &d->valid, &tr->bias_valid_rmse, &mae));
    RP_CALL(twotower_evaluate_data(comm, &tr->m, d, &d->valid, &tr->valid_rmse, &mae,
                                   &tr->gamma));
    if (tr->valid_rmse > tr->bias_valid_rmse) {
        snprintf(tr->fallback, sizeof tr->fallback, "bias model terms: the two-tower's valid_rmse "
                 "%.6f is above the bias model's %.6f", tr->valid_rmse, tr->bias_valid_rmse);
        rp_log_info("fallback to the %s", tr->fallback);
        tr->fb_user = bu;
        tr->fb_item = bi;
        tr->fb_mu = mu;
        tr->valid_rmse = tr->bias_valid_rmse;
        bu = bi = NULL;
    }
    rp_log_info("valid_rmse %.6f, bias model %.6f%s", tr->valid_rmse, tr->bias_valid_rmse,
                tr->fallback[0] ? " (fallback)" : "");
cleanup:
    free(b_u);
    free(b_i);
    free(bu);
    free(bi);
    return rp_mpi_agree(comm, rc);
}

int twotower_output_dot(const tt_train *tr, const tt_data *d, float **user, float **item,
                        tt_dot *dot)
{
    int rc = RP_OK;
    const tt_model *m = &tr->m;
    int64_t S = tr->fb_user ? m->D + 2 : m->S;
    float *u = NULL, *v = NULL;
    RP_ALLOC(u = malloc((size_t)(d->n_users * S) * sizeof *u));
    RP_ALLOC(v = malloc((size_t)(d->n_items * S) * sizeof *v));
    if (tr->fb_user) {
        memcpy(u, tr->fb_user, (size_t)(d->n_users * S) * sizeof *u);
        memcpy(v, tr->fb_item, (size_t)(d->n_items * S) * sizeof *v);
        *dot = (tt_dot){(int)S, 0, 1.0, tr->fb_mu, u, v};
    } else {
        RP_CALL(twotower_embed_all(m, TT_USER, u, NULL));
        RP_CALL(twotower_embed_all(m, TT_ITEM, v, NULL));
        if (d->log_target) twotower_calib_rows(m, d, tr->gamma, u, v, dot);
        else twotower_dot_of(m, u, v, dot);
    }
    *user = u;
    *item = v;
    u = v = NULL;
cleanup:
    free(u);
    free(v);
    return rc;
}
