/* twotower.h - private interface of rp-twotower: data-parallel two-tower model (user tower and
 * video tower: id vector plus an MLP over feature embeddings and numerics, per-user and
 * per-video biases, dot/sigmoid/cosine head) trained with Adam. */
#ifndef TWOTOWER_H
#define TWOTOWER_H

#include <mpi.h>
#include <stdint.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "rp_mlp.h"
#include "rp_shards.h"
#include "rp_stage.h"
#include "rp_trainer.h"

#define TT_MAX_LAYERS RP_MLP_MAX_LAYERS
#define TT_USER 0
#define TT_ITEM 1
#define TT_MAX_EMB 1024
#define TT_EMBED_CHUNK 1024
/* MPI tags of the embedding rows' point-to-point exchanges in a step (twotower_sparse.c) */
#define TT_TAG_REDUCE 7101
#define TT_TAG_SHARE 7102

/* Heads: pred = a*s + c + b_u + b_i with s = u.v (dot: a fixed at 1, not learned) or
 * cos(u, v); sigmoid: pred = sigmoid(a*u.v + c + b_u + b_i). */
enum { TT_HEAD_DOT = 0, TT_HEAD_SIGMOID = 1, TT_HEAD_COSINE = 2 };

/* Command-line options (defaults in twotower_opts_default): the common trainer options and
 * the model's. */
typedef struct tt_opts {
    rp_train_opts train;
    int dim, emb_dim, user_id, item_id;
    int bias;                       /* per-user and per-video bias terms */
    int bias_init;                  /* start them at the bias model's */
    const char *hidden, *head, *loss;
    const char *id_path;            /* "add": u = id vector + MLP(features); "mlp": id = input */
    const char *select;             /* best epoch by "rmse" or "mae" */
    double weight_decay, emb_weight_decay, huber_delta;
    double row_l2;                  /* Gaussian prior per embedding row (twotower_row_prior) */
    int row_l2_features;            /* also on the feature tables, not only the ids */
    int64_t seed;
    const char *target;             /* "log" | "clipped" (twotower_calib.c) */
    double log_min, log_max;        /* log target: train pairs with log_min <= wr < log_max */
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
    double train_mean; /* of the training target (log(wr) of the kept pairs: log target) */
    char inputs[1024]; /* lineage for rp_stage_stamp */
    /* --target log (twotower_calib.c): train holds log(wr) of the pairs with lr.lo <= wr <
     * lr.hi; valid stays normalised and is predicted as the bias model (cmu, cu, ci) plus
     * gamma exp(b_u + b_i) (u . v). */
    int log_target;
    rp_log_range lr;    /* the scaling of shards.h5 and the kept watch ratios [lo, hi) */
    int64_t train_all;  /* train pairs before the filter */
    double cmu, *cu, *ci;
} tt_data;

/* One tower: embedding slots (id if id_path mlp, categoricals, tag bag) + numerics -> MLP (ReLU,
 * linear out), plus the row's id block: id_span embedding rows per id holding [id vector (D,
 * id_path add) | bias (if bias) | zero padding]. */
typedef struct tt_tower {
    const tt_side *f;
    int use_id, nslots, nlayers;
    int id_add, has_bias, id_span;  /* id block layout; id_span = 0: no id block */
    int64_t id_base;                /* first embedding row of the id block */
    int dims[TT_MAX_LAYERS + 1];    /* dims[0] = input width, dims[nlayers] = output D */
    int64_t slot_base[64];          /* first embedding row of each slot's table */
    int64_t w_off[TT_MAX_LAYERS], b_off[TT_MAX_LAYERS]; /* into the dense vector */
} tt_tower;

typedef struct tt_model {
    int E, D, head, huber;
    int log_target;                 /* train errors unclamped (log scale) */
    int S;                          /* /score width: D, or D + 2 with bias columns */
    float delta;
    tt_tower tw[2];
    int64_t n_dense, head_off;      /* dense = [user MLP | item MLP | scale, shift] */
    float *dense;
    int64_t n_rows;                 /* all embedding tables stacked: [n_rows, E] */
    float *emb;
} tt_model;

