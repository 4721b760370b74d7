/* als.h - rp-als internals: block-partitioned explicit ALS with biases (see docs/stages/als.md).
 * Shared by the stage modules and the tests (tests link build/libstage_als.a). */
#ifndef ALS_H
#define ALS_H

#include <mpi.h>
#include <stdint.h>

#include "rp_stage.h"

enum { ALS_USER = 0, ALS_ITEM = 1 }; /* the two sides; the other side of s is 1 - s */
enum { ALS_EX_AUTO = 0, ALS_EX_ALLTOALLV = 1, ALS_EX_ALLGATHER = 2 };

typedef struct als_opts {
    const char *shards;
    const char *out;
    const char *checkpoint; /* NULL: "<out>.ckpt" */
    const char *precision;  /* "fp64" | "fp32" */
    const char *exchange;   /* "auto" | "alltoallv" | "allgather" */
    int k;
    double lambda;
    int iters;
    int64_t seed;
    int ckpt_every;
    int resume;
    int early_stop; /* patience in iterations, 0 = off */
} als_opts;

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
    int k;
    int dbl;              /* 1 fp64, 0 fp32 */
    double lambda;
    uint64_t seed;
    double mu;            /* global mean of train values */
    int64_t nnz_train, nnz_valid;
    als_side side[2];
    MPI_Datatype row_type; /* k + 1 reals */
    void *work;           /* per-row scratch: gathered rows + normal equations */
    int64_t work_rows;
    double flops_half[2]; /* this rank's flops of one half-sweep per side */
    /* history (replicated, rank 0 meaningful) */
    int n_hist;
    int64_t *h_iter;
    double *h_train_rmse, *h_valid_rmse, *h_train_mae, *h_valid_mae, *h_seconds;
} als_state;

/* als_data.c */
/* als_load - read this rank's blocks of shards.h5, partition, build routes, init factors.
 * Collective. Returns RP_OK, RP_ERR_NOINPUT, RP_ERR_DATA (names file and dataset). */
int als_load(MPI_Comm comm, const als_opts *opt, als_state *st);
void als_state_clear(als_state *st);
/* als_init_factors - factors from rp_rng keyed by (seed, side, global row, column), biases 0. */
void als_init_factors(als_state *st);

/* als_solve.c */
/* als_exchange - fill side s's table with the other side's current factor rows. Collective. */
int als_exchange(als_state *st, int s);
/* als_solve_side - solve every own row of side s from its table (call als_exchange first). */
int als_solve_side(als_state *st, int s);
/* als_half_sweep - als_exchange + als_solve_side. Collective. */
int als_half_sweep(als_state *st, int s);
/* als_solve_row - normal equations of one row: rows y [n, k+1] of the other side ([x, bias]),
 * values r; writes [x, bias] of the row to out (k + 1 doubles). Used by the tests. */
int als_solve_row_dense(int k, double lambda, double mu, int64_t n, const double *y,
                        const float *r, double *out);
/* als_metrics - train and valid RMSE/MAE from side ITEM (after the item half-sweep, whose
 * table then holds current user rows), summed per item then in item order: np-independent.
 * Collective; results on every rank. */
int als_metrics(als_state *st, double *train_rmse, double *train_mae, double *valid_rmse,
                double *valid_mae);
/* als_objective - regularised objective from side s's view (its table must be current).
 * Collective; for tests (sum order depends on np). */
int als_objective(als_state *st, int s, double *obj);

/* als_gram.c: AVX-512 normal equations read straight from the table (see als_gram.inc).
 * als_gram_available - 1 when the CPU has AVX-512F and $RP_ALS_NO_AVX512 is unset. */
int als_gram_available(void);
/* als_dot_d / als_dot_s - x . y in double with AVX-512 (only when als_gram_available()). */
double als_dot_d(int k, const double *x, const double *y);
double als_dot_s(int k, const float *x, const float *y);
/* als_gram_enable - tests: 0 forces the gather + SYRK path, 1 restores the automatic choice. */
void als_gram_enable(int on);
void als_gram_d(int k, int64_t n, const int32_t *lcol, const float *val, double mu,
                const double *table, const double *zero, double *sv, double *c, double *b);
void als_gram_s(int k, int64_t n, const int32_t *lcol, const float *val, double mu,
                const float *table, const float *zero, float *sv, float *c, float *b);

/* als_io.c */
int als_checkpoint_write(const rp_stage *stg, als_state *st, const char *path, int64_t iter);
/* als_checkpoint_read - restore item factors, user factors and history; *iter the iteration
 * it was written after. Returns RP_ERR_NOINPUT if missing, RP_ERR_DATA if it does not match. */
int als_checkpoint_read(als_state *st, const char *path, int64_t *iter);
int als_write_output(const rp_stage *stg, als_state *st, const als_opts *opt, int64_t iters);
int als_hist_push(als_state *st, int64_t iter, const double m[4], double seconds);

/* als_train.c */
int als_parse_args(int argc, char **argv, als_opts *opt);
int als_train(rp_stage *stg, als_state *st, const als_opts *opt, int64_t *iters_done);

#endif
