/* als_io.c - rp-als files: atomic checkpoints (factor rows + history, exact bits) and the
 * als.h5 output with the /score convention of rp_schema.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_sha256.h"

#define ALS_SCHEMA_CKPT "recpipe.als.checkpoint"

static const char *const hist_names[6] = {"iteration", "train_rmse", "valid_rmse",
                                          "train_mae", "valid_mae", "seconds"};

int als_hist_push(als_state *st, int64_t iter, const double m[4], double seconds)
{
    int rc = RP_OK, n = st->n_hist + 1;
    RP_ALLOC(st->h_iter = realloc(st->h_iter, (size_t)n * sizeof *st->h_iter));
    RP_ALLOC(st->h_train_rmse = realloc(st->h_train_rmse, (size_t)n * sizeof(double)));
    RP_ALLOC(st->h_valid_rmse = realloc(st->h_valid_rmse, (size_t)n * sizeof(double)));
    RP_ALLOC(st->h_train_mae = realloc(st->h_train_mae, (size_t)n * sizeof(double)));
    RP_ALLOC(st->h_valid_mae = realloc(st->h_valid_mae, (size_t)n * sizeof(double)));
    RP_ALLOC(st->h_seconds = realloc(st->h_seconds, (size_t)n * sizeof(double)));
    st->h_iter[n - 1] = iter;
    st->h_train_rmse[n - 1] = m[0];
    st->h_valid_rmse[n - 1] = m[1];
    st->h_train_mae[n - 1] = m[2];
    st->h_valid_mae[n - 1] = m[3];
    st->h_seconds[n - 1] = seconds;
    st->n_hist = n;
cleanup:
    return rc;
}

static int write_history(als_state *st, hid_t f)
{
    int rc = RP_OK;
    int64_t n = st->n_hist;
    char name[64];
    double *cols[5] = {st->h_train_rmse, st->h_valid_rmse, st->h_train_mae, st->h_valid_mae,
                       st->h_seconds};
    snprintf(name, sizeof name, "%s/%s", RP_GRP_HISTORY, hist_names[0]);
    RP_CALL(rp_h5_write_replicated(st->comm, f, name, RP_I64, 1, &n, st->h_iter));
    for (int c = 0; c < 5; c++) {
        snprintf(name, sizeof name, "%s/%s", RP_GRP_HISTORY, hist_names[c + 1]);
        RP_CALL(rp_h5_write_replicated(st->comm, f, name, RP_F64, 1, &n, cols[c]));
    }
cleanup:
    return rc;
}

static int read_history(als_state *st, hid_t f)
{
    int rc = RP_OK, nd = 0;
    int64_t d[2] = {0, 0};
    char name[64];
    double **cols[5] = {&st->h_train_rmse, &st->h_valid_rmse, &st->h_train_mae,
                        &st->h_valid_mae, &st->h_seconds};
    snprintf(name, sizeof name, "%s/%s", RP_GRP_HISTORY, hist_names[0]);
    RP_CALL(rp_h5_read_all(f, name, RP_I64, (void **)&st->h_iter, &nd, d));
    st->n_hist = (int)d[0];
    for (int c = 0; c < 5; c++) {
        snprintf(name, sizeof name, "%s/%s", RP_GRP_HISTORY, hist_names[c + 1]);
        RP_CALL(rp_h5_read_all(f, name, RP_F64, (void **)cols[c], &nd, d));
        RP_REQUIRE(d[0] == st->n_hist, RP_ERR_DATA, "%s: history lengths differ", name);
    }
cleanup:
    return rc;
}

/* Parameters a checkpoint must share with the run resuming it. */
static int ckpt_params(hid_t f, als_state *st, int write, const char *path)
{
    int rc = RP_OK;
    int64_t want[5] = {st->k, st->dbl, (int64_t)st->seed, st->side[0].n_global,
                       st->side[1].n_global};
    double wantd[2] = {st->lambda, st->mu};
    if (write) {
        RP_CALL(rp_h5_attr_write(f, "/", "ints", RP_I64, 5, want));
        RP_CALL(rp_h5_attr_write(f, "/", "reals", RP_F64, 2, wantd));
        return RP_OK;
    }
    int64_t got[5];
    double gotd[2];
    RP_CALL(rp_h5_attr_read(f, "/", "ints", RP_I64, 5, got));
    RP_CALL(rp_h5_attr_read(f, "/", "reals", RP_F64, 2, gotd));
    if (memcmp(got, want, sizeof got) != 0 || memcmp(gotd, wantd, sizeof gotd) != 0)
        RP_FAIL_USER0(RP_ERR_DATA,
                      "%s: checkpoint was written with other parameters or input (k=%lld "
                      "fp64=%lld seed=%lld n_users=%lld n_items=%lld lambda=%g); remove it or "
                      "run without --resume",
                      path, (long long)got[0], (long long)got[1], (long long)got[2],
                      (long long)got[3], (long long)got[4], gotd[0]);
cleanup:
    return rc;
}

