/* rp_model_hybrid.c - the "blend" and "concat" model kinds stored in hybrid.h5 (rp-hybrid) and
 * scored through rp_model by rp-eval and rp-recommend. */
#include "rp_model_hybrid.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_h5.h"
#include "rp_mlp.h"

#define MAX_COMP 8
/* Items per GEMM row batch when scoring a user against every item with the concat MLP. */
#define CONCAT_ITEM_CHUNK 1024

static double clamp01(double z) { return z < 0.0 ? 0.0 : (z > 1.0 ? 1.0 : z); }

/* ---- blend: clamp01(w0 + sum_k w_k * pred_k) ---- */

typedef struct blend_impl {
    int n;
    rp_model *comp[MAX_COMP];
    double w[MAX_COMP + 1];
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
    const blend_impl *im = m->impl;
    int rc = RP_OK;
    float *p[MAX_COMP] = {0};
    int64_t cells = nu * m->n_items;
    for (int k = 0; k < im->n; k++) {
        RP_ALLOC(p[k] = malloc((size_t)(cells > 0 ? cells : 1) * sizeof *p[k]));
        RP_CALL(rp_model_score_block(im->comp[k], u0, nu, p[k]));
    }
    RP_CALL(blend_combine(im, p, cells, out));
cleanup:
    for (int k = 0; k < im->n; k++) free(p[k]);
    return rc;
}

