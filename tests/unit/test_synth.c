/* test_synth.c - rp-synth's formatting (numbers, times, CSV quoting) and planted model
 * (determinism, big/small disjointness, sizes from --scale, the per-user floor, the hour-of-day
 * curve, bad options). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_test.h"
#include "synth.h"
#include "synth_model.h"

int test_synth_register(void);

static const char *fmt(void (*f)(synth_buf *, int64_t), int64_t v)
{
    static char out[128];
    synth_buf b = {0};
    synth_buf_reserve(&b, 100);
    f(&b, v);
    memcpy(out, b.p, b.len);
    out[b.len] = '\0';
    synth_buf_clear(&b);
    return out;
}

static void numbers(void)
{
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_micro, 1273397), "1.273397");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_micro, 2000000), "2.0");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_micro, 0), "0.0");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_micro, 500000), "0.5");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_micro, 573460000), "573.46");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_micro, 1), "0.000001");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_i64, -124), "-124");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_i64, 3999999999LL), "3999999999");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_i64, 0), "0");
}

static void times(void)
{
    /* KUAIREC.md's example row: 2020-07-05 00:08:23.438 <-> 1593878903.438 (UTC+8) */
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_time, 1593878903438LL), "2020-07-05 00:08:23.438");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_ts, 1593878903438LL), "1593878903.438");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_time, 1593878903740LL), "2020-07-05 00:08:23.74");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_ts, 1593878903740LL), "1593878903.74");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_time, 1593878903000LL), "2020-07-05 00:08:23");
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_ts, 1593878903000LL), "1593878903.0");
    /* 2020-09-05 23:59:59.999 local */
    int64_t last = (SYNTH_DAY0_EPOCH + 63LL * 86400) * 1000 - 1;
    CU_ASSERT_STRING_EQUAL(fmt(synth_put_time, last), "2020-09-05 23:59:59.999");
    synth_buf b = {0};
    synth_buf_reserve(&b, 64);
    synth_put_ymd(&b, last, 0);
    synth_put_ch(&b, ' ');
    synth_put_ymd(&b, last, 1);
    synth_put_ch(&b, ' ');
    synth_put_ymd(&b, 1593878903438LL, -1);
    b.p[b.len] = '\0';
    CU_ASSERT_STRING_EQUAL(b.p, "20200905 20200906 20200704");
    synth_buf_clear(&b);
    int y, m, d;
    synth_day_ymd(-5, &y, &m, &d);
    CU_ASSERT(y == 2020 && m == 6 && d == 30);
    synth_day_ymd(-200, &y, &m, &d);
    CU_ASSERT(y == 2019 && m == 12 && d == 18);
}

static void quoting(void)
{
    const char *in[] = {"plain", "a,b", "say \"hi\"", "中文，全角逗号", ""};
    const char *want[] = {"plain", "\"a,b\"", "\"say \"\"hi\"\"\"", "中文，全角逗号", ""};
    for (int k = 0; k < 5; k++) {
        synth_buf b = {0};
        synth_buf_reserve(&b, 128);
        synth_put_csv_text(&b, in[k], strlen(in[k]));
        b.p[b.len] = '\0';
        CU_ASSERT_STRING_EQUAL(b.p, want[k]);
        synth_buf_clear(&b);
    }
}


static int build(const char *scale, synth_model *m)
{
    synth_opts o;
    char *argv[] = {"rp-synth", "--out", "x", "--scale", (char *)scale, "--no-fatigue",
                    "--no-drift", NULL};
    int rc = synth_parse_args(7, argv, &o);
    if (rc == RP_OK) rc = synth_model_build(MPI_COMM_WORLD, &o, m);
    return rc;
}

static void model(void)
{
    synth_model m = {0};
    CU_ASSERT_EQUAL_FATAL(build("0.02", &m), RP_OK);
    CU_ASSERT_EQUAL(m.n_users, 144);
    CU_ASSERT_EQUAL(m.n_items, 215);
    CU_ASSERT_EQUAL(m.n_small_users, 28);
    CU_ASSERT_EQUAL(m.n_small_items, 67);
    synth_row *r1 = NULL, *r2 = NULL;
    size_t c1 = 0, c2 = 0, n1 = 0, n2 = 0;
    int64_t u = m.small_users[0], checked = 0;
    CU_ASSERT_EQUAL(synth_user_big(&m, u, &r1, &c1, &n1), RP_OK);
    CU_ASSERT_EQUAL(synth_user_big(&m, u, &r2, &c2, &n2), RP_OK);
    CU_ASSERT(n1 > 0);
    CU_ASSERT(n1 == n2 && memcmp(r1, r2, n1 * sizeof *r1) == 0); /* deterministic */
    for (size_t k = 0; k < n1; k++) {
        CU_ASSERT(m.i_small[r1[k].item] < 0); /* big and small share no pair */
        if (k) CU_ASSERT(r1[k - 1].ts_ms <= r1[k].ts_ms);
    }
    CU_ASSERT_EQUAL(synth_user_small(&m, 0, &r1, &c1, &n1), RP_OK);
    CU_ASSERT_EQUAL((int64_t)n1, synth_small_count(&m, 0));
    for (size_t k = 0; k < n1; k++) {
        CU_ASSERT(r1[k].expect > 0 && isfinite(r1[k].expect));
        checked += fabs(r1[k].expect - synth_expected_small(&m, u, r1[k].item)) < 1e-12;
    }
    CU_ASSERT_EQUAL(checked, (int64_t)n1);
    free(r1);
    free(r2);
    synth_model_clear(&m);
    /* short videos get higher expected watch ratios (duration effect) */
    CU_ASSERT_EQUAL_FATAL(build("0.2", &m), RP_OK);
    double s_short = 0, s_long = 0;
    int64_t n_short = 0, n_long = 0;
    for (int64_t i = 0; i < m.n_items; i++) {
        double e = synth_expected_small(&m, 0, i);
        if (m.i_dur[i] < 6000) { s_short += e; n_short++; }
        if (m.i_dur[i] > 30000) { s_long += e; n_long++; }
    }
    CU_ASSERT(n_short > 0 && n_long > 0 && s_short / n_short > 1.3 * s_long / n_long);
    synth_model_clear(&m);
}

