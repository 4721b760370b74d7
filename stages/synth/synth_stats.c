/* synth_stats.c - rp-synth --stats: the statistics of a folder's big and small matrices (per-user
 * counts, popularity skew, watch_ratio distribution, duplicates, repeat views, empty times, date
 * windows, big/small overlap), measured in parallel with rp_csv and compared with KUAIREC.md.
 * Used by the tests and bench/bench-synth.sh. Assumes rows grouped by user, as rp-synth and the
 * real files write them (duplicates and repeats are counted within a user's run of rows). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_csv.h"
#include "rp_err.h"
#include "rp_fault.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "synth.h"

#define NBIN 20000  /* watch_ratio histogram: 0.001 wide bins up to 20 */

typedef struct acc {
    int64_t rows, dups, uniq, bad_play, mism, outside, empty, zero, gt5, gt1, lt01, overlap;
    double sum, sumsq, max;
    int64_t hist[NBIN + 1];
} acc;

typedef struct pass {
    int64_t max_user, max_item;
    int64_t *ucount, *icount;  /* [max_user + 1], [max_item + 1] */
    uint64_t *pairs;           /* big pairs bitset [(max_user+1) * (max_item+1)] */
    int64_t *stamp;            /* per item: last user token that saw it */
} pass;

typedef struct row { int64_t u, i, play, dur, date; double ts, wr; int has_time; } row;

static int parse_row(const rp_csv_chunk *ck, int64_t line, const char *s, const char *e, row *r)
{
    int rc = RP_OK;
    rp_csv_field f[9];
    int nf = rp_csv_split(s, e, f, 9);
    if (nf != 8)
        RP_FAIL_USER(RP_ERR_DATA, "%s:%lld: %d fields, expected 8", ck->path, (long long)line, nf);
    r->has_time = f[4].len > 0;
    r->date = 0;
    r->ts = -1;
    if (rp_parse_i64(f[0].p, f[0].len, &r->u) || rp_parse_i64(f[1].p, f[1].len, &r->i) ||
        rp_parse_i64(f[2].p, f[2].len, &r->play) || rp_parse_i64(f[3].p, f[3].len, &r->dur) ||
        rp_parse_f64(f[7].p, f[7].len, &r->wr) || r->u < 0 || r->i < 0 || r->dur <= 0 ||
        (r->has_time && (rp_parse_i64(f[5].p, f[5].len, &r->date) ||
                         rp_parse_f64(f[6].p, f[6].len, &r->ts))))
        RP_FAIL_USER(RP_ERR_DATA, "%s:%lld: bad number", ck->path, (long long)line);
    if (!r->has_time && (f[5].len || f[6].len))
        RP_FAIL_USER(RP_ERR_DATA, "%s:%lld: time empty but date/timestamp not", ck->path,
                     (long long)line);
cleanup:
    return rc;
}

static void add_wr(acc *a, const row *r)
{
    a->rows++;
    a->sum += r->wr;
    a->sumsq += r->wr * r->wr;
    if (r->wr > a->max) a->max = r->wr;
    a->zero += r->wr == 0;
    a->gt5 += r->wr > 5;
    a->gt1 += r->wr > 1;
    a->lt01 += r->wr < 0.1;
    int b = (int)(r->wr * 1000);
    a->hist[b < NBIN ? b : NBIN]++;
    /* play_duration = round(watch_ratio x video_duration), watch_ratio printed to 6 decimals */
    a->bad_play += fabs(r->wr * (double)r->dur - (double)r->play) > 0.5 + 1e-6 * (double)r->dur;
    if (r->has_time) {
        int64_t day = (int64_t)floor((r->ts - SYNTH_DAY0_EPOCH) / 86400.0);
        int y, m, d;
        synth_day_ymd((int)day, &y, &m, &d);
        a->mism += r->date != (int64_t)y * 10000 + m * 100 + d;
        a->outside +=
            !((day >= 0 && day <= 7) || (day >= 27 && day <= 36) || (day >= 53 && day <= 62));
    } else {
        a->empty++;
    }
}

