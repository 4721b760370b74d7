/* hybrid.h - rp-hybrid's modules: validation/train pairs, the ridge blend, the concat MLP
 * trainer and the hybrid.h5 writer. */
#ifndef HYBRID_H
#define HYBRID_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "rp_mlp.h"
#include "rp_model.h"
#include "rp_stage.h"

#define HYB_NCOMP 3 /* als, twotower, bias (blend inputs, in this order) */

typedef struct hyb_opts {
    const char *shards, *als, *twotower, *features, *out;
    const char *deflt;  /* auto|blend|concat */
    const char *hidden; /* "32" or "64,32" */
    const char *checkpoint; /* concat training checkpoint (NULL: none; CLI default <out>.ckpt) */
    int resume;
    char ckpt_default[4096];
    double ridge, lr, bias_reg;
    int epochs, batch, patience;
    int64_t seed, epoch_samples;
} hyb_opts;

/* A list of (user, item, target) pairs. */
typedef struct hyb_pairs {
    int64_t n;
    int32_t *u, *i;
    float *y;
} hyb_pairs;

typedef struct hyb_concat_result {
    rp_mlp mlp;            /* best weights (early stopping) */
    float *umean, *uscale, *imean, *iscale;
    int64_t du, di;
    double valid_rmse;
    int epochs_run, best_epoch;
    double *hist_train, *hist_valid; /* [epochs_run] */
} hyb_concat_result;

typedef struct hyb_state {
    int64_t n_users, n_items;
    char inputs[4096];
    hyb_pairs train;             /* every train pair, replicated (concat training) */
    hyb_pairs valid;             /* this rank's block of validation pairs */
    int64_t n_valid_global;
    rp_model *comp[HYB_NCOMP];   /* dot-form components */
    double w[HYB_NCOMP + 1];     /* blend: intercept, then one weight per component */
    double blend_rmse, input_rmse[HYB_NCOMP];
    int fallback;                /* -1, or the component the blend fell back to */
    hyb_concat_result concat;
    char deflt[16];
} hyb_state;

extern const char *const hyb_comp_names[HYB_NCOMP];

void hyb_pairs_clear(hyb_pairs *p);
void hyb_concat_result_clear(hyb_concat_result *r);
void hyb_state_clear(hyb_state *st);

/* hyb_read_pairs - pairs of split ("/train", "/valid") of an open shards file: every pair when
 * replicated, else the pairs of this rank's even block of users. Checks indices and targets in
 * [0, 1]. Collective. Returns RP_OK, RP_ERR_DATA (message names the file). */
int hyb_read_pairs(MPI_Comm comm, hid_t f, const char *path, const char *split, int replicated,
                   int64_t n_users, int64_t n_items, hyb_pairs *p);

/* hyb_exact_sum - sum over ranks of n per-rank double vectors whose entries are sums of terms
 * each quantised with hyb_fixed: exact integer arithmetic, so the result does not depend on the
 * rank count. Collective. */
int64_t hyb_fixed(double x);
int hyb_exact_sum(MPI_Comm comm, int64_t *acc, int n, double *out);

/* hyb_blend_fit - ridge regression of y on [1, p_0 .. p_{k-1}] over every rank's pairs (normal
 * equations divided by the pair count, ridge on the slopes only), then the validation RMSE of
 * the blend and of each input. If the blend is worse than the best input the weights become
 * that input alone (*fallback = its index, else -1): the blend is never worse on these pairs.
 * p[c][x], y[x]: x < n local pairs. Out: w [k+1], *rmse, rmse_in [k]. Collective.
 * Returns RP_OK, RP_ERR_DATA (no validation pairs), RP_ERR_INTERNAL (singular system). */
int hyb_blend_fit(MPI_Comm comm, int k, float *const *p, const float *y, int64_t n, double ridge,
                  double *w, double *rmse, double *rmse_in, int *fallback);

/* hyb_blend_predict - clamp01(w0 + sum_c w_c p_c[x]). Local. */
void hyb_blend_predict(int k, const double *w, float *const *p, int64_t n, float *out);

/* hyb_parse_hidden - "64,32" -> widths. Returns RP_OK or RP_ERR_USAGE. */
int hyb_parse_hidden(const char *s, int *widths, int *n, int max);

/* hyb_concat_train - train the concat MLP (Adam, data-parallel: the chunks of every global
 * batch are spread over ranks and their gradients combined in chunk order after one
 * MPI_Allreduce, so every replica and the result are identical for any rank count), early
 * stopping on the validation RMSE. als/tt: dot-form components. Collective.
 * Returns RP_OK, RP_ERR_USAGE, RP_ERR_INTERRUPTED (signal at an epoch boundary), ... */
int hyb_concat_train(MPI_Comm comm, const hyb_opts *o, rp_model *als, rp_model *tt,
                     const hyb_pairs *train, const hyb_pairs *valid, hyb_concat_result *res);

/* hyb_rmse - RMSE of model m over every rank's pairs (rank-count independent). Collective. */
int hyb_rmse(MPI_Comm comm, const rp_model *m, const hyb_pairs *p, double *rmse);

/* Concat training state at an epoch boundary (identical on every rank). Arrays are borrowed
 * when writing, allocated by hyb_ckpt_read (hyb_ckpt_clear). */
typedef struct hyb_ckpt {
    char fingerprint[512]; /* parameters and input sizes the state belongs to */
    int64_t epoch, step, bad, best_epoch, n_params;
    double best_rmse;
    float *params, *m1, *m2, *best; /* [n_params] */
    double *hist_train, *hist_valid; /* [epoch] */
} hyb_ckpt;

void hyb_ckpt_clear(hyb_ckpt *c);
/* hyb_ckpt_write - write c atomically to path (".partial" + rename). Collective. */
int hyb_ckpt_write(MPI_Comm comm, const char *path, const hyb_ckpt *c);
/* hyb_ckpt_read - read path into c if it exists (*found = 1) and check its fingerprint equals
 * want (else RP_ERR_DATA: "written with other parameters"). Collective. */
int hyb_ckpt_read(MPI_Comm comm, const char *path, const char *want, hyb_ckpt *c, int *found);

/* hyb_parse - command line (every rank parses alike). Returns RP_OK, RP_HELP, RP_ERR_USAGE. */
int hyb_parse(int argc, char **argv, hyb_opts *o);
/* hyb_open_inputs - shards (pairs, bias baseline), ALS and two-tower models, lineage hashes.
 * Collective. Returns RP_OK, RP_ERR_NOINPUT, RP_ERR_DATA, RP_ERR_IO. */
int hyb_open_inputs(MPI_Comm comm, const hyb_opts *o, hyb_state *st);
/* hyb_fuse - fit the blend, train the concat MLP, pick the default. Collective. */
int hyb_fuse(MPI_Comm comm, const hyb_opts *o, hyb_state *st);

/* hyb_write - write hybrid.h5 atomically. Collective. */
int hyb_write(const rp_stage *stg, const hyb_opts *o, const hyb_state *st);

#endif
