/* rp_model_hybrid.c - the "blend" and "concat" model kinds stored in hybrid.h5 (rp-hybrid) and
 * scored through rp_model by rp-eval and rp-recommend. */
#include "rp_model_hybrid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_h5.h"
#include "rp_la.h"
#include "rp_mlp.h"
#include "rp_mpi.h"

#define MAX_COMP 8
/* Items per GEMM row batch when scoring a user against every item with the concat MLP. */
#define CONCAT_ITEM_CHUNK 1024

static double clamp01(double z) { return z < 0.0 ? 0.0 : (z > 1.0 ? 1.0 : z); }

/* Block scratch kept with the model and grown on demand: a block's component scores are a few
 * MB, above glibc's mmap threshold, so a malloc per block came back as fresh pages every time
 * and their first touch (page faults and the zeroing under GEMM's beta = 0 pass) took ~30% of
 * rp-recommend's hybrid scoring. Not for concurrent use of one model. */
typedef struct hyb_scratch {
    float *buf;
    size_t cap; /* floats */
} hyb_scratch;

static float *scratch_get(hyb_scratch *s, size_t n)
{
    if (n > s->cap) {
        free(s->buf);
        s->cap = 0;
        if ((s->buf = malloc(n * sizeof *s->buf)) == NULL) return NULL;
        s->cap = n;
    }
    return s->buf;
}

/* ---- blend: clamp01(w0 + sum_k w_k * pred_k) ---- */

typedef struct blend_impl {
    int n;
    rp_model *comp[MAX_COMP];
    double w[MAX_COMP + 1];
    hyb_scratch scratch; /* blend_block's component scores */
} blend_impl;

static int blend_combine(const blend_impl *im, float *const *p, int64_t n, float *out)
{
    for (int64_t x = 0; x < n; x++) {
        double z = im->w[0];
        for (int k = 0; k < im->n; k++) z += im->w[k + 1] * p[k][x];
        out[x] = (float)clamp01(z);
    }
    return RP_OK;
}

static int blend_pairs(const rp_model *m, const int32_t *users, const int32_t *items, int64_t n,
                       float *out)
{
    const blend_impl *im = m->impl;
    int rc = RP_OK;
    float *p[MAX_COMP] = {0};
    for (int k = 0; k < im->n; k++) {
        RP_ALLOC(p[k] = malloc((size_t)(n > 0 ? n : 1) * sizeof *p[k]));
        RP_CALL(rp_model_score_pairs(im->comp[k], users, items, n, p[k]));
    }
    RP_CALL(blend_combine(im, p, n, out));
cleanup:
    for (int k = 0; k < im->n; k++) free(p[k]);
    return rc;
}

static int blend_block(const rp_model *m, int64_t u0, int64_t nu, float *out)
{
    blend_impl *im = m->impl;
    int rc = RP_OK;
    float *p[MAX_COMP] = {0}, *buf = NULL;
    int64_t cells = nu * m->n_items;
    size_t one = (size_t)(cells > 0 ? cells : 1);
    RP_ALLOC(buf = scratch_get(&im->scratch, one * (size_t)im->n));
    for (int k = 0; k < im->n; k++) {
        p[k] = buf + one * (size_t)k;
        RP_CALL(rp_model_score_block(im->comp[k], u0, nu, p[k]));
    }
    RP_CALL(blend_combine(im, p, cells, out));
cleanup:
    return rc;
}

static void blend_destroy(void *v)
{
    blend_impl *im = v;
    if (im == NULL) return;
    for (int k = 0; k < im->n; k++) rp_model_destroy(&im->comp[k]);
    free(im->scratch.buf);
    free(im);
}

static const rp_model_ops blend_ops = {"blend", blend_pairs, blend_block, blend_destroy};

static int load_component(MPI_Comm comm, hid_t f, const char *path, const char *name,
                          int64_t n_users, int64_t n_items, rp_model **out)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/%s", RP_HYB_COMPONENTS, name);
    return rp_model_load_dot(comm, f, path, prefix, name, n_users, n_items, out);
}

