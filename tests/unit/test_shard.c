/* test_shard.c - rp-shard's parser (numbers, quoting, empty fields, CRLF, truncation), the
 * validation split rounding, aggregation of duplicates and repeat views, and normalisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_test.h"
#include "shard.h"

int test_shard_register(void);

static int parse(const char *line, int allow_empty, shard_raw *r, char *why)
{
    return shard_parse_line(line, line + strlen(line), allow_empty, r, why, 200);
}

static void parse_good_rows(void)
{
    shard_raw r;
    char why[200];
    const char *real = "0,3649,13838,10867,2020-07-05 00:08:23.438,20200705,1593878903.438,"
                       "1.273397";
    CU_ASSERT_EQUAL(parse(real, 0, &r, why), 0);
    CU_ASSERT_EQUAL(r.user, 0);
    CU_ASSERT_EQUAL(r.item, 3649);
    CU_ASSERT_EQUAL(r.ts, 1593878903.438);
    CU_ASSERT_EQUAL(r.wr, 1.273397);
    /* exponent, integer timestamp, zero watch ratio, a large id */
    CU_ASSERT_EQUAL(parse("9223372036854775807,1,0,140,x,20200101,1593878903,2.5e-1", 0, &r, why),
                    0);
    CU_ASSERT_EQUAL(r.user, INT64_MAX);
    CU_ASSERT_EQUAL(r.ts, 1593878903.0);
    CU_ASSERT_EQUAL(r.wr, 0.25);
    CU_ASSERT_EQUAL(parse("1,2,0,140,x,20200101,1.5,0", 0, &r, why), 0);
    CU_ASSERT_EQUAL(r.wr, 0.0);
    /* quoted fields, a comma inside the quoted time */
    const char *quoted = "\"7\",\"8\",1,2,\"2020-07-05, 00:08\",20200705,\"10.5\",0.5";
    CU_ASSERT_EQUAL(parse(quoted, 0, &r, why), 0);
    CU_ASSERT_EQUAL(r.user, 7);
    CU_ASSERT_EQUAL(r.item, 8);
    CU_ASSERT_EQUAL(r.ts, 10.5);
    /* the small matrix's empty time fields */
    CU_ASSERT_EQUAL(parse("3,4,100,200,,,,0.5", 1, &r, why), 0);
    CU_ASSERT(isnan(r.ts));
    CU_ASSERT_EQUAL(r.wr, 0.5);
}

