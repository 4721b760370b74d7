/* twotower.h - private interface of rp-twotower: data-parallel two-tower model (user tower and
 * video tower MLPs over embeddings and numeric features, dot/cosine head) trained with Adam. */
#ifndef TWOTOWER_H
#define TWOTOWER_H

#include <mpi.h>
#include <stdint.h>

#include "rp_stage.h"

#define TT_MAX_LAYERS 8
#define TT_USER 0
#define TT_ITEM 1
#define TT_MAX_EMB 1024
#define TT_EMBED_CHUNK 1024

/* Command-line options (defaults in twotower_opts_default). */
typedef struct tt_opts {
    const char *shards, *features, *out, *checkpoint;
    int epochs, batch, micro_batch, dim, emb_dim, early_stop, user_id, item_id, resume;
    const char *hidden, *output, *loss;
    double lr, weight_decay, huber_delta;
    int64_t seed, interrupt_after; /* interrupt_after: test aid, 0 = never */
} tt_opts;

/* One side's features (user or item); rows are dense indices of shards.h5. */
typedef struct tt_side {
    int64_t n;
    int ncat;       /* categorical columns */
    int32_t *cat;   /* [n, ncat], value in [0, card[j]) (0 = missing has its own row) */
    int32_t *card;  /* [ncat] */
    char **cat_names;
    int nnum;
    float *num;     /* [n, nnum], standardised with num_mean/num_std */
    float *num_mean, *num_std;
    char **num_names;
    int tag_len;    /* 0: no tag bag */
    int32_t *tags;  /* [n, tag_len], tag + 1, 0 = pad */
    int64_t tag_rows; /* embedding rows of the bag table (values in [0, tag_rows)) */
} tt_side;

/* Interactions of one split as parallel arrays. */
typedef struct tt_split {
    int64_t n;
    int32_t *user, *item;
    float *value;
} tt_split;

typedef struct tt_data {
    int64_t n_users, n_items;
    tt_side side[2];
    tt_split train, valid;
    double train_mean;
    char inputs[1024]; /* lineage for rp_stage_stamp */
} tt_data;

/* One tower: embedding slots (id?, categoricals, tag bag) + numerics -> MLP (ReLU, linear out). */
typedef struct tt_tower {
    const tt_side *f;
    int use_id, nslots, nlayers;
    int dims[TT_MAX_LAYERS + 1];    /* dims[0] = input width, dims[nlayers] = output D */
    int64_t slot_base[64];          /* first embedding row of each slot's table */
    int64_t w_off[TT_MAX_LAYERS], b_off[TT_MAX_LAYERS]; /* into the dense vector */
} tt_tower;

typedef struct tt_model {
    int E, D, cosine, huber;
    float delta;
    tt_tower tw[2];
    int64_t n_dense, head_off;      /* dense = [user MLP | item MLP | scale, shift] */
    float *dense;
    int64_t n_rows;                 /* all embedding tables stacked: [n_rows, E] */
    float *emb;
} tt_model;

/* Forward/backward workspace for up to cap samples. */
typedef struct tt_ws {
    int cap;
    float *x[2], *h[2][TT_MAX_LAYERS], *g0, *g1, *nrm[2], *dout[2];
    double *pred, *s;
} tt_ws;

/* Gradient: dense vector plus a sparse row accumulator for the embedding tables. */
typedef struct tt_grad {
    float *dense;      /* [n_dense] */
    int32_t *slot;     /* [n_rows], -1 = untouched */
    int32_t *rows;     /* touched rows, in first-touch order */
    float *vals;       /* [cap_rows, E] */
    int64_t nrows, cap_rows;
} tt_grad;

/* twotower_opts.c */
void twotower_opts_default(tt_opts *o);
int twotower_parse_args(int argc, char **argv, tt_opts *o);

/* twotower_data.c - read and validate shards.h5 and features.h5 on every rank. Collective.
 * Returns RP_OK, RP_ERR_NOINPUT, RP_ERR_DATA, RP_ERR_IO. */
int twotower_read_inputs(MPI_Comm comm, const tt_opts *o, tt_data *d);
void twotower_data_clear(tt_data *d);

/* twotower_model.c */
/* twotower_model_init - layout and initial weights (pure function of the options, the feature
 * shapes and the seed: identical on every rank). Returns RP_OK, RP_ERR_USAGE, RP_ERR_NOMEM. */
int twotower_model_init(tt_model *m, const tt_opts *o, const tt_data *d);
void twotower_model_clear(tt_model *m);
int twotower_ws_init(tt_ws *ws, const tt_model *m, int cap);
void twotower_ws_clear(tt_ws *ws);
int twotower_grad_init(tt_grad *g, const tt_model *m, int cap);
void twotower_grad_clear(tt_grad *g);
/* twotower_tower_forward - tower t for rows[0..n): output in ws->h[t][nlayers-1] ([n, D]). */
void twotower_tower_forward(const tt_model *m, int t, const int32_t *rows, int n, tt_ws *ws);
/* twotower_predict - forward both towers and the head; ws->pred[i] = unclamped prediction. */
void twotower_predict(const tt_model *m, const int32_t *users, const int32_t *items, int n,
                      tt_ws *ws);
