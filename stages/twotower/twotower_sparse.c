/* twotower_sparse.c - the embedding rows' part of an rp-twotower step: fixed-point row sums of a
 * rank's micro-batches, the owner-partitioned reduction (each row's sum goes to the one rank that
 * owns it, which alone runs Adam on it) and the exchange of the updated rows. */
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_fixed.h"
#include "rp_mpi.h"
#include "twotower.h"

static int fix_init(tt_fix *a, int64_t n_rows, int64_t cap, int E)
{
    int rc = RP_OK;
    memset(a, 0, sizeof *a);
    a->cap = cap < n_rows ? cap : n_rows;
    RP_ALLOC(a->slot = malloc((size_t)(n_rows > 0 ? n_rows : 1) * sizeof *a->slot));
    RP_ALLOC(a->rows = malloc((size_t)(a->cap + 1) * sizeof *a->rows));
    /* E = 8 rows of int64 are exactly one cache line each (aligned_alloc: a multiple of 64) */
    size_t nb = ((size_t)(a->cap + 1) * E * sizeof *a->vals + 63) / 64 * 64;
    RP_ALLOC(a->vals = aligned_alloc(64, nb));
    for (int64_t r = 0; r < n_rows; r++) a->slot[r] = -1;
cleanup:
    return rc;
}

static void fix_clear(tt_fix *a)
{
    free(a->slot);
    free(a->rows);
    free(a->vals);
    memset(a, 0, sizeof *a);
}

static void fix_reset(tt_fix *a)
{
    for (int64_t k = 0; k < a->nrows; k++) a->slot[a->rows[k]] = -1;
    a->nrows = 0;
}

/* The sum slot of `row` (a new zero one if the row is absent). */
static int64_t *fix_slot(tt_fix *a, int E, int32_t row)
{
    int32_t s = a->slot[row];
    if (s < 0) {
        s = (int32_t)a->nrows++;
        a->slot[row] = s;
        a->rows[s] = row;
        memset(a->vals + (size_t)s * E, 0, (size_t)E * sizeof *a->vals);
    }
    return a->vals + (size_t)s * E;
}

/* Records carry only a row's nonzero columns (for E <= 32): the id block's bias row is one
 * value and E - 1 zeros of padding, 40% of the rows a step touches with the defaults. */
static inline uint32_t mask_full(int E) { return E >= 32 ? 0xffffffffu : (1u << E) - 1u; }

static inline uint32_t mask_of_fix(const int64_t *v, int E)
{
    if (E > 32) return 0xffffffffu;
#ifdef __AVX2__
    if (E == 8) {
        __m256i z = _mm256_setzero_si256();
        __m256i lo = _mm256_cmpeq_epi64(_mm256_loadu_si256((const __m256i *)v), z);
        __m256i hi = _mm256_cmpeq_epi64(_mm256_loadu_si256((const __m256i *)(v + 4)), z);
        uint32_t zm = (uint32_t)_mm256_movemask_pd(_mm256_castsi256_pd(lo)) |
                      (uint32_t)_mm256_movemask_pd(_mm256_castsi256_pd(hi)) << 4;
        return ~zm & 0xffu;
    }
#endif
    uint32_t mask = 0;
    for (int q = 0; q < E; q++) mask |= (uint32_t)(v[q] != 0) << q;
    return mask;
}

/* Values in a record: the columns of the mask (all E beyond 32 columns). */
static inline int mask_count(uint32_t mask, int E)
{
    return E > 32 ? E : __builtin_popcount(mask);
}

/* A reduction record whose values all fit in int32 carries them as int32 pairs (for E < 32,
 * flagged by bit 31 of its mask): a step's sum of one row is a small multiple of 2^-40, so all
 * but ~1 record in 10^5 fit at the defaults, and half the words are half the bytes to pack,
 * move and add. The values are exact either way. */
#define REC_NARROW 0x80000000u

static inline int fix_fits32(const int64_t *v, int E)
{
    uint64_t out = 0;
    for (int q = 0; q < E; q++) out |= ((uint64_t)v[q] + 0x80000000u) >> 32;
    return out == 0;
}

