/* rp_trainer.c - the epoch skeleton of the data-parallel SGD trainers (rp-twotower, rp-seqrec):
 * common options, learning-rate schedule, learning curve, best epoch, checkpoints and resume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rp_err.h"
#include "rp_fault.h"
#include "rp_h5.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_stage.h"
#include "rp_trainer.h"

/* Counters and accumulators of the loop state, in the checkpoint's attribute order. */
#define CKPT_COUNTERS 6
#define CKPT_ACC_MAX 5

static char ckpt_default[4096];

static const char *const schedules[] = {"cosine", "constant", NULL};

void rp_train_opts_default(rp_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->schedule = "constant";
    o->bias_reg = 10.0;
}

/* The common table: inputs first, the stage's options, then the run controls. */
static int build_table(const rp_train_cmd *tc, rp_train_opts *o, const rp_arg *extra,
                       int nextra, rp_arg *args)
{
    int n = 0;
    args[n++] = (rp_arg){"shards", RP_ARG_STR, &o->shards, "PATH", "input shards.h5 (required)",
                         NULL};
    args[n++] = (rp_arg){"features", RP_ARG_STR, &o->features, "PATH",
                         "input features.h5 (required)", NULL};
    args[n++] = (rp_arg){"out", RP_ARG_STR, &o->out, "PATH", tc->out_help, NULL};
    args[n++] = (rp_arg){"epochs", RP_ARG_INT, &o->epochs, "N", tc->epochs_help, NULL};
    args[n++] = (rp_arg){"batch", RP_ARG_INT, &o->batch, "B", tc->batch_help, NULL};
    args[n++] = (rp_arg){"micro-batch", RP_ARG_INT, &o->micro_batch, "M", tc->micro_help, NULL};
    args[n++] = (rp_arg){"lr", RP_ARG_DBL, &o->lr, "X", tc->lr_help, NULL};
    if (tc->with_schedule) {
        args[n++] = (rp_arg){"schedule", RP_ARG_STR, &o->schedule, "S", "learning-rate "
                             "schedule: cosine (linear warm-up, cosine decay to lr*lr-final "
                             "over all epochs) or constant", schedules};
        args[n++] = (rp_arg){"warmup", RP_ARG_I64, &o->warmup, "N",
                             "warm-up steps of the cosine schedule", NULL};
        args[n++] = (rp_arg){"lr-final", RP_ARG_DBL, &o->lr_final, "X", "final learning rate "
                             "of the cosine schedule, as a fraction of --lr", NULL};
    }
    if (n + nextra + 5 > RP_TRAIN_MAX_ARGS) return -1;
    for (int k = 0; k < nextra; k++) args[n++] = extra[k];
    args[n++] = (rp_arg){"bias-reg", RP_ARG_DBL, &o->bias_reg, "X", tc->bias_reg_help, NULL};
    args[n++] = (rp_arg){"checkpoint", RP_ARG_STR, &o->checkpoint, "PATH",
                         "checkpoint file (default <out>.ckpt)", NULL};
    args[n++] = (rp_arg){"resume", RP_ARG_FLAG, &o->resume, NULL,
                         "continue from the checkpoint if present", NULL};
    args[n++] = (rp_arg){"early-stop", RP_ARG_INT, &o->early_stop, "P", tc->early_help, NULL};
    args[n++] = (rp_arg){"interrupt-after", RP_ARG_I64, &o->interrupt_after, "N",
                         "testing aid: checkpoint and exit 75 after N steps (0 = off)", NULL};
    return n;
}