/* Forward/backward workspace for up to cap samples. Samples are deduplicated per side: the
 * towers run once per distinct row of a call (uniq[t][0..nu[t])), map[t][i] is sample i's
 * position in it. Each tower's MLP runs on the library engine (rp_mlp): x[t] its input rows,
 * work[t] its activations, scratch and dx (the input rows' gradient, scattered to the
 * embedding rows) its backward pass. */
typedef struct tt_ws {
    int cap;
    float *x[2], *work[2], *scratch, *dx, *nrm[2], *dout[2], *out[2], *dbias[2], *idg;
    double *pred, *s;
    int32_t *uniq[2], *map[2], *seen[2]; /* seen: [rows of side t], -1 = not in this call */
    int nu[2];
} tt_ws;

/* Gradient: dense vector plus a sparse row accumulator for the embedding tables. */
typedef struct tt_grad {
    float *dense;      /* [n_dense] */
    int32_t *slot;     /* [n_rows], -1 = untouched */
    int32_t *rows;     /* touched rows, in first-touch order */
    float *vals;       /* [cap_rows, E] */
    int64_t nrows, cap_rows;
} tt_grad;

/* A sparse accumulator of embedding-row gradients in fixed point (rp_fixed.h): exact, so the
 * sums have the same bits in any order and for any rank count. */
typedef struct tt_fix {
    int32_t *slot;  /* [n_rows], -1 = absent */
    int32_t *rows;  /* present rows, in first-touch order */
    int64_t *vals;  /* [cap, E] */
    int64_t nrows, cap;
} tt_fix;

/* The embedding rows of a step (twotower_sparse.c). Each row has one owner
 * (twotower_sparse_owner): the owner alone sums the row's gradient over all ranks and runs Adam
 * on it (so its moments of the row are the only current ones), then sends the updated row to the
 * others, except a user's id rows, which only their owner reads during an epoch. */
typedef struct tt_sparse {
    int rank, size, E;
    tt_fix loc;                 /* this rank's micro-batches' rows, then the others' records of
                                 * the rows it owns */
    int32_t *sel;               /* slots of loc holding the rows this rank updates */
    int32_t *foreign;           /* slots of loc, ascending, whose rows other ranks own (noted
                                 * when twotower_sparse_add creates them) */
    int64_t nforeign;
    int64_t nsel;
    uint64_t *seen;             /* [n_rows / 64 + 1] bitmap, all zero between steps */
    int64_t *gsend, *grecv;     /* gradient records [row | mask << 32, values] by owner */
    uint32_t *wrecv;            /* updated rows of all ranks [row, mask, float bits] */
    int64_t nput;               /* words of this rank's updated rows at the start of wrecv */
    int *counts;                /* [2 * size] words and offsets of an exchange's sends */
    MPI_Request *reqs;          /* [size] this rank's sends of an exchange */
    int64_t grecv_cap, wrecv_cap; /* words */
    /* The users' id rows [ubase, ubase + nurows), span rows per user, belong to the rank that
     * trains the user's class (user mod nclass, class c on rank c mod size); other rows to rank
     * row mod size. */
    int64_t ubase, nurows;
    int uspan, nclass;
    int64_t n_rows, cap;        /* of the tt_sparse_shape */
} tt_sparse;

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
/* twotower_rows_per_pair - embedding rows one training pair's forward pass reads, at most. */
int64_t twotower_rows_per_pair(const tt_model *m);
int twotower_grad_init(tt_grad *g, const tt_model *m, int cap);
void twotower_grad_clear(tt_grad *g);
/* twotower_tower_forward - tower t for rows[0..n) (n <= ws->cap): output in ws->out[t]
 * ([n, D]). Returns RP_OK, or RP_ERR_INTERNAL (a shape the MLP engine refuses: a bug, since
 * twotower_model_init checked the layout; logged). */
