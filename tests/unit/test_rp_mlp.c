/* test_rp_mlp.c - the dense-layer engine (rp_mlp) and the BLAS wrappers it and the models use
 * (rp_la): forward against plain loops, the input gradient against central differences,
 * accumulation, views over a larger vector, the ReLU's bits. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_la.h"
#include "rp_mlp.h"
#include "rp_rng.h"
#include "rp_test.h"

int test_rp_mlp_register(void);

enum { N = 7, IN = 5, OUT = 2, WORK = N * 12, SCRATCH = 2 * N * 6 };
static const int DIMS[4] = {IN, 6, 4, OUT};

/* A 3-layer network with nonzero biases and random rows X, dout. */
static void make_net(rp_mlp *m, float *X, float *dout)
{
    CU_ASSERT_EQUAL_FATAL(rp_mlp_init(m, 3, DIMS, 11), RP_OK);
    for (int64_t p = 0; p < m->n_params; p++)
        m->params[p] += (float)(0.1 * rp_rng_normal(3, 3, (uint64_t)p));
    for (int x = 0; x < N * IN; x++) X[x] = (float)rp_rng_normal(3, 1, (uint64_t)x);
    for (int x = 0; x < N * OUT; x++) dout[x] = (float)rp_rng_normal(3, 2, (uint64_t)x);
}

/* The network in double with plain loops: ReLU between layers, none after the last. */
static void forward_loops(const rp_mlp *m, const float *x, double *y)
{
    double a[64], b[64];
    for (int c = 0; c < m->dims[0]; c++) a[c] = x[c];
    for (int l = 0; l < m->n_layers; l++) {
        int di = m->dims[l], dn = m->dims[l + 1];
        const float *W = m->params + rp_mlp_w_offset(m, l), *bb = m->params + rp_mlp_b_offset(m, l);
        for (int c = 0; c < dn; c++) {
            double z = bb[c];
            for (int r = 0; r < di; r++) z += a[r] * W[r * dn + c];
            b[c] = l + 1 < m->n_layers && z < 0.0 ? 0.0 : z;
        }
        memcpy(a, b, (size_t)dn * sizeof *a);
    }
    memcpy(y, a, (size_t)m->dims[m->n_layers] * sizeof *y);
}

static void forward_matches_loops(void)
{
    rp_mlp m;
    float X[N * IN], dout[N * OUT], out[N * OUT], work[WORK];
    make_net(&m, X, dout);
    CU_ASSERT_EQUAL_FATAL(rp_mlp_forward(&m, X, N, work, out), RP_OK);
    for (int r = 0; r < N; r++) {
        double y[OUT];
        forward_loops(&m, X + r * IN, y);
        for (int c = 0; c < OUT; c++) CU_ASSERT(rp_test_close(out[r * OUT + c], y[c], 1e-5));
    }
    rp_mlp_clear(&m);
}

/* dX of L = sum_r dout[r] . out[r] against central differences (the two-tower scatters it into
 * its embedding rows). */
static void input_gradient_check(void)
{
    rp_mlp m;
    float X[N * IN], dout[N * OUT], out[N * OUT], work[WORK], scratch[SCRATCH], dX[N * IN];
    make_net(&m, X, dout);
    CU_ASSERT_EQUAL_FATAL(rp_mlp_scratch_size(&m, N), SCRATCH);
    float *grad = malloc((size_t)m.n_params * sizeof *grad);
    rp_mlp_grads g = {.params = grad, .accumulate = 0, .dX = dX};
    CU_ASSERT_EQUAL_FATAL(rp_mlp_forward(&m, X, N, work, out), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_mlp_backward(&m, X, N, work, dout, &g, scratch), RP_OK);
    int bad = 0;
    for (int x = 0; x < N * IN; x++) {
        float keep = X[x];
        double l[2];
        for (int s = 0; s < 2; s++) {
            X[x] = keep + (s ? -1e-2f : 1e-2f);
            rp_mlp_forward(&m, X, N, work, out);
            l[s] = 0.0;
            for (int k = 0; k < N * OUT; k++) l[s] += (double)dout[k] * out[k];
        }
        X[x] = keep;
        double fd = (l[0] - l[1]) / 2e-2;
        bad += fabs(fd - dX[x]) / (1e-2 + fabs(fd)) > 2e-2; /* a ReLU kink may break one */
    }
    CU_ASSERT(bad <= 1);
    free(grad);
    rp_mlp_clear(&m);
}

/* accumulate = 1 adds the batch's gradient to what the buffer holds; 0 overwrites it. */
static void backward_accumulates(void)
{
    rp_mlp m;
    float X[N * IN], dout[N * OUT], out[N * OUT], work[WORK], scratch[SCRATCH];
    make_net(&m, X, dout);
    int64_t P = m.n_params;
    float *g0 = malloc((size_t)P * sizeof *g0), *g1 = malloc((size_t)P * sizeof *g1);
    for (int64_t p = 0; p < P; p++) g0[p] = g1[p] = (float)(p % 5) - 2.0f;
    CU_ASSERT_EQUAL_FATAL(rp_mlp_forward(&m, X, N, work, out), RP_OK);
    rp_mlp_grads w = {.params = g0, .accumulate = 0, .dX = NULL};
    rp_mlp_grads a = {.params = g1, .accumulate = 1, .dX = NULL};
    CU_ASSERT_EQUAL_FATAL(rp_mlp_backward(&m, X, N, work, dout, &w, scratch), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_mlp_backward(&m, X, N, work, dout, &a, scratch), RP_OK);
    int bad = 0;
    for (int64_t p = 0; p < P; p++)
        bad += !rp_test_close(g1[p], (double)g0[p] + (double)((float)(p % 5) - 2.0f), 1e-5);
    CU_ASSERT_EQUAL(bad, 0);
    free(g0);
    free(g1);
    rp_mlp_clear(&m);
}

