/* eval_html.h - rp-eval's report as one self-contained HTML page (report/index.html): the
 * metric table with the share of the bias-to-truth gap each model closes, the plots embedded
 * as base64 data URIs, and the time and memory of every stage that wrote an input. */
#ifndef EVAL_HTML_H
#define EVAL_HTML_H

#include <stddef.h>
#include <stdint.h>

#include "eval.h"
#include "rp_stage.h"

#define EVAL_MAX_COSTS 16

/* What one stage's output file says it cost (root attributes from rp_stage_stamp); NaN / 0
 * for what an older file lacks. */
typedef struct eval_cost {
    char path[4096], prog[64];
    double elapsed_s, peak_rss_mb;
    int64_t nprocs;
} eval_cost;

typedef struct eval_costs {
    eval_cost file[EVAL_MAX_COSTS];
    int n;
} eval_costs;

/* eval_read_costs - the costs recorded in every distinct existing file this evaluation read
 * (truth, shards, features, model files). Collective (files opened with rp_h5_open).
 * Out: *c. RP_OK or the error of a file that exists but cannot be read. */
int eval_read_costs(MPI_Comm comm, const eval_opts *o, const eval_state *s, eval_costs *c);

/* eval_write_html - dir/index.html from the same data as report.md, after the plots (it embeds
 * every PNG in dir/plots). Rank 0 only; written through a temporary name. RP_OK or an error. */
int eval_write_html(const char *dir, const rp_stage *st, const eval_opts *o, const eval_state *s,
                    const eval_costs *c);


/* eval_base64 - standard base64 of n bytes into out (4 * ceil(n / 3) + 1 bytes). Pure. */
void eval_base64(const unsigned char *in, size_t n, char *out);

#endif
