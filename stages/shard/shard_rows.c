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

/* Group the rows by destination in place (American flag sort over the ranks: no second copy
 * of the rows). Out: sc[p] rows for rank p, starting at row sd[p]. Local. */
static void group_by_owner(shard_row *rows, int64_t n, const int64_t *user_cuts, int size,
                           int64_t *sc, int64_t *sd, int64_t *next)
{
    for (int64_t k = 0; k < n; k++) sc[rp_part_owner(user_cuts, size, rows[k].user)]++;
    for (int p = 0; p < size; p++) {
        sd[p] = p ? sd[p - 1] + sc[p - 1] : 0;
        next[p] = sd[p];
    }
    for (int b = 0; b < size; b++) {
        int64_t end = sd[b] + sc[b];
        while (next[b] < end) {
            int d = rp_part_owner(user_cuts, size, rows[next[b]].user);
            if (d == b) {
                next[b]++;
                continue;
            }
            shard_row t = rows[next[d]];
            rows[next[d]++] = rows[next[b]];
            rows[next[b]] = t;
        }
    }
}

int shard_exchange(MPI_Comm comm, shard_row **rows, int64_t *n, int64_t cap,
                   const int64_t *user_cuts)
{
    int rc = RP_OK;
    int size = 1, rank = 0;
    int64_t *cnt = NULL, *sc, *sd, *rcnt, *rd, total = 0; /* cnt holds the five count arrays */
    shard_row *grown = NULL;
    void *recv = NULL;
    RP_MPI(MPI_Comm_size(comm, &size));
    RP_MPI(MPI_Comm_rank(comm, &rank));
    if (size == 1) return RP_OK; /* every row is already home */
    cnt = rp_calloc(5 * (size_t)size, sizeof *cnt);
    RP_AGREE_LOCAL(comm, cnt == NULL);
    sc = cnt, sd = cnt + size, rcnt = cnt + 2 * size, rd = cnt + 3 * size;
    group_by_owner(*rows, *n, user_cuts, size, sc, sd, cnt + 4 * size);
    /* The rows that stay are not sent to ourselves: with rows read in user order (the real
     * files) most of a rank's rows are its own, and only the rest travel. */
    int64_t keep = sc[rank], keep_at = sd[rank];
    sc[rank] = 0;
    for (int p = 0; p < size; p++) {
        sc[p] *= (int64_t)sizeof(shard_row);
        sd[p] *= (int64_t)sizeof(shard_row);
    }
    RP_CALL(rp_mpi_alltoallv_bytes(comm, *rows, sc, sd, &recv, rcnt, rd, &total));
    int64_t nrecv = total / (int64_t)sizeof(shard_row);
    if (keep > 0) memmove(*rows, *rows + keep_at, (size_t)keep * sizeof **rows);
    int grow = keep + nrecv > cap || *rows == NULL; /* rarely: densifying left cap - n rows */
    if (grow) grown = rp_realloc(*rows, (size_t)(keep + nrecv + 1) * sizeof **rows);
    RP_AGREE_LOCAL(comm, grow && grown == NULL);
    if (grow) *rows = grown;
    if (total > 0) memcpy(*rows + keep, recv, (size_t)total);
    *n = keep + nrecv;
cleanup:
    free(recv);
    free(cnt);
    return rc;
}

/* Time order with missing times first: the last view of a pair is then its latest. -0 and +0
 * compare equal. */
static int cmp_ts_nan_first(double a, double b)
{
    int na = isnan(a), nb = isnan(b);
    if (na || nb) return nb - na;
    return (a > b) - (a < b);
}

/* The view order within a user: time (missing first), item, line hash, watch_ratio. Restricted
 * to one item it is the order in which a pair's views are merged; over the whole user it also
 * visits each pair's last view in the by-user order of the pairs (time, then item). Rows equal
 * in every key are equal in every field. */
static inline int view_less(const shard_row *a, const shard_row *b)
{
    int c = cmp_ts_nan_first(a->ts, b->ts);
    if (c) return c < 0;
    if (a->item != b->item) return a->item < b->item;
    if (a->hash != b->hash) return a->hash < b->hash;
    return a->wr < b->wr;
}

static int same_row(const shard_row *a, const shard_row *b)
{
    return a->item == b->item && a->hash == b->hash && a->wr == b->wr &&
           (a->ts == b->ts || (isnan(a->ts) && isnan(b->ts)));
}

/* A stable bottom-up merge sort with the comparison inlined (glibc's qsort calls through a
 * pointer per comparison). tmp holds n elements. */
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

SHARD_MSORT(sort_views, shard_row, view_less)

/* One user's rows in view order. The real files list each user's rows by time, so mostly this
 * is one pass that finds them sorted already. tmp holds n rows. */
static void sort_user_views(shard_row *a, int64_t n, shard_row *tmp)
{
    for (int64_t k = 1; k < n; k++) {
        if (view_less(&a[k], &a[k - 1])) {
            sort_views(a, n, tmp);
            return;
        }
    }
}

/* In-place bucket sort by user (American flag sort: no second copy of the rows). Out: *most,
 * the largest user's row count; *imax, the largest item. */
