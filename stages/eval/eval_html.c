/* eval_html.c - report/index.html: the report people look at, one file that opens anywhere
 * (no external images, styles or scripts): metric table with the bias-to-truth gap closed,
 * learning curves and the model comparison (the gnuplot PNGs as data URIs), and the time and
 * peak memory of every stage whose output this evaluation read. */
#include "eval_html.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_report.h"
#include "rp_err.h"
#include "rp_h5.h"
#include "rp_inputs.h"
#include "rp_log.h"
#include "rp_mpi.h"

#define HTML_MAX_PLOTS 64

static int metric_col(const eval_opts *o, const char *name)
{
    const char *mn[64];
    int nm = eval_metric_names(o, mn, 64);
    for (int j = 0; j < nm; j++)
        if (strcmp(mn[j], name) == 0) return j;
    return -1;
}

void eval_base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

static void html_text(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default: fputc(*s, fp);
        }
    }
}

static void html_num(FILE *fp, double v, const char *fmt)
{
    if (isfinite(v)) fprintf(fp, fmt, v); else fputs("-", fp);
}

/* The whole file in a malloc'd buffer; NULL (with a warning) if it cannot be read. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len = -1;
    if (fp != NULL && fseek(fp, 0, SEEK_END) == 0) len = ftell(fp);
    if (len > 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len)) != NULL &&
        fread(buf, 1, (size_t)len, fp) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    if (fp != NULL) fclose(fp);
    if (buf == NULL) rp_log_warn("%s: cannot read; left out of index.html", path);
    *n = buf ? (size_t)len : 0;
    return buf;
}

/* <figure> with the PNG as a data URI; nothing if the file cannot be read. */
static void embed_png(FILE *fp, const char *path, const char *caption)
{
    size_t n = 0;
    unsigned char *png = slurp(path, &n);
    char *b64 = png ? malloc(4 * ((n + 2) / 3) + 1) : NULL;
    if (b64 != NULL) {
        eval_base64(png, n, b64);
        fputs("<figure><img alt=\"", fp);
        html_text(fp, caption);
        fprintf(fp, "\" src=\"data:image/png;base64,%s\"><figcaption>", b64);
        html_text(fp, caption);
        fputs("</figcaption></figure>\n", fp);
    }
    free(b64);
    free(png);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the *.png files in pdir starting with prefix (at most cap). */
static int list_pngs(const char *pdir, const char *prefix, char **names, int cap)
{
    DIR *d = opendir(pdir);
    int n = 0;
    if (d == NULL) return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < cap;) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".png") == 0 &&
            strncmp(e->d_name, prefix, strlen(prefix)) == 0 && (names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_name);
    return n;
}

static void write_metrics(FILE *fp, const eval_opts *o, const eval_state *s)
{
    const char *mn[64];
    int nm = eval_metric_names(o, mn, 64);
    int gap = metric_col(o, "gap_share") >= 0;
    fputs("<h2>Metrics on the test split</h2>\n<div style=\"overflow-x:auto\">\n"
          "<table id=\"metrics\">\n<tr><th>model</th>", fp);
    for (int j = 0; j < nm; j++) {
        fputs("<th>", fp);
        html_text(fp, mn[j]);
        fputs("</th>", fp);
    }
    fputs("</tr>\n", fp);
    for (int k = 0; k < s->n_entries; k++) {
        fputs("<tr><td class=\"model\">", fp);
        html_text(fp, s->entries[k].name);
        fputs("</td>", fp);
        for (int j = 0; j < nm; j++) {
            fputs("<td>", fp);
            html_num(fp, s->metrics[(int64_t)k * s->n_metrics + j], "%.4f");
            fputs("</td>", fp);
        }
        fputs("</tr>\n", fp);
    }
    fputs("</table>\n</div>\n", fp);
    if (gap)
        fputs("<p><code>gap_share</code>: the share of the bias-to-truth test MSE gap a model "
              "closes, (mse(bias) - mse) / (mse(bias) - mse(truth)); 0 = no better than the bias "
              "model, 1 = as good as the truth (the best reachable).</p>\n", fp);
    fputs("<p>Normalised scale unless the name ends in <code>_raw</code>; definitions in "
          "docs/stages/eval.md; <code>-</code> = undefined.</p>\n", fp);
}

