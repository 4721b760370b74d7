/* twotower_opts.c - rp-twotower's command line: the model's options (the common trainer options
 * come from rp_trainer), defaults, checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_args.h"
#include "rp_err.h"
#include "rp_log.h"
#include "twotower.h"

void twotower_opts_default(tt_opts *o)
{
    memset(o, 0, sizeof *o);
    rp_train_opts_default(&o->train);
    o->train.epochs = 3;
    o->train.batch = 8192;
    o->train.micro_batch = 1024;
    o->train.schedule = "cosine";
    o->train.warmup = 20;
    o->train.lr_final = 0.05;
    o->train.lr = 0.02; /* measured: docs/stages/twotower.md, "The log target" */
    o->train.early_stop = 2;
    o->dim = 8;
    o->emb_dim = 8;
    o->hidden = "";
    o->head = "dot";
    o->id_path = "add";
    o->bias = 1;
    o->bias_init = 1;
    o->select = "rmse";
    o->loss = "mse";
    o->weight_decay = 1e-6;
    o->emb_weight_decay = 0.0;
    o->row_l2 = 8.0;
    o->row_l2_features = 0;
    o->huber_delta = 0.1;
    o->seed = 42;
    o->user_id = 1;
    o->item_id = 1;
    o->target = "log";
    o->log_min = 0.4;
    o->log_max = 0.0;
}

static const char *const heads[] = {"dot", "sigmoid", "cosine", NULL};
static const char *const id_paths[] = {"add", "mlp", NULL};
static const char *const selects[] = {"rmse", "mae", NULL};
static const char *const losses[] = {"mse", "huber", NULL};
static const char *const targets[] = {"log", "clipped", NULL};

static const rp_train_cmd cmd = {
    {"rp-twotower", "train the two-tower model data-parallel (MPI) and write twotower.h5",
     "Reads /train and /valid of shards.h5 and the user/video features of features.h5.\n"
     "Writes /score/{user,item} (+ post/scale/shift), /user_embedding, /item_embedding,\n"
     "/weights/..., /history/... (see docs/stages/twotower.md).\n"
     "SIGTERM/SIGUSR1: checkpoint at the next step and exit 75.\n"},
    "output twotower.h5 (required)",
    "training epochs",
    "global batch (interactions per step, all ranks)",
    "gradient unit: a batch's pairs are dealt into batch/M classes by user, each cut into units "
    "of at most 1.5 M pairs; classes are spread over ranks; results never depend on the rank "
    "count",
    "Adam learning rate (peak of the schedule)",
    "stop after P epochs without a better validation metric (0 = off)",
    "regularisation of the bias model the result is compared with (as rp-eval's --bias-reg)",
    1};

int twotower_parse_args(int argc, char **argv, tt_opts *o)
{
    int rc = RP_OK;
    const rp_train_opts *t = &o->train;
    const rp_arg args[] = {
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
        {"row-l2", RP_ARG_DBL, &o->row_l2, "L", "Gaussian prior per embedding row (id vectors; "
         "not bias terms): objective = mean loss + L/(2N) sum |row|^2, whatever the row's count",
         NULL},
        {"row-l2-features", RP_ARG_FLAG, &o->row_l2_features, NULL, "--row-l2 also on the "
         "feature embedding tables", NULL},
        {"seed", RP_ARG_I64, &o->seed, "S", "seed of initialisation and shuffles", NULL},
        {"user-id", RP_ARG_FLAG, &o->user_id, NULL, "user id embedding in the user tower", NULL},
        {"item-id", RP_ARG_FLAG, &o->item_id, NULL, "video id embedding in the video tower",
         NULL},
        {"target", RP_ARG_STR, &o->target, "T", "what the model fits: log (log watch ratio of "
         "the views with --log-min <= watch ratio < --log-max, mapped onto the normalised scale "
         "by a gain fitted on validation; dot head with bias terms) or clipped (the normalised "
         "value)", targets},
        {"log-min", RP_ARG_DBL, &o->log_min, "WR", "log target: smallest watch ratio kept", NULL},
        {"log-max", RP_ARG_DBL, &o->log_max, "WR", "log target: watch ratios kept are below this "
         "(0 = the clip point, norm_max of shards.h5)", NULL},
        {"select", RP_ARG_STR, &o->select, "M", "validation metric of the best epoch and early "
         "stopping", selects},
    };
    rc = rp_train_parse(argc, argv, &cmd, &o->train, args, (int)(sizeof args / sizeof args[0]));
    if (rc != RP_OK) return rc;
    if (o->dim < 1 || o->emb_dim < 1 || o->weight_decay < 0.0 || !(o->huber_delta > 0.0) ||
        t->batch > 1 << 24 || o->dim > 4096 || o->emb_dim > TT_MAX_EMB ||
        o->emb_weight_decay < 0.0 || !(o->row_l2 >= 0.0))
        RP_FAIL_USER0(RP_ERR_USAGE, "out-of-range option: need dim, emb-dim >= 1 (dim <= 4096, "
                      "emb-dim <= %d), batch <= %d, weight-decay, emb-weight-decay, row-l2 >= 0, "
                      "huber-delta > 0", TT_MAX_EMB, 1 << 24);
    if (!(o->log_min > 0.0) || o->log_max < 0.0 || (o->log_max > 0.0 && o->log_max <= o->log_min))
        RP_FAIL_USER0(RP_ERR_USAGE, "--log-min %g, --log-max %g: need 0 < log-min < log-max "
                      "(log-max 0: the clip point)", o->log_min, o->log_max);
    if (strcmp(o->target, "log") == 0 && (strcmp(o->head, "dot") != 0 || !o->bias))
        RP_FAIL_USER0(RP_ERR_USAGE, "--target log needs --head dot with bias terms (or use "
                      "--target clipped)");
cleanup:
    return rc;
}
