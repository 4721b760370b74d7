/* hybrid_concat.c - the embedding-concat hybrid: an MLP on [user rows of the learned components,
 * their item rows, every component's prediction], trained on held-out predictions (validation
 * folds 1..K-1) data-parallel with Adam, early stopping on validation fold 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hybrid.h"
#include "rp_err.h"
#include "rp_fault.h"
#include "rp_log.h"
#include "rp_model_hybrid.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_rng.h"
#include "rp_sha256.h"
#include "rp_stage.h"

/* Rows per gradient chunk: a global batch is cut into chunks of this many samples, chunk c is
 * computed by rank c % size, and the chunk gradients are added in chunk order after the
 * reduction, so the update does not depend on the rank count. */
#define HYB_CHUNK 64

int hyb_parse_hidden(const char *s, int *widths, int *n, int max)
{
    int rc = RP_OK;
    *n = 0;
    const char *p = s;
    while (*p != '\0') {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1024 || *n >= max || (*end != ',' && *end != '\0'))
            RP_FAIL_USER0(RP_ERR_USAGE, "--hidden '%s': want up to %d comma-separated widths "
                          "in 1..1024", s, max);
        widths[(*n)++] = (int)v;
        p = *end == ',' ? end + 1 : end;
    }
cleanup:
    return rc;
}

/* Everything one training run needs, built once. */
typedef struct trainer {
    MPI_Comm comm;
    int rank, size, k, n_embed;
    rp_model *const *comp;
    const hyb_pairs *pairs;  /* every validation pair (replicated) */
    int64_t *rows, n_rows;   /* training rows: pairs outside fold 0 */
    hyb_pairs stop;          /* this rank's share of fold 0 (early stopping) */
    const uint8_t *fold;
    const double *offw;      /* the logit offset's blend weights [k + 1], or NULL */
    const float *Fu, *Fi;    /* standardised embedding rows (owned by the result) */
    int64_t du, di, D;
    rp_mlp mlp;
    float *m1, *m2;    /* Adam moments */
    float *G;          /* [chunks, P + 1] chunk gradients + chunk loss */
    float *g;          /* [P] combined gradient */
    float *X, *work, *scratch, *z, *dz, *pc[HYB_MAXCOMP];
    int64_t *perm;
    int64_t step;
} trainer;

static void trainer_clear(trainer *t)
{
    free(t->rows); free(t->m1); free(t->m2); free(t->G); free(t->g);
    free(t->X); free(t->work); free(t->scratch); free(t->z); free(t->dz); free(t->perm);
    for (int c = 0; c < HYB_MAXCOMP; c++) free(t->pc[c]);
    hyb_pairs_clear(&t->stop);
    rp_mlp_clear(&t->mlp);
}

/* Standardised embedding rows of the first n_embed components, users and items. */
static int features(trainer *t, hyb_concat_result *res, int64_t n_users, int64_t n_items)
{
    int rc = RP_OK;
    int64_t d[HYB_MAXCOMP];
    const double *U[HYB_MAXCOMP], *V[HYB_MAXCOMP];
    rp_post post;
    double sc, sh;
    res->du = 0;
    for (int c = 0; c < t->n_embed; c++) {
        RP_CALL(rp_model_dot_parts(t->comp[c], &d[c], &U[c], &V[c], &post, &sc, &sh));
        res->du += d[c];
    }
    RP_CALL(rp_hybrid_feature_rows(t->n_embed, U, d, n_users, NULL, NULL, &res->Fu, &res->umean,
                                   &res->uscale));
    RP_CALL(rp_hybrid_feature_rows(t->n_embed, V, d, n_items, NULL, NULL, &res->Fi, &res->imean,
                                   &res->iscale));
    res->di = res->du;
    t->Fu = res->Fu;
    t->Fi = res->Fi;
    t->du = t->di = res->du;
    t->D = t->du + t->di + t->k;
cleanup:
    return rc;
}

