/* als_io.c - rp-als files: atomic checkpoints (the search state, exact bits) and the als.h5
 * output (the selected iterate, its curve, the grid) with the /score convention of rp_schema.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"
#include "rp_fault.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_sha256.h"

#define ALS_SCHEMA_CKPT "recpipe.als.checkpoint"

static const char *const hist_names[6] = {"iteration", "train_rmse", "valid_rmse",
                                          "train_mae", "valid_mae", "seconds"};

int als_hist_push(als_hist *h, int64_t iter, const double m[4], double seconds)
{
    int rc = RP_OK, n = h->n + 1;
    RP_ALLOC(h->iter = realloc(h->iter, (size_t)n * sizeof *h->iter));
    RP_ALLOC(h->train_rmse = realloc(h->train_rmse, (size_t)n * sizeof(double)));
    RP_ALLOC(h->valid_rmse = realloc(h->valid_rmse, (size_t)n * sizeof(double)));
    RP_ALLOC(h->train_mae = realloc(h->train_mae, (size_t)n * sizeof(double)));
    RP_ALLOC(h->valid_mae = realloc(h->valid_mae, (size_t)n * sizeof(double)));
    RP_ALLOC(h->seconds = realloc(h->seconds, (size_t)n * sizeof(double)));
    h->iter[n - 1] = iter;
    h->train_rmse[n - 1] = m[0];
    h->valid_rmse[n - 1] = m[1];
    h->train_mae[n - 1] = m[2];
    h->valid_mae[n - 1] = m[3];
    h->seconds[n - 1] = seconds;
    h->n = n;
cleanup:
    return rc;
}

/* write_history - h under prefix + "/history" ("" for the root). */
static int write_history(MPI_Comm comm, hid_t f, const char *prefix, const als_hist *h)
{
    int rc = RP_OK;
    int64_t n = h->n;
    char name[128];
    double *cols[5] = {h->train_rmse, h->valid_rmse, h->train_mae, h->valid_mae, h->seconds};
    snprintf(name, sizeof name, "%s%s/%s", prefix, RP_GRP_HISTORY, hist_names[0]);
    RP_CALL(rp_h5_write_replicated(comm, f, name, RP_I64, 1, &n, h->iter));
    for (int c = 0; c < 5; c++) {
        snprintf(name, sizeof name, "%s%s/%s", prefix, RP_GRP_HISTORY, hist_names[c + 1]);
        RP_CALL(rp_h5_write_replicated(comm, f, name, RP_F64, 1, &n, cols[c]));
    }
cleanup:
    return rc;
}

static int read_history(hid_t f, const char *prefix, als_hist *h)
{
    int rc = RP_OK, nd = 0;
    int64_t d[2] = {0, 0};
    char name[128];
    double **cols[5] = {&h->train_rmse, &h->valid_rmse, &h->train_mae, &h->valid_mae,
                        &h->seconds};
    als_hist_clear(h);
    snprintf(name, sizeof name, "%s%s/%s", prefix, RP_GRP_HISTORY, hist_names[0]);
    RP_CALL(rp_h5_read_all(f, name, RP_I64, (void **)&h->iter, &nd, d));
    h->n = (int)d[0];
    for (int c = 0; c < 5; c++) {
        snprintf(name, sizeof name, "%s%s/%s", prefix, RP_GRP_HISTORY, hist_names[c + 1]);
        RP_CALL(rp_h5_read_all(f, name, RP_F64, (void **)cols[c], &nd, d));
        RP_REQUIRE(d[0] == h->n, RP_ERR_DATA, "%s: history lengths differ", name);
    }
cleanup:
    return rc;
}

/* The options a checkpoint must share with the run resuming it (they decide the search). */
static void ckpt_spec(const als_opts *opt, char *buf, size_t cap)
{
    const char *gl = opt->grid_lambda != NULL ? opt->grid_lambda : "auto";
    snprintf(buf, cap, "k=%d lambda=%.17g lambda_bias=%.17g grid_k=%s grid_lambda=%s iters=%d "
             "early_stop=%d bias_reg=%.17g valid_weight=%s penalty=%s target=%s log_min=%.17g "
             "log_max=%.17g log_scale=%d", opt->k, opt->lambda,
             opt->lambda_bias, opt->k > 0 ? "-" : opt->grid_k,
             opt->lambda > 0.0 ? "-" : gl, opt->iters, opt->early_stop,
             opt->bias_reg, als_valid_weight(opt), als_penalty_name(opt), als_target_name(opt),
             opt->log_min, opt->log_max, als_log_scale(opt));
}