/* Words of a record's values (after its header word). */
static inline int record_words(uint32_t mask, int E)
{
    if (E < 32 && (mask & REC_NARROW)) return (__builtin_popcount(mask & ~REC_NARROW) + 1) / 2;
    return mask_count(mask, E);
}

/* The users' id block and the receive buffer, sized from the rows this rank owns. */
static int sparse_users(tt_sparse *sp, const tt_sparse_shape *sh)
{
    int rc = RP_OK;
    int64_t n_own = 0;
    sp->ubase = sh->ubase;
    sp->nurows = sh->uspan > 0 ? sh->nurows : 0;
    sp->uspan = sh->uspan > 0 ? sh->uspan : 1;
    sp->nclass = sh->nclass > 0 ? sh->nclass : 1;
    if (sp->size == 1) return RP_OK;
    /* a sender's records are distinct rows this rank owns: at most min(cap, owned) each */
    for (int64_t r = 0; r < sp->n_rows; r++) n_own += twotower_sparse_owner(sp, r) == sp->rank;
    sp->grecv_cap = (sp->cap < n_own ? sp->cap : n_own) * (sp->size - 1) * (1 + sp->E);
    RP_ALLOC(sp->grecv = malloc((size_t)(sp->grecv_cap + 1) * sizeof *sp->grecv));
cleanup:
    return rc;
}

int twotower_sparse_init(tt_sparse *sp, const tt_sparse_shape *sh)
{
    int rc = RP_OK, size = sh->size, E = sh->E;
    int64_t n_rows = sh->n_rows, cap = sh->cap;
    memset(sp, 0, sizeof *sp);
    sp->rank = sh->rank;
    sp->size = size;
    sp->E = E;
    RP_CALL(fix_init(&sp->loc, n_rows, cap * size, E));
    RP_ALLOC(sp->sel = malloc((size_t)(sp->loc.cap + 1) * sizeof *sp->sel));
    RP_ALLOC(sp->foreign = malloc((size_t)(sp->loc.cap + 1) * sizeof *sp->foreign));
    RP_ALLOC(sp->seen = calloc((size_t)(n_rows + 64) / 64, sizeof *sp->seen));
    sp->n_rows = n_rows;
    sp->cap = cap;
    RP_CALL(sparse_users(sp, sh));
    if (size == 1) return RP_OK; /* the rank's sums are the step's: nothing moves */
    sp->wrecv_cap = (cap * size < n_rows ? cap * size : n_rows) * (2 + E);
    RP_ALLOC(sp->gsend = malloc((size_t)(cap + 1) * (1 + E) * sizeof *sp->gsend));
    RP_ALLOC(sp->wrecv = malloc((size_t)(sp->wrecv_cap + 1) * sizeof *sp->wrecv));
    RP_ALLOC(sp->counts = malloc((size_t)size * 2 * sizeof *sp->counts));
    RP_ALLOC(sp->reqs = malloc((size_t)size * sizeof *sp->reqs));
cleanup:
    if (rc != RP_OK) twotower_sparse_clear(sp);
    return rc;
}

void twotower_sparse_clear(tt_sparse *sp)
{
    fix_clear(&sp->loc);
    free(sp->sel);
    free(sp->foreign);
    free(sp->seen);
    free(sp->gsend);
    free(sp->grecv);
    free(sp->wrecv);
    free(sp->counts);
    free(sp->reqs);
    memset(sp, 0, sizeof *sp);
}

void twotower_sparse_begin(tt_sparse *sp)
{
    fix_reset(&sp->loc);
    sp->nforeign = 0;
    sp->nput = 0;
}

/* Prefetch the slot of row `ahead` and the sums of row `near` (if present): the rows arrive in
 * random order and the sums outgrow the core's cache. */
static inline void fix_prefetch(const tt_fix *a, int E, int32_t ahead, int32_t near)
{
    __builtin_prefetch(a->slot + ahead);
    int32_t s = a->slot[near];
    if (s >= 0) __builtin_prefetch(a->vals + (size_t)s * E, 1);
}