static void blend_destroy(void *v)
{
    blend_impl *im = v;
    if (im == NULL) return;
    for (int k = 0; k < im->n; k++) rp_model_destroy(&im->comp[k]);
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
    RP_ALLOC(im = calloc(1, sizeof *im));
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

/* ---- concat: sigmoid(MLP([Fu[u], Fi[i], p_als, p_tt])) ---- */

typedef struct concat_impl {
    rp_model *als, *tt;  /* dot-form components: their predictions are two MLP inputs */
    int borrow;          /* 1: als and tt belong to the caller */
    rp_mlp mlp;
    int h;               /* width of the first layer's output */
    float *Au;           /* [n_users, h] = Fu W0[user rows] + b0 */
    float *Bi;           /* [n_items, h] = Fi W0[item rows] */
    const float *wa, *wt;/* W0 rows of the two prediction inputs (inside mlp.params) */
} concat_impl;

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* One pair in double precision with plain loops: the result does not depend on batching. */
static float concat_one(const concat_impl *im, int64_t u, int64_t i, double pa, double pt)
{
    const rp_mlp *m = &im->mlp;
    double a[1024], b[1024];
    int h = im->h;
    for (int c = 0; c < h; c++) {
        double z = (double)im->Au[u * h + c] + im->Bi[i * h + c] + pa * im->wa[c] + pt * im->wt[c];
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
    return (float)clamp01(sigmoid(a[0]));
}

static int concat_pairs(const rp_model *m, const int32_t *users, const int32_t *items, int64_t n,
                        float *out)
{
    const concat_impl *im = m->impl;
    int rc = RP_OK;
    float *pa = NULL, *pt = NULL;
    RP_ALLOC(pa = malloc((size_t)(n > 0 ? n : 1) * sizeof *pa));
    RP_ALLOC(pt = malloc((size_t)(n > 0 ? n : 1) * sizeof *pt));
    RP_CALL(rp_model_score_pairs(im->als, users, items, n, pa));
    RP_CALL(rp_model_score_pairs(im->tt, users, items, n, pt));
    for (int64_t p = 0; p < n; p++) out[p] = concat_one(im, users[p], items[p], pa[p], pt[p]);
cleanup:
    free(pa);
    free(pt);
    return rc;
}

/* Score one user against every item: the first layer is Bi + au + pa wa + pt wt for a chunk of
 * items (a copy and three BLAS rank-1 updates), the rest by GEMM over fixed item chunks (same
 * shapes whatever the user block or rank count). ones: CONCAT_ITEM_CHUNK ones. */
static void concat_user(const concat_impl *im, int64_t u, int64_t n_items, const float *pa,
                        const float *pt, const float *ones, float *h0, float *work, float *out)
{
    const rp_mlp *m = &im->mlp;
    int h = im->h;
    for (int64_t i0 = 0; i0 < n_items; i0 += CONCAT_ITEM_CHUNK) {
        int ni = (int)(n_items - i0 < CONCAT_ITEM_CHUNK ? n_items - i0 : CONCAT_ITEM_CHUNK);
        memcpy(h0, im->Bi + i0 * h, (size_t)ni * (size_t)h * sizeof *h0);
        cblas_sger(CblasRowMajor, ni, h, 1.0f, ones, 1, im->Au + u * h, 1, h0, h);
        cblas_sger(CblasRowMajor, ni, h, 1.0f, pa + i0, 1, im->wa, 1, h0, h);
        cblas_sger(CblasRowMajor, ni, h, 1.0f, pt + i0, 1, im->wt, 1, h0, h);
        const float *z = h0;
        if (m->n_layers > 1) {
            /* Branch-free ReLU (exact: v + |v| = 2v or 0): signs are unpredictable. */
            for (int64_t x = 0; x < (int64_t)ni * h; x++) h0[x] = 0.5f * (h0[x] + fabsf(h0[x]));
            rp_mlp_forward_from(m, 1, h0, ni, work, NULL);
            z = work + rp_mlp_work_size(m, ni) - ni; /* the last layer's [ni, 1] output */
        }
        for (int64_t r = 0; r < ni; r++) out[i0 + r] = (float)clamp01(sigmoid(z[r]));
    }
}

static int concat_block(const rp_model *m, int64_t u0, int64_t nu, float *out)
{
    const concat_impl *im = m->impl;
    int rc = RP_OK;
    float *pa = NULL, *pt = NULL, *h0 = NULL, *work = NULL, *ones = NULL;
    int64_t cells = nu * m->n_items;
    RP_REQUIRE(u0 >= 0 && u0 + nu <= m->n_users, RP_ERR_INTERNAL, "concat: users out of range");
    RP_ALLOC(pa = malloc((size_t)(cells > 0 ? cells : 1) * sizeof *pa));
    RP_ALLOC(pt = malloc((size_t)(cells > 0 ? cells : 1) * sizeof *pt));
    RP_ALLOC(h0 = malloc((size_t)CONCAT_ITEM_CHUNK * (size_t)im->h * sizeof *h0));
    RP_ALLOC(ones = malloc(CONCAT_ITEM_CHUNK * sizeof *ones));
    for (int x = 0; x < CONCAT_ITEM_CHUNK; x++) ones[x] = 1.0f;
    RP_ALLOC(work = malloc((size_t)rp_mlp_work_size(&im->mlp, CONCAT_ITEM_CHUNK) * sizeof *work));
    RP_CALL(rp_model_score_block(im->als, u0, nu, pa));
    RP_CALL(rp_model_score_block(im->tt, u0, nu, pt));
    for (int64_t r = 0; r < nu; r++)
        concat_user(im, u0 + r, m->n_items, pa + r * m->n_items, pt + r * m->n_items, ones, h0,
                    work, out + r * m->n_items);
cleanup:
    free(pa);
    free(pt);
    free(h0);
    free(ones);
    free(work);
    return rc;
}

static void concat_destroy(void *v)
{
    concat_impl *im = v;
    if (im == NULL) return;
    if (!im->borrow) {
        rp_model_destroy(&im->als);
        rp_model_destroy(&im->tt);
    }
    rp_mlp_clear(&im->mlp);
    free(im->Au);
    free(im->Bi);
    free(im);
}

static const rp_model_ops concat_ops = {"concat", concat_pairs, concat_block, concat_destroy};

int rp_hybrid_feature_rows(const double *A, int64_t da, const double *T, int64_t dt, int64_t n,
                           const float *mean, const float *scale, float **F, float **mean_out,
                           float **scale_out)
{
    int rc = RP_OK;
    int64_t d = da + dt;
    float *f = NULL, *mu = NULL, *sc = NULL;
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
            double x = c < da ? A[r * da + c] : T[r * dt + c - da];
            s += x;
            s2 += x * x;
        }
        double m = n > 0 ? s / (double)n : 0.0, var = n > 0 ? s2 / (double)n - m * m : 0.0;
        mu[c] = (float)m;
        sc[c] = var > 1e-12 ? (float)(1.0 / sqrt(var)) : 1.0f;
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < d; c++) {
            double x = c < da ? A[r * da + c] : T[r * dt + c - da];
            f[r * d + c] = (float)((x - mu[c]) * sc[c]);
        }
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

/* Standardised feature rows of one side ("user" or "item") from the stored components. */
static int side_features(hid_t f, const char *path, const char *side, const char *mean_ds,
                         const char *scale_ds, int64_t n, float **F, int64_t *d)
{
    int rc = RP_OK;
    double *A = NULL, *T = NULL;
    float *mu = NULL, *sc = NULL;
    int nd = 0;
    int64_t ad[2], td[2];
    char name[256];
    snprintf(name, sizeof name, "%s/als/score/%s", RP_HYB_COMPONENTS, side);
    RP_CALL(rp_h5_read_all(f, name, RP_F64, (void **)&A, &nd, ad));
    snprintf(name, sizeof name, "%s/twotower/score/%s", RP_HYB_COMPONENTS, side);
    RP_CALL(rp_h5_read_all(f, name, RP_F64, (void **)&T, &nd, td));
    if (ad[0] != n || td[0] != n)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s component rows %lld/%lld, expected %lld", path, side,
                      (long long)ad[0], (long long)td[0], (long long)n);
    RP_CALL(read_vec_f32(f, path, mean_ds, ad[1] + td[1], &mu));
    RP_CALL(read_vec_f32(f, path, scale_ds, ad[1] + td[1], &sc));
    RP_CALL(rp_hybrid_feature_rows(A, ad[1], T, td[1], n, mu, sc, F, NULL, NULL));
    *d = ad[1] + td[1];
cleanup:
    free(A);
    free(T);
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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_users, h, (int)du, 1.0f, Fu,
                    (int)du, W0, h, 1.0f, im->Au, h);
    if (n_items > 0 && di > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_items, h, (int)di, 1.0f, Fi,
                    (int)di, W0 + du * h, h, 0.0f, im->Bi, h);
    im->h = h;
    im->wa = W0 + (du + di) * h;
    im->wt = W0 + (du + di + 1) * h;
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
    RP_REQUIRE(src->dims[0] == p->du + p->di + 2 && src->dims[src->n_layers] == 1, RP_ERR_DATA,
               "concat: MLP input %d, expected %lld, output %d", src->dims[0],
               (long long)(p->du + p->di + 2), src->dims[src->n_layers]);
    for (int l = 1; l < src->n_layers; l++)
        RP_REQUIRE(src->dims[l] <= 1024, RP_ERR_DATA, "concat: hidden width %d > 1024",
                   src->dims[l]);
    RP_ALLOC(m = calloc(1, sizeof *m));
    RP_ALLOC(im = calloc(1, sizeof *im));
    im->borrow = 1; /* until success: never destroy the caller's components here */
    RP_CALL(rp_mlp_init(&im->mlp, src->n_layers, src->dims, 0));
    memcpy(im->mlp.params, src->params, (size_t)src->n_params * sizeof *src->params);
    RP_CALL(concat_first_layer(im, p->Fu, p->du, n_users, p->Fi, p->di, n_items));
    im->als = p->als;
    im->tt = p->tt;
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

