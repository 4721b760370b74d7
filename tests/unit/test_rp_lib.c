/* test_rp_lib.c - unit tests of the small shared modules: rng, part, args, sha256, mem. */
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "rp_args.h"
#include "rp_csv.h"
#include "rp_log.h"
#include "rp_mem.h"
#include "rp_err.h"
#include "rp_part.h"
#include "rp_rng.h"
#include "rp_sha256.h"
#include "rp_test.h"

int test_rp_lib_register(void);

static void rng_is_keyed(void)
{
    CU_ASSERT_EQUAL(rp_rng_hash(1, 2, 3), rp_rng_hash(1, 2, 3));
    CU_ASSERT_NOT_EQUAL(rp_rng_hash(1, 2, 3), rp_rng_hash(1, 2, 4));
    CU_ASSERT_NOT_EQUAL(rp_rng_hash(1, 2, 3), rp_rng_hash(2, 2, 3));
    CU_ASSERT_NOT_EQUAL(rp_rng_hash(1, 2, 3), rp_rng_hash(1, 3, 3));
    rp_rng r;
    rp_rng_init(&r, 7, 9, 100);
    CU_ASSERT_EQUAL(rp_rng_next(&r), rp_rng_hash(7, 9, 100));
    CU_ASSERT_EQUAL(rp_rng_next(&r), rp_rng_hash(7, 9, 101));
    /* the cursor's draws (from its cached key) equal the keyed functions, bit for bit */
    CU_ASSERT(rp_rng_next_uniform(&r) == rp_rng_uniform(7, 9, 102));
    CU_ASSERT(rp_rng_next_normal(&r) == rp_rng_normal(7, 9, 103));
    CU_ASSERT_EQUAL(r.ctr, 104);
}

static void rng_moments(void)
{
    double s = 0, s2 = 0, n = 200000;
    int hist[10] = {0};
    for (int i = 0; i < (int)n; i++) {
        double z = rp_rng_normal(5, 1, (uint64_t)i);
        s += z;
        s2 += z * z;
        double u = rp_rng_uniform(5, 2, (uint64_t)i);
        CU_ASSERT(u > 0.0 && u < 1.0);
        hist[(int)(u * 10)]++;
    }
    CU_ASSERT(fabs(s / n) < 0.01);
    CU_ASSERT(fabs(s2 / n - 1.0) < 0.02);
    for (int b = 0; b < 10; b++) CU_ASSERT(abs(hist[b] - 20000) < 600);
    rp_rng r;
    rp_rng_init(&r, 1, 1, 0);
    for (int i = 0; i < 1000; i++) CU_ASSERT(rp_rng_next_below(&r, 7) < 7);
}

/* rp_rng_next_below as written before its fast path: the reference of the two tests below. */
static uint64_t below_plain(rp_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = rp_rng_next(r);
        if (x < limit) return x % n;
    }
}

/* The fast path skips the limit's division only where no draw can be rejected; near 2^64 / 2
 * and 2^64 - small most draws are rejected or close to the limit: same values, same counter. */
static void rng_below_matches_plain(void)
{
    const uint64_t ns[] = {1, 2, 7, 1000003, (1ULL << 63) + 1, UINT64_MAX - 5, UINT64_MAX,
                           (1ULL << 62) * 3 + 17};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        rp_rng a, b;
        rp_rng_init(&a, 3, 4, 10);
        rp_rng_init(&b, 3, 4, 10);
        for (int i = 0; i < 2000; i++) CU_ASSERT_EQUAL(rp_rng_next_below(&a, ns[k]),
                                                        below_plain(&b, ns[k]));
        CU_ASSERT_EQUAL(a.ctr, b.ctr);
    }
}

/* The blocked shuffles equal the plain Fisher-Yates loop, entry by entry, for sizes around the
 * block (32) and a table beyond the cache; the cursor ends where the loop's ends. Permuting
 * given entries (tagged indices) moves them as the shuffle moves the indices. */
