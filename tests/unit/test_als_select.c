/* test_als_select.c - rp-als model selection on one process: the K x lambda pattern search
 * finds the grid's minimum, a trained grid writes its best point, the best validation iterate
 * (not the last) is written, and a model that cannot beat the bias baseline falls back to it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"
#include "als_fixture.h"
#include "rp_baseline.h"
#include "rp_err.h"
#include "rp_h5.h"
#include "rp_log.h"
#include "rp_schema.h"
#include "rp_shards.h"
#include "rp_test.h"

int test_als_select_register(void);

/* A bowl over the grid indices with its minimum at (ik0, il0). */
static double bowl(const als_grid *g, int k, double lambda, int ik0, int il0)
{
    int ik = 0, il = 0;
    while (g->ks[ik] != k) ik++;
    while (g->ls[il] != lambda) il++;
    return 0.2 + 0.01 * ((ik - ik0) * (ik - ik0) + 0.5 * (il - il0) * (il - il0));
}

static int search(als_grid *g, int ik0, int il0)
{
    int k = 0;
    double l = 0.0;
    while (als_grid_next(g, &k, &l)) als_grid_push(g, k, l, 1.0, bowl(g, k, l, ik0, il0), 1, 1);
    return als_grid_best(g);
}

/* The pattern search ends at the minimum wherever it lies (middle, edges, corners), without
 * training every point, and never trains a point twice. */
static void search_finds_minimum(void)
{
    als_opts opt = {.grid_k = "4,8,16,32", .grid_lambda = "0.001,0.003,0.01,0.03,0.1"};
    const int target[5][2] = {{2, 1}, {0, 0}, {3, 4}, {0, 4}, {1, 2}};
    for (int c = 0; c < 5; c++) {
        als_grid g;
        CU_ASSERT_EQUAL_FATAL(als_grid_init(&opt, &g), RP_OK);
        int b = search(&g, target[c][0], target[c][1]);
        CU_ASSERT(b >= 0);
        if (b >= 0) {
            CU_ASSERT_EQUAL(g.k[b], g.ks[target[c][0]]);
            CU_ASSERT_EQUAL(g.lambda[b], g.ls[target[c][1]]);
        }
        CU_ASSERT(g.n < g.nk * g.nl);
        for (int p = 0; p < g.n; p++)
            for (int q = p + 1; q < g.n; q++)
                CU_ASSERT(!(g.k[p] == g.k[q] && g.lambda[p] == g.lambda[q]));
        als_grid_clear(&g);
    }
    /* within ALS_GRID_TOL of the best a later point does not replace it; beyond, it does */
    als_grid g;
    CU_ASSERT_EQUAL_FATAL(als_grid_init(&opt, &g), RP_OK);
    als_grid_push(&g, 8, 0.01, 1.0, 0.2, 3, 5);
    als_grid_push(&g, 4, 0.01, 1.0, 0.2 * (1.0 - 0.5 * ALS_GRID_TOL), 3, 5);
    CU_ASSERT_EQUAL(als_grid_best(&g), 0);
    als_grid_push(&g, 16, 0.01, 1.0, 0.2 * (1.0 - 2.0 * ALS_GRID_TOL), 3, 5);
    CU_ASSERT_EQUAL(als_grid_best(&g), 2);
    als_grid_push(&g, 32, 0.01, 1.0, NAN, 0, 5);
    CU_ASSERT_EQUAL(als_grid_best(&g), 2);
    als_grid_clear(&g);
    /* given --k and --lambda: one point; bad lists are usage errors */
    als_opts given = {.k = 6, .lambda = 0.05};
    CU_ASSERT_EQUAL_FATAL(als_grid_init(&given, &g), RP_OK);
    CU_ASSERT_EQUAL(search(&g, 0, 0), 0);
    CU_ASSERT_EQUAL(g.n, 1);
    als_grid_clear(&g);
    const char *bad[] = {"8,4", "8,,16", "8,x", "0,8", "", "8.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        als_opts o = {.grid_k = bad[i], .grid_lambda = "0.01"};
        CU_ASSERT_EQUAL(als_grid_init(&o, &g), RP_ERR_USAGE);
    }
}

