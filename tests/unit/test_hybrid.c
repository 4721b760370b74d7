/* test_hybrid.c - rp-hybrid pieces: MLP gradients (finite differences), MLP learning on a
 * planted problem, the ridge blend (recovers planted weights, never worse than its best input),
 * option parsing. */
#include <lapacke.h>
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
    rp_mlp_grads grads = {.params = grad, .accumulate = 0, .dX = NULL};
    CU_ASSERT_EQUAL_FATAL(rp_mlp_backward(&m, X, N, work, dout, &grads, scratch), RP_OK);
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

/* train (fold 1, the training rows) and valid (fold 0, the early-stopping rows) as one list. */
static uint8_t *join_pairs(const hyb_pairs *train, const hyb_pairs *valid, hyb_pairs *all)
{
    int64_t n = train->n + valid->n;
    uint8_t *fold = malloc((size_t)n);
    all->n = n;
    all->u = malloc((size_t)n * sizeof *all->u);
    all->i = malloc((size_t)n * sizeof *all->i);
    all->y = malloc((size_t)n * sizeof *all->y);
    for (int64_t x = 0; x < n; x++) {
        const hyb_pairs *s = x < train->n ? train : valid;
        int64_t j = x < train->n ? x : x - train->n;
        all->u[x] = s->u[j];
        all->i[x] = s->i[j];
        all->y[x] = s->y[j];
        fold[x] = x < train->n ? 1 : 0;
    }
    return fold;
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
    hyb_pairs all = {0};
    uint8_t *fold = join_pairs(&train, &valid, &all);
    rp_model *comp[2] = {als, tt};
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, 2, 2, comp, NULL, &all, fold, &r), RP_OK);
    CU_ASSERT(r.epochs_run >= 3);
    CU_ASSERT(r.valid_rmse < 0.5 * sqrt(var));
    CU_ASSERT(r.valid_rmse < r.hist_valid[0]);
    CU_ASSERT(r.valid_rmse <= r.hist_valid[r.epochs_run - 1]);
    CU_ASSERT_EQUAL(r.hist_valid[r.best_epoch - 1], r.valid_rmse);
    /* Same seed: bitwise the same weights. */
    hyb_concat_result r2 = {0};
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, 2, 2, comp, NULL, &all, fold, &r2), RP_OK);
    CU_ASSERT(memcmp(r.mlp.params, r2.mlp.params, (size_t)r.mlp.n_params * sizeof(float)) == 0);
    hyb_pairs_clear(&all);
    free(fold);
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
    hyb_pairs all = {0};
    uint8_t *fold = join_pairs(&train, &valid, &all);
    rp_model *comp[2] = {als, tt};
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, 2, 2, comp, NULL, &all, fold, &a), RP_OK);
    remove(ck);
    o.epochs = 2;
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, 2, 2, comp, NULL, &all, fold, &b), RP_OK);
    hyb_concat_result_clear(&b);
    o.epochs = 4;
    o.resume = 1;
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, 2, 2, comp, NULL, &all, fold, &b), RP_OK);
    CU_ASSERT_EQUAL(b.epochs_run, 4);
    CU_ASSERT_EQUAL(a.best_epoch, b.best_epoch);
    CU_ASSERT(memcmp(a.mlp.params, b.mlp.params, (size_t)a.mlp.n_params * sizeof(float)) == 0);
    CU_ASSERT(memcmp(a.hist_valid, b.hist_valid, 4 * sizeof(double)) == 0);
    o.lr = 2e-2;
    CU_ASSERT_EQUAL(hyb_concat_train(MPI_COMM_SELF, &o, 2, 2, comp, NULL, &all, fold, &c), RP_ERR_DATA);
    hyb_pairs_clear(&all);
    free(fold);
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
    uint8_t fold[N];
    for (int x = 0; x < N; x++) fold[x] = (uint8_t)(x % 5);
    hyb_blend b;
    CU_ASSERT_EQUAL_FATAL(hyb_blend_fit(MPI_COMM_SELF, 2, p, y, fold, N, 5, 0.0, &b), RP_OK);
    CU_ASSERT(fabs(b.w[0] - 0.1) < 1e-4 && fabs(b.w[1] - 0.5) < 1e-4 && fabs(b.w[2] - 0.3) < 1e-4);
    CU_ASSERT(b.rmse < 1e-5 && b.cv_rmse < 1e-5);
    CU_ASSERT_EQUAL(b.fallback, -1);
    /* auto: the grid is tried out of fold and an exact fit keeps (near) zero ridge */
    CU_ASSERT_EQUAL_FATAL(hyb_blend_fit(MPI_COMM_SELF, 2, p, y, fold, N, 5, -1.0, &b), RP_OK);
    CU_ASSERT(b.n_grid > 3 && b.ridge <= 1e-4 && b.rmse < 1e-3);
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
    double ridges[5] = {0.0, 1e-3, 1.0, 1e6, -1.0};
    uint8_t fold[N];
    for (int x = 0; x < N; x++) fold[x] = (uint8_t)(x % 4);
    int fell_back = 0;
    for (int t = 0; t < 5; t++) {
        for (int x = 0; x < N; x++) {
            double truth = rp_rng_uniform(2, 9, (uint64_t)x);
            y[x] = (float)truth;
            for (int c = 0; c < K; c++) {
                double sd = 0.05 + 0.2 * c;
                double v = truth + sd * rp_rng_normal(2, (uint64_t)(10 * t + c), (uint64_t)x);
                p[c][x] = (float)(v < 0 ? 0 : (v > 1 ? 1 : v));
            }
        }
        hyb_blend b;
        int rc = hyb_blend_fit(MPI_COMM_SELF, K, p, y, fold, N, 4, ridges[t], &b);
        CU_ASSERT_EQUAL_FATAL(rc, RP_OK);
        double *w = b.w, rmse = b.rmse, *in = b.input_rmse;
        int fb = b.fallback;
        double best = fmin(in[0], fmin(in[1], in[2]));
        CU_ASSERT(rmse <= best);
        hyb_blend_predict(K, w, p, N, pred);
        double s = 0;
        for (int x = 0; x < N; x++) s += pow((double)pred[x] - y[x], 2);
        CU_ASSERT(fabs(sqrt(s / N) - rmse) < 1e-7);
        fell_back += fb >= 0;
        if (t == 3) CU_ASSERT_EQUAL(fb, 0); /* huge ridge: the slopes vanish, input 0 wins */
        if (t == 0 || t == 4) CU_ASSERT(rmse < best); /* a blend of three noisy inputs helps */
        if (t == 4) CU_ASSERT(b.cv_rmse < best && fb == -1); /* ... out of fold too */
    }
    CU_ASSERT(fell_back >= 1);
    for (int c = 0; c < K; c++) free(p[c]);
}

