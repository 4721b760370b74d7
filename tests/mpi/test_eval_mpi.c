/* test_eval_mpi.c - rp_baseline fits and rp-eval runs on tiny hand-made shards/features/model
 * files under 1..4 ranks: hand-computed values, rank-count independence, error handling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lapacke.h>

#include "rp_baseline.h"
#include "rp_linreg.h"
#include "rp_h5.h"
#include "rp_model.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_test.h"
#include "eval.h"

int test_eval_mpi_register(void);

typedef struct fx_rating {
    int32_t u, i;
    float value, watch;
} fx_rating;

static int cmp_by_user(const void *a, const void *b)
{
    const fx_rating *x = a, *y = b;
    if (x->u != y->u) return x->u < y->u ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

static int cmp_by_item(const void *a, const void *b)
{
    const fx_rating *x = a, *y = b;
    if (x->i != y->i) return x->i < y->i ? -1 : 1;
    return x->u < y->u ? -1 : (x->u > y->u);
}

/* Write one split's CSR by user and CSC by item (every rank passes the same ratings). */
static int fx_split(MPI_Comm comm, hid_t f, const char *split, int64_t nu, int64_t ni,
                    const fx_rating *r, int64_t n)
{
    int rc = RP_OK;
    char ds[128];
    fx_rating *s = malloc((size_t)(n + 1) * sizeof *s);
    int64_t *off = calloc((size_t)((nu > ni ? nu : ni) + 1), sizeof *off);
    int32_t *idx = malloc((size_t)(n + 1) * sizeof *idx);
    float *val = malloc((size_t)(n + 1) * sizeof *val), *wr = malloc((size_t)(n + 1) * sizeof *wr);
    double *ts = malloc((size_t)(n + 1) * sizeof *ts);
    memcpy(s, r, (size_t)n * sizeof *s);
    for (int pass = 0; pass < 2; pass++) {
        int64_t rows = pass == 0 ? nu : ni;
        qsort(s, (size_t)n, sizeof *s, pass == 0 ? cmp_by_user : cmp_by_item);
        memset(off, 0, (size_t)(rows + 1) * sizeof *off);
        for (int64_t k = 0; k < n; k++) {
            off[(pass == 0 ? s[k].u : s[k].i) + 1]++;
            idx[k] = pass == 0 ? s[k].i : s[k].u;
            val[k] = s[k].value;
            wr[k] = s[k].watch;
            ts[k] = 1.6e9 + (double)k;
        }
        for (int64_t k = 0; k < rows; k++) off[k + 1] += off[k];
        const char *g = pass == 0 ? "by_user" : "by_item";
        int64_t d1 = rows + 1;
        snprintf(ds, sizeof ds, "%s/%s/offsets", split, g);
        RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_I64, 1, &d1, off));
        snprintf(ds, sizeof ds, "%s/%s/%s", split, g, pass == 0 ? "item" : "user");
        RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_I32, 1, &n, idx));
        snprintf(ds, sizeof ds, "%s/%s/value", split, g);
        RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_F32, 1, &n, val));
        if (pass == 0) {
            snprintf(ds, sizeof ds, "%s/by_user/watch_ratio", split);
            RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_F32, 1, &n, wr));
            snprintf(ds, sizeof ds, "%s/by_user/timestamp", split);
            RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_F64, 1, &n, ts));
        }
    }
cleanup:
    free(s);
    free(off);
    free(idx);
    free(val);
    free(wr);
    free(ts);
    return rc;
}

/* A shards.h5 with the given train and test ratings (valid = empty). norm: [0, 4]; outlier
 * threshold 3 (the NDCG gain cap). */
static int fx_shards(MPI_Comm comm, const char *path, int64_t nu, int64_t ni,
                     const fx_rating *train, int64_t ntrain, const fx_rating *test, int64_t ntest)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    int64_t *ids = malloc((size_t)(nu > ni ? nu : ni) * sizeof *ids);
    double nmin = 0.0, nmax = 4.0, thr = 3.0;
    RP_CALL(rp_h5_create(comm, path, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_SHARDS));
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &nu));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &ni));
    RP_CALL(rp_h5_attr_write(f, "/", "norm_min", RP_F64, 1, &nmin));
    RP_CALL(rp_h5_attr_write(f, "/", "norm_max", RP_F64, 1, &nmax));
    RP_CALL(rp_h5_attr_write(f, "/", "outlier_threshold", RP_F64, 1, &thr));
    for (int64_t k = 0; k < nu; k++) ids[k] = 100 + 2 * k;
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_USER_RAW, RP_I64, 1, &nu, ids));
    for (int64_t k = 0; k < ni; k++) ids[k] = 1000 + 3 * k;
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_ITEM_RAW, RP_I64, 1, &ni, ids));
    RP_CALL(fx_split(comm, f, RP_SPLIT_TRAIN, nu, ni, train, ntrain));
    RP_CALL(fx_split(comm, f, RP_SPLIT_VALID, nu, ni, train, 1));
    RP_CALL(fx_split(comm, f, RP_SPLIT_TEST, nu, ni, test, ntest));
cleanup:
    free(ids);
    return rp_h5_commit(comm, &f, path, rc);
}

/* 3 users x 4 items; user 2 has no train rows, item 3 has none. value = watch / 4. */
static const fx_rating tiny_train[] = {
    {0, 0, 0.50f, 2.0f}, {0, 1, 0.25f, 1.0f}, {0, 2, 1.00f, 4.0f},
    {1, 0, 0.75f, 3.0f}, {1, 2, 0.00f, 0.0f},
};
static const fx_rating tiny_test[] = {
    {0, 3, 0.125f, 0.5f}, {1, 1, 0.625f, 2.5f}, {1, 3, 0.25f, 1.0f},
    {2, 0, 0.875f, 3.5f}, {2, 1, 0.375f, 1.5f}, {2, 2, 0.50f, 2.0f},
};

