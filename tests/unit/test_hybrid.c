/* test_hybrid.c - rp-hybrid pieces: MLP gradients (finite differences), MLP learning on a
 * planted problem, the ridge blend (recovers planted weights, never worse than its best input),
 * option parsing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hybrid.h"
#include "hybrid_fixture.h"
#include "rp_err.h"
#include "rp_mlp.h"
#include "rp_model_hybrid.h"
#include "rp_rng.h"
#include "rp_test.h"

int test_hybrid_register(void);

/* L = sum_r dout[r] . out[r]: backward's gradient against central differences in double. */
static void mlp_gradient_check(void)
{
    int dims[4] = {5, 6, 4, 2};
    rp_mlp m;
    CU_ASSERT_EQUAL_FATAL(rp_mlp_init(&m, 3, dims, 11), RP_OK);
    enum { N = 7 };
    float X[N * 5], dout[N * 2], out[N * 2], work[N * 12], scratch[2 * N * 6];
    for (int x = 0; x < N * 5; x++) X[x] = (float)rp_rng_normal(3, 1, (uint64_t)x);
    for (int x = 0; x < N * 2; x++) dout[x] = (float)rp_rng_normal(3, 2, (uint64_t)x);
    for (int64_t p = 0; p < m.n_params; p++)
        m.params[p] += (float)(0.1 * rp_rng_normal(3, 3, (uint64_t)p));
    CU_ASSERT_EQUAL_FATAL(rp_mlp_work_size(&m, N), N * 12);
    float *grad = malloc((size_t)m.n_params * sizeof *grad);
    rp_mlp_forward(&m, X, N, work, out);
    rp_mlp_backward(&m, X, N, work, dout, grad, scratch);
    int bad = 0;
    double worst = 0.0;
    for (int64_t p = 0; p < m.n_params; p++) {
        float keep = m.params[p];
        double l[2];
        for (int s = 0; s < 2; s++) {
            m.params[p] = keep + (s ? -1e-2f : 1e-2f);
            rp_mlp_forward(&m, X, N, work, out);
            l[s] = 0.0;
            for (int x = 0; x < N * 2; x++) l[s] += (double)dout[x] * out[x];
        }
        m.params[p] = keep;
        double fd = (l[0] - l[1]) / 2e-2, err = fabs(fd - grad[p]) / (1e-2 + fabs(fd));
        worst = err > worst ? err : worst;
        bad += err > 2e-2; /* float forward; a ReLU kink inside the step can break one entry */
    }
    CU_ASSERT(bad <= 1);
    CU_ASSERT(worst < 1.0);
    free(grad);
    rp_mlp_clear(&m);
}

/* A dot model file-free: factors of the planted truth with noise. */
static rp_model *planted_model(const char *name, int64_t nu, int64_t ni, double noise, int extra)
{
    int64_t d = HYB_FX_D + extra;
    double *U = malloc((size_t)(nu * d) * sizeof *U), *V = malloc((size_t)(ni * d) * sizeof *V);
    /* The first HYB_FX_D columns are the planted factors (keyed by row and column), the rest
     * noise; pred = 0.5 + 0.4 * u . v / HYB_FX_D with noisy user factors. */
    for (int64_t r = 0; r < nu; r++)
        for (int64_t k = 0; k < d; k++)
            U[r * d + k] = (k < HYB_FX_D ? rp_rng_normal(5, 1, (uint64_t)(r * 16 + k)) : 0.0) +
                           noise * rp_rng_normal(5, 3 + (uint64_t)extra, (uint64_t)(r * 16 + k));
    for (int64_t r = 0; r < ni; r++)
        for (int64_t k = 0; k < d; k++)
            V[r * d + k] = rp_rng_normal(5, k < HYB_FX_D ? 2 : 4, (uint64_t)(r * 16 + k));
    rp_model *m = NULL;
    rp_model_from_dot(name, nu, ni, d, U, V, RP_POST_IDENTITY, 0.4 / HYB_FX_D, 0.5, &m);
    free(U);
    free(V);
    return m;
}

static void make_pairs(const rp_model *truth, int64_t nu, int64_t ni, int64_t n, uint64_t stream,
                       hyb_pairs *p)
{
    p->n = n;
    p->u = malloc((size_t)n * sizeof *p->u);
    p->i = malloc((size_t)n * sizeof *p->i);
    p->y = malloc((size_t)n * sizeof *p->y);
    for (int64_t x = 0; x < n; x++) {
        p->u[x] = (int32_t)(rp_rng_hash(9, stream, (uint64_t)x) % (uint64_t)nu);
        p->i[x] = (int32_t)(rp_rng_hash(9, stream + 1, (uint64_t)x) % (uint64_t)ni);
    }
    rp_model_score_pairs(truth, p->u, p->i, n, p->y);
}

/* The concat MLP learns the planted preferences from noisy embeddings: validation RMSE far
 * below the constant predictor's and below its first epoch's. */
