/* als_train.c - rp-als options and the training loop: half-sweeps, metrics, history, early
 * stop, checkpoints every few iterations and on SIGTERM/SIGUSR1 (exit 75), resume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "als.h"
#include "rp_args.h"
#include "rp_log.h"
#include "rp_mpi.h"

static const char *const precisions[] = {"fp64", "fp32", NULL};
static const char *const exchanges[] = {"auto", "alltoallv", "allgather", NULL};

int als_parse_args(int argc, char **argv, als_opts *opt)
{
    int rc = RP_OK;
    static char ckpt[1100];
    *opt = (als_opts){.precision = "fp64", .exchange = "auto", .k = 32, .lambda = 0.01,
                      .iters = 10, .seed = 42, .ckpt_every = 2};
    const rp_arg args[] = {
        {"shards", RP_ARG_STR, &opt->shards, "PATH", "input shards.h5 (rp-shard)", NULL},
        {"out", RP_ARG_STR, &opt->out, "PATH", "output als.h5", NULL},
        {"k", RP_ARG_INT, &opt->k, "K", "rank of the factors", NULL},
        {"lambda", RP_ARG_DBL, &opt->lambda, "L",
         "weighted-lambda ridge: lambda x (row count) on factors and biases", NULL},
        {"iters", RP_ARG_INT, &opt->iters, "N", "iterations (user + item half-sweep each)", NULL},
        {"precision", RP_ARG_STR, &opt->precision, "P", "arithmetic and stored factors",
         precisions},
        {"seed", RP_ARG_I64, &opt->seed, "S", "seed of the initial factors", NULL},
        {"checkpoint", RP_ARG_STR, &opt->checkpoint, "PATH", "checkpoint file (<out>.ckpt)",
         NULL},
        {"checkpoint-every", RP_ARG_INT, &opt->ckpt_every, "N",
         "checkpoint every N iterations (0 = only on signals)", NULL},
        {"resume", RP_ARG_FLAG, &opt->resume, NULL,
         "continue from the checkpoint if there is one", NULL},
        {"early-stop", RP_ARG_INT, &opt->early_stop, "P",
         "stop after P iterations without a better validation RMSE (0 = off)", NULL},
        {"exchange", RP_ARG_STR, &opt->exchange, "MODE",
         "factor exchange: routed alltoallv, allgather, or auto (allgather when most rows "
         "are needed anyway)", exchanges},
    };
    const rp_cmd cmd = {"rp-als",
                        "Explicit ALS with biases on shards.h5 /train values; writes als.h5.",
                        "Outputs: /user_factors, /item_factors, /user_bias, /item_bias, "
                        "/score/{user,item}, /history.\n"};
    RP_CALL(rp_args_parse(argc, argv, &cmd, args, (int)(sizeof args / sizeof args[0])));
    if (opt->shards == NULL || opt->out == NULL)
        RP_FAIL_USER0(RP_ERR_USAGE, "--shards and --out are required (see --help)");
    if (opt->k < 1 || opt->k > 1024)
        RP_FAIL_USER0(RP_ERR_USAGE, "--k %d: must be in [1, 1024]", opt->k);
    if (!(opt->lambda > 0.0) || !isfinite(opt->lambda))
        RP_FAIL_USER0(RP_ERR_USAGE, "--lambda %g: must be > 0", opt->lambda);
    if (opt->iters < 1) RP_FAIL_USER0(RP_ERR_USAGE, "--iters %d: must be >= 1", opt->iters);
    if (opt->ckpt_every < 0 || opt->early_stop < 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "--checkpoint-every and --early-stop must be >= 0");
    if (opt->checkpoint == NULL) {
        snprintf(ckpt, sizeof ckpt, "%s.ckpt", opt->out);
        opt->checkpoint = ckpt;
    }
cleanup:
    return rc;
}

/* flops of one half-sweep of side s on this rank: SYRK on [n, k+2] plus the Cholesky solve */
static double half_flops(const als_state *st, int s)
{
    const als_side *sd = &st->side[s];
    double kk = st->k + 2.0, k1 = st->k + 1.0, f = 0.0;
    for (int64_t i = 0; i < sd->nrows; i++) {
        double n = (double)(sd->train.off[i + 1] - sd->train.off[i]);
        if (n > 0) f += n * kk * (kk + 1.0) + k1 * k1 * k1 / 3.0 + 2.0 * k1 * k1;
    }
    return f;
}

/* iterations since the validation RMSE last improved on the best so far by more than 0.01%
 * (ALS creeps towards its fixed point; tiny gains do not count). NaNs never improve. */
static int64_t since_best(const als_state *st)
{
    int best = -1;
    for (int i = 0; i < st->n_hist; i++)
        if (!isnan(st->h_valid_rmse[i]) &&
            (best < 0 || st->h_valid_rmse[i] < st->h_valid_rmse[best] * (1.0 - 1e-4)))
            best = i;
    return best < 0 ? 0 : st->n_hist - 1 - best;
}

/* CPU seconds of this process: on a shared machine a steadier figure than wall time */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* one iteration: user half-sweep (reads item rows), item half-sweep (reads user rows), then
 * the metrics from the item side. sweep[0] wall seconds, sweep[1] CPU seconds (max over ranks)
 * of the two half-sweeps. */