static hid_t open_tiny(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *path = rp_test_path("tiny_shards.h5");
    static int made = 0; /* every rank runs the tests in the same order */
    hid_t f = H5I_INVALID_HID;
    if (!made && fx_shards(comm, path, 3, 4, tiny_train, 5, tiny_test, 6) != RP_OK) return f;
    made = 1;
    if (rp_h5_open(comm, path, &f) != RP_OK) return H5I_INVALID_HID;
    return f;
}

static double pred(const rp_model *m, int32_t u, int32_t i)
{
    float p = -1.0f;
    rp_model_score_pairs(m, &u, &i, 1, &p);
    return p;
}

/* mu = 2.5 / 5 = 0.5; means per user and item from the table above, mu where empty. */
static void means_hand_computed(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    hid_t f = open_tiny();
    CU_ASSERT_FATAL(f >= 0);
    rp_model *g = NULL, *um = NULL, *im = NULL;
    double mu = -1.0;
    CU_ASSERT_EQUAL(rp_baseline_train_mean(comm, f, &mu), RP_OK);
    CU_ASSERT_DOUBLE_EQUAL(mu, 0.5, 1e-12);
    CU_ASSERT_EQUAL(rp_baseline_global_mean(comm, f, &g), RP_OK);
    CU_ASSERT_EQUAL(rp_baseline_user_mean(comm, f, &um), RP_OK);
    CU_ASSERT_EQUAL(rp_baseline_item_mean(comm, f, &im), RP_OK);
    if (g && um && im) {
        CU_ASSERT_STRING_EQUAL(im->name, "video_mean");
        CU_ASSERT_DOUBLE_EQUAL(pred(g, 2, 3), 0.5, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(pred(um, 0, 3), 1.75 / 3.0, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(pred(um, 1, 0), 0.375, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(pred(um, 2, 1), 0.5, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(pred(im, 1, 0), 0.625, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(pred(im, 0, 1), 0.25, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(pred(im, 2, 2), 0.5, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(pred(im, 2, 3), 0.5, 1e-6);
    }
    rp_model_destroy(&g);
    rp_model_destroy(&um);
    rp_model_destroy(&im);
    rp_h5_close(&f);
}

/* reg = 1: b_i = sum(r - mu) / (1 + n_i): b0 = 0.25/3, b1 = -0.25/2, b2 = 0/3, b3 = 0;
 * b_u = sum(r - mu - b_i) / (1 + n_u): b_u0 = (0 - b0 + (-0.25 - b1) + (0.5 - b2)) / 4,
 * b_u1 = (0.25 - b0 + (-0.5 - b2)) / 3, b_u2 = 0. */
static void bias_hand_computed(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    hid_t f = open_tiny();
    CU_ASSERT_FATAL(f >= 0);
    rp_model *m = NULL;
    CU_ASSERT_EQUAL(rp_baseline_bias(comm, f, 1.0, &m), RP_OK);
    if (m != NULL) {
        double b[4] = {0.25 / 3, -0.25 / 2, 0.0, 0.0};
        double bu[3] = {(-b[0] + (-0.25 - b[1]) + (0.5 - b[2])) / 4,
                        (0.25 - b[0] + (-0.5 - b[2])) / 3, 0.0};
        CU_ASSERT_STRING_EQUAL(m->name, "bias");
        for (int32_t u = 0; u < 3; u++)
            for (int32_t i = 0; i < 4; i++) {
                double want = 0.5 + bu[u] + b[i];
                want = want < 0 ? 0 : (want > 1 ? 1 : want);
                CU_ASSERT_DOUBLE_EQUAL(pred(m, u, i), want, 1e-6);
            }
    }
    rp_model_destroy(&m);
    /* reg = 0: plain mean offsets; a user with no rows gets 0, not NaN. */
    CU_ASSERT_EQUAL(rp_baseline_bias(comm, f, 0.0, &m), RP_OK);
    if (m != NULL) {
        CU_ASSERT_DOUBLE_EQUAL(pred(m, 2, 1), 0.5 + (-0.25 / 1), 1e-6);
        CU_ASSERT_FALSE(isnan(pred(m, 2, 3)));
    }
    rp_model_destroy(&m);
    rp_h5_close(&f);
}

/* A bigger random problem: every rank gets bit-identical predictions, equal to a fit on
 * MPI_COMM_SELF (one rank), so the fit does not depend on the number of ranks. */
static void bias_rank_independent(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const char *path = rp_test_path("rand_shards.h5");
    int64_t nu = 37, ni = 23, n = 0;
    fx_rating *r = malloc((size_t)(nu * ni) * sizeof *r);
    uint64_t x = 88172645463325252ULL;
    for (int32_t u = 0; u < nu; u++)
        for (int32_t i = 0; i < ni; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            if (x % 3 == 0) continue;
            float v = (float)((x >> 11) % 1000) / 999.0f;
            r[n++] = (fx_rating){u, i, v, 4.0f * v};
        }
    CU_ASSERT_EQUAL_FATAL(fx_shards(comm, path, nu, ni, r, n, r, n), RP_OK);
    free(r);
    hid_t f = H5I_INVALID_HID;
    rp_model *m = NULL, *m1 = NULL;
    float *all = malloc((size_t)(nu * ni) * sizeof *all), *one = malloc((size_t)(nu * ni) * 4);
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, path, &f), RP_OK);
    CU_ASSERT_EQUAL(rp_baseline_bias(comm, f, 2.5, &m), RP_OK);
    rp_h5_close(&f);
    int same = 1;
    if (m != NULL && rank == 0) {
        hid_t f1 = H5I_INVALID_HID;
        CU_ASSERT_EQUAL(rp_h5_open(MPI_COMM_SELF, path, &f1), RP_OK);
        CU_ASSERT_EQUAL(rp_baseline_bias(MPI_COMM_SELF, f1, 2.5, &m1), RP_OK);
        rp_h5_close(&f1);
        rp_model_score_block(m, 0, nu, all);
        if (m1 != NULL) rp_model_score_block(m1, 0, nu, one);
        same = m1 != NULL && memcmp(all, one, (size_t)(nu * ni) * sizeof *all) == 0;
    }
    CU_ASSERT(same);
    /* Replicas agree bit for bit: compare every rank's scores with rank 0's. */
    if (m != NULL) rp_model_score_block(m, 0, nu, all);
    memcpy(one, all, (size_t)(nu * ni) * sizeof *all);
    MPI_Bcast(one, (int)(nu * ni), MPI_FLOAT, 0, comm);
    CU_ASSERT(memcmp(all, one, (size_t)(nu * ni) * sizeof *all) == 0);
    rp_model_destroy(&m);
    rp_model_destroy(&m1);
    free(all);
    free(one);
}

/* Features of the random problem: user cat columns with 3 and 40 levels, 1 numeric; item
 * cat 4 levels, tags (cardinality 5, 2 slots, 0 = pad), 2 numerics. */
#define FX_NU 37
#define FX_NI 23
static int32_t fx_ucat[FX_NU][2], fx_icat[FX_NI], fx_tags[FX_NI][2];
static float fx_unum[FX_NU], fx_inum[FX_NI][2];
static const int32_t fx_ucard[2] = {3, 40}, fx_icard[1] = {4};

static int fx_features(MPI_Comm comm, const char *path)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    for (int u = 0; u < FX_NU; u++) {
        fx_ucat[u][0] = u % 3;
        fx_ucat[u][1] = (u * 7) % 40;
        fx_unum[u] = (float)((u * 13) % 10) / 9.0f;
    }
    for (int i = 0; i < FX_NI; i++) {
        fx_icat[i] = (i * 5) % 4;
        fx_tags[i][0] = 1 + i % 5;
        fx_tags[i][1] = i % 3 == 0 ? 0 : 1 + (i * 2) % 5;
        fx_inum[i][0] = (float)(i % 7) / 6.0f;
        fx_inum[i][1] = (float)((i * 3) % 11) / 2.0f;
    }
    int64_t d[2], tagc = 5;
    RP_CALL(rp_h5_create(comm, path, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_FEATURES));
    d[0] = FX_NU, d[1] = 2;
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_USER_CAT, RP_I32, 2, d, fx_ucat));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_USER_CAT_CARD, RP_I32, 1, &d[1], fx_ucard));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_USER_NUM, RP_F32, 1, d, fx_unum));
    d[0] = FX_NI, d[1] = 1;
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_ITEM_CAT, RP_I32, 2, d, fx_icat));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_ITEM_CAT_CARD, RP_I32, 1, &d[1], fx_icard));
    d[1] = 2;
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_ITEM_TAGS, RP_I32, 2, d, fx_tags));
    RP_CALL(rp_h5_attr_write(f, RP_DS_ITEM_TAGS, "cardinality", RP_I64, 1, &tagc));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_ITEM_NUM, RP_F32, 2, d, fx_inum));
