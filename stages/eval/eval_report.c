/* eval_report.c - report.json and report.md (rank 0, atomic), model histories (collective
 * reads) and gnuplot plots: a learning curve per model with a /history, a metric bar chart. */
#include "eval_report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rp_err.h"
#include "rp_fault.h"
#include "rp_h5.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_schema.h"

extern char **environ;

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        if (b->oom) return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if (b->p && b->len + (size_t)n < b->cap) { b->len += (size_t)n; return; }
        size_t cap = (b->cap ? 2 * b->cap : 4096) + (size_t)n;
        char *q = realloc(b->p, cap);
        if (q == NULL) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
}

/* A JSON string literal (quotes, backslashes and control characters escaped). */
static void sb_json_str(sbuf *b, const char *s)
{
    if (s == NULL) { sb_printf(b, "null"); return; }
    sb_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') sb_printf(b, "\\%c", c);
        else if (c < 0x20) sb_printf(b, "\\u%04x", c);
        else sb_printf(b, "%c", c);
    }
    sb_printf(b, "\"");
}

/* Numbers round-trip (%.17g); NaN (undefined metric) is null. */
static void sb_json_num(sbuf *b, double v)
{
    if (isfinite(v)) sb_printf(b, "%.17g", v); else sb_printf(b, "null");
}

static int sb_finish(sbuf *b, const char *dir, const char *name)
{
    int rc = RP_OK;
    if (b->oom) RP_FAIL(RP_ERR_NOMEM, "%s: out of memory building the report", name);
    RP_CALL(eval_write_atomic(dir, name, b->p ? b->p : ""));
cleanup:
    free(b->p);
    memset(b, 0, sizeof *b);
    return rc;
}

static void json_params(sbuf *b, const rp_stage *st, const eval_opts *o, const eval_state *s)
{
    const eval_test *t = &s->test;
    const char *files[][2] = {{"shards", o->shards},     {"features", o->features},
                              {"als", o->als},           {"twotower", o->twotower},
                              {"hybrid", o->hybrid},     {"truth", o->truth},
                              {"out", o->out},           {"report_dir", o->report_dir}};
    sb_printf(b, "  \"params\": {\n    \"command\": ");
    sb_json_str(b, st->cmdline);
    sb_printf(b, ",\n    \"nprocs\": %d", st->size);
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        sb_printf(b, ",\n    \"%s\": ", files[k][0]);
        sb_json_str(b, files[k][1]);
    }
    sb_printf(b, ",\n    \"k_list\": [");
    for (int j = 0; j < o->nk; j++) sb_printf(b, "%s%d", j ? ", " : "", o->k[j]);
    sb_printf(b, "],\n    \"like_threshold\": %.17g,\n    \"bias_reg\": %.17g,\n"
                 "    \"ridge\": %.17g,\n    \"max_cardinality\": %d,\n",
              o->like_threshold, o->bias_reg, o->ridge, o->max_card);
    sb_printf(b, "    \"n_users\": %lld,\n    \"n_items\": %lld,\n    \"n_test_pairs\": %lld,\n"
                 "    \"norm_min\": %.17g,\n    \"norm_max\": %.17g\n  },\n",
              (long long)t->n_users, (long long)t->n_items, (long long)t->nnz_global,
              t->norm_min, t->norm_max);
}

/* A model file's validation attributes, when it has them: ",\n     "validation": {...}". */
static void json_attrs(sbuf *b, const eval_model_attrs *a)
{
    if (!a->present) return;
    sb_printf(b, ",\n     \"validation\": {\"valid_rmse\": ");
    sb_json_num(b, a->valid_rmse);
    sb_printf(b, ", \"bias_valid_rmse\": ");
    sb_json_num(b, a->bias_valid_rmse);
    if (a->beats_bias >= 0) sb_printf(b, ", \"beats_bias\": %d", a->beats_bias);
    else sb_printf(b, ", \"beats_bias\": null");
    sb_printf(b, ", \"fallback\": ");
    sb_json_str(b, a->fallback);
    sb_printf(b, "}");
}

