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

/* Everything one training run needs, built once. The validation pairs stay where
 * hyb_read_pairs put them (each rank its block of users); the training rows are numbered in
 * global pair order (rank order), and each epoch a rank fetches from their owners the rows of
 * the chunks it computes (epoch_*), so no rank holds the whole split. The permutation of the
 * training rows is the one O(rows) array on every rank: the keyed Fisher-Yates shuffle that
 * fixes the bits needs it whole. */
typedef struct trainer {
    MPI_Comm comm;
    int rank, size, k, n_embed;
    rp_model *const *comp;
    const hyb_pairs *pairs;  /* this rank's validation pairs */
    int64_t *rows, n_mine;   /* my training rows (pairs outside fold 0), local pair indices */
    int64_t *row_cuts;       /* [size + 1]: rank p owns global training rows [cuts[p], cuts[p+1]) */
    int64_t n_rows;          /* training rows over all ranks */
    hyb_pairs stop;          /* this rank's fold-0 pairs (early stopping; exact RMSE sums) */
    hyb_pairs epoch;         /* the rows of my chunks of this epoch, in the order I use them */
    const uint8_t *fold;
    const double *offw;      /* the logit offset's blend weights [k + 1], or NULL */
    const float *Fu, *Fi;    /* standardised embedding rows (owned by the result) */
    int64_t du, di, D;
    rp_mlp mlp;
    float *m1, *m2;    /* Adam moments */
    float *G;          /* [chunks, P + 1] chunk gradients + chunk loss */
    float *g;          /* [P] combined gradient */
    float *X, *work, *scratch, *z, *dz, *pc[HYB_MAXCOMP];
    int64_t *perm;     /* [n_rows] replicated */
    int64_t step;
    char fingerprint[512]; /* the inputs' and options' fingerprint (checkpoints) */
} trainer;

