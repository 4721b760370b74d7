/* shard_scan.c - rp-shard's mask-based row parser: SIMD compares find every ',' and '\n' of the
 * text 64 bytes at a time (AVX-512 VBMI2 or BW, AVX2 or SSE2, chosen at run time), and a row in
 * the shape of every real row is parsed from its eight boundary positions. Anything else is
 * left to shard_parse.c's scalar path, which gives the same values or the error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define SHARD_HAVE_X86 1
#include <immintrin.h>
#else
#define SHARD_HAVE_X86 0
#endif

static int simd_level = -2; /* -2: not chosen yet */

/* What this CPU can run (SSE2 is part of x86-64). */
static int simd_best(void)
{
#if SHARD_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vbmi2")) return SHARD_SIMD_VBMI2;
    if (__builtin_cpu_supports("avx512bw")) return SHARD_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2")) return SHARD_SIMD_AVX2;
    return SHARD_SIMD_SSE2;
#else
    return SHARD_SIMD_NONE;
#endif
}

int shard_simd_select(int level)
{
    int best = simd_best();
    if (level == SHARD_SIMD_AUTO) {
        const char *env = getenv("RP_SHARD_SIMD"); /* A/B runs: 0 = the scalar path only */
        level = env != NULL && *env != '\0' ? atoi(env) : best;
    }
    if (level < SHARD_SIMD_NONE) level = SHARD_SIMD_NONE;
    simd_level = level < best ? level : best;
    return simd_level;
}

int shard_simd_level(void)
{
    if (simd_level == -2) shard_simd_select(SHARD_SIMD_AUTO);
    return simd_level;
}

#if SHARD_HAVE_X86
/* Append the positions of the set bits of sep (offset base) to out, each as (offset << 1) |
 * (bit set in nl). Writes 8 entries unconditionally (out has room for 64 + 8 more): about six
 * separators fall in 64 bytes of real rows, so the loop below rarely runs. */
static inline __attribute__((always_inline)) size_t flatten(uint32_t base, uint64_t sep,
                                                            uint64_t nl, uint32_t *out)
{
    size_t cnt = (size_t)__builtin_popcountll(sep);
    for (int j = 0; j < 8; j++) {
        uint32_t t = sep ? (uint32_t)__builtin_ctzll(sep) : 0;
        out[j] = ((base + t) << 1) | (uint32_t)((nl >> t) & 1);
        sep &= sep - 1;
    }
    for (size_t j = 8; j < cnt; j++) {
        uint32_t t = (uint32_t)__builtin_ctzll(sep);
        out[j] = ((base + t) << 1) | (uint32_t)((nl >> t) & 1);
        sep &= sep - 1;
    }
    return cnt;
}

__attribute__((target("avx512bw,popcnt,bmi"))) static size_t
index_avx512(const char *buf, size_t from, size_t nblocks, uint32_t *out)
{
    const __m512i comma = _mm512_set1_epi8(','), lf = _mm512_set1_epi8('\n');
    size_t n = 0;
    for (size_t b = 0; b < nblocks; b++) {
        size_t off = from + 64 * b;
        __m512i v = _mm512_loadu_si512((const void *)(buf + off));
        uint64_t nl = _mm512_cmpeq_epi8_mask(v, lf);
        uint64_t sep = _mm512_cmpeq_epi8_mask(v, comma) | nl;
        n += flatten((uint32_t)off, sep, nl, out + n);
    }
    return n;
}

/* The same with VBMI2's byte compress: each separator's (offset in the block << 1 | is '\n')
 * as one byte, the separators' bytes packed to the front, widened 16 at a time, with no loop
 * over the bits. */
