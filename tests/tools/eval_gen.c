/* eval_gen.c - bin/test-eval_gen: synthetic rp-eval inputs (shards.h5, features.h5, truth.h5,
 * dot-form model files) of any size, for tests/e2e/eval.sh and bench/bench-eval.sh. Single
 * process (every dataset written by rank 0).
 * usage: test-eval_gen DIR n_users n_items train_per_user test_users test_per_user d seed */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_h5.h"
#include "rp_schema.h"

static uint64_t st;
static double urand(void)
{
    st ^= st << 13, st ^= st >> 7, st ^= st << 17;
    return (double)(st >> 11) / 9007199254740992.0;
}
static int64_t NU, NI;
static int64_t gcd64(int64_t a, int64_t b) { return b ? gcd64(b, a % b) : a; }
static double *UF, *IF; /* latent factors [n, 4] */
static double expected(int64_t u, int64_t i)
{
    double s = 0;
    for (int k = 0; k < 4; k++) s += UF[u * 4 + k] * IF[i * 4 + k];
    return 1.2 * exp(0.6 * s); /* mean about 1, heavy right tail like watch_ratio */
}
#define CK(x) \
    do { if ((x) != RP_OK) { fprintf(stderr, "eval_gen: %s failed\n", #x); exit(1); } } while (0)

/* Write the 1-D dataset <sp>/<name> from rank 0. */
static void put(hid_t f, const char *sp, const char *name, rp_dtype t, int64_t n, const void *b)
{
    char ds[128];
    snprintf(ds, sizeof ds, "%s/%s", sp, name);
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, ds, t, 1, &n, b));
}

static void split(hid_t f, const char *sp, int64_t users, int64_t per, int64_t stride,
                  int64_t phase)
{
    int64_t n = users * per, d1;
    int64_t *uo = calloc(NU + 1, 8), *io = calloc(NI + 1, 8), *fill = calloc(NI, 8);
    int32_t *it = malloc(n * 4), *us = malloc(n * 4);
    float *v = malloc(n * 4), *w = malloc(n * 4), *iv = malloc(n * 4);
    int64_t z = 0;
    for (int64_t u = 0; u < NU; u++) {
        uo[u] = z;
        if (u >= users) continue;
        for (int64_t k = 0; k < per; k++, z++) {
            int64_t i = (u * 7919 + phase + k * stride) % NI;
            double e = expected(u, i), x = e * (0.6 + 0.8 * urand());
            it[z] = (int32_t)i;
            w[z] = (float)x;
            v[z] = (float)(fmin(x, 4.0) / 4.0);
            io[i + 1]++;
        }
    }
    uo[NU] = z;
    for (int64_t i = 0; i < NI; i++) io[i + 1] += io[i];
    for (int64_t u = 0; u < NU; u++)
        for (int64_t q = uo[u]; q < uo[u + 1]; q++) {
            int64_t i = it[q], p = io[i] + fill[i]++;
            us[p] = (int32_t)u;
            iv[p] = v[q];
        }
    d1 = NU + 1;
    put(f, sp, "by_user/offsets", RP_I64, d1, uo);
    put(f, sp, "by_user/item", RP_I32, n, it);
    put(f, sp, "by_user/value", RP_F32, n, v);
    put(f, sp, "by_user/watch_ratio", RP_F32, n, w);
    d1 = NI + 1;
    put(f, sp, "by_item/offsets", RP_I64, d1, io);
    put(f, sp, "by_item/user", RP_I32, n, us);
    put(f, sp, "by_item/value", RP_F32, n, iv);
    free(uo); free(io); free(fill); free(it); free(us); free(v); free(w); free(iv);
}

/* A dot-form model: the planted factors in the first 4 columns, noise in the others. */
static void model(const char *path, const char *schema, int64_t nu, int64_t ni, int64_t d,
                  double noise)
{
    hid_t f;
    double *U = malloc(nu * d * 8), *V = malloc(ni * d * 8), one = 0.25 / 4.0, sh = 0.0;
    for (int64_t x = 0; x < nu * d; x++)
        U[x] = x % d < 4 && x / d < NU ? UF[(x / d) * 4 + x % d] : noise * urand();
    for (int64_t x = 0; x < ni * d; x++)
        V[x] = x % d < 4 && x / d < NI ? IF[(x / d) * 4 + x % d] : noise * urand();
    int64_t dims[2] = {nu, d}, n = 5, it[5] = {1, 2, 3, 4, 5};
    double tr[5] = {0.3, 0.2, 0.16, 0.14, 0.13}, va[5] = {0.31, 0.24, 0.21, 0.2, 0.2};
    CK(rp_h5_create(MPI_COMM_WORLD, path, &f));
    CK(rp_h5_attr_write_str(f, "/", "schema", schema));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_SCORE_USER, RP_F64, 2, dims, U));
    dims[0] = ni;
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_SCORE_ITEM, RP_F64, 2, dims, V));
    CK(rp_h5_attr_write_str(f, RP_GRP_SCORE, "post", "identity"));
    CK(rp_h5_attr_write(f, RP_GRP_SCORE, "scale", RP_F64, 1, &one));
    sh = 0.25;
    CK(rp_h5_attr_write(f, RP_GRP_SCORE, "shift", RP_F64, 1, &sh));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, "/history/iteration", RP_I64, 1, &n, it));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, "/history/train_rmse", RP_F64, 1, &n, tr));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, "/history/valid_rmse", RP_F64, 1, &n, va));
    if (strcmp(schema, RP_SCHEMA_TWOTOWER) == 0) { /* a nested history, like hybrid's */
        CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, "/extra/history/epoch", RP_I64, 1, &n, it));
        CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, "/extra/history/loss", RP_F64, 1, &n, tr));
    }
    CK(rp_h5_commit(MPI_COMM_WORLD, &f, path, RP_OK));
    free(U); free(V);
}

