/* recommend_topk.c - top-K per user with a bounded heap (O(n log k), k entries of memory) and a
 * total order (score, then item index) so ties are broken the same way everywhere. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
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

/* Min-heap of entries on "better" (root = worst kept), for rec_topk_monotone. */
static int ent_better(const rec_entry *a, const rec_entry *b) { return a->rank > b->rank; }

static void ent_sift_down(rec_entry *h, int n, int p)
{
    for (;;) {
        int l = 2 * p + 1, r = l + 1, w = p;
        if (l < n && ent_better(&h[w], &h[l])) w = l;
        if (r < n && ent_better(&h[w], &h[r])) w = r;
        if (w == p) return;
        rec_entry t = h[p];
        h[p] = h[w];
        h[w] = t;
        p = w;
    }
}

static void ent_sift_up(rec_entry *h, int c)
{
    while (c > 0) {
        int p = (c - 1) / 2;
        if (!ent_better(&h[p], &h[c])) return;
        rec_entry t = h[p];
        h[p] = h[c];
        h[c] = t;
        c = p;
    }
}

/* Index of the first i in [i, n) with key[i] above thr or NaN. This loop sees every product:
 * blocks of 16 are tested with four SSE comparisons (not-less-or-equal is also true for NaN),
 * which GCC -O2 does not produce from the plain loop. */
static int64_t next_candidate(const float *key, int64_t i, int64_t n, float thr)
{
#ifdef __SSE2__
    __m128 t = _mm_set1_ps(thr);
    for (; i + 16 <= n; i += 16) {
        __m128 a = _mm_cmpnle_ps(_mm_loadu_ps(key + i), t);
        __m128 b = _mm_cmpnle_ps(_mm_loadu_ps(key + i + 4), t);
        __m128 c = _mm_cmpnle_ps(_mm_loadu_ps(key + i + 8), t);
        __m128 d = _mm_cmpnle_ps(_mm_loadu_ps(key + i + 12), t);
        if (_mm_movemask_ps(_mm_or_ps(_mm_or_ps(a, b), _mm_or_ps(c, d))) != 0) break;
    }
#else
    for (; i + 16 <= n; i += 16) {
        int hit = 0;
        for (int j = 0; j < 16; j++) hit |= !(key[i + j] <= thr);
        if (hit) break;
    }
#endif
    while (i < n && key[i] <= thr) i++;
    return i;
}

void rec_topk_monotone(float *raw, int64_t n, const rp_model *m, int sign, const uint32_t *mark,
                       uint32_t stamp, int k, rec_entry *heap, int32_t *idx, float *val)
{
    /* Sort on key = sign * raw: the score is a non-decreasing function of the key (negation is
     * exact, so raw = sign * key). */
    if (sign < 0)
        for (int64_t i = 0; i < n; i++) raw[i] = -raw[i];
    int size = 0;
    /* Invariant once the heap is full: every key <= kthr scores at most the root's score, and
     * an equal score loses to the root (lower item index: items come in index order). NaN
     * disables the shortcut (heap not full, or a NaN score kept). */
    float kthr = NAN;
    for (int64_t i = 0; i < n && k > 0; i++) {
        if (size == k) {
            i = next_candidate(raw, i, n, kthr);
            if (i >= n) break;
        }
        if (mark != NULL && mark[i] == stamp) continue;
        float key = raw[i];
        float sc = rp_model_dot_finish(m, sign < 0 ? -key : key);
        rec_entry e = {rank_key(sc, (int32_t)i), sc, key, (int32_t)i};
        if (size < k) {
            heap[size] = e;
            ent_sift_up(heap, size++);
            if (size == k && !isnan(heap[0].score)) kthr = heap[0].key;
        } else if (ent_better(&e, &heap[0])) {
            heap[0] = e;
            ent_sift_down(heap, size, 0);
            /* The root's score only rises, so an older threshold stays valid. */
            if (!isnan(heap[0].score) && !(heap[0].key <= kthr)) kthr = heap[0].key;
        } else if (!isnan(e.score) && !isnan(key)) {
            kthr = key; /* scores at most the root's (not better, a number): so do lower keys */
        }
    }
    for (int r = k - 1; r >= size; r--) {
        idx[r] = -1;
        val[r] = NAN;
    }
    while (size > 0) {
        idx[size - 1] = heap[0].item;
        val[size - 1] = heap[0].score;
        heap[0] = heap[--size];
        ent_sift_down(heap, size, 0);
    }
}