cleanup:
    return rp_h5_commit(comm, &f, path, rc);
}

/* The dense design row of (u, i): [1, onehot(ucat0), onehot(ucat1) if kept, unum,
 * onehot(icat), multi-hot tags (6 slots, slot 0 never set), inum0, inum1]. */
static int fx_row(int u, int i, int keep_wide, double *x)
{
    int c = 0;
    x[c++] = 1.0;
    for (int k = 0; k < 3; k++) x[c++] = fx_ucat[u][0] == k;
    for (int k = 0; keep_wide && k < 40; k++) x[c++] = fx_ucat[u][1] == k;
    x[c++] = fx_unum[u];
    for (int k = 0; k < 4; k++) x[c++] = fx_icat[i] == k;
    for (int k = 0; k < 6; k++)
        x[c++] = k > 0 ? (double)(fx_tags[i][0] == k) + (double)(fx_tags[i][1] == k) : 0.0;
    x[c++] = fx_inum[i][0];
    x[c++] = fx_inum[i][1];
    return c;
}

/* Ridge regression by a direct dense solve of (X^T X + ridge D) w = X^T y. */
static void dense_linreg(const fx_rating *r, int64_t n, double ridge, int keep_wide, double *w,
                         int *p_out)
{
    double x[80];
    int p = fx_row(0, 0, keep_wide, x);
    double *A = calloc((size_t)(p * p), sizeof *A);
    memset(w, 0, (size_t)p * sizeof *w);
    for (int64_t k = 0; k < n; k++) {
        fx_row(r[k].u, r[k].i, keep_wide, x);
        for (int a = 0; a < p; a++) {
            for (int b = 0; b < p; b++) A[a * p + b] += x[a] * x[b];
            w[a] += x[a] * r[k].value;
        }
    }
    for (int a = 1; a < p; a++) A[a * p + a] += ridge;
    CU_ASSERT_EQUAL(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', p, 1, A, p, w, 1), 0);
    free(A);
    *p_out = p;
}

static int64_t fx_random(fx_rating *r)
{
    int64_t n = 0;
    uint64_t x = 88172645463325252ULL;
    for (int32_t u = 0; u < FX_NU; u++)
        for (int32_t i = 0; i < FX_NI; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            if (x % 3 == 0) continue;
            float v = (float)((x >> 11) % 1000) / 999.0f;
            r[n++] = (fx_rating){u, i, v, 4.0f * v};
        }
    return n;
}

/* rp_baseline_linreg against the dense solve, with and without the 40-level column. */
static void linreg_matches_dense_solve(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *sp = rp_test_path("lr_shards.h5"), *fp = rp_test_path("lr_features.h5");
    fx_rating *r = malloc(FX_NU * FX_NI * sizeof *r);
    int64_t n = fx_random(r);
    CU_ASSERT_EQUAL_FATAL(fx_shards(comm, sp, FX_NU, FX_NI, r, n, r, n), RP_OK);
    CU_ASSERT_EQUAL_FATAL(fx_features(comm, fp), RP_OK);
    hid_t s = H5I_INVALID_HID, f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, sp, &s), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, fp, &f), RP_OK);
    for (int keep = 0; keep < 2; keep++) {
        rp_linreg_opts o = {0.7, keep ? 40 : 39};
        rp_model *m = NULL;
        double w[80], x[80];
        int p = 0;
        dense_linreg(r, n, 0.7, keep, w, &p);
        CU_ASSERT_EQUAL(rp_linreg_fit(comm, s, f, &o, &m), RP_OK);
        if (m == NULL) continue;
        CU_ASSERT_STRING_EQUAL(m->name, "linreg");
        double worst = 0.0;
        for (int32_t u = 0; u < FX_NU; u++)
            for (int32_t i = 0; i < FX_NI; i++) {
                fx_row(u, i, keep, x);
                double want = 0.0;
                for (int a = 0; a < p; a++) want += x[a] * w[a];
                want = want < 0 ? 0 : (want > 1 ? 1 : want);
                worst = fmax(worst, fabs(pred(m, u, i) - want));
            }
        CU_ASSERT(worst < 1e-5);
        rp_model_destroy(&m);
    }
    rp_h5_close(&s);
    rp_h5_close(&f);
    free(r);
}