/* Every user reaches the floor of big-matrix rows (100 scaled by videos / 10,728), and some
 * users sit near it (the floor binds, as in KuaiRec). */
static void user_floor(void)
{
    CU_ASSERT_EQUAL(synth_min_rows(1.0), 100);
    CU_ASSERT_EQUAL(synth_min_rows(1073.0 / 10728), 10);
    CU_ASSERT_EQUAL(synth_min_rows(0.001), 1);
    synth_model m = {0};
    CU_ASSERT_EQUAL_FATAL(build("0.05", &m), RP_OK);
    CU_ASSERT_EQUAL(m.min_rows, 5);
    synth_row *r = NULL;
    size_t cap = 0, n = 0, fewest = (size_t)-1;
    int64_t below = 0;
    for (int64_t u = 0; u < m.n_users; u++) {
        CU_ASSERT_EQUAL_FATAL(synth_user_big(&m, u, &r, &cap, &n), RP_OK);
        below += n < (size_t)m.min_rows;
        if (n < fewest) fewest = n;
    }
    CU_ASSERT_EQUAL(below, 0);
    CU_ASSERT(fewest <= (size_t)m.min_rows + 1);
    free(r);
    synth_model_clear(&m);
}

/* Hours of the day follow the curve's shares: 23:00 has no extra peak (the weights were once
 * drawn over 92.7 instead of their sum 87.2, doubling hour 23). */
static void hours(void)
{
    int64_t cnt[24] = {0}, n = 240000;
    double sum = 0;
    rp_rng r;
    rp_rng_init(&r, 42, rp_rng_stream("test.hours"), 0);
    for (int64_t k = 0; k < n; k++) {
        int64_t t = synth_draw_time(&r), local = t / 1000 - SYNTH_DAY0_EPOCH;
        CU_ASSERT_FATAL(local >= 0 && local < SYNTH_NDAYS * 86400LL);
        cnt[(local % 86400) / 3600]++;
    }
    for (int h = 0; h < 24; h++) {
        double p = synth_hour_share(h), sd = sqrt(p * (1 - p) / (double)n);
        sum += p;
        CU_ASSERT(fabs((double)cnt[h] / (double)n - p) < 5 * sd);
    }
    CU_ASSERT(fabs(sum - 1) < 1e-12);
    CU_ASSERT(fabs(synth_hour_share(23) - 5.2 / 87.2) < 1e-12);
    CU_ASSERT(cnt[23] < cnt[21]); /* the evening peak is at 21:00, 23:00 is on its way down */
}

/* Monte Carlo of min(W, c) over n draws of the generator's own synth_draw_wr; the mean and its
 * standard error. */
static void mc_clipped(const synth_model *m, int64_t u, int64_t i, const double *c, int nc,
                       int64_t n, double *mean, double *se)
{
    rp_rng r;
    rp_rng_init(&r, 12345, rp_rng_stream("test.mc"), (uint64_t)(u * m->n_items + i) << 24);
    double logm = synth_logm(m, u, i), s1[8] = {0}, s2[8] = {0};
    for (int64_t k = 0; k < n; k++) {
        double w = synth_draw_wr(m, &SYNTH_SMALL, i, logm, &r, NULL);
        for (int j = 0; j < nc; j++) {
            double v = w < c[j] ? w : c[j];
            s1[j] += v;
            s2[j] += v * v;
        }
    }
    for (int j = 0; j < nc; j++) {
        mean[j] = s1[j] / (double)n;
        se[j] = sqrt(fmax(s2[j] / (double)n - mean[j] * mean[j], 0) / (double)n);
    }
}