/* twotower_loss_grad - forward + backward for n samples; adds d(sum loss)/d(params) * inv_b
 * to g (dense and sparse). Returns the loss sum (unscaled); *sse, *sae get the squared and
 * absolute errors of the clamped predictions. */
double twotower_loss_grad(const tt_model *m, const int32_t *users, const int32_t *items,
                          const float *y, int n, float inv_b, tt_ws *ws, tt_grad *g,
                          double *sse, double *sae);
/* twotower_grad_reset - zero the dense gradient and forget touched rows. */
void twotower_grad_reset(tt_grad *g, const tt_model *m);
/* twotower_embed_rows - scores (unit-normalised for the cosine head, else raw) of rows
 * [r0, r0+n) of side t into score[n, D], raw tower outputs into raw (may be NULL), computed in
 * chunks of TT_EMBED_CHUNK rows from r0 (sgemm bits depend on the chunk, so callers use r0 = 0). */
int twotower_embed_rows(const tt_model *m, int t, int64_t r0, int64_t n, float *score,
                        float *raw);
/* twotower_embed_all - every row of side t: the model's tower outputs for prediction and
 * output, the same bits for any rank count. */
int twotower_embed_all(const tt_model *m, int t, float *score, float *raw);
/* twotower_pair_pred - the model's prediction from two score rows, exactly the /score
 * convention: clamp01(post(scale * dot + shift)), dot in double. */
double twotower_pair_pred(const tt_model *m, const float *su, const float *si);

/* twotower_train.c */
typedef struct tt_hist {
    int64_t n;
    int64_t *epoch;
    double *train_rmse, *train_mae, *valid_rmse, *valid_mae, *seconds;
} tt_hist;

typedef struct tt_train {
    tt_model m;
    float *best_dense, *best_emb;
    float *m_dense, *v_dense, *m_emb, *v_emb; /* Adam moments */
    int64_t t;                 /* Adam step */
    int64_t epoch, step;       /* next epoch to run, next step within it */
    double ep_sse, ep_sae, ep_n, ep_seconds; /* partial epoch (restored on resume) */
    int64_t best_epoch, bad_epochs;
    double best_mae;
    tt_hist hist;
    double bytes_dense, bytes_sparse, steps_done; /* traffic statistics of this run */
    double samples_done, train_seconds;
} tt_train;

/* twotower_train - train (or resume) until epochs, early stop or a signal. Collective.
 * Returns RP_OK, RP_ERR_INTERRUPTED (checkpoint written), or an error. */
int twotower_train(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_train *tr);
void twotower_train_clear(tt_train *tr);
/* twotower_evaluate - RMSE/MAE of clamped predictions on a split (even share per rank). */
int twotower_evaluate(MPI_Comm comm, const tt_model *m, const tt_split *s, double *rmse,
                      double *mae);

/* twotower_io.c */
/* Checkpoints carry the options that fix the bits and the inputs' hashes: a checkpoint from
 * other options or other data is refused (RP_ERR_USAGE) instead of silently resumed. */
int twotower_checkpoint_write(MPI_Comm comm, const tt_opts *o, const tt_data *d,
                              const tt_train *tr);
int twotower_checkpoint_read(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_train *tr);
/* twotower_checkpoint_remove - rank 0 deletes the checkpoint after a committed output. */
void twotower_checkpoint_remove(MPI_Comm comm, const tt_opts *o);
int twotower_write_output(const rp_stage *st, const tt_opts *o, const tt_data *d,
                          const tt_train *tr);
/* twotower_config_string - the options that fix the parameter layout (checked on resume). */
void twotower_config_string(const tt_opts *o, char *buf, size_t cap);

/* twotower_fixture.c - a planted synthetic problem in the shards.h5/features.h5 schema, for
 * tests and the benchmark: value = clamp01(0.5 + 0.3*A[ucat0][icat0] + 0.15*tag effect
 * + 0.1*(unum0 - 0.5) + noise). Collective (rank 0 generates and writes). */
typedef struct tt_fixture {
    int64_t n_users, n_items, train_per_user, valid_per_user;
    int n_ucat, n_unum, n_icat, n_inum, tag_len;
    int32_t ucard, icard, tag_card; /* cardinality of every categorical column, of tags */
    int with_tags;
    uint64_t seed;
    double noise;
} tt_fixture;
void twotower_fixture_default(tt_fixture *fx);
int twotower_fixture_write(MPI_Comm comm, const tt_fixture *fx, const char *shards,
                           const char *features);

#endif