/* The same fit on one rank (MPI_COMM_SELF) is bit-identical to the fit on all ranks. */
static void linreg_rank_independent(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const char *sp = rp_test_path("lr_shards.h5"), *fp = rp_test_path("lr_features.h5");
    rp_linreg_opts o = {0.3, 100};
    hid_t s = H5I_INVALID_HID, f = H5I_INVALID_HID;
    rp_model *m = NULL, *m1 = NULL;
    float all[FX_NU * FX_NI], one[FX_NU * FX_NI];
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, sp, &s), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, fp, &f), RP_OK);
    CU_ASSERT_EQUAL(rp_linreg_fit(comm, s, f, &o, &m), RP_OK);
    rp_h5_close(&s);
    rp_h5_close(&f);
    int same = 1;
    if (m != NULL && rank == 0) {
        CU_ASSERT_EQUAL(rp_h5_open(MPI_COMM_SELF, sp, &s), RP_OK);
        CU_ASSERT_EQUAL(rp_h5_open(MPI_COMM_SELF, fp, &f), RP_OK);
        CU_ASSERT_EQUAL(rp_linreg_fit(MPI_COMM_SELF, s, f, &o, &m1), RP_OK);
        rp_h5_close(&s);
        rp_h5_close(&f);
        rp_model_score_block(m, 0, FX_NU, all);
        if (m1 != NULL) rp_model_score_block(m1, 0, FX_NU, one);
        same = m1 != NULL && memcmp(all, one, sizeof all) == 0;
    }
    CU_ASSERT(same);
    rp_model_destroy(&m);
    rp_model_destroy(&m1);
}

/* Features with the wrong number of rows are a data error naming the file. */
static void linreg_mismatch(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    hid_t s = open_tiny(), f = H5I_INVALID_HID;
    rp_linreg_opts o = {1.0, 100};
    rp_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, rp_test_path("lr_features.h5"), &f), RP_OK);
    CU_ASSERT_EQUAL(rp_linreg_fit(comm, s, f, &o, &m), RP_ERR_DATA);
    CU_ASSERT_PTR_NULL(m);
    rp_h5_close(&s);
    rp_h5_close(&f);
}

/* A dot-form model file: U [nu, 2], V [ni, 2] from a formula, /history with iterations. */
static int fx_model_nan(MPI_Comm comm, const char *path, const char *schema, int64_t nu,
                        int64_t ni, int64_t nan_user)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    double *U = malloc((size_t)(2 * nu) * sizeof *U), *V = malloc((size_t)(2 * ni) * sizeof *V);
    for (int64_t u = 0; u < nu; u++) U[2 * u] = 0.1 * (double)(u % 5), U[2 * u + 1] = 1.0;
    if (nan_user >= 0) U[2 * nan_user] = NAN;
    for (int64_t i = 0; i < ni; i++)
        V[2 * i] = 0.2 * (double)(i % 4), V[2 * i + 1] = 0.05 * (double)(i % 3);
    int64_t d[2] = {nu, 2}, it[4] = {1, 2, 3, 4};
    double tr[4] = {0.3, 0.2, 0.15, 0.12}, va[4] = {0.31, 0.25, 0.22, 0.21}, one = 1.0, sh = 0.1;
    int64_t four = 4;
    RP_CALL(rp_h5_create(comm, path, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", schema));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_SCORE_USER, RP_F64, 2, d, U));
    d[0] = ni;
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_SCORE_ITEM, RP_F64, 2, d, V));
    RP_CALL(rp_h5_attr_write_str(f, RP_GRP_SCORE, "post", "identity"));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "scale", RP_F64, 1, &one));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "shift", RP_F64, 1, &sh));
    RP_CALL(rp_h5_write_replicated(comm, f, "/history/iteration", RP_I64, 1, &four, it));
    RP_CALL(rp_h5_write_replicated(comm, f, "/history/train_rmse", RP_F64, 1, &four, tr));
    RP_CALL(rp_h5_write_replicated(comm, f, "/history/valid_rmse", RP_F64, 1, &four, va));
