/* rp_model.c - the dot-form model (ALS, two-tower, baselines) and the loader that dispatches on
 * a model file's schema. Used by rp-eval, rp-hybrid and rp-recommend. */
#include "rp_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_h5.h"
#include "rp_la.h"
#include "rp_model_hybrid.h"
#include "rp_mpi.h"
#include "rp_schema.h"

typedef struct dot_impl {
    int64_t d;
    double *U;  /* [n_users, d] */
    double *V;  /* [n_items, d] */
    float *Uf;  /* float copies for blocked GEMM scoring */
    float *Vf;
    rp_post post;
    double scale, shift;
} dot_impl;

void rp_model_split_variant(const char *path, char *file, size_t fcap, char *variant, size_t vcap)
{
    const char *h = strrchr(path, '#');
    const char *slash = strrchr(path, '/');
    if (h == NULL || (slash != NULL && slash > h)) {
        snprintf(file, fcap, "%s", path);
        variant[0] = '\0';
        return;
    }
    snprintf(file, fcap, "%.*s", (int)(h - path), path);
    snprintf(variant, vcap, "%s", h + 1);
}

static double finish(const dot_impl *im, double dot)
{
    double z = im->scale * dot + im->shift;
    if (im->post == RP_POST_SIGMOID) z = 1.0 / (1.0 + exp(-z));
    return z < 0.0 ? 0.0 : (z > 1.0 ? 1.0 : z);
}

static int dot_pairs(const rp_model *m, const int32_t *users, const int32_t *items, int64_t n,
                     float *out)
{
    const dot_impl *im = m->impl;
    for (int64_t p = 0; p < n; p++) {
        /* Double accumulation in index order: identical whatever rank scores the pair. */
        const double *u = im->U + (int64_t)users[p] * im->d, *v = im->V + (int64_t)items[p] * im->d;
        double s = 0.0;
        for (int64_t j = 0; j < im->d; j++) s += u[j] * v[j];
        out[p] = (float)finish(im, s);
    }
    return RP_OK;
}

/* The float products of a user block and an item range (before finish): the one GEMM every
 * scoring path shares. */
static int dot_raw_tile(const rp_model *m, int64_t u0, int64_t nu, int64_t i0, int64_t ni,
                        float *out)
{
    const dot_impl *im = m->impl;
    int rc = RP_OK;
    RP_REQUIRE(u0 >= 0 && u0 + nu <= m->n_users && i0 >= 0 && ni >= 0 && i0 + ni <= m->n_items &&
                   im->d <= 1 << 20,
               RP_ERR_INTERNAL, "score_block: users [%lld, +%lld) x items [%lld, +%lld) outside "
               "%lld x %lld", (long long)u0, (long long)nu, (long long)i0, (long long)ni,
               (long long)m->n_users, (long long)m->n_items);
    if (nu == 0 || ni == 0) goto cleanup;
    RP_CALL(rp_la_sgemm(0, 1, (int)nu, (int)ni, (int)im->d, 1.0f, im->Uf + u0 * im->d,
                        (int)im->d, im->Vf + i0 * im->d, (int)im->d, 0.0f, out, (int)ni));
cleanup:
    return rc;
}

static int dot_raw(const rp_model *m, int64_t u0, int64_t nu, float *out)
{
    return dot_raw_tile(m, u0, nu, 0, m->n_items, out);
}

static int dot_block(const rp_model *m, int64_t u0, int64_t nu, float *out)
{
    const dot_impl *im = m->impl;
    int rc = dot_raw(m, u0, nu, out);
    if (rc != RP_OK) return rc;
    for (int64_t x = 0; x < nu * m->n_items; x++) out[x] = (float)finish(im, out[x]);
    return RP_OK;
}

static void dot_destroy(void *p)
{
    dot_impl *im = p;
    if (im == NULL) return;
    free(im->U);
    free(im->V);
    free(im->Uf);
    free(im->Vf);
    free(im);
}

static const rp_model_ops dot_ops = {"dot", dot_pairs, dot_block, dot_destroy};

