/* seqrec.h - private interface of rp-seqrec: a SASRec-style causal transformer over each user's
 * time-ordered views, trained data-parallel with MPI (fixed-point gradient sums), scored as a
 * final user state (/score dot form) and time-aware per test pair. */
#ifndef SEQREC_H
#define SEQREC_H

#include <mpi.h>
#include <stdint.h>

#include "rp_shards.h"
#include "rp_stage.h"
#include "rp_trainer.h"
#include "seqrec_model.h"

/* Users per evaluation chunk: windows are batched per chunk, so the GEMM shapes (and bits) do
 * not depend on the rank count. */
#define SR_EVAL_USERS 16

/* Command-line options: the common trainer options and the transformer's. */
typedef struct sr_opts {
    rp_train_opts train;
    int d, heads, blocks, ffn, window, buckets, windows_per_user, fallback, user_vec;
    double dropout;
    int64_t seed;
    const char *target;     /* "log" | "clipped" (seqrec_calib.c) */
    const char *init;       /* rp-als output whose fit starts the static part, or NULL */
    int freeze_init;        /* keep what --init set fixed during training */
    double log_min, log_max;
} sr_opts;

/* Every user's big-matrix history (train rows, then valid rows, in time order) and the test
 * pairs (CSR by user, as in shards.h5). */
typedef struct sr_data {
    int64_t n_users, n_items;
    int64_t *hoff;      /* [U+1] */
    int64_t *ntrain;    /* [U] train rows at the start of each history */
    int32_t *hitem;
    float *hval;
    uint8_t *hbucket;
    double *htime;      /* NaN: unknown */
    int64_t *toff;      /* [U+1] test rows */
    int32_t *titem;
    float *tval;
    double *ttime;
    int64_t n_train, n_valid, n_test;
    int32_t *author;    /* [I] author row or NULL */
    int64_t n_authors;
    int32_t *tags;      /* [I, tag_len] or NULL */
    int tag_len;
    int64_t tag_rows;
    double train_mean;  /* of the training target (log(wr) of the kept views: log target) */
    char inputs[2048];
    /* --target log (seqrec_calib.c): the loss reads hlog (log(wr), NaN = not a target), the
     * observed-value inputs stay hval; predictions on the normalised scale are the bias model
     * (cmu, cu, ci) plus gamma e^(b_u + b_i) (o . content). */
    int log_target;
    rp_log_range lr;
    float *hlog;        /* [history rows] */
    double cmu, *cu, *ci;
} sr_data;

typedef struct sr_train {
    sr_model m;
    float *best, *am, *av;            /* best weights, Adam moments */
    rp_trainer loop;                  /* epoch, step, best epoch, learning curve */
    double bytes_reduced;             /* traffic statistics of this run */
    double gamma, best_gamma;         /* log target: gain of the last / the best validation */
    int have_gamma;                   /* best_gamma is the best epoch's (not after a resume) */
    int k_init;                       /* --init: columns holding rp-als's factors */
} sr_train;

/* Scoring results written to seqrec.h5. */
typedef struct sr_scores {
    float *state;       /* [U, d] the transformer's final state of every user */
    float *user;        /* [U, d+2] /score/user: final state, user bias, 1 */
    float *item;        /* [I, d+2] content vector, 1, item bias */
    float *test_pred;   /* [n_test] clamped time-aware predictions */
    double shift;       /* /score shift (the model's mu, or the bias model's after a fallback) */
    double gamma;       /* log target: the gain of the written model (1: clipped target) */
    double valid_rmse, valid_mae, bias_valid_rmse;
    int beats_bias;
    char fallback[256];
} sr_scores;

/* seqrec_opts.c */
void seqrec_opts_default(sr_opts *o);
int seqrec_parse_args(int argc, char **argv, sr_opts *o);
void seqrec_config(const sr_opts *o, const sr_data *d, sr_config *c);
void seqrec_config_string(const sr_opts *o, char *buf, size_t cap);

/* seqrec_data.c - read shards.h5 and features.h5 on every rank. Collective. */
int seqrec_read_inputs(MPI_Comm comm, const sr_opts *o, sr_data *d);
void seqrec_data_clear(sr_data *d);

/* seqrec_infer.c */
/* seqrec_state_window - the window [*s, *s + *len) of user history (n rows) whose output at
 * index j is the user's state after views 0..j (j = n - 1: the last T views). */
void seqrec_state_window(int64_t j, int64_t n, int T, int64_t *s, int *len);
/* seqrec_predict_valid - time-aware predictions of every /valid row (state after the previous
 * view); RMSE and MAE of the clamped values (fixed-point sums: any rank count alike). */
