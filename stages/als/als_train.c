/* als_train.c - rp-als options and the training loop: the grid points one after the other
 * (als_grid.c chooses them), per point half-sweeps, metrics, history, best iterate, early stop;
 * checkpoints every few iterations and on SIGTERM/SIGUSR1 (exit 75), resume. */
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
static const char *const valid_weights[] = {"pair", "item", NULL};
static const char *const penalties[] = {"wr", "const", NULL};
static const char *const targets[] = {"log", "clipped", NULL};
static const char *const log_scales[] = {"both", "item", "none", NULL};

int als_parse_args(int argc, char **argv, als_opts *opt)
{
    int rc = RP_OK;
    static char ckpt[1100];
    *opt = (als_opts){.precision = "fp64", .exchange = "auto", .k = 0, .lambda = 0.0,
                      .lambda_bias = ALS_DEFAULT_LAMBDA_BIAS, .grid_k = ALS_DEFAULT_GRID_K,
                      .grid_lambda = ALS_DEFAULT_GRID_LAMBDA, .bias_reg = 10.0,
                      .iters = ALS_DEFAULT_ITERS, .seed = 42, .ckpt_every = 2,
                      .early_stop = ALS_DEFAULT_EARLY_STOP, .valid_weight = ALS_DEFAULT_VALID_WEIGHT,
                      .penalty = ALS_DEFAULT_PENALTY, .target = ALS_DEFAULT_TARGET,
                      .log_min = ALS_DEFAULT_LOG_MIN, .log_max = 0.0,
                      .log_scale = ALS_DEFAULT_LOG_SCALE};
    const rp_arg args[] = {
        {"shards", RP_ARG_STR, &opt->shards, "PATH", "input shards.h5 (rp-shard)", NULL},
        {"out", RP_ARG_STR, &opt->out, "PATH", "output als.h5", NULL},
        {"k", RP_ARG_INT, &opt->k, "K", "rank of the factors (0 = chosen on validation from "
         "--grid-k)", NULL},
        {"lambda", RP_ARG_DBL, &opt->lambda, "L", "factor ridge, per --penalty (0 = chosen on "
         "validation from --grid-lambda)", NULL},
        {"penalty", RP_ARG_STR, &opt->penalty, "P", "factor ridge of a row with n training "
         "entries: const (lambda, a Gaussian prior) or wr (weighted-lambda: lambda x n)",
         penalties},
        {"target", RP_ARG_STR, &opt->target, "T", "what the factors fit: log (log watch ratio "
         "of the views with --log-min <= watch ratio < --log-max, mapped to the normalised "
         "scale by a gain fitted on validation) or clipped (the normalised value)", targets},
        {"log-min", RP_ARG_DBL, &opt->log_min, "WR", "log target: smallest watch ratio kept "
         "(skips and partial views below it carry no user x video signal)", NULL},
        {"log-max", RP_ARG_DBL, &opt->log_max, "WR", "log target: watch ratios kept are below "
         "this (0 = the clip point, norm_max of shards.h5)", NULL},
        {"log-scale", RP_ARG_STR, &opt->log_scale, "S", "log target: the interaction's scale on "
         "the normalised scale: both (exp of the user and video log biases), item, none",
         log_scales},
        {"lambda-bias", RP_ARG_DBL, &opt->lambda_bias, "R",
         "ridge on each bias, not scaled by the row count (as the bias baseline's reg)", NULL},
        {"grid-k", RP_ARG_STR, &opt->grid_k, "LIST", "ranks searched when --k is 0", NULL},
        {"grid-lambda", RP_ARG_STR, &opt->grid_lambda, "LIST",
         "lambdas searched when --lambda is 0; auto: const " ALS_GRID_LAMBDA_CONST
         ", wr " ALS_GRID_LAMBDA_WR, NULL},
        {"bias-reg", RP_ARG_DBL, &opt->bias_reg, "R",
         "reg of the bias baseline ALS must beat on validation (rp-eval's --bias-reg)", NULL},
        {"iters", RP_ARG_INT, &opt->iters, "N",
         "iterations per grid point (user + item half-sweep each)", NULL},
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
         "end a grid point after P iterations without a better validation RMSE (0 = off)", NULL},
        {"valid-weight", RP_ARG_STR, &opt->valid_weight, "HOW",
         "validation score that selects K, lambda and the iterate: pair (every pair alike) "
         "or item (every video's pairs weigh 1 in total, as in the test split)",
         valid_weights},
        {"exchange", RP_ARG_STR, &opt->exchange, "MODE",
         "factor exchange: routed alltoallv, allgather, or auto (allgather when most rows "
         "are needed anyway)", exchanges},
    };
    const rp_cmd cmd = {"rp-als",
                        "Explicit ALS with biases on shards.h5 /train values; rank and lambda "
                        "chosen on /valid; writes als.h5.",
                        "Outputs: /user_factors, /item_factors, /user_bias, /item_bias, "
                        "/score/{user,item}, /history, /grid (the best validation iterate of the "
                        "best grid point, or the bias baseline when ALS cannot beat it).\n"};
    RP_CALL(rp_args_parse(argc, argv, &cmd, args, (int)(sizeof args / sizeof args[0])));
    if (opt->shards == NULL || opt->out == NULL)
        RP_FAIL_USER0(RP_ERR_USAGE, "--shards and --out are required (see --help)");
    if (opt->k < 0 || opt->k > 1024)
        RP_FAIL_USER0(RP_ERR_USAGE, "--k %d: must be in [1, 1024] (0: grid)", opt->k);
    if (opt->lambda < 0.0 || !isfinite(opt->lambda))
        RP_FAIL_USER0(RP_ERR_USAGE, "--lambda %g: must be > 0 (0: grid)", opt->lambda);
    if (opt->lambda_bias < 0.0 || !isfinite(opt->lambda_bias) || opt->bias_reg < 0.0 ||
        !isfinite(opt->bias_reg))
        RP_FAIL_USER0(RP_ERR_USAGE, "--lambda-bias %g, --bias-reg %g: must be >= 0",
                      opt->lambda_bias, opt->bias_reg);
    if (!(opt->log_min > 0.0) || !isfinite(opt->log_min) || opt->log_max < 0.0 ||
        !isfinite(opt->log_max) || (opt->log_max > 0.0 && opt->log_max <= opt->log_min))
        RP_FAIL_USER0(RP_ERR_USAGE, "--log-min %g, --log-max %g: need 0 < log-min < log-max "
                      "(log-max 0: the clip point)", opt->log_min, opt->log_max);
    if (opt->iters < 1) RP_FAIL_USER0(RP_ERR_USAGE, "--iters %d: must be >= 1", opt->iters);
    if (opt->ckpt_every < 0 || opt->early_stop < 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "--checkpoint-every and --early-stop must be >= 0");
    als_grid g;
    RP_CALL(als_grid_init(opt, &g)); /* checks the lists now, before any input is read */
    als_grid_clear(&g);
    if (opt->checkpoint == NULL) {
        snprintf(ckpt, sizeof ckpt, "%s.ckpt", opt->out);
        opt->checkpoint = ckpt;
    }
