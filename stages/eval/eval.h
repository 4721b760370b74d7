/* eval.h - rp-eval: baselines and trained models scored on the test split of shards.h5
 * (accuracy, ranking, coverage, distance to the noise-free truth), written to eval.h5,
 * report.json, report.md and gnuplot plots. */
#ifndef EVAL_H
#define EVAL_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "rp_model.h"
#include "rp_stage.h"

#define EVAL_MAX_K 8
#define EVAL_MAX_MODELS 32
/* The row that predicts E[min(wr, clip_max)] under the big matrix's (training) regime: the
 * best a perfect learner of the training target can do on the test split. */
#define EVAL_TRUTH_TRAIN "truth-train-regime"

typedef struct eval_opts {
    const char *shards, *features, *als, *twotower, *hybrid, *truth, *out, *report_dir;
    const char *seqrec;   /* model file reported per pair and as a dot form (eval_pairs.c) */
    const char *k_list;   /* "10,50" */
    const char *gnuplot;  /* program drawing the plots (PATH search unless it has a '/') */
    double like_threshold; /* like = watch_ratio > this */
    double bias_reg;      /* regularisation of the bias baseline */
    double ridge;         /* ridge of the linear regression */
    int max_card;         /* categorical columns with more levels are left out of linreg */
    int plots;            /* 0: no gnuplot */
    int nk;
    int k[EVAL_MAX_K];
} eval_opts;

/* One test item of one user, the unit the ranking metrics work on. */
typedef struct eval_item {
    double pred; /* ranking key: the normalised prediction (the truth row: unclamped) */
    float wr;    /* raw watch ratio: graded relevance (clipped or raw) and the like test */
    int32_t item;
} eval_item;

/* What eval_rank_user computes: cut-offs, like threshold, and the gain clip point. */
typedef struct eval_rank_opts {
    const int *k;
    int nk;
    double like_threshold; /* like = wr > this */
    double gain_max;       /* headline NDCG gain = min(wr, gain_max) (OUTLIER_MAX) */
} eval_rank_opts;

/* Per-user ranking results for each k of the k-list; NaN where undefined. */
typedef struct eval_user_rank {
    double ndcg[EVAL_MAX_K];     /* gains min(wr, gain_max): the headline ranking metric */
    double ndcg_raw[EVAL_MAX_K]; /* gains wr: dominated by looping outliers */
    double precision[EVAL_MAX_K], recall[EVAL_MAX_K];
    double auc;
} eval_user_rank;

/* eval_rank_user - the ranking metrics of one user over their n test items (any order; the
 * array is reordered: on return items[0 .. min(k_max, n)) is the top list, best first).
 * Order: prediction descending, ties by item index ascending. Local; RP_OK or RP_ERR_NOMEM. */
int eval_rank_user(eval_item *items, int64_t n, const eval_rank_opts *ro, eval_user_rank *out);

/* Raw id -> dense id (the index of v in the sorted raw ids, -1 if absent): a direct table when
 * the ids span at most 4x their count plus 1024 (KuaiRec's are 0..n-1), else a binary search
 * (two per truth row cost ~0.6 s of rp-eval per rank at full size). ids are borrowed. */
typedef struct eval_idmap {
    const int64_t *ids;
    int64_t n, lo, span;
    int32_t *tab; /* [span], -1 = not an id; NULL: binary search */
} eval_idmap;
/* eval_idmap_init - never fails: without memory for the table it searches. */
void eval_idmap_init(eval_idmap *m, const int64_t *ids, int64_t n);
int32_t eval_idmap_get(const eval_idmap *m, int64_t v);
void eval_idmap_clear(eval_idmap *m);

/* eval_sort_ranked - items into ranked order: prediction descending, then item index
 * ascending (-0 and +0 tie), the order the rank metrics use: the order of a comparison sort
 * by (pred desc, item asc), by an LSD radix sort (1,411 users x 3,327 items, float
 * predictions: 3.2-3.9x faster than glibc qsort, measured under load). RP_ERR_NOMEM when its buffers cannot be allocated. */
int eval_sort_ranked(eval_item *items, int64_t n);

/* eval_ndcg - DCG of the first min(k, n) of items (already in ranked order) with gains
 * min(wr, gain_max) (INFINITY: raw gains) over the ideal DCG of the same gains; NaN if the
 * ideal DCG is 0. scratch holds n floats. Pure. */