/* The old blend: uncentred moments, an absolute ridge on the slopes. */
static double uncentred_blend_rmse(int k, float *const *p, const float *y, int n, double ridge)
{
    double G[9] = {0}, b[3] = {0}, r[3];
    for (int x = 0; x < n; x++) {
        r[0] = 1.0;
        for (int c = 0; c < k; c++) r[c + 1] = p[c][x];
        for (int a = 0; a <= k; a++) {
            for (int c = 0; c <= k; c++) G[a * (k + 1) + c] += r[a] * r[c] / n;
            b[a] += r[a] * y[x] / n;
        }
    }
    for (int a = 1; a <= k; a++) G[a * (k + 1) + a] += ridge;
    CU_ASSERT_EQUAL_FATAL(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', k + 1, 1, G, k + 1, b, 1), 0);
    float *pred = malloc((size_t)n * sizeof *pred);
    hyb_blend_predict(k, b, p, n, pred);
    double s = 0.0;
    for (int x = 0; x < n; x++) s += pow((double)pred[x] - y[x], 2);
    free(pred);
    return sqrt(s / n);
}

/* Predictions like the real ones: a large common offset, a spread of a few percent. The old
 * fit's absolute ridge (1e-3, in mean-squared units) is of the order of the inputs' variance, so
 * it shrinks the slopes towards a constant and loses to the better input; the centred fit with a
 * ridge relative to each input's variance (the same nominal 1e-3) wins, and is unchanged (but
 * for its intercept) when inputs and target move by a constant. */
static void blend_centred_beats_uncentred(void)
{
    enum { N = 4000, K = 2 };
    float *p[K], *q[K], y[N], y2[N];
    uint8_t fold[N];
    for (int c = 0; c < K; c++) {
        p[c] = malloc(N * sizeof(float));
        q[c] = malloc(N * sizeof(float));
    }
    for (int x = 0; x < N; x++) {
        double t = 0.3 + 0.05 * rp_rng_normal(4, 1, (uint64_t)x);
        y[x] = (float)(t + 0.02 * rp_rng_normal(4, 2, (uint64_t)x));
        p[0][x] = (float)(t + 0.01 * rp_rng_normal(4, 3, (uint64_t)x));
        p[1][x] = (float)(t + 0.03 * rp_rng_normal(4, 4, (uint64_t)x));
        y2[x] = y[x] + 0.25f;
        for (int c = 0; c < K; c++) q[c][x] = p[c][x] + 0.25f;
        fold[x] = (uint8_t)(x % 5);
    }
    hyb_blend b, b2;
    CU_ASSERT_EQUAL_FATAL(hyb_blend_fit(MPI_COMM_SELF, K, p, y, fold, N, 5, 1e-3, &b), RP_OK);
    double best = fmin(b.input_rmse[0], b.input_rmse[1]);
    double old = uncentred_blend_rmse(K, p, y, N, 1e-3);
    CU_ASSERT(old > best);                 /* the old fit loses to input 0 ... */
    CU_ASSERT(b.fallback == -1 && b.rmse < best && b.cv_rmse < best); /* ... the new one wins */
    CU_ASSERT(b.w[1] > 0.5 && b.w[1] + b.w[2] > 0.95);
    CU_ASSERT_EQUAL_FATAL(hyb_blend_fit(MPI_COMM_SELF, K, q, y2, fold, N, 5, 1e-3, &b2), RP_OK);
    CU_ASSERT(fabs(b2.w[1] - b.w[1]) < 1e-6 && fabs(b2.w[2] - b.w[2]) < 1e-6);
    CU_ASSERT(fabs(b2.w[0] - (b.w[0] + 0.25 * (1.0 - b.w[1] - b.w[2]))) < 1e-5);
    for (int c = 0; c < K; c++) {
        free(p[c]);
        free(q[c]);
    }
}

/* A memorising component: exact on the pairs it was fitted on (split A), noisy elsewhere;
 * d = n_items columns, U[u][i] = its prediction for (u, i), V = identity. */
static rp_model *memoriser(const rp_model *truth, int64_t nu, int64_t ni, const int8_t *split,
                           const float *y)
{
    double *U = calloc((size_t)(nu * ni), sizeof *U), *V = calloc((size_t)(ni * ni), sizeof *V);
    for (int64_t u = 0; u < nu; u++)
        for (int64_t i = 0; i < ni; i++) {
            int32_t uu = (int32_t)u, ii = (int32_t)i;
            float t = 0.0f;
            rp_model_score_pairs(truth, &uu, &ii, 1, &t);
            double v = split[u * ni + i] == 0 ? y[u * ni + i]
                                              : t + 0.25 * rp_rng_normal(6, 1, (uint64_t)(u * ni + i));
            U[u * ni + i] = v < 0 ? 0 : (v > 1 ? 1 : v);
        }
    for (int64_t i = 0; i < ni; i++) V[i * ni + i] = 1.0;
    rp_model *m = NULL;
    rp_model_from_dot("als", nu, ni, ni, U, V, RP_POST_IDENTITY, 1.0, 0.0, &m);
    free(U);
    free(V);
    return m;
}

static void pairs_of_split(const int8_t *split, int want, const float *y, int64_t nu, int64_t ni,
                           hyb_pairs *p)
{
    memset(p, 0, sizeof *p);
    p->u = malloc((size_t)(nu * ni) * sizeof *p->u);
    p->i = malloc((size_t)(nu * ni) * sizeof *p->i);
    p->y = malloc((size_t)(nu * ni) * sizeof *p->y);
    for (int64_t x = 0; x < nu * ni; x++)
        if (split[x] == want) {
            p->u[p->n] = (int32_t)(x / ni);
            p->i[p->n] = (int32_t)(x % ni);
            p->y[p->n++] = y[x];
        }
}

static double rmse_on(const rp_model *m, const hyb_pairs *p)
{
    double r = 0;
    CU_ASSERT_EQUAL(hyb_rmse(MPI_COMM_SELF, m, p, &r), RP_OK);
    return r;
}

/* rp-recommend's block scores of the concat model (the fused 16-item kernel for one hidden
 * layer, the BLAS chunks for two) agree with the pair scores (double, plain loops) to float
 * rounding, for item counts that are not a multiple of 16, and do not depend on the block of
 * users they are scored in. */
static void concat_block_matches_pairs(void)
{
    enum { NU = 7, NI = 37, DU = 3, DI = 4 };
    rp_model *comp[2] = {planted_model("a", NU, NI, 0.1, 0), planted_model("b", NU, NI, 0.3, 1)};
    float Fu[NU * DU], Fi[NI * DI];
    for (int x = 0; x < NU * DU; x++) Fu[x] = (float)rp_rng_normal(8, 1, (uint64_t)x);
    for (int x = 0; x < NI * DI; x++) Fi[x] = (float)rp_rng_normal(8, 2, (uint64_t)x);
    double woff[3] = {0.1, 0.5, 0.3};
    for (int layers = 2; layers <= 3; layers++) {
        int dims[4] = {DU + DI + 2, 19, layers == 3 ? 5 : 1, 1};
        rp_mlp mlp;
        CU_ASSERT_EQUAL_FATAL(rp_mlp_init(&mlp, layers, dims, 5), RP_OK);
        for (int64_t q = 0; q < mlp.n_params; q++) /* biases too, so some ReLUs are off */
            mlp.params[q] += (float)(0.3 * rp_rng_normal(8, 3, (uint64_t)q));
        rp_hybrid_concat_parts ph = {2, comp, 1, Fu, DU, Fi, DI, &mlp, woff};
        rp_model *m = NULL;
        CU_ASSERT_EQUAL_FATAL(rp_model_concat_create("h", NU, NI, &ph, &m), RP_OK);
        float all[NU * NI], part[3 * NI], pair = 0.0f;
        CU_ASSERT_EQUAL(rp_model_score_block(m, 0, NU, all), RP_OK);
        CU_ASSERT_EQUAL(rp_model_score_block(m, 2, 3, part), RP_OK);
        CU_ASSERT(memcmp(part, all + 2 * NI, sizeof part) == 0);
        double worst = 0.0, spread = 0.0;
        for (int32_t u = 0; u < NU; u++)
            for (int32_t i = 0; i < NI; i++) {
                rp_model_score_pairs(m, &u, &i, 1, &pair);
                worst = fmax(worst, fabs((double)pair - all[u * NI + i]));
                spread = fmax(spread, fabs((double)all[u * NI + i] - all[0]));
            }
        CU_ASSERT(worst < 1e-5);
        CU_ASSERT(spread > 0.05); /* the scores vary: the comparison is not of constants */
        rp_model_destroy(&m);
        rp_mlp_clear(&mlp);
    }
    rp_model_destroy(&comp[0]);
    rp_model_destroy(&comp[1]);
}

/* Held-out training: the ALS stand-in was fitted on split A (it reproduces A's targets, noise
 * included, and is noisy elsewhere). The concat is trained on split B only (validation: where
 * the inputs show their real error): its training rows are B's rows outside fold 0, its
 * early-stopping rows B's fold 0, and on unseen pairs (split C) it beats both inputs. */
static void concat_trained_on_heldout(void)
{
    enum { NU = 90, NI = 60 };
    int8_t split[NU * NI];
    float y[NU * NI];
    rp_model *truth = planted_model("truth", NU, NI, 0.0, 0);
    for (int64_t x = 0; x < NU * NI; x++) {
        int32_t u = (int32_t)(x / NI), i = (int32_t)(x % NI);
        float t = 0.0f;
        rp_model_score_pairs(truth, &u, &i, 1, &t);
        double v = t + 0.08 * rp_rng_normal(6, 2, (uint64_t)x), h = rp_rng_uniform(6, 3, (uint64_t)x);
        y[x] = (float)(v < 0 ? 0 : (v > 1 ? 1 : v));
        split[x] = (int8_t)(h < 0.4 ? 0 : (h < 0.8 ? 1 : 2)); /* A train, B valid, C test */
    }
    rp_model *als = memoriser(truth, NU, NI, split, y), *tt = planted_model("tt", NU, NI, 0.5, 2);
    rp_model *bias = planted_model("bias", NU, NI, 3.0, 1);
    hyb_pairs A, B, C;
    pairs_of_split(split, 0, y, NU, NI, &A);
    pairs_of_split(split, 1, y, NU, NI, &B);
    pairs_of_split(split, 2, y, NU, NI, &C);
    CU_ASSERT(rmse_on(als, &A) < 1e-6 && rmse_on(als, &C) > 0.2);
    uint8_t *foldB = malloc((size_t)B.n);
    int64_t n0 = 0;
    for (int64_t x = 0; x < B.n; x++) {
        foldB[x] = (uint8_t)hyb_fold_of(B.u[x], 42, 5);
        n0 += foldB[x] == 0;
    }
    rp_model *comp[3] = {als, tt, bias};
    hyb_opts o = {.hidden = "16", .lr = 3e-3, .epochs = 30, .batch = 64, .patience = 4,
                  .seed = 42, .epoch_samples = 0};
    hyb_concat_result held = {0};
    CU_ASSERT_EQUAL_FATAL(hyb_concat_train(MPI_COMM_SELF, &o, 3, 2, comp, NULL, &B, foldB, &held), RP_OK);
    CU_ASSERT(n0 > 0 && held.heldout_rows == n0 && held.train_rows == B.n - n0);
    rp_model *mh = NULL;
    rp_hybrid_concat_parts ph = {3, comp, 1, held.Fu, held.du, held.Fi, held.di, &held.mlp, NULL};
    CU_ASSERT_EQUAL_FATAL(rp_model_concat_create("h", NU, NI, &ph, &mh), RP_OK);
    double rh = rmse_on(mh, &C);
    CU_ASSERT(rh < rmse_on(tt, &C) && rh < rmse_on(als, &C) && rh < rmse_on(bias, &C));
    rp_model_destroy(&mh);
    hyb_concat_result_clear(&held);
    free(foldB);
    hyb_pairs_clear(&A);
    hyb_pairs_clear(&B);
    hyb_pairs_clear(&C);
    rp_model_destroy(&als);
    rp_model_destroy(&tt);
    rp_model_destroy(&bias);
    rp_model_destroy(&truth);
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
    CU_ASSERT_EQUAL(hyb_parse(5, missing, &o), RP_ERR_USAGE); /* no component */
    char *one[] = {"rp-hybrid", "--shards", "s", "--out", "o", "--twotower", "t"};
    CU_ASSERT_EQUAL(hyb_parse(7, one, &o), RP_OK);
    char *ok[] = {"rp-hybrid", "--shards", "s", "--als", "a", "--twotower", "t", "--out", "o",
                  "--hidden", "8,4", "--epochs", "3"};
    CU_ASSERT_EQUAL(hyb_parse(13, ok, &o), RP_OK);
    CU_ASSERT_EQUAL(o.epochs, 3);
}

int test_hybrid_register(void)
{
    RP_ADD_SUITE("hybrid", RP_T(mlp_gradient_check), RP_T(concat_learns_planted),
                 RP_T(concat_resume_bitwise), RP_T(concat_block_matches_pairs),
                 RP_T(blend_recovers_weights), RP_T(blend_never_worse),
                 RP_T(blend_centred_beats_uncentred), RP_T(concat_trained_on_heldout),
                 RP_T(hidden_and_variant_parsing));
    return 0;
}
