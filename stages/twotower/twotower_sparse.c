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
    /* E = 8 rows of int64 are exactly one cache line each */
    RP_ALLOC(a->vals = aligned_alloc(64, ((size_t)(a->cap + 1) * E * sizeof *a->vals + 63) / 64 * 64));
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

static void fix_add(tt_fix *a, int E, int32_t row, const int64_t *v)
{
    int64_t *dst = fix_slot(a, E, row);
    for (int q = 0; q < E; q++) dst[q] += v[q];
}

/* Rows are dealt round-robin: whatever the tables' sizes, a step's touched rows spread evenly. */
static inline int owner_of(int64_t row, int size) { return (int)(row % size); }

int twotower_sparse_init(tt_sparse *sp, int rank, int size, int64_t n_rows, int64_t cap, int E)
{
    int rc = RP_OK;
    memset(sp, 0, sizeof *sp);
    sp->rank = rank;
    sp->size = size;
    sp->E = E;
    RP_CALL(fix_init(&sp->loc, n_rows, cap, E));
    if (size == 1) return RP_OK; /* the rank's sums are the step's: nothing moves */
    int64_t n_own = (n_rows + size - 1) / size, from = sp->loc.cap < n_own ? sp->loc.cap : n_own;
    RP_CALL(fix_init(&sp->own, n_rows, n_own, E));
    sp->grecv_cap = from * (size - 1);
    sp->wrecv_cap = sp->loc.cap * size < n_rows ? sp->loc.cap * size : n_rows;
    RP_ALLOC(sp->gsend = malloc((size_t)(sp->loc.cap + 1) * (1 + E) * sizeof *sp->gsend));
    RP_ALLOC(sp->grecv = malloc((size_t)(sp->grecv_cap + 1) * (1 + E) * sizeof *sp->grecv));
    RP_ALLOC(sp->wrecv = malloc((size_t)(sp->wrecv_cap + 1) * (1 + E) * sizeof *sp->wrecv));
    RP_ALLOC(sp->counts = malloc((size_t)size * 4 * sizeof *sp->counts));
cleanup:
    if (rc != RP_OK) twotower_sparse_clear(sp);
    return rc;
}

void twotower_sparse_clear(tt_sparse *sp)
{
    fix_clear(&sp->loc);
    fix_clear(&sp->own);
    free(sp->gsend);
    free(sp->grecv);
    free(sp->wrecv);
    free(sp->counts);
    memset(sp, 0, sizeof *sp);
}

void twotower_sparse_begin(tt_sparse *sp) { fix_reset(&sp->loc); }

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
        int64_t *dst = fix_slot(&sp->loc, E, g->rows[k]);
        const float *v = g->vals + (size_t)k * E;
        for (int q = 0; q < E; q++) dst[q] += rp_fix_of(v[q]);
    }
}

/* Counts and offsets (in words) of the records of loc for each other owner; own rows go straight
 * into sp->own. */
static void pack_by_owner(tt_sparse *sp, int *scnt, int *sdsp)
{
    const tt_fix *l = &sp->loc;
    int E = sp->E, rec = 1 + E, size = sp->size;
    for (int p = 0; p < size; p++) scnt[p] = 0;
    for (int64_t k = 0; k < l->nrows; k++) scnt[owner_of(l->rows[k], size)] += rec;
    scnt[sp->rank] = 0;
    for (int p = 0, off = 0; p < size; off += scnt[p], p++) sdsp[p] = off;
    for (int64_t k = 0; k < l->nrows; k++) {
        int p = owner_of(l->rows[k], size);
        const int64_t *v = l->vals + (size_t)k * E;
        if (p == sp->rank) {
            fix_add(&sp->own, E, l->rows[k], v);
            continue;
        }
        int64_t *dst = sp->gsend + sdsp[p];
        dst[0] = l->rows[k];
        memcpy(dst + 1, v, (size_t)E * sizeof *v);
        sdsp[p] += rec;
    }
    for (int p = 0; p < size; p++) sdsp[p] -= scnt[p];
}

