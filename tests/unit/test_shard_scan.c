/* test_shard_scan.c - rp-shard's mask-based row parser (shard_scan.c) against the scalar path:
 * shard_parse_chunk at every SIMD level this CPU runs must give exactly what it gives with
 * SHARD_SIMD_NONE (rows bit for bit, wide ids, bad-row count, messages and line numbers), on the
 * real files' rows, the bad-input corpus's damage, rows at every offset of a 64-byte block, CRLF
 * and a last line without newline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_test.h"
#include "shard.h"

int test_shard_scan_register(void);

/* Lines (without their end) that take every branch of shard_scan_rows and of the fallback. */
static const char *const tricky[] = {
    /* the real files' rows (tests/fixtures/kuairec): a 17-digit watch_ratio past 2^53 and a
     * float-written date */
    "0,3649,13838,10867,2020-07-05 00:08:23.438,20200705,1593878903.438,1.2733965215790926",
    "0,5262,851,7908,2020-07-05 00:16:06.687,20200705,1593879366.687,0.1076125442589782",
    "14,148,4381,6067,2020-07-05 05:27:48.378,20200705.0,1593898068.378,0.722103",
    "14,3649,9000,10867,,,,0.828",
    "1,8439,15474,10213,2020-07-05 00:28:19.267,20200705,1593880099.267,1.515128",
    /* the bad-input corpus (tests/e2e/faults.sh) */
    "1,2,3,4,t,20200705,1.5,0.5,7", "1,2,3,4,t,20200705,1.5", "abc,2,3,4,t,20200705,1.5,0.5",
    "99999999999999999999999,2,3,4,t,20200705,1.5,0.5", "1,2,3,4,t,20200705,1.5,nan",
    "1,2,3,4,t,20200705,1.5,inf", "-3,2,3,4,t,20200705,1.5,0.5", "1,2,3,-5,t,20200705,1.5,0.5",
    "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio",
    "\"1,2,3,4,t,20200705,1.5,0.5", "\x7f" "ELF\x02\x01\x01\xff\xff\xff",
    /* quoting: honoured only at a field's start */
    "\"1\",2,3,4,t,20200705,1.5,0.5", "1,2,3,4,\"t,x\",20200705,1.5,0.5",
    "1,2,3,4,a\"b,20200705,1.5,0.5", "1,2,3,4,t,20200705,\"1.5\",0.5",
    /* integers: float-written, signed, wide, 16/17/19 digits */
    "14.0,148.00,4381.0,6067.0,t,20200705.0,1.5,0.5", "1,2,3,4,t,20200705.00,1.5,0.5",
    "1,2,3,4,t,20200705.,1.5,0.5", "1,2,3,4,t,2020070.5,1.5,0.5", "1,2,3,4,t,.0,1.5,0.5",
    "+1,2,3,4,t,20200705,1.5,0.5", "2147483647,2147483647,3,4,t,20200705,1.5,0.5",
    "2147483648,2,3,4,t,20200705,1.5,0.5", "1,4294967296,3,4,t,20200705,1.5,0.5",
    "1234567890123456,2,1234567890123456,4,t,1234567890123456,1.5,0.5",
    "12345678901234567,2,3,12345678901234567,t,20200705,1.5,0.5",
    "9223372036854775807,2,3,4,t,20200705,1.5,0.5", "0042,0,0,0,t,0,0,0",
    /* reals: exact and inexact cases, 16/17 decimals, past 2^53, exponents, odd forms */
    "1,2,3,4,t,20200705,1593878903,5.", "1,2,3,4,t,20200705,.5,0.5",
    "1,2,3,4,t,20200705,9007199254740992,1", "1,2,3,4,t,20200705,9007199254740993,1",
    "1,2,3,4,t,20200705,1.5,0.1234567890123456", "1,2,3,4,t,20200705,1.5,0.12345678901234567",
    "1,2,3,4,t,20200705,1.5,1234567890123456.5", "1,2,3,4,t,20200705,1.5,0.0000000000000000001",
    "1,2,3,4,t,20200705,0.123456789012345678,12.34567890123456789",
    "1,2,3,4,t,20200705,9999999999999999999,1.2345678901234567890",
    "1,2,3,4,t,20200705,6.47560453803978886,0.16054003475471193",
    "1,2,3,4,t,20200705,1.5,0.00000000000000000000000000000001",
    "1,2,3,4,t,20200705,1.5,00000000000000000000000000000000.5", "1,2,3,4,t,20200705,2.5e-1,1e3",
    "1,2,3,4,t,20200705,1.5,1.2.3", "1,2,3,4,t,20200705,1.5, 1", "1,2,3,4,t,20200705,1.5,-0.5",
    "1,2,3,4,t,20200705,1.5,1\r", "1,2,3,4,t,20200705,1.5,\r", "1,2,3,4,t,20200705,1.5,",
    /* empty fields */
    "", ",,,,,,,", "1,2,3,4,,20200705,1.5,0.5", "1,2,3,4,t,,,0.5", "1,2,3,4,,,1.5,0.5",
    "1,2,3,4,t,,1.5,0.5", "1,2,3,4,t,20200705,,0.5", "1,2,,4,t,20200705,1.5,0.5",
    /* a time longer than a block: the row spans three */
    "7,8,9,10,2020-07-05 00:08:23.438 and a long comment that goes on past sixty-four bytes of"
    " text,20200705,1593878903.438,0.25",
};
#define NTRICKY (sizeof tricky / sizeof tricky[0])