static int load_blend(MPI_Comm comm, hid_t f, const char *path, int64_t n_users, int64_t n_items,
                      blend_impl **out)
{
    int rc = RP_OK;
    blend_impl *im = NULL;
    char **names = NULL;
    int64_t nn = 0;
    double *w = NULL;
    int nd = 0;
    int64_t wd[2];
    im = rp_calloc(1, sizeof *im);
    RP_AGREE_LOCAL(comm, im == NULL); /* the attribute read is collective */
    RP_CALL(rp_h5_attr_read_strs(f, RP_HYB_BLEND, "components", &names, &nn));
    if (nn < 1 || nn > MAX_COMP)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld components (1..%d)", path, RP_HYB_BLEND,
                      (long long)nn, MAX_COMP);
    RP_CALL(rp_h5_read_all(f, RP_HYB_BLEND_WEIGHTS, RP_F64, (void **)&w, &nd, wd));
    if (nd != 1 || wd[0] != nn + 1)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld values, expected %lld", path,
                      RP_HYB_BLEND_WEIGHTS, (long long)wd[0], (long long)(nn + 1));
    for (int64_t k = 0; k < nn; k++) {
        RP_CALL(load_component(comm, f, path, names[k], n_users, n_items, &im->comp[k]));
        im->n = (int)k + 1;
    }
    memcpy(im->w, w, (size_t)(nn + 1) * sizeof *w);
    *out = im;
    im = NULL;
cleanup:
    free(w);
    rp_h5_strs_free(names, nn);
    blend_destroy(im);
    return rc;
}

/* ---- concat: sigmoid(MLP([Fu[u], Fi[i], p_0 .. p_{k-1}])) ---- */

typedef struct concat_impl {
    int k;                   /* components: their predictions are the last k MLP inputs */
    rp_model *comp[MAX_COMP];
    int borrow;              /* 1: comp belong to the caller */
    rp_mlp mlp;
    int h;                   /* width of the first layer's output */
    float *Au;               /* [n_users, h] = Fu W0[user rows] + b0 */
    float *Bi;               /* [n_items, h] = Fi W0[item rows] */
    float *BiT;              /* [h, ld] Bi transposed, zero-padded to ld (a multiple of 16
                              * items), for the fused kernel; NULL unless one hidden layer */
    int64_t ld;
    const float *W1;         /* the fused kernel's output layer: W1 [h] (in mlp.params), b1 */
    float b1;
    const float *wp[MAX_COMP]; /* W0 rows of the prediction inputs (inside mlp.params) */
    int has_off;             /* 1: add the logit offset of the blend woff */
    double woff[MAX_COMP + 1];
    hyb_scratch scratch; /* concat_block's component scores, first layer, MLP work, ones */
} concat_impl;

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

double rp_hybrid_offset(int k, const double *w, const double *p)
{
    double b = w[0];
    for (int q = 0; q < k; q++) b += w[q + 1] * p[q];
    b = b < RP_HYB_OFFSET_EPS ? RP_HYB_OFFSET_EPS : (b > 1.0 - RP_HYB_OFFSET_EPS ? 1.0 - RP_HYB_OFFSET_EPS : b);
    return log(b / (1.0 - b));
}

static double concat_offset(const concat_impl *im, const double *p)
{
    return im->has_off ? rp_hybrid_offset(im->k, im->woff, p) : 0.0;
}

/* One pair in double precision with plain loops: the result does not depend on batching. */
static float concat_one(const concat_impl *im, int64_t u, int64_t i, const double *p)
{
    const rp_mlp *m = &im->mlp;
    double a[1024], b[1024];
    int h = im->h;
    for (int c = 0; c < h; c++) {
        double z = (double)im->Au[u * h + c] + im->Bi[i * h + c];
        for (int q = 0; q < im->k; q++) z += p[q] * im->wp[q][c];
        a[c] = (m->n_layers > 1 && z < 0.0) ? 0.0 : z;
    }
    for (int l = 1; l < m->n_layers; l++) {
        int di = m->dims[l], dn = m->dims[l + 1];
        const float *W = m->params + rp_mlp_w_offset(m, l), *bb = m->params + rp_mlp_b_offset(m, l);
        for (int c = 0; c < dn; c++) {
            double z = bb[c];
            for (int r = 0; r < di; r++) z += a[r] * W[(int64_t)r * dn + c];
            b[c] = (l + 1 < m->n_layers && z < 0.0) ? 0.0 : z;
        }
        memcpy(a, b, (size_t)dn * sizeof *a);
    }
    return (float)clamp01(sigmoid(a[0] + concat_offset(im, p)));
}

