/* als.h - rp-als internals: block-partitioned explicit ALS with biases (see docs/stages/als.md).
 * Shared by the stage modules and the tests (tests link build/libstage_als.a). */
#ifndef ALS_H
#define ALS_H

#include <mpi.h>
#include <stdint.h>

#include "rp_shards.h"
#include "rp_stage.h"

enum { ALS_USER = 0, ALS_ITEM = 1 }; /* the two sides; the other side of s is 1 - s */
enum { ALS_EX_AUTO = 0, ALS_EX_ALLTOALLV = 1, ALS_EX_ALLGATHER = 2 };
/* The factor ridge of a row with n training entries: ALS_PEN_WR = lambda * n (weighted-lambda,
 * Zhou et al. 2008), ALS_PEN_CONST = lambda whatever n (the MAP estimate under a Gaussian prior
 * on the factors: rare rows are shrunk harder relative to their data, popular rows less). */
enum { ALS_PEN_WR = 0, ALS_PEN_CONST = 1 };

/* Defaults (measured: docs/stages/als.md, "Choosing K and lambda"). */
#define ALS_DEFAULT_GRID_K "8,16,32,64"
/* The lambda grid of each penalty (--grid-lambda auto): steps of sqrt(2) around the measured
 * optimum at full size, wide enough for SCALE=0.05 (docs/stages/als.md, "Why these defaults"). */
#define ALS_DEFAULT_GRID_LAMBDA "auto"
#define ALS_GRID_LAMBDA_WR "0.0025,0.0035,0.005,0.007,0.01,0.014,0.02,0.028,0.04"
#define ALS_GRID_LAMBDA_CONST "0.5,0.7,1,1.4,2,2.8,4,5.6,8,11,16,23,32"
#define ALS_DEFAULT_PENALTY "const"
#define ALS_DEFAULT_LAMBDA_BIAS 1.0
/* A grid point must beat the best so far by more than this share of its validation RMSE to
 * replace it (the same rule as the early stop): differences below it are noise, and the
 * point tried first (nearer the start, usually cheaper) keeps the choice. */
#define ALS_GRID_TOL 1e-4
#define ALS_DEFAULT_ITERS 10
#define ALS_DEFAULT_EARLY_STOP 2
/* The selection metric: "item" weighs every video's validation pairs alike, as the test split
 * does, and orders ALS models as the test split does where "pair" does not; not the default
 * because the hybrid, fitted on plain validation, loses more than ALS gains (docs/stages/als.md). */
#define ALS_DEFAULT_VALID_WEIGHT "pair"
/* The training target (docs/stages/als.md, "The log target"): "log" fits the factors to
 * log(watch_ratio) of the train pairs with ALS_DEFAULT_LOG_MIN <= watch_ratio < the clip point
 * (the log-normal main part of a view, where the user x video effect lives), then maps the
 * interaction onto the normalised scale with one gain fitted on validation; "clipped" fits
 * the normalised value itself. */
#define ALS_DEFAULT_TARGET "log"
#define ALS_DEFAULT_LOG_MIN 0.4
enum { ALS_SCALE_NONE = 0, ALS_SCALE_ITEM = 1, ALS_SCALE_BOTH = 2 };
/* How als_metrics predicts a pair: clamped, on the log scale, calibrated (als_kernel.inc). */
enum { ALS_ERR_PLAIN = 0, ALS_ERR_LOG = 1, ALS_ERR_CALIB = 2 };

