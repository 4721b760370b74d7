/* recommend_topk.c - top-K per user with a bounded heap (O(n log k), k entries of memory) and a
 * total order (score, then item index) so ties are broken the same way everywhere. */
#include <math.h>
#include <stdlib.h>

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
