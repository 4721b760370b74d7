/* eval_html.h - rp-eval's report as one self-contained HTML page (report/index.html): the
 * metric table with the share of the bias-to-truth gap each model closes, the plots embedded
 * as base64 data URIs, and the time and memory of every stage that wrote an input. */
#ifndef EVAL_HTML_H
#define EVAL_HTML_H

#include <stddef.h>

#include "eval.h"
#include "rp_stage.h"

/* eval_write_html - dir/index.html from the same data as report.md, after the plots (it embeds
 * every PNG in dir/plots). Rank 0 only; written through a temporary name. RP_OK or an error. */
int eval_write_html(const char *dir, const rp_stage *st, const eval_opts *o, const eval_state *s);

/* eval_gap_closed - (rmse(bias) - rmse(model)) / (rmse(bias) - rmse(truth)): 0 for the bias
 * model, 1 for the noise-free truth. NaN without bias or truth rows or when they tie. Pure. */
double eval_gap_closed(const eval_opts *o, const eval_state *s, int entry);

/* eval_base64 - standard base64 of n bytes into out (4 * ceil(n / 3) + 1 bytes). Pure. */
void eval_base64(const unsigned char *in, size_t n, char *out);

#endif