int twotower_tower_forward(const tt_model *m, int t, const int32_t *rows, int n, tt_ws *ws);
/* twotower_predict - forward both towers (once per distinct row) and the head;
 * ws->pred[i] = unclamped prediction. Returns as twotower_tower_forward. */
int twotower_predict(const tt_model *m, const int32_t *users, const int32_t *items, int n,
                     tt_ws *ws);
/* twotower_loss_grad - forward + backward for n samples; adds d(sum loss)/d(params) * inv_b
 * to g (dense and sparse). Returns the loss sum (unscaled), NaN if the MLP engine failed (see
 * twotower_tower_forward); *sse, *sae get the squared and absolute errors of the clamped
 * predictions. */
double twotower_loss_grad(const tt_model *m, const int32_t *users, const int32_t *items,
                          const float *y, int n, float inv_b, tt_ws *ws, tt_grad *g,
                          double *sse, double *sae);
/* twotower_grad_reset - zero the dense gradient and forget touched rows. */
void twotower_grad_reset(tt_grad *g, const tt_model *m);
/* twotower_embed_rows - /score rows (width m->S: the tower output, unit-normalised for the
 * cosine head; with bias terms [a*u, b_u, 1] for users and [v, 1, b_i] for videos) of rows
 * [r0, r0+n) of side t into score[n, S], raw tower outputs into raw ([n, D], may be NULL),
 * computed in chunks of TT_EMBED_CHUNK rows from r0 (sgemm bits depend on the chunk, so callers
 * use r0 = 0). */
int twotower_embed_rows(const tt_model *m, int t, int64_t r0, int64_t n, float *score,
                        float *raw);
/* twotower_embed_all - every row of side t: the model's tower outputs for prediction and
 * output, the same bits for any rank count. */
int twotower_embed_all(const tt_model *m, int t, float *score, float *raw);
/* The dot form of /score: rows of width S (borrowed), post, scale, shift. */
typedef struct tt_dot {
    int S, sigmoid;
    double scale, shift;
    const float *user, *item;
} tt_dot;
/* twotower_dot_of - the dot form of model m over score rows su, si (from twotower_embed_all). */
void twotower_dot_of(const tt_model *m, const float *su, const float *si, tt_dot *dot);
/* twotower_dot_pred - clamp01(post(scale * dot(su, si) + shift)), dot in double: exactly the
 * /score convention. */
double twotower_dot_pred(const tt_dot *dot, const float *su, const float *si);
/* twotower_pair_pred - the model's prediction from two of its score rows (twotower_dot_pred). */
double twotower_pair_pred(const tt_model *m, const float *su, const float *si);
/* twotower_score_attrs - the /score attributes of the model: post (1 = sigmoid), scale, shift. */
void twotower_score_attrs(const tt_model *m, int *sigmoid, double *scale, double *shift);

/* twotower_train.c */
/* Phases of a training step: the micro-batches (forward, backward, fixed-point sums); the
 * exchange (reduction and sharing of the rows, the dense allreduce's wait: waiting for slower
 * ranks shows here); the owners' Adam updates. EXCHANGE_MIN: after training, the
 * exchange time of the rank that waited least (about the exchange's own cost). */
enum { TT_PH_COMPUTE, TT_PH_EXCHANGE, TT_PH_UPDATE, TT_PH_EXCHANGE_MIN, TT_PH_N };
typedef struct tt_train {
    tt_model m;
    float *best_dense, *best_emb;
    float *m_dense, *v_dense, *m_emb, *v_emb; /* Adam moments */
    rp_trainer loop;           /* epoch, step, best epoch, learning curve (train MAE too) */
    double bias_valid_rmse;    /* the bias model (rp_baseline_bias) on /valid, same pairs */
    double valid_rmse;         /* of the model as written (after a fallback) */
    char fallback[256];        /* "" or what was done instead of the trained model */
    float *fb_user, *fb_item;  /* fallback /score rows [n, D + 2] (NULL: no fallback) */
    double fb_mu;
    double bytes_dense, bytes_sparse; /* traffic statistics of this run */
    /* seconds of the training steps by phase (TT_PH_*), this rank's; after twotower_train
     * the maximum over ranks (EXCHANGE_MIN: the minimum) */
    double phase_s[TT_PH_N];
    double gamma;              /* log target: the gain of the model as written (1: clipped) */
} tt_train;