/* Training rows (fold != 0, in pair order) and this rank's even share of the fold-0 pairs. */
static int split_rows(trainer *t, hyb_concat_result *res)
{
    int rc = RP_OK;
    const hyb_pairs *p = t->pairs;
    int64_t n0 = 0, s0 = 0, sn = 0, seen = 0;
    RP_ALLOC(t->rows = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *t->rows));
    for (int64_t x = 0; x < p->n; x++) {
        if (t->fold[x] != 0) t->rows[t->n_rows++] = x;
        else n0++;
    }
    if (t->n_rows == 0 || n0 == 0)
        RP_FAIL_USER0(RP_ERR_DATA, "concat: %lld training and %lld held-out validation pairs: "
                      "too few validation users for the folds", (long long)t->n_rows,
                      (long long)n0);
    rp_part_even(n0, t->size, t->rank, &s0, &sn);
    res->train_rows = t->n_rows;
    res->heldout_rows = n0;
    t->stop.n = sn;
    RP_ALLOC(t->stop.u = malloc((size_t)(sn > 0 ? sn : 1) * sizeof *t->stop.u));
    RP_ALLOC(t->stop.i = malloc((size_t)(sn > 0 ? sn : 1) * sizeof *t->stop.i));
    RP_ALLOC(t->stop.y = malloc((size_t)(sn > 0 ? sn : 1) * sizeof *t->stop.y));
    for (int64_t x = 0, w = 0; x < p->n; x++) {
        if (t->fold[x] != 0) continue;
        if (seen >= s0 && seen < s0 + sn) {
            t->stop.u[w] = p->u[x];
            t->stop.i[w] = p->i[x];
            t->stop.y[w++] = p->y[x];
        }
        seen++;
    }
cleanup:
    return rc;
}

static int trainer_init(trainer *t, const hyb_opts *o, hyb_concat_result *res)
{
    int rc = RP_OK, widths[RP_MLP_MAX_LAYERS], nh = 0, dims[RP_MLP_MAX_LAYERS + 1];
    RP_MPI(MPI_Comm_rank(t->comm, &t->rank));
    RP_MPI(MPI_Comm_size(t->comm, &t->size));
    RP_CALL(hyb_parse_hidden(o->hidden, widths, &nh, RP_MLP_MAX_LAYERS - 1));
    RP_CALL(split_rows(t, res));
    RP_CALL(features(t, res, t->comp[0]->n_users, t->comp[0]->n_items));
    dims[0] = (int)t->D;
    for (int l = 0; l < nh; l++) dims[l + 1] = widths[l];
    dims[nh + 1] = 1;
    RP_CALL(rp_mlp_init(&t->mlp, nh + 1, dims, (uint64_t)o->seed));
    /* Zero last layer: the model starts as the offset (the blend) and learns a correction. */
    for (int64_t x = rp_mlp_w_offset(&t->mlp, nh); x < t->mlp.n_params; x++)
        t->mlp.params[x] = 0.0f;
    int64_t P = t->mlp.n_params, nch = (o->batch + HYB_CHUNK - 1) / HYB_CHUNK, maxd = t->D;
    for (int l = 0; l <= nh + 1; l++) maxd = dims[l] > maxd ? dims[l] : maxd;
    rp_fault_mark("step buffers");
    RP_ALLOC(t->m1 = calloc((size_t)P, sizeof *t->m1));
    RP_ALLOC(t->m2 = calloc((size_t)P, sizeof *t->m2));
    RP_ALLOC(t->G = malloc((size_t)(nch * (P + 1)) * sizeof *t->G));
    RP_ALLOC(t->g = malloc((size_t)P * sizeof *t->g));
    RP_ALLOC(t->X = malloc((size_t)(HYB_CHUNK * t->D) * sizeof *t->X));
    RP_ALLOC(t->work = malloc((size_t)rp_mlp_work_size(&t->mlp, HYB_CHUNK) * sizeof *t->work));
    RP_ALLOC(t->scratch = malloc((size_t)(2 * HYB_CHUNK * maxd) * sizeof *t->scratch));
    RP_ALLOC(t->z = malloc(HYB_CHUNK * sizeof *t->z));
    RP_ALLOC(t->dz = malloc(HYB_CHUNK * sizeof *t->dz));
    for (int c = 0; c < t->k; c++) RP_ALLOC(t->pc[c] = malloc(HYB_CHUNK * sizeof *t->pc[c]));
    RP_ALLOC(t->perm = malloc((size_t)t->n_rows * sizeof *t->perm));
cleanup:
    return rc;
}

/* Gradient of one chunk of samples idx[0..nc) into G (P params, then the squared-error sum).
 * The loss is 1/(2 nb) sum (sigmoid(z) - y)^2 over the global batch of nb samples. */