/* als.h5's grid as a list of points, or nothing. */
static void json_grid(sbuf *b, const eval_als_grid *g)
{
    if (g->n == 0) return;
    sb_printf(b, "  \"als_grid\": {\"source\": ");
    sb_json_str(b, g->source);
    sb_printf(b, ", \"selected_by\": ");
    sb_json_str(b, g->selected_by);
    sb_printf(b, ", \"k\": ");
    sb_json_num(b, g->k_sel);
    sb_printf(b, ", \"lambda\": ");
    sb_json_num(b, g->lambda_sel);
    sb_printf(b, ", \"lambda_bias\": ");
    sb_json_num(b, g->lambda_bias_sel);
    sb_printf(b, ",\n    \"points\": [");
    for (int64_t j = 0; j < g->n; j++) {
        sb_printf(b, "%s\n      {\"k\": %d, \"lambda\": ", j ? "," : "", g->k[j]);
        sb_json_num(b, g->lambda[j]);
        sb_printf(b, ", \"lambda_bias\": ");
        sb_json_num(b, g->lambda_bias[j]);
        sb_printf(b, ", \"valid_rmse\": ");
        sb_json_num(b, g->valid_rmse[j]);
        sb_printf(b, ", \"best_iter\": %d}", g->best_iter[j]);
    }
    sb_printf(b, "]},\n");
}

int eval_write_json(const char *dir, const rp_stage *st, const eval_opts *o, const eval_state *s,
                    const eval_report_data *d)
{
    sbuf b = {0};
    const char *mn[64], *cn[64];
    int nm = eval_metric_names(o, mn, 64), nc = eval_count_names(cn, 64);
    sb_printf(&b, "{\n  \"schema\": \"%s\",\n  \"schema_version\": %d,\n", RP_SCHEMA_EVAL,
              RP_SCHEMA_VERSION);
    json_params(&b, st, o, s);
    sb_printf(&b, "  \"gain_max\": ");
    sb_json_num(&b, d->gain_max);
    sb_printf(&b, ",\n  \"truth_target\": ");
    sb_json_str(&b, d->truth_target);
    sb_printf(&b, ",\n");
    json_grid(&b, &d->grid);
    sb_printf(&b, "  \"metrics\": [");
    for (int j = 0; j < nm; j++) sb_printf(&b, "%s\"%s\"", j ? ", " : "", mn[j]);
    sb_printf(&b, "],\n  \"models\": [\n");
    for (int k = 0; k < s->n_entries; k++) {
        sb_printf(&b, "    {\"name\": ");
        sb_json_str(&b, s->entries[k].name);
        sb_printf(&b, ", \"source\": ");
        sb_json_str(&b, s->entries[k].source);
        sb_printf(&b, ",\n     \"metrics\": {");
        for (int j = 0; j < nm; j++) {
            sb_printf(&b, "%s\"%s\": ", j ? ", " : "", mn[j]);
            sb_json_num(&b, s->metrics[(int64_t)k * s->n_metrics + j]);
        }
        sb_printf(&b, "},\n     \"counts\": {");
        for (int j = 0; j < nc; j++)
            sb_printf(&b, "%s\"%s\": %lld", j ? ", " : "", cn[j],
                      (long long)s->counts[(int64_t)k * s->n_counts + j]);
        sb_printf(&b, "}");
        json_attrs(&b, &d->rows[k].attrs);
        sb_printf(&b, "}%s\n", k + 1 < s->n_entries ? "," : "");
    }
    sb_printf(&b, "  ]\n}\n");
    return sb_finish(&b, dir, "report.json");
}

static void md_cell(sbuf *b, double v, const char *fmt)
{
    if (isfinite(v)) { sb_printf(b, " "); sb_printf(b, fmt, v); sb_printf(b, " |"); }
    else sb_printf(b, " - |");
}

/* The headline table: accuracy, clipped and raw NDCG at the first cut-off, the share of the
 * bias-to-truth gap, and the model file's own validation verdict. */