/* The small problem of these tests: 120 users x 90 videos, a rank-2 signal under noise 0.1, so
 * large ranks with small lambdas over-fit from the first iteration. */
static const char *noisy_fixture(void)
{
    static char path[1200];
    snprintf(path, sizeof path, "%s", rp_test_path("als_noisy.h5"));
    als_fixture fx = als_fixture_default(120, 90);
    fx.density = 0.3;
    fx.k_true = 2;
    fx.sigma = 0.1;
    CU_ASSERT_EQUAL(als_fixture_write(MPI_COMM_SELF, path, &fx), RP_OK);
    return path;
}

static als_opts select_opts(const char *shards, const char *out, int k, double lambda)
{
    return (als_opts){.shards = shards, .out = out, .precision = "fp64", .exchange = "auto",
                      .k = k, .lambda = lambda, .penalty = "wr", .lambda_bias = 1.0,
                      .grid_k = "2,4,8,16",
                      .grid_lambda = "0.0002,0.002,0.005,0.02,0.05", .bias_reg = 10.0,
                      .iters = 6, .seed = 42, .early_stop = 2};
}

static int train_file(als_opts *opt)
{
    als_state st = {0};
    rp_stage stg;
    memset(&stg, 0, sizeof stg);
    stg.prog = "test-als";
    stg.comm = MPI_COMM_SELF;
    stg.size = 1;
    int64_t iters = 0, level = rp_log_level();
    rp_log_set_level(RP_LOG_QUIET);
    int rc = als_load(MPI_COMM_SELF, opt, &st);
    if (rc == RP_OK) rc = als_train(&stg, &st, opt, &iters);
    if (rc == RP_OK) rc = als_write_output(&stg, &st, opt, iters);
    als_state_clear(&st);
    rp_log_set_level((int)level);
    return rc;
}

static double *read_f64(hid_t f, const char *name, int64_t *n)
{
    void *x = NULL;
    int nd = 0;
    int64_t d[2] = {0, 0};
    if (rp_h5_read_all(f, name, RP_F64, &x, &nd, d) != RP_OK) return NULL;
    *n = nd == 2 ? d[0] * d[1] : d[0];
    return x;
}

static double attr_f64(hid_t f, const char *name)
{
    double v = NAN;
    CU_ASSERT_EQUAL(rp_h5_attr_read(f, "/", name, RP_F64, 1, &v), RP_OK);
    return v;
}

/* A trained grid writes its best point: the chosen k and lambda are the grid's best entry, the
 * model's valid_rmse is that entry, and it beats the bias baseline. */
static void grid_writes_best_point(void)
{
    const char *shards = noisy_fixture(), *out = rp_test_path("als_grid.h5");
    als_opts opt = select_opts(shards, out, 0, 0.0);
    CU_ASSERT_EQUAL_FATAL(train_file(&opt), RP_OK);
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, out, &f), RP_OK);
    int64_t n = 0, nk = 0, k = 0;
    double *v = read_f64(f, RP_DS_ALS_GRID_VALID_RMSE, &n), *gk = read_f64(f, RP_DS_ALS_GRID_K, &nk);
    double *gl = read_f64(f, RP_DS_ALS_GRID_LAMBDA, &nk);
    CU_ASSERT_FATAL(v != NULL && gk != NULL && gl != NULL && n >= 2 && nk == n);
    int b = 0;
    for (int p = 1; p < n; p++) b = v[p] < v[b] ? p : b;
    CU_ASSERT_EQUAL(rp_h5_attr_read(f, "/", "k", RP_I64, 1, &k), RP_OK);
    double lambda = attr_f64(f, "lambda"), valid = attr_f64(f, RP_ATTR_VALID_RMSE);
    /* the minimum, up to the tolerance that lets an earlier point keep the choice */
    CU_ASSERT(valid <= v[b] / (1.0 - ALS_GRID_TOL));
    int chosen = -1;
    for (int p = 0; p < n; p++)
        if (gk[p] == (double)k && gl[p] == lambda) chosen = p;
    CU_ASSERT(chosen >= 0 && v[chosen] == valid);
    CU_ASSERT(valid <= attr_f64(f, RP_ATTR_BIAS_VALID_RMSE));
    char sel[16] = "";
    CU_ASSERT_EQUAL(rp_h5_attr_read_str(f, "/", RP_ATTR_SELECTED_BY, sel, sizeof sel), RP_OK);
    CU_ASSERT_STRING_EQUAL(sel, "grid");
    fprintf(stderr, "grid: %lld points, chosen k=%lld lambda=%g valid_rmse=%.5f (min %.5f)\n",
            (long long)n, (long long)k, lambda, valid, v[b]);
    free(v);
    free(gk);
    free(gl);
    rp_h5_close(&f);
}

