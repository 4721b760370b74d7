/* synth_seq.c - rp-synth's planted sequential effects: the watch ratio of a view depends on the
 * user's own big-matrix history before it (fatigue) and on when it happens (interest drift).
 * Both move the log median of the log-normal main part of the watch-ratio mixture; skips,
 * partial views and looping outliers are left alone. See docs/stages/synth.md. */
#include <math.h>
#include <stdlib.h>

#include "rp_err.h"
#include "synth_model.h"

/* Fatigue: each earlier big-matrix view of the same user within SEQ_WINDOW_MS that shares a tag
 * or the author with this video adds exp(-age / SEQ_TAU_MS) to F (capped at SEQ_F_MAX); the log
 * median moves by -SEQ_ALPHA * (F - SEQ_F0 * density). SEQ_F0 (about the mean F of a view at
 * full density; view rates scale with it) keeps the marginal statistics of KUAIREC.md. */
#define SEQ_ALPHA 0.25
#define SEQ_TAU_MS (90.0 * 60 * 1000)
#define SEQ_WINDOW_MS (6LL * 3600 * 1000)
#define SEQ_F_MAX 3.0
#define SEQ_F0 0.38
/* Drift: a second taste vector d_u (like the planted user factors) whose weight runs linearly
 * from -SEQ_DRIFT to +SEQ_DRIFT between the first and the last day (Jul 5 - Sep 5, 63 days):
 * log median += SEQ_DRIFT * phase(t) * 2 * d_u . q_i, phase in [-1/2, 1/2]. */
#define SEQ_DRIFT 0.7
#define SEQ_SPAN_MS (63.0 * 86400 * 1000)

static int related(const synth_model *m, int32_t a, int32_t b)
{
    if (m->i_author[a] == m->i_author[b]) return 1;
    const uint8_t *ta = m->i_tags + (int64_t)a * 4, *tb = m->i_tags + (int64_t)b * 4;
    for (int x = 0; x < m->i_ntags[a]; x++)
        for (int y = 0; y < m->i_ntags[b]; y++)
            if (ta[x] == tb[y]) return 1;
    return 0;
}

/* Fatigue level F of a view of item at ts given the user's big rows hist[0..end) (by time). */
static double fatigue(const synth_model *m, int32_t item, int64_t ts, const synth_row *hist,
                      size_t end)
{
    double f = 0.0;
    for (size_t j = end; j-- > 0;) {
        int64_t age = ts - hist[j].ts_ms;
        if (age > SEQ_WINDOW_MS) break;
        if (age <= 0 || hist[j].ts_ms < 0) continue; /* same instant (copies): not before */
        if (related(m, item, hist[j].item)) f += exp(-(double)age / SEQ_TAU_MS);
    }
    return f < SEQ_F_MAX ? f : SEQ_F_MAX;
}

static void drift_vector(const synth_model *m, int64_t u, double *dv)
{
    for (int k = 0; k < SYNTH_K; k++)
        dv[k] = 0.27 * rp_rng_normal(m->seed, rp_rng_stream("synth.drift"),
                                     (uint64_t)u * SYNTH_K + (uint64_t)k);
}

/* Total shift of the log median of a view at ts (>= 0) whose earlier big rows are hist[0..end). */
static double seq_shift(const synth_model *m, const double *dv, int32_t item, int64_t ts,
                        const synth_row *hist, size_t end)
{
    double s = 0.0;
    if (m->seq_fatigue) s -= SEQ_ALPHA * (fatigue(m, item, ts, hist, end) - SEQ_F0 * m->density);
    if (m->seq_drift) {
        double phase = ((double)(ts - SYNTH_DAY0_EPOCH * 1000) - SEQ_SPAN_MS / 2) / SEQ_SPAN_MS;
        const float *q = m->i_fac + (int64_t)item * SYNTH_K;
        double dot = 0.0;
        for (int k = 0; k < SYNTH_K; k++) dot += dv[k] * q[k];
        s += SEQ_DRIFT * phase * 2.0 * dot;
    }
    return s;
}

/* A main-part view's play duration with its watch ratio multiplied by exp(shift). */
static int32_t shifted_play(const synth_model *m, const synth_row *r, double shift)
{
    double dur = m->i_dur[r->item], wr = r->play / dur * exp(shift);
    return (int32_t)llround((wr < 575.0 ? wr : 575.0) * dur);
}

void synth_seq_apply_big(const synth_model *m, int64_t u, synth_row *rows, size_t n)
{
    double dv[SYNTH_K];
    if (!m->seq_fatigue && !m->seq_drift) return;
    drift_vector(m, u, dv);
    for (size_t k = 0; k < n; k++)
        if (rows[k].main_part && rows[k].ts_ms >= 0)
            rows[k].play = shifted_play(m, &rows[k],
                                        seq_shift(m, dv, rows[k].item, rows[k].ts_ms, rows, k));
}

/* Small-matrix views: the fatigue comes from the user's big-matrix views before them (the
 * history every model may see); a view with empty time gets no shift. The expected watch ratio
 * (truth.h5) includes the shift. */
int synth_seq_apply_small(const synth_model *m, int64_t u, synth_row *rows, size_t n)
{
    int rc = RP_OK;
    synth_row *big = NULL;
    size_t cap = 0, nb = 0, end = 0;
    double dv[SYNTH_K];
    if (!m->seq_fatigue && !m->seq_drift) return RP_OK;
    drift_vector(m, u, dv);
    RP_CALL(synth_user_big(m, u, &big, &cap, &nb));
    for (size_t k = 0; k < n; k++) {
        synth_row *r = &rows[k];
        if (r->ts_ms < 0) continue;
        while (end < nb && big[end].ts_ms < r->ts_ms) end++; /* rows are in time order */
        double s = seq_shift(m, dv, r->item, r->ts_ms, big, end);
        if (r->main_part) r->play = shifted_play(m, r, s);
        r->expect = synth_expected_small_shifted(m, u, r->item, s);
        r->expect_clipped = synth_expected_clipped(m, &SYNTH_SMALL, u, r->item, m->clip_max, s);
        r->expect_clipped_train =
            synth_expected_clipped(m, &SYNTH_BIG, u, r->item, m->clip_max, s);
    }
cleanup:
    free(big);
    return rc;
}