int als_checkpoint_write(const rp_stage *stg, als_state *st, const char *path, int64_t iter)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    rp_dtype t = st->dbl ? RP_F64 : RP_F32;
    static const char *const names[2] = {"/user_fac", "/item_fac"};
    RP_CALL(rp_h5_create(st->comm, path, &f));
    RP_CALL(rp_stage_stamp(stg, f, ALS_SCHEMA_CKPT, RP_SCHEMA_VERSION, NULL));
    for (int s = 0; s < 2; s++) {
        const als_side *sd = &st->side[s];
        RP_CALL(rp_h5_write_2d(f, names[s], t, sd->n_global, st->k + 1, sd->row_offset,
                               sd->nrows, sd->fac));
    }
    RP_CALL(write_history(st, f));
    RP_CALL(rp_h5_attr_write(f, "/", "iteration", RP_I64, 1, &iter));
    RP_CALL(ckpt_params(f, st, 1, path));
cleanup:
    return rp_h5_commit(st->comm, &f, path, rc);
}

int als_checkpoint_read(als_state *st, const char *path, int64_t *iter)
{
    int rc = RP_OK, nd = 0;
    hid_t f = H5I_INVALID_HID;
    rp_dtype t = st->dbl ? RP_F64 : RP_F32;
    int64_t d[2];
    static const char *const names[2] = {"/user_fac", "/item_fac"};
    RP_CALL(rp_h5_open(st->comm, path, &f));
    RP_CALL(rp_h5_check_schema(f, path, ALS_SCHEMA_CKPT));
    RP_CALL(ckpt_params(f, st, 0, path));
    for (int s = 0; s < 2; s++) {
        const als_side *sd = &st->side[s];
        RP_CALL(rp_h5_dims(f, names[s], &nd, d));
        RP_REQUIRE(nd == 2 && d[0] == sd->n_global && d[1] == st->k + 1, RP_ERR_DATA,
                   "%s: %s has the wrong shape", path, names[s]);
        RP_CALL(rp_h5_read(f, names[s], t, sd->row_offset, sd->nrows, sd->fac));
    }
    free(st->h_iter);
    st->h_iter = NULL;
    RP_CALL(read_history(st, f));
    RP_CALL(rp_h5_attr_read(f, "/", "iteration", RP_I64, 1, iter));
cleanup:
    rc = rp_mpi_agree(st->comm, rc);
    rp_h5_close(&f);
    return rc;
}

/* write_side - factors [n, k], biases [n] and score rows [n, k + 2] of one side: users score
 * as [p_u, b_u, 1], items as [q_i, 1, b_i], so dot + global mean is the prediction. */