static void md_headline(sbuf *b, const eval_report_data *d)
{
    sb_printf(b, "## Headline\n\n`ndcg@%d` ranks with gains min(watch ratio, %g) (OUTLIER_MAX, "
                 "the training target's cap); `ndcg_raw@%d` with the raw watch ratio, which "
                 "looping videos (watch ratio > 5) dominate. `gap share` = (MSE_bias - "
                 "MSE_model) / (MSE_bias - MSE_truth) on the test split (normalised scale): 0 = "
                 "the bias model, 100%% = the truth.%s `valid` columns come from the model file "
                 "(validation split, normalised scale).\n\n",
              d->k1, d->gain_max, d->k1,
              d->has_truth && d->has_bias ? "" : " (undefined: no bias or no truth row)");
    sb_printf(b, "| model | rmse | mae | ndcg@%d | ndcg_raw@%d | gap share | valid rmse | "
                 "bias valid rmse | beats bias | fallback |\n"
                 "|---|---:|---:|---:|---:|---:|---:|---:|:---:|---|\n", d->k1, d->k1);
    for (int k = 0; k < d->n_rows; k++) {
        const eval_report_row *r = &d->rows[k];
        const eval_model_attrs *a = &r->attrs;
        sb_printf(b, "| %s |", r->name);
        md_cell(b, r->rmse, "%.4f");
        md_cell(b, r->mae, "%.4f");
        md_cell(b, r->ndcg, "%.4f");
        md_cell(b, r->ndcg_raw, "%.4f");
        md_cell(b, 100.0 * r->gap_share, "%.1f%%");
        md_cell(b, a->valid_rmse, "%.4f");
        md_cell(b, a->bias_valid_rmse, "%.4f");
        const char *beats = a->beats_bias == 1 ? "yes" : a->beats_bias == 0 ? "**no**" : "-";
        sb_printf(b, " %s | %s |\n", beats,
                  a->fallback[0] ? a->fallback : (a->present ? "none" : "-"));
    }
}

/* Models whose file says they cannot beat the bias model, named plainly. */
static void md_losers(sbuf *b, const eval_report_data *d)
{
    int n = 0;
    for (int k = 0; k < d->n_rows; k++) {
        const eval_model_attrs *a = &d->rows[k].attrs;
        if (a->beats_bias != 0) continue;
        if (n++ == 0) sb_printf(b, "\n");
        sb_printf(b, "- **%s cannot beat the bias model** on validation (rmse %.4f vs %.4f)%s%s\n",
                  d->rows[k].name, a->valid_rmse, a->bias_valid_rmse,
                  a->fallback[0] ? "; it fell back: " : "", a->fallback);
    }
}

/* als.h5's K x lambda grid, the chosen point marked. */
static void md_grid(sbuf *b, const eval_report_data *d)
{
    const eval_als_grid *g = &d->grid;
    if (g->n == 0) return;
    sb_printf(b, "\n## ALS grid (`%s`)\n\nValidation RMSE (normalised, best iteration) of every "
                 "point; chosen: K = %g, lambda = %g, lambda_bias = %g, selected by %s.\n\n"
                 "| K | lambda | lambda_bias | valid rmse | best iter | |\n"
                 "|---:|---:|---:|---:|---:|---|\n",
              g->source, g->k_sel, g->lambda_sel, g->lambda_bias_sel,
              g->selected_by[0] ? g->selected_by : "-");
    for (int64_t j = 0; j < g->n; j++) {
        int chosen = g->k[j] == g->k_sel && g->lambda[j] == g->lambda_sel &&
                     g->lambda_bias[j] == g->lambda_bias_sel;
        sb_printf(b, "| %d | %g | %g | %.4f | %d | %s |\n", g->k[j], g->lambda[j],
                  g->lambda_bias[j], g->valid_rmse[j], g->best_iter[j], chosen ? "chosen" : "");
    }
}

/* Every metric column of every row. */
static void md_all_metrics(sbuf *b, const eval_report_data *d)
{
    sb_printf(b, "\n## All metrics\n\n| model |");
    for (int j = 0; j < d->n_metrics; j++) sb_printf(b, " %s |", d->metric_names[j]);
    sb_printf(b, "\n|---|");
    for (int j = 0; j < d->n_metrics; j++) sb_printf(b, "---:|");
    sb_printf(b, "\n");
    for (int k = 0; k < d->n_rows; k++) {
        sb_printf(b, "| %s |", d->rows[k].name);
        for (int j = 0; j < d->n_metrics; j++) md_cell(b, d->rows[k].metrics[j], "%.4f");
        sb_printf(b, "\n");
    }
}