static int ckpt_params(hid_t f, als_state *st, const als_opts *opt, int write, const char *path)
{
    int rc = RP_OK;
    int64_t want[4] = {st->dbl, (int64_t)st->seed, st->side[0].n_global, st->side[1].n_global};
    char spec[1024], got_spec[1024];
    ckpt_spec(opt, spec, sizeof spec);
    if (write) {
        RP_CALL(rp_h5_attr_write(f, "/", "ints", RP_I64, 4, want));
        RP_CALL(rp_h5_attr_write(f, "/", "mu", RP_F64, 1, &st->mu));
        RP_CALL(rp_h5_attr_write_str(f, "/", "spec", spec));
        return RP_OK;
    }
    int64_t got[4] = {0, 0, 0, 0};
    double mu = 0.0;
    if (!rp_h5_attr_exists(f, "/", "spec"))
        RP_FAIL_USER0(RP_ERR_DATA, "%s: checkpoint of an older rp-als; remove it", path);
    RP_CALL(rp_h5_attr_read(f, "/", "ints", RP_I64, 4, got));
    RP_CALL(rp_h5_attr_read(f, "/", "mu", RP_F64, 1, &mu));
    RP_CALL(rp_h5_attr_read_str(f, "/", "spec", got_spec, sizeof got_spec));
    if (memcmp(got, want, sizeof got) != 0 || mu != st->mu || strcmp(spec, got_spec) != 0)
        RP_FAIL_USER0(RP_ERR_DATA,
                      "%s: checkpoint was written with other parameters or input (fp64=%lld "
                      "seed=%lld n_users=%lld n_items=%lld %s); remove it or run without "
                      "--resume", path, (long long)got[0], (long long)got[1], (long long)got[2],
                      (long long)got[3], got_spec);
cleanup:
    return rc;
}

/* Both sides' own rows [nrows, k + 1] (factor buffers fac[s]) as prefix/{user,item}_fac. */
static int write_facs(als_state *st, hid_t f, const char *prefix, void *const fac[2], int k)
{
    int rc = RP_OK;
    static const char *const names[2] = {"user_fac", "item_fac"};
    char name[128];
    for (int s = 0; s < 2; s++) {
        const als_side *sd = &st->side[s];
        snprintf(name, sizeof name, "%s/%s", prefix, names[s]);
        RP_CALL(rp_h5_write_2d(f, name, st->dbl ? RP_F64 : RP_F32, sd->n_global, k + 1,
                               sd->row_offset, sd->nrows, fac[s]));
    }
cleanup:
    return rc;
}

static int read_facs(als_state *st, hid_t f, const char *path, const char *prefix,
                     void *const fac[2], int k)
{
    int rc = RP_OK, nd = 0;
    int64_t d[2] = {0, 0};
    static const char *const names[2] = {"user_fac", "item_fac"};
    char name[128];
    for (int s = 0; s < 2; s++) {
        const als_side *sd = &st->side[s];
        snprintf(name, sizeof name, "%s/%s", prefix, names[s]);
        RP_CALL(rp_h5_dims(f, name, &nd, d));
        RP_REQUIRE(nd == 2 && d[0] == sd->n_global && d[1] == k + 1, RP_ERR_DATA,
                   "%s: %s has the wrong shape", path, name);
        RP_CALL(rp_h5_read(f, name, st->dbl ? RP_F64 : RP_F32, sd->row_offset, sd->nrows,
                           fac[s]));
    }
cleanup:
    return rc;
}