cleanup:
    free(U);
    free(V);
    return rp_h5_commit(comm, &f, path, rc);
}

static int fx_model(MPI_Comm comm, const char *path, const char *schema, int64_t nu, int64_t ni)
{
    return fx_model_nan(comm, path, schema, nu, ni, -1);
}

/* truth.h5 for the tiny problem: the observed test watch ratios plus one pair not in test.
 * clip_max > 0 adds /expected_clipped = watch ratio - 0.25 (told apart from the unclipped
 * values by that offset) with that clip_max, and /expected_clipped_train = watch ratio - 0.5
 * (the training regime's). */
static int fx_truth(MPI_Comm comm, const char *path, int dup, double clip_max)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    int64_t n = 7, ur[7], ir[7];
    double e[7];
    for (int k = 0; k < 6; k++) {
        ur[k] = 100 + 2 * tiny_test[5 - k].u; /* reversed: order must not matter */
        ir[k] = 1000 + 3 * tiny_test[5 - k].i;
        e[k] = tiny_test[5 - k].watch;
    }
    ur[6] = 100, ir[6] = 1000, e[6] = 9.0; /* (0, 0) is a train pair: ignored */
    if (dup) ur[6] = ur[0], ir[6] = ir[0]; /* the first test pair twice */
    RP_CALL(rp_h5_create(comm, path, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_TRUTH));
    RP_CALL(rp_h5_write_replicated(comm, f, "/user_raw", RP_I64, 1, &n, ur));
    RP_CALL(rp_h5_write_replicated(comm, f, "/item_raw", RP_I64, 1, &n, ir));
    RP_CALL(rp_h5_write_replicated(comm, f, "/expected_watch_ratio", RP_F64, 1, &n, e));
    if (clip_max > 0) {
        for (int k = 0; k < 7; k++) e[k] -= 0.25;
        RP_CALL(rp_h5_write_replicated(comm, f, "/expected_clipped", RP_F64, 1, &n, e));
        RP_CALL(rp_h5_attr_write(f, "/", "clip_max", RP_F64, 1, &clip_max));
        for (int k = 0; k < 7; k++) e[k] -= 0.25;
        RP_CALL(rp_h5_write_replicated(comm, f, "/expected_clipped_train", RP_F64, 1, &n, e));
    }
cleanup:
    return rp_h5_commit(comm, &f, path, rc);
}

static int run_eval(MPI_Comm comm, const char **args, int n)
{
    char *argv[32];
    argv[0] = (char *)"rp-eval";
    for (int k = 0; k < n; k++) argv[k + 1] = (char *)args[k];
    argv[n + 1] = NULL;
    return eval_run(comm, n + 1, argv);
}

/* Read /metrics of an eval.h5 and the index of model and metric names (-1 when absent). */
typedef struct fx_eval {
    double *m;
    char **models, **metrics;
    int64_t nm, nc;
} fx_eval;

static int fx_read_eval(MPI_Comm comm, const char *path, fx_eval *e)
{
    hid_t f = H5I_INVALID_HID;
    int nd = 0;
    int64_t d[2];
    memset(e, 0, sizeof *e);
    if (rp_h5_open(comm, path, &f) != RP_OK) return -1;
    int rc = rp_h5_read_all(f, "/metrics", RP_F64, (void **)&e->m, &nd, d);
    if (rc == RP_OK) rc = rp_h5_attr_read_strs(f, "/metrics", "models", &e->models, &e->nm);
    if (rc == RP_OK) rc = rp_h5_attr_read_strs(f, "/metrics", "metrics", &e->metrics, &e->nc);
    rp_h5_close(&f);
    return rc;
}

static double fx_get(const fx_eval *e, const char *model, const char *metric)
{
    int64_t r = -1, c = -1;
    for (int64_t k = 0; k < e->nm; k++) if (strcmp(e->models[k], model) == 0) r = k;
    for (int64_t k = 0; k < e->nc; k++) if (strcmp(e->metrics[k], metric) == 0) c = k;
    return r < 0 || c < 0 ? -999.0 : e->m[r * e->nc + c];
}

static void fx_eval_free(fx_eval *e)
{
    free(e->m);
    rp_h5_strs_free(e->models, e->nm);
    rp_h5_strs_free(e->metrics, e->nc);
}

/* The global mean row (pred 0.5 everywhere, ties broken by item index) against hand values;
 * the truth row has zero error; a missing model file is skipped. */
