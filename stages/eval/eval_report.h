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

/* eval_read_histories - /history of every entry read from a model file. Collective.
 * Out: *h (eval_histories_free), *nh. Files without /history contribute nothing. */
int eval_read_histories(MPI_Comm comm, const eval_state *s, eval_history **h, int *nh);
void eval_histories_free(eval_history *h, int nh);

/* Rank 0 only; files go through a temporary name and rename. RP_OK or RP_ERR_IO. */
int eval_write_json(const char *dir, const rp_stage *st, const eval_opts *o, const eval_state *s);
int eval_write_md(const char *dir, const rp_stage *st, const eval_opts *o, const eval_state *s);
/* eval_plots - dir/plots/learning_<model>.png and dir/plots/metrics.png with gnuplot; a notice
 * (not an error) when gnuplot is absent or fails. */
int eval_plots(const char *dir, const eval_opts *o, const eval_state *s, const eval_history *h,
               int nh);

void eval_report_dir(const eval_opts *o, char *buf, size_t cap);
int eval_write_atomic(const char *dir, const char *name, const char *text);

#endif
