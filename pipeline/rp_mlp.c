/* rp_mlp.c - the dense-layer engine: a small ReLU network, forward and backward by sgemm through
 * rp_la (rp-hybrid concat model, rp-twotower towers). */
#include "rp_mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_la.h"
#include "rp_mpi.h"
#include "rp_rng.h"

int64_t rp_mlp_w_offset(const rp_mlp *m, int l)
{
    int64_t off = 0;
    for (int j = 0; j < l; j++) off += (int64_t)m->dims[j] * m->dims[j + 1] + m->dims[j + 1];
    return off;
}

int64_t rp_mlp_b_offset(const rp_mlp *m, int l)
{
    return rp_mlp_w_offset(m, l) + (int64_t)m->dims[l] * m->dims[l + 1];
}

/* The shapes rp_mlp_init and rp_mlp_view accept. */
static int check_shape(int n_layers, const int *dims)
{
    int rc = RP_OK;
    RP_REQUIRE(n_layers >= 1 && n_layers <= RP_MLP_MAX_LAYERS, RP_ERR_USAGE,
               "MLP needs 1..%d layers, got %d", RP_MLP_MAX_LAYERS, n_layers);
    for (int l = 0; l <= n_layers; l++)
        RP_REQUIRE(dims[l] >= 1 && dims[l] <= 65536, RP_ERR_USAGE, "MLP width %d out of range",
                   dims[l]);
cleanup:
    return rc;
}

int rp_mlp_view(rp_mlp *m, int n_layers, const int *dims, float *params)
{
    memset(m, 0, sizeof *m);
    int rc = check_shape(n_layers, dims);
    if (rc != RP_OK) return rc;
    m->n_layers = n_layers;
    memcpy(m->dims, dims, (size_t)(n_layers + 1) * sizeof *dims);
    m->n_params = rp_mlp_w_offset(m, n_layers);
    m->params = params;
    return RP_OK;
}

int rp_mlp_init(rp_mlp *m, int n_layers, const int *dims, uint64_t seed)
{
    int rc = RP_OK;
    RP_CALL(rp_mlp_view(m, n_layers, dims, NULL));
    RP_ALLOC(m->params = calloc((size_t)m->n_params, sizeof *m->params));
    m->owns = 1;
    uint64_t stream = rp_rng_stream("mlp.init");
    for (int l = 0; l < n_layers; l++) {
        /* He initialisation keeps ReLU activations at unit scale whatever the width. */
        double sd = sqrt(2.0 / dims[l]);
        int64_t w0 = rp_mlp_w_offset(m, l), nw = (int64_t)dims[l] * dims[l + 1];
        for (int64_t x = 0; x < nw; x++)
            m->params[w0 + x] = (float)(sd * rp_rng_normal(seed, stream, (uint64_t)(w0 + x)));
    }
cleanup:
    if (rc != RP_OK) rp_mlp_clear(m);
    return rc;
}

void rp_mlp_clear(rp_mlp *m)
{
    if (m == NULL) return;
    if (m->owns) free(m->params);
    memset(m, 0, sizeof *m);
}

int64_t rp_mlp_work_size(const rp_mlp *m, int64_t n)
{
    int64_t s = 0;
    for (int l = 1; l <= m->n_layers; l++) s += n * m->dims[l];
    return s > 0 ? s : 1;
}

/* Offset in work of layer l's output (l = 1 .. n_layers). */
static int64_t act_offset(const rp_mlp *m, int l, int64_t n)
{
    int64_t s = 0;
    for (int j = 1; j < l; j++) s += n * m->dims[j];
    return s;
}