static int chunk_grad(trainer *t, const int64_t *idx, int64_t nc, int64_t nb, float *G)
{
    int rc = RP_OK;
    const hyb_pairs *tr = t->pairs;
    int32_t us[HYB_CHUNK], is[HYB_CHUNK];
    float ys[HYB_CHUNK];
    for (int64_t r = 0; r < nc; r++) {
        int64_t x = t->rows[idx[r]];
        us[r] = tr->u[x];
        is[r] = tr->i[x];
        ys[r] = tr->y[x];
    }
    for (int c = 0; c < t->k; c++) RP_CALL(rp_model_score_pairs(t->comp[c], us, is, nc, t->pc[c]));
    for (int64_t r = 0; r < nc; r++) {
        float *x = t->X + r * t->D;
        memcpy(x, t->Fu + (int64_t)us[r] * t->du, (size_t)t->du * sizeof *x);
        memcpy(x + t->du, t->Fi + (int64_t)is[r] * t->di, (size_t)t->di * sizeof *x);
        for (int c = 0; c < t->k; c++) x[t->du + t->di + c] = t->pc[c][r];
    }
    RP_CALL(rp_mlp_forward(&t->mlp, t->X, nc, t->work, t->z));
    double loss = 0.0;
    for (int64_t r = 0; r < nc; r++) {
        double pv[HYB_MAXCOMP], off = 0.0;
        for (int c = 0; c < t->k; c++) pv[c] = t->pc[c][r];
        if (t->offw != NULL) off = rp_hybrid_offset(t->k, t->offw, pv);
        double s = 1.0 / (1.0 + exp(-((double)t->z[r] + off))), e = s - ys[r];
        loss += e * e;
        t->dz[r] = (float)(e * s * (1.0 - s) / (double)nb);
    }
    rp_mlp_grads grads = {.params = G, .accumulate = 0, .dX = NULL};
    RP_CALL(rp_mlp_backward(&t->mlp, t->X, nc, t->work, t->dz, &grads, t->scratch));
    G[t->mlp.n_params] = (float)loss;
cleanup:
    return rc;
}

static void adam(trainer *t, double lr)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    t->step++;
    double c1 = 1.0 - pow(b1, (double)t->step), c2 = 1.0 - pow(b2, (double)t->step);
    for (int64_t x = 0; x < t->mlp.n_params; x++) {
        double g = t->g[x];
        t->m1[x] = (float)(b1 * t->m1[x] + (1.0 - b1) * g);
        t->m2[x] = (float)(b2 * t->m2[x] + (1.0 - b2) * g * g);
        t->mlp.params[x] -= (float)(lr * (t->m1[x] / c1) / (sqrt(t->m2[x] / c2) + eps));
    }
}

/* One global batch perm[b0 .. b0 + nb): my chunks, one reduction, the same update everywhere. */
static int batch_step(trainer *t, const hyb_opts *o, int64_t b0, int64_t nb, double *loss)
{
    int rc = RP_OK, count = 0;
    int64_t P = t->mlp.n_params, nch = (nb + HYB_CHUNK - 1) / HYB_CHUNK;
    memset(t->G, 0, (size_t)(nch * (P + 1)) * sizeof *t->G);
    for (int64_t c = t->rank; c < nch; c += t->size) {
        int64_t s = b0 + c * HYB_CHUNK, nc = nb - c * HYB_CHUNK;
        RP_CALL(chunk_grad(t, t->perm + s, nc < HYB_CHUNK ? nc : HYB_CHUNK, nb,
                           t->G + c * (P + 1)));
    }
    RP_CALL(rp_int_cast(nch * (P + 1), &count));
    /* Each slot has one non-zero contributor, so the sum is exact whatever the rank count. */
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, t->G, count, MPI_FLOAT, MPI_SUM, t->comm));
    memcpy(t->g, t->G, (size_t)P * sizeof *t->g);
    *loss += t->G[P];
    for (int64_t c = 1; c < nch; c++) {
        const float *gc = t->G + c * (P + 1);
        for (int64_t x = 0; x < P; x++) t->g[x] += gc[x];
        *loss += gc[P];
    }
    adam(t, o->lr);
cleanup:
    return rc;
}

/* Keyed Fisher-Yates from the identity: the same permutation on every rank for (seed, epoch),
 * whatever ran before (a resumed run shuffles as an uninterrupted one). */
static void shuffle(int64_t *perm, int64_t n, uint64_t seed, int epoch)
{
    rp_rng r;
    for (int64_t x = 0; x < n; x++) perm[x] = x;
    rp_rng_init(&r, seed, rp_rng_stream("hybrid.shuffle"), (uint64_t)epoch << 40);
    for (int64_t x = n - 1; x > 0; x--) {
        int64_t j = (int64_t)rp_rng_next_below(&r, (uint64_t)x + 1);
        int64_t tmp = perm[x];
        perm[x] = perm[j];
        perm[j] = tmp;
    }
}