/* On this problem k = 16 with lambda = 0.005 is best after iteration 1 and over-fits after it:
 * the file holds the iteration-1 factors (those of a 1-iteration run), not the last ones. */
static void best_iterate_written(void)
{
    const char *shards = noisy_fixture();
    char longer[1200], one[1200];
    snprintf(longer, sizeof longer, "%s", rp_test_path("als_best4.h5"));
    snprintf(one, sizeof one, "%s", rp_test_path("als_best1.h5"));
    als_opts opt = select_opts(shards, longer, 16, 0.005);
    opt.bias_reg = 1e6; /* a weak baseline (the global mean): no fallback here */
    opt.iters = 4;
    opt.early_stop = 0;
    CU_ASSERT_EQUAL_FATAL(train_file(&opt), RP_OK);
    opt.out = one;
    opt.iters = 1;
    CU_ASSERT_EQUAL_FATAL(train_file(&opt), RP_OK);
    hid_t fa = H5I_INVALID_HID, fb = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, longer, &fa), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, one, &fb), RP_OK);
    int64_t n = 0, m = 0, best = 0;
    double *h = read_f64(fa, "/history/valid_rmse", &n);
    CU_ASSERT_FATAL(h != NULL && n == 4);
    for (int i = 1; i < 4; i++) CU_ASSERT(h[i] > h[0]); /* it really rises after iteration 1 */
    CU_ASSERT_EQUAL(rp_h5_attr_read(fa, "/", "best_iteration", RP_I64, 1, &best), RP_OK);
    CU_ASSERT_EQUAL(best, 1);
    CU_ASSERT_EQUAL(attr_f64(fa, RP_ATTR_VALID_RMSE), h[0]);
    const char *ds[] = {"/user_factors", "/item_factors", "/user_bias", "/item_bias",
                        "/score/user", "/score/item"};
    for (size_t d = 0; d < sizeof ds / sizeof ds[0]; d++) {
        double *x = read_f64(fa, ds[d], &n), *y = read_f64(fb, ds[d], &m);
        CU_ASSERT(x != NULL && y != NULL && n == m && memcmp(x, y, (size_t)n * sizeof *x) == 0);
        free(x);
        free(y);
    }
    free(h);
    rp_h5_close(&fa);
    rp_h5_close(&fb);
}

/* k = 16 with a tiny lambda never beats the bias baseline here: the file holds the bias
 * baseline (zero factors, its biases and mean), says so, and scores like it on validation. */