typedef struct als_opts {
    const char *shards;
    const char *out;
    const char *checkpoint; /* NULL: "<out>.ckpt" */
    const char *precision;  /* "fp64" | "fp32" */
    const char *exchange;   /* "auto" | "alltoallv" | "allgather" */
    int k;                   /* 0: chosen on validation from grid_k */
    double lambda;           /* 0: chosen on validation from grid_lambda */
    const char *penalty;     /* "wr" | "const" (NULL: ALS_DEFAULT_PENALTY): the factor ridge */
    double lambda_bias;      /* ridge on each bias, not scaled by the row's count */
    const char *grid_k;      /* "8,16,32,64": candidate ranks (ascending) */
    const char *grid_lambda; /* candidate lambdas (ascending); "auto"/NULL: the penalty's grid */
    double bias_reg;         /* reg of the bias baseline the model must beat (rp_baseline_bias) */
    int iters;               /* per grid point */
    int64_t seed;
    int ckpt_every;
    int resume;
    int early_stop; /* patience in iterations, 0 = off */
    const char *valid_weight; /* "pair" | "item": how validation pairs weigh in the selection */
    const char *target;      /* "log" | "clipped" (NULL: "clipped", for opts filled by hand) */
    double log_min, log_max; /* log target: train pairs with log_min <= wr < log_max (0: cap) */
    const char *log_scale;   /* log target: "none" | "item" | "both" (NULL: the default) */
} als_opts;

#define ALS_DEFAULT_LOG_SCALE "both"

/* als_target_name - opt->target, "clipped" when unset; als_log_scale - the --log-scale enum. */
static inline const char *als_target_name(const als_opts *opt)
{
    return opt->target != NULL ? opt->target : "clipped";
}
int als_log_scale(const als_opts *opt);

/* als_valid_weight - opt->valid_weight, "pair" when unset (callers that fill als_opts by hand). */
static inline const char *als_valid_weight(const als_opts *opt)
{
    return opt->valid_weight != NULL ? opt->valid_weight : "pair";
}

/* als_penalty_name - opt->penalty, ALS_DEFAULT_PENALTY when unset; als_penalty - its enum. */
static inline const char *als_penalty_name(const als_opts *opt)
{
    return opt->penalty != NULL ? opt->penalty : ALS_DEFAULT_PENALTY;
}
int als_penalty(const als_opts *opt);

/* als_ridge - the ridge on each factor of a row with n training entries. */
static inline double als_ridge(int penalty, double lambda, int64_t n)
{
    return penalty == ALS_PEN_CONST ? lambda : lambda * (double)n;
}

/* A learning curve (replicated; rank 0 prints it). */
typedef struct als_hist {
    int n;
    int64_t *iter;
    double *train_rmse, *valid_rmse, *train_mae, *valid_mae, *seconds;
} als_hist;

/* A copy of both sides' own factor rows [nrows, k + 1] at one iterate: the best iterate of the
 * point being trained, and the best of all points so far (with that point's curve). */
typedef struct als_snap {
    int k;             /* 0: empty */
    double lambda;
    int64_t iter;      /* iterations done when it was taken */
    double valid_rmse; /* the selection metric (item-balanced with --valid-weight item) */
    double valid_plain; /* plain validation RMSE of the same iterate (the contract's) */
    double gamma;      /* log target: the calibration gain of the iterate */
    void *fac[2];      /* capacity kmax + 1 reals per own row */
    als_hist hist;     /* the overall best only: its point's whole curve */
} als_snap;

/* The K x lambda search (als_grid.c): the axes and the points trained so far, in order. */
typedef struct als_grid {
    int nk, nl;
    int32_t *ks;       /* [nk] ascending */
    double *ls;        /* [nl] ascending */
    int n;             /* points done */
    int32_t *k;        /* [nk * nl] per point done */
    double *lambda, *lambda_bias, *valid_rmse; /* valid_rmse: best over the point's iterations */
    int32_t *best_iter, *iters;
} als_grid;

/* This rank's CSR rows of one side of one split, columns are global ids of the other side. */
typedef struct als_block {
    int64_t nrows;     /* rows in this rank's block */
    int64_t nnz;
    int64_t *off;      /* nrows + 1, starting at 0 */
    int32_t *col;      /* nnz global column ids */
    float *val;        /* nnz values */
    int32_t *lcol;     /* nnz row indices into the side's gathered table */
} als_block;