static int concat_pairs(const rp_model *m, const int32_t *users, const int32_t *items, int64_t n,
                        float *out)
{
    const concat_impl *im = m->impl;
    int rc = RP_OK;
    float *pc[MAX_COMP] = {0};
    double pv[MAX_COMP];
    for (int q = 0; q < im->k; q++) {
        RP_ALLOC(pc[q] = malloc((size_t)(n > 0 ? n : 1) * sizeof *pc[q]));
        RP_CALL(rp_model_score_pairs(im->comp[q], users, items, n, pc[q]));
    }
    for (int64_t p = 0; p < n; p++) {
        for (int q = 0; q < im->k; q++) pv[q] = pc[q][p];
        out[p] = concat_one(im, users[p], items[p], pv);
    }
cleanup:
    for (int q = 0; q < im->k; q++) free(pc[q]);
    return rc;
}

/* The default shape, one hidden layer and one output: 16 items at a time, the first layer, its
 * ReLU and the output dot in registers, reading the items' first-layer rows transposed (BiT,
 * [h, ld]) so every step is one vector of 16 items; nothing is stored between the layers (the
 * BLAS form below streams a chunk's first layer through memory k + 3 times). Each lane sums in
 * the same fixed order, so a score depends only on (user, item), not on blocks or ranks. */
enum { FUSED_LANES = 16 };

static void fused_lanes(const concat_impl *im, const float *au, const float *const *pc,
                        int64_t i0, int nl, float *z)
{
    const float *W1 = im->W1;
    float p[MAX_COMP][FUSED_LANES], acc[FUSED_LANES], a[FUSED_LANES];
    for (int q = 0; q < im->k; q++)
        for (int j = 0; j < FUSED_LANES; j++) p[q][j] = j < nl ? pc[q][i0 + j] : 0.0f;
    for (int j = 0; j < FUSED_LANES; j++) acc[j] = im->b1;
    for (int c = 0; c < im->h; c++) {
        const float *bt = im->BiT + (int64_t)c * im->ld + i0;
        for (int j = 0; j < FUSED_LANES; j++) a[j] = bt[j] + au[c];
        for (int q = 0; q < im->k; q++) {
            float w = im->wp[q][c];
            for (int j = 0; j < FUSED_LANES; j++) a[j] += p[q][j] * w;
        }
        float w1 = W1[c];
        for (int j = 0; j < FUSED_LANES; j++) acc[j] += (a[j] > 0.0f ? a[j] : 0.0f) * w1;
    }
    for (int j = 0; j < nl; j++) z[j] = acc[j];
}

static void concat_user_fused(const concat_impl *im, int64_t u, int64_t n_items,
                              const float *const *pc, float *out)
{
    float z[FUSED_LANES];
    for (int64_t i0 = 0; i0 < n_items; i0 += FUSED_LANES) {
        int nl = (int)(n_items - i0 < FUSED_LANES ? n_items - i0 : FUSED_LANES);
        fused_lanes(im, im->Au + u * im->h, pc, i0, nl, z);
        for (int j = 0; j < nl; j++) {
            double pv[MAX_COMP];
            for (int q = 0; q < im->k; q++) pv[q] = pc[q][i0 + j];
            out[i0 + j] = (float)clamp01(sigmoid((double)z[j] + concat_offset(im, pv)));
        }
    }
}

/* Score one user against every item: with one hidden layer the fused kernel above; otherwise
 * the first layer is Bi + au + sum_q p_q wp_q for a chunk of items (a copy and k + 1 BLAS
 * rank-1 updates), the rest by GEMM over fixed item chunks (same shapes whatever the user
 * block or rank count). pc[q]: this user's row of component q's scores; ones:
 * CONCAT_ITEM_CHUNK ones. */
