/* shard_ids.c - raw KuaiRec ids -> dense indices shared by every split: the sorted union of the
 * ids of both files over all ranks (replicated; tens of thousands of ids), and a hash map for
 * the per-row lookup (a direct table when the ids span a small range, as KuaiRec's do). */
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_mpi.h"
#include "rp_records.h"
#include "shard.h"

/* Open addressing with linear probing; key -1 marks an empty slot (ids are >= 0). */
typedef struct idmap {
    int64_t *keys;
    int32_t *vals;
    size_t cap; /* power of two */
    size_t n;
} idmap;

static size_t slot_of(int64_t key, size_t cap)
{
    uint64_t x = (uint64_t)key * 0x9E3779B97F4A7C15ULL;
    return (size_t)((x ^ (x >> 29)) & (cap - 1));
}

static void idmap_clear(idmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int idmap_init(idmap *m, size_t want)
{
    int rc = RP_OK;
    size_t cap = 64;
    while (cap < 2 * want) cap *= 2;
    memset(m, 0, sizeof *m);
    RP_ALLOC(m->keys = malloc(cap * sizeof *m->keys));
    RP_ALLOC(m->vals = malloc(cap * sizeof *m->vals));
    memset(m->keys, 0xFF, cap * sizeof *m->keys);
    m->cap = cap;
cleanup:
    if (rc != RP_OK) idmap_clear(m);
    return rc;
}

/* Insert key (value v) if absent; grows at half load. */
static int idmap_put(idmap *m, int64_t key, int32_t v)
{
    int rc = RP_OK;
    if (2 * (m->n + 1) > m->cap) {
        idmap big;
        RP_CALL(idmap_init(&big, m->cap));
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i] >= 0) RP_CALL(idmap_put(&big, m->keys[i], m->vals[i]));
        idmap_clear(m);
        *m = big;
    }
    size_t s = slot_of(key, m->cap);
    while (m->keys[s] >= 0 && m->keys[s] != key) s = (s + 1) & (m->cap - 1);
    if (m->keys[s] < 0) {
        m->keys[s] = key;
        m->vals[s] = v;
        m->n++;
    }
cleanup:
    return rc;
}

