/* rp_mlp.h - a small fully connected network (ReLU hidden layers, linear output) in flat float
 * storage: forward and backward by sgemm over row batches. Used to score and train the hybrid
 * "concat" model (rp_model_hybrid.c, rp-hybrid); usable by any stage that needs a dense MLP. */
#ifndef RP_MLP_H
#define RP_MLP_H

#include <stdint.h>

#define RP_MLP_MAX_LAYERS 8

/* Parameters of layer l (l < n_layers): W_l [dims[l], dims[l+1]] row-major, then b_l
 * [dims[l+1]], layers one after the other in params. Hidden layers use ReLU, the last none. */
typedef struct rp_mlp {
    int n_layers;
    int dims[RP_MLP_MAX_LAYERS + 1];
    int64_t n_params;
    float *params;
} rp_mlp;

/* rp_mlp_init - allocate for dims[0..n_layers] and draw He-normal weights (zero biases) keyed by
 * (seed, "mlp.init", parameter index): identical on every rank. Out: *m (rp_mlp_clear).
 * Returns RP_OK, RP_ERR_USAGE (bad shape), RP_ERR_NOMEM. Local. */
int rp_mlp_init(rp_mlp *m, int n_layers, const int *dims, uint64_t seed);
/* rp_mlp_clear - free params (accepts a zeroed struct). */
void rp_mlp_clear(rp_mlp *m);
int64_t rp_mlp_w_offset(const rp_mlp *m, int l);
int64_t rp_mlp_b_offset(const rp_mlp *m, int l);

/* rp_mlp_work_size - floats of work space for n rows (every layer's activations). */
int64_t rp_mlp_work_size(const rp_mlp *m, int64_t n);

/* rp_mlp_forward_from - run layers l0 .. n_layers-1 on X [n, dims[l0]] (for l0 > 0, X is the
 * already activated input of layer l0). work: rp_mlp_work_size floats; on return it holds every
 * layer's activated output (the last one is also copied to out [n, dims[n_layers]]).
 * Deterministic for a given n and input. Local. Returns RP_OK, or RP_ERR_INTERNAL (a layer's
 * dimensions rp_la refuses, e.g. n above INT_MAX). */
int rp_mlp_forward_from(const rp_mlp *m, int l0, const float *X, int64_t n, float *work,
                        float *out);
int rp_mlp_forward(const rp_mlp *m, const float *X, int64_t n, float *work, float *out);

/* rp_mlp_backward - gradient of sum_r dout[r] . out[r] with respect to the parameters, after
 * rp_mlp_forward(m, X, n, work, ...). Writes (not accumulates) grad [n_params]; dout
 * [n, dims[n_layers]]; scratch: 2 * n * max(dims) floats. Local. Returns as rp_mlp_forward. */
int rp_mlp_backward(const rp_mlp *m, const float *X, int64_t n, const float *work,
                    const float *dout, float *grad, float *scratch);

#endif
