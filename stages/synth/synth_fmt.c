/* synth_fmt.c - hand-written number, date and CSV text formatting for rp-synth's hot loops
 * (tens of millions of rows: printf per field would dominate the run time). */
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "synth.h"

int synth_buf_reserve(synth_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return RP_OK;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) return RP_ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return RP_OK;
}

void synth_buf_clear(synth_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void synth_put_ch(synth_buf *b, char c) { b->p[b->len++] = c; }

void synth_put_mem(synth_buf *b, const char *s, size_t n)
{
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void synth_put_str(synth_buf *b, const char *s) { synth_put_mem(b, s, strlen(s)); }

static const char DIGITS2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

void synth_put_i64(synth_buf *b, int64_t v)
{
    /* two digits per division: this is the hottest function of a full-size run */
    char tmp[24];
    int n = 24;
    uint64_t x = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (v < 0) b->p[b->len++] = '-';
    while (x >= 100) {
        unsigned r = (unsigned)(x % 100) * 2;
        x /= 100;
        tmp[--n] = DIGITS2[r + 1];
        tmp[--n] = DIGITS2[r];
    }
    if (x >= 10) {
        tmp[--n] = DIGITS2[x * 2 + 1];
        tmp[--n] = DIGITS2[x * 2];
    } else {
        tmp[--n] = (char)('0' + x);
    }
    memcpy(b->p + b->len, tmp + n, (size_t)(24 - n));
    b->len += (size_t)(24 - n);
}

/* Fraction digits of frac (0 <= frac < 10^ndig) with trailing zeros dropped. */
static void put_frac(synth_buf *b, int64_t frac, int ndig, int keep_one)
{
    char d[8];
    for (int k = ndig - 1; k >= 0; k--) {
        d[k] = (char)('0' + frac % 10);
        frac /= 10;
    }
    int n = ndig;
    while (n > 0 && d[n - 1] == '0') n--;
    if (n == 0 && !keep_one) return;
    b->p[b->len++] = '.';
    if (n == 0) {
        b->p[b->len++] = '0';
        return;
    }
    synth_put_mem(b, d, (size_t)n);
}

void synth_put_micro(synth_buf *b, int64_t micro)
{
    if (micro < 0) {
        synth_put_ch(b, '-');
        micro = -micro;
    }
    synth_put_i64(b, micro / 1000000);
    put_frac(b, micro % 1000000, 6, 1);
}

static void put2(synth_buf *b, int v)
{
    b->p[b->len++] = (char)('0' + v / 10);
    b->p[b->len++] = (char)('0' + v % 10);
}

static const int month_days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

void synth_day_ymd(int day, int *y, int *m, int *d)
{
    /* Day 0 is 2020-07-05; all dates the generator writes lie in 2020 (a leap year) or just
     * before it (upload dates), handled by walking months backwards. */
    int yy = 2020, mm = 7, dd = 5 + day;
    while (dd > month_days[mm - 1]) {
        dd -= month_days[mm - 1];
        if (++mm > 12) { mm = 1; yy++; }
    }
    while (dd < 1) {
        if (--mm < 1) { mm = 12; yy--; }
        dd += (mm == 2 && yy % 4 != 0) ? 28 : month_days[mm - 1];
    }
    *y = yy;
    *m = mm;
    *d = dd;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void synth_put_time(synth_buf *b, int64_t epoch_ms)
{
    int64_t local_ms = epoch_ms - SYNTH_DAY0_EPOCH * 1000;
    int64_t day = floor_div(local_ms, 86400000);
    int64_t in_day = local_ms - day * 86400000;
    int y, m, d;
    synth_day_ymd((int)day, &y, &m, &d);
    synth_put_i64(b, y);
    synth_put_ch(b, '-');
    put2(b, m);
    synth_put_ch(b, '-');
    put2(b, d);
    synth_put_ch(b, ' ');
    int s = (int)(in_day / 1000);
    put2(b, s / 3600);
    synth_put_ch(b, ':');
    put2(b, s / 60 % 60);
    synth_put_ch(b, ':');
    put2(b, s % 60);
    put_frac(b, in_day % 1000, 3, 0);
}

void synth_put_ymd(synth_buf *b, int64_t epoch_ms, int shift_days)
{
    int64_t day = floor_div(epoch_ms - SYNTH_DAY0_EPOCH * 1000, 86400000) + shift_days;
    int y, m, d;
    synth_day_ymd((int)day, &y, &m, &d);
    synth_put_i64(b, (int64_t)y * 10000 + m * 100 + d);
}

void synth_put_ts(synth_buf *b, int64_t epoch_ms)
{
    synth_put_i64(b, floor_div(epoch_ms, 1000));
    put_frac(b, epoch_ms - floor_div(epoch_ms, 1000) * 1000, 3, 1);
}

void synth_put_csv_text(synth_buf *b, const char *s, size_t n)
{
    /* RFC 4180 as pandas writes it: quote only when the field holds a comma, quote or newline. */
    int need = memchr(s, ',', n) || memchr(s, '"', n) || memchr(s, '\n', n);
    if (!need) {
        synth_put_mem(b, s, n);
        return;
    }
    synth_put_ch(b, '"');
    for (size_t k = 0; k < n; k++) {
        if (s[k] == '"') synth_put_ch(b, '"');
        synth_put_ch(b, s[k]);
    }
    synth_put_ch(b, '"');
}