static int concat_user(const concat_impl *im, int64_t u, int64_t n_items, const float *const *pc,
                       const float *ones, float *h0, float *work, float *out)
{
    const rp_mlp *m = &im->mlp;
    int rc = RP_OK, h = im->h;
    if (im->BiT != NULL) {
        concat_user_fused(im, u, n_items, pc, out);
        return RP_OK;
    }
    for (int64_t i0 = 0; i0 < n_items; i0 += CONCAT_ITEM_CHUNK) {
        int ni = (int)(n_items - i0 < CONCAT_ITEM_CHUNK ? n_items - i0 : CONCAT_ITEM_CHUNK);
        memcpy(h0, im->Bi + i0 * h, (size_t)ni * (size_t)h * sizeof *h0);
        RP_CALL(rp_la_sger(ni, h, 1.0f, ones, 1, im->Au + u * h, 1, h0, h));
        for (int q = 0; q < im->k; q++)
            RP_CALL(rp_la_sger(ni, h, 1.0f, pc[q] + i0, 1, im->wp[q], 1, h0, h));
        const float *z = h0;
        if (m->n_layers > 1) {
            for (int64_t x = 0; x < (int64_t)ni * h; x++) h0[x] = rp_mlp_relu(h0[x]);
            RP_CALL(rp_mlp_forward_from(m, 1, h0, ni, work, NULL));
            z = work + rp_mlp_work_size(m, ni) - ni; /* the last layer's [ni, 1] output */
        }
        for (int64_t r = 0; r < ni; r++) {
            double pv[MAX_COMP];
            for (int q = 0; q < im->k; q++) pv[q] = pc[q][i0 + r];
            out[i0 + r] = (float)clamp01(sigmoid((double)z[r] + concat_offset(im, pv)));
        }
    }
cleanup:
    return rc;
}

static int concat_block(const rp_model *m, int64_t u0, int64_t nu, float *out)
{
    concat_impl *im = m->impl;
    int rc = RP_OK;
    float *pc[MAX_COMP] = {0}, *h0 = NULL, *work = NULL, *ones = NULL, *buf = NULL;
    const float *row[MAX_COMP];
    int64_t cells = nu * m->n_items;
    RP_REQUIRE(u0 >= 0 && u0 + nu <= m->n_users, RP_ERR_INTERNAL, "concat: users out of range");
    size_t one = (size_t)(cells > 0 ? cells : 1), nh0 = (size_t)CONCAT_ITEM_CHUNK * (size_t)im->h;
    size_t nwork = (size_t)rp_mlp_work_size(&im->mlp, CONCAT_ITEM_CHUNK);
    size_t total = one * (size_t)im->k + nh0 + nwork + CONCAT_ITEM_CHUNK;
    RP_ALLOC(buf = scratch_get(&im->scratch, total));
    h0 = buf + one * (size_t)im->k;
    work = h0 + nh0;
    ones = work + nwork;
    for (int q = 0; q < im->k; q++) {
        pc[q] = buf + one * (size_t)q;
        RP_CALL(rp_model_score_block(im->comp[q], u0, nu, pc[q]));
    }
    for (int x = 0; x < CONCAT_ITEM_CHUNK; x++) ones[x] = 1.0f;
    for (int64_t r = 0; r < nu; r++) {
        for (int q = 0; q < im->k; q++) row[q] = pc[q] + r * m->n_items;
        RP_CALL(concat_user(im, u0 + r, m->n_items, row, ones, h0, work, out + r * m->n_items));
    }
cleanup:
    return rc;
}
static void concat_destroy(void *v)
{
    concat_impl *im = v;
    if (im == NULL) return;
    if (!im->borrow)
        for (int q = 0; q < im->k; q++) rp_model_destroy(&im->comp[q]);
    rp_mlp_clear(&im->mlp);
    free(im->Au);
    free(im->Bi);
    free(im->BiT);
    free(im->scratch.buf);
    free(im);
}

