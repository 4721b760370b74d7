/* shard_rows.c - rp-shard's row work on the owner of each user: the all-to-all to user owners,
 * sort, exact-duplicate removal, aggregation of repeat views, the per-user time split and the
 * outlier rule. Everything is ordered by keys of the data alone, so any rank count gives the
 * same pairs in the same order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "shard.h"

/* Count rows per destination and copy them, grouped by destination, into *send (byte counts
 * and displacements for the all-to-all). Local. */
static int pack_by_user_owner(const shard_row *rows, int64_t n, const int64_t *user_cuts, int size,
                              shard_row **send, int64_t *sc, int64_t *sd)
{
    int rc = RP_OK;
    int64_t *fill = NULL;
    RP_ALLOC(fill = calloc((size_t)size, sizeof *fill));
    RP_ALLOC(*send = malloc((size_t)(n + 1) * sizeof **send));
    for (int64_t k = 0; k < n; k++) sc[rp_part_owner(user_cuts, size, rows[k].user)]++;
    for (int p = 1; p < size; p++) fill[p] = fill[p - 1] + sc[p - 1];
    for (int64_t k = 0; k < n; k++) {
        int dest = rp_part_owner(user_cuts, size, rows[k].user);
        (*send)[fill[dest]++] = rows[k];
    }
    rp_mpi_byte_layout(size, sizeof(shard_row), sc, sd);
cleanup:
    free(fill);
    return rc;
}

int shard_exchange(MPI_Comm comm, shard_row **rows, int64_t *n, const int64_t *user_cuts)
{
    int rc = RP_OK;
    int size = 1;
    int64_t *cnt = NULL, *sc, *sd, *rcnt, *rd, total = 0; /* cnt holds the four count arrays */
    shard_row *send = NULL;
    void *recv = NULL;
    RP_MPI(MPI_Comm_size(comm, &size));
    if (size == 1) return RP_OK; /* every row is already home */
    cnt = rp_calloc(4 * (size_t)size, sizeof *cnt);
    RP_AGREE_LOCAL(comm, cnt == NULL);
    sc = cnt, sd = cnt + size, rcnt = cnt + 2 * size, rd = cnt + 3 * size;
    rc = pack_by_user_owner(*rows, *n, user_cuts, size, &send, sc, sd);
    RP_AGREE(comm, rc);
    free(*rows);
    *rows = NULL;
    RP_CALL(rp_mpi_alltoallv_bytes(comm, send, sc, sd, &recv, rcnt, rd, &total));
    *rows = recv;
    recv = NULL;
    *n = total / (int64_t)sizeof(shard_row);
cleanup:
    free(recv);
    free(send);
    free(cnt);
    return rc;
}

/* Time order with missing times first: the last view of a pair is then its latest. */
static int cmp_ts_nan_first(double a, double b)
{
    int na = isnan(a), nb = isnan(b);
    if (na || nb) return nb - na;
    return (a > b) - (a < b);
}

static int cmp_view(const void *pa, const void *pb)
{
    const shard_row *a = pa, *b = pb;
    if (a->item != b->item) return a->item < b->item ? -1 : 1;
    int c = cmp_ts_nan_first(a->ts, b->ts);
    if (c) return c;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return (a->wr > b->wr) - (a->wr < b->wr);
}

static int same_row(const shard_row *a, const shard_row *b)
{
    return a->item == b->item && a->hash == b->hash && a->wr == b->wr &&
           (a->ts == b->ts || (isnan(a->ts) && isnan(b->ts)));
}

/* A stable bottom-up merge sort with the comparison inlined (glibc's qsort calls through a
 * pointer per comparison, which dominated the cleaning phase). tmp holds n elements. */