/* What the run's outlier rule did to the training target, and why clip is the default. */
static void md_outlier_rule(sbuf *b, const eval_report_data *d)
{
    const char *r = d->outlier_rule;
    if (strcmp(r, "clip") == 0)
        sb_printf(b, "- outlier rule: clip (the default): train and validation watch ratios "
                     "above %g are capped at %g, like the test target\n", d->gain_max,
                  d->gain_max);
    else if (strcmp(r, "drop") == 0)
        sb_printf(b, "- outlier rule: drop (the seed's): train and validation pairs with watch "
                     "ratio above %g were removed, while the test split keeps them capped; the "
                     "default clips instead\n", d->gain_max);
    else if (r[0] != '\0')
        sb_printf(b, "- outlier rule: %s (threshold %g)\n", r, d->gain_max);
}

static void md_params(sbuf *b, const rp_stage *st, const eval_opts *o, const eval_report_data *d)
{
    sb_printf(b, "\n## Parameters\n\n- command: `%s`\n- ranks: %d\n- k-list: %s\n"
                 "- like: watch_ratio > %g\n- NDCG gain cap: %g (shards.h5 outlier_threshold)\n"
                 "- bias baseline reg: %g\n- linear regression ridge: %g, max cardinality %d\n"
                 "- normalisation: [%g, %g]\n",
              st->cmdline, st->size, o->k_list, o->like_threshold, d->gain_max, o->bias_reg,
              o->ridge, o->max_card, d->norm_min, d->norm_max);
    md_outlier_rule(b, d);
    for (int k = 0; k < d->n_rows; k++)
        if (d->rows[k].source[0])
            sb_printf(b, "- %s: `%s`\n", d->rows[k].name, d->rows[k].source);
    if (d->truth_target != NULL)
        sb_printf(b, "\nThe `truth` row predicts the planted model's `%s` (truth.h5): %s\n",
                  d->truth_target,
                  strcmp(d->truth_target, "expected_clipped") == 0
                      ? "E[min(watch ratio, OUTLIER_MAX)], the best any model of the clipped "
                        "target can reach on these noisy test values."
                      : "E[watch ratio] from a truth.h5 without /expected_clipped (or another "
                        "clip point): not the best predictor of the clipped target.");
    for (int k = 0; k < d->n_rows; k++)
        if (d->rows[k].is_truth && strcmp(d->rows[k].name, EVAL_TRUTH_TRAIN) == 0)
            sb_printf(b, "The `%s` row predicts `expected_clipped_train` (truth.h5): the same "
                         "expectation under the big matrix's regime, the one the models train "
                         "on: the best a perfect learner of the training target can reach on "
                         "the test split (its gap_share is the ceiling of such a learner).\n",
                      EVAL_TRUTH_TRAIN);
}

char *eval_md_text(const rp_stage *st, const eval_opts *o, const eval_report_data *d)
{
    sbuf b = {0};
    sb_printf(&b, "# rp-eval report\n\nMetrics on the test split (%lld pairs, %lld users, "
                  "%lld videos). Definitions: docs/stages/eval.md. `-` = undefined.\n\n",
              (long long)d->n_test_pairs, (long long)d->n_users, (long long)d->n_items);
    md_headline(&b, d);
    md_losers(&b, d);
    md_grid(&b, d);
    md_all_metrics(&b, d);
    md_params(&b, st, o, d);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

int eval_write_md(const char *dir, const rp_stage *st, const eval_opts *o,
                  const eval_report_data *d)
{
    int rc = RP_OK;
    char *text = eval_md_text(st, o, d);
    if (text == NULL) RP_FAIL(RP_ERR_NOMEM, "report.md: out of memory building the report");
    RP_CALL(eval_write_atomic(dir, "report.md", text));
cleanup:
    free(text);
    return rc;
}

/* ---- histories ---- */

typedef struct name_list {
    char names[EVAL_MAX_SERIES + 2][64];
    int n;
} name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g;
    (void)info;
    name_list *l = data;
    if (l->n < EVAL_MAX_SERIES + 2) snprintf(l->names[l->n++], 64, "%s", name);
    return 0;
}