/* Each malformed line is rejected with a reason naming the column. */
static void parse_bad_rows(void)
{
    static const struct { const char *line; int allow_empty; const char *want; } cases[] = {
        {"", 0, "empty line"},
        {"1,2,3,4,t,20200101,5.0", 0, "7 fields, expected 8"},
        {"1,2,3,4,t,20200101,5.0,1,9", 0, "9 fields, expected 8"},
        {"x1,2,3,4,t,20200101,5.0,1", 0, "user_id 'x1' is not an integer"},
        {"1,2.5,3,4,t,20200101,5.0,1", 0, "video_id '2.5' is not an integer"},
        {"-1,2,3,4,t,20200101,5.0,1", 0, "user_id '-1' is negative"},
        {"1,2,-3,4,t,20200101,5.0,1", 0, "play_duration '-3' is negative"},
        {"1,2,3,-4,t,20200101,5.0,1", 0, "video_duration '-4' is negative"},
        {"1,2,3,4,t,20200101,5.0,nan", 0, "watch_ratio 'nan' is not a finite number"},
        {"1,2,3,4,t,20200101,5.0,inf", 0, "watch_ratio 'inf' is not a finite number"},
        {"1,2,3,4,t,20200101,5.0,1e999", 0, "watch_ratio '1e999' is not a finite number"},
        {"1,2,3,4,t,20200101,5.0,-0.5", 0, "watch_ratio '-0.5' is negative"},
        {"1,2,3,4,t,20200101,NaN,1", 0, "timestamp 'NaN' is not a finite number"},
        {"1,2,3,4,t,20200101,5.0,", 0, "empty watch_ratio"},
        {"1,2,3,4,t,20200101,5.0, 1", 0, "watch_ratio ' 1' is not a finite number"},
        {"1,2,3,4,t,2020x,5.0,1", 0, "date '2020x' is not an integer"},
        {"99999999999999999999,2,3,4,t,1,5.0,1", 0, "is not an integer"},
        {"1,2,3,4,,,,1", 0, "only the small matrix"},
        {"1,2,3,4,,20200101,5.0,1", 1, "empty time"},
        {"1,2,3,4,t,,5.0,1", 1, "empty date"},
        {"1,2,3,4,t,20200101,,1", 1, "empty timestamp"},
        {"1,2,3,4,\"t,20200101,5.0,1", 0, "unterminated quote"},
        {"1,2,3,4,\"t\"x,20200101,5.0,1", 0, "unterminated quote or text after"},
        {"\x01\xff\xfe,\x80", 0, "2 fields, expected 8"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        shard_raw r;
        char why[200] = "";
        int got = parse(cases[k].line, cases[k].allow_empty, &r, why);
        CU_ASSERT_EQUAL(got, -1);
        if (strstr(why, cases[k].want) == NULL)
            fprintf(stderr, "case %zu: '%s' lacks '%s'\n", k, why, cases[k].want);
        CU_ASSERT_PTR_NOT_NULL(strstr(why, cases[k].want));
    }
}

/* The real files' rows (tests/fixtures/kuairec, quoted in KUAIREC.md): big_matrix writes date
 * as an integer, small_matrix as a float ("20200705.0"); both forms read alike. */
static void parse_real_fixture(const char *name, int allow_empty, int want_rows)
{
    const char *top = getenv("RP_TOP");
    char path[4096], line[1024], why[200];
    snprintf(path, sizeof path, "%s/tests/fixtures/kuairec/%s", top ? top : ".", name);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int rows = 0, lineno = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (lineno++ == 0) {
            CU_ASSERT_STRING_EQUAL(line, SHARD_HEADER);
            continue;
        }
        shard_raw r;
        int got = parse(line, allow_empty, &r, why);
        if (got != 0) fprintf(stderr, "%s:%d: %s\n", name, lineno, why);
        CU_ASSERT_EQUAL(got, 0);
        rows++;
    }
    fclose(f);
    CU_ASSERT_EQUAL(rows, want_rows);
}

static void parse_real_rows(void)
{
    parse_real_fixture("big_matrix_rows.csv", 0, 2);
    parse_real_fixture("small_matrix_rows.csv", 1, 1);
    shard_raw a, b;
    char why[200] = "";
    const char *as_float = "14,148,4381,6067,2020-07-05 05:27:48.378,20200705.0,1593898068.378,"
                           "0.722103";
    const char *as_int = "14,148,4381,6067,2020-07-05 05:27:48.378,20200705,1593898068.378,"
                         "0.722103";
    CU_ASSERT_EQUAL(parse(as_float, 1, &a, why), 0);
    CU_ASSERT_EQUAL(parse(as_int, 1, &b, why), 0);
    CU_ASSERT_EQUAL(a.user, 14);
    CU_ASSERT_EQUAL(a.item, b.item);
    CU_ASSERT_EQUAL(a.ts, b.ts);
    CU_ASSERT_EQUAL(a.wr, b.wr);
    /* any integer column may be float-written; a real fraction is still an error */
    CU_ASSERT_EQUAL(parse("14.0,148.00,4381.0,6067.0,t,20200705.0,1.5,0.5", 0, &a, why), 0);
    CU_ASSERT_EQUAL(a.item, 148);
    CU_ASSERT_EQUAL(parse("14,148,4381,6067,t,20200705.5,1.5,0.5", 0, &a, why), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "date '20200705.5' is not an integer"));
    CU_ASSERT_EQUAL(parse("14,148,4381,6067,t,20200705.,1.5,0.5", 0, &a, why), -1);
    CU_ASSERT_EQUAL(parse("14,148.01,4381,6067,t,20200705,1.5,0.5", 0, &a, why), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "video_id '148.01' is not an integer"));
}

static void hash_separates_lines(void)
{
    const char *a = "0,1,2,3,t,4,5.5,0.25", *b = "0,1,2,3,t,4,5.5,0.26";
    CU_ASSERT_EQUAL(shard_hash_bytes(a, strlen(a)), shard_hash_bytes(a, strlen(a)));
    CU_ASSERT_NOT_EQUAL(shard_hash_bytes(a, strlen(a)), shard_hash_bytes(b, strlen(b)));
    CU_ASSERT_NOT_EQUAL(shard_hash_bytes(a, 8), shard_hash_bytes(a, 9));
    CU_ASSERT_NOT_EQUAL(shard_hash_bytes("", 0), shard_hash_bytes("0", 1));
}