#define SHARD_MSORT(name, T, LESS)                                                          \
    static void name(T *a, int64_t n, T *tmp)                                               \
    {                                                                                       \
        for (int64_t lo = 0; lo < n; lo += 16) {                                            \
            int64_t hi = lo + 16 < n ? lo + 16 : n;                                         \
            for (int64_t i = lo + 1; i < hi; i++) {                                         \
                T x = a[i];                                                                 \
                int64_t j = i;                                                              \
                for (; j > lo && LESS(&x, &a[j - 1]); j--) a[j] = a[j - 1];                 \
                a[j] = x;                                                                   \
            }                                                                               \
        }                                                                                   \
        T *src = a, *dst = tmp;                                                             \
        for (int64_t w = 16; w < n; w *= 2) {                                               \
            for (int64_t lo = 0; lo < n; lo += 2 * w) {                                     \
                int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n; \
                int64_t i = lo, j = mid, k = lo;                                            \
                while (i < mid && j < hi) dst[k++] = LESS(&src[j], &src[i]) ? src[j++] : src[i++]; \
                while (i < mid) dst[k++] = src[i++];                                        \
                while (j < hi) dst[k++] = src[j++];                                         \
            }                                                                               \
            T *t = src;                                                                     \
            src = dst;                                                                      \
            dst = t;                                                                        \
        }                                                                                   \
        if (src != a) memcpy(a, src, (size_t)n * sizeof *a);                                \
    }

static inline int view_less(const shard_row *a, const shard_row *b)
{
    return cmp_view(a, b) < 0;
}
SHARD_MSORT(sort_views, shard_row, view_less)

/* One user's rows by (item, time, hash, watch_ratio): a stable LSD radix sort on the item
 * (8-bit digits, as many as the largest item needs: two for KuaiRec), then the views of each
 * item, mostly one to three, by insertion (a merge sort for a pair viewed very often). About a
 * third of the comparisons-and-moves of merge-sorting the whole user. tmp holds n rows. */