/* Length of 1-D dataset path, or -1 if it is not one. */
static int64_t dataset_len(hid_t f, const char *path)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT), sp = H5I_INVALID_HID;
    int64_t n = -1;
    if (d < 0) return -1;
    sp = H5Dget_space(d);
    hsize_t dims[2];
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
        H5Sget_simple_extent_dims(sp, dims, NULL) == 1)
        n = (int64_t)dims[0];
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return n;
}

/* Read the history group grp (e.g. "/history") of an open file into h, drawn as `name`.
 * Collective. h->nseries = 0 when it holds no usable series. */
static int read_history(hid_t f, const char *grp, const char *name, eval_history *h)
{
    int rc = RP_OK;
    name_list l = {0};
    hid_t g = H5I_INVALID_HID;
    char path[256];
    memset(h, 0, sizeof *h);
    snprintf(h->model, sizeof h->model, "%s", name);
    RP_H5(g = H5Gopen2(f, grp, H5P_DEFAULT));
    RP_H5(H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &l));
    for (int k = 0; k < l.n; k++) { /* the x axis: iteration or epoch */
        if (strcmp(l.names[k], "iteration") != 0 && strcmp(l.names[k], "epoch") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", grp, l.names[k]);
        if ((h->n = dataset_len(f, path)) <= 0) continue;
        snprintf(h->xname, sizeof h->xname, "%s", l.names[k]);
        RP_CALL(rp_h5_read_all(f, path, RP_F64, (void **)&h->x, NULL, NULL));
        break;
    }
    for (int k = 0; k < l.n && h->nseries < EVAL_MAX_SERIES; k++) {
        snprintf(path, sizeof path, "%s/%s", grp, l.names[k]);
        int64_t n = dataset_len(f, path);
        if (n <= 0 || strcmp(l.names[k], h->xname) == 0 || strcmp(l.names[k], "seconds") == 0)
            continue;
        if (h->x == NULL) h->n = n;
        if (n != h->n) continue;
        snprintf(h->names[h->nseries], 64, "%s", l.names[k]);
        RP_CALL(rp_h5_read_all(f, path, RP_F64, (void **)&h->y[h->nseries++], NULL, NULL));
    }
    if (h->x == NULL && h->nseries > 0) {
        snprintf(h->xname, sizeof h->xname, "step");
        RP_ALLOC(h->x = malloc((size_t)h->n * sizeof *h->x));
        for (int64_t k = 0; k < h->n; k++) h->x[k] = (double)(k + 1);
    }
cleanup:
    if (g >= 0) H5Gclose(g);
    return rc;
}

static void history_clear(eval_history *h)
{
    free(h->x);
    for (int j = 0; j < h->nseries; j++) free(h->y[j]);
    memset(h, 0, sizeof *h);
}

/* Every history of one model file: /history (drawn as `stem`) and /<group>/history for each
 * root group (drawn as `stem_group`, e.g. hybrid's /concat/history). Collective. */
static int file_histories(hid_t f, const char *stem, eval_history *h, int cap, int *n)
{
    int rc = RP_OK;
    name_list roots = {0};
    char grp[160], name[64];
    RP_H5(H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &roots));
    for (int k = -1; k < roots.n && *n < cap; k++) {
        if (k < 0) {
            snprintf(grp, sizeof grp, "%s", RP_GRP_HISTORY);
            snprintf(name, sizeof name, "%s", stem);
        } else {
            snprintf(grp, sizeof grp, "/%.64s%s", roots.names[k], RP_GRP_HISTORY);
            snprintf(name, sizeof name, "%.30s_%.30s", stem, roots.names[k]);
        }
        if (!rp_h5_exists(f, grp)) continue;
        hid_t o = H5Oopen(f, grp, H5P_DEFAULT);
        int is_group = o >= 0 && H5Iget_type(o) == H5I_GROUP;
        if (o >= 0) H5Oclose(o);
        if (!is_group) continue;
        RP_CALL(read_history(f, grp, name, &h[*n]));
        if (h[*n].nseries > 0) (*n)++; else history_clear(&h[*n]);
    }
cleanup:
    return rc;
}

/* "run/als.h5" -> "als". */
static void file_stem(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    snprintf(out, cap, "%s", b ? b + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot != NULL && dot != out) *dot = '\0';
}