int rp_train_parse(int argc, char **argv, const rp_train_cmd *tc, rp_train_opts *o,
                   const rp_arg *extra, int nextra)
{
    int rc = RP_OK;
    rp_arg args[RP_TRAIN_MAX_ARGS];
    int nargs = build_table(tc, o, extra, nextra, args);
    RP_REQUIRE(nargs > 0, RP_ERR_INTERNAL, "%s: too many options", tc->cmd.prog);
    rc = rp_args_parse(argc, argv, &tc->cmd, args, nargs);
    if (rc != RP_OK) return rc;
    if (o->shards == NULL || o->features == NULL || o->out == NULL)
        RP_FAIL_USER0(RP_ERR_USAGE, "--shards, --features and --out are required (try "
                      "%s --help)", tc->cmd.prog);
    if (o->epochs < 1 || o->batch < 1 || o->micro_batch < 1 || !(o->lr > 0.0) ||
        !(o->bias_reg >= 0.0) || o->early_stop < 0 || o->interrupt_after < 0 || o->warmup < 0 ||
        !(o->lr_final >= 0.0 && o->lr_final <= 1.0))
        RP_FAIL_USER0(RP_ERR_USAGE, "out-of-range option: need epochs, batch, micro-batch >= 1, "
                      "lr > 0, bias-reg, early-stop%s >= 0%s", tc->with_schedule ? ", warmup" : "",
                      tc->with_schedule ? ", lr-final in [0, 1]" : "");
    if (o->checkpoint == NULL) {
        snprintf(ckpt_default, sizeof ckpt_default, "%s.ckpt", o->out);
        o->checkpoint = ckpt_default;
    }
cleanup:
    return rc;
}

double rp_train_lr_at(const rp_train_opts *o, int64_t t, int64_t total_steps)
{
    if (strcmp(o->schedule, "cosine") != 0) return o->lr;
    /* Warm-up keeps Adam's first, noisy steps small; the cosine tail lets the last epochs settle
     * instead of bouncing at the peak rate (the best epoch is then usually the last). */
    if (t <= o->warmup) return o->lr * (double)t / (double)(o->warmup + 1);
    int64_t span = total_steps - o->warmup;
    double x = span > 0 ? (double)(t - o->warmup) / (double)span : 1.0;
    x = x > 1.0 ? 1.0 : x;
    double lo = o->lr * o->lr_final;
    return lo + 0.5 * (o->lr - lo) * (1.0 + cos(3.14159265358979323846 * x));
}

int rp_train_better(double x, double best)
{
    return isnan(x) || x < best;
}

int rp_trainer_init(rp_trainer *tr, int epochs, int with_mae, int select_mae)
{
    size_t ep = (size_t)(epochs > 0 ? epochs : 1);
    rp_train_hist *h = &tr->hist;
    memset(tr, 0, sizeof *tr);
    tr->with_mae = with_mae;
    tr->select_mae = select_mae;
    tr->best_epoch = -1;
    tr->best_metric = INFINITY;
    h->epoch = rp_calloc(ep, sizeof *h->epoch);
    h->train_rmse = rp_calloc(ep, sizeof(double));
    h->train_mae = with_mae ? rp_calloc(ep, sizeof(double)) : NULL;
    h->valid_rmse = rp_calloc(ep, sizeof(double));
    h->valid_mae = rp_calloc(ep, sizeof(double));
    h->seconds = rp_calloc(ep, sizeof(double));
    if (!h->epoch || !h->train_rmse || (with_mae && !h->train_mae) || !h->valid_rmse ||
        !h->valid_mae || !h->seconds) {
        rp_log_error(__FILE__, __LINE__, "learning curve of %zu epochs: out of memory", ep);
        return RP_ERR_NOMEM;
    }
    return RP_OK;
}

void rp_trainer_clear(rp_trainer *tr)
{
    free(tr->hist.epoch);
    free(tr->hist.train_rmse);
    free(tr->hist.train_mae);
    free(tr->hist.valid_rmse);
    free(tr->hist.valid_mae);
    free(tr->hist.seconds);
    memset(tr, 0, sizeof *tr);
}

/* This process's CPU seconds. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The remaining steps of the current epoch. *interrupted on a signal or --interrupt-after. */
static int run_epoch(MPI_Comm comm, const rp_train_opts *o, rp_trainer *tr,
                     const rp_train_ops *ops, int64_t n, int64_t *run_steps, int *interrupted)
{
    int rc = RP_OK;
    int64_t B = o->batch, nsteps = (n + B - 1) / B;
    double t0 = MPI_Wtime(), c0 = cpu_seconds();
    char what[64];
    rp_progress pg;
    snprintf(what, sizeof what, "epoch %lld/%d", (long long)tr->epoch + 1, o->epochs);
    rp_progress_begin(&pg, what, nsteps, "batches");
    while (tr->step < nsteps) {
        int64_t p0 = tr->step * B, gbn = n - p0 < B ? n - p0 : B;
        int stop = 0;
        RP_CALL(ops->step(ops->ctx, p0, gbn, &stop));
        tr->step++;
        tr->steps_done++;
        rp_progress_update(&pg, tr->step);
        ++*run_steps;
        if (stop || (o->interrupt_after > 0 && *run_steps >= o->interrupt_after)) {
            *interrupted = 1;
            break;
        }
    }
    rp_progress_end(&pg);
    double dt = rp_wtime_max(comm, t0), dc = cpu_seconds() - c0;
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, &dc, 1, MPI_DOUBLE, MPI_MAX, comm));
    tr->ep_seconds += dt;
    tr->train_seconds += dt;
    tr->train_cpu_seconds += dc;