static const rp_model_ops concat_ops = {"concat", concat_pairs, concat_block, concat_destroy};

/* Column c of the concatenated rows of the nm matrices, row r. */
static double feature_at(int nm, const double *const *A, const int64_t *d, int64_t r, int64_t c)
{
    int q = 0;
    while (q < nm - 1 && c >= d[q]) c -= d[q++];
    return A[q][r * d[q] + c];
}

int rp_hybrid_feature_rows(int nm, const double *const *A, const int64_t *dm, int64_t n,
                           const float *mean, const float *scale, float **F, float **mean_out,
                           float **scale_out)
{
    int rc = RP_OK;
    int64_t d = 0;
    float *f = NULL, *mu = NULL, *sc = NULL;
    for (int q = 0; q < nm; q++) d += dm[q];
    RP_ALLOC(f = malloc((size_t)(n * d > 0 ? n * d : 1) * sizeof *f));
    RP_ALLOC(mu = malloc((size_t)(d > 0 ? d : 1) * sizeof *mu));
    RP_ALLOC(sc = malloc((size_t)(d > 0 ? d : 1) * sizeof *sc));
    for (int64_t c = 0; c < d; c++) {
        if (mean != NULL) {
            mu[c] = mean[c];
            sc[c] = scale[c];
            continue;
        }
        /* Column statistics in row order (deterministic); constant columns keep scale 1. */
        double s = 0.0, s2 = 0.0;
        for (int64_t r = 0; r < n; r++) {
            double x = feature_at(nm, A, dm, r, c);
            s += x;
            s2 += x * x;
        }
        double m = n > 0 ? s / (double)n : 0.0, var = n > 0 ? s2 / (double)n - m * m : 0.0;
        mu[c] = (float)m;
        sc[c] = var > 1e-12 ? (float)(1.0 / sqrt(var)) : 1.0f;
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < d; c++)
            f[r * d + c] = (float)((feature_at(nm, A, dm, r, c) - mu[c]) * sc[c]);
    *F = f;
    f = NULL;
    if (mean_out) { *mean_out = mu; mu = NULL; }
    if (scale_out) { *scale_out = sc; sc = NULL; }
cleanup:
    free(f);
    free(mu);
    free(sc);
    return rc;
}

/* Read a float32 vector dataset of exactly n values. */
static int read_vec_f32(hid_t f, const char *path, const char *name, int64_t n, float **out)
{
    int rc = RP_OK;
    int nd = 0;
    int64_t d[2];
    float *v = NULL;
    RP_CALL(rp_h5_read_all(f, name, RP_F32, (void **)&v, &nd, d));
    if (nd != 1 || d[0] != n)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld values, expected %lld", path, name,
                      (long long)d[0], (long long)n);
    *out = v;
    v = NULL;
cleanup:
    free(v);
    return rc;
}

/* Standardised feature rows of one side ("user" or "item") from the stored components named
 * in emb (their rows, concatenated in that order). */
static int side_features(hid_t f, const char *path, const char *side, char *const *emb, int ne,
                         const char *mean_ds, const char *scale_ds, int64_t n, float **F,
                         int64_t *d)
{
    int rc = RP_OK;
    double *A[MAX_COMP] = {0};
    float *mu = NULL, *sc = NULL;
    int nd = 0;
    int64_t dm[MAX_COMP], dims[2];
    char name[256];
    *d = 0;
    for (int q = 0; q < ne; q++) {
        snprintf(name, sizeof name, "%s/%s/score/%s", RP_HYB_COMPONENTS, emb[q], side);
        RP_CALL(rp_h5_read_all(f, name, RP_F64, (void **)&A[q], &nd, dims));
        if (nd != 2 || dims[0] != n)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld rows, expected %lld", path, name,
                          (long long)dims[0], (long long)n);
        dm[q] = dims[1];
        *d += dims[1];
    }
    RP_CALL(read_vec_f32(f, path, mean_ds, *d, &mu));
    RP_CALL(read_vec_f32(f, path, scale_ds, *d, &sc));
    RP_CALL(rp_hybrid_feature_rows(ne, (const double *const *)A, dm, n, mu, sc, F, NULL, NULL));
