/* recommend_topk.c - top-K per user with a total order (score, then item index) so ties are
 * broken the same way everywhere: a bounded heap over finished scores (any model), and the
 * fused running top-K over raw products of monotone dot-form models (threshold scan, candidate
 * buffer, quickselect). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define REC_X86_DISPATCH 1
#endif

#include "recommend.h"

int rec_better(float a, int32_t ia, float b, int32_t ib)
{
    int na = isnan(a), nb = isnan(b);
    if (na != nb) return nb; /* a number beats NaN */
    if (!na && a != b) return a > b;
    return ia < ib;
}

/* Min-heap on "better": the root is the worst item kept. */
static void sift_down(int32_t *heap, int n, const float *s, int p)
{
    for (;;) {
        int l = 2 * p + 1, r = l + 1, w = p;
        if (l < n && rec_better(s[heap[w]], heap[w], s[heap[l]], heap[l])) w = l;
        if (r < n && rec_better(s[heap[w]], heap[w], s[heap[r]], heap[r])) w = r;
        if (w == p) return;
        int32_t t = heap[p];
        heap[p] = heap[w];
        heap[w] = t;
        p = w;
    }
}

static void sift_up(int32_t *heap, const float *s, int c)
{
    while (c > 0) {
        int p = (c - 1) / 2;
        if (!rec_better(s[heap[p]], heap[p], s[heap[c]], heap[c])) return;
        int32_t t = heap[p];
        heap[p] = heap[c];
        heap[c] = t;
        c = p;
    }
}

void rec_topk(const float *scores, int64_t n, const uint32_t *mark, uint32_t stamp, int k,
              int32_t *heap, int32_t *idx, float *val)
{
    int size = 0;
    float thr = NAN; /* score of the worst kept item once the heap is full */
    for (int64_t i = 0; i < n && k > 0; i++) {
        /* Fast reject: most items score below the K-th best (an equal score still loses to the
         * kept item, whose index is lower). A NaN threshold disables the shortcut. */
        if (size == k && scores[i] < thr) continue;
        if (mark != NULL && mark[i] == stamp) continue;
        if (size < k) {
            heap[size] = (int32_t)i;
            sift_up(heap, scores, size++);
        } else if (rec_better(scores[i], (int32_t)i, scores[heap[0]], heap[0])) {
            heap[0] = (int32_t)i;
            sift_down(heap, size, scores, 0);
        } else {
            continue;
        }
        if (size == k) thr = scores[heap[0]];
    }
    /* Pop the worst repeatedly: fills the output from the back in rank order. */
    for (int r = k - 1; r >= size; r--) {
        idx[r] = -1;
        val[r] = NAN;
    }
    while (size > 0) {
        idx[size - 1] = heap[0];
        val[size - 1] = scores[heap[0]];
        heap[0] = heap[--size];
        sift_down(heap, size, scores, 0);
    }
}

/* rec_better as one unsigned comparison: the score's bits mapped to an order-preserving
 * integer (NaN lowest, -0 as +0) above the complemented item index (lower index ranks first).
 * The heap's comparisons then need no NaN branches. */
static uint64_t rank_key(float s, int32_t item)
{
    uint32_t u;
    if (s == 0.0f) s = 0.0f;
    memcpy(&u, &s, sizeof u);
    u = isnan(s) ? 0u : (u & 0x80000000u) ? ~u : u | 0x80000000u;
    return (uint64_t)u << 32 | (uint32_t)~(uint32_t)item;
}

/* Reorder a[0..n) so that a[0..k) hold the k largest ranks (0 < k < n; ranks are distinct:
 * the item is part of them). Quickselect with a median-of-three pivot: deterministic. */
static void select_best(rec_entry *a, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (hi > lo) {
        uint64_t x = a[lo].rank, y = a[(lo + hi) / 2].rank, z = a[hi].rank;
        uint64_t p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i].rank > p) i++;
            while (a[j].rank < p) j--;
            if (i <= j) {
                rec_entry t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        /* [lo, j] ranks >= p, [i, hi] <= p, between them the pivot itself. */
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else return;
    }
}

/* Rank order (best first): insertion sort for the usual small K, qsort beyond. */
static int cmp_rank_desc(const void *a, const void *b)
{
    uint64_t x = ((const rec_entry *)a)->rank, y = ((const rec_entry *)b)->rank;
    return (x < y) - (x > y);
}