cleanup:
    return rc;
}

/* flops of one half-sweep of side s on this rank: SYRK on [n, k+2] plus the Cholesky solve */
static double half_flops(const als_state *st, int s, int k)
{
    const als_side *sd = &st->side[s];
    double kk = k + 2.0, k1 = k + 1.0, f = 0.0;
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
    const als_hist *h = &st->hist;
    int best = -1;
    for (int i = 0; i < h->n; i++)
        if (!isnan(h->valid_rmse[i]) &&
            (best < 0 || h->valid_rmse[i] < h->valid_rmse[best] * (1.0 - 1e-4)))
            best = i;
    return best < 0 ? 0 : h->n - 1 - best;
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
    rc = als_hist_push(&st->hist, it, m, secs); /* a local allocation: agree before the */
    RP_AGREE(st->comm, rc);                       /* next collective (fault_inject.sh) */
    /* keep a copy of the best validation iterate: the output is this, not the last one */
    if (!isnan(m[1]) && (st->point_best.k == 0 || m[1] < st->point_best.valid_rmse))
        als_snap_take(st, &st->point_best, it, m[1]);
    rp_log_info("iter %lld train_rmse=%.6f valid_rmse=%.6f train_mae=%.6f valid_mae=%.6f "
                "sweep=%.3fs", (long long)it, m[0], m[1], m[2], m[3], *sweep_s);
    const char *delay = getenv("RP_ALS_TEST_DELAY_MS"); /* lets e2e tests signal mid-run */
    if (delay != NULL) usleep((useconds_t)atoi(delay) * 1000u);
cleanup:
    return rc;
}