/* E[min(W, c)] (closed form) against 400,000 draws of the generator, for clip points in every
 * part of the mixture: inside the skips (0.05), the partial views (0.25), the main part (1, 3),
 * the outliers (7) and above everything (1e9: the unclipped mean). Pairs: the small user's
 * first video, its highest-median video (clipping at 3 matters most) and a video with a long
 * outlier range. */
static void expected_clipped(void)
{
    synth_model m = {0};
    CU_ASSERT_EQUAL_FATAL(build("0.02", &m), RP_OK);
    int64_t u = m.small_users[0], best = 0, loop = 0;
    for (int64_t i = 1; i < m.n_items; i++) {
        if (synth_logm(&m, u, i) > synth_logm(&m, u, best)) best = i;
        if (m.i_out_hi[i] > m.i_out_hi[loop]) loop = i;
    }
    int64_t items[3] = {m.small_items[0], best, loop};
    const double c[6] = {0.05, 0.25, 1.0, 3.0, 7.0, 1e9};
    int bad = 0;
    for (int p = 0; p < 3; p++) {
        double mean[6], se[6], prev = 0;
        mc_clipped(&m, u, items[p], c, 6, 400000, mean, se);
        for (int j = 0; j < 6; j++) {
            double e = synth_expected_clipped(&m, &SYNTH_SMALL, u, items[p], c[j], 0.0);
            /* 5 standard errors: a wrong component weight or bound is off by far more */
            if (!(fabs(e - mean[j]) <= 5 * se[j] + 1e-12)) {
                bad++;
                fprintf(stderr, "item %lld c=%g: exact %.6f, Monte Carlo %.6f +- %.6f\n",
                        (long long)items[p], c[j], e, mean[j], se[j]);
            }
            CU_ASSERT(e >= prev && e <= c[j]); /* increasing in c, never above c */
            prev = e;
        }
        /* far above every draw it is the unclipped expectation of synth_expected_small */
        double e_all = synth_expected_clipped(&m, &SYNTH_SMALL, u, items[p], 1e9, 0.0);
        CU_ASSERT_DOUBLE_EQUAL(e_all, synth_expected_small(&m, u, items[p]), 1e-9 * e_all);
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* the truth rows carry the clipped expectation at the model's clip_max (default 3) */
    synth_row *rows = NULL;
    size_t cap = 0, n = 0;
    CU_ASSERT_EQUAL(m.clip_max, 3.0);
    m.seq_fatigue = m.seq_drift = 0; /* no history shift: the rows' truth is the plain form */
    CU_ASSERT_EQUAL_FATAL(synth_user_small(&m, 0, &rows, &cap, &n), RP_OK);
    for (size_t k = 0; k < n; k++)
        bad += rows[k].expect_clipped !=
               synth_expected_clipped(&m, &SYNTH_SMALL, u, rows[k].item, 3.0, 0.0) ||
               !(rows[k].expect_clipped < rows[k].expect);
    CU_ASSERT_EQUAL(bad, 0);
    /* ... and the training (big-matrix) regime's, which differs from the small one's */
    int differ = 0;
    for (size_t k = 0; k < n; k++) {
        bad += rows[k].expect_clipped_train !=
               synth_expected_clipped(&m, &SYNTH_BIG, u, rows[k].item, 3.0, 0.0);
        differ += fabs(rows[k].expect_clipped_train - rows[k].expect_clipped) > 1e-6;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(differ, (int)n);
    free(rows);
    synth_model_clear(&m);
}

static void bad_args(void)
{
    synth_opts o;
    char *a1[] = {"rp-synth", "--scale", "2", NULL};
    CU_ASSERT_EQUAL(synth_parse_args(3, a1, &o), RP_ERR_USAGE); /* no --out */
    char *a2[] = {"rp-synth", "--out", "x", "--scale", "0", NULL};
    CU_ASSERT_EQUAL(synth_parse_args(5, a2, &o), RP_ERR_USAGE);
    char *a3[] = {"rp-synth", "--out", "x", "--seed", "-3", NULL};
    CU_ASSERT_EQUAL(synth_parse_args(5, a3, &o), RP_ERR_USAGE);
    char *a5[] = {"rp-synth", "--out", "x", "--clip-max", "0", NULL};
    CU_ASSERT_EQUAL(synth_parse_args(5, a5, &o), RP_ERR_USAGE);
    synth_model m = {0};
    char *a4[] = {"rp-synth", "--out", "x", "--users", "10", "--small-users", "11", NULL};
    CU_ASSERT_EQUAL_FATAL(synth_parse_args(7, a4, &o), RP_OK);
    CU_ASSERT_EQUAL(synth_model_build(MPI_COMM_WORLD, &o, &m), RP_ERR_USAGE);
    synth_model_clear(&m);
}

int test_synth_register(void)
{
    RP_ADD_SUITE("synth", RP_T(numbers), RP_T(times), RP_T(quoting), RP_T(model), RP_T(user_floor),
                 RP_T(hours), RP_T(expected_clipped), RP_T(bad_args));
    return 0;
}