static void rng_shuffle_matches_plain(void)
{
    const int64_t ns[] = {0, 1, 2, 31, 32, 33, 64, 65, 1000, 300000};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        int64_t n = ns[k];
        uint32_t *p = malloc((size_t)(n + 1) * sizeof *p), *q = malloc((size_t)(n + 1) * sizeof *q);
        int64_t *p64 = malloc((size_t)(n + 1) * sizeof *p64);
        CU_ASSERT_FATAL(p && q && p64);
        rp_rng a, b, c, d;
        rp_rng_init(&d, 42, 7, (uint64_t)n);
        rp_rng_init(&a, 42, 7, (uint64_t)n);
        rp_rng_init(&b, 42, 7, (uint64_t)n);
        rp_rng_init(&c, 42, 7, (uint64_t)n);
        for (int64_t i = 0; i < n; i++) q[i] = (uint32_t)i;
        for (int64_t i = n - 1; i > 0; i--) {
            uint64_t j = below_plain(&b, (uint64_t)i + 1);
            uint32_t t = q[i];
            q[i] = q[j];
            q[j] = t;
        }
        rp_rng_shuffle_u32(&a, p, n);
        rp_rng_shuffle_i64(&c, p64, n);
        int same = 1, same64 = 1;
        for (int64_t i = 0; i < n; i++) {
            same &= p[i] == q[i];
            same64 &= p64[i] == (int64_t)q[i];
        }
        CU_ASSERT(same);
        CU_ASSERT(same64);
        CU_ASSERT_EQUAL(a.ctr, b.ctr);
        CU_ASSERT_EQUAL(c.ctr, b.ctr);
        for (int64_t i = 0; i < n; i++) p[i] = (uint32_t)i | (uint32_t)(i * 7 % 5) << 29;
        rp_rng_permute_u32(&d, p, n);
        int tagged = 1;
        for (int64_t i = 0; i < n; i++) tagged &= p[i] == (q[i] | (uint32_t)(q[i] * 7 % 5) << 29);
        CU_ASSERT(tagged);
        CU_ASSERT_EQUAL(d.ctr, b.ctr);
        free(p);
        free(q);
        free(p64);
    }
}

static void part_even_covers(void)
{
    for (int size = 1; size <= 5; size++) {
        int64_t next = 0;
        for (int rank = 0; rank < size; rank++) {
            int64_t off, cnt;
            rp_part_even(11, size, rank, &off, &cnt);
            CU_ASSERT_EQUAL(off, next);
            next = off + cnt;
        }
        CU_ASSERT_EQUAL(next, 11);
    }
}

static void part_weighted_balances(void)
{
    /* Row i has i nonzeros: the weight grows, so later blocks hold fewer rows. */
    int64_t off[101];
    off[0] = 0;
    for (int i = 0; i < 100; i++) off[i + 1] = off[i] + i;
    int64_t cuts[5];
    rp_part_weighted(off, 100, 4, 0.0, cuts);
    CU_ASSERT_EQUAL(cuts[0], 0);
    CU_ASSERT_EQUAL(cuts[4], 100);
    for (int p = 0; p < 4; p++) {
        double w = (double)(off[cuts[p + 1]] - off[cuts[p]]);
        CU_ASSERT(fabs(w - off[100] / 4.0) < 100.0);
    }
    CU_ASSERT(cuts[1] - cuts[0] > cuts[4] - cuts[3]);
    for (int64_t r = 0; r < 100; r++) {
        int p = rp_part_owner(cuts, 4, r);
        CU_ASSERT(cuts[p] <= r && r < cuts[p + 1]);
    }
    /* Empty blocks when there are more ranks than rows still cover every row exactly once. */
    int64_t small[3] = {0, 5, 9}, c[6];
    rp_part_weighted(small, 2, 5, 1.0, c);
    for (int64_t r = 0; r < 2; r++) {
        int p = rp_part_owner(c, 5, r);
        CU_ASSERT(c[p] <= r && r < c[p + 1]);
    }
}