int eval_read_histories(MPI_Comm comm, const eval_state *s, eval_history **out, int *nh)
{
    int rc = RP_OK, n = 0;
    eval_history *h = NULL;
    hid_t f = H5I_INVALID_HID;
    char stem[64];
    h = rp_calloc(EVAL_MAX_MODELS, sizeof *h);
    RP_AGREE_LOCAL(comm, h == NULL);
    for (int k = 0; k < s->n_entries; k++) {
        const char *src = s->entries[k].source;
        int seen = s->entries[k].model == NULL || src[0] == '\0';
        for (int j = 0; j < k && !seen; j++) seen = strcmp(s->entries[j].source, src) == 0;
        if (seen) continue; /* baselines, truth, and files already read (hybrid variants) */
        file_stem(src, stem, sizeof stem);
        RP_CALL(rp_h5_open(comm, src, &f));
        rc = file_histories(f, stem, h, EVAL_MAX_MODELS, &n);
        rp_h5_close(&f);
        RP_AGREE(comm, rc);
    }
    *out = h;
    h = NULL;
    *nh = n;
cleanup:
    rp_h5_close(&f);
    eval_histories_free(h, EVAL_MAX_MODELS);
    return rp_mpi_agree(comm, rc);
}

void eval_histories_free(eval_history *h, int nh)
{
    if (h == NULL) return;
    for (int k = 0; k < nh; k++) {
        free(h[k].x);
        for (int j = 0; j < h[k].nseries; j++) free(h[k].y[j]);
    }
    free(h);
}

/* ---- plots ---- */

/* 1 if prog (a path, or a name searched in PATH) is executable. */
static int find_gnuplot(const char *prog)
{
    const char *path = getenv("PATH");
    char dir[4096], exe[4200];
    if (strchr(prog, '/') != NULL) return access(prog, X_OK) == 0;
    while (path && *path) {
        size_t l = strcspn(path, ":");
        snprintf(dir, sizeof dir, "%.*s", (int)l, path);
        snprintf(exe, sizeof exe, "%s/%s", dir[0] ? dir : ".", prog);
        if (access(exe, X_OK) == 0) return 1;
        path += l + (path[l] == ':');
    }
    return 0;
}

/* A gnuplot single-quoted string: ' doubled. */
static void sb_gp_str(sbuf *b, const char *s)
{
    sb_printf(b, "'");
    for (; *s; s++) sb_printf(b, *s == '\'' ? "''" : "%c", *s);
    sb_printf(b, "'");
}

/* Run gnuplot on script text writing png_tmp, then rename it to png. 0 on success. */
static int run_gnuplot(const char *prog, const char *dir, const char *script, const char *png_tmp,
                       const char *png)
{
    char spath[4200];
    snprintf(spath, sizeof spath, "%s/.plot.gp", dir);
    FILE *fp = fopen(spath, "w");
    if (fp == NULL) return -1;
    int bad = fputs(script, fp) < 0;
    bad |= fclose(fp) != 0;
    pid_t pid;
    int status = -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)prog, spath, NULL};
    if (!bad && posix_spawnp(&pid, prog, &fa, NULL, argv, environ) == 0)
        waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&fa);
    unlink(spath);
    if (status != 0 || rename(png_tmp, png) != 0) {
        unlink(png_tmp);
        return -1;
    }
    return 0;
}

static int plot_history(const char *prog, const char *pdir, const eval_history *h)
{
    char dat[4400], png[4400], tmp[4500];
    snprintf(dat, sizeof dat, "%s/.learning_%s.dat", pdir, h->model);
    snprintf(png, sizeof png, "%s/learning_%s.png", pdir, h->model);
    snprintf(tmp, sizeof tmp, "%s/.learning_%s.png.tmp", pdir, h->model);
    FILE *fp = fopen(dat, "w");
    if (fp == NULL) return -1;
    for (int64_t r = 0; r < h->n; r++) {
        fprintf(fp, "%.10g", h->x[r]);
        for (int j = 0; j < h->nseries; j++) fprintf(fp, " %.10g", h->y[j][r]);
        fprintf(fp, "\n");
    }
    int bad = fclose(fp) != 0;
    sbuf b = {0};
    sb_printf(&b, "set terminal png size 900,540\nset termoption noenhanced\nset output ");
    sb_gp_str(&b, tmp);
    sb_printf(&b, "\nset title 'Learning curve: %s'\nset xlabel '%s'\nset grid\nset key outside\n"
                  "%s\nplot ", h->model, h->xname, h->n <= 20 ? "set xtics 1" : "");
    for (int j = 0; j < h->nseries; j++) {
        sb_printf(&b, "%s", j ? ", " : "");
        sb_gp_str(&b, dat);
        sb_printf(&b, " using 1:%d with linespoints title '%s'", j + 2, h->names[j]);
    }
    sb_printf(&b, "\n");
    int r = bad || b.oom ? -1 : run_gnuplot(prog, pdir, b.p, tmp, png);
    free(b.p);
    unlink(dat);
    return r;
}