cleanup:
    for (int q = 0; q < ne; q++) free(A[q]);
    free(mu);
    free(sc);
    return rc;
}

/* Precompute the two halves of the first layer: Au = Fu W0u + b0, Bi = Fi W0i. */
static int concat_first_layer(concat_impl *im, const float *Fu, int64_t du, int64_t n_users,
                              const float *Fi, int64_t di, int64_t n_items)
{
    int rc = RP_OK;
    const rp_mlp *m = &im->mlp;
    int h = m->dims[1];
    const float *W0 = m->params + rp_mlp_w_offset(m, 0), *b0 = m->params + rp_mlp_b_offset(m, 0);
    RP_ALLOC(im->Au = malloc((size_t)(n_users * h > 0 ? n_users * h : 1) * sizeof *im->Au));
    RP_ALLOC(im->Bi = calloc((size_t)(n_items * h > 0 ? n_items * h : 1), sizeof *im->Bi));
    for (int64_t r = 0; r < n_users; r++) memcpy(im->Au + r * h, b0, (size_t)h * sizeof *b0);
    if (n_users > 0 && du > 0)
        RP_CALL(rp_la_sgemm(0, 0, (int)n_users, h, (int)du, 1.0f, Fu, (int)du, W0, h, 1.0f, im->Au,
                            h));
    if (n_items > 0 && di > 0)
        RP_CALL(rp_la_sgemm(0, 0, (int)n_items, h, (int)di, 1.0f, Fi, (int)di, W0 + du * h, h, 0.0f,
                            im->Bi, h));
    im->h = h;
    for (int q = 0; q < im->k; q++) im->wp[q] = W0 + (du + di + q) * h;
    if (m->n_layers == 2 && m->dims[2] == 1) {
        im->ld = (n_items + FUSED_LANES - 1) / FUSED_LANES * FUSED_LANES;
        im->W1 = m->params + rp_mlp_w_offset(m, 1);
        im->b1 = m->params[rp_mlp_b_offset(m, 1)];
        RP_ALLOC(im->BiT = calloc((size_t)(im->ld * h > 0 ? im->ld * h : 1), sizeof *im->BiT));
        for (int64_t i = 0; i < n_items; i++)
            for (int c = 0; c < h; c++) im->BiT[c * im->ld + i] = im->Bi[i * h + c];
    }
cleanup:
    return rc;
}

int rp_model_concat_create(const char *name, int64_t n_users, int64_t n_items,
                           const rp_hybrid_concat_parts *p, rp_model **out)
{
    int rc = RP_OK;
    rp_model *m = NULL;
    concat_impl *im = NULL;
    const rp_mlp *src = p->mlp;
    RP_REQUIRE(p->n_comp >= 1 && p->n_comp <= MAX_COMP, RP_ERR_DATA, "concat: %d components",
               p->n_comp);
    RP_REQUIRE(src->dims[0] == p->du + p->di + p->n_comp && src->dims[src->n_layers] == 1,
               RP_ERR_DATA, "concat: MLP input %d, expected %lld, output %d", src->dims[0],
               (long long)(p->du + p->di + p->n_comp), src->dims[src->n_layers]);
    for (int l = 1; l < src->n_layers; l++)
        RP_REQUIRE(src->dims[l] <= 1024, RP_ERR_DATA, "concat: hidden width %d > 1024",
                   src->dims[l]);
    RP_ALLOC(m = calloc(1, sizeof *m));
    RP_ALLOC(im = calloc(1, sizeof *im));
    im->borrow = 1; /* until success: never destroy the caller's components here */
    RP_CALL(rp_mlp_init(&im->mlp, src->n_layers, src->dims, 0));
    memcpy(im->mlp.params, src->params, (size_t)src->n_params * sizeof *src->params);
    im->k = p->n_comp;
    RP_CALL(concat_first_layer(im, p->Fu, p->du, n_users, p->Fi, p->di, n_items));
    for (int q = 0; q < im->k; q++) im->comp[q] = p->comp[q];
    im->has_off = p->offset_w != NULL;
    if (im->has_off) memcpy(im->woff, p->offset_w, (size_t)(im->k + 1) * sizeof *im->woff);
    im->borrow = p->borrow;
    rp_model_set(m, name, n_users, n_items, &concat_ops, im);
    im = NULL;
    *out = m;
    m = NULL;
cleanup:
    concat_destroy(im);
    free(m);
    return rc;
}