/* Who sends which factor rows of the other side to this side's solvers (built once). */
typedef struct als_route {
    int allgather;      /* 1: every rank receives every row (table index = global id) */
    int64_t n_need;     /* rows in the gathered table */
    int *recvcounts;    /* [size] rows from each rank */
    int *rdispls;
    int *sendcounts;    /* [size] rows this rank sends to each rank */
    int *sdispls;
    int32_t *send_rows; /* rows (local to this rank's block of the other side) to pack */
    int64_t n_send;
    int64_t recv_remote_rows; /* rows received from other ranks per exchange */
} als_route;

/* One side (users or items). Factor rows are [x (k), bias] with stride k + 1. */
typedef struct als_side {
    int64_t n_global;
    int64_t *cuts;        /* [size + 1] nnz-balanced blocks of this side */
    int64_t row_offset;   /* cuts[rank] */
    int64_t nrows;        /* cuts[rank + 1] - cuts[rank] */
    als_block train;      /* this side's rows of /train */
    als_block valid;      /* this side's rows of /valid (items only: metrics) */
    als_route route;      /* other side's rows this side's solves read */
    void *fac;            /* [nrows, k + 1] own factor rows (double or float) */
    void *table;          /* [route.n_need, k + 1] gathered rows of the other side */
} als_side;

typedef struct als_state {
    MPI_Comm comm;
    int rank, size;
    int k;                /* rank of the point being trained */
    int kmax;             /* capacity of the factor buffers (largest rank of the grid) */
    int dbl;              /* 1 fp64, 0 fp32 */
    double lambda;
    int penalty;          /* ALS_PEN_WR | ALS_PEN_CONST */
    double lambda_bias;
    uint64_t seed;
    double mu;            /* global mean of train values */
    int64_t nnz_train, nnz_valid;
    als_side side[2];
    MPI_Datatype row_type; /* k + 1 reals */
    void *work;           /* per-row scratch: gathered rows + normal equations */
    int64_t work_rows;
    double flops_half[2]; /* this rank's flops of one half-sweep per side */
    als_hist hist;        /* curve of the point being trained */
    als_grid grid;
    als_snap point_best;  /* best iterate of the point being trained */
    als_snap best;        /* best iterate over the points done */
    double bias_valid_rmse; /* the bias baseline on /valid, measured like valid_rmse */
    double bias_valid_plain; /* ... and its plain validation RMSE */
    int valid_item;       /* 1: the selection metric weighs every video's valid pairs alike */
    double last_valid_plain; /* plain validation RMSE of the last als_metrics call */
    double bias_mu;       /* its global mean */
    int fallback;         /* 1: best holds the bias baseline (ALS did not beat it) */
    /* The log target (als_target.c): train values are log(wr) of the kept pairs and mu their
     * mean; validation stays on the normalised scale, predicted as the bias baseline plus
     * gamma x scale x (x_u . y_i), scale = exp(log biases) per als_log_scale. */
    int log_target;       /* 1: --target log */
    int log_scale;        /* ALS_SCALE_* */
    rp_log_range lr;      /* the scaling of shards.h5 and the kept watch ratios [lo, hi) */
    int64_t nnz_train_all;     /* train pairs before the filter */
    double gamma;         /* the gain of the last als_metrics call */
    double cmu;           /* the bias baseline (normalised scale): cmu + cu[u] + ci[i] */
    double *cu, *ci;      /* [n_users], [n_items], replicated */
} als_state;

/* als_data.c */
/* als_load - read this rank's blocks of shards.h5, partition, build routes, init factors.
 * Collective. Returns RP_OK, RP_ERR_NOINPUT, RP_ERR_DATA (names file and dataset). */
int als_load(MPI_Comm comm, const als_opts *opt, als_state *st);
void als_state_clear(als_state *st);
/* als_init_factors - factors from rp_rng keyed by (seed, side, global row, column), biases 0. */
void als_init_factors(als_state *st);
/* als_set_rank - train rank k (<= kmax) with lambda from now on: the MPI row type follows k;
 * factors are left as they are (call als_init_factors or restore a snapshot). Collective. */
int als_set_rank(als_state *st, int k, double lambda);