static int group_by_user(shard_row *rows, int64_t n, int64_t *most, int32_t *imax)
{
    int rc = RP_OK;
    int64_t *next = NULL, *end = NULL;
    int32_t umin = rows[0].user, umax = umin, im = 0;
    for (int64_t k = 0; k < n; k++) {
        if (rows[k].user < umin) umin = rows[k].user;
        if (rows[k].user > umax) umax = rows[k].user;
        if (rows[k].item > im) im = rows[k].item;
    }
    int64_t nu = (int64_t)umax - umin + 1;
    RP_ALLOC(next = calloc((size_t)nu + 1, sizeof *next));
    RP_ALLOC(end = calloc((size_t)nu + 1, sizeof *end));
    for (int64_t k = 0; k < n; k++) end[rows[k].user - umin]++;
    *most = 0;
    for (int64_t u = 0, acc = 0; u < nu; u++) {
        if (end[u] > *most) *most = end[u];
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
    *imax = im;
cleanup:
    free(end);
    free(next);
    return rc;
}

/* The pair being merged for one item of the current user, and that item's previous view (for
 * the exact-duplicate test). left = views of the item still to come in this user. */
typedef struct pair_acc {
    double sum, wr, ts;
    double prev_ts, prev_wr;
    uint64_t prev_hash;
    int32_t left, views, dups;
} pair_acc;

static void acc_reset(pair_acc *a)
{
    *a = (pair_acc){0.0, 0.0, NAN, 0.0, 0.0, 0, 0, 0, 0};
}

/* Reverse p[0, n) (for the rotation below). */
static void reverse_pairs(shard_pair *p, int64_t n)
{
    for (int64_t i = 0, j = n - 1; i < j; i++, j--) {
        shard_pair t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* Merge one user's rows (in view order, at rows[k, e)) into pairs written from pairs[*np] on.
 * A pair is complete at its item's last view, so pairs come out in the order of their last
 * views: time, then item, except that the pairs whose views all lack a time come first; they
 * are rotated to the end (time NaN sorts last in the by-user order). */
static void merge_user(const shard_row *rows, int64_t k, int64_t e, pair_acc *acc,
                       const shard_opts *opt, shard_pair *pairs, int64_t *np)
{
    int64_t first = *np, n_nan = 0;
    for (int64_t j = k; j < e; j++) acc[rows[j].item].left++;
    for (int64_t j = k; j < e; j++) {
        shard_row r = rows[j]; /* pairs overwrite rows: read the row before writing */
        pair_acc *a = &acc[r.item];
        shard_row prev = {r.user, r.item, a->prev_ts, a->prev_wr, a->prev_hash};
        if (opt->dedup && a->views + a->dups > 0 && same_row(&r, &prev)) {
            a->dups++;
        } else {
            a->views++;
            a->sum += r.wr;
            a->wr = r.wr; /* the latest so far */
            if (!isnan(r.ts)) a->ts = r.ts;
        }
        a->prev_ts = r.ts;
        a->prev_wr = r.wr;
        a->prev_hash = r.hash;
        if (--a->left > 0) continue;
        double wr = opt->repeat_rule == SHARD_REP_MEAN ? a->sum / a->views : a->wr;
        shard_pair p = {r.user, r.item, a->ts, wr, a->views, a->dups};
        n_nan += isnan(p.ts);
        memcpy((char *)pairs + (size_t)(*np)++ * sizeof p, &p, sizeof p);
        acc_reset(a);
    }
    if (n_nan > 0 && n_nan < *np - first) { /* rotate [first, first + n_nan) to the end */
        reverse_pairs(pairs + first, n_nan);
        reverse_pairs(pairs + first + n_nan, *np - first - n_nan);
        reverse_pairs(pairs + first, *np - first);
    }
}

int shard_aggregate(shard_row *rows, int64_t n, const shard_opts *opt, shard_pair **pairs,
                    int64_t *npairs)
{
    int rc = RP_OK;
    int64_t np = 0, most = 0;
    int32_t imax = 0;
    shard_row *tmp = NULL;
    pair_acc *acc = NULL;
    if (n > 0) {
        RP_CALL(group_by_user(rows, n, &most, &imax));
        RP_ALLOC(tmp = malloc((size_t)(most + 1) * sizeof *tmp));
        RP_ALLOC(acc = malloc(((size_t)imax + 1) * sizeof *acc));
        for (int32_t i = 0; i <= imax; i++) acc_reset(&acc[i]);
    }
    /* Pairs overwrite rows in place: pair j is written after rows >= j were read. */
    for (int64_t k = 0, e; k < n; k = e) {
        for (e = k + 1; e < n && rows[e].user == rows[k].user; e++) {}
        sort_user_views(rows + k, e - k, tmp);
        merge_user(rows, k, e, acc, opt, (shard_pair *)(void *)rows, &np);
    }
    *pairs = (shard_pair *)(void *)rows;
    rows = NULL;
    if (np > 0) {
        shard_pair *shrunk = realloc(*pairs, (size_t)np * sizeof **pairs);
        if (shrunk) *pairs = shrunk;
    }
    *npairs = np;
cleanup:
    free(acc);
    free(tmp);
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

/* The by-user order is time with missing times last, then item (shard_aggregate's pairs are in
 * it already; the sort below is for pairs from elsewhere). A pair's place in it as
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

/* Whether pairs p[0, m) of one user are in by-user order already (shard_aggregate's are). */
static int in_time_order(const shard_pair *p, int64_t m)
{
    for (int64_t j = 1; j < m; j++) {
        time_key a = {ts_order_bits(p[j - 1].ts), p[j - 1].item, 0};
        time_key b = {ts_order_bits(p[j].ts), p[j].item, 0};
        if (key_less(&b, &a)) return 0;
    }
    return 1;
}

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
        if (in_time_order(p + k, m)) continue;
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