/* A string-list attribute of /concat, or the two original components when it is absent. */
static int concat_names(hid_t f, const char *attr, char ***names, int64_t *n)
{
    static const char *const old[2] = {"als", "twotower"};
    int rc = RP_OK;
    if (rp_h5_attr_exists(f, RP_HYB_CONCAT, attr))
        return rp_h5_attr_read_strs(f, RP_HYB_CONCAT, attr, names, n);
    RP_ALLOC(*names = calloc(2, sizeof **names));
    *n = 2;
    for (int q = 0; q < 2; q++) RP_ALLOC((*names)[q] = strdup(old[q]));
cleanup:
    return rc;
}

/* The MLP of /concat: widths checked against the input width want. */
static int read_concat_mlp(hid_t f, const char *path, int64_t want, rp_mlp *mlp)
{
    int rc = RP_OK;
    int64_t *dims = NULL;
    float *params = NULL;
    int nd = 0, dl[RP_MLP_MAX_LAYERS + 1];
    int64_t d[2], pd[2];
    RP_CALL(rp_h5_read_all(f, RP_HYB_CONCAT_DIMS, RP_I64, (void **)&dims, &nd, d));
    if (nd != 1 || d[0] < 2 || d[0] > RP_MLP_MAX_LAYERS + 1)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s must hold 2..%d widths", path, RP_HYB_CONCAT_DIMS,
                      RP_MLP_MAX_LAYERS + 1);
    for (int64_t l = 0; l < d[0]; l++) {
        if (dims[l] < 1 || dims[l] > 65536)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has width %lld", path, RP_HYB_CONCAT_DIMS,
                          (long long)dims[l]);
        dl[l] = (int)dims[l];
    }
    if (dims[0] != want || dims[d[0] - 1] != 1)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s is %lld..%lld, expected input %lld and output 1", path,
                      RP_HYB_CONCAT_DIMS, (long long)dims[0], (long long)dims[d[0] - 1],
                      (long long)want);
    RP_CALL(rp_mlp_init(mlp, (int)d[0] - 1, dl, 0));
    RP_CALL(rp_h5_read_all(f, RP_HYB_CONCAT_PARAMS, RP_F32, (void **)&params, &nd, pd));
    if (nd != 1 || pd[0] != mlp->n_params)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld values, the widths need %lld", path,
                      RP_HYB_CONCAT_PARAMS, (long long)pd[0], (long long)mlp->n_params);
    memcpy(mlp->params, params, (size_t)pd[0] * sizeof *params);
cleanup:
    if (rc != RP_OK) rp_mlp_clear(mlp);
    free(dims);
    free(params);
    return rc;
}

