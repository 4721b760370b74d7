/* rp_trainer.h - what the data-parallel SGD trainers (rp-twotower, rp-seqrec) share: the common
 * options, the learning-rate schedule, the learning curve, best-epoch selection, checkpoints with
 * resume, and the epoch loop that checkpoints and returns RP_ERR_INTERRUPTED (exit 75) on
 * SIGTERM/SIGUSR1. The stage supplies the sample order and the step (rp_train_ops). */
#ifndef RP_TRAINER_H
#define RP_TRAINER_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "rp_args.h"

#define RP_TRAIN_MAX_ARGS 48
#define RP_TRAIN_MAX_ARRAYS 8

/* Options every trainer has (defaults: rp_train_opts_default, then the stage's). schedule,
 * warmup and lr_final are options only of stages that pass with_schedule to rp_train_parse;
 * the others keep "constant" (rp_train_lr_at then returns lr exactly). */
typedef struct rp_train_opts {
    const char *shards, *features, *out, *checkpoint;
    int epochs, batch, micro_batch, early_stop, resume;
    double lr, bias_reg;
    const char *schedule;           /* "cosine" or "constant" */
    int64_t warmup;                 /* linear warm-up steps of the cosine schedule */
    double lr_final;                /* end of the cosine schedule, as a fraction of lr */
    int64_t interrupt_after;        /* test aid: checkpoint and stop after N steps, 0 = never */
} rp_train_opts;

/* How a stage describes its common options in --help (the units differ between stages). */
typedef struct rp_train_cmd {
    rp_cmd cmd;
    const char *out_help;           /* "output twotower.h5 (required)" */
    const char *epochs_help, *batch_help, *micro_help, *lr_help, *early_help, *bias_reg_help;
    int with_schedule;              /* --schedule, --warmup, --lr-final */
} rp_train_cmd;

/* The learning curve: one entry per finished epoch. train_mae is kept only with_mae. */
typedef struct rp_train_hist {
    int64_t n;
    int64_t *epoch;
    double *train_rmse, *train_mae, *valid_rmse, *valid_mae, *seconds;
} rp_train_hist;

/* The loop's state; everything but the statistics at the end is restored on resume. */
typedef struct rp_trainer {
    int with_mae;                   /* track train MAE (in history and checkpoint) */
    int select_mae;                 /* the best epoch by validation MAE instead of RMSE */
    int64_t t;                      /* optimiser steps so far (1-based schedule index) */
    int64_t epoch, step;            /* next epoch to run, next step within it */
    int64_t best_epoch, bad_epochs;
    double best_metric;             /* validation metric of the best epoch */
    double ep_sse, ep_sae, ep_n, ep_seconds; /* partial epoch */
    rp_train_hist hist;
    double steps_done, samples_done, train_seconds; /* statistics of this run */
    double train_cpu_seconds; /* CPU seconds of the training steps, the maximum over ranks
                               * (steadier than wall time on a shared machine) */
} rp_trainer;

/* A float32 array of the model or optimiser saved in the checkpoint (cols = 0: a vector). */
typedef struct rp_train_array {
    const char *name;
    float *data;
    int64_t rows, cols;
} rp_train_array;

/* A checkpoint: where, the options and inputs it must match on resume, and the arrays. */
typedef struct rp_train_ckpt {
    const char *path, *config, *inputs;
    int narrays;
    rp_train_array arrays[RP_TRAIN_MAX_ARRAYS];
} rp_train_ckpt;

/* The stage's part of the loop. ctx is the stage's own state. */
typedef struct rp_train_ops {
    void *ctx;
    /* epoch_begin - order the samples of epoch `epoch` (a pure function of the seed and the
     * epoch, the same on every rank); *n = samples in it. Local. */
    void (*epoch_begin)(void *ctx, int64_t epoch, int64_t *n);
    /* step - one global step over positions [p0, p0 + gbn) of the order: update the model,
     * add to ep_sse (ep_sae), ep_n and samples_done, bump t; *stop = 1 if any rank saw a
     * signal. Collective. */
    int (*step)(void *ctx, int64_t p0, int64_t gbn, int *stop);
    /* validate - validation RMSE and MAE of the current model (NaN: no validation data).
     * Collective. */
    int (*validate)(void *ctx, double *rmse, double *mae);
    /* save_best - copy the current weights to the best copy; restore_best - the reverse. */
    void (*save_best)(void *ctx);
    void (*restore_best)(void *ctx);
    /* before_checkpoint - make whole on every rank the checkpointed state that the steps keep
     * in parts (rp-twotower: each rank's Adam moments of the embedding rows it owns); NULL if
     * every checkpointed array is replicated. Collective. */
    int (*before_checkpoint)(void *ctx);
} rp_train_ops;