/* A chunk with CRLF endings, a bad row and a truncated last line: line numbers come from the
 * chunk's first line. */
static void chunk_crlf_and_truncation(void)
{
    char text[] = "1,2,3,4,t,20200101,5.0,1\r\n"
                  "1,2,3,4,t,20200101,5.0,oops\r\n"
                  "2,3,3,4,t,20200101,6.0,0.5\r\n"
                  "4,5,3,4,t,20200101,6.0,0.";
    rp_csv_chunk ck;
    memset(&ck, 0, sizeof ck);
    ck.buf = text;
    ck.len = strlen(text);
    ck.first_line = 7;
    strcpy(ck.path, "x.csv");
    shard_parsed p;
    memset(&p, 0, sizeof p);
    CU_ASSERT_EQUAL_FATAL(shard_parse_chunk(&ck, 0, &p), RP_OK);
    CU_ASSERT_EQUAL(p.n, 2);
    CU_ASSERT_EQUAL(p.nbad, 2);
    CU_ASSERT_EQUAL(p.nerr, 2);
    CU_ASSERT_EQUAL(p.errs[0].line, 8);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.errs[0].msg, "watch_ratio 'oops'"));
    CU_ASSERT_EQUAL(p.errs[1].line, 10);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.errs[1].msg, "truncated last line"));
    CU_ASSERT_EQUAL(p.rows[1].user, 2);
    CU_ASSERT_EQUAL(p.rows[1].wr, 0.5); /* the '\r' was not part of the number */
    CU_ASSERT_EQUAL(p.bytes, (int64_t)strlen(text));
    /* a second chunk appends */
    char more[] = "9,9,9,9,t,20200101,1.0,0.75\n";
    ck.buf = more;
    ck.len = strlen(more);
    ck.first_line = 11;
    CU_ASSERT_EQUAL_FATAL(shard_parse_chunk(&ck, 0, &p), RP_OK);
    CU_ASSERT_EQUAL(p.n, 3);
    CU_ASSERT_EQUAL(p.rows[0].user, 1);
    CU_ASSERT_EQUAL(p.rows[2].user, 9);
    CU_ASSERT_EQUAL(p.rows[2].wr, 0.75);
    CU_ASSERT_EQUAL(p.nbad, 2);
    shard_parsed_clear(&p);
}

/* Rows assembled from field variants (plain, padded, long, signed, exponent, float-written
 * integers, quoted, empty, garbage): shard_parse_chunk (one-pass fast path, strict parser for
 * the rest) must give exactly what shard_parse_line gives line by line: the same rows bit for
 * bit, the same bad rows and messages. */
static const char *const v_count[] = {"0", "7", "0042", "123456789012345678", "2147483647",
                                      "2147483648",
                                      "1234567890123456789", "9223372036854775807",
                                      "9223372036854775808", "-1", "+5", "1.0", "", "x", "\"3\"",
                                      "1e3", " 1"};
static const char *const v_time[] = {"2020-07-05 00:08:23.438", "", "x", "\"2020-07-05, 00:08\"",
                                     "a\"b", "\"\""};
static const char *const v_date[] = {"20200705", "20200705.0", "", "2020.5", "-1", "0"};
static const char *const v_real[] = {"1593878903.438", "1593878903", "1593878903.", ".5", "1e9",
                                     "", "12345678901234567890.5", "9007199254740993",
                                     "9007199254740992.5", "0.00000000000000000000001",
                                     "0.0000000000000000000001", "-3.5", "+3.5", "nan", "inf",
                                     "1.2.3", " 1", "0.714417", "0", "5.", "00.5", "2.5e-1",
                                     "3.0000001", "1,2", "\"0.5\""};
#define NV(a) (sizeof(a) / sizeof(a)[0])

static const char *pick(uint64_t *st, const char *const *v, size_t n, size_t plain)
{
    *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t r = *st >> 33;
    return r % 4 != 0 ? v[(r >> 2) % plain] : v[(r >> 2) % n]; /* mostly well-formed */
}