int rp_model_from_dot(const char *name, int64_t n_users, int64_t n_items, int64_t d,
                      const double *U, const double *V, rp_post post, double scale, double shift,
                      rp_model **out)
{
    int rc = RP_OK;
    rp_model *m = NULL;
    dot_impl *im = NULL;
    RP_ALLOC(m = calloc(1, sizeof *m));
    RP_ALLOC(im = calloc(1, sizeof *im));
    size_t nu = (size_t)(n_users * d), ni = (size_t)(n_items * d);
    RP_ALLOC(im->U = malloc((nu ? nu : 1) * sizeof *im->U));
    RP_ALLOC(im->V = malloc((ni ? ni : 1) * sizeof *im->V));
    RP_ALLOC(im->Uf = malloc((nu ? nu : 1) * sizeof *im->Uf));
    RP_ALLOC(im->Vf = malloc((ni ? ni : 1) * sizeof *im->Vf));
    memcpy(im->U, U, nu * sizeof *im->U);
    memcpy(im->V, V, ni * sizeof *im->V);
    for (size_t x = 0; x < nu; x++) im->Uf[x] = (float)U[x];
    for (size_t x = 0; x < ni; x++) im->Vf[x] = (float)V[x];
    im->d = d;
    im->post = post;
    im->scale = scale;
    im->shift = shift;
    rp_model_set(m, name, n_users, n_items, &dot_ops, im);
    im = NULL;
    *out = m;
    m = NULL;
cleanup:
    dot_destroy(im);
    free(m);
    return rc;
}

int rp_model_load_dot(MPI_Comm comm, int64_t file, const char *path, const char *prefix,
                      const char *name, int64_t n_users, int64_t n_items, rp_model **out)
{
    int rc = RP_OK;
    double *U = NULL, *V = NULL;
    char du[256], di[256], grp[256], post[32] = "identity";
    double scale = 1.0, shift = 0.0;
    int nd = 0;
    int64_t ud[2], id[2];
    (void)comm;
    snprintf(du, sizeof du, "%s%s", prefix, RP_DS_SCORE_USER);
    snprintf(di, sizeof di, "%s%s", prefix, RP_DS_SCORE_ITEM);
    snprintf(grp, sizeof grp, "%s%s", prefix, RP_GRP_SCORE);
    RP_CALL(rp_h5_read_all((hid_t)file, du, RP_F64, (void **)&U, &nd, ud));
    RP_CALL(rp_h5_read_all((hid_t)file, di, RP_F64, (void **)&V, &nd, id));
    if (ud[0] != n_users || id[0] != n_items || ud[1] != id[1])
        RP_FAIL_USER0(RP_ERR_DATA,
                      "%s: %s is %lldx%lld and %s is %lldx%lld, expected %lld users and %lld "
                      "items with equal widths (model from another dataset?)",
                      path, du, (long long)ud[0], (long long)ud[1], di, (long long)id[0],
                      (long long)id[1], (long long)n_users, (long long)n_items);
    RP_CALL(rp_h5_attr_read_str((hid_t)file, grp, "post", post, sizeof post));
    RP_CALL(rp_h5_attr_read((hid_t)file, grp, "scale", RP_F64, 1, &scale));
    RP_CALL(rp_h5_attr_read((hid_t)file, grp, "shift", RP_F64, 1, &shift));
    if (strcmp(post, "identity") != 0 && strcmp(post, "sigmoid") != 0)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s attribute post='%s' is not identity|sigmoid", path,
                      grp, post);
    RP_CALL(rp_model_from_dot(name, n_users, n_items, ud[1], U, V,
                              strcmp(post, "sigmoid") == 0 ? RP_POST_SIGMOID : RP_POST_IDENTITY,
                              scale, shift, out));
cleanup:
    free(U);
    free(V);
    return rc;
}

/* Model name from the schema: "recpipe.als" -> "als". */
static void name_of(const char *schema, char *name, size_t cap)
{
    const char *dot = strrchr(schema, '.');
    snprintf(name, cap, "%s", dot ? dot + 1 : schema);
}