/* Held-out (fold 0) RMSE of the current weights through the exact scoring path of hybrid.h5. */
static int valid_rmse(trainer *t, double *rmse)
{
    int rc = RP_OK;
    rp_model *m = NULL;
    rp_hybrid_concat_parts parts = {t->k, t->comp, 1, t->Fu, t->du, t->Fi, t->di, &t->mlp,
                                    t->offw};
    RP_CALL(rp_model_concat_create("hybrid-concat", t->comp[0]->n_users, t->comp[0]->n_items,
                                   &parts, &m));
cleanup:
    rc = rp_mpi_agree(t->comm, rc);
    if (rc == RP_OK) rc = hyb_rmse(t->comm, m, &t->stop, rmse);
    rp_model_destroy(&m);
    return rc;
}

/* What a checkpoint must match: the options that shape training and a hash of its inputs. */
static void fingerprint(const trainer *t, const hyb_opts *o, char *buf, size_t cap)
{
    rp_sha256 h;
    unsigned char dg[32];
    const hyb_pairs *p = t->pairs;
    rp_sha256_init(&h);
    rp_sha256_update(&h, t->Fu, (size_t)(t->comp[0]->n_users * t->du) * sizeof(float));
    rp_sha256_update(&h, t->Fi, (size_t)(t->comp[0]->n_items * t->di) * sizeof(float));
    rp_sha256_update(&h, p->u, (size_t)p->n * sizeof(int32_t));
    rp_sha256_update(&h, p->i, (size_t)p->n * sizeof(int32_t));
    rp_sha256_update(&h, p->y, (size_t)p->n * sizeof(float));
    rp_sha256_update(&h, t->fold, (size_t)p->n);
    if (t->offw != NULL) rp_sha256_update(&h, t->offw, (size_t)(t->k + 1) * sizeof(double));
    rp_sha256_final(&h, dg);
    snprintf(buf, cap, "hidden=%s lr=%.17g batch=%d seed=%lld epoch_samples=%lld early_stop=%d "
             "components=%d inputs=%02x%02x%02x%02x%02x%02x%02x%02x", o->hidden, o->lr, o->batch,
             (long long)o->seed, (long long)o->epoch_samples, o->patience, t->k, dg[0], dg[1], dg[2],
             dg[3], dg[4], dg[5], dg[6], dg[7]);
}

static int save(trainer *t, const hyb_opts *o, const hyb_concat_result *res, int e, int bad)
{
    hyb_ckpt c = {.epoch = e, .step = t->step, .bad = bad, .best_epoch = res->best_epoch,
                  .n_params = t->mlp.n_params, .best_rmse = res->valid_rmse,
                  .params = t->mlp.params, .m1 = t->m1, .m2 = t->m2, .best = res->mlp.params,
                  .hist_train = res->hist_train, .hist_valid = res->hist_valid};
    fingerprint(t, o, c.fingerprint, sizeof c.fingerprint);
    return hyb_ckpt_write(t->comm, o->checkpoint, &c);
}

/* Restore the state of a checkpoint if --resume finds one. Out: *e0 first epoch to run. */
static int restore(trainer *t, const hyb_opts *o, hyb_concat_result *res, int *e0, int *bad)
{
    int rc = RP_OK, found = 0;
    hyb_ckpt c = {0};
    char want[512];
    *e0 = 1;
    if (!o->resume || o->checkpoint == NULL) goto cleanup;
    fingerprint(t, o, want, sizeof want);
    RP_CALL(hyb_ckpt_read(t->comm, o->checkpoint, want, &c, &found));
    if (!found) {
        rp_log_info("no checkpoint %s: starting from epoch 1", o->checkpoint);
        goto cleanup;
    }
    if (c.n_params != t->mlp.n_params)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %lld parameters, the model has %lld", o->checkpoint,
                      (long long)c.n_params, (long long)t->mlp.n_params);
    size_t bytes = (size_t)c.n_params * sizeof(float);
    memcpy(t->mlp.params, c.params, bytes);
    memcpy(t->m1, c.m1, bytes);
    memcpy(t->m2, c.m2, bytes);
    memcpy(res->mlp.params, c.best, bytes);
    t->step = c.step;
    res->valid_rmse = c.best_rmse;
    res->best_epoch = (int)c.best_epoch;
    res->epochs_run = (int)(c.epoch < o->epochs ? c.epoch : o->epochs);
    memcpy(res->hist_train, c.hist_train, (size_t)res->epochs_run * sizeof(double));
    memcpy(res->hist_valid, c.hist_valid, (size_t)res->epochs_run * sizeof(double));
    *e0 = (int)c.epoch + 1;
    *bad = (int)c.bad;
    rp_log_info("resuming concat training after epoch %lld (%s)", (long long)c.epoch,
                o->checkpoint);