static void features(const char *path)
{
    hid_t f;
    int32_t *uc = malloc(NU * 2 * 4), *ic = malloc(NI * 4), *tg = malloc(NI * 2 * 4);
    int32_t ucard[2] = {4, 30}, icard[1] = {6};
    float *un = malloc(NU * 4), *in = malloc(NI * 4);
    for (int64_t u = 0; u < NU; u++) {
        uc[2 * u] = (int32_t)(u % 4), uc[2 * u + 1] = (int32_t)((u * 7) % 30);
        un[u] = (float)(UF[u * 4] > 0);
    }
    for (int64_t i = 0; i < NI; i++) {
        ic[i] = (int32_t)(i % 6);
        tg[2 * i] = 1 + (int32_t)(i % 31);
        tg[2 * i + 1] = i % 2 ? 0 : 1 + (int32_t)((i / 2) % 31);
        in[i] = (float)(0.5 + 0.5 * tanh(IF[i * 4]));
    }
    int64_t d[2] = {NU, 2}, two = 2, one = 1, tagc = 31;
    CK(rp_h5_create(MPI_COMM_WORLD, path, &f));
    CK(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_FEATURES));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_USER_CAT, RP_I32, 2, d, uc));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_USER_CAT_CARD, RP_I32, 1, &two, ucard));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_USER_NUM, RP_F32, 1, d, un));
    d[0] = NI, d[1] = 1;
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_ITEM_CAT, RP_I32, 2, d, ic));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_ITEM_CAT_CARD, RP_I32, 1, &one, icard));
    d[1] = 2;
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_ITEM_TAGS, RP_I32, 2, d, tg));
    CK(rp_h5_attr_write(f, RP_DS_ITEM_TAGS, "cardinality", RP_I64, 1, &tagc));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_ITEM_NUM, RP_F32, 1, d, in));
    CK(rp_h5_commit(MPI_COMM_WORLD, &f, path, RP_OK));
}