__attribute__((target("avx512bw,avx512vbmi2,avx512vl,popcnt"))) static size_t
index_vbmi2(const char *buf, size_t from, size_t nblocks, uint32_t *out)
{
    const __m512i comma = _mm512_set1_epi8(','), lf = _mm512_set1_epi8('\n');
    const __m512i twice = _mm512_set_epi8(
        126, 124, 122, 120, 118, 116, 114, 112, 110, 108, 106, 104, 102, 100, 98, 96, 94, 92, 90,
        88, 86, 84, 82, 80, 78, 76, 74, 72, 70, 68, 66, 64, 62, 60, 58, 56, 54, 52, 50, 48, 46, 44,
        42, 40, 38, 36, 34, 32, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i one = _mm512_set1_epi8(1);
    size_t n = 0;
    for (size_t b = 0; b < nblocks; b++) {
        size_t off = from + 64 * b;
        __m512i v = _mm512_loadu_si512((const void *)(buf + off));
        __mmask64 nl = _mm512_cmpeq_epi8_mask(v, lf);
        __mmask64 sep = _mm512_cmpeq_epi8_mask(v, comma) | nl;
        __m512i code = _mm512_or_si512(twice, _mm512_maskz_mov_epi8(nl, one));
        __m512i packed = _mm512_maskz_compress_epi8(sep, code);
        __m512i base = _mm512_set1_epi32((int)(off << 1));
        size_t cnt = (size_t)__builtin_popcountll(sep);
        for (size_t j = 0; j < cnt; j += 16) {
            __m128i part = _mm512_extracti32x4_epi32(packed, 0);
            _mm512_storeu_si512((void *)(out + n + j),
                                _mm512_add_epi32(_mm512_cvtepu8_epi32(part), base));
            packed = _mm512_alignr_epi32(packed, packed, 4); /* the next 16 bytes down */
        }
        n += cnt;
    }
    return n;
}

__attribute__((target("avx2,popcnt,bmi"))) static size_t
index_avx2(const char *buf, size_t from, size_t nblocks, uint32_t *out)
{
    const __m256i comma = _mm256_set1_epi8(','), lf = _mm256_set1_epi8('\n');
    size_t n = 0;
    for (size_t b = 0; b < nblocks; b++) {
        size_t off = from + 64 * b;
        __m256i v0 = _mm256_loadu_si256((const __m256i *)(buf + off));
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(buf + off + 32));
        uint64_t nl = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v0, lf)) |
                      (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v1, lf)) << 32;
        uint64_t cm = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v0, comma)) |
                      (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v1, comma)) << 32;
        n += flatten((uint32_t)off, cm | nl, nl, out + n);
    }
    return n;
}

static size_t index_sse2(const char *buf, size_t from, size_t nblocks, uint32_t *out)
{
    const __m128i comma = _mm_set1_epi8(','), lf = _mm_set1_epi8('\n');
    size_t n = 0;
    for (size_t b = 0; b < nblocks; b++) {
        size_t off = from + 64 * b;
        uint64_t nl = 0, cm = 0;
        for (int q = 0; q < 4; q++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(buf + off + 16 * (size_t)q));
            nl |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf)) << (16 * q);
            cm |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)) << (16 * q);
        }
        n += flatten((uint32_t)off, cm | nl, nl, out + n);
    }
    return n;
}
#endif

size_t shard_scan_index(const char *buf, size_t from, size_t nblocks, uint32_t *out)
{
#if SHARD_HAVE_X86
    switch (shard_simd_level()) {
    case SHARD_SIMD_VBMI2: return index_vbmi2(buf, from, nblocks, out);
    case SHARD_SIMD_AVX512: return index_avx512(buf, from, nblocks, out);
    case SHARD_SIMD_AVX2: return index_avx2(buf, from, nblocks, out);
    case SHARD_SIMD_SSE2: return index_sse2(buf, from, nblocks, out);
    default: break;
    }
#endif
    (void)buf, (void)from, (void)nblocks, (void)out;
    return 0;
}

#if SHARD_HAVE_X86
/* n (1..8) digits at p as a number, eight at a time (SWAR): -1 if any of the n bytes is not a
 * digit. Reads 8 bytes from p. Bytes past the n are shifted out before they count; a byte below
 * '0' borrows only from the bytes after it, and is caught itself. */