/* als_grid.c */
/* als_grid_init - the axes from opt (a given --k / --lambda is a one-value axis); checks the
 * lists (positive, strictly ascending, k <= 1024). Local. RP_ERR_USAGE names the option. */
int als_grid_init(const als_opts *opt, als_grid *g);
void als_grid_clear(als_grid *g);
/* als_grid_next - the next point of the pattern search, a pure function of the points done:
 * start at the middle of each axis (lower middle), then try the untried neighbours of the best
 * point so far on the axes (smaller K, larger K, smaller lambda, larger lambda) until the best
 * point has no untried neighbour. Returns 1 and *k, *lambda, or 0 when the search is over. */
int als_grid_next(const als_grid *g, int *k, double *lambda);
/* als_grid_best - index of the best point done (lowest valid RMSE; a later point wins only
 * when lower by more than ALS_GRID_TOL relative; NaN never wins), -1 if none. */
int als_grid_best(const als_grid *g);
/* als_grid_push - record a finished point. */
void als_grid_push(als_grid *g, int k, double lambda, double lambda_bias, double valid_rmse,
                   int best_iter, int iters);
/* als_snap_alloc / als_snap_take / als_snap_restore / als_snap_clear - copies of both sides'
 * own rows (take: from the state's factors at its current k; restore: back into them). */
int als_snap_alloc(const als_state *st, als_snap *sn);
void als_snap_take(const als_state *st, als_snap *sn, int64_t iter, double valid_rmse);
void als_snap_restore(als_state *st, const als_snap *sn);
void als_snap_clear(als_snap *sn);
/* als_hist_copy - dst = src (dst's old arrays freed). */
int als_hist_copy(als_hist *dst, const als_hist *src);
void als_hist_clear(als_hist *h);
/* als_bias_baseline - the bias baseline of rp_baseline.c (reg = opt->bias_reg) measured on
 * /valid exactly like the ALS iterates (als_metrics), into st->bias_valid_rmse; leaves its rows
 * ([0..0, b]) in the factors for als_fallback. Collective. */
int als_bias_baseline(als_state *st, const als_opts *opt);
/* als_fallback - replace st->best by the bias baseline (zero factors, its biases and mean):
 * used when no ALS iterate beat it on validation. Collective. */
int als_fallback(als_state *st, const als_opts *opt);

/* als_solve.c */
/* als_exchange - fill side s's table with the other side's current factor rows. Collective. */
int als_exchange(als_state *st, int s);
/* als_solve_side - solve every own row of side s from its table (call als_exchange first). */
int als_solve_side(als_state *st, int s);
/* als_half_sweep - als_exchange + als_solve_side. Collective. */
int als_half_sweep(als_state *st, int s);
/* als_solve_row - normal equations of one row: rows y [n, k+1] of the other side ([x, bias]),
 * values r, factor ridge als_ridge(penalty, lambda, n); writes [x, bias] of the row to out
 * (k + 1 doubles). Used by the tests. */
int als_solve_row_dense(int k, int penalty, double lambda, double lambda_bias, double mu,
                        int64_t n, const double *y, const float *r, double *out);
/* als_metrics - train and valid RMSE/MAE from side ITEM (after the item half-sweep, whose
 * table then holds current user rows), summed per item then in item order: np-independent.
 * Collective; results on every rank. */
int als_metrics(als_state *st, double *train_rmse, double *train_mae, double *valid_rmse,
                double *valid_mae);
/* als_objective - regularised objective from side s's view (its table must be current).
 * Collective; for tests (sum order depends on np). */
int als_objective(als_state *st, int s, double *obj);

/* als_gram.c: AVX-512 normal equations in register tiles over an L1 panel (als_gram.inc).
 * als_gram_available - 1 when the CPU has AVX-512F and $RP_ALS_NO_AVX512 is unset. */