cleanup:
    hyb_ckpt_clear(&c);
    return rp_mpi_agree(t->comm, rc);
}

static int run_epochs(trainer *t, const hyb_opts *o, hyb_concat_result *res)
{
    int rc = RP_OK, bad = 0, e0 = 1;
    int64_t ns = t->n_rows;
    if (o->epoch_samples > 0 && o->epoch_samples < ns) ns = o->epoch_samples;
    res->valid_rmse = INFINITY;
    RP_CALL(restore(t, o, res, &e0, &bad));
    if (e0 == 1) {
        /* Epoch 0: the offset alone (zero last layer) is the first candidate. */
        RP_CALL(valid_rmse(t, &res->valid_rmse));
        res->best_epoch = 0;
        memcpy(res->mlp.params, t->mlp.params, (size_t)t->mlp.n_params * sizeof(float));
        rp_log_info("concat epoch 0 (offset alone): heldout_rmse=%.5f", res->valid_rmse);
    }
    for (int e = e0; e <= o->epochs && bad < o->patience; e++) {
        double loss = 0.0, vr = 0.0;
        shuffle(t->perm, t->n_rows, (uint64_t)o->seed, e);
        for (int64_t b0 = 0; b0 < ns; b0 += o->batch) {
            int64_t nb = ns - b0 < o->batch ? ns - b0 : o->batch;
            rc = batch_step(t, o, b0, nb, &loss);
            RP_AGREE(t->comm, rc);
        }
        RP_CALL(valid_rmse(t, &vr));
        res->hist_train[e - 1] = ns > 0 ? sqrt(loss / (double)ns) : NAN;
        res->hist_valid[e - 1] = vr;
        res->epochs_run = e;
        rp_log_info("concat epoch %d: train_rmse=%.5f heldout_rmse=%.5f", e,
                    res->hist_train[e - 1], vr);
        if (vr < res->valid_rmse) {
            res->valid_rmse = vr;
            res->best_epoch = e;
            memcpy(res->mlp.params, t->mlp.params, (size_t)t->mlp.n_params * sizeof(float));
            bad = 0;
        } else {
            bad++;
        }
        if (o->checkpoint != NULL) RP_CALL(save(t, o, res, e, bad));
        if (rp_signal_pending(t->comm)) {
            rp_log_info("signal received: checkpointed after epoch %d; rerun with --resume", e);
            rc = RP_ERR_INTERRUPTED;
            goto cleanup;
        }
    }
cleanup:
    return rc;
}

int hyb_concat_train(MPI_Comm comm, const hyb_opts *o, int k, int n_embed, rp_model *const *comp,
                     const double *offset_w, const hyb_pairs *pairs, const uint8_t *fold,
                     hyb_concat_result *res)
{
    int rc = RP_OK;
    trainer t = {0};
    t.comm = comm;
    t.k = k;
    t.n_embed = n_embed;
    t.comp = comp;
    t.pairs = pairs;
    t.fold = fold;
    memset(res, 0, sizeof *res);
    if (offset_w != NULL) {
        memcpy(res->offset_w, offset_w, (size_t)(k + 1) * sizeof *offset_w);
        t.offw = res->offset_w;
    }
    RP_REQUIRE(o->epochs >= 1 && o->batch >= 1 && o->patience >= 1 && o->lr > 0.0, RP_ERR_USAGE,
               "concat: epochs=%d batch=%d early-stop=%d lr=%g must be positive", o->epochs,
               o->batch, o->patience, o->lr);
    RP_REQUIRE(k >= 1 && k <= HYB_MAXCOMP && n_embed >= 1 && n_embed <= k, RP_ERR_INTERNAL,
               "concat: %d components, %d embedded", k, n_embed);
    RP_CALL(trainer_init(&t, o, res));
    RP_CALL(rp_mlp_init(&res->mlp, t.mlp.n_layers, t.mlp.dims, 0));
    RP_ALLOC(res->hist_train = calloc((size_t)o->epochs, sizeof *res->hist_train));
    RP_ALLOC(res->hist_valid = calloc((size_t)o->epochs, sizeof *res->hist_valid));
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) rc = run_epochs(&t, o, res);
    rc = rp_mpi_agree(comm, rc);
    trainer_clear(&t);
    if (rc != RP_OK) hyb_concat_result_clear(res);
    return rc;
}