/* twotower_row_prior - the per-row weights of --row-l2 L ([m->n_rows], into *w, NULL when
 * L = 0): a step that touches row r adds w_r * row to its gradient, w_r = L / (N q_r), with N
 * the training pairs, q_r = 1 - (1 - n_r / N)^B the chance a batch of B touches the row and n_r
 * the training pairs whose forward pass reads it. In expectation each row gets L / N * row per
 * step whatever its count: the objective is the mean loss + L / (2N) sum_r |row|^2, a Gaussian
 * prior per row (as ALS's constant lambda), not a penalty per occurrence. Id rows always,
 * feature-table rows with --row-l2-features; rows no pair reads get 0. Pure function of the
 * data and options: the same on every rank. Returns RP_OK or RP_ERR_NOMEM (no jump). */
int twotower_row_prior(const tt_opts *o, const tt_data *d, const tt_model *m, float **w);
/* twotower_train - train (or resume) until epochs, early stop or a signal. Collective.
 * Returns RP_OK, RP_ERR_INTERRUPTED (checkpoint written), or an error. */
int twotower_train(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_train *tr);
void twotower_train_clear(tt_train *tr);
/* twotower_eval_scores - RMSE/MAE on split s of the dot-form predictions; each rank scores an
 * even share, sums in fixed point (2^-32): exact, so any rank count gives the same bits. */
int twotower_eval_scores(MPI_Comm comm, const tt_dot *dot, const tt_split *s, double *rmse,
                         double *mae);
/* twotower_evaluate - RMSE/MAE of the model's clamped predictions on a split (from its /score
 * rows, as later stages compute them). */
int twotower_evaluate(MPI_Comm comm, const tt_model *m, const tt_split *s, double *rmse,
                      double *mae);

/* twotower_finish.c - after training: compare the selected epoch with the bias model
 * (rp_baseline_bias) on /valid and fall back to the bias model's terms when it loses: fills
 * valid_rmse, bias_valid_rmse, fallback, fb_*. Collective. */
int twotower_finish(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_train *tr);
/* twotower_init_biases - start the bias terms and the shift at the bias model's b_u, b_i and
 * mean (identical on every rank and for any rank count), so training begins at the bias
 * model's error instead of having to find it through noisy sparse Adam steps. Collective. */
int twotower_init_biases(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_model *m);
/* twotower_output_dot - the dot form written to /score: the model's, or the fallback's.
 * *user, *item allocated here (caller frees). */
int twotower_output_dot(const tt_train *tr, const tt_data *d, float **user, float **item,
                        tt_dot *dot);

/* twotower_calib.c */
/* twotower_log_setup - with --target log: read the range (rp_shards_log_range), keep the train
 * pairs with lo <= wr < hi as log(wr) (twotower_log_filter) and read the bias model's terms.
 * Called by twotower_read_inputs. Collective. */
int twotower_log_setup(MPI_Comm comm, const tt_opts *o, tt_data *d);
/* twotower_log_filter - keep d->train's pairs rp_log_keep accepts, in place, as log(wr);
 * sets train_all and train_mean. */
void twotower_log_filter(tt_data *d);
/* twotower_calib_gamma - the gain of the model's score rows su, si on d->valid. Collective. */
int twotower_calib_gamma(MPI_Comm comm, const tt_model *m, const tt_data *d, const float *su,
                         const float *si, double *gamma);