/* Up to 12 integer digits and up to 12 decimals (mantissas past 2^53 and 19 digits too). */
static const char *random_decimal(uint64_t *st, char *buf, size_t cap)
{
    *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t r = *st;
    int idig = 1 + (int)(r % 12), fdig = (int)((r >> 8) % 13);
    size_t o = 0;
    for (int d = 0; d < idig + fdig && o + 2 < cap; d++) {
        *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
        if (d == idig) buf[o++] = '.';
        buf[o++] = (char)('0' + (*st >> 40) % 10);
    }
    buf[o] = '\0';
    return buf;
}

static void chunk_fast_path_matches_strict(void)
{
    enum { NLINES = 20000 };
    size_t cap = (size_t)NLINES * 160;
    char *text = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    uint64_t st = 12345;
    for (int allow = 0; allow <= 1; allow++) {
        size_t len = 0;
        for (int k = 0; k < NLINES; k++) {
            const char *f[SHARD_NCOLS];
            for (int c = 0; c < 4; c++) f[c] = pick(&st, v_count, NV(v_count), 4);
            f[4] = pick(&st, v_time, NV(v_time), 1);
            f[5] = pick(&st, v_date, NV(v_date), 2);
            f[6] = pick(&st, v_real, NV(v_real), 3);
            f[7] = pick(&st, v_real, NV(v_real), NV(v_real));
            char ts[48], wr[48]; /* random decimals: the rounding must match too */
            if (k % 2 == 0) f[6] = random_decimal(&st, ts, sizeof ts);
            if (k % 3 != 2) f[7] = random_decimal(&st, wr, sizeof wr);
            if (k % 10 == 3) f[4] = f[5] = f[6] = ""; /* the small matrix's empty triple */
            len += (size_t)snprintf(text + len, cap - len, "%s,%s,%s,%s,%s,%s,%s,%s%s", f[0], f[1],
                                    f[2], f[3], f[4], f[5], f[6], f[7], k % 7 ? "\n" : "\r\n");
        }
        rp_csv_chunk ck;
        memset(&ck, 0, sizeof ck);
        ck.buf = text;
        ck.len = len;
        ck.first_line = 2;
        strcpy(ck.path, "x.csv");
        shard_parsed p;
        memset(&p, 0, sizeof p);
        CU_ASSERT_EQUAL_FATAL(shard_parse_chunk(&ck, allow, &p), RP_OK);
        int64_t ngood = 0, nbad = 0, same = 0;
        int msgs_same = 1;
        const char *s = text;
        for (int64_t line = 2; s < text + len; line++) {
            const char *nl = memchr(s, '\n', (size_t)(text + len - s));
            const char *e = nl > s && nl[-1] == '\r' ? nl - 1 : nl;
            shard_raw r;
            memset(&r, 0, sizeof r);
            char why[SHARD_ERR_LEN];
            if (shard_parse_line(s, e, allow, &r, why, sizeof why) == 0) {
                shard_raw stored; /* the row as kept (ids coded), decoded */
                memset(&stored, 0, sizeof stored);
                if (ngood < p.n) shard_parsed_get(&p, ngood, &stored);
                same += ngood < p.n && memcmp(&r, &stored, sizeof r) == 0;
                ngood++;
            } else {
                if (nbad < p.nerr)
                    msgs_same &= p.errs[nbad].line == line && strcmp(p.errs[nbad].msg, why) == 0;
                nbad++;
            }
            s = nl + 1;
        }
        CU_ASSERT_EQUAL(p.n, ngood);
        CU_ASSERT_EQUAL(same, ngood);
        CU_ASSERT_EQUAL(p.nbad, nbad);
        CU_ASSERT(msgs_same);
        CU_ASSERT(ngood > NLINES / 4 && nbad > NLINES / 10); /* both kinds were exercised */
        shard_parsed_clear(&p);
    }
    free(text);
}