static inline __attribute__((always_inline)) int swar8(const char *p, int n, uint64_t *v)
{
    uint64_t w;
    memcpy(&w, p, 8);
    w -= 0x3030303030303030ULL;
    w <<= 8 * (8 - n); /* the field's first digit is the most significant: zeros go in front */
    if (((w + 0x7676767676767676ULL) | w) & 0x8080808080808080ULL) return -1;
    w = w * 10 + (w >> 8);
    w = (((w & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
         (((w >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
    *v = (uint32_t)w;
    return 0;
}

/* n (0..16) digits at p. Reads 8 bytes from p (and from p + n - 8). */
static inline __attribute__((always_inline)) int digits16(const char *p, int n, uint64_t *v)
{
    uint64_t hi = 0, lo = 0;
    if (n == 0) {
        *v = 0;
        return 0;
    }
    if (n <= 8) return swar8(p, n, v);
    if (n > 16 || swar8(p, n - 8, &hi) || swar8(p + n - 8, 8, &lo)) return -1;
    *v = hi * 100000000ULL + lo;
    return 0;
}

/* n (0..19) digits at p: 10^19 > n digits fit in 64 bits. Reads 8 bytes from p. */
static inline __attribute__((always_inline)) int digits19(const char *p, int n, uint64_t *v)
{
    uint64_t hi = 0, lo = 0;
    if (n <= 16) return digits16(p, n, v);
    if (swar8(p, n - 16, &hi) || digits16(p + n - 16, 16, &lo)) return -1;
    *v = hi * 10000000000000000ULL + lo;
    return 0;
}

static const uint64_t pow10_u[] = {1ULL,
                                   10ULL,
                                   100ULL,
                                   1000ULL,
                                   10000ULL,
                                   100000ULL,
                                   1000000ULL,
                                   10000000ULL,
                                   100000000ULL,
                                   1000000000ULL,
                                   10000000000ULL,
                                   100000000000ULL,
                                   1000000000000ULL,
                                   10000000000000ULL,
                                   100000000000000ULL,
                                   1000000000000000ULL,
                                   10000000000000000ULL,
                                   100000000000000000ULL,
                                   1000000000000000000ULL,
                                   10000000000000000000ULL};
static const double pow10_d[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                                 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19};

/* digits[.digits] in [p, p + n), n <= 32, at most 19 digits: the
 * value rp_parse_f64 gives (Clinger's division up to 2^53, rp_decimal_to_f64 above: the real
 * files' 17-digit watch ratios). Reads 32 bytes. */
static inline __attribute__((always_inline)) int fast_real(const char *p, int n, double *v)
{
    const __m128i dot = _mm_set1_epi8('.');
    __m128i head = _mm_loadu_si128((const __m128i *)p);
    uint32_t dm = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(head, dot));
    if (n > 16)
        dm |= (uint32_t)_mm_movemask_epi8(
                  _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), dot)) << 16;
    if (n < 32) dm &= (1U << n) - 1;
    int ni = dm ? __builtin_ctz(dm) : n, nf = dm ? n - ni - 1 : 0;
    uint64_t ip = 0, fp = 0;
    if (ni == 0 || ni + nf > 19 || digits19(p, ni, &ip) || digits19(p + ni + 1, nf, &fp))
        return -1;
    uint64_t m = ip * pow10_u[nf] + fp; /* < 10^19: no overflow */
    if (m > (1ULL << 53)) return rp_decimal_to_f64(m, nf, v); /* the real files' 17 digits */
    *v = (double)m / pow10_d[nf];
    return 0;
}

/* A count column: 1..16 digits (16 cannot overflow). */
static inline __attribute__((always_inline)) int fast_count(const char *p, int n, uint64_t *v)
{
    return n < 1 || digits16(p, n, v);
}

/* The date: digits, or digits and ".0" (the small matrix's float-written dates), the forms
 * rp_parse_i64 takes as the same integer. */
static inline __attribute__((always_inline)) int fast_date(const char *p, int n)
{
    uint64_t v;
    if (n >= 3 && p[n - 2] == '.' && p[n - 1] == '0') n -= 2;
    return fast_count(p, n, &v);
}
#endif

#if SHARD_HAVE_X86
/* The row at buf + s whose first eight boundaries are b[0..7], if it has the real rows' shape
 * (shard_scan_rows); reads up to 32 bytes past b[7]'s offset. 0, or -1 (w partly written). */
static inline __attribute__((always_inline)) int scan_row(const char *buf, size_t s,
                                                          const uint32_t *b, int allow_empty_time,
                                                          shard_row *w)
{
    uint32_t x[8];
    for (int j = 0; j < 8; j++) x[j] = b[j] >> 1;
    /* seven commas, then the line's end */
    if (((b[0] | b[1] | b[2] | b[3] | b[4] | b[5] | b[6]) & 1) != 0 || (b[7] & 1) == 0) return -1;
    const char *p = buf + s;
    uint64_t user, item, skip;
    if (fast_count(p, (int)(x[0] - s), &user) || user > INT32_MAX ||
        fast_count(buf + x[0] + 1, (int)(x[1] - x[0] - 1), &item) || item > INT32_MAX ||
        fast_count(buf + x[1] + 1, (int)(x[2] - x[1] - 1), &skip) ||
        fast_count(buf + x[2] + 1, (int)(x[3] - x[2] - 1), &skip))
        return -1;
    uint32_t end = x[7] - (buf[x[7] - 1] == '\r' && x[7] - 1 > x[6]);
    double ts;
    if (x[4] == x[3] + 1) { /* empty time: date and timestamp must be empty too */
        if (!allow_empty_time || x[5] != x[4] + 1 || x[6] != x[5] + 1) return -1;
        ts = NAN;
    } else if (buf[x[3] + 1] == '"' || fast_date(buf + x[4] + 1, (int)(x[5] - x[4] - 1)) ||
               x[6] - x[5] - 1 > 32 || fast_real(buf + x[5] + 1, (int)(x[6] - x[5] - 1), &ts)) {
        return -1;
    }
    if (end - x[6] - 1 > 32 || fast_real(buf + x[6] + 1, (int)(end - x[6] - 1), &w->wr)) return -1;
    w->user = (int32_t)user;
    w->item = (int32_t)item;
    w->ts = ts;
    w->hash = shard_hash_bytes(p, end - s);
    return 0;
}

/* At least 8 boundaries in idx[k..n) if whole blocks of text remain to index them from. */
static void scan_refill(shard_scan *sc, const char *buf, size_t len)
{
    memmove(sc->idx, sc->idx + sc->k, (sc->n - sc->k) * sizeof *sc->idx);
    sc->n -= sc->k;
    sc->k = 0;
    while (sc->n < 8 && sc->next + 64 <= len) {
        size_t nb = (SHARD_SCAN_CAP - sc->n) / 64, left = (len - sc->next) / 64;
        if (nb > left) nb = left;
        sc->n += shard_scan_index(buf, sc->next, nb, sc->idx + sc->n);
        sc->next += 64 * nb;
    }
}
#endif

int64_t shard_scan_rows(shard_scan *sc, const char *buf, size_t len, size_t *pos,
                        int allow_empty_time, shard_row *rows, int64_t room)
{
    int64_t done = 0;
#if SHARD_HAVE_X86
    size_t s = *pos;
    while (sc->k < sc->n && (sc->idx[sc->k] >> 1) < s) sc->k++; /* a scalar line's boundaries */
    if (sc->k == sc->n && sc->next < s) sc->next = s;
    for (; done < room; done++) {
        if (sc->n - sc->k < 8) scan_refill(sc, buf, len);
        const uint32_t *b = sc->idx + sc->k;
        if (sc->n - sc->k < 8 || (size_t)(b[7] >> 1) + 32 > len ||
            scan_row(buf, s, b, allow_empty_time, &rows[done]) != 0)
            break;
        s = (b[7] >> 1) + 1;
        sc->k += 8;
    }
    *pos = s;
#else
    (void)sc, (void)buf, (void)len, (void)pos, (void)allow_empty_time, (void)rows, (void)room;
#endif
    return done;
}