void twotower_sparse_add(tt_sparse *sp, const tt_grad *g)
{
    enum { AHEAD = 8 };
    int E = sp->E;
    for (int64_t k = 0; k < g->nrows; k++) {
        if (k + 2 * AHEAD < g->nrows)
            fix_prefetch(&sp->loc, E, g->rows[k + 2 * AHEAD], g->rows[k + AHEAD]);
        int64_t before = sp->loc.nrows;
        int64_t *dst = fix_slot(&sp->loc, E, g->rows[k]);
        /* a new row another rank owns: remembered for the packing (its slot is the last) */
        if (sp->loc.nrows != before && sp->size > 1 &&
            twotower_sparse_owner(sp, g->rows[k]) != sp->rank)
            sp->foreign[sp->nforeign++] = (int32_t)before;
        const float *v = g->vals + (size_t)k * E;
        for (int q = 0; q < E; q++) dst[q] += rp_fix_of(v[q]);
    }
}

/* Records [row | mask << 32, values of the mask (int64, or int32 pairs: REC_NARROW)] of the
 * rows of loc other ranks own, grouped by owner: counts and offsets in words. One pass over
 * the sums (they outgrow the core's cache): each owner's records go to a region sized for its
 * rows at full width, sent from its start with the words used. */
static void pack_by_owner(tt_sparse *sp, int *scnt, int *sdsp)
{
    const tt_fix *l = &sp->loc;
    int E = sp->E, size = sp->size;
    for (int p = 0; p < size; p++) scnt[p] = 0;
    for (int64_t f = 0; f < sp->nforeign; f++)
        scnt[twotower_sparse_owner(sp, l->rows[sp->foreign[f]])]++;
    for (int p = 0, off = 0; p < size; p++) {
        sdsp[p] = off;
        off += scnt[p] * (1 + E);
        scnt[p] = 0;
    }
    for (int64_t f = 0; f < sp->nforeign; f++) {
        int64_t k = sp->foreign[f];
        int p = twotower_sparse_owner(sp, l->rows[k]);
        const int64_t *v = l->vals + (size_t)k * E;
        int64_t *dst = sp->gsend + sdsp[p] + scnt[p];
        uint32_t mask = mask_of_fix(v, E);
        int n = 1;
        if (E < 32 && fix_fits32(v, E)) {
            int m = 0;
            for (int q = 0; q < E; q++)
                if (mask >> q & 1u) {
                    int32_t x = (int32_t)v[q];
                    memcpy((char *)(dst + 1) + 4 * m++, &x, 4);
                }
            if (m & 1) memset((char *)(dst + 1) + 4 * m++, 0, 4);
            n += m / 2;
            mask |= REC_NARROW;
        } else {
            for (int q = 0; q < E; q++)
                if (E > 32 || (mask >> q & 1u)) dst[n++] = v[q];
        }
        dst[0] = (int64_t)((uint64_t)(uint32_t)l->rows[k] | (uint64_t)mask << 32);
        scnt[p] += n;
    }
}

/* The record after the one at w. */
static inline const int64_t *record_next(const int64_t *w, int E)
{
    return w + 1 + record_words((uint32_t)((uint64_t)w[0] >> 32), E);
}

static inline int32_t record_row(const int64_t *w)
{
    return (int32_t)(uint32_t)((uint64_t)w[0] & 0xffffffffu);
}

/* Add the n received words of records at w to loc: this rank's sums of its rows become the
 * step's. Two cursors run ahead (the records' lengths vary) to prefetch slots and sums, as
 * twotower_sparse_add. */
static void add_received(tt_sparse *sp, const int64_t *w, int64_t n)
{
    enum { AHEAD = 8 };
    int E = sp->E;
    const int64_t *end = w + n, *near = w, *far = w;
    for (int k = 0; k < 2 * AHEAD && far < end; k++) {
        if (k < AHEAD) near = record_next(near, E);
        far = record_next(far, E);
    }
    while (w < end) {
        if (far < end) {
            fix_prefetch(&sp->loc, E, record_row(far), record_row(near));
            far = record_next(far, E);
            near = record_next(near, E);
        }
        int32_t row = record_row(w);
        uint32_t mask = (uint32_t)((uint64_t)w[0] >> 32);
        int64_t *dst = fix_slot(&sp->loc, E, row);
        if (E < 32 && (mask & REC_NARROW)) {
            const char *b = (const char *)(w + 1);
            for (int q = 0; q < E; q++)
                if (mask >> q & 1u) {
                    int32_t x;
                    memcpy(&x, b, 4);
                    b += 4;
                    dst[q] += x;
                }
            w = record_next(w, E);
            continue;
        }
        w++;
        for (int q = 0; q < E; q++)
            if (E > 32 || (mask >> q & 1u)) dst[q] += *w++;
    }
}