/* Text: every tricky line after a plain row whose time field grows by one byte per round, so
 * each line starts at every offset of a 64-byte block; CRLF on every third line; a last line
 * without newline when `truncate`. */
static char *build(int truncate, size_t *len)
{
    static const char pad[] = "0123456789012345678901234567890123456789"
                              "012345678901234567890123";
    size_t cap = 64 * NTRICKY * 512 + 4096, o = 0;
    char *t = malloc(cap);
    if (t == NULL) return NULL;
    for (int round = 0; round < 64; round++)
        for (size_t k = 0; k < NTRICKY; k++) {
            const char *eol = (round + (int)k) % 3 == 0 ? "\r\n" : "\n";
            o += (size_t)snprintf(t + o, cap - o, "%d,%zu,1000,2000,2020-07-05 %.*s,20200705,"
                                  "1593878903.%d,0.%d%s", round, k, round, pad, round, round * 7,
                                  eol);
            o += (size_t)snprintf(t + o, cap - o, "%s%s", tricky[k], eol);
        }
    if (truncate) o += (size_t)snprintf(t + o, cap - o, "5,6,7,8,t,20200705,1.5,0.5");
    *len = o;
    return t;
}

/* shard_parse_chunk of text[0, len) at SIMD level `level` (capped at the CPU's), in pieces of
 * `piece` bytes cut at line ends, as the streaming reader feeds it. */
static int parse_at(int level, const char *text, size_t len, size_t piece, int allow,
                    shard_parsed *p)
{
    int got = shard_simd_select(level);
    memset(p, 0, sizeof *p);
    int64_t line = 2;
    for (size_t at = 0; at < len;) {
        size_t use = len - at;
        if (use > piece) {
            const char *nl = memrchr(text + at, '\n', piece);
            use = nl ? (size_t)(nl - text - at) + 1 : use;
        }
        rp_csv_chunk ck; /* a block of the piece's exact size: a sanitizer sees reads past it */
        memset(&ck, 0, sizeof ck);
        ck.buf = malloc(use);
        if (ck.buf == NULL) return -1;
        memcpy(ck.buf, text + at, use);
        ck.len = use;
        ck.first_line = line;
        int64_t before = p->n + p->nbad;
        if (shard_parse_chunk(&ck, allow, p) != RP_OK) got = -1;
        free(ck.buf);
        line += p->n + p->nbad - before;
        at += use;
    }
    shard_simd_select(SHARD_SIMD_AUTO);
    return got;
}

/* Everything a parse leaves, but the mask path's own count, equal in a and b. */
static int same_result(const shard_parsed *a, const shard_parsed *b)
{
    int same = a->n == b->n && a->nwide == b->nwide && a->nbad == b->nbad &&
               a->nerr == b->nerr && a->bytes == b->bytes;
    for (int64_t k = 0; same && k < a->n; k++) {
        shard_raw ra, rb;
        shard_parsed_get(a, k, &ra);
        shard_parsed_get(b, k, &rb);
        same = memcmp(&ra, &rb, sizeof ra) == 0 && memcmp(&a->rows[k], &b->rows[k],
                                                          sizeof a->rows[k]) == 0;
    }
    for (int k = 0; same && k < a->nerr; k++)
        same = a->errs[k].line == b->errs[k].line && strcmp(a->errs[k].msg, b->errs[k].msg) == 0;
    return same;
}

