/* seqrec_opts.c - rp-seqrec's command line: option table, defaults, checks, architecture. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_args.h"
#include "rp_err.h"
#include "rp_log.h"
#include "seqrec.h"

void seqrec_opts_default(sr_opts *o)
{
    memset(o, 0, sizeof *o);
    rp_train_opts_default(&o->train);
    o->train.epochs = 8;
    o->train.batch = 32;
    o->train.micro_batch = 4;
    o->train.early_stop = 2;
    o->train.lr = 0.002;
    o->d = 32;
    o->heads = 2;
    o->blocks = 2;
    o->ffn = 64;
    o->window = 64;
    o->buckets = 16;
    o->windows_per_user = 8;
    o->dropout = 0.0;
    o->seed = 42;
    o->fallback = 1;
    o->user_vec = 1;
    o->freeze_init = 1;
    o->target = "log";
    o->log_min = 0.4;
    o->log_max = 0.0;
}

static const char *const targets[] = {"log", "clipped", NULL};

static const rp_train_cmd cmd = {
    {"rp-seqrec",
     "train a causal transformer over each user's viewing sequence (MPI) -> seqrec.h5",
     "Reads /train, /valid, /test of shards.h5 (time-ordered rows) and /item/cat (author),\n"
     "/item/tags of features.h5. Writes /score/{user,item} (final user states), /test_pred\n"
     "(time-aware predictions aligned with /test/by_user), /weights/..., /history/...\n"
     "(see docs/stages/seqrec.md). SIGTERM/SIGUSR1: checkpoint at the next step, exit 75.\n"},
    "output seqrec.h5 (required)",
    "maximum training epochs",
    "windows per optimiser step (all ranks)",
    "windows per gradient unit spread over the ranks (results never depend on the rank count)",
    "Adam learning rate",
    "stop after P epochs without a better validation RMSE (0 = off)",
    "regularisation of the bias model it must beat (as rp-eval's --bias-reg)",
    0};

int seqrec_parse_args(int argc, char **argv, sr_opts *o)
{
    int rc = RP_OK;
    const rp_arg args[] = {
        {"windows-per-user", RP_ARG_INT, &o->windows_per_user, "K",
         "training windows drawn per user and epoch", NULL},
        {"dim", RP_ARG_INT, &o->d, "D", "model width", NULL},
        {"heads", RP_ARG_INT, &o->heads, "H", "attention heads (must divide --dim)", NULL},
        {"blocks", RP_ARG_INT, &o->blocks, "N", "transformer blocks", NULL},
        {"ffn", RP_ARG_INT, &o->ffn, "F", "feed-forward inner width", NULL},
        {"window", RP_ARG_INT, &o->window, "T", "views per window (learned positions)", NULL},
        {"buckets", RP_ARG_INT, &o->buckets, "NB", "watch-ratio buckets of the input embedding",
         NULL},
        {"dropout", RP_ARG_DBL, &o->dropout, "P", "dropout on embeddings, attention and FFN "
         "outputs", NULL},
        {"fallback", RP_ARG_FLAG, &o->fallback, NULL, "write the bias model instead when it "
         "validates better (--no-fallback: always the transformer; beats_bias still says)",
         NULL},
        {"user-vec", RP_ARG_FLAG, &o->user_vec, NULL, "add a learned vector per user to every "
         "output state (--no-user-vec: the state is the transformer's output alone)", NULL},
        {"init", RP_ARG_STR, &o->init, "ALS_H5", "start user vectors, video embeddings, biases "
         "and mu at this rp-als --target log fit (--dim is raised to hold its k); the transformer "
         "then learns "
         "what the static factors miss", NULL},
        {"freeze-init", RP_ARG_FLAG, &o->freeze_init, NULL, "with --init: keep what it set "
         "fixed (--no-freeze-init: train it too)", NULL},
        {"seed", RP_ARG_I64, &o->seed, "S", "seed of initialisation, windows, shuffles, dropout",
         NULL},
        {"target", RP_ARG_STR, &o->target, "T", "what the next view's prediction fits: log (log "
         "watch ratio of the views with --log-min <= watch ratio < --log-max, mapped onto the "
         "normalised scale by a gain fitted on validation) or clipped (the normalised value)",
         targets},
        {"log-min", RP_ARG_DBL, &o->log_min, "WR", "log target: smallest watch ratio kept", NULL},
        {"log-max", RP_ARG_DBL, &o->log_max, "WR", "log target: watch ratios kept are below this "
         "(0 = the clip point, norm_max of shards.h5)", NULL},
    };
    rc = rp_train_parse(argc, argv, &cmd, &o->train, args, (int)(sizeof args / sizeof args[0]));
    if (rc != RP_OK) return rc;
    if (o->windows_per_user < 1 || o->d < 1 || o->d > 1024 || o->heads < 1 ||
        o->heads > SR_MAX_HEADS || o->d % o->heads != 0 || o->blocks < 0 ||
        o->blocks > SR_MAX_BLOCKS || o->ffn < 1 || o->ffn > 8192 || o->window < 2 ||
        o->window > 4096 || o->buckets < 1 || o->buckets > 256 ||
        !(o->dropout >= 0.0 && o->dropout < 1.0) || o->train.batch > 1 << 20 ||
        o->windows_per_user > 1000)
        RP_FAIL_USER0(RP_ERR_USAGE, "out-of-range option: need 1 <= windows-per-user <= 1000, "
                      "1 <= dim <= 1024 divisible by heads (<= %d), 0 <= blocks <= %d, "
                      "1 <= ffn <= 8192, 2 <= window <= 4096, 1 <= buckets <= 256, "
                      "0 <= dropout < 1, batch <= %d", SR_MAX_HEADS, SR_MAX_BLOCKS, 1 << 20);
    if (!(o->log_min > 0.0) || o->log_max < 0.0 || (o->log_max > 0.0 && o->log_max <= o->log_min))
        RP_FAIL_USER0(RP_ERR_USAGE, "--log-min %g, --log-max %g: need 0 < log-min < log-max "
                      "(log-max 0: the clip point)", o->log_min, o->log_max);
cleanup:
    return rc;
}

void seqrec_config(const sr_opts *o, const sr_data *d, sr_config *c)
{
    memset(c, 0, sizeof *c);
    c->d = o->d;
    c->heads = o->heads;
    c->blocks = o->blocks;
    c->ffn = o->ffn;
    c->T = o->window;
    c->buckets = o->buckets;
    c->dropout = (float)o->dropout;
    c->n_users = d->n_users;
    c->n_items = d->n_items;
    c->n_authors = d->author ? d->n_authors : 0;
    c->tag_rows = d->tags ? d->tag_rows : 0;
    c->tag_len = d->tags ? d->tag_len : 0;
    c->user_vec = o->user_vec;
}

void seqrec_config_string(const sr_opts *o, char *buf, size_t cap)
{
    snprintf(buf, cap, "dim=%d heads=%d blocks=%d ffn=%d window=%d buckets=%d dropout=%.17g "
             "lr=%.17g batch=%d micro_batch=%d windows_per_user=%d seed=%lld target=%s "
             "log_min=%.17g log_max=%.17g user_vec=%d init=%s freeze_init=%d", o->d, o->heads,
             o->blocks, o->ffn, o->window, o->buckets, o->dropout, o->train.lr, o->train.batch,
             o->train.micro_batch, o->windows_per_user, (long long)o->seed, o->target,
             o->log_min, o->log_max, o->user_vec, o->init ? o->init : "",
             o->freeze_init);
}