/* The grid's points done: n entries of each array (cap >= 1 entries written so n may be 0). */
static int write_grid(als_state *st, hid_t f, int64_t n)
{
    int rc = RP_OK;
    const als_grid *g = &st->grid;
    RP_CALL(rp_h5_write_replicated(st->comm, f, RP_DS_ALS_GRID_K, RP_I32, 1, &n, g->k));
    RP_CALL(rp_h5_write_replicated(st->comm, f, RP_DS_ALS_GRID_LAMBDA, RP_F64, 1, &n,
                                   g->lambda));
    RP_CALL(rp_h5_write_replicated(st->comm, f, RP_DS_ALS_GRID_LAMBDA_BIAS, RP_F64, 1, &n,
                                   g->lambda_bias));
    RP_CALL(rp_h5_write_replicated(st->comm, f, RP_DS_ALS_GRID_VALID_RMSE, RP_F64, 1, &n,
                                   g->valid_rmse));
    RP_CALL(rp_h5_write_replicated(st->comm, f, RP_DS_ALS_GRID_BEST_ITER, RP_I32, 1, &n,
                                   g->best_iter));
    RP_CALL(rp_h5_write_replicated(st->comm, f, RP_DS_ALS_GRID_ITERATIONS, RP_I32, 1, &n,
                                   g->iters));
cleanup:
    return rc;
}

static int read_grid(hid_t f, const char *path, als_grid *g, int64_t n)
{
    int rc = RP_OK;
    int64_t cap = (int64_t)g->nk * g->nl;
    RP_REQUIRE(n >= 0 && n <= cap, RP_ERR_DATA, "%s: grid_n %lld out of range", path,
               (long long)n);
    RP_CALL(rp_h5_read(f, RP_DS_ALS_GRID_K, RP_I32, 0, cap, g->k));
    RP_CALL(rp_h5_read(f, RP_DS_ALS_GRID_LAMBDA, RP_F64, 0, cap, g->lambda));
    RP_CALL(rp_h5_read(f, RP_DS_ALS_GRID_LAMBDA_BIAS, RP_F64, 0, cap, g->lambda_bias));
    RP_CALL(rp_h5_read(f, RP_DS_ALS_GRID_VALID_RMSE, RP_F64, 0, cap, g->valid_rmse));
    RP_CALL(rp_h5_read(f, RP_DS_ALS_GRID_BEST_ITER, RP_I32, 0, cap, g->best_iter));
    RP_CALL(rp_h5_read(f, RP_DS_ALS_GRID_ITERATIONS, RP_I32, 0, cap, g->iters));
    g->n = (int)n;
cleanup:
    return rc;
}

/* A snapshot's identity as four attributes named prefix_{k,lambda,iter,valid}. */
static int snap_attrs(hid_t f, const char *prefix, als_snap *sn, int write)
{
    int rc = RP_OK;
    char name[6][64];
    int64_t k = sn->k;
    snprintf(name[0], sizeof name[0], "%s_k", prefix);
    snprintf(name[1], sizeof name[1], "%s_lambda", prefix);
    snprintf(name[2], sizeof name[2], "%s_iter", prefix);
    snprintf(name[3], sizeof name[3], "%s_valid", prefix);
    snprintf(name[4], sizeof name[4], "%s_valid_plain", prefix);
    snprintf(name[5], sizeof name[5], "%s_gamma", prefix);
    if (write) {
        RP_CALL(rp_h5_attr_write(f, "/", name[0], RP_I64, 1, &k));
        RP_CALL(rp_h5_attr_write(f, "/", name[1], RP_F64, 1, &sn->lambda));
        RP_CALL(rp_h5_attr_write(f, "/", name[2], RP_I64, 1, &sn->iter));
        RP_CALL(rp_h5_attr_write(f, "/", name[3], RP_F64, 1, &sn->valid_rmse));
        RP_CALL(rp_h5_attr_write(f, "/", name[4], RP_F64, 1, &sn->valid_plain));
        RP_CALL(rp_h5_attr_write(f, "/", name[5], RP_F64, 1, &sn->gamma));
    } else {
        RP_CALL(rp_h5_attr_read(f, "/", name[0], RP_I64, 1, &k));
        RP_CALL(rp_h5_attr_read(f, "/", name[1], RP_F64, 1, &sn->lambda));
        RP_CALL(rp_h5_attr_read(f, "/", name[2], RP_I64, 1, &sn->iter));
        RP_CALL(rp_h5_attr_read(f, "/", name[3], RP_F64, 1, &sn->valid_rmse));
        RP_CALL(rp_h5_attr_read(f, "/", name[4], RP_F64, 1, &sn->valid_plain));
        RP_CALL(rp_h5_attr_read(f, "/", name[5], RP_F64, 1, &sn->gamma));
        sn->k = (int)k;
    }
cleanup:
    return rc;
}

