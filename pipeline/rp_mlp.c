/* rp_mlp.c - small dense ReLU network, forward and backward by sgemm (rp-hybrid concat model). */
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

int rp_mlp_init(rp_mlp *m, int n_layers, const int *dims, uint64_t seed)
{
    int rc = RP_OK;
    memset(m, 0, sizeof *m);
    RP_REQUIRE(n_layers >= 1 && n_layers <= RP_MLP_MAX_LAYERS, RP_ERR_USAGE,
               "MLP needs 1..%d layers, got %d", RP_MLP_MAX_LAYERS, n_layers);
    for (int l = 0; l <= n_layers; l++)
        RP_REQUIRE(dims[l] >= 1 && dims[l] <= 65536, RP_ERR_USAGE, "MLP width %d out of range",
                   dims[l]);
    m->n_layers = n_layers;
    memcpy(m->dims, dims, (size_t)(n_layers + 1) * sizeof *dims);
    m->n_params = rp_mlp_w_offset(m, n_layers);
    RP_ALLOC(m->params = calloc((size_t)m->n_params, sizeof *m->params));
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
    free(m->params);
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
            /* Branch-free ReLU (exact: v + |v| is 2v or 0): signs are unpredictable. */
            for (int64_t x = 0; x < n * dn; x++) a[x] = 0.5f * (a[x] + fabsf(a[x]));
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

int rp_mlp_backward(const rp_mlp *m, const float *X, int64_t n, const float *work,
                    const float *dout, float *grad, float *scratch)
{
    int rc = RP_OK, ni = 0, maxd = 1;
    RP_CALL(rp_int_cast(n, &ni));
    for (int l = 0; l <= m->n_layers; l++) maxd = m->dims[l] > maxd ? m->dims[l] : maxd;
    float *delta = scratch, *prev = scratch + n * maxd;
    int dl = m->dims[m->n_layers];
    memcpy(delta, dout, (size_t)(n * dl) * sizeof *delta);
    for (int l = m->n_layers - 1; l >= 0; l--) {
        int di = m->dims[l], dn = m->dims[l + 1];
        const float *in = l == 0 ? X : work + act_offset(m, l, n);
        float *gW = grad + rp_mlp_w_offset(m, l), *gb = grad + rp_mlp_b_offset(m, l);
        /* dW = in^T delta, db = column sums of delta (fixed row order: deterministic). */
        RP_CALL(rp_la_sgemm(1, 0, di, dn, ni, 1.0f, in, di, delta, dn, 0.0f, gW, dn));
        for (int c = 0; c < dn; c++) gb[c] = 0.0f;
        for (int64_t r = 0; r < n; r++)
            for (int c = 0; c < dn; c++) gb[c] += delta[r * dn + c];
        if (l == 0) break;
        const float *W = m->params + rp_mlp_w_offset(m, l);
        /* delta_prev = (delta W^T) * relu'(in): in is the ReLU output, positive where active. */
        RP_CALL(rp_la_sgemm(0, 1, ni, di, dn, 1.0f, delta, dn, W, dn, 0.0f, prev, di));
        for (int64_t x = 0; x < n * di; x++) prev[x] = in[x] > 0.0f ? prev[x] : 0.0f;
        float *t = delta;
        delta = prev;
        prev = t;
    }
cleanup:
    return rc;
}