static int write_side(als_state *st, hid_t f, int s)
{
    int rc = RP_OK, k = st->k;
    const als_side *sd = &st->side[s];
    rp_dtype t = st->dbl ? RP_F64 : RP_F32;
    size_t es = st->dbl ? sizeof(double) : sizeof(float), n = (size_t)sd->nrows;
    char *x = NULL, *b = NULL, *sc = NULL;
    RP_ALLOC(x = malloc((n * (size_t)k + 1) * es));
    RP_ALLOC(b = malloc((n + 1) * es));
    RP_ALLOC(sc = malloc((n * (size_t)(k + 2) + 1) * es));
    for (size_t i = 0; i < n; i++) {
        const char *row = (const char *)sd->fac + i * (size_t)(k + 1) * es;
        char *srow = sc + i * (size_t)(k + 2) * es;
        double one = 1.0;
        float onef = 1.0f;
        const void *onep = st->dbl ? (const void *)&one : (const void *)&onef;
        memcpy(x + i * (size_t)k * es, row, (size_t)k * es);
        memcpy(b + i * es, row + (size_t)k * es, es);
        memcpy(srow, row, (size_t)k * es);
        memcpy(srow + (size_t)(k + s) * es, row + (size_t)k * es, es); /* bias column */
        memcpy(srow + (size_t)(k + 1 - s) * es, onep, es);              /* the 1 column */
    }
    RP_CALL(rp_h5_write_2d(f, s == ALS_USER ? "/user_factors" : "/item_factors", t,
                           sd->n_global, k, sd->row_offset, sd->nrows, x));
    RP_CALL(rp_h5_write_1d(f, s == ALS_USER ? "/user_bias" : "/item_bias", t, sd->n_global,
                           sd->row_offset, sd->nrows, b));
    RP_CALL(rp_h5_write_2d(f, s == ALS_USER ? RP_DS_SCORE_USER : RP_DS_SCORE_ITEM, t,
                           sd->n_global, k + 2, sd->row_offset, sd->nrows, sc));
cleanup:
    free(x);
    free(b);
    free(sc);
    return rc;
}

static int write_attrs(als_state *st, hid_t f, const als_opts *opt, int64_t iters)
{
    int rc = RP_OK;
    int64_t k = st->k, seed = (int64_t)st->seed;
    double one = 1.0;
    RP_CALL(rp_h5_attr_write(f, "/", "global_mean", RP_F64, 1, &st->mu));
    RP_CALL(rp_h5_attr_write(f, "/", "k", RP_I64, 1, &k));
    RP_CALL(rp_h5_attr_write(f, "/", "lambda", RP_F64, 1, &st->lambda));
    RP_CALL(rp_h5_attr_write(f, "/", "iterations", RP_I64, 1, &iters));
    RP_CALL(rp_h5_attr_write_str(f, "/", "precision", opt->precision));
    RP_CALL(rp_h5_attr_write(f, "/", "seed", RP_I64, 1, &seed));
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &st->side[ALS_USER].n_global));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &st->side[ALS_ITEM].n_global));
    RP_CALL(rp_h5_attr_write_str(f, RP_GRP_SCORE, "post", "identity"));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "scale", RP_F64, 1, &one));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "shift", RP_F64, 1, &st->mu));
cleanup:
    return rc;
}

int als_write_output(const rp_stage *stg, als_state *st, const als_opts *opt, int64_t iters)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    char hex[65], inputs[1200];
    RP_CALL(rp_hash_file(st->comm, opt->shards, hex));
    snprintf(inputs, sizeof inputs, "shards=%s sha256=%s", opt->shards, hex);
    RP_CALL(rp_h5_create(st->comm, opt->out, &f));
    RP_CALL(rp_stage_stamp(stg, f, RP_SCHEMA_ALS, RP_SCHEMA_VERSION, inputs));
    RP_CALL(write_side(st, f, ALS_USER));
    RP_CALL(write_side(st, f, ALS_ITEM));
    RP_CALL(write_history(st, f));
    RP_CALL(write_attrs(st, f, opt, iters));
cleanup:
    return rp_h5_commit(st->comm, &f, opt->out, rc);
}
