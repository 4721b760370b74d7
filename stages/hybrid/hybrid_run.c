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
#include "rp_model_hybrid.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_schema.h"
#include "rp_shards.h"

static const char *const default_choices[] = {"auto", "blend", "concat", NULL};


int hyb_parse_ridge(const char *s, double *ridge)
{
    int rc = RP_OK;
    char *end = NULL;
    if (strcmp(s, "auto") == 0) {
        *ridge = -1.0;
        goto cleanup;
    }
    *ridge = strtod(s, &end);
    if (end == s || *end != '\0' || !(*ridge >= 0.0 && *ridge <= 1e6))
        RP_FAIL_USER0(RP_ERR_USAGE, "--ridge '%s': want auto or a number in [0, 1e6]", s);
cleanup:
    return rc;
}

int hyb_parse(int argc, char **argv, hyb_opts *o)
{
    int rc = RP_OK;
    *o = (hyb_opts){.deflt = "auto", .hidden = "32", .ridge = "auto", .lr = 1e-3,
                    .bias_reg = 10.0, .epochs = 10, .batch = 512, .patience = 2, .folds = 5,
                    .seed = 42, .epoch_samples = 200000};
    rp_arg args[] = {
        {"shards", RP_ARG_STR, &o->shards, "FILE", "shards.h5 (rp-shard)", NULL},
        {"als", RP_ARG_STR, &o->als, "FILE", "als.h5 (rp-als); the components given (at least one) are fused with the bias baseline",
         NULL},
        {"twotower", RP_ARG_STR, &o->twotower, "FILE", "twotower.h5 (rp-twotower)", NULL},
        {"seqrec", RP_ARG_STR, &o->seqrec, "FILE",
         "seqrec.h5 (rp-seqrec): a third component with the /score dot form (optional)", NULL},
        {"features", RP_ARG_STR, &o->features, "FILE",
         "features.h5: checked and recorded in the lineage (optional)", NULL},
        {"out", RP_ARG_STR, &o->out, "FILE", "output hybrid.h5", NULL},
        {"default", RP_ARG_STR, &o->deflt, "V",
         "variant rp_model_load returns; auto = the concat if it beat the blend on the held-out "
         "fold 0, else the blend", default_choices},
        {"ridge", RP_ARG_STR, &o->ridge, "L",
         "blend: ridge on the centred slopes, relative to each input's variance; auto = chosen "
         "by k-fold cross-validation over validation users", NULL},
        {"folds", RP_ARG_INT, &o->folds, "K",
         "validation users in K folds: blend cross-validation; concat trains on folds 1..K-1 "
         "and early-stops on fold 0", NULL},
        {"bias-reg", RP_ARG_DBL, &o->bias_reg, "R", "blend: regulariser of the bias baseline",
         NULL},
        {"epochs", RP_ARG_INT, &o->epochs, "N", "concat: maximum epochs", NULL},
        {"hidden", RP_ARG_STR, &o->hidden, "W,..", "concat: hidden layer widths", NULL},
        {"lr", RP_ARG_DBL, &o->lr, "X", "concat: Adam learning rate", NULL},
        {"batch", RP_ARG_INT, &o->batch, "B", "concat: global batch size", NULL},
        {"epoch-samples", RP_ARG_I64, &o->epoch_samples, "N",
         "concat: training rows (validation folds 1..K-1) per epoch (0 = all)", NULL},
        {"seed", RP_ARG_I64, &o->seed, "S",
         "seed of the validation folds and the concat's initial weights and shuffles", NULL},
        {"early-stop", RP_ARG_INT, &o->patience, "P",
         "concat: stop after P epochs without a better held-out (fold 0) RMSE", NULL},
        {"checkpoint", RP_ARG_STR, &o->checkpoint, "FILE",
         "concat: checkpoint written after every epoch (default <out>.ckpt, removed on success)",
         NULL},
        {"resume", RP_ARG_FLAG, &o->resume, NULL, "continue from the checkpoint if it exists",
         NULL},
    };
    rp_cmd cmd = {"rp-hybrid",
                  "Fuse ALS, two-tower (, seqrec) and the bias baseline on held-out "
                  "predictions: a ridge blend and an MLP on the concatenated embeddings, both "
                  "fitted on the validation split (never on the split their inputs learned).",
                  "Output: hybrid.h5 (schema recpipe.hybrid); load a variant with "
                  "'hybrid.h5#blend' or 'hybrid.h5#concat'.\n"};
    RP_CALL(rp_args_parse(argc, argv, &cmd, args, (int)(sizeof args / sizeof args[0])));
    if (!o->shards || !o->out || (!o->als && !o->twotower && !o->seqrec))
        RP_FAIL_USER0(RP_ERR_USAGE, "--shards, --out and at least one of --als, --twotower, "
                      "--seqrec are required (try rp-hybrid --help)");
    if (o->bias_reg < 0 || o->epochs < 1 || o->batch < 1 || o->patience < 1 || o->lr <= 0 ||
        o->epoch_samples < 0 || o->folds < 2 || o->folds > HYB_MAX_FOLDS)
        RP_FAIL_USER0(RP_ERR_USAGE, "--bias-reg must be >= 0, --epochs/--batch/--early-stop "
                      ">= 1, --lr > 0, --epoch-samples >= 0, --folds in 2..%d", HYB_MAX_FOLDS);
    double r = 0.0;
    RP_CALL(hyb_parse_ridge(o->ridge, &r));
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
    const char *names[5] = {"shards", "als", "twotower", "seqrec", "features"};
    const char *paths[5] = {o->shards, o->als, o->twotower, o->seqrec, o->features};
    buf[0] = '\0';
    for (int k = 0; k < 5; k++)
        if (paths[k] != NULL) RP_CALL(rp_inputs_lineage(comm, buf, cap, names[k], paths[k]));
cleanup:
    return rc;
}