/* Put sel in ascending row order when the step's rows are dense enough in the table that a
 * scan of a bitmap of all rows costs less than it saves: the update then walks the weights and
 * the two moments (three tables) in order instead of at random, and the other ranks write the
 * shared rows in that order too. Each row is updated on its own, so the bits do not change. */
static void sel_in_row_order(tt_sparse *sp)
{
    const tt_fix *l = &sp->loc;
    int64_t nw = (sp->n_rows + 63) / 64, n = 0;
    if (sp->nsel < 2 || nw > sp->nsel) return;
    for (int64_t k = 0; k < sp->nsel; k++) {
        int32_t r = l->rows[sp->sel[k]];
        sp->seen[r >> 6] |= (uint64_t)1 << (r & 63);
    }
    for (int64_t w = 0; w < nw; w++) {
        uint64_t b = sp->seen[w];
        sp->seen[w] = 0;
        for (; b != 0; b &= b - 1) sp->sel[n++] = l->slot[w * 64 + __builtin_ctzll(b)];
    }
}

/* One exchange of a step: send words scnt[p] of the block at sdsp[p] of send to each other rank
 * p, and receive the other ranks' blocks in turn, from the previous rank back, each into
 * recv + *total with its size from MPI_Probe (at most cap words in all), handing each to
 * take(sp, block, words, arg) as it arrives; then wait for the sends. Point-to-point: the
 * exchange needs no collective for its counts, and a rank works on one sender's block while the
 * others' are still arriving. Messages of one tag from one sender arrive in order, so
 * consecutive steps cannot mix. */
static int exchange_blocks(MPI_Comm comm, tt_sparse *sp, MPI_Datatype t, size_t word_bytes,
                           const void *send, const int *scnt, const int *sdsp, void *recv,
                           int64_t cap, int tag,
                           void (*take)(tt_sparse *, const void *, int64_t, void *), void *arg,
                           int64_t *total)
{
    int rc = RP_OK, size = sp->size, rank = sp->rank;
    for (int p = 0; p < size; p++) sp->reqs[p] = MPI_REQUEST_NULL;
    for (int k = 1; k < size; k++) {
        int p = (rank + k) % size;
        RP_MPI(MPI_Isend((const char *)send + (size_t)sdsp[p] * word_bytes, scnt[p], t, p, tag,
                         comm, &sp->reqs[p]));
    }
    for (int k = 1; k < size; k++) {
        int p = (rank + size - k) % size, n = 0;
        MPI_Status st;
        RP_MPI(MPI_Probe(p, tag, comm, &st));
        RP_MPI(MPI_Get_count(&st, t, &n));
        /* the capacity holds the most all senders can send: a shortfall is a bug */
        RP_REQUIRE(*total + n <= cap, RP_ERR_INTERNAL, "sparse exchange of %lld words over "
                   "its capacity %lld", (long long)(*total + n), (long long)cap);
        char *dst = (char *)recv + (size_t)*total * word_bytes;
        RP_MPI(MPI_Recv(dst, n, t, p, tag, comm, MPI_STATUS_IGNORE));
        take(sp, dst, n, arg);
        *total += n;
    }
    RP_MPI(MPI_Waitall(size, sp->reqs, MPI_STATUSES_IGNORE));
cleanup:
    return rc;
}

static void take_records(tt_sparse *sp, const void *block, int64_t n, void *arg)
{
    (void)arg;
    add_received(sp, block, n);
}