int als_checkpoint_write(const rp_stage *stg, als_state *st, const als_opts *opt,
                         const char *path, int64_t iter)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    void *const cur[2] = {st->side[0].fac, st->side[1].fac};
    als_snap point = {.k = st->k, .lambda = st->lambda, .iter = iter};
    int64_t n = st->grid.n, cap = (int64_t)st->grid.nk * st->grid.nl;
    RP_CALL(rp_h5_create(st->comm, path, &f));
    RP_CALL(rp_stage_stamp(stg, f, ALS_SCHEMA_CKPT, RP_SCHEMA_VERSION, NULL));
    RP_CALL(ckpt_params(f, st, opt, 1, path));
    RP_CALL(write_grid(st, f, cap));
    RP_CALL(rp_h5_attr_write(f, "/", "grid_n", RP_I64, 1, &n));
    RP_CALL(snap_attrs(f, "point", &point, 1));
    RP_CALL(write_facs(st, f, "", cur, st->k));
    RP_CALL(write_history(st->comm, f, "", &st->hist));
    RP_CALL(snap_attrs(f, "point_best", &st->point_best, 1));
    if (st->point_best.k > 0) RP_CALL(write_facs(st, f, "/point_best", st->point_best.fac,
                                                 st->point_best.k));
    RP_CALL(snap_attrs(f, "best", &st->best, 1));
    if (st->best.k > 0) {
        RP_CALL(write_facs(st, f, "/best", st->best.fac, st->best.k));
        RP_CALL(write_history(st->comm, f, "/best", &st->best.hist));
    }
cleanup:
    return rp_h5_commit(st->comm, &f, path, rc);
}

int als_checkpoint_read(als_state *st, const als_opts *opt, const char *path, int64_t *iter)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    int64_t n = 0;
    als_snap point = {0};
    RP_CALL(rp_h5_open(st->comm, path, &f));
    RP_CALL(rp_h5_check_schema(f, path, ALS_SCHEMA_CKPT));
    RP_CALL(ckpt_params(f, st, opt, 0, path));
    RP_CALL(rp_h5_attr_read(f, "/", "grid_n", RP_I64, 1, &n));
    RP_CALL(read_grid(f, path, &st->grid, n));
    RP_CALL(snap_attrs(f, "point", &point, 0));
    RP_CALL(snap_attrs(f, "point_best", &st->point_best, 0));
    RP_CALL(snap_attrs(f, "best", &st->best, 0));
    RP_REQUIRE(point.k >= 1 && point.k <= st->kmax && st->point_best.k <= st->kmax &&
               st->best.k <= st->kmax, RP_ERR_DATA, "%s: ranks out of range", path);
    RP_CALL(als_set_rank(st, point.k, point.lambda));
    void *const cur[2] = {st->side[0].fac, st->side[1].fac};
    RP_CALL(read_facs(st, f, path, "", cur, point.k));
    RP_CALL(read_history(f, "", &st->hist));
    if (st->point_best.k > 0)
        RP_CALL(read_facs(st, f, path, "/point_best", st->point_best.fac, st->point_best.k));
    if (st->best.k > 0) {
        RP_CALL(read_facs(st, f, path, "/best", st->best.fac, st->best.k));
        RP_CALL(read_history(f, "/best", &st->best.hist));
    }
    *iter = point.iter;
cleanup:
    rc = rp_mpi_agree(st->comm, rc);
    rp_h5_close(&f);
    return rc;
}

/* side_row - the score row [k + 2] of own row i of side s from its factor row [x, b].
 * Clipped target: users [x_u, b_u, 1], items [y_i, 1, b_i], so dot + global mean is the
 * prediction. Log target: users [gamma s_u x_u, c_u, 1], items [s_i y_i, 1, c_i] with the bias
 * baseline's terms c and the scale s_u s_i = als_scale_of (exp of the log biases). */
