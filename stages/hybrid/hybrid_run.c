/* hybrid_run.c - rp-hybrid's command line, inputs and the two fusions (blend, concat). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hybrid.h"
#include "rp_args.h"
#include "rp_baseline.h"
#include "rp_err.h"
#include "rp_h5.h"
#include "rp_inputs.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_shards.h"

static const char *const default_choices[] = {"auto", "blend", "concat", NULL};


int hyb_parse(int argc, char **argv, hyb_opts *o)
{
    int rc = RP_OK;
    *o = (hyb_opts){.deflt = "auto", .hidden = "32", .ridge = 1e-3, .lr = 1e-3, .bias_reg = 10.0,
                    .epochs = 10, .batch = 512, .patience = 2, .seed = 42,
                    .epoch_samples = 1000000};
    rp_arg args[] = {
        {"shards", RP_ARG_STR, &o->shards, "FILE", "shards.h5 (rp-shard)", NULL},
        {"als", RP_ARG_STR, &o->als, "FILE", "als.h5 (rp-als)", NULL},
        {"twotower", RP_ARG_STR, &o->twotower, "FILE", "twotower.h5 (rp-twotower)", NULL},
        {"features", RP_ARG_STR, &o->features, "FILE",
         "features.h5: checked and recorded in the lineage (optional)", NULL},
        {"out", RP_ARG_STR, &o->out, "FILE", "output hybrid.h5", NULL},
        {"default", RP_ARG_STR, &o->deflt, "V",
         "variant rp_model_load returns; auto = the lower validation RMSE", default_choices},
        {"ridge", RP_ARG_DBL, &o->ridge, "L", "blend: ridge on the slopes (mean-squared form)",
         NULL},
        {"bias-reg", RP_ARG_DBL, &o->bias_reg, "R", "blend: regulariser of the bias baseline",
         NULL},
        {"epochs", RP_ARG_INT, &o->epochs, "N", "concat: maximum epochs", NULL},
        {"hidden", RP_ARG_STR, &o->hidden, "W,..", "concat: hidden layer widths", NULL},
        {"lr", RP_ARG_DBL, &o->lr, "X", "concat: Adam learning rate", NULL},
        {"batch", RP_ARG_INT, &o->batch, "B", "concat: global batch size", NULL},
        {"epoch-samples", RP_ARG_I64, &o->epoch_samples, "N",
         "concat: train samples per epoch (0 = all)", NULL},
        {"seed", RP_ARG_I64, &o->seed, "S", "concat: seed of initial weights and shuffles", NULL},
        {"early-stop", RP_ARG_INT, &o->patience, "P",
         "concat: stop after P epochs without a better validation RMSE", NULL},
        {"checkpoint", RP_ARG_STR, &o->checkpoint, "FILE",
         "concat: checkpoint written after every epoch (default <out>.ckpt, removed on success)",
         NULL},
        {"resume", RP_ARG_FLAG, &o->resume, NULL, "continue from the checkpoint if it exists",
         NULL},
    };
    rp_cmd cmd = {"rp-hybrid",
                  "Fuse ALS, two-tower and the bias baseline: a ridge blend fitted on the "
                  "validation split and an MLP on the concatenated embeddings.",
                  "Output: hybrid.h5 (schema recpipe.hybrid); load a variant with "
                  "'hybrid.h5#blend' or 'hybrid.h5#concat'.\n"};
    RP_CALL(rp_args_parse(argc, argv, &cmd, args, (int)(sizeof args / sizeof args[0])));
    if (!o->shards || !o->als || !o->twotower || !o->out)
        RP_FAIL_USER0(RP_ERR_USAGE, "--shards, --als, --twotower and --out are required "
                      "(try rp-hybrid --help)");
    if (o->ridge < 0 || o->bias_reg < 0 || o->epochs < 1 || o->batch < 1 || o->patience < 1 ||
        o->lr <= 0 || o->epoch_samples < 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "--ridge/--bias-reg must be >= 0, --epochs/--batch/"
                      "--early-stop >= 1, --lr > 0, --epoch-samples >= 0");
    int w[RP_MLP_MAX_LAYERS], n = 0;
    RP_CALL(hyb_parse_hidden(o->hidden, w, &n, RP_MLP_MAX_LAYERS - 1));
    if (o->checkpoint == NULL) {
        snprintf(o->ckpt_default, sizeof o->ckpt_default, "%s.ckpt", o->out);
        o->checkpoint = o->ckpt_default;
    }
cleanup:
    return rc;
}

/* Load a component model file and insist on the dot form (it is copied into hybrid.h5). */
static int load_dot_model(MPI_Comm comm, const char *path, int64_t nu, int64_t ni, rp_model **m)
{
    int rc = RP_OK;
    int64_t d;
    const double *U, *V;
    rp_post post;
    double sc, sh;
    RP_CALL(rp_model_load(comm, path, nu, ni, m));
    if (rp_model_dot_parts(*m, &d, &U, &V, &post, &sc, &sh) != RP_OK)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: model '%s' has no dot form (/score): cannot fuse it",
                      path, (*m)->name);