/* Every distinct file this evaluation read: truth, shards, features, the model files. */
static int input_files(const eval_opts *o, const eval_state *s, eval_cost *files, int cap)
{
    const char *fixed[] = {o->truth, o->shards, o->features};
    int n = 0;
    for (int k = -3; k < s->n_entries && n < cap; k++) { /* k < 0: the fixed inputs */
        const char *p = k < 0 ? fixed[k + 3] : s->entries[k].source;
        if (p == NULL || p[0] == '\0') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s", p);
        path[strcspn(path, "#")] = '\0'; /* hybrid.h5#blend -> hybrid.h5 */
        int seen = 0;
        for (int j = 0; j < n; j++) seen |= strcmp(files[j].path, path) == 0;
        if (!seen) memcpy(files[n++].path, path, sizeof path);
    }
    return n;
}

/* The cost attributes of one open file (absent ones stay NaN / 0 / "?"). Collective. */
static int read_cost(hid_t f, eval_cost *c)
{
    int rc = RP_OK;
    snprintf(c->prog, sizeof c->prog, "?");
    c->elapsed_s = c->peak_rss_mb = NAN;
    c->nprocs = 0;
    if (rp_h5_attr_exists(f, "/", "created_by") == 1) {
        RP_CALL(rp_h5_attr_read_str(f, "/", "created_by", c->prog, sizeof c->prog));
        c->prog[strcspn(c->prog, " ")] = '\0'; /* "rp-als 0.1.0" -> "rp-als" */
    }
    if (rp_h5_attr_exists(f, "/", "elapsed_s") == 1)
        RP_CALL(rp_h5_attr_read(f, "/", "elapsed_s", RP_F64, 1, &c->elapsed_s));
    if (rp_h5_attr_exists(f, "/", "peak_rss_mb") == 1)
        RP_CALL(rp_h5_attr_read(f, "/", "peak_rss_mb", RP_F64, 1, &c->peak_rss_mb));
    if (rp_h5_attr_exists(f, "/", "nprocs") == 1)
        RP_CALL(rp_h5_attr_read(f, "/", "nprocs", RP_I64, 1, &c->nprocs));
cleanup:
    return rc;
}