static void fallback_to_bias(void)
{
    const char *shards = noisy_fixture(), *out = rp_test_path("als_fallback.h5");
    als_opts opt = select_opts(shards, out, 16, 0.0002);
    CU_ASSERT_EQUAL_FATAL(train_file(&opt), RP_OK);
    hid_t f = H5I_INVALID_HID, sh = H5I_INVALID_HID;
    rp_model *bias = NULL;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, out, &f), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, shards, &sh), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_baseline_bias(MPI_COMM_SELF, sh, 10.0, &bias), RP_OK);
    int64_t d = 0, n = 0;
    const double *U = NULL, *V = NULL;
    rp_post post;
    double scale = 0.0, shift = 0.0;
    CU_ASSERT_EQUAL_FATAL(rp_model_dot_parts(bias, &d, &U, &V, &post, &scale, &shift), RP_OK);
    char fb[256] = "";
    CU_ASSERT_EQUAL(rp_h5_attr_read_str(f, "/", RP_ATTR_FALLBACK, fb, sizeof fb), RP_OK);
    CU_ASSERT(strncmp(fb, "bias", 4) == 0);
    int32_t beats = -1;
    CU_ASSERT_EQUAL(rp_h5_attr_read(f, "/", RP_ATTR_BEATS_BIAS, RP_I32, 1, &beats), RP_OK);
    CU_ASSERT_EQUAL(beats, 1); /* as written it is the bias baseline: equal, not worse */
    CU_ASSERT_EQUAL(attr_f64(f, RP_ATTR_VALID_RMSE), attr_f64(f, RP_ATTR_BIAS_VALID_RMSE));
    CU_ASSERT_EQUAL(attr_f64(f, "global_mean"), shift);
    double *x = read_f64(f, "/user_factors", &n);
    int zero = x != NULL;
    for (int64_t i = 0; x != NULL && i < n; i++) zero &= x[i] == 0.0;
    CU_ASSERT(zero);
    free(x);
    double *bu = read_f64(f, "/user_bias", &n), *bi = NULL;
    CU_ASSERT_FATAL(bu != NULL && n == 120);
    for (int64_t u = 0; u < n; u++) CU_ASSERT_EQUAL(bu[u], U[2 * u]);
    bi = read_f64(f, "/item_bias", &n);
    CU_ASSERT_FATAL(bi != NULL && n == 90);
    for (int64_t i = 0; i < n; i++) CU_ASSERT_EQUAL(bi[i], V[2 * i + 1]);
    free(bu);
    free(bi);
    rp_model_destroy(&bias);
    rp_h5_close(&sh);
    rp_h5_close(&f);
}

/* Plain and item-balanced validation RMSE of als.h5's dot form on the fixture's /valid,
 * computed here by hand from the files. */
static void valid_by_hand(const char *shards, const char *model, double *plain, double *item)
{
    hid_t f = H5I_INVALID_HID, m = H5I_INVALID_HID;
    int64_t n = 0, no = 0, nu = 0;
    void *off = NULL, *usr = NULL, *val = NULL;
    int nd = 0;
    int64_t d[2];
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, shards, &f), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, model, &m), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_read_all(f, "/valid/by_item/offsets", RP_I64, &off, &nd, d), RP_OK);
    no = d[0];
    CU_ASSERT_EQUAL(rp_h5_read_all(f, "/valid/by_item/user", RP_I32, &usr, &nd, d), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_read_all(f, "/valid/by_item/value", RP_F32, &val, &nd, d), RP_OK);
    double *U = read_f64(m, RP_DS_SCORE_USER, &nu), *V = read_f64(m, RP_DS_SCORE_ITEM, &n);
    CU_ASSERT_FATAL(off != NULL && usr != NULL && val != NULL && U != NULL && V != NULL);
    int64_t k2 = n / (no - 1), cnt = 0, items = 0;
    double mu = 0.0, se = 0.0, item_se = 0.0;
    CU_ASSERT_EQUAL(rp_h5_attr_read(m, RP_GRP_SCORE, "shift", RP_F64, 1, &mu), RP_OK);
    const int64_t *o = off;
    for (int64_t i = 0; i + 1 < no; i++) {
        double s = 0.0;
        for (int64_t e = o[i]; e < o[i + 1]; e++) {
            int32_t u = ((const int32_t *)usr)[e];
            double p = mu;
            for (int64_t j = 0; j < k2; j++) p += U[u * k2 + j] * V[i * k2 + j];
            p = p < 0 ? 0 : (p > 1 ? 1 : p);
            double r = (double)((const float *)val)[e] - p;
            s += r * r;
        }
        se += s;
        cnt += o[i + 1] - o[i];
        if (o[i + 1] > o[i]) item_se += s / (double)(o[i + 1] - o[i]), items++;
    }
    *plain = sqrt(se / (double)cnt);
    *item = sqrt(item_se / (double)items);
    free(off);
    free(usr);
    free(val);
    free(U);
    free(V);
    rp_h5_close(&m);
    rp_h5_close(&f);
}

/* --valid-weight item: the selection metric is the item-balanced validation RMSE (every video's
 * pairs weigh 1 in total), the contract's valid_rmse stays the plain one; both match a
 * computation by hand from the written factors. */