static void eval_tiny_hand_computed(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    hid_t f = open_tiny();
    rp_h5_close(&f);
    CU_ASSERT_EQUAL_FATAL(fx_model(comm, rp_test_path("tiny_als.h5"), RP_SCHEMA_ALS, 3, 4), RP_OK);
    CU_ASSERT_EQUAL_FATAL(fx_truth(comm, rp_test_path("tiny_truth.h5"), 0, 0), RP_OK);
    const char *args[] = {"--shards", rp_test_path("tiny_shards.h5"), "--als",
                          rp_test_path("tiny_als.h5"), "--twotower", rp_test_path("none.h5"),
                          "--truth", rp_test_path("tiny_truth.h5"), "--out",
                          rp_test_path("tiny_eval.h5"), "--k-list", "10,2"};
    CU_ASSERT_EQUAL_FATAL(run_eval(comm, args, 12), RP_OK);
    fx_eval e;
    CU_ASSERT_EQUAL_FATAL(fx_read_eval(comm, rp_test_path("tiny_eval.h5"), &e), RP_OK);
    CU_ASSERT_EQUAL(e.nm, 6); /* 3 means, bias, als, truth; no linreg, no twotower */
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "mae"), 1.25 / 6, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "rmse"), sqrt(0.375 / 6), 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "mae_raw"), 5.0 / 6, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "rmse_raw"), 4 * sqrt(0.375 / 6), 1e-9);
    /* user 2 ranks i0 (3.5), i1 (1.5), i2 (2.0) (ties by index); the gains are clipped at
     * the shards' outlier_threshold 3 in ndcg, raw in ndcg_raw */
    double l3 = log2(3.0);
    double u2 = (3.0 + 1.5 / l3 + 2.0 / 2) / (3.0 + 2.0 / l3 + 1.5 / 2);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "ndcg@10"), (1 + 1 + u2) / 3, 1e-9);
    double u2raw = (3.5 + 1.5 / l3 + 2.0 / 2) / (3.5 + 2.0 / l3 + 1.5 / 2);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "ndcg_raw@10"), (1 + 1 + u2raw) / 3, 1e-9);
    double u2k2 = (3.0 + 1.5 / l3) / (3.0 + 2.0 / l3);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "ndcg@2"), (1 + 1 + u2k2) / 3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "precision@10"), (0 + 0.5 + 1.0 / 3) / 3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "precision@2"), (0 + 0.5 + 0.5) / 3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "recall@10"), 1.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "auc"), 0.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "coverage@10"), 1.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "coverage@2"), 0.75, 1e-9); /* {3}+{1,3}+{0,1} */
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "global_mean",
                           "mae_vs_truth_raw"), 5.0 / 6, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "truth",
                           "mae_raw"), 0.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "truth",
                           "rmse"), 0.0, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "truth",
                           "ndcg@10"), 1.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "truth",
                           "auc"), 1.0, 1e-9);
    /* als: pred = 0.02 u i' + 0.05 (i % 3) + 0.1 with i' = i % 4: u0 i3 0.1; u1 i1 0.17,
     * i3 0.16; u2 i0 0.1, i1 0.19, i2 0.28. |errors| sum to 1.75. */
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "als",
                           "mae"), 1.75 / 6, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "als",
                           "auc"), 0.5, 1e-9); /* u1: 1, u2: 0 */
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "als",
                           "precision@2"), (0 + 0.5 + 0) / 3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "als",
                           "recall@2"), (1 + 0) / 2.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "als",
                           "coverage@2"), 0.75, 1e-9); /* {3,1,2} */
    CU_ASSERT_EQUAL(fx_get(&e, "twotower", "rmse"), -999.0);
    /* gap share: bias 0, truth 1, als from the rmse column */
    double rb = fx_get(&e, "bias", "rmse"), ra = fx_get(&e, "als", "rmse");
    double rt = fx_get(&e, "truth", "rmse");
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "bias", "gap_share"), 0.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "truth", "gap_share"), 1.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "als", "gap_share"),
                           (rb * rb - ra * ra) / (rb * rb - rt * rt), 1e-12);
    fx_eval_free(&e);
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        CU_ASSERT_EQUAL(access(rp_test_path("report.json"), F_OK), 0);
        CU_ASSERT_EQUAL(access(rp_test_path("report.md"), F_OK), 0);
    }
}

/* The truth row predicts /expected_clipped when its clip_max is the shards' threshold (3),
 * else (another clip_max, or an old file without it) the expected watch ratio. The
 * truth-train-regime row predicts /expected_clipped_train, only with the clipped truth; the
 * gap share stays measured against the truth row. */
static void eval_truth_clipped(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    hid_t f = open_tiny();
    rp_h5_close(&f);
    const double clip[3] = {3.0, 5.0, 0.0}, want_mae_raw[3] = {0.25, 0.0, 0.0};
    for (int c = 0; c < 3; c++) {
        char truth[1300], out[1300];
        snprintf(truth, sizeof truth, "%s", rp_test_path("clip_truth.h5"));
        snprintf(out, sizeof out, "%s", rp_test_path("clip_eval.h5"));
        CU_ASSERT_EQUAL_FATAL(fx_truth(comm, truth, 0, clip[c]), RP_OK);
        const char *args[] = {"--shards", rp_test_path("tiny_shards.h5"), "--truth", truth,
                              "--out", out, "--no-plots"};
        CU_ASSERT_EQUAL_FATAL(run_eval(comm, args, 7), RP_OK);
        fx_eval e;
        CU_ASSERT_EQUAL_FATAL(fx_read_eval(comm, out, &e), RP_OK);
        CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "truth", "mae_raw"), want_mae_raw[c], 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "truth", "gap_share"), 1.0, 1e-9);
        if (c == 0) {
            CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "truth-train-regime", "mae_raw"), 0.5, 1e-9);
            CU_ASSERT_DOUBLE_EQUAL(fx_get(&e, "truth-train-regime", "mae_vs_truth_raw"), 0.25,
                                   1e-9);
        } else {
            CU_ASSERT_EQUAL(fx_get(&e, "truth-train-regime", "mae_raw"), -999.0);
        }
        fx_eval_free(&e);
    }
}

/* An ALS file with the validation attributes (contract 1) and a K x lambda grid (contract 2):
 * the dot-form scores of fx_model_nan plus root attributes and /grid. */