static void side_row(const als_state *st, int s, int64_t i, const double *row, int k,
                     double gamma, double *out)
{
    int64_t g = st->side[s].row_offset + i;
    double sc = 1.0, c = row[k];
    if (st->log_target) {
        double b = row[k];
        sc = s == ALS_USER ? gamma * als_scale_of(st->log_scale, b, 0.0)
                           : als_scale_of(st->log_scale == ALS_SCALE_NONE ? ALS_SCALE_NONE
                                                                          : ALS_SCALE_ITEM,
                                          0.0, b);
        c = s == ALS_USER ? st->cu[g] : st->ci[g];
    }
    for (int j = 0; j < k; j++) out[j] = sc * row[j];
    out[k + s] = c;
    out[k + 1 - s] = 1.0;
}

/* write_side - factors [n, k], biases [n] (log scale with the log target) and score rows
 * [n, k + 2] (side_row) of one side from the own rows fac [nrows, k + 1]. */
static int write_side(als_state *st, hid_t f, int s, const void *fac, int k, double gamma)
{
    int rc = RP_OK;
    const als_side *sd = &st->side[s];
    rp_dtype t = st->dbl ? RP_F64 : RP_F32;
    size_t es = st->dbl ? sizeof(double) : sizeof(float), n = (size_t)sd->nrows;
    char *x = NULL, *b = NULL, *sc = NULL;
    double *row = NULL, *srow = NULL;
    x = rp_malloc((n * (size_t)k + 1) * es);
    b = rp_malloc((n + 1) * es);
    sc = rp_malloc((n * (size_t)(k + 2) + 1) * es);
    row = rp_malloc((size_t)(2 * k + 3) * sizeof *row);
    RP_AGREE_LOCAL(st->comm, x == NULL || b == NULL || sc == NULL || row == NULL);
    srow = row + k + 1;
    for (size_t i = 0; i < n; i++) {
        const char *frow = (const char *)fac + i * (size_t)(k + 1) * es;
        for (int j = 0; j <= k; j++)
            row[j] = st->dbl ? ((const double *)frow)[j] : (double)((const float *)frow)[j];
        side_row(st, s, (int64_t)i, row, k, gamma, srow);
        memcpy(x + i * (size_t)k * es, frow, (size_t)k * es);
        memcpy(b + i * es, frow + (size_t)k * es, es);
        for (int j = 0; j < k + 2; j++) {
            if (st->dbl) ((double *)sc)[i * (size_t)(k + 2) + j] = srow[j];
            else ((float *)sc)[i * (size_t)(k + 2) + j] = (float)srow[j];
        }
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
    free(row);
    return rc;
}

/* The contract attributes of a learned model (rp_schema.h: the plain validation RMSE, whatever
 * --valid-weight selected with) and the choice of K and lambda. */
static int write_selection(als_state *st, hid_t f, const als_opts *opt)
{
    int rc = RP_OK;
    int32_t beats = st->best.valid_plain <= st->bias_valid_plain;
    int64_t best_iter = st->best.iter;
    int b = als_grid_best(&st->grid);
    char fb[256] = "";
    if (st->fallback)
        snprintf(fb, sizeof fb, "bias: the best ALS iterate (k=%d lambda=%g %s-weighted "
                 "valid_rmse=%.6f, the bias baseline's %.6f) did not beat the bias baseline; "
                 "wrote the bias baseline", st->best.k, st->best.lambda, als_valid_weight(opt),
                 b >= 0 ? st->grid.valid_rmse[b] : NAN, st->bias_valid_rmse);
    RP_CALL(rp_h5_attr_write(f, "/", RP_ATTR_VALID_RMSE, RP_F64, 1, &st->best.valid_plain));
    RP_CALL(rp_h5_attr_write(f, "/", RP_ATTR_BIAS_VALID_RMSE, RP_F64, 1, &st->bias_valid_plain));
    RP_CALL(rp_h5_attr_write_str(f, "/", "valid_weight", als_valid_weight(opt)));
    RP_CALL(rp_h5_attr_write_str(f, "/", "penalty", als_penalty_name(opt)));
    RP_CALL(rp_h5_attr_write(f, "/", "selection_valid_rmse", RP_F64, 1, &st->best.valid_rmse));
    RP_CALL(rp_h5_attr_write(f, "/", "selection_bias_valid_rmse", RP_F64, 1,
                             &st->bias_valid_rmse));
    RP_CALL(rp_h5_attr_write(f, "/", RP_ATTR_BEATS_BIAS, RP_I32, 1, &beats));
    RP_CALL(rp_h5_attr_write_str(f, "/", RP_ATTR_FALLBACK, fb));
    RP_CALL(rp_h5_attr_write_str(f, "/", RP_ATTR_SELECTED_BY,
                                 opt->k > 0 && opt->lambda > 0.0 ? "given" : "grid"));
    RP_CALL(rp_h5_attr_write(f, "/", "lambda_bias", RP_F64, 1, &st->lambda_bias));
    RP_CALL(rp_h5_attr_write(f, "/", "bias_reg", RP_F64, 1, &opt->bias_reg));
    RP_CALL(rp_h5_attr_write(f, "/", "best_iteration", RP_I64, 1, &best_iter));
cleanup:
    return rc;
}

/* The training target and, with the log target, its calibration. */
static int write_target(als_state *st, hid_t f, const als_opts *opt)
{
    int rc = RP_OK;
    double range[2] = {st->lr.lo, st->lr.hi};
    RP_CALL(rp_h5_attr_write_str(f, "/", "target", als_target_name(opt)));
    if (!st->log_target) return RP_OK;
    RP_CALL(rp_h5_attr_write(f, "/", "calib_gamma", RP_F64, 1, &st->best.gamma));
    RP_CALL(rp_h5_attr_write(f, "/", "log_global_mean", RP_F64, 1, &st->mu));
    RP_CALL(rp_h5_attr_write(f, "/", "log_range", RP_F64, 2, range));
    RP_CALL(rp_h5_attr_write(f, "/", "log_train_pairs", RP_I64, 1, &st->nnz_train));
    RP_CALL(rp_h5_attr_write_str(f, "/", "log_scale",
                                 st->log_scale == ALS_SCALE_NONE ? "none" :
                                 st->log_scale == ALS_SCALE_ITEM ? "item" : "both"));
cleanup:
    return rc;
}

static int write_attrs(als_state *st, hid_t f, const als_opts *opt, int64_t iters)
{
    int rc = RP_OK;
    int64_t k = st->best.k, seed = (int64_t)st->seed;
    double one = 1.0, mu = st->log_target ? st->cmu : st->fallback ? st->bias_mu : st->mu;
    RP_CALL(rp_h5_attr_write(f, "/", "global_mean", RP_F64, 1, &mu));
    RP_CALL(rp_h5_attr_write(f, "/", "k", RP_I64, 1, &k));
    RP_CALL(rp_h5_attr_write(f, "/", "lambda", RP_F64, 1, &st->best.lambda));
    RP_CALL(rp_h5_attr_write(f, "/", "iterations", RP_I64, 1, &iters));
    RP_CALL(rp_h5_attr_write_str(f, "/", "precision", opt->precision));
    RP_CALL(rp_h5_attr_write(f, "/", "seed", RP_I64, 1, &seed));
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &st->side[ALS_USER].n_global));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &st->side[ALS_ITEM].n_global));
    RP_CALL(rp_h5_attr_write_str(f, RP_GRP_SCORE, "post", "identity"));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "scale", RP_F64, 1, &one));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "shift", RP_F64, 1, &mu));
    RP_CALL(write_selection(st, f, opt));
    RP_CALL(write_target(st, f, opt));
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
    RP_CALL(write_side(st, f, ALS_USER, st->best.fac[ALS_USER], st->best.k, st->best.gamma));
    RP_CALL(write_side(st, f, ALS_ITEM, st->best.fac[ALS_ITEM], st->best.k, st->best.gamma));
    RP_CALL(write_history(st->comm, f, "", &st->best.hist));
    RP_CALL(write_grid(st, f, st->grid.n));
    RP_CALL(write_attrs(st, f, opt, iters));
cleanup:
    return rp_h5_commit(st->comm, &f, opt->out, rc);
}