cleanup:
    return rc;
}

/* End of an epoch: validation, learning curve, best copy, early-stopping count. */
static int end_epoch(const rp_train_opts *o, rp_trainer *tr, const rp_train_ops *ops,
                     int64_t nsteps)
{
    int rc = RP_OK;
    double vr = NAN, va = NAN, t0 = MPI_Wtime();
    RP_CALL(ops->validate(ops->ctx, &vr, &va));
    rp_train_hist *h = &tr->hist;
    int64_t k = h->n++;
    h->epoch[k] = tr->epoch + 1;
    h->train_rmse[k] = tr->ep_n > 0 ? sqrt(tr->ep_sse / tr->ep_n) : NAN;
    if (tr->with_mae) h->train_mae[k] = tr->ep_n > 0 ? tr->ep_sae / tr->ep_n : NAN;
    h->valid_rmse[k] = vr;
    h->valid_mae[k] = va;
    h->seconds[k] = tr->ep_seconds;
    double x = tr->select_mae ? va : vr;
    if (rp_train_better(x, tr->best_metric)) {
        tr->best_metric = isnan(x) ? INFINITY : x;
        tr->best_epoch = tr->epoch + 1;
        tr->bad_epochs = 0;
        ops->save_best(ops->ctx);
    } else {
        tr->bad_epochs++;
    }
    char mae[48] = "";
    if (tr->with_mae) snprintf(mae, sizeof mae, " train_mae=%.5f", h->train_mae[k]);
    rp_log_info("epoch %lld/%d: train_rmse=%.5f%s valid_rmse=%.5f valid_mae=%.5f lr=%.3g, "
                "train %.1f s, validation %.1f s", (long long)(tr->epoch + 1), o->epochs,
                h->train_rmse[k], mae, vr, va, rp_train_lr_at(o, tr->t, nsteps * o->epochs),
                tr->ep_seconds, MPI_Wtime() - t0);
    tr->epoch++;
    tr->step = 0;
    tr->ep_sse = tr->ep_sae = tr->ep_n = tr->ep_seconds = 0.0;
cleanup:
    return rc;
}

int rp_trainer_run(MPI_Comm comm, const rp_train_opts *o, rp_trainer *tr,
                   const rp_train_ops *ops, const rp_train_ckpt *ck)
{
    int rc = RP_OK, interrupted = 0;
    int64_t run_steps = 0;
    while (tr->epoch < o->epochs && !(o->early_stop > 0 && tr->bad_epochs >= o->early_stop)) {
        int64_t n = 0;
        ops->epoch_begin(ops->ctx, tr->epoch, &n);
        rc = run_epoch(comm, o, tr, ops, n, &run_steps, &interrupted);
        RP_AGREE(comm, rc);
        if (!interrupted) RP_CALL(end_epoch(o, tr, ops, (n + o->batch - 1) / o->batch));
        if (!interrupted) interrupted = rp_signal_pending(comm);
        if (ops->before_checkpoint != NULL) RP_CALL(ops->before_checkpoint(ops->ctx));
        RP_CALL(rp_trainer_ckpt_write(comm, ck, tr, o->epochs));
        if (interrupted) {
            rp_log_info("interrupted: checkpoint %s written at epoch %lld step %lld", ck->path,
                        (long long)tr->epoch, (long long)tr->step);
            rc = RP_ERR_INTERRUPTED; /* not an error: exit 75 asks for a requeue */
            goto cleanup;
        }
    }
    /* The output is the model of the best validation epoch. */
    ops->restore_best(ops->ctx);
cleanup:
    return rp_mpi_agree(comm, rc);
}