static void concat_learns_planted(void)
{
    int64_t nu = 120, ni = 150;
    rp_model *truth = planted_model("truth", nu, ni, 0.0, 0);
    rp_model *als = planted_model("als", nu, ni, 0.3, 1), *tt = planted_model("tt", nu, ni, 0.8, 2);
    hyb_pairs train = {0}, valid = {0};
    make_pairs(truth, nu, ni, 6000, 100, &train);
    make_pairs(truth, nu, ni, 1500, 200, &valid);
    double mean = 0.0, var = 0.0;
    for (int64_t x = 0; x < valid.n; x++) mean += valid.y[x] / (double)valid.n;
    for (int64_t x = 0; x < valid.n; x++) var += pow(valid.y[x] - mean, 2) / (double)valid.n;
    hyb_opts o = {.hidden = "16", .lr = 3e-3, .epochs = 12, .batch = 128, .patience = 3,
                  .seed = 42, .epoch_samples = 0};
    hyb_concat_result r = {0};
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, als, tt, &train, &valid, &r), RP_OK);
    CU_ASSERT(r.epochs_run >= 3);
    CU_ASSERT(r.valid_rmse < 0.5 * sqrt(var));
    CU_ASSERT(r.valid_rmse < r.hist_valid[0]);
    CU_ASSERT(r.valid_rmse <= r.hist_valid[r.epochs_run - 1]);
    CU_ASSERT_EQUAL(r.hist_valid[r.best_epoch - 1], r.valid_rmse);
    /* Same seed: bitwise the same weights. */
    hyb_concat_result r2 = {0};
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, als, tt, &train, &valid, &r2), RP_OK);
    CU_ASSERT(memcmp(r.mlp.params, r2.mlp.params, (size_t)r.mlp.n_params * sizeof(float)) == 0);
    hyb_concat_result_clear(&r);
    hyb_concat_result_clear(&r2);
    hyb_pairs_clear(&train);
    hyb_pairs_clear(&valid);
    rp_model_destroy(&truth);
    rp_model_destroy(&als);
    rp_model_destroy(&tt);
}

/* Two epochs, then --resume to four: bitwise the weights and curve of four straight epochs;
 * a checkpoint of other parameters is refused. */
static void concat_resume_bitwise(void)
{
    int64_t nu = 50, ni = 60;
    rp_model *truth = planted_model("truth", nu, ni, 0.0, 0);
    rp_model *als = planted_model("als", nu, ni, 0.3, 1), *tt = planted_model("tt", nu, ni, 0.8, 2);
    hyb_pairs train = {0}, valid = {0};
    make_pairs(truth, nu, ni, 1000, 300, &train);
    make_pairs(truth, nu, ni, 300, 400, &valid);
    const char *ck = rp_test_path("concat.ckpt");
    hyb_opts o = {.hidden = "8", .lr = 1e-2, .epochs = 4, .batch = 64, .patience = 10,
                  .seed = 7, .checkpoint = ck};
    hyb_concat_result a = {0}, b = {0}, c = {0};
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, als, tt, &train, &valid, &a), RP_OK);
    remove(ck);
    o.epochs = 2;
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, als, tt, &train, &valid, &b), RP_OK);
    hyb_concat_result_clear(&b);
    o.epochs = 4;
    o.resume = 1;
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, als, tt, &train, &valid, &b), RP_OK);
    CU_ASSERT_EQUAL(b.epochs_run, 4);
    CU_ASSERT_EQUAL(a.best_epoch, b.best_epoch);
    CU_ASSERT(memcmp(a.mlp.params, b.mlp.params, (size_t)a.mlp.n_params * sizeof(float)) == 0);
    CU_ASSERT(memcmp(a.hist_valid, b.hist_valid, 4 * sizeof(double)) == 0);
    o.lr = 2e-2;
    CU_ASSERT_EQUAL(hyb_concat_train(MPI_COMM_SELF, &o, als, tt, &train, &valid, &c), RP_ERR_DATA);
    hyb_concat_result_clear(&a);
    hyb_concat_result_clear(&b);
    hyb_pairs_clear(&train);
    hyb_pairs_clear(&valid);
    rp_model_destroy(&truth);
    rp_model_destroy(&als);
    rp_model_destroy(&tt);
}

static void blend_recovers_weights(void)
{
    enum { N = 2000 };
    float *p[2], y[N];
    p[0] = malloc(N * sizeof(float));
    p[1] = malloc(N * sizeof(float));
    for (int x = 0; x < N; x++) {
        p[0][x] = (float)rp_rng_uniform(1, 1, (uint64_t)x);
        p[1][x] = (float)rp_rng_uniform(1, 2, (uint64_t)x);
        y[x] = (float)(0.1 + 0.5 * p[0][x] + 0.3 * p[1][x]);
    }
    double w[3], rmse, in[2];
    int fb = 7;
    CU_ASSERT_EQUAL_FATAL(hyb_blend_fit(MPI_COMM_SELF, 2, p, y, N, 0.0, w, &rmse, in, &fb), RP_OK);
    CU_ASSERT(fabs(w[0] - 0.1) < 1e-4 && fabs(w[1] - 0.5) < 1e-4 && fabs(w[2] - 0.3) < 1e-4);
    CU_ASSERT(rmse < 1e-5);
    CU_ASSERT_EQUAL(fb, -1);
    free(p[0]);
    free(p[1]);
}