static int load_concat(MPI_Comm comm, hid_t f, const char *path, const char *name,
                       int64_t n_users, int64_t n_items, rp_model **out)
{
    int rc = RP_OK;
    rp_model *comp[MAX_COMP] = {0};
    rp_mlp mlp = {0};
    char **cn = NULL, **en = NULL;
    int64_t nc = 0, ne = 0, du = 0, di = 0;
    float *Fu = NULL, *Fi = NULL;
    double *off = NULL;
    RP_CALL(concat_names(f, "components", &cn, &nc));
    RP_CALL(concat_names(f, "embeddings", &en, &ne));
    if (nc < 1 || nc > MAX_COMP || ne < 1 || ne > nc)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s lists %lld components and %lld embeddings", path,
                      RP_HYB_CONCAT, (long long)nc, (long long)ne);
    for (int64_t q = 0; q < nc; q++)
        RP_CALL(load_component(comm, f, path, cn[q], n_users, n_items, &comp[q]));
    RP_CALL(side_features(f, path, "user", en, (int)ne, RP_HYB_CONCAT_USER_MEAN,
                          RP_HYB_CONCAT_USER_SCALE, n_users, &Fu, &du));
    RP_CALL(side_features(f, path, "item", en, (int)ne, RP_HYB_CONCAT_ITEM_MEAN,
                          RP_HYB_CONCAT_ITEM_SCALE, n_items, &Fi, &di));
    RP_CALL(read_concat_mlp(f, path, du + di + nc, &mlp));
    if (rp_h5_exists(f, RP_HYB_CONCAT_OFFSET)) {
        int nd = 0;
        int64_t od[2];
        RP_CALL(rp_h5_read_all(f, RP_HYB_CONCAT_OFFSET, RP_F64, (void **)&off, &nd, od));
        if (nd != 1 || od[0] != nc + 1)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld values, expected %lld", path,
                          RP_HYB_CONCAT_OFFSET, (long long)od[0], (long long)(nc + 1));
    }
    rp_hybrid_concat_parts parts = {(int)nc, comp, 0, Fu, du, Fi, di, &mlp, off};
    if (rp_model_concat_create(name, n_users, n_items, &parts, out) != RP_OK)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: inconsistent concat model", path);
    memset(comp, 0, sizeof comp); /* owned by *out now */
cleanup:
    for (int q = 0; q < MAX_COMP; q++) rp_model_destroy(&comp[q]);
    rp_h5_strs_free(cn, nc);
    rp_h5_strs_free(en, ne);
    rp_mlp_clear(&mlp);
    free(Fu);
    free(Fi);
    free(off);
    return rc;
}

/* A variant that fell back scores its best input alone, under the variant's name. */
static int load_fallback(MPI_Comm comm, hid_t f, const char *path, const char *group,
                         const char *name, int64_t n_users, int64_t n_items, rp_model **out)
{
    int rc = RP_OK;
    char fb[64] = "";
    *out = NULL;
    if (!rp_h5_attr_exists(f, group, "fallback")) goto cleanup;
    RP_CALL(rp_h5_attr_read_str(f, group, "fallback", fb, sizeof fb));
    if (fb[0] == '\0') goto cleanup;
    RP_CALL(load_component(comm, f, path, fb, n_users, n_items, out));
    snprintf((*out)->name, sizeof (*out)->name, "%s", name);
cleanup:
    return rc;
}

int rp_model_load_hybrid(MPI_Comm comm, int64_t file, const char *path, const char *variant,
                         int64_t n_users, int64_t n_items, rp_model **out)
{
    int rc = RP_OK;
    hid_t f = (hid_t)file;
    rp_model *m = NULL;
    char var[64] = "";
    if (variant == NULL || variant[0] == '\0') {
        RP_CALL(rp_h5_attr_read_str(f, "/", "default", var, sizeof var));
    } else {
        snprintf(var, sizeof var, "%s", variant);
    }
    char name[64];
    if (variant == NULL || variant[0] == '\0')
        snprintf(name, sizeof name, "hybrid");
    else
        snprintf(name, sizeof name, "hybrid-%s", var);
    if (strcmp(var, "blend") == 0) {
        blend_impl *im = NULL;
        RP_CALL(load_blend(comm, f, path, n_users, n_items, &im));
        m = rp_calloc(1, sizeof *m);
        if (m == NULL) blend_destroy(im);
        RP_REQUIRE(m != NULL, RP_ERR_NOMEM, "blend model: out of memory");
        rp_model_set(m, name, n_users, n_items, &blend_ops, im);
    } else if (strcmp(var, "concat") == 0) {
        RP_CALL(load_fallback(comm, f, path, RP_HYB_CONCAT, name, n_users, n_items, &m));
        if (m == NULL) RP_CALL(load_concat(comm, f, path, name, n_users, n_items, &m));
    } else {
        RP_FAIL_USER0(RP_ERR_DATA, "%s: unknown hybrid variant '%s' (blend|concat)", path, var);
    }
    *out = m;
    m = NULL;
cleanup:
    rp_model_destroy(&m);
    return rc;
}
