/* synth_meta.h - row formatters of rp-synth's side tables (one unit = one user or video). */
#ifndef SYNTH_META_H
#define SYNTH_META_H

#include "synth.h"

/* Each appends the CSV row(s) of one unit (user u, video i, or friend-list entry k) to b, from
 * the model alone (so any rank can format any unit). Local. Returns RP_OK or RP_ERR_NOMEM. */
int synth_users_unit(const synth_model *m, int64_t u, synth_buf *b, void *ctx);
int synth_items_unit(const synth_model *m, int64_t i, synth_buf *b, void *ctx);
int synth_daily_unit(const synth_model *m, int64_t i, synth_buf *b, void *ctx);
int synth_caption_unit(const synth_model *m, int64_t i, synth_buf *b, void *ctx);
int synth_social_unit(const synth_model *m, int64_t k, synth_buf *b, void *ctx);

#endif
