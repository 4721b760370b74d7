/* rp_mlp.h - the one dense-layer engine: a small fully connected network (ReLU hidden layers,
 * linear output) in flat float storage, forward and backward by sgemm (rp_la) over row
 * batches. Used by the hybrid "concat" model (rp_model_hybrid.c, rp-hybrid) and by rp-twotower's
 * towers (as views over slices of its parameter and gradient vectors). */
#ifndef RP_MLP_H
#define RP_MLP_H

#include <stdint.h>
#include <string.h>

#define RP_MLP_MAX_LAYERS 8

/* Parameters of layer l (l < n_layers): W_l [dims[l], dims[l+1]] row-major, then b_l
 * [dims[l+1]], layers one after the other in params. Hidden layers use ReLU, the last none. */
typedef struct rp_mlp {
    int n_layers;
    int dims[RP_MLP_MAX_LAYERS + 1];
    int64_t n_params;
    float *params;
    int owns; /* 1: params allocated by rp_mlp_init; 0: a view (rp_mlp_view), the caller's */
} rp_mlp;

/* What rp_mlp_backward computes. */
typedef struct rp_mlp_grads {
    float *params;  /* [n_params] parameter gradient, in the layout of rp_mlp.params */
    int accumulate; /* 0: write params; 1: add this batch to what params holds (a caller summing
                     * micro-batches, as rp-twotower before its fixed-point reduction) */
    float *dX;      /* [n, dims[0]] gradient of the input rows, or NULL (not wanted) */
} rp_mlp_grads;

/* rp_mlp_init - allocate for dims[0..n_layers] and draw He-normal weights (zero biases) keyed by
 * (seed, "mlp.init", parameter index): identical on every rank. Out: *m (rp_mlp_clear).
 * Returns RP_OK, RP_ERR_USAGE (bad shape), RP_ERR_NOMEM. Local. */
int rp_mlp_init(rp_mlp *m, int n_layers, const int *dims, uint64_t seed);
/* rp_mlp_view - *m describes the network of shape dims[0..n_layers] whose parameters are
 * params (borrowed, e.g. a slice of a larger parameter vector; n_params floats in the layout
 * above). Nothing is allocated; rp_mlp_clear on a view frees nothing. Returns RP_OK or
 * RP_ERR_USAGE (bad shape; *m zeroed). Local. */
int rp_mlp_view(rp_mlp *m, int n_layers, const int *dims, float *params);
/* rp_mlp_clear - free params if owned (accepts a zeroed struct). */
void rp_mlp_clear(rp_mlp *m);
int64_t rp_mlp_w_offset(const rp_mlp *m, int l);
int64_t rp_mlp_b_offset(const rp_mlp *m, int l);

/* rp_mlp_relu - max(x, 0) on the bits: a set sign bit (negative, -0, -NaN) gives +0. Branch-free
 * because the signs are random and a mispredicted branch per activation costs more than the
 * sgemm work per row. */
static inline float rp_mlp_relu(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u &= ~(uint32_t)((int32_t)u >> 31);
    memcpy(&x, &u, sizeof x);
    return x;
}

/* rp_mlp_work_size - floats of work space for n rows (every layer's activations). */
int64_t rp_mlp_work_size(const rp_mlp *m, int64_t n);
/* rp_mlp_scratch_size - floats of scratch rp_mlp_backward needs for n rows. */
int64_t rp_mlp_scratch_size(const rp_mlp *m, int64_t n);

/* rp_mlp_forward_from - run layers l0 .. n_layers-1 on X [n, dims[l0]] (for l0 > 0, X is the
 * already activated input of layer l0). work: rp_mlp_work_size floats; on return it holds every
 * layer's activated output (the last one is also copied to out [n, dims[n_layers]], if not
 * NULL). Deterministic for a given n and input. Local. Returns RP_OK, or RP_ERR_INTERNAL (a
 * layer's dimensions rp_la refuses, e.g. n above INT_MAX). */
int rp_mlp_forward_from(const rp_mlp *m, int l0, const float *X, int64_t n, float *work,
                        float *out);
int rp_mlp_forward(const rp_mlp *m, const float *X, int64_t n, float *work, float *out);

/* rp_mlp_backward - gradients of sum_r dout[r] . out[r] after rp_mlp_forward(m, X, n, work,
 * ...): the parameters' into g->params (written or accumulated, see rp_mlp_grads), the input's
 * into g->dX when wanted. dout [n, dims[n_layers]]; scratch: rp_mlp_scratch_size floats. Bias
 * gradients are column sums in row order: deterministic. Local. Returns as rp_mlp_forward. */
int rp_mlp_backward(const rp_mlp *m, const float *X, int64_t n, const float *work,
                    const float *dout, const rp_mlp_grads *g, float *scratch);

#endif