static int resume_state(rp_stage *stg, als_state *st, const als_opts *opt, int64_t *start,
                        int *resumed)
{
    int rc = RP_OK;
    (void)stg;
    *start = 0;
    *resumed = 0;
    if (!opt->resume) return RP_OK;
    if (access(opt->checkpoint, F_OK) != 0) {
        rp_log_info("--resume: no checkpoint %s, starting from iteration 0", opt->checkpoint);
        return RP_OK;
    }
    RP_CALL(als_checkpoint_read(st, opt, opt->checkpoint, start));
    *resumed = 1;
    rp_log_info("resumed from %s: %d grid points done, k=%d lambda=%g after iteration %lld",
                opt->checkpoint, st->grid.n, st->k, st->lambda, (long long)*start);
cleanup:
    return rc;
}

/* timing of the sweeps over the whole job */
typedef struct sweep_stats {
    double best[2], sum;
    int64_t n;
} sweep_stats;

/* the summary line; sweep figures are those of the chosen point (its k), sweeps counts all */
static void summarise(rp_stage *stg, als_state *st, const sweep_stats *sw, int64_t sweeps)
{
    int k = st->best.k;
    double bytes = 0.0, flops = half_flops(st, 0, k) + half_flops(st, 1, k);
    rp_mpi_sum_f64(st->comm, &flops, 1);
    for (int s = 0; s < 2; s++)
        bytes += (double)st->side[s].route.recv_remote_rows * (k + 1) * (st->dbl ? 8.0 : 4.0);
    rp_mpi_sum_f64(st->comm, &bytes, 1);
    const als_hist *h = &st->best.hist;
    int64_t bi = st->best.iter > 0 ? st->best.iter - 1 : 0;
    rp_stage_add(stg, "k", "%d", st->best.k);
    rp_stage_add(stg, "lambda", "%g", st->best.lambda);
    rp_stage_add(stg, "penalty", "%s", st->penalty == ALS_PEN_CONST ? "const" : "wr");
    rp_stage_add(stg, "grid_points", "%d", st->grid.n);
    rp_stage_add(stg, "iterations", "%d", h->n);
    rp_stage_add(stg, "best_iteration", "%lld", (long long)st->best.iter);
    rp_stage_add(stg, "train_rmse", "%.6f", h->n > bi ? h->train_rmse[bi] : NAN);
    rp_stage_add(stg, "valid_rmse", "%.6f", st->best.valid_plain);
    rp_stage_add(stg, "bias_valid_rmse", "%.6f", st->bias_valid_plain);
    if (st->valid_item)
        rp_stage_add(stg, "selection_valid_rmse", "%.6f", st->best.valid_rmse);
    rp_stage_add(stg, "fallback", "%d", st->fallback);
    rp_stage_add(stg, "target", "%s", st->log_target ? "log" : "clipped");
    if (st->log_target) rp_stage_add(stg, "calib_gamma", "%.4f", st->best.gamma);
    rp_stage_add(stg, "exchange", "%s",
                 st->side[0].route.allgather ? "allgather" : "alltoallv");
    rp_stage_add(stg, "sweeps", "%lld", (long long)sweeps);
    if (sw->n > 0) {
        rp_stage_add(stg, "sweep_s_best", "%.4f", sw->best[0]);
        rp_stage_add(stg, "sweep_s_mean", "%.4f", sw->sum / (double)sw->n);
        rp_stage_add(stg, "sweep_cpu_s_best", "%.4f", sw->best[1]);
        rp_stage_add(stg, "gflop_per_sweep", "%.3f", flops / 1e9);
        rp_stage_add(stg, "gflops_best", "%.2f", flops / 1e9 / sw->best[0]);
    }
    rp_stage_add(stg, "exchange_bytes_per_sweep", "%.0f", bytes);
}

/* start_point - fresh factors at (k, lambda): every point starts from the seeded init, so a
 * point's result does not depend on the points before it. */
static int start_point(als_state *st, int k, double lambda)
{
    int rc = RP_OK;
    RP_CALL(als_set_rank(st, k, lambda));
    als_init_factors(st);
    als_hist_clear(&st->hist);
    st->point_best.k = 0;
cleanup:
    return rc;
}

/* train_point - iterations it+1 .. of the current point until --iters or the early stop;
 * checkpoints as asked and on signals (RP_ERR_INTERRUPTED). *it: iterations done. */