static void truth(const char *path, int64_t users, int64_t per, int64_t stride)
{
    hid_t f;
    int64_t n = users * per, *ur = malloc(n * 8), *ir = malloc(n * 8), z = 0;
    double *e = malloc(n * 8);
    for (int64_t u = users - 1; u >= 0; u--) /* reversed order: alignment must not rely on it */
        for (int64_t k = 0; k < per; k++, z++) {
            int64_t i = (u * 7919 + 13 + k * stride) % NI;
            ur[z] = 1000 + 3 * u, ir[z] = 7 + 2 * i, e[z] = expected(u, i);
        }
    CK(rp_h5_create(MPI_COMM_WORLD, path, &f));
    CK(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_TRUTH));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, "/user_raw", RP_I64, 1, &n, ur));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, "/item_raw", RP_I64, 1, &n, ir));
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, "/expected_watch_ratio", RP_F64, 1, &n, e));
    CK(rp_h5_commit(MPI_COMM_WORLD, &f, path, RP_OK));
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rp_h5_init();
    if (argc != 9) {
        fprintf(stderr, "usage: eval_gen DIR nu ni train_per_user test_users test_per_user "
                        "d seed\n");
        return 64;
    }
    const char *dir = argv[1];
    NU = atoll(argv[2]), NI = atoll(argv[3]);
    int64_t tpu = atoll(argv[4]), tu = atoll(argv[5]), tpe = atoll(argv[6]), d = atoll(argv[7]);
    st = 0x9E3779B97F4A7C15ULL ^ (uint64_t)atoll(argv[8]);
    UF = malloc(NU * 4 * 8), IF = malloc(NI * 4 * 8);
    for (int64_t x = 0; x < NU * 4; x++) UF[x] = urand() - 0.5;
    for (int64_t x = 0; x < NI * 4; x++) IF[x] = 2 * urand() - 1;
    char p[4096];
    hid_t f;
    snprintf(p, sizeof p, "%s/shards.h5", dir);
    CK(rp_h5_create(MPI_COMM_WORLD, p, &f));
    double nmin = 0, nmax = 4;
    CK(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_SHARDS));
    CK(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &NU));
    CK(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &NI));
    CK(rp_h5_attr_write(f, "/", "norm_min", RP_F64, 1, &nmin));
    CK(rp_h5_attr_write(f, "/", "norm_max", RP_F64, 1, &nmax));
    int64_t *ids = malloc((NU > NI ? NU : NI) * 8);
    for (int64_t u = 0; u < NU; u++) ids[u] = 1000 + 3 * u;
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_USER_RAW, RP_I64, 1, &NU, ids));
    for (int64_t i = 0; i < NI; i++) ids[i] = 7 + 2 * i;
    CK(rp_h5_write_replicated(MPI_COMM_WORLD, f, RP_DS_ITEM_RAW, RP_I64, 1, &NI, ids));
    /* A stride coprime with NI keeps each user's k-th items distinct. */
    int64_t stride = NI / 3 + 1;
    while (gcd64(stride, NI) != 1) stride++;
    split(f, RP_SPLIT_TRAIN, NU, tpu, stride, 0);
    split(f, RP_SPLIT_VALID, NU, 1, stride, 5);
    split(f, RP_SPLIT_TEST, tu, tpe, stride, 13);
    CK(rp_h5_commit(MPI_COMM_WORLD, &f, p, RP_OK));
    snprintf(p, sizeof p, "%s/features.h5", dir); features(p);
    snprintf(p, sizeof p, "%s/truth.h5", dir); truth(p, tu, tpe, stride);
    snprintf(p, sizeof p, "%s/als.h5", dir); model(p, RP_SCHEMA_ALS, NU, NI, d, 0.05);
    snprintf(p, sizeof p, "%s/twotower.h5", dir); model(p, RP_SCHEMA_TWOTOWER, NU, NI, d, 0.3);
    snprintf(p, sizeof p, "%s/bad_twotower.h5", dir);
    model(p, RP_SCHEMA_TWOTOWER, NU, NI + 1, d, 0.3); /* another dataset's n_items */
    MPI_Finalize();
    return 0;
}