/* Clustered bars: the main metrics (rows) for every model (columns). */
static int plot_metrics(const char *prog, const char *pdir, const eval_opts *o,
                        const eval_state *s)
{
    const char *mn[64];
    int nm = eval_metric_names(o, mn, 64), pick[8], np = 0;
    char want[8][32], dat[4400], png[4400], tmp[4500];
    snprintf(want[0], 32, "rmse");
    snprintf(want[1], 32, "mae");
    snprintf(want[2], 32, "ndcg@%d", o->k[0]);
    snprintf(want[3], 32, "precision@%d", o->k[0]);
    snprintf(want[4], 32, "recall@%d", o->k[0]);
    snprintf(want[5], 32, "auc");
    snprintf(want[6], 32, "coverage@%d", o->k[0]);
    for (int w = 0; w < 7; w++)
        for (int j = 0; j < nm; j++)
            if (strcmp(mn[j], want[w]) == 0) pick[np++] = j;
    snprintf(dat, sizeof dat, "%s/.metrics.dat", pdir);
    snprintf(png, sizeof png, "%s/metrics.png", pdir);
    snprintf(tmp, sizeof tmp, "%s/.metrics.png.tmp", pdir);
    FILE *fp = fopen(dat, "w");
    if (fp == NULL) return -1;
    fprintf(fp, "metric");
    for (int k = 0; k < s->n_entries; k++) fprintf(fp, " %s", s->entries[k].name);
    for (int w = 0; w < np; w++) {
        fprintf(fp, "\n%s", mn[pick[w]]);
        for (int k = 0; k < s->n_entries; k++)
            fprintf(fp, " %.8g", s->metrics[(int64_t)k * s->n_metrics + pick[w]]);
    }
    fprintf(fp, "\n");
    int bad = fclose(fp) != 0;
    sbuf b = {0};
    sb_printf(&b, "set terminal png size 1100,560\nset termoption noenhanced\nset output ");
    sb_gp_str(&b, tmp);
    sb_printf(&b, "\nset title 'Test metrics (normalised scale)'\nset style data histograms\n"
                  "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
                  "set key outside\nset grid ytics\nset yrange [0:*]\nplot for [c=2:%d] ",
              s->n_entries + 1);
    sb_gp_str(&b, dat);
    sb_printf(&b, " using c:xtic(1) title columnheader(c)\n");
    int r = bad || b.oom ? -1 : run_gnuplot(prog, pdir, b.p, tmp, png);
    free(b.p);
    unlink(dat);
    return r;
}

int eval_plots(const char *dir, const eval_opts *o, const eval_state *s, const eval_history *h,
               int nh)
{
    char pdir[4200];
    if (!find_gnuplot(o->gnuplot)) {
        rp_log_info("notice: %s not found: plots skipped", o->gnuplot);
        return RP_OK;
    }
    snprintf(pdir, sizeof pdir, "%s/plots", dir);
    if (mkdir(pdir, 0777) != 0 && errno != EEXIST) {
        rp_log_warn("%s: cannot create: %s; plots skipped", pdir, strerror(errno));
        return RP_OK;
    }
    int drawn = 0;
    for (int k = 0; k < nh; k++) {
        if (plot_history(o->gnuplot, pdir, &h[k]) == 0) drawn++;
        else rp_log_warn("gnuplot failed on the learning curve of %s", h[k].model);
    }
    if (plot_metrics(o->gnuplot, pdir, o, s) == 0) drawn++;
    else rp_log_warn("gnuplot failed on the metric chart");
    rp_log_info("%d plot(s) in %s", drawn, pdir);
    return RP_OK;
}