static void valid_weight_item(void)
{
    const char *shards = noisy_fixture(), *out = rp_test_path("als_item.h5");
    als_opts opt = select_opts(shards, out, 4, 0.02);
    opt.valid_weight = "item";
    CU_ASSERT_EQUAL_FATAL(train_file(&opt), RP_OK);
    double plain = NAN, item = NAN;
    valid_by_hand(shards, out, &plain, &item);
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, out, &f), RP_OK);
    double sel = attr_f64(f, "selection_valid_rmse"), v = attr_f64(f, RP_ATTR_VALID_RMSE);
    CU_ASSERT_DOUBLE_EQUAL(sel, item, 1e-9 * item);
    CU_ASSERT_DOUBLE_EQUAL(v, plain, 1e-9 * plain);
    CU_ASSERT(fabs(sel - v) > 1e-6); /* the two weightings do differ on this fixture */
    char w[16] = "";
    CU_ASSERT_EQUAL(rp_h5_attr_read_str(f, "/", "valid_weight", w, sizeof w), RP_OK);
    CU_ASSERT_STRING_EQUAL(w, "item");
    int64_t n = 0;
    double *g = read_f64(f, RP_DS_ALS_GRID_VALID_RMSE, &n);
    CU_ASSERT(g != NULL && n == 1 && g[0] == sel); /* the grid records the selection metric */
    free(g);
    rp_h5_close(&f);
}

/* The log target's filter: a normalised value is kept when its watch ratio lies in
 * [lo, hi) and is not the clipped maximum; the kept value is log(wr). */