static void sort_best_first(rec_entry *a, int n)
{
    if (n > 64) {
        qsort(a, (size_t)n, sizeof *a, cmp_rank_desc);
        return;
    }
    for (int i = 1; i < n; i++) {
        rec_entry t = a[i];
        int j = i;
        for (; j > 0 && a[j - 1].rank < t.rank; j--) a[j] = a[j - 1];
        a[j] = t;
    }
}

/* Bit j set when key[j] is above thr or NaN (not-less-or-equal), for j < len <= 16. This test
 * sees every product: blocks of 16 with four SSE comparisons, which GCC -O2 does not produce from
 * the plain loop. */
static uint32_t above_mask(const float *key, int len, float thr)
{
    uint32_t bits = 0;
#ifdef __SSE2__
    if (len == 16) {
        __m128 t = _mm_set1_ps(thr);
        bits = (uint32_t)_mm_movemask_ps(_mm_cmpnle_ps(_mm_loadu_ps(key), t));
        bits |= (uint32_t)_mm_movemask_ps(_mm_cmpnle_ps(_mm_loadu_ps(key + 4), t)) << 4;
        bits |= (uint32_t)_mm_movemask_ps(_mm_cmpnle_ps(_mm_loadu_ps(key + 8), t)) << 8;
        bits |= (uint32_t)_mm_movemask_ps(_mm_cmpnle_ps(_mm_loadu_ps(key + 12), t)) << 12;
        return bits;
    }
#endif
    for (int j = 0; j < len; j++) bits |= (uint32_t)!(key[j] <= thr) << j;
    return bits;
}

/* Any of 16 keys above thr or NaN: the common "nothing here" answer in one movemask. */
static int any_above16(const float *key, float thr)
{
#ifdef __SSE2__
    __m128 t = _mm_set1_ps(thr);
    __m128 a = _mm_cmpnle_ps(_mm_loadu_ps(key), t);
    __m128 b = _mm_cmpnle_ps(_mm_loadu_ps(key + 4), t);
    __m128 c = _mm_cmpnle_ps(_mm_loadu_ps(key + 8), t);
    __m128 d = _mm_cmpnle_ps(_mm_loadu_ps(key + 12), t);
    return _mm_movemask_ps(_mm_or_ps(_mm_or_ps(a, b), _mm_or_ps(c, d))) != 0;
#else
    return above_mask(key, 16, thr) != 0;
#endif
}

void rec_excl_set(uint16_t *bits, const int32_t *items, int64_t n)
{
    for (int64_t t = 0; t < n; t++) bits[items[t] >> 4] |= (uint16_t)(1u << (items[t] & 15));
}

void rec_topk_begin(rec_topk_run *t, rec_entry *ent, int k)
{
    t->ent = ent;
    t->n = 0;
    t->cap = REC_RUN_CAP(k);
    t->kthr = NAN;
}

/* Keep the k best candidates and raise the threshold. Invariant: every later key <= kthr scores
 * at most the worst kept score, and an equal score loses to it (items come in index order, so a
 * later item has the higher index). The worst kept entry's key qualifies, and so does the key of
 * any dropped entry with a numeric score (it scores at most the worst kept). NaN: no shortcut
 * (fewer than k numeric scores kept). */
static void compact(rec_topk_run *t, int k)
{
    rec_entry *ent = t->ent;
    if (t->n <= k) return;
    select_best(ent, t->n, k);
    int w = 0;
    for (int r = 1; r < k; r++)
        if (ent[r].rank < ent[w].rank) w = r;
    if (!isnan(ent[w].score)) {
        float thr = isnan(t->kthr) || ent[w].key > t->kthr ? ent[w].key : t->kthr;
        for (int r = k; r < t->n; r++)
            if (!isnan(ent[r].score) && ent[r].key > thr) thr = ent[r].key;
        t->kthr = thr;
    }
    t->n = k;
}

/* Append one candidate (its key passed the threshold, not excluded), finished. Returns 1 when
 * the buffer was full and compacted (the threshold may have risen). */