/* twotower_calib_rows - turn the model's score rows into the calibrated dot form in place:
 * users [gamma e^b_u u, c_u, 1], videos [e^b_i v, 1, c_i], shift cmu. */
void twotower_calib_rows(const tt_model *m, const tt_data *d, double gamma, float *su, float *si,
                         tt_dot *dot);
/* twotower_evaluate_data - twotower_evaluate, calibrated on d->valid with the log target
 * (*gamma the gain; 1 for the clipped target; gamma may be NULL). Collective. */
int twotower_evaluate_data(MPI_Comm comm, const tt_model *m, const tt_data *d, const tt_split *s,
                           double *rmse, double *mae, double *gamma);
/* twotower_bias_terms - the bias model's b_u [n_users], b_i [n_items] (allocated here) and
 * mean (rp_baseline_bias_terms, bit-identical for any rank count). Collective. */
int twotower_bias_terms(MPI_Comm comm, const tt_opts *o, const tt_data *d, double **bu,
                        double **bi, double *mu);

/* twotower_sparse.c */
/* What twotower_sparse_init needs: rank of size; n_rows embedding rows of width E, at most cap
 * of them touched by a rank per step; the users' id rows: uspan rows per user from row ubase,
 * nurows in all (uspan 0: none), the user of row ubase + uspan u + j being u, of class
 * u mod nclass (twotower_train.c). */
typedef struct tt_sparse_shape {
    int rank, size, E;
    int64_t n_rows, cap;
    int64_t ubase, nurows;
    int uspan, nclass;
} tt_sparse_shape;
/* twotower_sparse_init - buffers for the shape; the receive buffer is sized from the rows this
 * rank owns. Returns RP_OK or RP_ERR_NOMEM (no jump). */
int twotower_sparse_init(tt_sparse *sp, const tt_sparse_shape *sh);
void twotower_sparse_clear(tt_sparse *sp);
/* tt_user_class - the class of user u among nclass: a step's pairs are dealt to ranks by it
 * (class c to rank c mod size), and so are the users' id rows (twotower_sparse_owner). */
static inline int tt_user_class(int64_t u, int nclass) { return (int)(u % nclass); }
/* tt_class_rank - the rank that trains class c. */
static inline int tt_class_rank(int c, int size) { return c % size; }
/* twotower_sparse_owner - the rank that owns (sums, updates) embedding row `row`: a user's id
 * row belongs to the rank that trains the user's class; other rows are dealt round-robin, so
 * whatever the tables' sizes a step's touched rows spread evenly. */
static inline int twotower_sparse_owner(const tt_sparse *sp, int64_t row)
{
    int size = sp->size;
    if ((uint64_t)(row - sp->ubase) < (uint64_t)sp->nurows)
        return tt_class_rank(tt_user_class((row - sp->ubase) / sp->uspan, sp->nclass), size);
    /* a power of two (the usual rank counts) needs no division */
    return (size & (size - 1)) == 0 ? (int)(row & (size - 1)) : (int)(row % size);
}
/* twotower_sparse_begin - start a step: forget this rank's rows. */
void twotower_sparse_begin(tt_sparse *sp);
/* twotower_sparse_add - add a micro-batch's float row gradients to this rank's sums, each value
 * rounded to fixed point once per micro-batch (the unit that fixes the bits). */
void twotower_sparse_add(tt_sparse *sp, const tt_grad *g);
/* twotower_sparse_reduce - the step's gradient sums, over all ranks, of the rows this rank owns:
 * afterwards sp->sel[0..nsel) are the slots of sp->loc holding them (with one rank, every row
 * touched), in ascending row order when they are more than one row in 64 of the table. Each
 * rank's records go only to the rows' owners (one message per owner, point-to-point, sized by
 * MPI_Probe), with the nonzero columns only. Adds the bytes received to *bytes. Collective in
 * effect (every rank must call it in the same step). Returns RP_OK, RP_ERR_INTERNAL (over
 * capacity: a bug) or an MPI failure. */