static void trainer_clear(trainer *t)
{
    free(t->rows); free(t->row_cuts); free(t->m1); free(t->m2); free(t->G); free(t->g);
    free(t->X); free(t->work); free(t->scratch); free(t->z); free(t->dz); free(t->perm);
    for (int c = 0; c < HYB_MAXCOMP; c++) free(t->pc[c]);
    hyb_pairs_clear(&t->stop);
    hyb_pairs_clear(&t->epoch);
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

/* Global blocks of a per-rank count n: cuts[p] = sum of the counts of ranks before p. */
static int count_cuts(MPI_Comm comm, int size, int64_t n, int64_t *cuts)
{
    int rc = RP_OK;
    RP_MPI(MPI_Allgather(&n, 1, MPI_INT64_T, cuts + 1, 1, MPI_INT64_T, comm));
    cuts[0] = 0;
    for (int p = 0; p < size; p++) cuts[p + 1] += cuts[p];
cleanup:
    return rc;
}

/* My training rows (fold != 0, in pair order), their global numbering, and my fold-0 pairs. */
static int split_rows(trainer *t, hyb_concat_result *res)
{
    int rc = RP_OK;
    const hyb_pairs *p = t->pairs;
    int64_t n0 = 0, cnt[2];
    size_t cap = (size_t)(p->n > 0 ? p->n : 1);
    t->rows = rp_malloc(cap * sizeof *t->rows);
    t->row_cuts = rp_malloc((size_t)(t->size + 1) * sizeof *t->row_cuts);
    t->stop.u = rp_malloc(cap * sizeof *t->stop.u);
    t->stop.i = rp_malloc(cap * sizeof *t->stop.i);
    t->stop.y = rp_malloc(cap * sizeof *t->stop.y);
    RP_AGREE_LOCAL(t->comm, !t->rows || !t->row_cuts || !t->stop.u || !t->stop.i || !t->stop.y);
    for (int64_t x = 0; x < p->n; x++) {
        if (t->fold[x] != 0) {
            t->rows[t->n_mine++] = x;
            continue;
        }
        t->stop.u[n0] = p->u[x];
        t->stop.i[n0] = p->i[x];
        t->stop.y[n0++] = p->y[x];
    }
    t->stop.n = n0;
    RP_CALL(count_cuts(t->comm, t->size, t->n_mine, t->row_cuts));
    t->n_rows = t->row_cuts[t->size];
    cnt[0] = t->n_rows;
    cnt[1] = n0;
    RP_CALL(rp_mpi_sum_i64(t->comm, &cnt[1], 1));
    if (cnt[0] == 0 || cnt[1] == 0)
        RP_FAIL_USER0(RP_ERR_DATA, "concat: %lld training and %lld held-out validation pairs: "
                      "too few validation users for the folds", (long long)cnt[0],
                      (long long)cnt[1]);
    res->train_rows = cnt[0];
    res->heldout_rows = cnt[1];
cleanup:
    return rp_mpi_agree(t->comm, rc);
}

/* Feed a vector spread over the ranks in rank order (this rank's n elements of elem bytes,
 * cuts[p] the global offset of rank p's) to rank 0's hash h, in windows gathered to rank 0:
 * the digest of the whole vector with O(window) memory. Collective. */
static int hash_ordered(trainer *t, rp_sha256 *h, const void *local, const int64_t *cuts,
                        size_t elem)
{
    enum { WINDOW = 1 << 18 };
    int rc = RP_OK, *counts = NULL, *displs = NULL, mine = 0;
    unsigned char *buf = NULL;
    int64_t n_global = cuts[t->size];
    counts = rp_malloc((size_t)t->size * sizeof *counts);
    displs = rp_malloc((size_t)t->size * sizeof *displs);
    buf = rp_malloc(t->rank == 0 ? WINDOW * elem : 1);
    RP_AGREE_LOCAL(t->comm, counts == NULL || displs == NULL || buf == NULL);
    for (int64_t w0 = 0; w0 < n_global; w0 += WINDOW) {
        int64_t w1 = w0 + WINDOW < n_global ? w0 + WINDOW : n_global;
        for (int p = 0, at = 0; p < t->size; p++) { /* rank p's part of the window */
            int64_t lo = cuts[p] > w0 ? cuts[p] : w0, hi = cuts[p + 1] < w1 ? cuts[p + 1] : w1;
            counts[p] = hi > lo ? (int)((hi - lo) * (int64_t)elem) : 0;
            displs[p] = at;
            at += counts[p];
            if (p == t->rank) mine = hi > lo ? (int)((lo - cuts[p]) * (int64_t)elem) : 0;
        }
        RP_MPI(MPI_Gatherv((const unsigned char *)local + mine, counts[t->rank], MPI_BYTE, buf,
                           counts, displs, MPI_BYTE, 0, t->comm));
        if (t->rank == 0) rp_sha256_update(h, buf, (size_t)(w1 - w0) * elem);
    }
cleanup:
    free(counts);
    free(displs);
    free(buf);
    return rc;
}

/* What a checkpoint must match: the options that shape training and a hash of its inputs (the
 * validation pairs in file order, whichever rank holds them: the same digest for any rank
 * count). Computed once, on rank 0, and broadcast. Collective. */
static int fingerprint(trainer *t, const hyb_opts *o)
{
    int rc = RP_OK;
    rp_sha256 h;
    unsigned char dg[32] = {0};
    const hyb_pairs *p = t->pairs;
    int64_t *cuts = NULL;
    cuts = rp_malloc((size_t)(t->size + 1) * sizeof *cuts);
    RP_AGREE_LOCAL(t->comm, cuts == NULL);
    RP_CALL(count_cuts(t->comm, t->size, p->n, cuts));
    rp_sha256_init(&h);
    rp_sha256_update(&h, t->Fu, (size_t)(t->comp[0]->n_users * t->du) * sizeof(float));
    rp_sha256_update(&h, t->Fi, (size_t)(t->comp[0]->n_items * t->di) * sizeof(float));
    RP_CALL(hash_ordered(t, &h, p->u, cuts, sizeof(int32_t)));
    RP_CALL(hash_ordered(t, &h, p->i, cuts, sizeof(int32_t)));
    RP_CALL(hash_ordered(t, &h, p->y, cuts, sizeof(float)));
    RP_CALL(hash_ordered(t, &h, t->fold, cuts, 1));
    if (t->offw != NULL) rp_sha256_update(&h, t->offw, (size_t)(t->k + 1) * sizeof(double));
    rp_sha256_final(&h, dg);
    snprintf(t->fingerprint, sizeof t->fingerprint, "hidden=%s lr=%.17g batch=%d seed=%lld "
             "epoch_samples=%lld early_stop=%d components=%d inputs=%02x%02x%02x%02x%02x%02x"
             "%02x%02x", o->hidden, o->lr, o->batch, (long long)o->seed,
             (long long)o->epoch_samples, o->patience, t->k, dg[0], dg[1], dg[2], dg[3], dg[4],
             dg[5], dg[6], dg[7]);
    RP_CALL(rp_mpi_bcast_str(t->comm, t->fingerprint, sizeof t->fingerprint, 0));
cleanup:
    free(cuts);
    return rp_mpi_agree(t->comm, rc);
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
    rc = rp_mpi_agree(t->comm, rc);
    if (rc == RP_OK) rc = fingerprint(t, o);
    return rc;
}

/* Gradient of one chunk of nc samples (users us, items is, targets ys) into G (P params, then
 * the squared-error sum). The loss is 1/(2 nb) sum (sigmoid(z) - y)^2 over the global batch of
 * nb samples. */
static int chunk_grad(trainer *t, const int32_t *us, const int32_t *is, const float *ys,
                      int64_t nc, int64_t nb, float *G)
{
    int rc = RP_OK;
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

/* One global batch perm[b0 .. b0 + nb): my chunks (their rows are next in t->epoch from
 * *cur on), one reduction, the same update everywhere. */
static int batch_step(trainer *t, const hyb_opts *o, int64_t nb, int64_t *cur, double *loss)
{
    int rc = RP_OK, count = 0;
    int64_t P = t->mlp.n_params, nch = (nb + HYB_CHUNK - 1) / HYB_CHUNK;
    memset(t->G, 0, (size_t)(nch * (P + 1)) * sizeof *t->G);
    for (int64_t c = t->rank; c < nch; c += t->size) {
        int64_t nc = nb - c * HYB_CHUNK < HYB_CHUNK ? nb - c * HYB_CHUNK : HYB_CHUNK, x = *cur;
        RP_CALL(chunk_grad(t, t->epoch.u + x, t->epoch.i + x, t->epoch.y + x, nc, nb,
                           t->G + c * (P + 1)));
        *cur += nc;
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
    rp_rng_init(&r, seed, rp_rng_stream("hybrid.shuffle"), (uint64_t)epoch << 40);
    rp_rng_shuffle_i64(&r, perm, n);
}

/* A training row on its way from its owner to the rank whose chunk uses it. */
typedef struct row_rec {
    int32_t u, i;
    float y;
} row_rec;

/* Which global training rows this rank's chunks use in the epoch's first ns shuffled rows, in
 * the order batch_step takes them; and, for each, its owner. Out: need, own [*n] (allocated). */
static int epoch_needs(const trainer *t, const hyb_opts *o, int64_t ns, int64_t **need,
                       int **own, int64_t *n)
{
    int rc = RP_OK;
    int64_t k = 0, m = 0;
    for (int64_t b0 = 0; b0 < ns; b0 += o->batch) { /* how many: my chunks of every batch */
        int64_t nb = ns - b0 < o->batch ? ns - b0 : o->batch;
        for (int64_t c = t->rank; c * HYB_CHUNK < nb; c += t->size)
            m += nb - c * HYB_CHUNK < HYB_CHUNK ? nb - c * HYB_CHUNK : HYB_CHUNK;
    }
    RP_ALLOC(*need = malloc((size_t)(m > 0 ? m : 1) * sizeof **need));
    RP_ALLOC(*own = malloc((size_t)(m > 0 ? m : 1) * sizeof **own));
    for (int64_t b0 = 0; b0 < ns; b0 += o->batch) {
        int64_t nb = ns - b0 < o->batch ? ns - b0 : o->batch;
        for (int64_t c = t->rank; c * HYB_CHUNK < nb; c += t->size)
            for (int64_t s = b0 + c * HYB_CHUNK; s < b0 + nb && s < b0 + (c + 1) * HYB_CHUNK; s++) {
                (*need)[k] = t->perm[s];
                (*own)[k++] = rp_part_owner(t->row_cuts, t->size, t->perm[s]);
            }
    }
    *n = m;
cleanup:
    return rc;
}

/* The owner's answers to the requests in (local training row numbers, rank after rank). */
static int answer_rows(const trainer *t, const int64_t *in, int64_t nin, row_rec **out)
{
    int rc = RP_OK;
    RP_ALLOC(*out = malloc((size_t)(nin > 0 ? nin : 1) * sizeof **out));
    for (int64_t q = 0; q < nin; q++) {
        RP_REQUIRE(in[q] >= 0 && in[q] < t->n_mine, RP_ERR_INTERNAL,
                   "concat: training row %lld requested, %lld held", (long long)in[q],
                   (long long)t->n_mine);
        int64_t x = t->rows[in[q]];
        (*out)[q] = (row_rec){t->pairs->u[x], t->pairs->i[x], t->pairs->y[x]};
    }
cleanup:
    return rc;
}

/* t->epoch: the rows of my chunks of this epoch, fetched from their owners with two
 * all-to-alls (requests grouped by owner, answers in the same order). O(ns / size) per rank.
 * Collective. */
static int fetch_epoch(trainer *t, const hyb_opts *o, int64_t ns)
{
    int rc = RP_OK, *own = NULL;
    int64_t n = 0, nin = 0, nback = 0, *need = NULL, *slot = NULL, *req = NULL, *in = NULL;
    int64_t *cnt = NULL, *pos = NULL;
    row_rec *out = NULL, *back = NULL;
    hyb_pairs_clear(&t->epoch);
    rc = epoch_needs(t, o, ns, &need, &own, &n);
    RP_AGREE(t->comm, rc);
    cnt = rp_calloc((size_t)(4 * t->size), sizeof *cnt); /* counts, displs, and their replies */
    pos = rp_calloc((size_t)(2 * t->size), sizeof *pos);
    slot = rp_malloc((size_t)(n > 0 ? n : 1) * sizeof *slot);
    req = rp_malloc((size_t)(n > 0 ? n : 1) * sizeof *req);
    RP_AGREE_LOCAL(t->comm, cnt == NULL || pos == NULL || slot == NULL || req == NULL);
    for (int64_t k = 0; k < n; k++) cnt[own[k]]++;
    for (int p = 1; p < t->size; p++) pos[p] = pos[p - 1] + cnt[p - 1];
    for (int64_t k = 0; k < n; k++) { /* stable: each owner's requests in my order */
        slot[k] = pos[own[k]]++;
        req[slot[k]] = need[k] - t->row_cuts[own[k]];
    }
    int64_t *sd = cnt + t->size, *rcn = cnt + 2 * t->size, *rd = cnt + 3 * t->size;
    rp_mpi_byte_layout(t->size, sizeof *req, cnt, sd);
    RP_CALL(rp_mpi_alltoallv_bytes(t->comm, req, cnt, sd, (void **)&in, rcn, rd, &nin));
    nin /= (int64_t)sizeof *in;
    rc = answer_rows(t, in, nin, &out);
    RP_AGREE(t->comm, rc);
    for (int p = 0; p < t->size; p++) rcn[p] /= (int64_t)sizeof *in;
    rp_mpi_byte_layout(t->size, sizeof *out, rcn, rd);
    RP_CALL(rp_mpi_alltoallv_bytes(t->comm, out, rcn, rd, (void **)&back, cnt, sd, &nback));
    t->epoch.u = rp_malloc((size_t)(n > 0 ? n : 1) * sizeof *t->epoch.u);
    t->epoch.i = rp_malloc((size_t)(n > 0 ? n : 1) * sizeof *t->epoch.i);
    t->epoch.y = rp_malloc((size_t)(n > 0 ? n : 1) * sizeof *t->epoch.y);
    RP_AGREE_LOCAL(t->comm, t->epoch.u == NULL || t->epoch.i == NULL || t->epoch.y == NULL);
    for (int64_t k = 0; k < n; k++) {
        t->epoch.u[k] = back[slot[k]].u;
        t->epoch.i[k] = back[slot[k]].i;
        t->epoch.y[k] = back[slot[k]].y;
    }
    t->epoch.n = n;
cleanup:
    free(need);
    free(own);
    free(slot);
    free(req);
    free(in);
    free(out);
    free(back);
    free(cnt);
    free(pos);
    return rp_mpi_agree(t->comm, rc);
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

static int save(trainer *t, const hyb_opts *o, const hyb_concat_result *res, int e, int bad)
{
    hyb_ckpt c = {.epoch = e, .step = t->step, .bad = bad, .best_epoch = res->best_epoch,
                  .n_params = t->mlp.n_params, .best_rmse = res->valid_rmse,
                  .params = t->mlp.params, .m1 = t->m1, .m2 = t->m2, .best = res->mlp.params,
                  .hist_train = res->hist_train, .hist_valid = res->hist_valid};
    snprintf(c.fingerprint, sizeof c.fingerprint, "%s", t->fingerprint);
    return hyb_ckpt_write(t->comm, o->checkpoint, &c);
}

/* Restore the state of a checkpoint if --resume finds one. Out: *e0 first epoch to run. */
static int restore(trainer *t, const hyb_opts *o, hyb_concat_result *res, int *e0, int *bad)
{
    int rc = RP_OK, found = 0;
    hyb_ckpt c = {0};
    *e0 = 1;
    if (!o->resume || o->checkpoint == NULL) goto cleanup;
    RP_CALL(hyb_ckpt_read(t->comm, o->checkpoint, t->fingerprint, &c, &found));
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
        int64_t cur = 0;
        shuffle(t->perm, t->n_rows, (uint64_t)o->seed, e);
        RP_CALL(fetch_epoch(t, o, ns));
        for (int64_t b0 = 0; b0 < ns; b0 += o->batch) {
            int64_t nb = ns - b0 < o->batch ? ns - b0 : o->batch;
            rc = batch_step(t, o, nb, &cur, &loss);
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