static int32_t idmap_get(const idmap *m, int64_t key)
{
    size_t s = slot_of(key, m->cap);
    while (m->keys[s] >= 0) {
        if (m->keys[s] == key) return m->vals[s];
        s = (s + 1) & (m->cap - 1);
    }
    return -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t sort_unique(int64_t *v, int64_t n)
{
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    int64_t k = 1;
    for (int64_t i = 1; i < n; i++)
        if (v[i] != v[k - 1]) v[k++] = v[i];
    return k;
}

/* Ids spanning at most this many values (and not many more than the rows) are marked in a
 * byte table indexed by id - min instead of a hash map: KuaiRec's ids are small dense integers. */
#define SHARD_DIRECT_SPAN ((int64_t)1 << 24)

static int use_direct(int64_t lo, int64_t hi, int64_t nrows)
{
    return hi >= lo && hi - lo < SHARD_DIRECT_SPAN && hi - lo <= 4 * nrows + 65536;
}

/* The raw user (which == 0) or item id of row k of p. */
static inline int64_t row_id(const shard_parsed *p, int64_t k, int which)
{
    return shard_raw_id(p, which == 0 ? p->rows[k].user : p->rows[k].item);
}

/* The distinct ids of the rows of both files through a byte table over [lo, hi], sorted. */
static int direct_ids(const shard_parsed *const *f, int which, int64_t lo, int64_t hi,
                      int64_t **ids, int64_t *n)
{
    int rc = RP_OK;
    unsigned char *seen = NULL;
    RP_ALLOC(seen = calloc((size_t)(hi - lo) + 1, 1));
    for (int j = 0; j < 2; j++)
        for (int64_t i = 0; i < f[j]->n; i++) seen[row_id(f[j], i, which) - lo] = 1;
    int64_t k = 0;
    for (int64_t v = 0; v <= hi - lo; v++) k += seen[v];
    RP_ALLOC(*ids = malloc(((size_t)k + 1) * sizeof **ids));
    k = 0;
    for (int64_t v = 0; v <= hi - lo; v++)
        if (seen[v]) (*ids)[k++] = lo + v;
    *n = k;
cleanup:
    free(seen);
    return rc;
}

/* The distinct user (which == 0) or item ids of this rank's rows of both files, sorted. */
static int local_ids(const shard_parsed *const *f, int which, int64_t **ids, int64_t *n)
{
    int rc = RP_OK;
    idmap m = {0};
    int64_t lo = INT64_MAX, hi = -1;
    for (int j = 0; j < 2; j++) {
        for (int64_t i = 0; i < f[j]->n; i++) {
            int64_t v = row_id(f[j], i, which);
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    }
    if (use_direct(lo, hi, f[0]->n + f[1]->n)) return direct_ids(f, which, lo, hi, ids, n);
    RP_CALL(idmap_init(&m, 1024));
    for (int j = 0; j < 2; j++)
        for (int64_t i = 0; i < f[j]->n; i++) RP_CALL(idmap_put(&m, row_id(f[j], i, which), 0));
    RP_ALLOC(*ids = malloc((m.n + 1) * sizeof **ids));
    int64_t k = 0;
    for (size_t i = 0; i < m.cap; i++)
        if (m.keys[i] >= 0) (*ids)[k++] = m.keys[i];
    *n = sort_unique(*ids, k);
cleanup:
    idmap_clear(&m);
    return rc;
}

/* Union over ranks of sorted local id lists (allgatherv, then sort-unique on every rank). */
static int union_ids(MPI_Comm comm, const int64_t *mine, int64_t nmine, int64_t **all,
                     int64_t *nall)
{
    int rc = RP_OK;
    int64_t *buf = NULL, total = 0;
    RP_CALL(rp_records_allgather(comm, mine, nmine, sizeof *mine, (void **)&buf, &total));
    *nall = sort_unique(buf, total);
    *all = buf;
    buf = NULL;
cleanup:
    free(buf);
    return rc;
}

int shard_ids_build(MPI_Comm comm, const shard_parsed *a, const shard_parsed *b, int64_t **users,
                    int64_t *nu, int64_t **items, int64_t *ni)
{
    int rc = RP_OK;
    int64_t *lu = NULL, *li = NULL, nlu = 0, nli = 0;
    int64_t *gu = NULL, *gi = NULL, ngu = 0, ngi = 0;
    const shard_parsed *f[2] = {a, b};
    rc = local_ids(f, 0, &lu, &nlu);
    if (rc == RP_OK) rc = local_ids(f, 1, &li, &nli);
    RP_AGREE(comm, rc);
    RP_CALL(union_ids(comm, lu, nlu, &gu, &ngu));
    RP_CALL(union_ids(comm, li, nli, &gi, &ngi));
    if (ngu > INT32_MAX || ngi > INT32_MAX)
        RP_FAIL_USER0(RP_ERR_DATA, "%lld users / %lld videos: more than int32 indices allow",
                      (long long)ngu, (long long)ngi);
    *users = gu;
    *items = gi;
    *nu = ngu;
    *ni = ngi;
    gu = gi = NULL;
cleanup:
    free(gu);
    free(gi);
    free(lu);
    free(li);
    return rp_mpi_agree(comm, rc);
}

/* Raw id -> dense index: a table over [ids[0], ids[n-1]] when that span is small (see
 * use_direct), else the hash map. */
typedef struct densemap {
    int32_t *direct; /* [id - lo], -1 for ids not in the list */
    int64_t lo, hi;
    idmap hash;
} densemap;

static void densemap_clear(densemap *d)
{
    free(d->direct);
    idmap_clear(&d->hash);
    memset(d, 0, sizeof *d);
}

static int build_map(const int64_t *ids, int64_t n, densemap *d)
{
    int rc = RP_OK;
    memset(d, 0, sizeof *d);
    if (n > 0 && use_direct(ids[0], ids[n - 1], n)) {
        d->lo = ids[0];
        d->hi = ids[n - 1];
        RP_ALLOC(d->direct = malloc(((size_t)(d->hi - d->lo) + 1) * sizeof *d->direct));
        memset(d->direct, 0xFF, ((size_t)(d->hi - d->lo) + 1) * sizeof *d->direct);
        for (int64_t k = 0; k < n; k++) d->direct[ids[k] - d->lo] = (int32_t)k;
        return RP_OK;
    }
    RP_CALL(idmap_init(&d->hash, (size_t)n));
    for (int64_t k = 0; k < n; k++) RP_CALL(idmap_put(&d->hash, ids[k], (int32_t)k));
cleanup:
    return rc;
}

static inline int32_t densemap_get(const densemap *d, int64_t id)
{
    if (d->direct == NULL) return idmap_get(&d->hash, id);
    return id >= d->lo && id <= d->hi ? d->direct[id - d->lo] : -1;
}

int shard_ids_densify(shard_parsed *p, const int64_t *users, int64_t nu, const int64_t *items,
                      int64_t ni)
{
    int rc = RP_OK;
    densemap mu = {0}, mi = {0};
    RP_CALL(build_map(users, nu, &mu));
    RP_CALL(build_map(items, ni, &mi));
    for (int64_t k = 0; k < p->n; k++) {
        shard_row *w = &p->rows[k];
        int64_t u = shard_raw_id(p, w->user), i = shard_raw_id(p, w->item);
        w->user = densemap_get(&mu, u);
        w->item = densemap_get(&mi, i);
        RP_REQUIRE(w->user >= 0 && w->item >= 0, RP_ERR_INTERNAL, "id %lld/%lld not in the maps",
                   (long long)u, (long long)i);
    }
    free(p->wide); /* no coded ids left */
    p->wide = NULL;
    p->nwide = p->wide_cap = 0;
cleanup:
    densemap_clear(&mu);
    densemap_clear(&mi);
    return rc;
}