static int fx_model_contract(MPI_Comm comm, const char *path)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    double U[6] = {0, 1, 0.1, 1, 0.2, 1}, V[8] = {0, 0, 0.2, 0.05, 0.4, 0.1, 0.6, 0};
    double one = 1.0, sh = 0.1, vr = 0.2, bvr = 0.19, lam[3] = {0.1, 1, 1}, lb[3] = {0, 0, 0};
    double grmse[3] = {0.21, 0.2, 0.205}, ksel = 16, lsel = 1, lbsel = 0;
    int32_t beats = 0, gk[3] = {8, 8, 16}, gbest[3] = {3, 5, 4};
    int64_t d[2] = {3, 2}, three = 3;
    RP_CALL(rp_h5_create(comm, path, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_ALS));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_SCORE_USER, RP_F64, 2, d, U));
    d[0] = 4;
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_SCORE_ITEM, RP_F64, 2, d, V));
    RP_CALL(rp_h5_attr_write_str(f, RP_GRP_SCORE, "post", "identity"));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "scale", RP_F64, 1, &one));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "shift", RP_F64, 1, &sh));
    RP_CALL(rp_h5_attr_write(f, "/", "valid_rmse", RP_F64, 1, &vr));
    RP_CALL(rp_h5_attr_write(f, "/", "bias_valid_rmse", RP_F64, 1, &bvr));
    RP_CALL(rp_h5_attr_write(f, "/", "beats_bias", RP_I32, 1, &beats));
    RP_CALL(rp_h5_attr_write_str(f, "/", "fallback", "bias terms only"));
    RP_CALL(rp_h5_write_replicated(comm, f, "/grid/k", RP_I32, 1, &three, gk));
    RP_CALL(rp_h5_write_replicated(comm, f, "/grid/lambda", RP_F64, 1, &three, lam));
    RP_CALL(rp_h5_write_replicated(comm, f, "/grid/lambda_bias", RP_F64, 1, &three, lb));
    RP_CALL(rp_h5_write_replicated(comm, f, "/grid/valid_rmse", RP_F64, 1, &three, grmse));
    RP_CALL(rp_h5_write_replicated(comm, f, "/grid/best_iter", RP_I32, 1, &three, gbest));
    RP_CALL(rp_h5_attr_write(f, "/", "k", RP_F64, 1, &ksel));
    RP_CALL(rp_h5_attr_write(f, "/", "lambda", RP_F64, 1, &lsel));
    RP_CALL(rp_h5_attr_write(f, "/", "lambda_bias", RP_F64, 1, &lbsel));
    RP_CALL(rp_h5_attr_write_str(f, "/", "selected_by", "grid"));
cleanup:
    return rp_h5_commit(comm, &f, path, rc);
}

/* 1 if the file holds the text. */
static int file_has(const char *path, const char *text)
{
    FILE *fp = fopen(path, "r");
    static char buf[1 << 16];
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp) fclose(fp);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

/* report.md and report.json show the model file's validation verdict and the ALS grid. */
static void eval_report_attrs(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    hid_t f = open_tiny();
    rp_h5_close(&f);
    char als[1300], out[1300], dir[1300], md[1400], js[1400];
    snprintf(als, sizeof als, "%s", rp_test_path("contract_als.h5"));
    snprintf(out, sizeof out, "%s", rp_test_path("contract_eval.h5"));
    snprintf(dir, sizeof dir, "%s", rp_test_path("contract_rep"));
    CU_ASSERT_EQUAL_FATAL(fx_model_contract(comm, als), RP_OK);
    const char *args[] = {"--shards", rp_test_path("tiny_shards.h5"), "--als", als, "--out", out,
                          "--report-dir", dir, "--no-plots"};
    CU_ASSERT_EQUAL_FATAL(run_eval(comm, args, 9), RP_OK);
    if (rank != 0) return;
    snprintf(md, sizeof md, "%s/report.md", dir);
    snprintf(js, sizeof js, "%s/report.json", dir);
    CU_ASSERT(file_has(md, "| als |"));
    CU_ASSERT(file_has(md, "| 0.2000 | 0.1900 | **no** | bias terms only |"));
    CU_ASSERT(file_has(md, "**als cannot beat the bias model** on validation (rmse 0.2000 vs "
                           "0.1900); it fell back: bias terms only"));
    CU_ASSERT(file_has(md, "## ALS grid"));
    CU_ASSERT(file_has(md, "K = 16, lambda = 1, lambda_bias = 0, selected by grid"));
    CU_ASSERT(file_has(md, "| 16 | 1 | 0 | 0.2050 | 4 | chosen |"));
    CU_ASSERT(file_has(md, "| 8 | 1 | 0 | 0.2000 | 5 |  |"));
    CU_ASSERT(file_has(md, "| bias |")); /* baselines have no file: dashes */
    CU_ASSERT(file_has(js, "\"validation\": {\"valid_rmse\": 0.20000000000000001, "
                           "\"bias_valid_rmse\": 0.19, \"beats_bias\": 0, "
                           "\"fallback\": \"bias terms only\"}"));
    CU_ASSERT(file_has(js, "\"selected_by\": \"grid\""));
}