/* Reference by-user order: time with missing times last (-0 equal to +0), then item. */
static int ref_time_item(const void *pa, const void *pb)
{
    const shard_pair *a = pa, *b = pb;
    int na = isnan(a->ts), nb = isnan(b->ts);
    if (na != nb) return na - nb;
    if (!na && a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    return (a->item > b->item) - (a->item < b->item);
}

/* The test split's order (the integer-key sort) against qsort with the reference comparison,
 * on two users' pairs with negative, zero, signed zero, equal and missing times. */
static void test_order_matches_reference(void)
{
    enum { N = 400 };
    shard_pair *p = calloc(N, sizeof *p), *want = calloc(N, sizeof *want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    static const double tv[] = {0.0, -0.0, -1.5, 2.0, 1e9, -1e9, 3.25, 1593878903.438};
    uint64_t st = 99;
    for (int k = 0; k < N; k++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        int r = (int)(st >> 33);
        p[k] = (shard_pair){k < N / 2 ? 4 : 9, (N - k) * 3 % 1001, r % 9 == 8 ? NAN : tv[r % 8],
                            0.5, 1, 0};
    }
    memcpy(want, p, N * sizeof *p);
    qsort(want, N / 2, sizeof *want, ref_time_item);
    qsort(want + N / 2, N / 2, sizeof *want, ref_time_item);
    shard_split t;
    memset(&t, 0, sizeof t);
    CU_ASSERT_EQUAL_FATAL(shard_finish_test(p, N, &t), RP_OK);
    int same = 0;
    for (int k = 0; k < N; k++)
        same += t.pairs[k].user == want[k].user && t.pairs[k].item == want[k].item;
    CU_ASSERT_EQUAL(same, N);
    CU_ASSERT_EQUAL(t.counts.kept, N);
    free(t.pairs);
    free(want);
}

static void n_valid_rounding(void)
{
    static const struct { int64_t n; double frac; int64_t want; } cases[] = {
        {0, 0.1, 0},   {1, 0.1, 0},   {4, 0.1, 0},    {5, 0.1, 1},    {10, 0.1, 1},
        {14, 0.1, 1},  {15, 0.1, 2},  {25, 0.1, 3},   {100, 0.1, 10}, {1846, 0.1, 185},
        {100, 0.29, 29}, {3, 0.5, 2}, {7, 0.0, 0},    {2, 0.99, 2},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        CU_ASSERT_EQUAL(shard_n_valid(cases[k].n, cases[k].frac), cases[k].want);
}

static shard_row row(int32_t u, int32_t i, double ts, double wr, uint64_t h)
{
    return (shard_row){u, i, ts, wr, h};
}

/* Reference view order: item, time (missing first), hash, watch_ratio. */
static int ref_view(const void *pa, const void *pb)
{
    const shard_row *a = pa, *b = pb;
    if (a->user != b->user) return a->user < b->user ? -1 : 1;
    if (a->item != b->item) return a->item < b->item ? -1 : 1;
    int na = isnan(a->ts), nb = isnan(b->ts);
    if (na || nb) {
        if (na != nb) return nb - na;
    } else if (a->ts != b->ts) {
        return a->ts < b->ts ? -1 : 1;
    }
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return (a->wr > b->wr) - (a->wr < b->wr);
}

/* Reference order of pairs: user, then the by-user order (ref_time_item). */
static int ref_user_time_item(const void *pa, const void *pb)
{
    const shard_pair *a = pa, *b = pb;
    if (a->user != b->user) return a->user < b->user ? -1 : 1;
    return ref_time_item(pa, pb);
}

/* shard_aggregate (bucket sort by user, each user's rows in view order, merged through a table
 * by item) on rows with items up to 70,000, many repeat views, one pair viewed 100 times,
 * duplicates and missing times, against qsort with the reference view order followed by the
 * same merge rule (repeat = last, so the order of the views decides the value), the pairs then
 * qsorted into the reference by-user order. */
static void aggregate_matches_reference(void)
{
    enum { N = 6000 };
    shard_row *r = malloc(N * sizeof *r), *want = malloc(N * sizeof *want);
    shard_pair *wp = malloc(N * sizeof *wp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(wp);
    uint64_t st = 7;
    for (int k = 0; k < N; k++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t x = st >> 16;
        int item = k < 100 ? 777 : (int)(x % 5 == 0 ? x % 70000 : x % 40);
        double ts = x % 11 == 0 ? NAN : (double)((x >> 8) % 6);
        if (ts == 0.0 && (x >> 40) % 2) ts = -0.0; /* equal to +0 in every order */
        r[k] = row((int)((x >> 20) % 5), item, ts, (double)((x >> 24) % 4) * 0.25, (x >> 28) % 3);
    }
    memcpy(want, r, N * sizeof *r);
    qsort(want, N, sizeof *want, ref_view);
    shard_opts o;
    shard_opts_defaults(&o);
    o.repeat_rule = SHARD_REP_LAST;
    shard_pair *p = NULL;
    int64_t np = 0, j = 0, bad = 0;
    CU_ASSERT_EQUAL_FATAL(shard_aggregate(r, N, &o, &p, &np), RP_OK);
    for (int64_t k = 0, e; k < N; k = e, j++) {
        int views = 0, dups = 0;
        double wr = 0.0, ts = NAN;
        for (e = k; e < N && want[e].user == want[k].user && want[e].item == want[k].item; e++) {
            int dup = e > k && want[e].item == want[e - 1].item && want[e].hash == want[e - 1].hash &&
                      want[e].wr == want[e - 1].wr &&
                      (want[e].ts == want[e - 1].ts || (isnan(want[e].ts) && isnan(want[e - 1].ts)));
            dups += dup;
            views += !dup;
            if (!dup) wr = want[e].wr;
            if (!dup && !isnan(want[e].ts)) ts = want[e].ts;
        }
        wp[j] = (shard_pair){want[k].user, want[k].item, ts, wr, views, dups};
    }
    qsort(wp, (size_t)j, sizeof *wp, ref_user_time_item);
    CU_ASSERT_EQUAL_FATAL(np, j);
    for (int64_t k = 0; k < j; k++)
        bad += p[k].user != wp[k].user || p[k].item != wp[k].item || p[k].views != wp[k].views ||
               p[k].dups != wp[k].dups || p[k].wr != wp[k].wr ||
               !(p[k].ts == wp[k].ts || (isnan(p[k].ts) && isnan(wp[k].ts)));
    CU_ASSERT_EQUAL(bad, 0);
    free(p);
    free(wp);
    free(want);
}

/* Exact duplicates dropped, repeat views merged (mean or last, latest time). */
static void aggregate_views(void)
{
    for (int mode = 0; mode < 3; mode++) {
        shard_opts o;
        shard_opts_defaults(&o);
        o.dedup = mode != 2;
        o.repeat_rule = mode == 1 ? SHARD_REP_LAST : SHARD_REP_MEAN;
        shard_row *r = malloc(7 * sizeof *r);
        r[0] = row(3, 5, 20.0, 1.0, 11);
        r[1] = row(1, 9, 5.0, 0.5, 12);
        r[2] = row(3, 5, 10.0, 2.0, 13);
        r[3] = row(3, 5, 20.0, 1.0, 11); /* exact duplicate of r[0] */
        r[4] = row(3, 2, NAN, 0.7, 14);
        r[5] = row(1, 9, 7.0, 0.25, 15);
        r[6] = row(3, 5, 15.0, 3.0, 16);
        shard_pair *p = NULL;
        int64_t np = 0;
        CU_ASSERT_EQUAL_FATAL(shard_aggregate(r, 7, &o, &p, &np), RP_OK);
        CU_ASSERT_EQUAL_FATAL(np, 3);
        /* sorted by user, then time (missing last), then item: (1,9) (3,5) (3,2) */
        CU_ASSERT(p[0].user == 1 && p[0].item == 9 && p[1].item == 5 && p[2].item == 2);
        CU_ASSERT_EQUAL(p[0].views, 2);
        CU_ASSERT_EQUAL(p[0].ts, 7.0);
        CU_ASSERT(isnan(p[2].ts));
        CU_ASSERT_EQUAL(p[1].ts, 20.0);
        if (mode == 0) {
            CU_ASSERT_EQUAL(p[0].wr, 0.375);
            CU_ASSERT_EQUAL(p[1].wr, 2.0); /* (2 + 3 + 1) / 3 */
            CU_ASSERT_EQUAL(p[1].views, 3);
            CU_ASSERT_EQUAL(p[1].dups, 1);
        } else if (mode == 1) {
            CU_ASSERT_EQUAL(p[0].wr, 0.25);
            CU_ASSERT_EQUAL(p[1].wr, 1.0);
        } else {
            CU_ASSERT_EQUAL(p[1].views, 4);
            CU_ASSERT_EQUAL(p[1].dups, 0);
            CU_ASSERT_EQUAL(p[1].wr, 1.75); /* (2 + 3 + 1 + 1) / 4 */
        }
        free(p);
    }
}

static shard_pair pair(int32_t u, int32_t i, double ts, double wr)
{
    return (shard_pair){u, i, ts, wr, 1, 0};
}

/* One user with 10 pairs (1 to valid), one with 5 (round(0.5) = 1), one with 2 (none). */
static void split_by_time(void)
{
    shard_opts o;
    shard_opts_defaults(&o);
    CU_ASSERT_EQUAL(o.outlier_rule, SHARD_OUT_CLIP); /* the default */
    o.outlier = "drop";
    o.outlier_rule = SHARD_OUT_DROP; /* the counts below are worked out for drop */
    shard_pair *p = malloc(17 * sizeof *p);
    for (int k = 0; k < 10; k++) p[k] = pair(0, k, 100.0 - k, k == 4 ? 3.5 : 0.1 * k);
    for (int k = 0; k < 5; k++) p[10 + k] = pair(1, k, 50.0, 1.0 + k);
    p[15] = pair(2, 0, 1.0, 0.5);
    p[16] = pair(2, 1, 2.0, 0.6);
    shard_split tr = {0}, va = {0};
    CU_ASSERT_EQUAL_FATAL(shard_split_pairs(p, 17, &o, &tr, &va), RP_OK);
    /* user 0: latest is item 0 (ts 100) -> valid; item 4 (3.5) dropped as an outlier.
     * user 1: equal times, ordered by item: item 4 (wr 5, an outlier) is last -> valid, dropped;
     * item 3 (wr 4) is an outlier in train, item 2 (wr 3, not above 3) stays. */
    CU_ASSERT_EQUAL(va.n, 1);
    CU_ASSERT(va.pairs[0].user == 0 && va.pairs[0].item == 0);
    CU_ASSERT_EQUAL(va.counts.outlier, 1);
    CU_ASSERT_EQUAL(va.counts.read, 2);
    CU_ASSERT_EQUAL(tr.counts.outlier, 2);
    CU_ASSERT_EQUAL(tr.n, 8 + 3 + 2);
    CU_ASSERT_EQUAL(tr.counts.kept, tr.n);
    CU_ASSERT_EQUAL(tr.counts.read, 15);
    /* train order within user 0 is by time: items 9, 8, 7, 6, 5, 3, 2, 1 */
    CU_ASSERT(tr.pairs[0].item == 9 && tr.pairs[5].item == 3 && tr.pairs[7].item == 1);
    CU_ASSERT(tr.pairs[8].user == 1 && tr.pairs[8].item == 0 && tr.pairs[9].item == 1);
    free(tr.pairs);
    free(va.pairs);
}

static void normalise(void)
{
    CU_ASSERT_EQUAL(shard_value(1.0, 0.0, 2.0), 0.5f);
    CU_ASSERT_EQUAL(shard_value(-1.0, 0.0, 2.0), 0.0f);
    CU_ASSERT_EQUAL(shard_value(9.0, 0.0, 2.0), 1.0f);
    CU_ASSERT_EQUAL(shard_value(0.75, 0.5, 1.5), 0.25f);
    CU_ASSERT_EQUAL(shard_value(1.0, 1.0, 1.0), 0.0f); /* degenerate span */
    shard_opts o;
    shard_opts_defaults(&o);
    o.outlier_rule = SHARD_OUT_CLIP;
    CU_ASSERT_EQUAL(shard_target(5.0, &o, SHARD_TRAIN), 3.0);
    CU_ASSERT_EQUAL(shard_target(5.0, &o, SHARD_VALID), 3.0);
    CU_ASSERT_EQUAL(shard_target(5.0, &o, SHARD_TEST), 5.0);
    CU_ASSERT_EQUAL(shard_target(2.0, &o, SHARD_TRAIN), 2.0);
}

int test_shard_register(void)
{
    RP_ADD_SUITE("shard", RP_T(parse_good_rows), RP_T(parse_bad_rows), RP_T(parse_real_rows), RP_T(hash_separates_lines),
                 RP_T(chunk_crlf_and_truncation), RP_T(chunk_fast_path_matches_strict), RP_T(test_order_matches_reference),
                 RP_T(n_valid_rounding), RP_T(aggregate_views), RP_T(aggregate_matches_reference),
                 RP_T(split_by_time), RP_T(normalise));
    return 0;
}