static int load_concat(MPI_Comm comm, hid_t f, const char *path, const char *name,
                       int64_t n_users, int64_t n_items, rp_model **out)
{
    int rc = RP_OK;
    rp_model *als = NULL, *tt = NULL;
    rp_mlp mlp = {0};
    int64_t *dims = NULL, du = 0, di = 0;
    float *params = NULL, *Fu = NULL, *Fi = NULL;
    int nd = 0, dl[RP_MLP_MAX_LAYERS + 1];
    int64_t d[2], pd[2];
    RP_CALL(load_component(comm, f, path, "als", n_users, n_items, &als));
    RP_CALL(load_component(comm, f, path, "twotower", n_users, n_items, &tt));
    RP_CALL(side_features(f, path, "user", RP_HYB_CONCAT_USER_MEAN, RP_HYB_CONCAT_USER_SCALE,
                          n_users, &Fu, &du));
    RP_CALL(side_features(f, path, "item", RP_HYB_CONCAT_ITEM_MEAN, RP_HYB_CONCAT_ITEM_SCALE,
                          n_items, &Fi, &di));
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
    if (dims[0] != du + di + 2 || dims[d[0] - 1] != 1)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s is %lld..%lld, expected input %lld and output 1", path,
                      RP_HYB_CONCAT_DIMS, (long long)dims[0], (long long)dims[d[0] - 1],
                      (long long)(du + di + 2));
    RP_CALL(rp_mlp_init(&mlp, (int)d[0] - 1, dl, 0));
    RP_CALL(rp_h5_read_all(f, RP_HYB_CONCAT_PARAMS, RP_F32, (void **)&params, &nd, pd));
    if (nd != 1 || pd[0] != mlp.n_params)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld values, the widths need %lld", path,
                      RP_HYB_CONCAT_PARAMS, (long long)pd[0], (long long)mlp.n_params);
    memcpy(mlp.params, params, (size_t)pd[0] * sizeof *params);
    rp_hybrid_concat_parts parts = {als, tt, 0, Fu, du, Fi, di, &mlp};
    if (rp_model_concat_create(name, n_users, n_items, &parts, out) != RP_OK)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: inconsistent concat model", path);
    als = tt = NULL; /* owned by *out now */
cleanup:
    rp_model_destroy(&als);
    rp_model_destroy(&tt);
    rp_mlp_clear(&mlp);
    free(dims);
    free(params);
    free(Fu);
    free(Fi);
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
        RP_CALL(load_concat(comm, f, path, name, n_users, n_items, &m));
    } else {
        RP_FAIL_USER0(RP_ERR_DATA, "%s: unknown hybrid variant '%s' (blend|concat)", path, var);
    }
    *out = m;
    m = NULL;
cleanup:
    rp_model_destroy(&m);
    return rc;
}