cleanup:
    if (rc != RP_OK) rp_model_destroy(m);
    return rc;
}

static int lineage(MPI_Comm comm, const hyb_opts *o, char *buf, size_t cap)
{
    int rc = RP_OK;
    const char *names[4] = {"shards", "als", "twotower", "features"};
    const char *paths[4] = {o->shards, o->als, o->twotower, o->features};
    buf[0] = '\0';
    for (int k = 0; k < 4; k++)
        if (paths[k] != NULL) RP_CALL(rp_inputs_lineage(comm, buf, cap, names[k], paths[k]));
cleanup:
    return rc;
}

int hyb_open_inputs(MPI_Comm comm, const hyb_opts *o, hyb_state *st)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID, ff = H5I_INVALID_HID;
    RP_CALL(rp_shards_open(comm, o->shards, &f, &st->n_users, &st->n_items));
    RP_CALL(hyb_read_pairs(comm, f, o->shards, RP_SPLIT_VALID, 0, st->n_users, st->n_items,
                           &st->valid));
    RP_CALL(hyb_read_pairs(comm, f, o->shards, RP_SPLIT_TRAIN, 1, st->n_users, st->n_items,
                           &st->train));
    st->n_valid_global = st->valid.n;
    RP_CALL(rp_mpi_sum_i64(comm, &st->n_valid_global, 1));
    if (st->n_valid_global == 0 || st->train.n == 0)
        RP_FAIL_USER0(RP_ERR_NOINPUT, "%s: empty %s split: nothing to fit the hybrids on",
                      o->shards, st->train.n == 0 ? "train" : "valid");
    RP_CALL(rp_baseline_bias(comm, f, o->bias_reg, &st->comp[2]));
    RP_CALL(load_dot_model(comm, o->als, st->n_users, st->n_items, &st->comp[0]));
    RP_CALL(load_dot_model(comm, o->twotower, st->n_users, st->n_items, &st->comp[1]));
    if (o->features) {
        RP_CALL(rp_h5_open(comm, o->features, &ff));
        RP_CALL(rp_h5_check_schema(ff, o->features, RP_SCHEMA_FEATURES));
    }
    RP_CALL(lineage(comm, o, st->inputs, sizeof st->inputs));
    rp_log_info("inputs: %lld users, %lld items, %lld train and %lld validation pairs",
                (long long)st->n_users, (long long)st->n_items, (long long)st->train.n,
                (long long)st->n_valid_global);
cleanup:
    rp_h5_close(&ff);
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

static int fit_blend(MPI_Comm comm, const hyb_opts *o, hyb_state *st)
{
    int rc = RP_OK;
    float *p[HYB_NCOMP] = {0};
    size_t cap = (size_t)(st->valid.n > 0 ? st->valid.n : 1);
    for (int c = 0; c < HYB_NCOMP; c++) {
        RP_ALLOC(p[c] = malloc(cap * sizeof *p[c]));
        RP_CALL(rp_model_score_pairs(st->comp[c], st->valid.u, st->valid.i, st->valid.n, p[c]));
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK)
        rc = hyb_blend_fit(comm, HYB_NCOMP, p, st->valid.y, st->valid.n, o->ridge, st->w,
                           &st->blend_rmse, st->input_rmse, &st->fallback);
    for (int c = 0; c < HYB_NCOMP; c++) free(p[c]);
    return rc;
}

int hyb_fuse(MPI_Comm comm, const hyb_opts *o, hyb_state *st)
{
    int rc = RP_OK;
    RP_CALL(fit_blend(comm, o, st));
    rp_log_info("blend: w0=%.4f als=%.4f twotower=%.4f bias=%.4f valid_rmse=%.5f (inputs %.5f "
                "%.5f %.5f)%s", st->w[0], st->w[1], st->w[2], st->w[3], st->blend_rmse,
                st->input_rmse[0], st->input_rmse[1], st->input_rmse[2],
                st->fallback >= 0 ? " [fell back to the best input]" : "");
    RP_CALL(hyb_concat_train(comm, o, st->comp[0], st->comp[1], &st->train, &st->valid,
                             &st->concat));
    if (strcmp(o->deflt, "auto") == 0)
        snprintf(st->deflt, sizeof st->deflt, "%s",
                 st->concat.valid_rmse < st->blend_rmse ? "concat" : "blend");
    else
        snprintf(st->deflt, sizeof st->deflt, "%s", o->deflt);
    rp_log_info("concat: valid_rmse=%.5f best_epoch=%d; default=%s", st->concat.valid_rmse,
                st->concat.best_epoch, st->deflt);
cleanup:
    return rp_mpi_agree(comm, rc);
}
