/* test_rp_trainer.c - the SGD epoch skeleton shared by rp-twotower and rp-seqrec: the learning-rate
 * schedule, the best-epoch rule, and a toy trainer run through rp_trainer_run: the best epoch's
 * weights restored, an interrupted and resumed run bit-identical to an uninterrupted one, a
 * checkpoint of other options refused. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rp_err.h"
#include "rp_test.h"
#include "rp_trainer.h"

int test_rp_trainer_register(void);

/* The cosine schedule: linear warm-up to lr, then cosine decay to lr * lr_final at the end. */
static void lr_schedule(void)
{
    rp_train_opts o;
    rp_train_opts_default(&o);
    CU_ASSERT_STRING_EQUAL(o.schedule, "constant");
    o.schedule = "cosine";
    o.lr = 0.01;
    o.warmup = 9;
    o.lr_final = 0.1;
    CU_ASSERT_DOUBLE_EQUAL(rp_train_lr_at(&o, 1, 109), 0.001, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(rp_train_lr_at(&o, 9, 109), 0.009, 1e-15);
    double x = 3.14159265358979323846 / 100; /* 1 of 100 steps after the warm-up */
    CU_ASSERT_DOUBLE_EQUAL(rp_train_lr_at(&o, 10, 109), 0.01 - 0.009 * (1 - cos(x)) / 2, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(rp_train_lr_at(&o, 59, 109), 0.0055, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(rp_train_lr_at(&o, 109, 109), 0.001, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(rp_train_lr_at(&o, 500, 109), 0.001, 1e-15);
    o.schedule = "constant";
    CU_ASSERT_EQUAL(rp_train_lr_at(&o, 1, 109), 0.01);
    CU_ASSERT_EQUAL(rp_train_lr_at(&o, 100, 109), 0.01);
}

/* The best epoch: strictly lower metric wins, ties keep the earlier, NaN (no validation) takes
 * the latest. */
static void best_epoch_rule(void)
{
    CU_ASSERT(rp_train_better(0.15, INFINITY));
    CU_ASSERT(rp_train_better(0.149, 0.15));
    CU_ASSERT(!rp_train_better(0.15, 0.15));
    CU_ASSERT(!rp_train_better(0.151, 0.15));
    CU_ASSERT(rp_train_better(NAN, 0.15));
}

/* A toy model: 3 weights moved by every step as a function of the step's position, so any
 * skipped, repeated or reordered step changes the bits. */
#define TOY_N 10   /* samples per epoch */
#define TOY_W 3
typedef struct toy {
    const rp_train_opts *o;
    rp_trainer *tr;
    float w[TOY_W], best[TOY_W];
} toy;

static void toy_epoch_begin(void *ctx, int64_t epoch, int64_t *n)
{
    (void)ctx;
    (void)epoch;
    *n = TOY_N;
}

static int toy_step(void *ctx, int64_t p0, int64_t gbn, int *stop)
{
    toy *y = ctx;
    rp_trainer *tr = y->tr;
    int64_t t = ++tr->t, total = (TOY_N + y->o->batch - 1) / y->o->batch * y->o->epochs;
    float lr = (float)rp_train_lr_at(y->o, t, total);
    for (int k = 0; k < TOY_W; k++) y->w[k] = y->w[k] * 0.9f + lr * (float)(p0 * (k + 1) + gbn);
    tr->ep_sse += (double)y->w[0] * gbn;
    tr->ep_sae += (double)y->w[1];
    tr->ep_n += (double)gbn;
    tr->samples_done += (double)gbn;
    *stop = 0;
    return RP_OK;
}

/* Validation falls, then rises: the best epoch is the third of five. */
static int toy_validate(void *ctx, double *rmse, double *mae)
{
    static const double curve[] = {0.5, 0.3, 0.2, 0.25, 0.4, 0.45};
    toy *y = ctx;
    int64_t k = y->tr->hist.n < 6 ? y->tr->hist.n : 5;
    *rmse = curve[k];
    *mae = curve[k] / 2 + y->w[2] * 1e-9;
    return RP_OK;
}

static void toy_save(void *ctx)
{
    toy *y = ctx;
    memcpy(y->best, y->w, sizeof y->w);
}

static void toy_restore(void *ctx)
{
    toy *y = ctx;
    memcpy(y->w, y->best, sizeof y->w);
}

/* Run (or resume) the toy; returns rp_trainer_run's rc, the state in *tr and *y. */
static int toy_run(const rp_train_opts *o, const char *config, rp_trainer *tr, toy *y)
{
    const rp_train_ops ops = {y, toy_epoch_begin, toy_step, toy_validate, toy_save, toy_restore,
                              NULL};
    rp_train_ckpt ck = {o->checkpoint, config, "inputs=toy", 2,
                        {{"/w", y->w, TOY_W, 0}, {"/best", y->best, 1, TOY_W}}};
    int rc = rp_trainer_init(tr, o->epochs, 1, 0);
    y->o = o;
    y->tr = tr;
    for (int k = 0; k < TOY_W; k++) y->w[k] = y->best[k] = (float)k;
    if (rc == RP_OK && o->resume) rc = rp_trainer_ckpt_read(MPI_COMM_SELF, &ck, o->epochs, tr);
    if (rc == RP_OK) rc = rp_trainer_run(MPI_COMM_SELF, o, tr, &ops, &ck);
    return rc;
}

static void toy_opts(rp_train_opts *o)
{
    rp_train_opts_default(o);
    o->schedule = "cosine";
    o->lr = 0.1;
    o->warmup = 2;
    o->lr_final = 0.2;
    o->epochs = 5;
    o->batch = 3;
    o->micro_batch = 1;
    o->checkpoint = rp_test_path("toy.ckpt");
}

static void loop_best_and_resume(void)
{
    rp_train_opts o;
    rp_trainer full, cut, again;
    toy yf, yc, ya;
    toy_opts(&o);
    remove(o.checkpoint);
    CU_ASSERT_EQUAL_FATAL(toy_run(&o, "toy v1", &full, &yf), RP_OK);
    CU_ASSERT_EQUAL(full.hist.n, 5);
    CU_ASSERT_EQUAL(full.best_epoch, 3);
    CU_ASSERT_EQUAL(full.t, 20); /* 4 steps of 3, 3, 3, 1 samples per epoch */
    CU_ASSERT(memcmp(yf.w, yf.best, sizeof yf.w) == 0); /* the best epoch's weights */
    CU_ASSERT(yf.w[1] != yf.w[2]);
    /* interrupted mid-epoch 2, then resumed from the checkpoint: the same bits */
    o.interrupt_after = 6;
    CU_ASSERT_EQUAL_FATAL(toy_run(&o, "toy v1", &cut, &yc), RP_ERR_INTERRUPTED);
    CU_ASSERT_EQUAL(cut.epoch, 1);
    CU_ASSERT_EQUAL(cut.step, 2);
    o.interrupt_after = 0;
    o.resume = 1;
    CU_ASSERT_EQUAL_FATAL(toy_run(&o, "toy v1", &again, &ya), RP_OK);
    CU_ASSERT(memcmp(yf.w, ya.w, sizeof yf.w) == 0);
    CU_ASSERT_EQUAL(again.t, full.t);
    CU_ASSERT_EQUAL(again.best_epoch, full.best_epoch);
    CU_ASSERT_EQUAL(again.hist.n, full.hist.n);
    CU_ASSERT(memcmp(again.hist.train_rmse, full.hist.train_rmse, 5 * sizeof(double)) == 0);
    CU_ASSERT(memcmp(again.hist.train_mae, full.hist.train_mae, 5 * sizeof(double)) == 0);
    CU_ASSERT(memcmp(again.hist.valid_mae, full.hist.valid_mae, 5 * sizeof(double)) == 0);
    CU_ASSERT_EQUAL(again.samples_done + cut.samples_done, full.samples_done);
    rp_trainer_clear(&cut);
    rp_trainer_clear(&again);
    /* a checkpoint of other options is refused, not resumed */
    CU_ASSERT_EQUAL_FATAL(rp_trainer_ckpt_write(MPI_COMM_SELF, &(rp_train_ckpt){o.checkpoint,
                          "toy v1", "inputs=toy", 1, {{"/w", yf.w, TOY_W, 0}}}, &full, o.epochs),
                          RP_OK);
    CU_ASSERT_EQUAL(toy_run(&o, "toy v2", &again, &ya), RP_ERR_USAGE);
    rp_trainer_clear(&again);
    rp_trainer_ckpt_remove(MPI_COMM_SELF, o.checkpoint);
    FILE *f = fopen(o.checkpoint, "r");
    CU_ASSERT_PTR_NULL(f);
    if (f) fclose(f);
    rp_trainer_clear(&full);
}

int test_rp_trainer_register(void)
{
    RP_ADD_SUITE("rp_trainer", RP_T(lr_schedule), RP_T(best_epoch_rule),
                 RP_T(loop_best_and_resume));
    return 0;
}