int twotower_sparse_reduce(MPI_Comm comm, tt_sparse *sp, double *bytes)
{
    int rc = RP_OK, size = sp->size;
    int64_t total = 0;
    sp->nsel = 0;
    if (size == 1) {
        for (int64_t k = 0; k < sp->loc.nrows; k++) sp->sel[sp->nsel++] = (int32_t)k;
        sel_in_row_order(sp);
        return RP_OK;
    }
    /* each owner's region of gsend goes to it as one message */
    int *scnt = sp->counts, *sdsp = scnt + size;
    pack_by_owner(sp, scnt, sdsp);
    RP_CALL(exchange_blocks(comm, sp, MPI_INT64_T, sizeof(int64_t), sp->gsend, scnt, sdsp,
                            sp->grecv, sp->grecv_cap, TT_TAG_REDUCE, take_records, NULL,
                            &total));
    *bytes += (double)total * sizeof(int64_t);
    /* every slot but the foreign ones (ascending) is a row this rank owns */
    for (int64_t k = 0, f = 0; k < sp->loc.nrows; k++) {
        if (f < sp->nforeign && sp->foreign[f] == k) f++;
        else sp->sel[sp->nsel++] = (int32_t)k;
    }
    sel_in_row_order(sp);
cleanup:
    return rc;
}

/* Write the records of [w, end) into emb (columns outside a record's mask are +0). */
static void unpack_updated(const uint32_t *w, const uint32_t *end, int E, float *emb)
{
    while (w < end) {
        uint32_t *dst = (uint32_t *)(emb + (size_t)w[0] * E), mask = w[1];
        w += 2;
        if (mask == mask_full(E) || E > 32) {
            memcpy(dst, w, (size_t)E * sizeof *w);
            w += E;
            continue;
        }
        for (int q = 0; q < E; q++) dst[q] = (mask >> q & 1u) ? *w++ : 0u;
    }
}

/* The updated rows of one other rank, written into the table emb. */
static void take_rows(tt_sparse *sp, const void *block, int64_t n, void *emb)
{
    unpack_updated(block, (const uint32_t *)block + n, sp->E, emb);
}

int twotower_sparse_share(MPI_Comm comm, tt_sparse *sp, float *emb, double *bytes)
{
    int rc = RP_OK, size = sp->size, nown = 0;
    int *cnt = sp->counts, *dsp = cnt + size;
    int64_t total = 0;
    if (size == 1) return RP_OK;
    /* this rank's records, at the start of wrecv (twotower_sparse_put), go to every other rank;
     * theirs follow them */
    RP_CALL(rp_int_cast(sp->nput, &nown));
    for (int p = 0; p < size; p++) {
        cnt[p] = nown;
        dsp[p] = 0;
    }
    total = sp->nput;
    RP_CALL(exchange_blocks(comm, sp, MPI_UINT32_T, sizeof(uint32_t), sp->wrecv, cnt, dsp,
                            sp->wrecv, sp->wrecv_cap, TT_TAG_SHARE, take_rows, emb, &total));
    *bytes += (double)total * sizeof(uint32_t);
cleanup:
    return rc;
}
/* Rows [r0, r1) of a [n_rows, E] array whole on every rank, each row from its owner: other
 * owners' rows are stale here, so they are zeroed and a bitwise OR gives the owners' values. */
static int rows_from_owners(MPI_Comm comm, const tt_sparse *sp, int64_t r0, int64_t r1, float *a)
{
    int rc = RP_OK, E = sp->E;
    for (int64_t r = r0; r < r1; r++)
        if (twotower_sparse_owner(sp, r) != sp->rank)
            memset(a + (size_t)r * E, 0, (size_t)E * sizeof *a);
    for (int64_t done = r0 * E; done < r1 * E;) {
        int n = r1 * E - done < INT32_MAX / 2 ? (int)(r1 * E - done) : INT32_MAX / 2;
        RP_MPI(MPI_Allreduce(MPI_IN_PLACE, a + done, n, MPI_UINT32_T, MPI_BOR, comm));
        done += n;
    }
cleanup:
    return rc;
}

int twotower_sparse_gather_state(MPI_Comm comm, const tt_sparse *sp, int64_t n_rows, float *a)
{
    if (sp->size == 1) return RP_OK;
    return rows_from_owners(comm, sp, 0, n_rows, a);
}

int twotower_sparse_sync_users(MPI_Comm comm, const tt_sparse *sp, float *emb)
{
    if (sp->size == 1 || sp->nurows == 0) return RP_OK;
    return rows_from_owners(comm, sp, sp->ubase, sp->ubase + sp->nurows, emb);
}