static int iterate(als_state *st, int64_t it, double sweep[2])
{
    int rc = RP_OK;
    double m[4], t0 = MPI_Wtime(), c0 = cpu_seconds();
    RP_CALL(als_half_sweep(st, ALS_USER));
    RP_CALL(als_half_sweep(st, ALS_ITEM));
    sweep[1] = cpu_seconds() - c0;
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, &sweep[1], 1, MPI_DOUBLE, MPI_MAX, st->comm));
    sweep[0] = rp_wtime_max(st->comm, t0);
    double *sweep_s = &sweep[0];
    RP_CALL(als_metrics(st, &m[0], &m[2], &m[1], &m[3]));
    double secs = rp_wtime_max(st->comm, t0);
    RP_CALL(als_hist_push(st, it, m, secs));
    rp_log_info("iter %lld train_rmse=%.6f valid_rmse=%.6f train_mae=%.6f valid_mae=%.6f "
                "sweep=%.3fs", (long long)it, m[0], m[1], m[2], m[3], *sweep_s);
    const char *delay = getenv("RP_ALS_TEST_DELAY_MS"); /* lets e2e tests signal mid-run */
    if (delay != NULL) usleep((useconds_t)atoi(delay) * 1000u);
cleanup:
    return rc;
}

static int resume_state(als_state *st, const als_opts *opt, int64_t *start)
{
    int rc = RP_OK;
    *start = 0;
    if (!opt->resume) return RP_OK;
    if (access(opt->checkpoint, F_OK) != 0) {
        rp_log_info("--resume: no checkpoint %s, starting from iteration 0", opt->checkpoint);
        return RP_OK;
    }
    RP_CALL(als_checkpoint_read(st, opt->checkpoint, start));
    rp_log_info("resumed from %s after iteration %lld", opt->checkpoint, (long long)*start);
cleanup:
    return rc;
}

static void summarise(rp_stage *stg, als_state *st, double flops, const double best_sweep[2],
                      double sum_sweep, int64_t nsweeps)
{
    double bytes = 0.0;
    for (int s = 0; s < 2; s++)
        bytes += (double)st->side[s].route.recv_remote_rows * (st->k + 1) *
                 (st->dbl ? 8.0 : 4.0);
    rp_mpi_sum_f64(st->comm, &bytes, 1);
    rp_stage_add(stg, "iterations", "%d", st->n_hist);
    rp_stage_add(stg, "train_rmse", "%.6f", st->h_train_rmse[st->n_hist - 1]);
    rp_stage_add(stg, "valid_rmse", "%.6f", st->h_valid_rmse[st->n_hist - 1]);
    rp_stage_add(stg, "exchange", "%s",
                 st->side[0].route.allgather ? "allgather" : "alltoallv");
    if (nsweeps > 0) {
        rp_stage_add(stg, "sweep_s_best", "%.4f", best_sweep[0]);
        rp_stage_add(stg, "sweep_s_mean", "%.4f", sum_sweep / (double)nsweeps);
        rp_stage_add(stg, "sweep_cpu_s_best", "%.4f", best_sweep[1]);
        rp_stage_add(stg, "gflop_per_sweep", "%.3f", flops / 1e9);
        rp_stage_add(stg, "gflops_best", "%.2f", flops / 1e9 / best_sweep[0]);
    }
    rp_stage_add(stg, "exchange_bytes_per_sweep", "%.0f", bytes);
}

int als_train(rp_stage *stg, als_state *st, const als_opts *opt, int64_t *iters_done)
{
    int rc = RP_OK;
    int64_t it = 0;
    double best[2] = {INFINITY, INFINITY}, sum = 0.0;
    double flops = half_flops(st, 0) + half_flops(st, 1);
    RP_CALL(rp_mpi_sum_f64(st->comm, &flops, 1));
    RP_CALL(resume_state(st, opt, &it));
    int64_t n_run = 0;
    while (it < opt->iters) {
        double sweep[2] = {0.0, 0.0};
        it++;
        RP_CALL(iterate(st, it, sweep));
        for (int j = 0; j < 2; j++) best[j] = sweep[j] < best[j] ? sweep[j] : best[j];
        sum += sweep[0];
        n_run++;
        int stop = opt->early_stop > 0 && since_best(st) >= opt->early_stop;
        if (stop) rp_log_info("early stop: no better valid_rmse for %d iterations",
                              opt->early_stop);
        if (stop || it == opt->iters) break;
        if (rp_signal_pending(st->comm)) {
            RP_CALL(als_checkpoint_write(stg, st, opt->checkpoint, it));
            rp_log_info("signal: checkpoint %s after iteration %lld; rerun with --resume",
                        opt->checkpoint, (long long)it);
            rc = RP_ERR_INTERRUPTED;
            goto cleanup;
        }
        if (opt->ckpt_every > 0 && it % opt->ckpt_every == 0)
            RP_CALL(als_checkpoint_write(stg, st, opt->checkpoint, it));
    }
    *iters_done = it;
    summarise(stg, st, flops, best, sum, n_run);
cleanup:
    return rc;
}