int eval_read_costs(MPI_Comm comm, const eval_opts *o, const eval_state *s, eval_costs *c)
{
    int rc = RP_OK, n = 0;
    hid_t f = H5I_INVALID_HID;
    static eval_cost all[EVAL_MAX_COSTS];
    int nall = input_files(o, s, all, EVAL_MAX_COSTS);
    memset(c, 0, sizeof *c);
    for (int k = 0; k < nall; k++) {
        /* Optional inputs rp-eval skipped (no truth, no features) have no row. */
        if (rp_inputs_exists(comm, all[k].path) != 1) continue;
        RP_CALL(rp_h5_open(comm, all[k].path, &f));
        rc = read_cost(f, &all[k]);
        rp_h5_close(&f);
        RP_AGREE(comm, rc);
        c->file[n++] = all[k];
    }
    c->n = n;
cleanup:
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

static void write_costs(FILE *fp, const rp_stage *st, const eval_opts *o, const eval_costs *c)
{
    fputs("<h2>Stages of this run: time and memory</h2>\n<table id=\"stages\">\n"
          "<tr><th>program</th><th>output</th><th>seconds</th><th>peak MiB per rank</th>"
          "<th>ranks</th></tr>\n", fp);
    for (int k = 0; k < c->n; k++) {
        const eval_cost *e = &c->file[k];
        fputs("<tr><td>", fp);
        html_text(fp, e->prog);
        fputs("</td><td><code>", fp);
        html_text(fp, e->path);
        fputs("</code></td><td>", fp);
        html_num(fp, e->elapsed_s, "%.1f");
        fputs("</td><td>", fp);
        html_num(fp, e->peak_rss_mb, "%.0f");
        fprintf(fp, "</td><td>%lld</td></tr>\n", (long long)e->nprocs);
    }
    fprintf(fp, "<tr><td>rp-eval</td><td><code>");
    html_text(fp, o->out);
    fprintf(fp, "</code> (so far)</td><td>%.1f</td><td>%.0f (rank 0)</td><td>%d</td></tr>\n",
            MPI_Wtime() - st->t0, rp_peak_rss_mb(), st->size);
    fputs("</table>\n<p>Wall seconds from a program's start to the writing of its output, and "
          "the largest peak resident memory of one rank (root attributes "
          "<code>elapsed_s</code>, <code>peak_rss_mb</code>).</p>\n", fp);
}

static void write_plots(FILE *fp, const char *dir, const eval_opts *o)
{
    char pdir[4200], path[8400], *names[HTML_MAX_PLOTS];
    snprintf(pdir, sizeof pdir, "%s/plots", dir);
    int n = o->plots ? list_pngs(pdir, "learning_", names, HTML_MAX_PLOTS) : 0;
    fputs("<h2>Learning curves</h2>\n", fp);
    if (n == 0) fputs("<p>No plots (gnuplot missing or <code>--no-plots</code>).</p>\n", fp);
    for (int k = 0; k < n; k++) {
        snprintf(path, sizeof path, "%s/%s", pdir, names[k]);
        names[k][strlen(names[k]) - 4] = '\0';
        embed_png(fp, path, names[k] + strlen("learning_"));
        free(names[k]);
    }
    fputs("<h2>Model comparison</h2>\n", fp);
    snprintf(path, sizeof path, "%s/metrics.png", pdir);
    FILE *probe = o->plots ? fopen(path, "rb") : NULL;
    if (probe != NULL) {
        fclose(probe);
        embed_png(fp, path, "test metrics of every model");
    } else {
        fputs("<p>No chart (gnuplot missing or <code>--no-plots</code>); see the table.</p>\n", fp);
    }
}

/* The page marks, once loaded, how many images decoded (body data-images="ok/total", each img
 * data-width = naturalWidth): a browser test reads them from the DOM. */
static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>recpipe report</title>\n<style>\n"
    "body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}\n"
    "table{border-collapse:collapse;margin:1em 0;font-size:90%}\n"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}\n"
    "td.model,th:first-child,#stages td{text-align:left}\n"
    "tr:nth-child(even){background:#f4f4f4}\n"
    "img{max-width:100%;border:1px solid #ddd}\nfigure{margin:1em 0}\n</style>\n"
    "<script>\nwindow.addEventListener('load', function () {\n"
    "  var im = document.images, ok = 0;\n"
    "  for (var i = 0; i < im.length; i++) {\n"
    "    im[i].setAttribute('data-width', im[i].naturalWidth);\n"
    "    if (im[i].complete && im[i].naturalWidth > 0) ok++;\n  }\n"
    "  document.body.setAttribute('data-images', ok + '/' + im.length);\n});\n"
    "</script>\n</head>\n<body>\n";

int eval_write_html(const char *dir, const rp_stage *st, const eval_opts *o, const eval_state *s,
                    const eval_costs *c)
{
    int rc = RP_OK;
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    if (fp == NULL) RP_FAIL(RP_ERR_NOMEM, "index.html: out of memory");
    fputs(page_head, fp);
    fprintf(fp, "<h1>recpipe report</h1>\n<p>%lld test pairs, %lld users, %lld videos; "
                "%d ranks. Command: <code>",
            (long long)s->test.nnz_global, (long long)s->test.n_users,
            (long long)s->test.n_items, st->size);
    html_text(fp, st->cmdline);
    fputs("</code></p>\n", fp);
    write_metrics(fp, o, s);
    write_plots(fp, dir, o);
    write_costs(fp, st, o, c);
    fputs("</body>\n</html>\n", fp);
    if (fclose(fp) != 0 || text == NULL) RP_FAIL(RP_ERR_NOMEM, "index.html: out of memory");
    RP_CALL(eval_write_atomic(dir, "index.html", text));
cleanup:
    free(text);
    return rc;
}
