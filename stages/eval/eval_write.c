/* eval_write.c - rp-eval outputs: eval.h5 (collective, atomic: renamed last), report.json,
 * report.md and plots from rank 0 (each written to a temporary name and renamed). */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval.h"
#include "eval_html.h"
#include "eval_report.h"
#include "rp_err.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_stage.h"

static int write_attrs(hid_t f, const eval_opts *o, const eval_state *s)
{
    int rc = RP_OK;
    const eval_test *t = &s->test;
    int64_t k[EVAL_MAX_K];
    for (int j = 0; j < o->nk; j++) k[j] = o->k[j];
    RP_CALL(rp_h5_attr_write(f, "/", "k_list", RP_I64, o->nk, k));
    RP_CALL(rp_h5_attr_write(f, "/", "like_threshold", RP_F64, 1, &o->like_threshold));
    RP_CALL(rp_h5_attr_write(f, "/", "bias_reg", RP_F64, 1, &o->bias_reg));
    RP_CALL(rp_h5_attr_write(f, "/", "ridge", RP_F64, 1, &o->ridge));
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &t->n_users));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &t->n_items));
    RP_CALL(rp_h5_attr_write(f, "/", "n_test_pairs", RP_I64, 1, &t->nnz_global));
    RP_CALL(rp_h5_attr_write(f, "/", "norm_min", RP_F64, 1, &t->norm_min));
    RP_CALL(rp_h5_attr_write(f, "/", "norm_max", RP_F64, 1, &t->norm_max));
cleanup:
    return rc;
}

/* eval.h5 contents: /metrics [n_models, n_metrics] float64 and /counts [n_models, n_counts]
 * int64, with "models", "metrics"/"columns" and "sources" string-array attributes. Collective. */
static int write_h5(MPI_Comm comm, hid_t f, const rp_stage *st, const eval_opts *o,
                    const eval_state *s)
{
    int rc = RP_OK;
    const char *models[EVAL_MAX_MODELS], *sources[EVAL_MAX_MODELS], *mn[64], *cn[64];
    int nm = eval_metric_names(o, mn, 64), nc = eval_count_names(cn, 64);
    int64_t dm[2] = {s->n_entries, nm}, dc[2] = {s->n_entries, nc};
    for (int k = 0; k < s->n_entries; k++) {
        models[k] = s->entries[k].name;
        sources[k] = s->entries[k].source;
    }
    RP_CALL(rp_stage_stamp(st, f, RP_SCHEMA_EVAL, RP_SCHEMA_VERSION, s->inputs));
    RP_CALL(write_attrs(f, o, s));
    RP_CALL(rp_h5_write_replicated(comm, f, "/metrics", RP_F64, 2, dm, s->metrics));
    RP_CALL(rp_h5_attr_write_strs(f, "/metrics", "models", s->n_entries, models));
    RP_CALL(rp_h5_attr_write_strs(f, "/metrics", "metrics", nm, mn));
    RP_CALL(rp_h5_attr_write_strs(f, "/metrics", "sources", s->n_entries, sources));
    RP_CALL(rp_h5_write_replicated(comm, f, "/counts", RP_I64, 2, dc, s->counts));
    RP_CALL(rp_h5_attr_write_strs(f, "/counts", "models", s->n_entries, models));
    RP_CALL(rp_h5_attr_write_strs(f, "/counts", "columns", nc, cn));
cleanup:
    return rc;
}

/* The report folder: --report-dir, else the directory of --out. */
void eval_report_dir(const eval_opts *o, char *buf, size_t cap)
{
    if (o->report_dir != NULL) {
        snprintf(buf, cap, "%s", o->report_dir);
        return;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", o->out);
    snprintf(buf, cap, "%s", dirname(tmp));
}

/* Write text to dir/name through dir/.name.tmp and rename (rank 0 only). */
int eval_write_atomic(const char *dir, const char *name, const char *text)
{
    int rc = RP_OK;
    char path[4200], tmp[4200];
    FILE *fp = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    if ((fp = fopen(tmp, "w")) == NULL)
        RP_FAIL_USER(RP_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int bad = fputs(text, fp) < 0;
    bad |= fclose(fp) != 0;
    fp = NULL;
    if (bad) RP_FAIL_USER(RP_ERR_IO, "%s: write failed (disk full?)", tmp);
    if (rename(tmp, path) != 0)
        RP_FAIL_USER(RP_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
cleanup:
    if (rc != RP_OK) unlink(tmp);
    return rc;
}

int eval_write(MPI_Comm comm, const rp_stage *st, const eval_opts *o, const eval_state *s)
{
    int rc = RP_OK, rank = 0;
    char dir[4096];
    eval_history *h = NULL;
    eval_report_data d = {0};
    static eval_costs costs; /* large; one per process */
    int nh = 0;
    hid_t f = H5I_INVALID_HID;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    eval_report_dir(o, dir, sizeof dir);
    RP_CALL(eval_read_histories(comm, s, &h, &nh));
    RP_CALL(eval_report_gather(comm, o, s, &d));
    RP_CALL(eval_read_costs(comm, o, s, &costs));
    RP_CALL(rp_h5_create(comm, o->out, &f));
    rc = rp_mpi_agree(comm, write_h5(comm, f, st, o, s));
    /* Reports before the rename: eval.h5 (the DAG's target) exists only if they were written. */
    if (rc == RP_OK && rank == 0) {
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            rp_log_user_error("%s: cannot create report folder: %s", dir, strerror(errno));
            rc = RP_ERR_IO;
        }
        if (rc == RP_OK) rc = eval_write_json(dir, st, o, s, &d);
        if (rc == RP_OK) rc = eval_write_md(dir, st, o, &d);
        if (rc == RP_OK && o->plots) rc = eval_plots(dir, o, s, h, nh);
        if (rc == RP_OK) rc = eval_write_html(dir, st, o, s, &costs); /* embeds the plots */
    }
    rc = rp_h5_commit(comm, &f, o->out, rc);
cleanup:
    if (f >= 0) rc = rp_h5_commit(comm, &f, o->out, rc == RP_OK ? RP_ERR_INTERNAL : rc);
    eval_histories_free(h, nh);
    eval_report_data_clear(&d);
    return rp_mpi_agree(comm, rc);
}