double eval_ndcg(const eval_item *ranked, int64_t n, int k, double gain_max, float *scratch);

/* eval_auc - probability that a liked item (wr > thr) scores above a non-liked one, ties
 * 0.5; NaN if either class is empty. items must be sorted by pred descending. Pure. */
double eval_auc(const eval_item *ranked, int64_t n, double thr);

/* eval_gap_share - share of the bias-to-truth MSE gap a model closes:
 * (mse_bias - mse_model) / (mse_bias - mse_truth); 1 = as good as the truth, 0 = the bias
 * model, < 0 worse. NaN when an input is NaN or mse_bias <= mse_truth. Pure. */
double eval_gap_share(double mse_bias, double mse_model, double mse_truth);

/* Test split block of this rank (users [u0, u0 + nu)), truth aligned with it. */
typedef struct eval_test {
    int64_t n_users, n_items, u0, nu, nnz_global;
    double norm_min, norm_max;
    int64_t *off;      /* [nu + 1], local offsets (0-based) */
    int32_t *item;     /* [nnz_local] */
    float *value;      /* normalised observed value */
    float *watch;      /* raw watch ratio */
    double *truth;     /* the truth row's prediction (E[min(wr, clip_max)], or E[wr] from an
                          old truth.h5) or NULL when no truth.h5 */
    double *truth_train; /* E[min(wr, clip_max)] under the training regime (truth.h5's
                            /expected_clipped_train), the truth-train-regime row; or NULL */
    int64_t *cuts;     /* [size + 1] user blocks */
    double gain_max;   /* NDCG gain clip: shards.h5's outlier_threshold (OUTLIER_MAX) */
    char outlier_rule[16]; /* shards.h5's outlier_rule (train/valid): clip, drop, none, "" */
    char truth_target[64]; /* "expected_clipped" or "expected_watch_ratio" (fallback) */
} eval_test;

typedef struct eval_entry {
    char name[64];
    rp_model *model;   /* NULL for the truth rows (truth, truth-train-regime) */
    const double *expect; /* the truth rows' raw-scale predictions per local test pair */
    char source[4096]; /* file it came from, "" for baselines */
    char variant[64];  /* "blend" of hybrid.h5#blend, "" when the spec names none */
} eval_entry;

typedef struct eval_state {
    eval_test test;
    eval_entry entries[EVAL_MAX_MODELS];
    int n_entries;
    int n_metrics, n_counts;
    double *metrics;   /* [n_entries, n_metrics] */
    int64_t *counts;   /* [n_entries, n_counts] */
    char inputs[8192]; /* lineage lines for the stamp */
} eval_state;

/* eval_parse - options; checks the k-list. Local; RP_OK, RP_HELP or RP_ERR_USAGE. */
int eval_parse(int argc, char **argv, eval_opts *o);
/* eval_load_test - this rank's block of /test and the aligned truth. Collective. */
int eval_load_test(MPI_Comm comm, const eval_opts *o, eval_test *t);
/* eval_load_baselines - the baselines, fitted here (the first entries). Runs before
 * eval_load_test: the linear regression's solve on rank 0 holds a p x p matrix (141 MB at full
 * size), which then never meets the test split. Collective. */
int eval_load_baselines(MPI_Comm comm, const eval_opts *o, eval_state *s);
/* eval_load_models - the model files that exist, after the baselines. Collective. */
int eval_load_models(MPI_Comm comm, const eval_opts *o, eval_state *s);
/* eval_score_all - every entry's metrics into s->metrics / s->counts. Collective. */
int eval_score_all(MPI_Comm comm, const eval_opts *o, eval_state *s);
/* eval_metric_names - the column names for a k-list: fills names (cap entries), returns count.
 * Strings are static or allocated in a static pool. */
int eval_metric_names(const eval_opts *o, const char **names, int cap);
int eval_count_names(const char **names, int cap);
/* eval_write - eval.h5 (atomic), then report.json, report.md and plots from rank 0. */
int eval_write(MPI_Comm comm, const rp_stage *st, const eval_opts *o, const eval_state *s);
/* eval_run - the whole program on comm (main() minus MPI_Init); returns the agreed rc. */
int eval_run(MPI_Comm comm, int argc, char **argv);
void eval_state_clear(eval_state *s);

#endif
