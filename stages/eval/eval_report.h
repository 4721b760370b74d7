/* eval_report.h - rp-eval's human and machine reports: report.json, report.md, learning-curve
 * and metric plots (gnuplot), and the model histories they draw. */
#ifndef EVAL_REPORT_H
#define EVAL_REPORT_H

#include <stddef.h>

#include "eval.h"
#include "rp_stage.h"

#define EVAL_MAX_SERIES 16

/* One model file's /history: x (iteration or epoch, else 1..n) and the other 1-D series. */
typedef struct eval_history {
    char model[64], xname[64];
    int64_t n;
    double *x;
    int nseries;
    char names[EVAL_MAX_SERIES][64];
    double *y[EVAL_MAX_SERIES];
} eval_history;

/* A model file's validation attributes (contract 1: rp-als, rp-twotower, rp-hybrid write
 * them at the root; a hybrid variant's own group may carry its own). */
typedef struct eval_model_attrs {
    int present;            /* 1 if the file has valid_rmse */
    double valid_rmse;      /* normalised scale, of the model as written; NaN if absent */
    double bias_valid_rmse; /* the bias model on the same validation pairs; NaN if absent */
    int beats_bias;         /* 1, 0, or -1 when absent */
    char fallback[256];     /* what the trainer did instead of losing to the bias ("" none) */
} eval_model_attrs;

/* als.h5's /grid (contract 2): every K x lambda point tried and the choice. */
typedef struct eval_als_grid {
    int64_t n;                  /* points; 0 = no /grid */
    int32_t *k, *best_iter;
    double *lambda, *lambda_bias, *valid_rmse;
    double k_sel, lambda_sel, lambda_bias_sel; /* root attributes k, lambda, lambda_bias */
    char selected_by[32];       /* "grid" or "given" ("" if absent) */
    char source[4096];          /* the als.h5 it came from */
} eval_als_grid;

/* One row of the report: a model's headline numbers and its file's attributes. */
typedef struct eval_report_row {
    const char *name, *source;  /* borrowed from the eval_state */
    const double *metrics;      /* its row of eval_state.metrics (all columns) */
    int is_truth, is_bias;
    double rmse, mae, ndcg, ndcg_raw, gap_share; /* headline columns (k = first cut-off) */
    eval_model_attrs attrs;
} eval_report_row;

/* Everything the reports show, gathered once (collectively) so every writer (report.md,
 * report.json, an HTML page) formats the same data. Pointers borrow from the eval_state. */
typedef struct eval_report_data {
    int n_rows;
    eval_report_row rows[EVAL_MAX_MODELS];
    int n_metrics;
    const char *metric_names[64];
    int k1;                      /* the first cut-off: headline ndcg@k1 */
    int64_t n_test_pairs, n_users, n_items;
    double norm_min, norm_max;
    double gain_max;             /* NDCG gains min(wr, gain_max) */
    const char *outlier_rule;    /* shards.h5's rule for train/valid ("" if unknown) */
    const char *truth_target;    /* truth dataset the truth row predicts with, or NULL */
    int has_truth, has_bias;
    eval_als_grid grid;          /* the first als.h5 with a /grid (n = 0 if none) */
} eval_report_data;

/* eval_report_gather - fill *d from s and the model files' attributes and /grid. Collective
 * (every rank opens the model files). A file without the attributes or the grid contributes
 * nothing (not an error); a /grid with mismatched lengths is RP_ERR_DATA. Free with
 * eval_report_data_clear. */
int eval_report_gather(MPI_Comm comm, const eval_opts *o, const eval_state *s,
                       eval_report_data *d);
void eval_report_data_clear(eval_report_data *d);

/* eval_read_histories - /history of every entry read from a model file. Collective.
 * Out: *h (eval_histories_free), *nh. Files without /history contribute nothing. */
int eval_read_histories(MPI_Comm comm, const eval_state *s, eval_history **h, int *nh);
void eval_histories_free(eval_history *h, int nh);

/* Rank 0 only; files go through a temporary name and rename. RP_OK or RP_ERR_IO. */
int eval_write_json(const char *dir, const rp_stage *st, const eval_opts *o, const eval_state *s,
                    const eval_report_data *d);
int eval_write_md(const char *dir, const rp_stage *st, const eval_opts *o,
                  const eval_report_data *d);
/* eval_md_text - report.md's text (malloc'd, caller frees) or NULL when out of memory. */
char *eval_md_text(const rp_stage *st, const eval_opts *o, const eval_report_data *d);
/* eval_plots - dir/plots/learning_<model>.png and dir/plots/metrics.png with gnuplot; a notice
 * (not an error) when gnuplot is absent or fails. */
int eval_plots(const char *dir, const eval_opts *o, const eval_state *s, const eval_history *h,
               int nh);

void eval_report_dir(const eval_opts *o, char *buf, size_t cap);
int eval_write_atomic(const char *dir, const char *name, const char *text);

#endif