static int offer(rec_topk_run *t, float key, int32_t item, const rp_model *m, int sign, int k)
{
    float sc = rp_model_dot_finish(m, sign < 0 ? -key : key);
    t->ent[t->n++] = (rec_entry){rank_key(sc, item), sc, key};
    if (t->n < t->cap) return 0;
    compact(t, k);
    return 1;
}

/* The first full block of 16 keys in raw[x .. nfull) (x, nfull multiples of 16 from raw) with a
 * key above thr or NaN, else nfull: the scan every product goes through, so it runs on the
 * widest vectors the CPU has (the build targets baseline x86-64; comparisons are exact, so
 * every width gives the same answer). */
typedef int64_t (*skip_fn)(const float *raw, int64_t x, int64_t nfull, float thr);

static int64_t skip_sse(const float *raw, int64_t x, int64_t nfull, float thr)
{
    for (; x < nfull; x += 16)
        if (any_above16(raw + x, thr)) return x;
    return nfull;
}

#ifdef REC_X86_DISPATCH
__attribute__((target("avx2"))) static int64_t skip_avx2(const float *raw, int64_t x,
                                                         int64_t nfull, float thr)
{
    __m256 t = _mm256_set1_ps(thr);
    for (; x < nfull; x += 16) {
        __m256 a = _mm256_cmp_ps(_mm256_loadu_ps(raw + x), t, _CMP_NLE_UQ);
        __m256 b = _mm256_cmp_ps(_mm256_loadu_ps(raw + x + 8), t, _CMP_NLE_UQ);
        if (_mm256_movemask_ps(_mm256_or_ps(a, b)) != 0) return x;
    }
    return nfull;
}

__attribute__((target("avx512f"))) static int64_t skip_avx512(const float *raw, int64_t x,
                                                              int64_t nfull, float thr)
{
    __m512 t = _mm512_set1_ps(thr);
    /* 64 keys per test while nothing passes (the usual case past the first tiles). */
    for (; x + 64 <= nfull; x += 64) {
        __mmask16 a = _mm512_cmp_ps_mask(_mm512_loadu_ps(raw + x), t, _CMP_NLE_UQ);
        __mmask16 b = _mm512_cmp_ps_mask(_mm512_loadu_ps(raw + x + 16), t, _CMP_NLE_UQ);
        __mmask16 c = _mm512_cmp_ps_mask(_mm512_loadu_ps(raw + x + 32), t, _CMP_NLE_UQ);
        __mmask16 d = _mm512_cmp_ps_mask(_mm512_loadu_ps(raw + x + 48), t, _CMP_NLE_UQ);
        if ((a | b | c | d) != 0) break;
    }
    for (; x < nfull; x += 16)
        if (_mm512_cmp_ps_mask(_mm512_loadu_ps(raw + x), t, _CMP_NLE_UQ) != 0) return x;
    return nfull;
}
#endif

/* Candidates rec_topk_end places by counting (O(n^2 / 8) vector compares) rather than by
 * selection and sort. */
#define REC_PLACE_MAX 256

/* Widest scan in use: 0 SSE2, 1 AVX2, 2 AVX-512; -1 until first chosen. */
static int simd_level = -1;

int rec_topk_simd(int want)
{
    int have = 0;
#ifdef REC_X86_DISPATCH
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
#endif
    simd_level = want < 0 || want > have ? have : want;
    return simd_level;
}

static skip_fn pick_skip(void)
{
    if (simd_level < 0) rec_topk_simd(-1);
#ifdef REC_X86_DISPATCH
    if (simd_level == 2) return skip_avx512;
    if (simd_level == 1) return skip_avx2;
#endif
    return skip_sse;
}

void rec_topk_feed(rec_topk_run *t, float *raw, int64_t i0, int64_t n, const uint16_t *excl,
                   const rp_model *m, int sign, int k)
{
    /* Sort on key = sign * raw: the score is a non-decreasing function of the key (negation is
     * exact, so raw = sign * key). */
    if (sign < 0)
        for (int64_t x = 0; x < n; x++) raw[x] = -raw[x];
    if (k <= 0) return;
    skip_fn skip = pick_skip();
    int64_t nfull = n / 16 * 16;
    /* The user's exclusion words of this tile left the cache while the other users of the
     * block were scanned: fetch them during the scan rather than at the first candidate. */
    if (excl != NULL)
        for (int64_t w = i0 >> 4; w <= (i0 + n - 1) >> 4; w += 32) __builtin_prefetch(excl + w);
    for (int64_t x = 0; x < n; x += 16) {
        if (x < nfull) x = skip(raw, x, nfull, t->kthr);
        if (x >= n) break;
        int len = n - x < 16 ? (int)(n - x) : 16;
        uint32_t ex = excl != NULL ? excl[(i0 + x) >> 4] : 0u; /* i0 is a multiple of 16 */
        rec_topk_take(t, raw + x, i0 + x, len, above_mask(raw + x, len, t->kthr) & ~ex, ex, m,
                      sign, k);
    }
}