int rp_train_allgather(MPI_Comm comm, const int64_t *send, int64_t nsend, int64_t *recv,
                       int64_t cap, int *counts, int *displs, int64_t *total, double *bytes)
{
    int rc = RP_OK, size = 1, nloc = 0;
    int64_t sum = 0;
    RP_MPI(MPI_Comm_size(comm, &size));
    RP_CALL(rp_int_cast(nsend, &nloc));
    RP_MPI(MPI_Allgather(&nloc, 1, MPI_INT, counts, 1, MPI_INT, comm));
    for (int p = 0; p < size; p++) {
        displs[p] = (int)(sum < INT32_MAX ? sum : 0); /* an overflow fails below */
        sum += counts[p];
    }
    /* every rank has the same counts, so every rank fails here alike */
    RP_REQUIRE(sum <= cap && sum < INT32_MAX, RP_ERR_INTERNAL, "sparse exchange of %lld words: "
               "over its capacity %lld", (long long)sum, (long long)cap);
    RP_MPI(MPI_Allgatherv(send, nloc, MPI_INT64_T, recv, counts, displs, MPI_INT64_T, comm));
    *bytes += (double)sum * sizeof(int64_t);
    *total = sum;
cleanup:
    return rc;
}

int rp_trainer_hist_write(MPI_Comm comm, hid_t f, const rp_trainer *tr, int64_t len)
{
    int rc = RP_OK;
    const rp_train_hist *h = &tr->hist;
    RP_CALL(rp_h5_put_replicated(comm, f, "/history/epoch", RP_I64, len, 0, h->epoch));
    RP_CALL(rp_h5_put_replicated(comm, f, "/history/train_rmse", RP_F64, len, 0, h->train_rmse));
    if (tr->with_mae)
        RP_CALL(rp_h5_put_replicated(comm, f, "/history/train_mae", RP_F64, len, 0,
                                     h->train_mae));
    RP_CALL(rp_h5_put_replicated(comm, f, "/history/valid_rmse", RP_F64, len, 0, h->valid_rmse));
    RP_CALL(rp_h5_put_replicated(comm, f, "/history/valid_mae", RP_F64, len, 0, h->valid_mae));
    RP_CALL(rp_h5_put_replicated(comm, f, "/history/seconds", RP_F64, len, 0, h->seconds));
cleanup:
    return rc;
}

/* The accumulators of the loop state (train MAE only with_mae). Returns their count. */
static int pack_acc(const rp_trainer *tr, double *acc)
{
    int n = 0;
    acc[n++] = tr->best_metric;
    acc[n++] = tr->ep_sse;
    if (tr->with_mae) acc[n++] = tr->ep_sae;
    acc[n++] = tr->ep_n;
    acc[n++] = tr->ep_seconds;
    return n;
}

static void unpack_acc(rp_trainer *tr, const double *acc)
{
    int n = 0;
    tr->best_metric = acc[n++];
    tr->ep_sse = acc[n++];
    if (tr->with_mae) tr->ep_sae = acc[n++];
    tr->ep_n = acc[n++];
    tr->ep_seconds = acc[n++];
}

int rp_trainer_ckpt_write(MPI_Comm comm, const rp_train_ckpt *ck, const rp_trainer *tr,
                          int epochs)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    int64_t ctr[CKPT_COUNTERS] = {tr->t, tr->epoch, tr->step, tr->best_epoch, tr->bad_epochs,
                                  tr->hist.n};
    double acc[CKPT_ACC_MAX];
    int nacc = pack_acc(tr, acc);
    RP_CALL(rp_h5_create(comm, ck->path, &f));
    for (int k = 0; k < ck->narrays; k++) {
        const rp_train_array *a = &ck->arrays[k];
        RP_CALL(rp_h5_put_replicated(comm, f, a->name, RP_F32, a->rows, a->cols, a->data));
    }
    RP_CALL(rp_trainer_hist_write(comm, f, tr, epochs > 0 ? epochs : 1));
    RP_CALL(rp_h5_attr_write_str(f, "/", "config", ck->config));
    RP_CALL(rp_h5_attr_write_str(f, "/", "inputs", ck->inputs));
    RP_CALL(rp_h5_attr_write(f, "/", "counters", RP_I64, CKPT_COUNTERS, ctr));
    RP_CALL(rp_h5_attr_write(f, "/", "accumulators", RP_F64, nacc, acc));
cleanup:
    return rp_h5_commit(comm, &f, ck->path, rc);
}

void rp_trainer_ckpt_remove(MPI_Comm comm, const char *path)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) unlink(path);
}

