/* eval_gather.c - the data every rp-eval report shows, gathered once: headline metrics per
 * row, each model file's validation attributes (valid_rmse, bias_valid_rmse, beats_bias,
 * fallback) and als.h5's K x lambda grid. Collective reads; the writers only format. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_report.h"
#include "rp_err.h"
#include "rp_h5.h"
#include "rp_mpi.h"

/* Column index of a metric name, or -1. */
static int column(const eval_report_data *d, const char *name)
{
    for (int j = 0; j < d->n_metrics; j++)
        if (strcmp(d->metric_names[j], name) == 0) return j;
    return -1;
}

static double at(const double *met, int col) { return col >= 0 ? met[col] : NAN; }

/* The contract-1 attributes on obj ("/" or a variant's group) of an open model file. */
static int read_attrs_on(hid_t f, const char *obj, eval_model_attrs *a)
{
    int rc = RP_OK;
    int64_t beats = -1;
    if (rp_h5_attr_exists(f, obj, "valid_rmse") <= 0) goto cleanup;
    a->present = 1;
    RP_CALL(rp_h5_attr_read(f, obj, "valid_rmse", RP_F64, 1, &a->valid_rmse));
    if (rp_h5_attr_exists(f, obj, "bias_valid_rmse") > 0)
        RP_CALL(rp_h5_attr_read(f, obj, "bias_valid_rmse", RP_F64, 1, &a->bias_valid_rmse));
    if (rp_h5_attr_exists(f, obj, "beats_bias") > 0)
        RP_CALL(rp_h5_attr_read(f, obj, "beats_bias", RP_I64, 1, &beats));
    a->beats_bias = (int)beats;
    if (rp_h5_attr_exists(f, obj, "fallback") > 0)
        RP_CALL(rp_h5_attr_read_str(f, obj, "fallback", a->fallback, sizeof a->fallback));
cleanup:
    return rc;
}

/* A row's attributes: its variant's group when that carries them, else the root. */
static int read_attrs(hid_t f, const char *variant, eval_model_attrs *a)
{
    int rc = RP_OK;
    char grp[80];
    snprintf(grp, sizeof grp, "/%s", variant);
    if (variant[0] != '\0' && rp_h5_exists(f, grp)) RP_CALL(read_attrs_on(f, grp, a));
    if (!a->present) RP_CALL(read_attrs_on(f, "/", a));
cleanup:
    return rc;
}

/* One /grid/<name> column of n values (n < 0: take its length). */
static int grid_column(hid_t f, const char *name, rp_dtype t, void **out, int64_t *n)
{
    int rc = RP_OK, nd = 0;
    int64_t dims[2] = {0, 0};
    char path[64], fname[1024];
    snprintf(path, sizeof path, "/grid/%s", name);
    RP_CALL(rp_h5_read_all(f, path, t, out, &nd, dims));
    rp_h5_filename(f, fname, sizeof fname);
    if (nd != 1 || (*n >= 0 && dims[0] != *n))
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has shape %lld, want [%lld] like /grid/k", fname, path,
                      (long long)dims[0], (long long)*n);
    *n = dims[0];
cleanup:
    return rc;
}

/* als.h5's /grid and the chosen K, lambda, lambda_bias, selected_by (contract 2). */
static int read_grid(hid_t f, const char *source, eval_als_grid *g)
{
    int rc = RP_OK;
    int64_t n = -1;
    RP_CALL(grid_column(f, "k", RP_I32, (void **)&g->k, &n));
    RP_CALL(grid_column(f, "lambda", RP_F64, (void **)&g->lambda, &n));
    RP_CALL(grid_column(f, "lambda_bias", RP_F64, (void **)&g->lambda_bias, &n));
    RP_CALL(grid_column(f, "valid_rmse", RP_F64, (void **)&g->valid_rmse, &n));
    RP_CALL(grid_column(f, "best_iter", RP_I32, (void **)&g->best_iter, &n));
    g->n = n;
    g->k_sel = g->lambda_sel = g->lambda_bias_sel = NAN;
    if (rp_h5_attr_exists(f, "/", "k") > 0)
        RP_CALL(rp_h5_attr_read(f, "/", "k", RP_F64, 1, &g->k_sel));
    if (rp_h5_attr_exists(f, "/", "lambda") > 0)
        RP_CALL(rp_h5_attr_read(f, "/", "lambda", RP_F64, 1, &g->lambda_sel));
    if (rp_h5_attr_exists(f, "/", "lambda_bias") > 0)
        RP_CALL(rp_h5_attr_read(f, "/", "lambda_bias", RP_F64, 1, &g->lambda_bias_sel));
    if (rp_h5_attr_exists(f, "/", "selected_by") > 0)
        RP_CALL(rp_h5_attr_read_str(f, "/", "selected_by", g->selected_by,
                                    sizeof g->selected_by));
    snprintf(g->source, sizeof g->source, "%s", source);
cleanup:
    return rc;
}