/* Whatever the ridge, the blend's validation RMSE is <= its best input's, and the reported RMSE
 * is the RMSE of hyb_blend_predict with the returned weights. */
static void blend_never_worse(void)
{
    enum { N = 1500, K = 3 };
    float *p[K], y[N], pred[N];
    for (int c = 0; c < K; c++) p[c] = malloc(N * sizeof(float));
    double ridges[4] = {0.0, 1e-3, 1.0, 1e6};
    int fell_back = 0;
    for (int t = 0; t < 4; t++) {
        for (int x = 0; x < N; x++) {
            double truth = rp_rng_uniform(2, 9, (uint64_t)x);
            y[x] = (float)truth;
            for (int c = 0; c < K; c++) {
                double sd = 0.05 + 0.2 * c;
                double v = truth + sd * rp_rng_normal(2, (uint64_t)(10 * t + c), (uint64_t)x);
                p[c][x] = (float)(v < 0 ? 0 : (v > 1 ? 1 : v));
            }
        }
        double w[K + 1], rmse, in[K];
        int fb = 0;
        int rc = hyb_blend_fit(MPI_COMM_SELF, K, p, y, N, ridges[t], w, &rmse, in, &fb);
        CU_ASSERT_EQUAL_FATAL(rc, RP_OK);
        double best = fmin(in[0], fmin(in[1], in[2]));
        CU_ASSERT(rmse <= best);
        hyb_blend_predict(K, w, p, N, pred);
        double s = 0;
        for (int x = 0; x < N; x++) s += pow((double)pred[x] - y[x], 2);
        CU_ASSERT(fabs(sqrt(s / N) - rmse) < 1e-7);
        fell_back += fb >= 0;
        if (t == 3) CU_ASSERT_EQUAL(fb, 0); /* huge ridge: the slopes vanish, input 0 wins */
        if (t == 0) CU_ASSERT(rmse < best); /* a real blend of three noisy inputs helps */
    }
    CU_ASSERT(fell_back >= 1);
    for (int c = 0; c < K; c++) free(p[c]);
}

static void hidden_and_variant_parsing(void)
{
    int w[8], n = 0;
    CU_ASSERT_EQUAL(hyb_parse_hidden("64,32", w, &n, 7), RP_OK);
    CU_ASSERT(n == 2 && w[0] == 64 && w[1] == 32);
    CU_ASSERT_EQUAL(hyb_parse_hidden("", w, &n, 7), RP_OK);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(hyb_parse_hidden("32,x", w, &n, 7), RP_ERR_USAGE);
    CU_ASSERT_EQUAL(hyb_parse_hidden("0", w, &n, 7), RP_ERR_USAGE);
    CU_ASSERT_EQUAL(hyb_parse_hidden("1,2,3,4,5,6,7,8", w, &n, 7), RP_ERR_USAGE);
    char f[64], v[16];
    rp_model_split_variant("runs/a/hybrid.h5#concat", f, sizeof f, v, sizeof v);
    CU_ASSERT_STRING_EQUAL(f, "runs/a/hybrid.h5");
    CU_ASSERT_STRING_EQUAL(v, "concat");
    rp_model_split_variant("runs/a#b/als.h5", f, sizeof f, v, sizeof v);
    CU_ASSERT_STRING_EQUAL(f, "runs/a#b/als.h5");
    CU_ASSERT_STRING_EQUAL(v, "");
    hyb_opts o;
    char *bad[] = {"rp-hybrid", "--shards", "s", "--als", "a", "--twotower", "t", "--out", "o",
                   "--default", "best"};
    CU_ASSERT_EQUAL(hyb_parse(11, bad, &o), RP_ERR_USAGE);
    char *missing[] = {"rp-hybrid", "--shards", "s", "--out", "o"};
    CU_ASSERT_EQUAL(hyb_parse(5, missing, &o), RP_ERR_USAGE);
    char *ok[] = {"rp-hybrid", "--shards", "s", "--als", "a", "--twotower", "t", "--out", "o",
                  "--hidden", "8,4", "--epochs", "3"};
    CU_ASSERT_EQUAL(hyb_parse(13, ok, &o), RP_OK);
    CU_ASSERT_EQUAL(o.epochs, 3);
}

int test_hybrid_register(void)
{
    RP_ADD_SUITE("hybrid", RP_T(mlp_gradient_check), RP_T(concat_learns_planted),
                 RP_T(concat_resume_bitwise),
                 RP_T(blend_recovers_weights), RP_T(blend_never_worse),
                 RP_T(hidden_and_variant_parsing));
    return 0;
}