static void log_filter_keeps_range(void)
{
    rp_log_range r = {0.0, 3.0, 0.4, 3.0};
    double lw = 0.0;
    CU_ASSERT(!rp_log_keep(&r, 0.1f, &lw));  /* wr 0.3: a partial view */
    CU_ASSERT(!rp_log_keep(&r, 0.0f, &lw));  /* a zero play */
    CU_ASSERT(!rp_log_keep(&r, 1.0f, &lw));  /* clipped at the cap */
    CU_ASSERT(rp_log_keep(&r, 0.2f, &lw));
    CU_ASSERT_DOUBLE_EQUAL(lw, log(3.0 * (double)0.2f), 1e-12);
    CU_ASSERT(rp_log_keep(&r, 0.99f, &lw));
    CU_ASSERT_DOUBLE_EQUAL(lw, log(3.0 * (double)0.99f), 1e-12);
    r.hi = 2.0; /* --log-max 2 */
    CU_ASSERT(!rp_log_keep(&r, 0.99f, &lw));
    /* the range read from a file: hi is the clip point unless --log-max is below it */
    const char *shards = noisy_fixture();
    CU_ASSERT_EQUAL(rp_shards_log_range(MPI_COMM_SELF, shards, 0.4, 0.0, &r), RP_OK);
    CU_ASSERT(r.lo == 0.4 && r.hi == r.norm_max && r.norm_max > r.norm_min);
    CU_ASSERT_EQUAL(rp_shards_log_range(MPI_COMM_SELF, shards, 0.4, 0.5 * r.norm_max, &r), RP_OK);
    CU_ASSERT(r.hi == 0.5 * r.norm_max);
    CU_ASSERT_EQUAL(rp_shards_log_range(MPI_COMM_SELF, shards, 1e9, 0.0, &r), RP_ERR_USAGE);
    double a[2] = {2.0, 4.0}, neg[2] = {-1.0, 4.0}, none[2] = {1.0, 0.0};
    CU_ASSERT_DOUBLE_EQUAL(rp_log_gain(a[0], a[1]), 0.5, 1e-15);
    CU_ASSERT_EQUAL(rp_log_gain(neg[0], neg[1]), 0.0); /* a negative gain: the bias model instead */
    CU_ASSERT_EQUAL(rp_log_gain(none[0], none[1]), 0.0);
    CU_ASSERT_DOUBLE_EQUAL(als_scale_of(ALS_SCALE_BOTH, 0.1, -0.3), exp(-0.2), 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(als_scale_of(ALS_SCALE_ITEM, 0.1, -0.3), exp(-0.3), 1e-15);
    CU_ASSERT_EQUAL(als_scale_of(ALS_SCALE_NONE, 0.1, -0.3), 1.0);
}

/* --target log on the fixture: the written /score reproduces valid_rmse (computed here from the
 * files), its bias columns are the bias baseline's, and the gain is the least-squares one: on
 * /valid, the interaction columns' best multiplier (unclamped) is 1. */
static void log_target_calibrated(void)
{
    const char *shards = noisy_fixture(), *out = rp_test_path("als_log.h5");
    als_opts opt = select_opts(shards, out, 4, 0.5);
    opt.target = "log";
    opt.log_min = 0.01; /* the fixture's values are not watch ratios: keep almost all */
    opt.penalty = "const";
    CU_ASSERT_EQUAL_FATAL(train_file(&opt), RP_OK);
    double plain = NAN, item = NAN;
    valid_by_hand(shards, out, &plain, &item);
    hid_t f = H5I_INVALID_HID, sh = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, out, &f), RP_OK);
    CU_ASSERT_DOUBLE_EQUAL(attr_f64(f, RP_ATTR_VALID_RMSE), plain, 1e-9 * plain);
    CU_ASSERT(attr_f64(f, "calib_gamma") > 0.0);
    CU_ASSERT(plain < attr_f64(f, RP_ATTR_BIAS_VALID_RMSE));
    int64_t nu = 0, ni = 0, no = 0;
    double *U = read_f64(f, RP_DS_SCORE_USER, &nu), *V = read_f64(f, RP_DS_SCORE_ITEM, &ni);
    CU_ASSERT_FATAL(U != NULL && V != NULL);
    int64_t k2 = ni / 90, k = k2 - 2;
    rp_model *bias = NULL;
    const double *BU = NULL, *BV = NULL;
    double bmu = 0.0;
    CU_ASSERT_EQUAL_FATAL(rp_baseline_bias_terms(MPI_COMM_SELF, shards, 10.0, &bias, &BU, &BV,
                                                 &bmu), RP_OK);
    CU_ASSERT_EQUAL(attr_f64(f, "global_mean"), bmu);
    int same = 1;
    for (int64_t u = 0; u < 120; u++) same &= U[u * k2 + k] == BU[2 * u] && U[u * k2 + k + 1] == 1;
    for (int64_t i = 0; i < 90; i++)
        same &= V[i * k2 + k] == 1 && V[i * k2 + k + 1] == BV[2 * i + 1];
    CU_ASSERT(same);
    void *off = NULL, *usr = NULL, *val = NULL;
    int nd = 0;
    int64_t d[2];
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, shards, &sh), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_read_all(sh, "/valid/by_item/offsets", RP_I64, &off, &nd, d), RP_OK);
    no = d[0];
    CU_ASSERT_EQUAL(rp_h5_read_all(sh, "/valid/by_item/user", RP_I32, &usr, &nd, d), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_read_all(sh, "/valid/by_item/value", RP_F32, &val, &nd, d), RP_OK);
    double gr = 0.0, gg = 0.0;
    for (int64_t i = 0; off && usr && val && i + 1 < no; i++)
        for (int64_t e = ((int64_t *)off)[i]; e < ((int64_t *)off)[i + 1]; e++) {
            int32_t u = ((int32_t *)usr)[e];
            double g = 0.0, r = ((float *)val)[e] - bmu - BU[2 * u] - BV[2 * i + 1];
            for (int64_t j = 0; j < k; j++) g += U[u * k2 + j] * V[i * k2 + j];
            gr += g * r;
            gg += g * g;
        }
    CU_ASSERT(gg > 0.0 && fabs(gr / gg - 1.0) < 1e-6);
    free(off);
    free(usr);
    free(val);
    free(U);
    free(V);
    rp_model_destroy(&bias);
    rp_h5_close(&sh);
    rp_h5_close(&f);
}

int test_als_select_register(void)
{
    RP_ADD_SUITE("als_select", RP_T(search_finds_minimum), RP_T(grid_writes_best_point),
                 RP_T(best_iterate_written), RP_T(fallback_to_bias), RP_T(valid_weight_item),
                 RP_T(log_filter_keeps_range), RP_T(log_target_calibrated));
    return 0;
}