/* First pass: id ranges (to size the count arrays). */
static int scan_ids(MPI_Comm comm, const rp_csv_chunk *ck, pass *p)
{
    int rc = RP_OK;
    size_t pos = 0;
    const char *s, *e;
    int64_t line = 0;
    int trunc = 0;
    row r;
    while (rp_csv_next_line(ck, &pos, &s, &e, &line, &trunc)) {
        if (s == e) continue;
        RP_CALL(parse_row(ck, line, s, e, &r));
        if (r.u > p->max_user) p->max_user = r.u;
        if (r.i > p->max_item) p->max_item = r.i;
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) {
        int64_t mx[2] = {p->max_user, p->max_item};
        rc = rp_mpi_max_i64(comm, mx, 2);
        p->max_user = mx[0];
        p->max_item = mx[1];
    }
    return rc;
}

static int scan_rows(const rp_csv_chunk *ck, pass *p, acc *a, int is_big)
{
    int rc = RP_OK;
    size_t pos = 0, plen = 0;
    const char *s, *e, *prev = NULL;
    int64_t line = 0, cur = -1, token = 0, ni = p->max_item + 1;
    int trunc = 0;
    row r;
    while (rp_csv_next_line(ck, &pos, &s, &e, &line, &trunc)) {
        if (s == e) continue;
        RP_CALL(parse_row(ck, line, s, e, &r));
        if (r.u > p->max_user || r.i > p->max_item) continue; /* small ids beyond big's */
        add_wr(a, &r);
        a->dups += prev && plen == (size_t)(e - s) && memcmp(prev, s, plen) == 0;
        prev = s;
        plen = (size_t)(e - s);
        if (r.u != cur) { cur = r.u; token++; }
        if (p->stamp[r.i] != token) { p->stamp[r.i] = token; a->uniq++; }
        p->ucount[r.u]++;
        p->icount[r.i]++;
        uint64_t bit = (uint64_t)(r.u * ni + r.i);
        if (is_big) p->pairs[bit >> 6] |= 1ULL << (bit & 63);
        else a->overlap += (p->pairs[bit >> 6] >> (bit & 63)) & 1;
    }
cleanup:
    return rc;
}

static double hist_q(const acc *a, double q)
{
    int64_t want = (int64_t)ceil(q * (double)a->rows), c = 0;
    for (int b = 0; b <= NBIN; b++)
        if ((c += a->hist[b]) >= want) return (b + 0.5) / 1000.0;
    return a->max;
}

static void fill_wr(const acc *a, double *w)
{
    double n = a->rows > 0 ? (double)a->rows : 1, mean = a->sum / n;
    w[0] = mean;
    w[1] = sqrt(fmax(0, a->sumsq / n - mean * mean));
    w[2] = hist_q(a, 0.25);
    w[3] = hist_q(a, 0.5);
    w[4] = hist_q(a, 0.75);
    w[5] = hist_q(a, 0.99);
    w[6] = a->max;
    w[7] = (double)a->gt5 / n;
    w[8] = (double)a->zero / n;
}