int als_gram_available(void);
/* als_dot_d / als_dot_s - x . y in double with AVX-512 (only when als_gram_available()). */
double als_dot_d(int k, const double *x, const double *y);
double als_dot_s(int k, const float *x, const float *y);
/* als_gram_enable - tests: 0 forces the gather + SYRK path, 1 restores the automatic choice. */
void als_gram_enable(int on);
/* als_gram_scratch - elements (double when dbl, else float) of scratch als_gram_* needs. */
size_t als_gram_scratch(int k, int dbl);
/* One row's entries for als_gram_*: y_e = table row lcol[e] (k factors, then the bias; stride
 * k + 1), t_e = val[e] - mu - bias_e. next, nnext: the next row's table rows, prefetched while
 * this one ends (NULL, 0: none). */
typedef struct als_gram_row {
    int k;
    int64_t n;
    const int32_t *lcol;
    const float *val;
    double mu;
    const int32_t *next;
    int64_t nnext;
} als_gram_row;
/* als_gram_d / _s - one row's normal equations (only when als_gram_available()): the upper
 * triangle of the (k+1) x (k+1) matrix sum_e [y_e, 1][y_e, 1]^T into c (ld k + 2; the lower
 * triangle is not written) and sum_e t_e [y_e, 1] into b (k + 1). Each entry is one fused
 * multiply-add chain over e in order (the bits of the scalar loop c = fma(y_i, y_j, c); the
 * sums of y and of t are plain adds), whatever the tiling. scratch: als_gram_scratch(k)
 * elements, 64-byte aligned. Local. */
void als_gram_d(const als_gram_row *r, const double *table, double *scratch, double *c,
                double *b);
void als_gram_s(const als_gram_row *r, const float *table, float *scratch, float *c, float *b);

/* als_chol_batch_d / _s - solve up to ALS_BATCH_D (8) / ALS_BATCH_S (16) symmetric positive
 * definite systems of order n at once (upper triangles c[s], ld; b[s] overwritten with the
 * solutions) with AVX-512 (only when als_gram_available()): each system's bits do not depend on
 * the others in the batch. l: n * n * batch scratch, y: n * batch. Local. Returns 0, or -1 when
 * a real system is not positive definite. */
#define ALS_BATCH_D 8
#define ALS_BATCH_S 16
int als_chol_batch_d(int n, int ld, double *const *c, double *const *b, int nsys, double *l,
                     double *y);
int als_chol_batch_s(int n, int ld, float *const *c, float *const *b, int nsys, float *l,
                     float *y);

/* als_target.c */
/* als_target_setup - with --target log: read the range (rp_shards_log_range), keep the train
 * pairs rp_log_keep accepts as log(wr) (both sides' blocks), count them, and read the bias
 * baseline's terms (cmu, cu, ci). Before the routes are built. Collective. */
int als_target_setup(MPI_Comm comm, const als_opts *opt, als_state *st);
/* als_scale_of - the scale factor of a pair from the two rows' log biases. */
double als_scale_of(int mode, double user_bias, double item_bias);

/* als_io.c */
/* als_checkpoint_write - the whole search state after iteration iter of the current point:
 * the grid so far, the current factors and curve, the point's best iterate, the overall best
 * (factors and curve). Collective; atomic. */
int als_checkpoint_write(const rp_stage *stg, als_state *st, const als_opts *opt,
                         const char *path, int64_t iter);
/* als_checkpoint_read - restore what als_checkpoint_write saved (after als_load and the bias
 * baseline); *iter the iteration of the current point it was written after. Collective.
 * Returns RP_ERR_NOINPUT if missing, RP_ERR_DATA if written with other parameters. */
int als_checkpoint_read(als_state *st, const als_opts *opt, const char *path, int64_t *iter);
int als_write_output(const rp_stage *stg, als_state *st, const als_opts *opt, int64_t iters);
int als_hist_push(als_hist *h, int64_t iter, const double m[4], double seconds);

/* als_train.c */
int als_parse_args(int argc, char **argv, als_opts *opt);
int als_train(rp_stage *stg, als_state *st, const als_opts *opt, int64_t *iters_done);

#endif