static void paths_agree_on(const char *text, size_t len, size_t piece, int allow)
{
    shard_parsed ref, p;
    CU_ASSERT_EQUAL_FATAL(parse_at(SHARD_SIMD_NONE, text, len, piece, allow, &ref),
                          SHARD_SIMD_NONE);
    CU_ASSERT_EQUAL(ref.nscan, 0);
    CU_ASSERT(ref.n > 64 * 10 && ref.nbad > 64 * 10); /* both kinds of rows are there */
    for (int level = SHARD_SIMD_SSE2; level <= SHARD_SIMD_VBMI2; level++) {
        int got = parse_at(level, text, len, piece, allow, &p);
        if (got < level) { /* this CPU stops below: that level ran already */
            shard_parsed_clear(&p);
            break;
        }
        CU_ASSERT(same_result(&ref, &p));
        CU_ASSERT(p.nscan > ref.n / 2); /* most good rows went the mask way */
        CU_ASSERT(p.nscan < ref.n);     /* and the odd ones the scalar way */
        shard_parsed_clear(&p);
    }
    shard_parsed_clear(&ref);
}

static void scan_matches_scalar(void)
{
    for (int truncate = 0; truncate <= 1; truncate++) {
        size_t len = 0;
        char *text = build(truncate, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        for (int allow = 0; allow <= 1; allow++) {
            paths_agree_on(text, len, len, allow);  /* one chunk */
            paths_agree_on(text, len, 4000, allow); /* windows cut at line ends */
        }
        free(text);
    }
}

/* The truncated last line and the line numbers of bad rows, mask path on. */
static void scan_line_numbers(void)
{
    size_t len = 0;
    char *text = build(1, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    shard_parsed p;
    parse_at(SHARD_SIMD_AUTO, text, len, len, 0, &p);
    CU_ASSERT_EQUAL(p.n + p.nbad, 64 * 2 * (int64_t)NTRICKY + 1);
    CU_ASSERT_EQUAL(p.nerr, SHARD_MAX_ERRS);
    /* line 2 is round 0's plain row, line 3 the first tricky row (good), ... */
    int64_t first_bad = 0;
    for (size_t k = 0; k < NTRICKY && first_bad == 0; k++) {
        shard_raw r;
        char why[SHARD_ERR_LEN];
        if (shard_parse_line(tricky[k], tricky[k] + strlen(tricky[k]), 0, &r, why, sizeof why))
            first_bad = 3 + 2 * (int64_t)k;
    }
    CU_ASSERT_EQUAL(p.errs[0].line, first_bad);
    shard_parsed_clear(&p);
    /* the last line alone */
    const char *tail = "5,6,7,8,t,20200705,1.5,0.5";
    char *small = malloc(200);
    CU_ASSERT_PTR_NOT_NULL_FATAL(small);
    int o = 0;
    for (int k = 0; k < 3; k++) o += snprintf(small + o, 200 - (size_t)o, "%s\n", tail);
    o += snprintf(small + o, 200 - (size_t)o, "%s", tail);
    parse_at(SHARD_SIMD_AUTO, small, (size_t)o, (size_t)o, 0, &p);
    CU_ASSERT_EQUAL(p.n, 3);
    CU_ASSERT_EQUAL(p.nbad, 1);
    CU_ASSERT_EQUAL(p.errs[0].line, 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(p.errs[0].msg, "truncated last line"));
    shard_parsed_clear(&p);
    free(small);
    free(text);
}

/* shard_scan_index finds every ',' and '\n' of a block, flagged, at every level. */
static void scan_index_positions(void)
{
    char buf[256];
    for (int k = 0; k < 256; k++)
        buf[k] = (char)(k % 7 == 0 ? ',' : k % 11 == 0 ? '\n' : 'a' + k % 5);
    for (int level = SHARD_SIMD_SSE2; level <= SHARD_SIMD_VBMI2; level++) {
        if (shard_simd_select(level) < level) break;
        uint32_t out[256 + 8];
        size_t n = shard_scan_index(buf, 64, 3, out), want = 0;
        int same = 1;
        for (uint32_t k = 64; k < 256; k++) {
            if (buf[k] != ',' && buf[k] != '\n') continue;
            same &= want < n && out[want] == ((k << 1) | (buf[k] == '\n'));
            want++;
        }
        CU_ASSERT_EQUAL(n, want);
        CU_ASSERT(same);
    }
    shard_simd_select(SHARD_SIMD_AUTO);
}

int test_shard_scan_register(void)
{
    RP_ADD_SUITE("shard_scan", RP_T(scan_matches_scalar), RP_T(scan_line_numbers),
                 RP_T(scan_index_positions));
    return 0;
}
