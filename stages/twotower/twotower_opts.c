/* twotower_opts.c - rp-twotower's command line: option table, defaults, checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_args.h"
#include "rp_err.h"
#include "rp_log.h"
#include "twotower.h"

static char ckpt_default[4096];

void twotower_opts_default(tt_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 3;
    o->batch = 8192;
    o->micro_batch = 1024;
    o->dim = 8;
    o->emb_dim = 8;
    o->hidden = "";
    o->head = "dot";
    o->id_path = "add";
    o->bias = 1;
    o->bias_init = 1;
    o->schedule = "cosine";
    o->select = "rmse";
    o->warmup = 20;
    o->lr_final = 0.05;
    o->loss = "mse";
    o->lr = 0.01;
    o->weight_decay = 1e-6;
    o->emb_weight_decay = 0.0;
    o->bias_reg = 10.0;
    o->huber_delta = 0.1;
    o->seed = 42;
    o->user_id = 1;
    o->item_id = 1;
    o->early_stop = 2;
}

static const char *const heads[] = {"dot", "sigmoid", "cosine", NULL};
static const char *const id_paths[] = {"add", "mlp", NULL};
static const char *const schedules[] = {"cosine", "constant", NULL};
static const char *const selects[] = {"rmse", "mae", NULL};
static const char *const losses[] = {"mse", "huber", NULL};

int twotower_parse_args(int argc, char **argv, tt_opts *o)
{
    int rc = RP_OK;
    const rp_arg args[] = {
        {"shards", RP_ARG_STR, &o->shards, "PATH", "input shards.h5 (required)", NULL},
        {"features", RP_ARG_STR, &o->features, "PATH", "input features.h5 (required)", NULL},
        {"out", RP_ARG_STR, &o->out, "PATH", "output twotower.h5 (required)", NULL},
        {"epochs", RP_ARG_INT, &o->epochs, "N", "training epochs", NULL},
        {"batch", RP_ARG_INT, &o->batch, "B", "global batch (interactions per step, all ranks)",
         NULL},
        {"micro-batch", RP_ARG_INT, &o->micro_batch, "M", "gradient unit: a batch's units are "
         "spread over ranks; results never depend on the rank count",
         NULL},
        {"lr", RP_ARG_DBL, &o->lr, "X", "Adam learning rate (peak of the schedule)", NULL},
        {"schedule", RP_ARG_STR, &o->schedule, "S", "learning-rate schedule: cosine (linear "
         "warm-up, cosine decay to lr*lr-final over all epochs) or constant", schedules},
        {"warmup", RP_ARG_I64, &o->warmup, "N", "warm-up steps of the cosine schedule", NULL},
        {"lr-final", RP_ARG_DBL, &o->lr_final, "X", "final learning rate of the cosine "
         "schedule, as a fraction of --lr", NULL},
        {"dim", RP_ARG_INT, &o->dim, "D", "tower output dimension", NULL},
        {"hidden", RP_ARG_STR, &o->hidden, "LIST", "hidden ReLU layer widths, e.g. \"64,32\" "
         "(\"\" = none)", NULL},
        {"emb-dim", RP_ARG_INT, &o->emb_dim, "E", "embedding size of every categorical slot",
         NULL},
        {"head", RP_ARG_STR, &o->head, "HEAD", "dot: u.v+c+b_u+b_i; sigmoid: "
         "sigmoid(a*u.v+c+b_u+b_i); cosine: a*cos(u,v)+c+b_u+b_i", heads},
        {"output", RP_ARG_STR, &o->head, "HEAD", "old name of --head", heads},
        {"id-path", RP_ARG_STR, &o->id_path, "P", "add: tower = id vector + MLP(features); mlp: "
         "the id embedding is an MLP input (the seed's shape)", id_paths},
        {"bias", RP_ARG_FLAG, &o->bias, NULL, "per-user and per-video bias terms", NULL},
        {"bias-init", RP_ARG_FLAG, &o->bias_init, NULL, "start the bias terms and the shift at "
         "the bias model's (dot and cosine heads)", NULL},
        {"loss", RP_ARG_STR, &o->loss, "L", "training loss", losses},
        {"huber-delta", RP_ARG_DBL, &o->huber_delta, "X", "Huber threshold", NULL},
        {"weight-decay", RP_ARG_DBL, &o->weight_decay, "W", "L2 on MLP weight matrices", NULL},
        {"emb-weight-decay", RP_ARG_DBL, &o->emb_weight_decay, "W", "L2 on the embedding rows "
         "(feature tables, id vectors; not bias terms) a step touched", NULL},
        {"seed", RP_ARG_I64, &o->seed, "S", "seed of initialisation and shuffles", NULL},
        {"user-id", RP_ARG_FLAG, &o->user_id, NULL, "user id embedding in the user tower", NULL},
        {"item-id", RP_ARG_FLAG, &o->item_id, NULL, "video id embedding in the video tower",
         NULL},
        {"checkpoint", RP_ARG_STR, &o->checkpoint, "PATH", "checkpoint file (default <out>.ckpt)",
         NULL},
        {"resume", RP_ARG_FLAG, &o->resume, NULL, "continue from the checkpoint if present",
         NULL},
        {"early-stop", RP_ARG_INT, &o->early_stop, "P", "stop after P epochs without a better "
         "validation metric (0 = off)", NULL},
        {"select", RP_ARG_STR, &o->select, "M", "validation metric of the best epoch and early "
         "stopping", selects},
        {"bias-reg", RP_ARG_DBL, &o->bias_reg, "X", "regularisation of the bias model the result "
         "is compared with (as rp-eval's --bias-reg)", NULL},
        {"interrupt-after", RP_ARG_I64, &o->interrupt_after, "N", "testing aid: checkpoint and "
         "exit 75 after N steps (0 = off)", NULL},
    };
    const rp_cmd cmd = {
        "rp-twotower",
        "train the two-tower model data-parallel (MPI) and write twotower.h5",
        "Reads /train and /valid of shards.h5 and the user/video features of features.h5.\n"
        "Writes /score/{user,item} (+ post/scale/shift), /user_embedding, /item_embedding,\n"
        "/weights/..., /history/... (see docs/stages/twotower.md).\n"
        "SIGTERM/SIGUSR1: checkpoint at the next step and exit 75.\n"};
    rc = rp_args_parse(argc, argv, &cmd, args, (int)(sizeof args / sizeof args[0]));
    if (rc != RP_OK) return rc;
    if (o->shards == NULL || o->features == NULL || o->out == NULL)
        RP_FAIL_USER0(RP_ERR_USAGE, "--shards, --features and --out are required (try "
                      "rp-twotower --help)");
    if (o->epochs < 1 || o->batch < 1 || o->dim < 1 || o->emb_dim < 1 || !(o->lr > 0.0) ||
        o->weight_decay < 0.0 || !(o->huber_delta > 0.0) || o->early_stop < 0 ||
        o->interrupt_after < 0 || o->batch > 1 << 24 || o->dim > 4096 ||
        o->emb_dim > TT_MAX_EMB || o->micro_batch < 1 || o->emb_weight_decay < 0.0 ||
        o->warmup < 0 || !(o->lr_final >= 0.0 && o->lr_final <= 1.0) || o->bias_reg < 0.0)
        RP_FAIL_USER0(RP_ERR_USAGE, "out-of-range option: need epochs, batch, micro-batch, dim, "
                      "emb-dim >= 1 (emb-dim <= %d), lr > 0, weight-decay, emb-weight-decay, "
                      "warmup, bias-reg >= 0, lr-final in [0, 1], huber-delta > 0, "
                      "early-stop >= 0", TT_MAX_EMB);
    if (o->checkpoint == NULL) {
        snprintf(ckpt_default, sizeof ckpt_default, "%s.ckpt", o->out);
        o->checkpoint = ckpt_default;
    }
cleanup:
    return rc;
}