static void sha256_known_vectors(void)
{
    char hex[65];
    rp_sha256_hex("", 0, hex);
    CU_ASSERT_STRING_EQUAL(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    rp_sha256_hex("abc", 3, hex);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    rp_sha256_hex(m, strlen(m), hex);
    CU_ASSERT_STRING_EQUAL(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* One million 'a' fed in uneven pieces: many blocks through the (hardware) schedule. */
    rp_sha256 c;
    unsigned char d[32], a[997];
    memset(a, 'a', sizeof a);
    rp_sha256_init(&c);
    for (size_t left = 1000000; left > 0;) {
        size_t n = left < sizeof a ? left : sizeof a;
        rp_sha256_update(&c, a, n);
        left -= n;
    }
    rp_sha256_final(&c, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    CU_ASSERT_STRING_EQUAL(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* The SHA-NI path (when the CPU has it) against OpenSSL's: known vectors on both, then 1 to 4
 * lanes of random bytes fed in random pieces (lengths around the 55/56/64-byte padding edges,
 * partial blocks carried between calls, lanes at different offsets) give OpenSSL's digests. */
static void sha256_ni_matches_openssl(void)
{
    enum { N = 20000 };
    unsigned char *buf = malloc(4 * N), want[4][32], got[4][32];
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 4 * N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
    int ni = rp_sha256_select(1);
    for (int round = 0; round < 200; round++) {
        int k = 1 + round % 4;
        size_t len = round < 130 ? (size_t)round : (size_t)(x % (N - 300));
        rp_sha256 c[4], *pc[4];
        const unsigned char *p[4];
        rp_sha256_select(0);
        for (int l = 0; l < k; l++) {
            rp_sha256_init(&c[l]);
            rp_sha256_update(&c[l], buf + (size_t)l * N + (size_t)l * 7, len);
            rp_sha256_final(&c[l], want[l]);
        }
        rp_sha256_select(1);
        for (int l = 0; l < k; l++) {
            rp_sha256_init(&c[l]);
            pc[l] = &c[l];
        }
        size_t at = 0;
        while (at < len) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t step = x % 3 == 0 ? (size_t)(x % 70) : (size_t)(x % 3000);
            if (step > len - at) step = len - at;
            for (int l = 0; l < k; l++) p[l] = buf + (size_t)l * N + (size_t)l * 7 + at;
            if (x % 5 == 0) rp_sha256_update(&c[0], p[0], step); /* lane 0 alone, then the rest */
            if (x % 5 == 0 && k > 1) rp_sha256_update_lanes(pc + 1, p + 1, step, k - 1);
            if (x % 5 != 0) rp_sha256_update_lanes(pc, p, step, k);
            at += step;
        }
        for (int l = 0; l < k; l++) {
            CU_ASSERT_EQUAL(rp_sha256_final(&c[l], got[l]), RP_OK);
            CU_ASSERT(memcmp(got[l], want[l], 32) == 0);
        }
    }
    if (ni) sha256_known_vectors(); /* the vectors through SHA-NI too */
    rp_sha256_select(-1);
    free(buf);
}

/* Float-written integers ("20200705.0") read as integers; any other fraction is rejected. */
static void parse_i64_float_written(void)
{
    static const struct { const char *s; int ok; int64_t v; } cases[] = {
        {"20200705", 0, 20200705}, {"20200705.0", 0, 20200705}, {"7.000", 0, 7},
        {"-3.0", 0, -3},           {"0.0", 0, 0},               {"100", 0, 100},
        {"20200705.5", -1, 0},     {"20200705.", -1, 0},        {".0", -1, 0},
        {"-.0", -1, 0},            {"1.0.0", -1, 0},            {"1.01", -1, 0},
        {"1e3", -1, 0},            {"", -1, 0},                 {"9223372036854775808.0", -1, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t v = -99;
        int got = rp_parse_i64(cases[k].s, strlen(cases[k].s), &v);
        if (got != cases[k].ok) fprintf(stderr, "rp_parse_i64('%s') = %d\n", cases[k].s, got);
        CU_ASSERT_EQUAL(got, cases[k].ok);
        if (cases[k].ok == 0) CU_ASSERT_EQUAL(v, cases[k].v);
    }
}

/* rp_parse_f64 against strtod, bit for bit, where the exact division of up to 19 digits
 * (rp_decimal_to_f64) replaces it: random 15-19 digit decimals with 0-19 of them after the
 * point (most past 2^53), and quotients at or next to a point halfway between two doubles. */
static void parse_f64_matches_strtod(void)
{
    static const char *const hard[] = {
        "9007199254740993", "9007199254740995", "9007199254740993.0", "18014398509481986",
        "18014398509481987", "1.2733965215790926", "0.1076125442589782", "1.572294776119403",
        "4503599627370496.5", "4503599627370497.5", "9223372036854775807", "1844674407370955161.5",
        "0.30000000000000004", "2.2250738585072014", "1.7976931348623157", "9999999999999999999",
        "1000000000000000000.1", "0.0000000000000000001", "123456789.0123456789"};
    uint64_t st = 2024;
    int same = 1, nexact = 0;
    char buf[40];
    for (int k = 0; k < 200000 + (int)(sizeof hard / sizeof hard[0]); k++) {
        const char *s = buf;
        if (k < (int)(sizeof hard / sizeof hard[0])) {
            s = hard[k];
        } else {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            int nd = 15 + (int)((st >> 33) % 5), nf = (int)((st >> 40) % 20), o = 0;
            if (nf > nd) nf = nd;
            for (int d = 0; d < nd; d++) {
                st = st * 6364136223846793005ULL + 1442695040888963407ULL;
                if (d == nd - nf) {
                    if (d == 0) buf[o++] = '0';
                    buf[o++] = '.';
                }
                buf[o++] = (char)('0' + (st >> 45) % 10);
            }
            buf[o] = '\0';
        }
        double got = -1, want = strtod(s, NULL);
        int rc = rp_parse_f64(s, strlen(s), &got);
        if (rc != 0 || memcmp(&got, &want, sizeof got) != 0) {
            if (same) fprintf(stderr, "rp_parse_f64('%s') = %.17g, strtod %.17g\n", s, got, want);
            same = 0;
        }
        const char *dot = strchr(s, '.');
        uint64_t m = 0;
        for (const char *p = s; *p; p++)
            if (*p != '.') m = m * 10 + (uint64_t)(*p - '0');
        double x = 0;
        nexact += rp_decimal_to_f64(m, dot ? (int)strlen(dot + 1) : 0, &x) == 0;
    }
    CU_ASSERT(same);
    CU_ASSERT(nexact > 190000); /* the exact division took almost all of them */
}

static void progress_line_format(void)
{
    char buf[256];
    rp_progress_format(buf, sizeof buf, "parsing x.csv", "rows", 1200000, 4500000, 4.0);
    CU_ASSERT_STRING_EQUAL(buf, "parsing x.csv: 1.2M/4.5M rows (27%), 300.0k rows/s, 11 s left");
    rp_progress_format(buf, sizeof buf, "epoch 2", "batches", 30, 600, 60.0);
    CU_ASSERT_STRING_EQUAL(buf, "epoch 2: 30/600 batches (5%), 0.50 batches/s, 19 min 00 s left");
    rp_progress_format(buf, sizeof buf, "top-k", "users", 500, 500, 2.0);
    CU_ASSERT_STRING_EQUAL(buf, "top-k: 500/500 users (100%), 250 users/s");
    rp_progress_format(buf, sizeof buf, "reading", "bytes", 20000, 0, 0.0);
    CU_ASSERT_STRING_EQUAL(buf, "reading: 20.0k bytes, 0.00 bytes/s");
}

/* A file of n bytes, byte i = (131 i + i / 8192) mod 256. Returns 0 on success. */
static int write_pattern(const char *path, int64_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    unsigned char buf[8192];
    for (int64_t at = 0; at < n;) {
        size_t m = n - at < (int64_t)sizeof buf ? (size_t)(n - at) : sizeof buf;
        for (size_t j = 0; j < m; j++) buf[j] = (unsigned char)((at + (int64_t)j) * 131 + ((at + (int64_t)j) >> 13));
        if (fwrite(buf, 1, m, f) != m) break;
        at += (int64_t)m;
    }
    return fclose(f);
}

/* rp_hash_file against sha256sum on a small file (one block: the plain SHA-256), and on a file
 * past the 64 MiB block size against the digest-of-block-digests scheme's value, computed
 * independently (Python hashlib) when the scheme was introduced. */
static void hash_file_digests(void)
{
    char hex[65], cmd[600], want[65] = "";
    const char *small = rp_test_path("hash_small.bin"), *big = rp_test_path("hash_big.bin");
    CU_ASSERT_FATAL(write_pattern(small, 5000) == 0);
    CU_ASSERT_EQUAL(rp_hash_file(MPI_COMM_SELF, small, hex), RP_OK);
    CU_ASSERT_STRING_EQUAL(hex, "fed5d35a639c058393cefa28a3f96e14b412dbb9c31feb07dafd28d6e8682f8f");
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", small);
    FILE *p = popen(cmd, "r");
    if (p != NULL) {
        if (fscanf(p, "%64s", want) != 1) want[0] = '\0';
        pclose(p);
        if (want[0] != '\0') CU_ASSERT_STRING_EQUAL(hex, want);
    }
    CU_ASSERT_FATAL(write_pattern(big, ((int64_t)64 << 20) + 1000) == 0);
    CU_ASSERT_EQUAL(rp_hash_file(MPI_COMM_SELF, big, hex), RP_OK);
    CU_ASSERT_STRING_EQUAL(hex, "797f168a88c0a9b4af4cf379c93913aa71b27b50c49bc2ad3dd480c4bc867b40");
    remove(small);
    remove(big);
}

static void args_parse_kinds(void)
{
    int k = 8, flag = 1;
    double lr = 0.1;
    const char *mode = "a";
    static const char *const modes[] = {"a", "b", NULL};
    rp_arg args[] = {
        {"k", RP_ARG_INT, &k, "N", "rank", NULL},
        {"lr", RP_ARG_DBL, &lr, "X", "rate", NULL},
        {"mode", RP_ARG_STR, &mode, "M", "mode", modes},
        {"flag", RP_ARG_FLAG, &flag, NULL, "a flag", NULL},
    };
    rp_cmd cmd = {"rp-test", "test", NULL};
    char *ok[] = {"p", "--k", "16", "--lr=0.5", "--mode", "b", "--no-flag"};
    CU_ASSERT_EQUAL(rp_args_parse(7, ok, &cmd, args, 4), RP_OK);
    CU_ASSERT_EQUAL(k, 16);
    CU_ASSERT_DOUBLE_EQUAL(lr, 0.5, 0);
    CU_ASSERT_STRING_EQUAL(mode, "b");
    CU_ASSERT_EQUAL(flag, 0);
    char *bad1[] = {"p", "--k", "x"};
    CU_ASSERT_EQUAL(rp_args_parse(3, bad1, &cmd, args, 4), RP_ERR_USAGE);
    char *bad2[] = {"p", "--mode", "c"};
    CU_ASSERT_EQUAL(rp_args_parse(3, bad2, &cmd, args, 4), RP_ERR_USAGE);
    char *bad3[] = {"p", "--nope"};
    CU_ASSERT_EQUAL(rp_args_parse(2, bad3, &cmd, args, 4), RP_ERR_USAGE);
    char *bad4[] = {"p", "--k"};
    CU_ASSERT_EQUAL(rp_args_parse(2, bad4, &cmd, args, 4), RP_ERR_USAGE);
}

/* rp_mem_big: small blocks are plain, large ones 2 MB aligned; both hold what is written. */
static void mem_big_blocks(void)
{
    size_t sizes[4] = {0, 100, RP_MEM_BIG_MIN, 5 * 1024 * 1024 + 3};
    for (int x = 0; x < 4; x++) {
        unsigned char *p = rp_mem_big(sizes[x]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        if (sizes[x] >= RP_MEM_BIG_MIN) CU_ASSERT_EQUAL((uintptr_t)p % (2u << 20), 0);
        for (size_t b = 0; b < sizes[x]; b += 4096) p[b] = (unsigned char)b;
        if (sizes[x] > 0) p[sizes[x] - 1] = 7;
        int ok = 1;
        for (size_t b = 0; b + 1 < sizes[x]; b += 4096) ok &= p[b] == (unsigned char)b;
        CU_ASSERT(ok);
        free(p);
    }
    CU_ASSERT_PTR_NULL(rp_mem_big((size_t)-1));
}

int test_rp_lib_register(void)
{
    RP_ADD_SUITE("rp_lib", RP_T(rng_is_keyed), RP_T(rng_moments), RP_T(rng_below_matches_plain),
                 RP_T(rng_shuffle_matches_plain), RP_T(part_even_covers),
                 RP_T(part_weighted_balances), RP_T(sha256_known_vectors),
                 RP_T(sha256_ni_matches_openssl), RP_T(hash_file_digests),
                 RP_T(args_parse_kinds), RP_T(parse_i64_float_written),
                 RP_T(parse_f64_matches_strtod), RP_T(progress_line_format),
                 RP_T(mem_big_blocks));
    return 0;
}