int twotower_sparse_reduce(MPI_Comm comm, tt_sparse *sp, const tt_fix **rows, double *bytes)
{
    enum { AHEAD = 8 };
    int rc = RP_OK, size = sp->size, E = sp->E, rec = 1 + E;
    int *scnt = sp->counts, *sdsp = scnt + size, *rcnt = sdsp + size, *rdsp = rcnt + size;
    int64_t total = 0;
    *rows = &sp->loc;
    if (size == 1) return RP_OK;
    fix_reset(&sp->own);
    pack_by_owner(sp, scnt, sdsp);
    RP_MPI(MPI_Alltoall(scnt, 1, MPI_INT, rcnt, 1, MPI_INT, comm));
    for (int p = 0; p < size; p++) {
        rdsp[p] = (int)total;
        total += rcnt[p];
    }
    /* a sender's records are distinct rows this rank owns, so the capacity always holds them */
    RP_REQUIRE(total <= sp->grecv_cap * rec, RP_ERR_INTERNAL, "sparse reduction of %lld words "
               "over its capacity", (long long)total);
    RP_MPI(MPI_Alltoallv(sp->gsend, scnt, sdsp, MPI_INT64_T, sp->grecv, rcnt, rdsp, MPI_INT64_T,
                         comm));
    *bytes += (double)total * sizeof(int64_t);
    for (int64_t w = 0; w < total; w += rec) {
        if (w + 2 * AHEAD * rec < total)
            fix_prefetch(&sp->own, E, (int32_t)sp->grecv[w + 2 * AHEAD * rec],
                         (int32_t)sp->grecv[w + AHEAD * rec]);
        fix_add(&sp->own, E, (int32_t)sp->grecv[w], sp->grecv + w + 1);
    }
    *rows = &sp->own;
cleanup:
    return rc;
}

int twotower_sparse_share(MPI_Comm comm, tt_sparse *sp, float *emb, double *bytes)
{
    enum { AHEAD = 8 };
    int rc = RP_OK, size = sp->size, E = sp->E, rec = 1 + E, nown = 0;
    int *cnt = sp->counts, *dsp = cnt + size;
    int64_t total = 0;
    if (size == 1) return RP_OK;
    RP_CALL(rp_int_cast(sp->own.nrows * rec, &nown));
    RP_MPI(MPI_Allgather(&nown, 1, MPI_INT, cnt, 1, MPI_INT, comm));
    for (int p = 0; p < size; p++) {
        dsp[p] = (int)(total < INT32_MAX ? total : 0); /* an overflow fails below */
        total += cnt[p];
    }
    RP_REQUIRE(total <= sp->wrecv_cap * rec, RP_ERR_INTERNAL, "updated rows of %lld words over "
               "their capacity", (long long)total);
    /* records [row, E floats] as 32-bit words, this rank's written in place */
    for (int64_t k = 0; k < sp->own.nrows; k++) {
        uint32_t *dst = sp->wrecv + dsp[sp->rank] + k * rec;
        dst[0] = (uint32_t)sp->own.rows[k];
        memcpy(dst + 1, emb + (size_t)sp->own.rows[k] * E, (size_t)E * sizeof(float));
    }
    RP_MPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, sp->wrecv, cnt, dsp, MPI_UINT32_T,
                          comm));
    *bytes += (double)total * sizeof(uint32_t);
    for (int p = 0; p < size; p++) {
        if (p == sp->rank) continue;
        for (int64_t w = dsp[p], end = dsp[p] + cnt[p]; w < end; w += rec) {
            if (w + AHEAD * rec < end)
                __builtin_prefetch(emb + (size_t)sp->wrecv[w + AHEAD * rec] * E, 1);
            memcpy(emb + (size_t)sp->wrecv[w] * E, sp->wrecv + w + 1, (size_t)E * sizeof(float));
        }
    }
cleanup:
    return rc;
}

int twotower_sparse_gather_state(MPI_Comm comm, const tt_sparse *sp, int64_t n_rows, float *a)
{
    int rc = RP_OK, size = sp->size, E = sp->E;
    if (size == 1) return RP_OK;
    /* other owners' rows are stale here: zero them, and the bitwise OR is the owners' values */
    for (int64_t r = 0; r < n_rows; r++)
        if (owner_of(r, size) != sp->rank) memset(a + (size_t)r * E, 0, (size_t)E * sizeof *a);
    for (int64_t done = 0; done < n_rows * E;) {
        int n = n_rows * E - done < INT32_MAX / 2 ? (int)(n_rows * E - done) : INT32_MAX / 2;
        RP_MPI(MPI_Allreduce(MPI_IN_PLACE, a + done, n, MPI_UINT32_T, MPI_BOR, comm));
        done += n;
    }
cleanup:
    return rc;
}