/* rp_train_opts_default - zeroes *o, then the common defaults. */
void rp_train_opts_default(rp_train_opts *o);
/* rp_train_parse - parse argv against the common options and the stage's own (extra, in
 * --help between the common inputs and the common run controls); checks the common ranges,
 * sets checkpoint to <out>.ckpt if unset. Local. Returns RP_OK, RP_HELP or RP_ERR_USAGE. */
int rp_train_parse(int argc, char **argv, const rp_train_cmd *tc, rp_train_opts *o,
                   const rp_arg *extra, int nextra);
/* rp_train_lr_at - learning rate of optimiser step t (1-based) of a run of total_steps. */
double rp_train_lr_at(const rp_train_opts *o, int64_t t, int64_t total_steps);
/* rp_train_better - 1 if validation metric x improves on best (NaN: no validation, the
 * latest epoch wins; ties keep the earlier epoch). */
int rp_train_better(double x, double best);

/* rp_trainer_init - history for `epochs` epochs, no best epoch yet. Returns RP_OK or
 * RP_ERR_NOMEM without jumping (callers agree on it: RP_AGREE). rp_trainer_clear frees. */
int rp_trainer_init(rp_trainer *tr, int epochs, int with_mae, int select_mae);
void rp_trainer_clear(rp_trainer *tr);

/* rp_trainer_run - the epoch loop from tr's position until o->epochs, early stopping or a
 * signal / --interrupt-after; a checkpoint after every epoch and at the interruption; the
 * model of the best epoch is restored at the end. Collective. Returns RP_OK,
 * RP_ERR_INTERRUPTED (checkpoint written) or an error, agreed over comm. */
int rp_trainer_run(MPI_Comm comm, const rp_train_opts *o, rp_trainer *tr,
                   const rp_train_ops *ops, const rp_train_ckpt *ck);

/* rp_train_allgather - the sparse part of a step: every rank's nsend int64 words (records of
 * touched rows) concatenated in rank order into recv (capacity cap words) on every rank;
 * counts, displs: [size] scratch. Adds the words received * 8 to *bytes. Collective.
 * Out: *total words. Returns RP_OK, RP_ERR_INTERNAL (more than cap or 2^31 words, alike on
 * every rank), or an MPI failure. */
int rp_train_allgather(MPI_Comm comm, const int64_t *send, int64_t nsend, int64_t *recv,
                       int64_t cap, int *counts, int *displs, int64_t *total, double *bytes);

/* rp_trainer_hist_write - /history/{epoch,train_rmse[,train_mae],valid_rmse,valid_mae,seconds}
 * with len entries. Collective. */
int rp_trainer_hist_write(MPI_Comm comm, hid_t f, const rp_trainer *tr, int64_t len);
/* rp_trainer_ckpt_write - the arrays, the history and the loop state to ck->path, atomically.
 * Collective. */
int rp_trainer_ckpt_write(MPI_Comm comm, const rp_train_ckpt *ck, const rp_trainer *tr,
                          int epochs);
/* rp_trainer_ckpt_read - restore from ck->path if it exists (else log and return RP_OK); a
 * checkpoint of other options or inputs, or of more epochs, is refused (RP_ERR_USAGE).
 * Collective; the outcome is agreed. */
int rp_trainer_ckpt_read(MPI_Comm comm, const rp_train_ckpt *ck, int epochs, rp_trainer *tr);
/* rp_trainer_ckpt_remove - rank 0 deletes the checkpoint (after a committed output). */
void rp_trainer_ckpt_remove(MPI_Comm comm, const char *path);

#endif
