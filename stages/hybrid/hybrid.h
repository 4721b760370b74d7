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

/* Components, in this order: als, twotower, seqrec (only with --seqrec), bias. The learned ones
 * (all but the bias) give the concat MLP their embedding rows; all of them give predictions. */
#define HYB_MAXCOMP 4
#define HYB_MAX_FOLDS 16

typedef struct hyb_opts {
    const char *shards, *als, *twotower, *seqrec, *features, *out;
    const char *deflt;  /* auto|blend|concat */
    const char *hidden; /* "32" or "64,32" */
    const char *ridge;  /* "auto" (k-fold choice from a grid) or one number */
    const char *checkpoint; /* concat training checkpoint (NULL: none; CLI default <out>.ckpt) */
    int resume;
    char ckpt_default[4096];
    double lr, bias_reg;
    int epochs, batch, patience, folds;
    int64_t seed, epoch_samples;
} hyb_opts;

/* A list of (user, item, target) pairs. */
typedef struct hyb_pairs {
    int64_t n;
    int32_t *u, *i;
    float *y;
} hyb_pairs;

/* The blend's fit. All RMSEs are over the whole validation split unless named cv/fold. */
typedef struct hyb_blend {
    double w[HYB_MAXCOMP + 1];     /* intercept, then one weight per component */
    double ridge;                  /* the ridge used (relative to each input's variance) */
    double w_fold0[HYB_MAXCOMP + 1]; /* the same ridge fitted without fold 0 (no fallback) */
    int n_grid;                    /* ridges tried (1 when given) */
    double grid[16], grid_cv_rmse[16];
    double rmse;                   /* final weights (fitted on all validation pairs) */
    double cv_rmse;                /* out-of-fold: each fold scored by a fit without it */
    double fold0_rmse;             /* out-of-fold RMSE on fold 0 (the concat's held-out fold) */
    double input_rmse[HYB_MAXCOMP], input_fold0_rmse[HYB_MAXCOMP];
    int fallback;                  /* -1, or the component the blend fell back to */
} hyb_blend;

typedef struct hyb_concat_result {
    rp_mlp mlp;            /* best weights (early stopping; epoch 0 = the offset alone) */
    double offset_w[HYB_MAXCOMP + 1]; /* the logit offset's blend weights (w_fold0) */
    float *umean, *uscale, *imean, *iscale;
    float *Fu, *Fi;        /* standardised embedding rows [n_users, du], [n_items, di] */
    int64_t du, di;
    double valid_rmse;     /* best held-out (fold 0) RMSE: selects the epoch */
    int64_t train_rows, heldout_rows; /* validation pairs outside / inside fold 0 */
    int epochs_run, best_epoch;
    double *hist_train, *hist_valid; /* [epochs_run] */
} hyb_concat_result;

typedef struct hyb_state {
    int64_t n_users, n_items;
    char inputs[4096];
    int n_comp, n_embed;         /* components; the first n_embed give embedding rows */
    const char *names[HYB_MAXCOMP];
    rp_model *comp[HYB_MAXCOMP]; /* dot-form components */
    hyb_pairs valid;             /* this rank's block of users' validation pairs (file order) */
    uint8_t *fold;               /* [valid.n] fold of each pair's user */
    int64_t n_valid_global;
    hyb_blend blend;
    hyb_concat_result concat;
    double concat_rmse;          /* concat (as written) over all validation pairs */
    double bias_fold0_rmse;      /* bias input on fold 0 */
    int concat_fallback;         /* -1, or the component the concat variant fell back to */
    char deflt[16];
} hyb_state;

void hyb_pairs_clear(hyb_pairs *p);
void hyb_concat_result_clear(hyb_concat_result *r);
void hyb_state_clear(hyb_state *st);

/* hyb_read_pairs - pairs of split ("/train", "/valid") of an open shards file: every pair when
 * replicated, else the pairs of this rank's block of whole users (contiguous, balanced by pairs:
 * rank order is file order). Checks indices and targets in [0, 1]. Collective.
 * Returns RP_OK, RP_ERR_DATA (message names the file). */
int hyb_read_pairs(MPI_Comm comm, hid_t f, const char *path, const char *split, int replicated,
                   int64_t n_users, int64_t n_items, hyb_pairs *p);

/* hyb_fold_of - the validation fold (0 .. nfolds-1) of a user: a hash of (seed, user), so all
 * of a user's pairs share a fold and the split does not depend on the rank count. Pure. */