/* A view over a slice of a longer vector computes the same bits as the owned network, frees
 * nothing, and refuses a bad shape. */
static void view_is_the_same_network(void)
{
    rp_mlp m, v;
    float X[N * IN], dout[N * OUT], out[N * OUT], out_v[N * OUT], work[WORK];
    make_net(&m, X, dout);
    float *big = malloc((size_t)(m.n_params + 10) * sizeof *big);
    memcpy(big + 10, m.params, (size_t)m.n_params * sizeof *big);
    CU_ASSERT_EQUAL_FATAL(rp_mlp_view(&v, 3, DIMS, big + 10), RP_OK);
    CU_ASSERT_EQUAL(v.n_params, m.n_params);
    CU_ASSERT_EQUAL_FATAL(rp_mlp_forward(&m, X, N, work, out), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_mlp_forward(&v, X, N, work, out_v), RP_OK);
    CU_ASSERT_EQUAL(memcmp(out, out_v, sizeof out), 0);
    rp_mlp_clear(&v);
    CU_ASSERT_PTR_NULL(v.params);
    free(big); /* a double free here would abort: the view's clear must not free it */
    int bad_dims[2] = {3, 0};
    CU_ASSERT_EQUAL(rp_mlp_view(&v, 1, bad_dims, NULL), RP_ERR_USAGE);
    CU_ASSERT_EQUAL(rp_mlp_view(&v, RP_MLP_MAX_LAYERS + 1, DIMS, NULL), RP_ERR_USAGE);
    rp_mlp_clear(&m);
}

/* max(x, 0) on the bits: -0 and negatives give +0, large values pass unchanged (a formula
 * like 0.5 (v + |v|) would overflow at FLT_MAX). */
static void relu_bits(void)
{
    CU_ASSERT(rp_mlp_relu(-0.0f) == 0.0f && !signbit(rp_mlp_relu(-0.0f)));
    CU_ASSERT(rp_mlp_relu(-3.5f) == 0.0f && !signbit(rp_mlp_relu(-3.5f)));
    CU_ASSERT_EQUAL(rp_mlp_relu(2.25f), 2.25f);
    CU_ASSERT_EQUAL(rp_mlp_relu(FLT_MAX), FLT_MAX);
    CU_ASSERT_EQUAL(rp_mlp_relu(FLT_MIN), FLT_MIN);
    CU_ASSERT(isinf(rp_mlp_relu(INFINITY)));
    CU_ASSERT_EQUAL(rp_mlp_relu(-INFINITY), 0.0f);
}

/* The BLAS-2 and transposed BLAS-3 wrappers compute what they name and refuse bad shapes. */
static void la_sger_sgemm(void)
{
    float A[6] = {1, 2, 3, 4, 5, 6}, x[2] = {1, -1}, y[3] = {10, 20, 30};
    CU_ASSERT_EQUAL(rp_la_sger(2, 3, 0.5f, x, 1, y, 1, A, 3), RP_OK);
    float want[6] = {6, 12, 18, -1, -5, -9};
    CU_ASSERT_EQUAL(memcmp(A, want, sizeof A), 0);
    CU_ASSERT_EQUAL(rp_la_sger(2, 3, 1.0f, x, 1, y, 1, A, 2), RP_ERR_INTERNAL); /* lda < n */
    CU_ASSERT_EQUAL(rp_la_sger(2, 3, 1.0f, x, 0, y, 1, A, 3), RP_ERR_INTERNAL);
    CU_ASSERT_EQUAL(memcmp(A, want, sizeof A), 0);
    /* C = A B^T, A 2 x 3 (the values above), B = A: C = A A^T. */
    float C[4] = {0};
    CU_ASSERT_EQUAL(rp_la_sgemm(0, 1, 2, 2, 3, 1.0f, A, 3, A, 3, 0.0f, C, 2), RP_OK);
    CU_ASSERT_EQUAL(C[0], 36.0f + 144.0f + 324.0f);
    CU_ASSERT_EQUAL(C[1], -6.0f - 60.0f - 162.0f);
    CU_ASSERT_EQUAL(C[1], C[2]);
    CU_ASSERT_EQUAL(rp_la_sgemm(0, 1, 2, 2, 3, 1.0f, A, 2, A, 3, 0.0f, C, 2), RP_ERR_INTERNAL);
    CU_ASSERT_EQUAL(rp_la_sgemm(1, 0, 3, 3, 2, 1.0f, A, 3, A, 3, 0.0f, C, 2), RP_ERR_INTERNAL);
}

int test_rp_mlp_register(void)
{
    RP_ADD_SUITE("rp_mlp", RP_T(forward_matches_loops), RP_T(input_gradient_check),
                 RP_T(backward_accumulates), RP_T(view_is_the_same_network), RP_T(relu_bits),
                 RP_T(la_sger_sgemm));
    return 0;
}