/* Attributes of row k's file, and the grid of the first ALS file that has one. Collective. */
static int read_model_file(MPI_Comm comm, const eval_entry *e, eval_report_row *row,
                           eval_als_grid *grid)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    RP_CALL(rp_h5_open(comm, e->source, &f));
    RP_CALL(read_attrs(f, e->variant, &row->attrs));
    if (grid->n == 0 && strcmp(e->model->name, "als") == 0 && rp_h5_exists(f, "/grid"))
        RP_CALL(read_grid(f, e->source, grid));
cleanup:
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

/* Headline numbers of row k from the metric table. */
static void fill_row(const eval_state *s, int k, const eval_report_data *d, eval_report_row *r)
{
    char ndcg[32], ndcg_raw[32];
    const eval_entry *e = &s->entries[k];
    snprintf(ndcg, sizeof ndcg, "ndcg@%d", d->k1);
    snprintf(ndcg_raw, sizeof ndcg_raw, "ndcg_raw@%d", d->k1);
    r->name = e->name;
    r->source = e->source;
    r->metrics = s->metrics + (int64_t)k * s->n_metrics;
    r->is_truth = e->model == NULL;
    r->is_bias = e->model != NULL && e->source[0] == '\0' && strcmp(e->name, "bias") == 0;
    r->rmse = at(r->metrics, column(d, "rmse"));
    r->mae = at(r->metrics, column(d, "mae"));
    r->ndcg = at(r->metrics, column(d, ndcg));
    r->ndcg_raw = at(r->metrics, column(d, ndcg_raw));
    r->gap_share = at(r->metrics, column(d, "gap_share"));
    r->attrs = (eval_model_attrs){0, NAN, NAN, -1, ""};
}

int eval_report_gather(MPI_Comm comm, const eval_opts *o, const eval_state *s,
                       eval_report_data *d)
{
    int rc = RP_OK;
    const eval_test *t = &s->test;
    memset(d, 0, sizeof *d);
    d->n_metrics = eval_metric_names(o, d->metric_names, 64);
    d->k1 = o->k[0];
    d->n_test_pairs = t->nnz_global;
    d->n_users = t->n_users;
    d->n_items = t->n_items;
    d->norm_min = t->norm_min;
    d->norm_max = t->norm_max;
    d->gain_max = t->gain_max;
    d->outlier_rule = t->outlier_rule;
    d->truth_target = t->truth != NULL ? t->truth_target : NULL;
    d->n_rows = s->n_entries;
    for (int k = 0; k < s->n_entries; k++) {
        eval_report_row *r = &d->rows[k];
        fill_row(s, k, d, r);
        d->has_truth |= r->is_truth;
        d->has_bias |= r->is_bias;
        if (s->entries[k].model != NULL && s->entries[k].source[0] != '\0')
            RP_CALL(read_model_file(comm, &s->entries[k], r, &d->grid));
    }
cleanup:
    if (rc != RP_OK) eval_report_data_clear(d);
    return rp_mpi_agree(comm, rc);
}

void eval_report_data_clear(eval_report_data *d)
{
    eval_als_grid *g = &d->grid;
    free(g->k);
    free(g->best_iter);
    free(g->lambda);
    free(g->lambda_bias);
    free(g->valid_rmse);
    memset(d, 0, sizeof *d);
}