int rp_model_load(MPI_Comm comm, const char *path, int64_t n_users, int64_t n_items,
                  rp_model **out)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    char schema[128] = "", name[64], file_path[4096], variant[64];
    /* "hybrid.h5#concat" names one variant of a hybrid file (rp_model_hybrid.c). */
    rp_model_split_variant(path, file_path, sizeof file_path, variant, sizeof variant);
    path = file_path;
    RP_CALL(rp_h5_open(comm, path, &f));
    if (!rp_h5_attr_exists(f, "/", "schema"))
        RP_FAIL_USER0(RP_ERR_DATA, "%s: not a recpipe model file (no schema attribute)", path);
    RP_CALL(rp_h5_attr_read_str(f, "/", "schema", schema, sizeof schema));
    name_of(schema, name, sizeof name);
    if (strcmp(schema, RP_SCHEMA_HYBRID) == 0) {
        RP_CALL(rp_model_load_hybrid(comm, f, path, variant, n_users, n_items, out));
    } else if (variant[0] != '\0') {
        RP_FAIL_USER0(RP_ERR_DATA, "%s: '#%s' names a variant, only hybrid files have them",
                      path, variant);
    } else if (rp_h5_exists(f, RP_DS_SCORE_USER)) {
        RP_CALL(rp_model_load_dot(comm, f, path, "", name, n_users, n_items, out));
    } else {
        RP_FAIL_USER0(RP_ERR_DATA, "%s: schema '%s' has no %s: not a scorable model file", path,
                      schema, RP_DS_SCORE_USER);
    }
cleanup:
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

int rp_model_dot_parts(const rp_model *m, int64_t *d, const double **U, const double **V,
                       rp_post *post, double *scale, double *shift)
{
    int rc = RP_OK;
    RP_REQUIRE(m->ops == &dot_ops, RP_ERR_INTERNAL, "model '%s' is not of the dot kind", m->name);
    const dot_impl *im = m->impl;
    *d = im->d;
    *U = im->U;
    *V = im->V;
    *post = im->post;
    *scale = im->scale;
    *shift = im->shift;
cleanup:
    return rc;
}

int rp_model_dot_monotone(const rp_model *m)
{
    if (m->ops != &dot_ops) return 0;
    const dot_impl *im = m->impl;
    /* Rounding to nearest keeps scale * x + shift, the clamp and the float cast monotone. exp()
     * is not guaranteed monotone to the last bit, so the sigmoid gets no shortcut. */
    if (im->post != RP_POST_IDENTITY || isnan(im->scale) || isnan(im->shift)) return 0;
    return im->scale >= 0.0 ? 1 : -1;
}

int rp_model_dot_raw_block(const rp_model *m, int64_t u0, int64_t nu, float *out)
{
    int rc = RP_OK;
    RP_REQUIRE(m->ops == &dot_ops, RP_ERR_INTERNAL, "model '%s' is not of the dot kind", m->name);
    rc = dot_raw(m, u0, nu, out);
cleanup:
    return rc;
}

int rp_model_dot_raw_tile(const rp_model *m, int64_t u0, int64_t nu, int64_t i0, int64_t ni,
                          float *out)
{
    int rc = RP_OK;
    RP_REQUIRE(m->ops == &dot_ops, RP_ERR_INTERNAL, "model '%s' is not of the dot kind", m->name);
    rc = dot_raw_tile(m, u0, nu, i0, ni, out);
cleanup:
    return rc;
}

int rp_model_dot_floats(const rp_model *m, const float **Uf, const float **Vf)
{
    int rc = RP_OK;
    RP_REQUIRE(m->ops == &dot_ops, RP_ERR_INTERNAL, "model '%s' is not of the dot kind", m->name);
    const dot_impl *im = m->impl;
    *Uf = im->Uf;
    *Vf = im->Vf;
cleanup:
    return rc;
}

float rp_model_dot_finish(const rp_model *m, float raw)
{
    return (float)finish(m->impl, raw);
}

void rp_model_set(rp_model *m, const char *name, int64_t n_users, int64_t n_items,
                  const rp_model_ops *ops, void *impl)
{
    snprintf(m->name, sizeof m->name, "%s", name);
    m->n_users = n_users;
    m->n_items = n_items;
    m->ops = ops;
    m->impl = impl;
}

int rp_model_score_pairs(const rp_model *m, const int32_t *users, const int32_t *items,
                         int64_t n, float *out)
{
    return m->ops->score_pairs(m, users, items, n, out);
}

int rp_model_score_block(const rp_model *m, int64_t u0, int64_t nu, float *out)
{
    return m->ops->score_block(m, u0, nu, out);
}

void rp_model_destroy(rp_model **m)
{
    if (m == NULL || *m == NULL) return;
    if ((*m)->ops && (*m)->ops->destroy) (*m)->ops->destroy((*m)->impl);
    free(*m);
    *m = NULL;
}