void rec_topk_take(rec_topk_run *t, const float *key, int64_t i0, int len, uint32_t bits,
                   uint32_t ex, const rp_model *m, int sign, int k)
{
    while (bits != 0) {
        int j = __builtin_ctz(bits);
        /* After a compaction the threshold may have risen: test the rest of the block again
         * (otherwise the same test would give the same bits). */
        if (offer(t, key[j], (int32_t)(i0 + j), m, sign, k))
            bits = above_mask(key, len, t->kthr) & ~ex & (~1u << j);
        else
            bits &= bits - 1;
    }
}

#ifdef REC_X86_DISPATCH
/* rec_topk_end for a few candidates: each one's place in the output is the number of
 * candidates ranked above it (ranks are distinct), counted 8 at a time; no selection, no sort,
 * no branch on the data but the final store. */
__attribute__((target("avx512f,popcnt"))) static void place_avx512(const rec_entry *ent, int n,
                                                                   int k, int32_t *idx,
                                                                   float *val)
{
    uint64_t rk[REC_PLACE_MAX];
    int n8 = (n + 7) / 8 * 8;
    /* Padding rank 0 is below every candidate's (the complemented index is never 0). */
    for (int j = 0; j < n8; j++) rk[j] = j < n ? ent[j].rank : 0;
    for (int i = 0; i < n; i++) {
        __m512i ri = _mm512_set1_epi64((long long)ent[i].rank);
        int pos = 0;
        for (int j = 0; j < n8; j += 8)
            pos += __builtin_popcount(_mm512_cmpgt_epu64_mask(_mm512_loadu_si512(rk + j), ri));
        if (pos < k) {
            idx[pos] = (int32_t)~(uint32_t)ent[i].rank;
            val[pos] = ent[i].score;
        }
    }
    for (int r = n; r < k; r++) {
        idx[r] = -1;
        val[r] = NAN;
    }
}
#endif

void rec_topk_end(rec_topk_run *t, int k, int32_t *idx, float *val)
{
#ifdef REC_X86_DISPATCH
    if (simd_level < 0) rec_topk_simd(-1);
    if (simd_level == 2 && t->n <= REC_PLACE_MAX) {
        place_avx512(t->ent, t->n, k, idx, val);
        t->n = 0;
        return;
    }
#endif
    compact(t, k);
    sort_best_first(t->ent, t->n);
    for (int r = 0; r < k; r++) {
        idx[r] = r < t->n ? (int32_t)~(uint32_t)t->ent[r].rank : -1;
        val[r] = r < t->n ? t->ent[r].score : NAN;
    }
    t->n = 0;
}

int64_t rec_tile_width(int64_t nu, int64_t n_items, int k)
{
    /* The candidate buffers of a whole user block must stay small (K up to 100,000 is allowed);
     * rp-recommend allocates one per block user under the same test. */
    if ((double)RP_MODEL_USER_BLOCK * REC_RUN_CAP(k) * REC_HEAP_ENTRY_BYTES > REC_HEAP_BYTES ||
        nu <= 0)
        return n_items;
    int64_t w = REC_TILE_BYTES / ((int64_t)sizeof(float) * nu) / 16 * 16;
    if (w < 16 || w >= n_items) return n_items;
    int64_t last = n_items % w ? n_items % w : w;
    /* OpenBLAS (0.3.21, x86-64) sends a transposed-A GEMM with M * N <= 1200 (and K >= 32) to
     * its small-matrix kernel, which sums over K in another order: every tile stays above it,
     * as the whole row does, so tiles give the bits of the untiled product (unit test). */
    return nu * last > REC_SMALL_GEMM_MN ? w : n_items;
}