int rp_mlp_forward_from(const rp_mlp *m, int l0, const float *X, int64_t n, float *work,
                        float *out)
{
    int rc = RP_OK, ni = 0;
    const float *in = X;
    RP_CALL(rp_int_cast(n, &ni));
    for (int l = l0; l < m->n_layers; l++) {
        int di = m->dims[l], dn = m->dims[l + 1];
        float *a = work + act_offset(m, l + 1, n);
        const float *W = m->params + rp_mlp_w_offset(m, l), *b = m->params + rp_mlp_b_offset(m, l);
        for (int64_t r = 0; r < n; r++) memcpy(a + r * dn, b, (size_t)dn * sizeof *a);
        if (n > 0) RP_CALL(rp_la_sgemm(0, 0, ni, dn, di, 1.0f, in, di, W, dn, 1.0f, a, dn));
        if (l + 1 < m->n_layers)
            for (int64_t x = 0; x < n * dn; x++) a[x] = rp_mlp_relu(a[x]);
        in = a;
    }
    int dl = m->dims[m->n_layers];
    if (out != NULL && in != out) memcpy(out, in, (size_t)(n * dl) * sizeof *out);
cleanup:
    return rc;
}

int rp_mlp_forward(const rp_mlp *m, const float *X, int64_t n, float *work, float *out)
{
    return rp_mlp_forward_from(m, 0, X, n, work, out);
}

static int max_width(const rp_mlp *m)
{
    int maxd = 1;
    for (int l = 0; l <= m->n_layers; l++) maxd = m->dims[l] > maxd ? m->dims[l] : maxd;
    return maxd;
}

int64_t rp_mlp_scratch_size(const rp_mlp *m, int64_t n)
{
    int64_t s = 2 * n * max_width(m);
    return s > 0 ? s : 1;
}

/* g if the ReLU output a was positive (a is +0 or positive after rp_mlp_relu), else +0: on the
 * bits, branch-free like the ReLU itself. */
static inline float relu_mask(float g, float a)
{
    uint32_t ug, ua;
    memcpy(&ug, &g, sizeof ug);
    memcpy(&ua, &a, sizeof ua);
    ug &= -(uint32_t)(ua != 0);
    memcpy(&g, &ug, sizeof g);
    return g;
}

/* dW (+)= in^T delta, db (+)= column sums of delta in row order (deterministic). */
static int layer_param_grad(const rp_mlp *m, int l, const float *in, int ni, const float *delta,
                            const rp_mlp_grads *g)
{
    int rc = RP_OK, di = m->dims[l], dn = m->dims[l + 1];
    float *gW = g->params + rp_mlp_w_offset(m, l), *gb = g->params + rp_mlp_b_offset(m, l);
    RP_CALL(rp_la_sgemm(1, 0, di, dn, ni, 1.0f, in, di, delta, dn, g->accumulate ? 1.0f : 0.0f,
                        gW, dn));
    if (!g->accumulate)
        for (int c = 0; c < dn; c++) gb[c] = 0.0f;
    for (int64_t r = 0; r < ni; r++)
        for (int c = 0; c < dn; c++) gb[c] += delta[r * dn + c];
cleanup:
    return rc;
}

int rp_mlp_backward(const rp_mlp *m, const float *X, int64_t n, const float *work,
                    const float *dout, const rp_mlp_grads *g, float *scratch)
{
    int rc = RP_OK, ni = 0;
    RP_CALL(rp_int_cast(n, &ni));
    float *delta = scratch, *prev = scratch + n * max_width(m);
    int dl = m->dims[m->n_layers];
    memcpy(delta, dout, (size_t)(n * dl) * sizeof *delta);
    for (int l = m->n_layers - 1; l >= 0; l--) {
        int di = m->dims[l], dn = m->dims[l + 1];
        const float *in = l == 0 ? X : work + act_offset(m, l, n);
        RP_CALL(layer_param_grad(m, l, in, ni, delta, g));
        if (l == 0 && g->dX == NULL) break;
        /* delta_prev = (delta W^T) * relu'(in): in is the ReLU output, nonzero where active;
         * below layer 0 it is the input's gradient, no ReLU. */
        float *dst = l == 0 ? g->dX : prev;
        const float *W = m->params + rp_mlp_w_offset(m, l);
        RP_CALL(rp_la_sgemm(0, 1, ni, di, dn, 1.0f, delta, dn, W, dn, 0.0f, dst, di));
        if (l == 0) break;
        for (int64_t x = 0; x < n * di; x++) prev[x] = relu_mask(prev[x], in[x]);
        float *t = delta;
        delta = prev;
        prev = t;
    }
cleanup:
    return rc;
}