static void sort_user_views(shard_row *a, int64_t n, shard_row *tmp)
{
    int32_t imax = 0;
    for (int64_t k = 0; k < n; k++)
        if (a[k].item > imax) imax = a[k].item;
    shard_row *src = a, *dst = tmp;
    for (int shift = 0; shift == 0 || (shift < 32 && (imax >> shift) != 0); shift += 8) {
        int64_t cnt[257] = {0};
        for (int64_t k = 0; k < n; k++) cnt[((uint32_t)src[k].item >> shift & 255u) + 1]++;
        for (int d = 0; d < 256; d++) cnt[d + 1] += cnt[d];
        for (int64_t k = 0; k < n; k++) dst[cnt[(uint32_t)src[k].item >> shift & 255u]++] = src[k];
        shard_row *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
    for (int64_t k = 0, e; k < n; k = e) {
        for (e = k + 1; e < n && a[e].item == a[k].item; e++) {}
        if (e - k > 32) {
            sort_views(a + k, e - k, tmp);
            continue;
        }
        for (int64_t i = k + 1; i < e; i++) {
            shard_row x = a[i];
            int64_t j = i;
            for (; j > k && view_less(&x, &a[j - 1]); j--) a[j] = a[j - 1];
            a[j] = x;
        }
    }
}

/* In-place bucket sort by user (American flag sort: no second copy of the rows), then each
 * user's rows by (item, time, hash), which makes the order independent of the arrival order. */
static int sort_rows(shard_row *rows, int64_t n)
{
    int rc = RP_OK;
    int64_t *next = NULL, *end = NULL;
    shard_row *tmp = NULL;
    if (n == 0) return RP_OK;
    int32_t umin = rows[0].user, umax = umin;
    for (int64_t k = 1; k < n; k++) {
        if (rows[k].user < umin) umin = rows[k].user;
        if (rows[k].user > umax) umax = rows[k].user;
    }
    int64_t nu = (int64_t)umax - umin + 1;
    RP_ALLOC(next = calloc((size_t)nu + 1, sizeof *next));
    RP_ALLOC(end = calloc((size_t)nu + 1, sizeof *end));
    for (int64_t k = 0; k < n; k++) end[rows[k].user - umin]++;
    for (int64_t u = 0, acc = 0; u < nu; u++) {
        next[u] = acc;
        acc += end[u];
        end[u] = acc;
    }
    for (int64_t b = 0; b < nu; b++) {
        while (next[b] < end[b]) {
            int64_t d = rows[next[b]].user - umin;
            if (d == b) {
                next[b]++;
                continue;
            }
            shard_row t = rows[next[d]];
            rows[next[d]++] = rows[next[b]];
            rows[next[b]] = t;
        }
    }
    int64_t most = 0;
    for (int64_t b = 0; b < nu; b++) {
        int64_t len = end[b] - (b ? end[b - 1] : 0);
        if (len > most) most = len;
    }
    RP_ALLOC(tmp = malloc((size_t)(most + 1) * sizeof *tmp));
    for (int64_t k = 0, e; k < n; k = e) {
        for (e = k + 1; e < n && rows[e].user == rows[k].user; e++) {}
        sort_user_views(rows + k, e - k, tmp);
    }
cleanup:
    free(tmp);
    free(end);
    free(next);
    return rc;
}

int shard_aggregate(shard_row *rows, int64_t n, const shard_opts *opt, shard_pair **pairs,
                    int64_t *npairs)
{
    int rc = RP_OK;
    int64_t np = 0;
    RP_CALL(sort_rows(rows, n));
    /* Pairs overwrite rows in place: pair j is written after rows >= j were read. */
    for (int64_t k = 0, e; k < n; k = e) {
        shard_pair p = {rows[k].user, rows[k].item, NAN, 0.0, 0, 0};
        double sum = 0.0;
        for (e = k; e < n && rows[e].user == p.user && rows[e].item == p.item; e++) {
            if (opt->dedup && e > k && same_row(&rows[e], &rows[e - 1])) {
                p.dups++;
                continue;
            }
            p.views++;
            sum += rows[e].wr;
            p.wr = rows[e].wr; /* the latest so far */
            if (!isnan(rows[e].ts)) p.ts = rows[e].ts;
        }
        if (opt->repeat_rule == SHARD_REP_MEAN) p.wr = sum / p.views;
        memcpy((char *)rows + (size_t)np * sizeof p, &p, sizeof p);
        np++;
    }
    *pairs = (shard_pair *)(void *)rows;
    rows = NULL;
    if (np > 0) {
        shard_pair *shrunk = realloc(*pairs, (size_t)np * sizeof **pairs);
        if (shrunk) *pairs = shrunk;
    }
    *npairs = np;
cleanup:
    free(rows);
    return rc;
}

int64_t shard_n_valid(int64_t n, double frac)
{
    /* The epsilon keeps products like 0.1 * 25 = 2.5000000000000004 or 0.29 * 100 =
     * 28.999999999999996 on the side a decimal reader expects. */
    int64_t v = (int64_t)floor((double)n * frac + 0.5 + 1e-9);
    return v < 0 ? 0 : (v > n ? n : v);
}

/* The by-user order is time with missing times last, then item. A pair's place in it as
 * integers: the timestamp's bits mapped so that unsigned order is numeric order (-0 as +0, NaN
 * after every number), then the item. Sorting these 16-byte keys and moving each 32-byte pair
 * once is cheaper than merging the pairs themselves with a double comparison and two isnan
 * tests per step. */
typedef struct time_key {
    uint64_t ts;
    int32_t item;
    int32_t at; /* the pair's index within its user */
} time_key;

static uint64_t ts_order_bits(double ts)
{
    if (isnan(ts)) return UINT64_MAX;
    ts += 0.0; /* -0 -> +0: they compare equal */
    uint64_t b;
    memcpy(&b, &ts, sizeof b);
    return b >> 63 ? ~b : b | (1ULL << 63);
}

static inline int key_less(const time_key *a, const time_key *b)
{
    return a->ts != b->ts ? a->ts < b->ts : a->item < b->item;
}
SHARD_MSORT(sort_time_keys, time_key, key_less)

static int sort_users_by_time(shard_pair *p, int64_t n)
{
    int rc = RP_OK;
    time_key *key = NULL, *tmp = NULL;
    shard_pair *moved = NULL;
    int64_t most = 0;
    for (int64_t k = 0, e; k < n; k = e) {
        for (e = k + 1; e < n && p[e].user == p[k].user; e++) {}
        if (e - k > most) most = e - k;
    }
    RP_ALLOC(key = malloc((size_t)(most + 1) * sizeof *key));
    RP_ALLOC(tmp = malloc((size_t)(most + 1) * sizeof *tmp));
    RP_ALLOC(moved = malloc((size_t)(most + 1) * sizeof *moved));
    for (int64_t k = 0, e; k < n; k = e) {
        for (e = k + 1; e < n && p[e].user == p[k].user; e++) {}
        int64_t m = e - k;
        for (int64_t j = 0; j < m; j++)
            key[j] = (time_key){ts_order_bits(p[k + j].ts), p[k + j].item, (int32_t)j};
        sort_time_keys(key, m, tmp);
        for (int64_t j = 0; j < m; j++) moved[j] = p[k + key[j].at];
        memcpy(p + k, moved, (size_t)m * sizeof *moved);
    }
cleanup:
    free(moved);
    free(tmp);
    free(key);
    return rc;
}

double shard_target(double wr, const shard_opts *opt, int split)
{
    if (split != SHARD_TEST && opt->outlier_rule == SHARD_OUT_CLIP && wr > opt->outlier_max)
        return opt->outlier_max;
    return wr;
}

float shard_value(double target, double nmin, double nmax)
{
    double v = nmax > nmin ? (target - nmin) / (nmax - nmin) : (target > nmin ? 1.0 : 0.0);
    return (float)(v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v));
}