static int train_point(rp_stage *stg, als_state *st, const als_opts *opt, int64_t *it,
                       sweep_stats *sw)
{
    int rc = RP_OK;
    while (*it < opt->iters) {
        double sweep[2] = {0.0, 0.0};
        (*it)++;
        rc = iterate(st, *it, sweep); /* ends in a local history append */
        RP_AGREE(st->comm, rc);
        for (int j = 0; j < 2; j++) sw->best[j] = sweep[j] < sw->best[j] ? sweep[j] : sw->best[j];
        sw->sum += sweep[0];
        sw->n++;
        int stop = opt->early_stop > 0 && since_best(st) >= opt->early_stop;
        if (stop) rp_log_info("early stop: no better valid_rmse for %d iterations",
                              opt->early_stop);
        if (stop || *it == opt->iters) break;
        if (rp_signal_pending(st->comm)) {
            RP_CALL(als_checkpoint_write(stg, st, opt, opt->checkpoint, *it));
            rp_log_info("signal: checkpoint %s after iteration %lld; rerun with --resume",
                        opt->checkpoint, (long long)*it);
            rc = RP_ERR_INTERRUPTED;
            goto cleanup;
        }
        if (opt->ckpt_every > 0 && *it % opt->ckpt_every == 0)
            RP_CALL(als_checkpoint_write(stg, st, opt, opt->checkpoint, *it));
    }
cleanup:
    return rc;
}

/* finish_point - record the point in the grid; its best iterate becomes the overall best when
 * the grid says it is the best point (als_grid_best). */
static int finish_point(als_state *st, int64_t iters, const sweep_stats *sw, sweep_stats *sw_best)
{
    int rc = RP_OK;
    als_snap *pb = &st->point_best;
    double v = pb->k > 0 ? pb->valid_rmse : NAN;
    als_grid_push(&st->grid, st->k, st->lambda, st->lambda_bias, v, (int)pb->iter, (int)iters);
    rp_log_info("grid point k=%d lambda=%g: best valid_rmse=%.6f at iteration %lld of %lld",
                st->k, st->lambda, v, (long long)pb->iter, (long long)iters);
    if (als_grid_best(&st->grid) == st->grid.n - 1) { /* this point is the new best */
        void *fac[2] = {st->best.fac[0], st->best.fac[1]};
        rc = als_hist_copy(&st->best.hist, &st->hist); /* local allocation: agree */
        RP_AGREE(st->comm, rc);
        st->best.fac[0] = pb->fac[0]; /* swap the buffers instead of copying */
        st->best.fac[1] = pb->fac[1];
        pb->fac[0] = fac[0];
        pb->fac[1] = fac[1];
        st->best.k = pb->k;
        st->best.lambda = pb->lambda;
        st->best.iter = pb->iter;
        st->best.valid_rmse = v;
        st->best.valid_plain = pb->valid_plain;
        st->best.gamma = pb->gamma;
        *sw_best = *sw;
    }
cleanup:
    return rc;
}

int als_train(rp_stage *stg, als_state *st, const als_opts *opt, int64_t *iters_done)
{
    int rc = RP_OK, resumed = 0, k = 0;
    int64_t it = 0;
    double lambda = 0.0;
    const sweep_stats sw0 = {{INFINITY, INFINITY}, 0.0, 0};
    sweep_stats sw = sw0, sw_best = sw0;
    int64_t sweeps = 0;
    rc = als_snap_alloc(st, &st->point_best);
    if (rc == RP_OK) rc = als_snap_alloc(st, &st->best);
    RP_AGREE(st->comm, rc); /* local allocations before the collective baseline */
    RP_CALL(als_bias_baseline(st, opt));
    RP_CALL(resume_state(stg, st, opt, &it, &resumed));
    while (resumed || als_grid_next(&st->grid, &k, &lambda)) {
        if (!resumed) {
            RP_CALL(start_point(st, k, lambda));
            it = 0;
        }
        resumed = 0;
        sw = sw0;
        RP_CALL(train_point(stg, st, opt, &it, &sw));
        sweeps += sw.n;
        rc = finish_point(st, it, &sw, &sw_best); /* a local history copy */
        RP_AGREE(st->comm, rc);
    }
    /* Never worse than the bias baseline: on the selection metric and on the plain RMSE */
    if (st->best.k == 0 || !(st->best.valid_rmse <= st->bias_valid_rmse) ||
        !(st->best.valid_plain <= st->bias_valid_plain)) {
        rp_log_info("fallback: best ALS valid_rmse %.6f (plain %.6f) does not beat the bias "
                    "baseline's %.6f (plain %.6f); writing the bias baseline",
                    st->best.valid_rmse, st->best.valid_plain, st->bias_valid_rmse,
                    st->bias_valid_plain);
        RP_CALL(als_fallback(st, opt));
    }
    *iters_done = st->best.hist.n;
    summarise(stg, st, &sw_best, sweeps);
cleanup:
    return rc;
}