/* Read a replicated dataset of at least n elements (exactly n if exact) into dst. */
static int get(hid_t f, const char *path, const char *name, rp_dtype t, int64_t n, int exact,
               void *dst)
{
    int rc = RP_OK, nd = 0;
    void *buf = NULL;
    int64_t d[2] = {0, 1};
    RP_CALL(rp_h5_read_all(f, name, t, &buf, &nd, d));
    int64_t have = d[0] * (nd == 2 ? d[1] : 1);
    if (exact ? have != n : have < n)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has the wrong size for this model", path, name);
    memcpy(dst, buf, (size_t)n * rp_dtype_size(t));
cleanup:
    free(buf);
    return rc;
}

static int read_hist(hid_t f, const char *path, rp_train_hist *h, int with_mae, int64_t n)
{
    int rc = RP_OK;
    RP_CALL(get(f, path, "/history/epoch", RP_I64, n, 0, h->epoch));
    RP_CALL(get(f, path, "/history/train_rmse", RP_F64, n, 0, h->train_rmse));
    if (with_mae) RP_CALL(get(f, path, "/history/train_mae", RP_F64, n, 0, h->train_mae));
    RP_CALL(get(f, path, "/history/valid_rmse", RP_F64, n, 0, h->valid_rmse));
    RP_CALL(get(f, path, "/history/valid_mae", RP_F64, n, 0, h->valid_mae));
    RP_CALL(get(f, path, "/history/seconds", RP_F64, n, 0, h->seconds));
cleanup:
    return rc;
}

/* The options and inputs the checkpoint was made with must be these. */
static int check_origin(hid_t f, const rp_train_ckpt *ck)
{
    int rc = RP_OK;
    char got[4096];
    RP_CALL(rp_h5_attr_read_str(f, "/", "config", got, sizeof got));
    if (strcmp(ck->config, got) != 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "%s: checkpoint made with other options (%s); delete it or "
                      "rerun with them", ck->path, got);
    RP_CALL(rp_h5_attr_read_str(f, "/", "inputs", got, sizeof got));
    if (strcmp(ck->inputs, got) != 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "%s: checkpoint made from other input files (%s); delete it",
                      ck->path, got);
cleanup:
    return rc;
}

int rp_trainer_ckpt_read(MPI_Comm comm, const rp_train_ckpt *ck, int epochs, rp_trainer *tr)
{
    int rc = RP_OK, rank = 0, exists = 0;
    hid_t f = H5I_INVALID_HID;
    const char *p = ck->path;
    int64_t ctr[CKPT_COUNTERS];
    double acc[CKPT_ACC_MAX];
    int nacc = pack_acc(tr, acc);
    RP_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0) exists = access(p, F_OK) == 0;
    RP_MPI(MPI_Bcast(&exists, 1, MPI_INT, 0, comm));
    if (!exists) {
        rp_log_info("--resume: no checkpoint %s, starting from scratch", p);
        return RP_OK;
    }
    RP_CALL(rp_h5_open(comm, p, &f));
    RP_CALL(check_origin(f, ck));
    RP_CALL(rp_h5_attr_read(f, "/", "counters", RP_I64, CKPT_COUNTERS, ctr));
    RP_CALL(rp_h5_attr_read(f, "/", "accumulators", RP_F64, nacc, acc));
    if (ctr[5] < 0 || ctr[5] > epochs)
        RP_FAIL_USER0(RP_ERR_USAGE, "%s: checkpoint already ran %lld epochs > --epochs %d", p,
                      (long long)ctr[5], epochs);
    for (int k = 0; k < ck->narrays; k++) {
        const rp_train_array *a = &ck->arrays[k];
        RP_CALL(get(f, p, a->name, RP_F32, a->rows * (a->cols > 0 ? a->cols : 1), 1, a->data));
    }
    RP_CALL(read_hist(f, p, &tr->hist, tr->with_mae, ctr[5]));
    tr->t = ctr[0];
    tr->epoch = ctr[1];
    tr->step = ctr[2];
    tr->best_epoch = ctr[3];
    tr->bad_epochs = ctr[4];
    tr->hist.n = ctr[5];
    unpack_acc(tr, acc);
    rp_log_info("resumed from %s at epoch %lld step %lld", p, (long long)tr->epoch,
                (long long)tr->step);
cleanup:
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}