/* A model with the wrong number of items: exit 65, no eval.h5 and no partial file. */
static void eval_mismatched_model(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    hid_t f = open_tiny();
    rp_h5_close(&f);
    CU_ASSERT_EQUAL_FATAL(fx_model(comm, rp_test_path("bad_als.h5"), RP_SCHEMA_ALS, 3, 5), RP_OK);
    char out[1300]; /* rp_test_path's buffers rotate: keep a copy */
    snprintf(out, sizeof out, "%s", rp_test_path("bad_eval.h5"));
    const char *args[] = {"--shards", rp_test_path("tiny_shards.h5"), "--als",
                          rp_test_path("bad_als.h5"), "--out", out, "--no-plots"};
    CU_ASSERT_EQUAL(run_eval(comm, args, 7), RP_ERR_DATA);
    CU_ASSERT_NOT_EQUAL(access(out, F_OK), 0);
    char partial[1400];
    snprintf(partial, sizeof partial, "%s.partial", out);
    CU_ASSERT_NOT_EQUAL(access(partial, F_OK), 0);
    const char *bad_k[] = {"--shards", rp_test_path("tiny_shards.h5"), "--out", out,
                           "--k-list", "10,x"};
    CU_ASSERT_EQUAL(run_eval(comm, bad_k, 6), RP_ERR_USAGE);
    const char *no_shards[] = {"--shards", rp_test_path("nothing.h5"), "--out", out};
    CU_ASSERT_EQUAL(run_eval(comm, no_shards, 4), RP_ERR_NOINPUT);
    /* Failures found by one rank only (its users' predictions, its truth records) are agreed
     * on without a hang. User 2 is the last user, on the last rank. */
    CU_ASSERT_EQUAL_FATAL(fx_model_nan(comm, rp_test_path("nan_als.h5"), RP_SCHEMA_ALS, 3, 4, 2),
                          RP_OK);
    const char *nan[] = {"--shards", rp_test_path("tiny_shards.h5"), "--als",
                         rp_test_path("nan_als.h5"), "--out", out, "--no-plots"};
    CU_ASSERT_EQUAL(run_eval(comm, nan, 7), RP_ERR_DATA);
    CU_ASSERT_EQUAL_FATAL(fx_truth(comm, rp_test_path("dup_truth.h5"), 1, 0), RP_OK);
    const char *dup[] = {"--shards", rp_test_path("tiny_shards.h5"), "--truth",
                         rp_test_path("dup_truth.h5"), "--out", out, "--no-plots"};
    CU_ASSERT_EQUAL(run_eval(comm, dup, 7), RP_ERR_DATA);
    CU_ASSERT_NOT_EQUAL(access(out, F_OK), 0);
}

/* eval.h5 datasets from all ranks equal those from one rank (MPI_COMM_SELF) byte for byte. */
static void eval_rank_independent(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const char *sp = rp_test_path("ev_shards.h5"), *fp = rp_test_path("ev_features.h5");
    const char *mp = rp_test_path("ev_twotower.h5");
    fx_rating *r = malloc(FX_NU * FX_NI * sizeof *r);
    int64_t n = fx_random(r);
    CU_ASSERT_EQUAL_FATAL(fx_shards(comm, sp, FX_NU, FX_NI, r, n / 2, r + n / 2, n - n / 2), RP_OK);
    free(r);
    CU_ASSERT_EQUAL_FATAL(fx_features(comm, fp), RP_OK);
    CU_ASSERT_EQUAL_FATAL(fx_model(comm, mp, RP_SCHEMA_TWOTOWER, FX_NU, FX_NI), RP_OK);
    char outw[1300], outs[1300], dirw[1300], dirs[1300];
    snprintf(outw, sizeof outw, "%s", rp_test_path("eval_world.h5"));
    snprintf(outs, sizeof outs, "%s", rp_test_path("eval_self.h5"));
    snprintf(dirw, sizeof dirw, "%s", rp_test_path("rep_world"));
    snprintf(dirs, sizeof dirs, "%s", rp_test_path("rep_self"));
    const char *aw[] = {"--shards", sp, "--features", fp, "--twotower", mp, "--out", outw,
                        "--report-dir", dirw, "--k-list", "3,10", "--like-threshold", "2.5"};
    CU_ASSERT_EQUAL_FATAL(run_eval(comm, aw, 14), RP_OK);
    int same = 1;
    if (rank == 0) {
        const char *as[] = {"--shards", sp, "--features", fp, "--twotower", mp, "--out", outs,
                            "--report-dir", dirs, "--k-list", "3,10", "--like-threshold", "2.5",
                            "--no-plots"};
        same = run_eval(MPI_COMM_SELF, as, 15) == RP_OK;
        fx_eval a, b;
        same = same && fx_read_eval(MPI_COMM_SELF, outw, &a) == RP_OK;
        same = same && fx_read_eval(MPI_COMM_SELF, outs, &b) == RP_OK;
        same = same && a.nm == 6 && a.nm == b.nm && a.nc == b.nc &&
               memcmp(a.m, b.m, (size_t)(a.nm * a.nc) * sizeof *a.m) == 0;
        CU_ASSERT(same && fx_get(&a, "linreg", "rmse") > 0.0 && fx_get(&a, "twotower", "auc") > 0);
        fx_eval_free(&a);
        fx_eval_free(&b);
    }
    MPI_Bcast(&same, 1, MPI_INT, 0, comm);
    CU_ASSERT(same);
}

int test_eval_mpi_register(void)
{
    RP_ADD_SUITE("eval_run_mpi", RP_T(eval_tiny_hand_computed), RP_T(eval_truth_clipped),
                 RP_T(eval_report_attrs), RP_T(eval_mismatched_model),
                 RP_T(eval_rank_independent));
    RP_ADD_SUITE("eval_baseline_mpi", RP_T(means_hand_computed), RP_T(bias_hand_computed),
                 RP_T(bias_rank_independent), RP_T(linreg_matches_dense_solve),
                 RP_T(linreg_rank_independent), RP_T(linreg_mismatch));
    return 0;
}