int hyb_fold_of(int64_t user, uint64_t seed, int nfolds);

/* hyb_exact_sum - sum over ranks of n per-rank double vectors whose entries are sums of terms
 * each quantised with hyb_fixed: exact integer arithmetic, so the result does not depend on the
 * rank count. Collective. */
int64_t hyb_fixed(double x);
int hyb_exact_sum(MPI_Comm comm, int64_t *acc, int n, double *out);

/* hyb_blend_fit - ridge regression of y on [1, p_0 .. p_{k-1}] with centred inputs: the
 * intercept is free (not shrunk) and the ridge shrinks each slope by ridge times its input's
 * variance (so it means the same whatever the inputs' scale and offset). ridge < 0 chooses it
 * from a grid by k-fold cross-validation over the folds fold[x] (0 .. nfolds-1, whole users);
 * the final weights are fitted on every pair. If the blend loses to its best input, in-sample
 * or out-of-fold, the weights become that input alone (out->fallback = its index, else -1).
 * p[c][x], y[x], fold[x]: x < n, this rank's pairs (any partition of the pairs over ranks
 * gives the same bits). Collective. Returns RP_OK, RP_ERR_DATA (no validation pairs),
 * RP_ERR_INTERNAL (bad k, singular system). */
int hyb_blend_fit(MPI_Comm comm, int k, float *const *p, const float *y, const uint8_t *fold,
                  int64_t n, int nfolds, double ridge, hyb_blend *out);

/* hyb_blend_predict - clamp01(w0 + sum_c w_c p_c[x]). Local. */
void hyb_blend_predict(int k, const double *w, float *const *p, int64_t n, float *out);

/* hyb_parse_ridge - "auto" -> -1, else a number in [0, 1e6]. Returns RP_OK or RP_ERR_USAGE. */
int hyb_parse_ridge(const char *s, double *ridge);

/* hyb_parse_hidden - "64,32" -> widths. Returns RP_OK or RP_ERR_USAGE. */
int hyb_parse_hidden(const char *s, int *widths, int *n, int max);

/* hyb_concat_train - train the concat MLP on held-out predictions: pairs are this rank's part
 * of the validation split (hyb_read_pairs blocks: contiguous in file order, rank order; its
 * inputs, the k components, were fitted on the train split), the rows with fold[x] != 0 are the
 * training rows and fold 0 the early-stopping rows. Each epoch, every rank fetches from their
 * owners only the training rows of the chunks it computes.
 * Inputs: the embedding rows of comp[0 .. n_embed) and the predictions of comp[0 .. k).
 * Output: sigmoid(logit(offset) + MLP), offset = clamp(offset_w . [1, p]) (offset_w [k+1], a blend
 * fitted without fold 0; NULL = no offset). The last layer starts at zero, so training starts
 * from the offset, and epoch 0 (the offset alone) competes in the early stopping. Adam, data-parallel: the chunks of every global batch are spread over ranks and their
 * gradients combined in chunk order after one MPI_Allreduce, so every replica and the result
 * are identical for any rank count. Collective.
 * Returns RP_OK, RP_ERR_USAGE, RP_ERR_DATA (no training or held-out rows),
 * RP_ERR_INTERRUPTED (signal at an epoch boundary), ... */
int hyb_concat_train(MPI_Comm comm, const hyb_opts *o, int k, int n_embed, rp_model *const *comp,
                     const double *offset_w, const hyb_pairs *pairs, const uint8_t *fold,
                     hyb_concat_result *res);

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
/* hyb_open_inputs - shards (validation pairs and folds, bias baseline), the ALS, two-tower and
 * (optional) seqrec models, lineage hashes.
 * Collective. Returns RP_OK, RP_ERR_NOINPUT, RP_ERR_DATA, RP_ERR_IO. */
int hyb_open_inputs(MPI_Comm comm, const hyb_opts *o, hyb_state *st);
/* hyb_fuse - fit the blend, train the concat MLP, apply the fallbacks, pick the default (the
 * lower RMSE on the held-out fold 0, where neither variant was fitted). Collective. */
int hyb_fuse(MPI_Comm comm, const hyb_opts *o, hyb_state *st);

/* hyb_write - write hybrid.h5 atomically. Collective. */
int hyb_write(const rp_stage *stg, const hyb_opts *o, const hyb_state *st);

#endif