int seqrec_eval_valid(MPI_Comm comm, const sr_model *m, const sr_data *d, double *rmse,
                      double *mae);
/* seqrec_eval_valid_gain - seqrec_eval_valid; with the log target the predictions are the
 * calibrated ones and *gamma (may be NULL) their gain, fitted on these rows. Collective. */
int seqrec_eval_valid_gain(MPI_Comm comm, const sr_model *m, const sr_data *d, double *rmse,
                           double *mae, double *gamma);
/* seqrec_score - final states, item vectors and the time-aware test predictions, replicated on
 * every rank; with the log target calibrated by gamma. Collective. */
int seqrec_score(MPI_Comm comm, const sr_model *m, const sr_data *d, double gamma,
                 sr_scores *sc);
void seqrec_scores_clear(sr_scores *sc);

/* seqrec_calib.c */
/* seqrec_log_setup - with --target log: the range (rp_shards_log_range), hlog of every history
 * row, the mean of the kept training views' log(wr) (train_mean) and the bias model's terms.
 * Called by seqrec_read_inputs. Collective. */
int seqrec_log_setup(MPI_Comm comm, const sr_opts *o, sr_data *d);
/* seqrec_interaction - e^(b_u + b_i) (state . content) of user u and item i. */
double seqrec_interaction(const sr_model *m, int32_t u, int32_t i, const float *state,
                          const float *content);
/* seqrec_base - the bias model's prediction of (u, i): cmu + cu[u] + ci[i]. */
double seqrec_base(const sr_data *d, int32_t u, int32_t i);

/* seqrec_init.c */
#define SR_FROZEN_MAX 3
/* seqrec_init_dim - with --init: raise o->d to the smallest multiple of --heads that holds the
 * ALS file's k (logged), so a default width never refuses a wider fit. Collective. */
int seqrec_init_dim(MPI_Comm comm, sr_opts *o);
/* seqrec_init_from_als - with --init: user vectors, video embeddings (first k columns), user
 * and video biases and mu from rp-als's log-target fit; author and tag rows 0. Collective. */
int seqrec_init_from_als(MPI_Comm comm, const sr_opts *o, const sr_data *d, sr_model *m,
                         int *k_init);
/* seqrec_frozen_fixup - --freeze-init: the first k columns of the author and tag rows back to
 * 0 after a step, so the static part (user vector . first k columns of content) stays rp-als's
 * fit and the side embeddings live in the other columns, where only the transformer's state
 * reads them. */
void seqrec_frozen_fixup(const sr_opts *o, sr_model *m, int k);
/* seqrec_frozen_ranges - parameter ranges [r[j][0], r[j][1]) Adam leaves alone (--init with
 * --freeze-init); *n of them. */
void seqrec_frozen_ranges(const sr_opts *o, const sr_model *m, int64_t r[SR_FROZEN_MAX][2],
                          int *n);

/* seqrec_train.c */
int seqrec_train(MPI_Comm comm, const sr_opts *o, const sr_data *d, sr_train *tr);
/* seqrec_final_gamma - the gain of the model as trained (its best epoch's; fitted again on
 * /valid after a resume; 1 with the clipped target). Collective. */
int seqrec_final_gamma(MPI_Comm comm, const sr_data *d, sr_train *tr, double *gamma);
void seqrec_train_clear(sr_train *tr);
/* seqrec_bind - attach the data's side information to a model. */
void seqrec_bind(sr_model *m, const sr_data *d);

/* seqrec_io.c */
/* seqrec_checkpoint - what the checkpoint holds (weights, Adam moments, best copy) and the
 * options (cfg, cap bytes, filled here) and inputs it must match on resume. */
void seqrec_checkpoint(const sr_opts *o, const sr_data *d, sr_train *tr, char *cfg, size_t cap,
                       rp_train_ckpt *ck);
/* seqrec_fallback - compare with the bias model on /valid and fall back to it when seqrec
 * does not beat it (contract 1). Collective. */
int seqrec_fallback(MPI_Comm comm, const sr_opts *o, const sr_data *d, const sr_train *tr,
                    sr_scores *sc);
int seqrec_write_output(const rp_stage *st, const sr_opts *o, const sr_data *d,
                        const sr_train *tr, const sr_scores *sc);
/* seqrec_fix_add - acc[q] += x[q] in rp_fixed.h's fixed point (units of 2^-40), q < n: rounded
 * to nearest (not truncated as rp_fix_of), clamped to +-2^51 units (|x| <= 2048), NaN -> 0.
 * Pure; the same integer for an entry wherever it sits in x. */
void seqrec_fix_add(int64_t *acc, const float *x, int64_t n);

#endif