int twotower_sparse_reduce(MPI_Comm comm, tt_sparse *sp, double *bytes);
/* twotower_sparse_put - after the owner's update of row `row` (its E floats at w): append its
 * record [row, mask, nonzero floats] for twotower_sparse_share while the row is in cache (nothing
 * with one rank). */
static inline void twotower_sparse_put(tt_sparse *sp, int32_t row, const float *w)
{
    if (sp->size == 1) return;
    if ((uint64_t)(row - sp->ubase) < (uint64_t)sp->nurows) return; /* a user's: synced later */
    int E = sp->E;
    const uint32_t *v = (const uint32_t *)w;
    uint32_t *dst = sp->wrecv + sp->nput, mask = 0;
    int n = 2;
#ifdef __AVX2__
    if (E == 8) { /* the default width: one compare of the bits against 0 (-0.0f is nonzero) */
        __m256i x = _mm256_loadu_si256((const __m256i *)v);
        __m256i z = _mm256_cmpeq_epi32(x, _mm256_setzero_si256());
        mask = ~(uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(z)) & 0xffu;
        dst[0] = (uint32_t)row;
        dst[1] = mask;
        if (mask == 0xffu) {
            _mm256_storeu_si256((__m256i *)(dst + 2), x);
            sp->nput += 10;
            return;
        }
        for (int q = 0; q < 8; q++)
            if (mask >> q & 1u) dst[n++] = v[q];
        sp->nput += n;
        return;
    }
#endif
    for (int q = 0; q < E && q < 32; q++) mask |= (uint32_t)(v[q] != 0) << q;
    dst[0] = (uint32_t)row;
    dst[1] = E > 32 ? 0xffffffffu : mask;
    for (int q = 0; q < E; q++)
        if (E > 32 || (mask >> q & 1u)) dst[n++] = v[q];
    sp->nput += n;
}
/* twotower_sparse_share - after the owners updated their rows (sp->sel) in emb and appended them
 * (twotower_sparse_put): every rank gets every updated row, bit for bit (each rank sends its
 * records [row, mask, nonzero floats] to every other rank, point-to-point, and writes each
 * sender's rows as they arrive). Adds the bytes of the receive buffer (this rank's records
 * included) to *bytes. Collective in effect. Returns as twotower_sparse_reduce. */
int twotower_sparse_share(MPI_Comm comm, tt_sparse *sp, float *emb, double *bytes);
/* twotower_sparse_gather_state - make an owner-kept array a [n_rows, E] (Adam moments) whole on
 * every rank: each row from its owner, bit for bit. Collective. */
int twotower_sparse_gather_state(MPI_Comm comm, const tt_sparse *sp, int64_t n_rows, float *a);
/* twotower_sparse_sync_users - the users' id rows of the table emb, current only on their owners
 * during an epoch (only the owner's micro-batches read them, so twotower_sparse_put does not
 * send them), made whole on every rank: before validation, a best copy or a checkpoint.
 * Collective. */
int twotower_sparse_sync_users(MPI_Comm comm, const tt_sparse *sp, float *emb);

/* twotower_io.c */
/* twotower_checkpoint - what the checkpoint holds (model, Adam moments, best copy) and the
 * options that fix the bits (cfg, cap bytes, filled here) and the inputs' hashes: a checkpoint
 * from other options or other data is refused instead of silently resumed. */
void twotower_checkpoint(const tt_opts *o, const tt_data *d, tt_train *tr, char *cfg,
                         size_t cap, rp_train_ckpt *ck);
int twotower_write_output(const rp_stage *st, const tt_opts *o, const tt_data *d,
                          const tt_train *tr);
/* twotower_report - the summary line's fields (stdout, rank 0, via rp_stage_end). */
void twotower_report(rp_stage *st, const tt_train *tr);
/* twotower_config_string - the options that fix the parameter layout (checked on resume). */
void twotower_config_string(const tt_opts *o, char *buf, size_t cap);

#endif
