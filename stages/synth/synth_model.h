/* synth_model.h - internals of rp-synth's planted model shared by its table writers. */
#ifndef SYNTH_MODEL_H
#define SYNTH_MODEL_H

#include <stdint.h>

#include "rp_rng.h"

#include "synth.h"

/* Watch-ratio regime: the big matrix (organic feed) and the small one (every video shown). */
typedef struct synth_regime {
    double skip;      /* multiplier of the item's skip probability */
    double partial;   /* probability of a partial view, watch ratio U(0.1, 0.4) */
    double outlier;   /* probability of a looping outlier, log-uniform in [5, item bound] */
    double noise;     /* sd of the log-normal main part */
    double heavy_p;   /* probability that the noise sd is multiplied by heavy_k */
    double heavy_k;
    double mu;        /* global log-median of the main part */
} synth_regime;

extern const synth_regime SYNTH_BIG, SYNTH_SMALL;

/* Generated user features (when no --side). */
typedef struct synth_user_feat {
    int degree, lowactive, streamer, author;
    int64_t follow, fans, friends, register_days;
    int onehot[18];
    int missing[18];
} synth_user_feat;

void synth_user_gen(const synth_model *m, int64_t u, synth_user_feat *f);
double synth_user_feat_effect(int degree, int author, int feat1, int feat6);
void synth_item_gen_tags(uint64_t seed, int64_t i, uint8_t *ntags, uint8_t *tags);
double synth_u01(uint64_t seed, const char *stream, uint64_t idx);
/* synth_draw_wr - one watch ratio of video i from regime g's mixture (skip, partial view,
 * looping outlier, log-normal main part with heavy noise); logm = synth_logm(m, u, i). Draws
 * from r (two uniforms, plus a normal for the main part). *main_part (may be NULL) = 1 when
 * the draw came from the log-normal main part (the sequential effects move only that part). */
double synth_draw_wr(const synth_model *m, const synth_regime *g, int64_t i, double logm,
                     rp_rng *r, int32_t *main_part);
/* synth_expected_clipped - E[min(W, c)] for W drawn by synth_draw_wr(m, g, i, logm(u, i) +
 * shift), exact (closed form per mixture component; c > 0; shift moves the main part's log
 * median: the sequential effects of synth_seq.c). c = +inf gives E[W] but for the WR_CAP cap of
 * the main part, which expected_wr ignores. Pure. */
double synth_expected_clipped(const synth_model *m, const synth_regime *g, int64_t u, int64_t i,
                              double c, double shift);
/* small-matrix expected watch ratio with the main part's log median moved by shift */
double synth_expected_small_shifted(const synth_model *m, int64_t u, int64_t i, double shift);
/* synth_seq.c: planted sequential effects on a user's rows (sorted by time). */
void synth_seq_apply_big(const synth_model *m, int64_t u, synth_row *rows, size_t n);
int synth_seq_apply_small(const synth_model *m, int64_t u, synth_row *rows, size_t n);
/* log of the main part's median for (u, i), regime excluded */
double synth_logm(const synth_model *m, int64_t u, int64_t i);
/* time of one view (epoch ms): day of the three windows, hour of the day-night curve */
int64_t synth_draw_time(rp_rng *r);
/* share of views in local hour h (0..23) under that curve */
double synth_hour_share(int h);

#endif