/* The learned components (embedding rows and predictions), then the bias (predictions only). */
static int load_components(MPI_Comm comm, const hyb_opts *o, hid_t shards, hyb_state *st)
{
    int rc = RP_OK;
    const char *names[3] = {"als", "twotower", "seqrec"};
    const char *paths[3] = {o->als, o->twotower, o->seqrec};
    st->n_comp = 0;
    for (int c = 0; c < 3; c++) {
        if (paths[c] == NULL) continue;
        st->names[st->n_comp] = names[c];
        RP_CALL(load_dot_model(comm, paths[c], st->n_users, st->n_items, &st->comp[st->n_comp]));
        st->n_comp++;
    }
    st->n_embed = st->n_comp;
    st->names[st->n_comp] = "bias";
    RP_CALL(rp_baseline_bias(comm, shards, o->bias_reg, &st->comp[st->n_comp]));
    st->n_comp++;
cleanup:
    return rc;
}

/* This rank's block of users' validation pairs (the blend's sums and the RMSEs are exact, so
 * any partition gives the same bits; the concat fetches the rows it needs per epoch) and their
 * users' folds. */
static int read_valid(MPI_Comm comm, const hyb_opts *o, hid_t f, hyb_state *st)
{
    int rc = RP_OK;
    RP_CALL(hyb_read_pairs(comm, f, o->shards, RP_SPLIT_VALID, 0, st->n_users, st->n_items,
                           &st->valid));
    st->n_valid_global = st->valid.n;
    RP_CALL(rp_mpi_sum_i64(comm, &st->n_valid_global, 1));
    if (st->n_valid_global == 0)
        RP_FAIL_USER0(RP_ERR_NOINPUT, "%s: empty valid split: nothing to fit the hybrids on",
                      o->shards);
    st->fold = rp_malloc((size_t)(st->valid.n > 0 ? st->valid.n : 1));
    RP_AGREE_LOCAL(comm, st->fold == NULL);
    for (int64_t x = 0; x < st->valid.n; x++)
        st->fold[x] = (uint8_t)hyb_fold_of(st->valid.u[x], (uint64_t)o->seed, o->folds);
cleanup:
    return rp_mpi_agree(comm, rc);
}

int hyb_open_inputs(MPI_Comm comm, const hyb_opts *o, hyb_state *st)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID, ff = H5I_INVALID_HID;
    RP_CALL(rp_shards_open(comm, o->shards, &f, &st->n_users, &st->n_items));
    RP_CALL(read_valid(comm, o, f, st));
    RP_CALL(load_components(comm, o, f, st));
    if (o->features) {
        RP_CALL(rp_h5_open(comm, o->features, &ff));
        RP_CALL(rp_h5_check_schema(ff, o->features, RP_SCHEMA_FEATURES));
    }
    RP_CALL(lineage(comm, o, st->inputs, sizeof st->inputs));
    rp_log_info("inputs: %lld users, %lld items, %lld validation pairs in %d folds, %d "
                "components", (long long)st->n_users, (long long)st->n_items,
                (long long)st->n_valid_global, o->folds, st->n_comp);
cleanup:
    rp_h5_close(&ff);
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