/* Count a pair into its split; returns 1 if the outlier rule drops it. */
static int account(shard_counts *c, const shard_pair *p, const shard_opts *opt, int apply_rule)
{
    c->read += p->views + p->dups;
    c->duplicate += p->dups;
    c->aggregated += p->views - 1;
    int out = apply_rule && opt->outlier_rule != SHARD_OUT_NONE && p->wr > opt->outlier_max;
    c->outlier += out;
    int drop = out && opt->outlier_rule == SHARD_OUT_DROP;
    c->kept += !drop;
    return drop;
}

int shard_split_pairs(shard_pair *pairs, int64_t n, const shard_opts *opt, shard_split *train,
                      shard_split *valid)
{
    int rc = RP_OK;
    shard_pair *v = NULL;
    int64_t nt = 0, nv = 0;
    int64_t want = 0;
    RP_CALL(sort_users_by_time(pairs, n));
    for (int64_t k = 0, e; k < n; k = e) {
        for (e = k + 1; e < n && pairs[e].user == pairs[k].user; e++) {}
        want += shard_n_valid(e - k, opt->valid_frac);
    }
    RP_ALLOC(v = malloc((size_t)(want + 1) * sizeof *v));
    /* Train pairs compact in place at the front; valid pairs go to their own array. */
    for (int64_t k = 0, e; k < n; k = e) {
        for (e = k + 1; e < n && pairs[e].user == pairs[k].user; e++) {}
        int64_t first_valid = e - shard_n_valid(e - k, opt->valid_frac);
        for (int64_t j = k; j < e; j++) {
            shard_split *s = j < first_valid ? train : valid;
            if (account(&s->counts, &pairs[j], opt, 1)) continue;
            if (j < first_valid) pairs[nt++] = pairs[j];
            else v[nv++] = pairs[j];
        }
    }
    train->pairs = pairs;
    train->n = nt;
    valid->pairs = v;
    valid->n = nv;
    v = NULL;
cleanup:
    free(v);
    if (rc != RP_OK) free(pairs);
    return rc;
}

int shard_finish_test(shard_pair *pairs, int64_t n, shard_split *test)
{
    int rc = RP_OK;
    shard_opts none;
    shard_opts_defaults(&none);
    RP_CALL(sort_users_by_time(pairs, n));
    for (int64_t k = 0; k < n; k++) account(&test->counts, &pairs[k], &none, 0);
    test->pairs = pairs;
    test->n = n;
    pairs = NULL;
cleanup:
    free(pairs);
    return rc;
}