static int reduce_acc(MPI_Comm comm, acc *a)
{
    int rc = RP_OK;
    RP_CALL(rp_mpi_sum_i64(comm, &a->rows, 12));
    RP_CALL(rp_mpi_sum_f64(comm, &a->sum, 2));
    RP_CALL(rp_mpi_max_f64(comm, &a->max, 1));
    RP_CALL(rp_mpi_sum_i64(comm, a->hist, NBIN + 1));
cleanup:
    return rc;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Per-user count summary and popularity skew over nonzero entries. */
static void count_stats(int64_t *c, int64_t n, double *mn, double *med, double *mx, double *top1,
                        double *gini, int64_t *nz_out)
{
    int64_t nz = 0;
    for (int64_t k = 0; k < n; k++) if (c[k] > 0) c[nz++] = c[k];
    qsort(c, (size_t)nz, sizeof *c, cmp_i64);
    *nz_out = nz;
    if (nz == 0) return;
    *mn = (double)c[0];
    *mx = (double)c[nz - 1];
    *med = nz % 2 ? (double)c[nz / 2] : 0.5 * (double)(c[nz / 2 - 1] + c[nz / 2]);
    double tot = 0, top = 0, g = 0;
    int64_t ntop = nz / 100 > 0 ? nz / 100 : 1;
    for (int64_t k = 0; k < nz; k++) {
        tot += (double)c[k];
        g += (2.0 * (double)(k + 1) - (double)nz - 1) * (double)c[k];
        if (k >= nz - ntop) top += (double)c[k];
    }
    if (top1) *top1 = top / tot;
    if (gini) *gini = g / ((double)nz * tot);
}

int synth_stats_compute(MPI_Comm comm, const char *dir, synth_stats *s)
{
    int rc = RP_OK;
    char path[4096];
    rp_csv_chunk big = {0}, small = {0};
    pass p = {0};
    acc *ab = NULL, *as = NULL;
    memset(s, 0, sizeof *s);
    ab = rp_calloc(1, sizeof *ab);
    as = rp_calloc(1, sizeof *as);
    RP_AGREE_LOCAL(comm, ab == NULL || as == NULL);
    snprintf(path, sizeof path, "%s/big_matrix.csv", dir);
    RP_CALL(rp_csv_read_chunk(comm, path, SYNTH_HDR_BIG, &big));
    RP_CALL(scan_ids(comm, &big, &p));
    int64_t nu = p.max_user + 1, ni = p.max_item + 1;
    RP_ALLOC(p.ucount = calloc((size_t)nu, sizeof *p.ucount));
    RP_ALLOC(p.icount = calloc((size_t)ni, sizeof *p.icount));
    RP_ALLOC(p.stamp = calloc((size_t)ni, sizeof *p.stamp));
    size_t nwords = (size_t)((nu * ni + 63) / 64);
    RP_ALLOC(p.pairs = calloc(nwords, sizeof *p.pairs));
    rc = scan_rows(&big, &p, ab, 1);
    RP_AGREE(comm, rc);
    rp_csv_chunk_clear(&big);
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, p.pairs, (int)nwords, MPI_UINT64_T, MPI_BOR, comm));
    RP_CALL(reduce_acc(comm, ab));
    RP_CALL(rp_mpi_sum_i64(comm, p.ucount, (int)nu));
    RP_CALL(rp_mpi_sum_i64(comm, p.icount, (int)ni));
    s->big_rows = ab->rows;
    s->big_dups = ab->dups;
    s->big_unique_pairs = ab->uniq;
    s->big_bad_play = ab->bad_play;
    s->big_date_mismatch = ab->mism;
    s->big_outside_windows = ab->outside;
    s->big_above1 = (double)ab->gt1 / (double)(ab->rows ? ab->rows : 1);
    s->big_below01 = (double)ab->lt01 / (double)(ab->rows ? ab->rows : 1);
    fill_wr(ab, s->wr_big);
    s->cnt_mean = (double)ab->rows / (double)nu;
    count_stats(p.ucount, nu, &s->cnt_min, &s->cnt_median, &s->cnt_max, NULL, NULL, &s->big_users);
    double d0, d1, d2;
    count_stats(p.icount, ni, &d0, &d1, &d2, &s->item_top1pct_share, &s->item_gini, &s->big_items);
    s->cnt_mean = (double)ab->rows / (double)(s->big_users ? s->big_users : 1);
    /* small matrix: per-user counts reuse ucount */
    memset(p.ucount, 0, (size_t)nu * sizeof *p.ucount);
    memset(p.icount, 0, (size_t)ni * sizeof *p.icount);
    memset(p.stamp, 0, (size_t)ni * sizeof *p.stamp);
    snprintf(path, sizeof path, "%s/small_matrix.csv", dir);
    RP_CALL(rp_csv_read_chunk(comm, path, SYNTH_HDR_SMALL, &small));
    rc = scan_rows(&small, &p, as, 0);
    RP_AGREE(comm, rc);
    RP_CALL(reduce_acc(comm, as));
    RP_CALL(rp_mpi_sum_i64(comm, p.ucount, (int)nu));
    RP_CALL(rp_mpi_sum_i64(comm, p.icount, (int)ni));
    s->small_rows = as->rows;
    s->small_empty_time = as->empty;
    s->small_overlap = as->overlap;
    s->small_dups = as->rows - as->uniq;
    s->small_bad_play = as->bad_play;
    fill_wr(as, s->wr_small);
    count_stats(p.ucount, nu, &s->small_min_per_user, &d1, &s->small_max_per_user, NULL, NULL,
                &s->small_users);
    count_stats(p.icount, ni, &d0, &d1, &d2, NULL, NULL, &s->small_items);
cleanup:
    rp_csv_chunk_clear(&big);
    rp_csv_chunk_clear(&small);
    free(p.ucount);
    free(p.icount);
    free(p.stamp);
    free(p.pairs);
    free(ab);
    free(as);
    return rc;
}