static int fit_blend(MPI_Comm comm, const hyb_opts *o, hyb_state *st)
{
    int rc = RP_OK;
    float *p[HYB_MAXCOMP] = {0};
    double ridge = 0.0;
    const hyb_pairs *v = &st->valid;
    size_t cap = (size_t)(v->n > 0 ? v->n : 1);
    RP_CALL(hyb_parse_ridge(o->ridge, &ridge));
    for (int c = 0; c < st->n_comp; c++) {
        RP_ALLOC(p[c] = malloc(cap * sizeof *p[c]));
        RP_CALL(rp_model_score_pairs(st->comp[c], v->u, v->i, v->n, p[c]));
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK)
        rc = hyb_blend_fit(comm, st->n_comp, p, v->y, st->fold, v->n, o->folds, ridge,
                           &st->blend);
    for (int c = 0; c < st->n_comp; c++) free(p[c]);
    return rc;
}

/* RMSE of the concat as it will be written: over all validation pairs and over fold 0. */
static int concat_scores(MPI_Comm comm, hyb_state *st, double *all)
{
    int rc = RP_OK;
    rp_model *m = NULL;
    hyb_concat_result *r = &st->concat;
    rp_hybrid_concat_parts parts = {st->n_comp, st->comp, 1, r->Fu, r->du, r->Fi, r->di, &r->mlp,
                                    r->offset_w};
    RP_CALL(rp_model_concat_create("hybrid-concat", st->n_users, st->n_items, &parts, &m));
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) rc = hyb_rmse(comm, m, &st->valid, all);
    rp_model_destroy(&m);
    return rc;
}

static void log_blend(const hyb_state *st)
{
    const hyb_blend *b = &st->blend;
    char w[256] = "", in[256] = "";
    size_t lw = 0, li = 0;
    for (int c = 0; c < st->n_comp; c++) {
        lw += (size_t)snprintf(w + lw, sizeof w - lw, " %s=%.4f", st->names[c], b->w[c + 1]);
        li += (size_t)snprintf(in + li, sizeof in - li, " %s=%.5f", st->names[c],
                               b->input_rmse[c]);
    }
    rp_log_info("blend: ridge=%g w0=%.4f%s valid_rmse=%.5f cv_rmse=%.5f (inputs%s)%s", b->ridge,
                b->w[0], w, b->rmse, b->cv_rmse, in,
                b->fallback >= 0 ? " [fell back to the best input]" : "");
}

/* The concat starts from the blend fitted without fold 0 (epoch 0) and keeps it unless training
 * does better on fold 0, so it inherits the blend's cross-validated check against its inputs
 * (fold 0 alone is too small to judge that without noise). It falls back to the best input when
 * the blend did, or when it loses to that input on all of validation (the contract's number). */
static void concat_fallback(hyb_state *st)
{
    const hyb_blend *b = &st->blend;
    int best = 0;
    for (int c = 1; c < st->n_comp; c++)
        if (b->input_rmse[c] < b->input_rmse[best]) best = c;
    st->concat_fallback = -1;
    int lose_heldout = b->fallback >= 0 && st->concat.valid_rmse > b->input_fold0_rmse[best];
    if (lose_heldout || st->concat_rmse > b->input_rmse[best]) {
        st->concat_fallback = best;
        st->concat.valid_rmse = b->input_fold0_rmse[best];
        st->concat_rmse = b->input_rmse[best];
    }
}

int hyb_fuse(MPI_Comm comm, const hyb_opts *o, hyb_state *st)
{
    int rc = RP_OK;
    RP_CALL(fit_blend(comm, o, st));
    log_blend(st);
    RP_CALL(hyb_concat_train(comm, o, st->n_comp, st->n_embed, st->comp, st->blend.w_fold0,
                             &st->valid, st->fold, &st->concat));
    RP_CALL(concat_scores(comm, st, &st->concat_rmse));
    concat_fallback(st);
    /* Both variants compared where neither was fitted: fold 0 (the blend's out-of-fold fit).
     * A concat that kept epoch 0 is the blend (fitted on less), so the blend stays default. */
    int concat_wins = st->concat_fallback < 0 && st->concat.best_epoch > 0 &&
                      st->concat.valid_rmse < st->blend.fold0_rmse;
    if (strcmp(o->deflt, "auto") == 0)
        snprintf(st->deflt, sizeof st->deflt, "%s", concat_wins ? "concat" : "blend");
    else
        snprintf(st->deflt, sizeof st->deflt, "%s", o->deflt);
    double best_in = st->blend.input_fold0_rmse[0];
    for (int c = 1; c < st->n_comp; c++)
        best_in = fmin(best_in, st->blend.input_fold0_rmse[c]);
    rp_log_info("concat: heldout_rmse=%.5f (blend %.5f, best input %.5f) valid_rmse=%.5f "
                "best_epoch=%d%s; default=%s", st->concat.valid_rmse, st->blend.fold0_rmse,
                best_in, st->concat_rmse, st->concat.best_epoch,
                st->concat_fallback >= 0 ? " [fell back to the best input]" : "", st->deflt);
cleanup:
    return rp_mpi_agree(comm, rc);
}
