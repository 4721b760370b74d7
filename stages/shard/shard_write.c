/* shard_write.c - rp-shard's output: each split's CSR (by user, from the user owners) and CSC
 * (by item, after an all-to-all to the item owners) written as contiguous slices of global
 * arrays, plus the attributes and the stamp. Slices follow data keys only, so the bytes do not
 * depend on the number of ranks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_fault.h"
#include "rp_h5.h"
#include "rp_mem.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_schema.h"
#include "shard.h"

static const char *const split_group[SHARD_NSPLITS] = {RP_SPLIT_TRAIN, RP_SPLIT_VALID,
                                                       RP_SPLIT_TEST};

/* One CSC entry on its way to the item's owner. */
typedef struct csc_entry {
    int32_t item;
    int32_t user;
    float value;
} csc_entry;

/* A rank's block of rows [r0, r1) of a CSR/CSC array whose entries start at global `base`;
 * the last rank also writes the final offset (nnz). */
typedef struct block {
    int64_t r0, r1, base;
    int last;
} block;

/* The write phase's buffers. Fresh memory is what costs most on the project's VMs (rp_mem.h):
 * every page touched here for the first time, and every page of the output's page cache, is
 * backed by the host at ~0.4 GB/s, while pages freed moments ago come back at ~10 GB/s. So one
 * column buffer serves every CSR column and both CSC arrays of every split (8 bytes per entry,
 * not 20), only the entries bound for other ranks are packed to send, and each split's pairs
 * are freed once written, for the next split's buffers and page cache to reuse. */
typedef struct scratch {
    int64_t *off;    /* block rows + 1 (+ 1 on the last rank) global offsets */
    void *col;       /* one column: 8 bytes x the largest split's pairs or CSC entries */
    csc_entry *send; /* entries bound for other ranks' item blocks */
    int32_t *owner;  /* item -> the rank that writes its CSC row */
} scratch;

static void scratch_clear(scratch *x)
{
    free(x->off);
    free(x->col);
    free(x->send);
    free(x->owner);
    memset(x, 0, sizeof *x);
}

/* Allocate n elements of size sz with a huge-page hint. */
static void *big_alloc(size_t n, size_t sz)
{
    void *p = rp_malloc((n + 1) * sz);
    rp_mem_huge(p, (n + 1) * sz);
    return p;
}

/* Sizes from the split lengths and the global nnz per item of this rank's item block. Agreed:
 * collective on comm. */
static int scratch_init(MPI_Comm comm, int rank, int size, const shard_state *s, scratch *x)
{
    int rc = RP_OK;
    int64_t ni = s->n_items, i0 = s->item_cuts[rank], i1 = s->item_cuts[rank + 1];
    int64_t nu = s->user_cuts[rank + 1] - s->user_cuts[rank], pairs = 0, entries = 0;
    for (int sp = 0; sp < SHARD_NSPLITS; sp++) {
        const int64_t *cnt = s->item_nnz + (size_t)sp * (size_t)ni;
        int64_t mine = 0;
        for (int64_t i = i0; i < i1; i++) mine += cnt[i];
        if (s->split[sp].n > pairs) pairs = s->split[sp].n;
        if (mine > entries) entries = mine;
    }
    size_t cap = (size_t)(pairs > entries ? pairs : entries);
    size_t rows = (size_t)(nu > i1 - i0 ? nu : i1 - i0) + 2;
    x->off = big_alloc(rows, sizeof *x->off);
    x->col = big_alloc(cap, sizeof(double));
    x->send = big_alloc((size_t)pairs, sizeof *x->send); /* only the part sent is touched */
    x->owner = rp_malloc(((size_t)ni + 1) * sizeof *x->owner);
    int ok = x->off && x->col && x->send && x->owner;
    for (int p = 0; ok && p < size; p++)
        for (int64_t i = s->item_cuts[p]; i < s->item_cuts[p + 1]; i++) x->owner[i] = p;
    RP_AGREE_LOCAL(comm, !ok);
cleanup:
    return rc;
}

/* off[j + 1] holds row j's count on entry; becomes global offsets. */
static void finish_offsets(int64_t *off, const block *b)
{
    off[0] = b->base;
    for (int64_t j = 1; j <= b->r1 - b->r0; j++) off[j] += off[j - 1];
}

/* A pair's normalised value: the CSR and CSC columns both compute it, same bits. */
static float pair_value(const shard_state *s, int sp, const shard_pair *p)
{
    return shard_value(shard_target(p->wr, &s->opt, sp), s->norm_min, s->norm_max);
}

/* The CSR columns in file order, each filled into x->col from the pairs and written before
 * the next. */
enum { COL_ITEM, COL_VALUE, COL_WATCH, COL_TIME, NCOLS };
static const char *const csr_name[NCOLS] = {RP_DS_BY_USER_ITEM, RP_DS_BY_USER_VALUE,
                                            RP_DS_BY_USER_WATCH, RP_DS_BY_USER_TIME};
static const rp_dtype csr_type[NCOLS] = {RP_I32, RP_F32, RP_F32, RP_F64};

static void csr_column(const shard_state *s, int sp, int c, void *col)
{
    const shard_pair *p = s->split[sp].pairs;
    int64_t n = s->split[sp].n;
    int32_t *i32 = col;
    float *f32 = col;
    double *f64 = col;
    for (int64_t k = 0; k < n; k++) {
        if (c == COL_ITEM) i32[k] = p[k].item;
        else if (c == COL_VALUE) f32[k] = pair_value(s, sp, &p[k]);
        else if (c == COL_WATCH) f32[k] = (float)p[k].wr;
        else f64[k] = p[k].ts;
    }
}

/* Seconds and bytes of this rank's HDF5 dataset writes (shard_state's h5_secs / h5_bytes). */
static double h5_secs;
static int64_t h5_bytes;

/* Write one dataset "<split>/<name>" of nglobal entries from this rank's n at offset. */
static int write_part(hid_t f, int sp, const char *name, rp_dtype t, int64_t nglobal,
                      int64_t offset, int64_t n, const void *buf)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", split_group[sp], name);
    double t0 = MPI_Wtime();
    int rc = rp_h5_write_1d(f, path, t, nglobal, offset, n, buf);
    h5_secs += MPI_Wtime() - t0;
    h5_bytes += n * (int64_t)rp_dtype_size(t);
    return rc;
}

/* The rank's block, its first entry and the global nnz. Collective. */
static int make_block(MPI_Comm comm, const int64_t *cuts, int64_t nlocal, block *b, int64_t *nnz)
{
    int rc = RP_OK;
    int rank = 0, size = 1;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    *b = (block){cuts[rank], cuts[rank + 1], 0, rank == size - 1};
    *nnz = nlocal;
    RP_CALL(rp_mpi_exscan_i64(comm, nlocal, &b->base));
    RP_CALL(rp_mpi_sum_i64(comm, nnz, 1));
cleanup:
    return rc;
}

static int write_csr(MPI_Comm comm, hid_t f, const shard_state *s, int sp, scratch *x,
                     int64_t *ucounts)
{
    int rc = RP_OK;
    const shard_split *sx = &s->split[sp];
    block b;
    int64_t nnz = 0;
    RP_CALL(make_block(comm, s->user_cuts, sx->n, &b, &nnz));
    memset(x->off, 0, ((size_t)(b.r1 - b.r0) + 2) * sizeof *x->off);
    for (int64_t k = 0; k < sx->n; k++) x->off[sx->pairs[k].user - b.r0 + 1]++;
    finish_offsets(x->off, &b);
    for (int64_t j = 0; j < b.r1 - b.r0; j++) ucounts[j] = x->off[j + 1] - x->off[j];
    int64_t noff = b.r1 - b.r0 + b.last;
    RP_CALL(write_part(f, sp, RP_DS_BY_USER_OFFSETS, RP_I64, s->n_users + 1, b.r0, noff, x->off));
    for (int c = 0; c < NCOLS; c++) {
        csr_column(s, sp, c, x->col);
        RP_CALL(write_part(f, sp, csr_name[c], csr_type[c], nnz, b.base, sx->n, x->col));
    }
cleanup:
    return rc;
}

/* (item, user, value) of the pairs whose item another rank owns, grouped by that rank; this
 * rank's own entries are not packed (csc_slice reads them from the pairs). Out: sc/sd as
 * rp_mpi_alltoallv_bytes wants them, *own. Local. */
static void pack_for_others(const shard_state *s, int sp, int rank, int size, scratch *x,
                            int64_t *sc, int64_t *sd, int64_t *fill, int64_t *own)
{
    const shard_split *sx = &s->split[sp];
    for (int64_t k = 0; k < sx->n; k++) sc[x->owner[sx->pairs[k].item]]++;
    *own = sc[rank];
    sc[rank] = 0;
    fill[0] = 0;
    for (int p = 1; p < size; p++) fill[p] = fill[p - 1] + sc[p - 1];
    for (int64_t k = 0; k < sx->n; k++) {
        const shard_pair *p = &sx->pairs[k];
        int d = x->owner[p->item];
        if (d != rank) x->send[fill[d]++] = (csc_entry){p->item, p->user, pair_value(s, sp, p)};
    }
    rp_mpi_byte_layout(size, sizeof(csc_entry), sc, sd);
}

/* Where the CSC entries of one source rank are: this rank's own pairs (filtered by owner), or
 * the received block of rank p. */
typedef struct csc_src {
    const csc_entry *recv;
    const int64_t *rcnt, *rd; /* bytes, per rank */
    int rank, size;
} csc_src;

/* The CSC slice of block b: a stable counting sort by item of the entries taken in source rank
 * order, straight into user = x->col and value = user + n. Entries leave in user order and
 * user blocks are in rank order, so the result is in CSC order (item, user). Local. */
static void csc_slice(const shard_state *s, int sp, const csc_src *src, int64_t n,
                      const block *b, scratch *x)
{
    const shard_split *sx = &s->split[sp];
    int64_t ni = b->r1 - b->r0, *off = x->off, nrecv = 0;
    int32_t *user = x->col;
    float *val = (float *)x->col + n;
    for (int p = 0; p < src->size; p++) nrecv += src->rcnt[p] / (int64_t)sizeof(csc_entry);
    memset(off, 0, ((size_t)ni + 2) * sizeof *off);
    for (int64_t k = 0; k < nrecv; k++) off[src->recv[k].item - b->r0 + 1]++;
    for (int64_t k = 0; k < sx->n; k++)
        if (x->owner[sx->pairs[k].item] == src->rank) off[sx->pairs[k].item - b->r0 + 1]++;
    for (int64_t j = 0; j < ni; j++) off[j + 1] += off[j]; /* off[j] = first entry of row j */
    for (int p = 0; p < src->size; p++) {
        if (p == src->rank) {
            for (int64_t k = 0; k < sx->n; k++) {
                const shard_pair *q = &sx->pairs[k];
                if (x->owner[q->item] != p) continue;
                int64_t at = off[q->item - b->r0]++;
                user[at] = q->user;
                val[at] = pair_value(s, sp, q);
            }
            continue;
        }
        const csc_entry *e = src->recv + src->rd[p] / (int64_t)sizeof(csc_entry);
        for (int64_t k = 0, m = src->rcnt[p] / (int64_t)sizeof(csc_entry); k < m; k++) {
            int64_t at = off[e[k].item - b->r0]++;
            user[at] = e[k].user;
            val[at] = e[k].value;
        }
    }
    /* off[j] is now the end of row j: shift by one and make it global */
    memmove(off + 1, off, (size_t)ni * sizeof *off);
    off[0] = 0;
    for (int64_t j = 0; j <= ni; j++) off[j] += b->base;
}

/* Send (item, user, value) to the item owners and write the CSC slices. Collective. */
static int write_csc(MPI_Comm comm, hid_t f, const shard_state *s, int sp, scratch *x)
{
    int rc = RP_OK;
    int size = 1, rank = 0;
    int64_t *cnt = NULL, *sc, *sd, *rcnt, *rd, total = 0; /* cnt holds the five count arrays */
    csc_entry *recv = NULL;
    block b;
    int64_t own = 0, nnz = 0;
    RP_MPI(MPI_Comm_size(comm, &size));
    RP_MPI(MPI_Comm_rank(comm, &rank));
    cnt = rp_calloc(5 * (size_t)size, sizeof *cnt);
    RP_AGREE_LOCAL(comm, cnt == NULL);
    sc = cnt, sd = cnt + size, rcnt = cnt + 2 * size, rd = cnt + 3 * size;
    pack_for_others(s, sp, rank, size, x, sc, sd, cnt + 4 * size, &own);
    RP_CALL(rp_mpi_alltoallv_bytes(comm, x->send, sc, sd, (void **)&recv, rcnt, rd, &total));
    int64_t n = own + total / (int64_t)sizeof *recv;
    RP_CALL(make_block(comm, s->item_cuts, n, &b, &nnz));
    csc_src src = {recv, rcnt, rd, rank, size};
    csc_slice(s, sp, &src, n, &b, x);
    free(recv);
    recv = NULL;
    int64_t noff = b.r1 - b.r0 + b.last;
    int32_t *user = x->col;
    RP_CALL(write_part(f, sp, RP_DS_BY_ITEM_OFFSETS, RP_I64, s->n_items + 1, b.r0, noff, x->off));
    RP_CALL(write_part(f, sp, RP_DS_BY_ITEM_USER, RP_I32, nnz, b.base, n, user));
    RP_CALL(write_part(f, sp, RP_DS_BY_ITEM_VALUE, RP_F32, nnz, b.base, n, (float *)user + n));
cleanup:
    free(recv);
    free(cnt);
    return rc;
}

/* This rank's rows of split sp whose item has no train rows (before the pairs are freed). */
static int64_t rows_item_unseen(const shard_state *s, int sp)
{
    int64_t v = 0;
    for (int64_t k = 0; k < s->split[sp].n; k++) v += s->item_nnz[s->split[sp].pairs[k].item] == 0;
    return v;
}

/* Users and items of split sp that never occur in train, and their rows. Collective. */
static int unseen_attrs(MPI_Comm comm, hid_t f, const shard_state *s, int sp,
                        const int64_t *ucnt_train, const int64_t *ucnt_sp, int64_t nblock,
                        int64_t item_rows)
{
    int rc = RP_OK;
    /* [users, rows of those users, items, rows of those items] */
    int64_t v[4] = {0, 0, 0, item_rows};
    for (int64_t j = 0; j < nblock; j++) {
        if (ucnt_sp[j] > 0 && ucnt_train[j] == 0) {
            v[0]++;
            v[1] += ucnt_sp[j];
        }
    }
    const int64_t *tr = s->item_nnz, *it = s->item_nnz + (size_t)sp * (size_t)s->n_items;
    RP_CALL(rp_mpi_sum_i64(comm, v, 4));
    for (int64_t i = 0; i < s->n_items; i++) v[2] += it[i] > 0 && tr[i] == 0;
    const char *g = split_group[sp];
    RP_CALL(rp_h5_attr_write(f, g, "users_not_in_train", RP_I64, 1, &v[0]));
    RP_CALL(rp_h5_attr_write(f, g, "rows_user_not_in_train", RP_I64, 1, &v[1]));
    RP_CALL(rp_h5_attr_write(f, g, "items_not_in_train", RP_I64, 1, &v[2]));
    RP_CALL(rp_h5_attr_write(f, g, "rows_item_not_in_train", RP_I64, 1, &v[3]));
cleanup:
    return rc;
}

static int split_attrs(MPI_Comm comm, hid_t f, const shard_state *s, int sp)
{
    int rc = RP_OK;
    shard_counts c = s->split[sp].counts;
    int64_t v[6] = {c.read, c.bad, c.duplicate, c.outlier, c.aggregated, c.kept};
    static const char *const names[6] = {"rows_read",    "rows_bad",        "rows_duplicate",
                                         "rows_outlier", "rows_aggregated", "rows_kept"};
    RP_CALL(rp_mpi_sum_i64(comm, v, 6));
    /* Bad rows cannot be placed in a split: big_matrix's count under /train, small's under
     * /test (they are read rows too). */
    if (sp == SHARD_TRAIN) v[1] = s->bad_big;
    if (sp == SHARD_TEST) v[1] = s->bad_small;
    v[0] += v[1];
    for (int k = 0; k < 6; k++)
        RP_CALL(rp_h5_attr_write(f, split_group[sp], names[k], RP_I64, 1, &v[k]));
    RP_CALL(rp_h5_attr_write(f, split_group[sp], "nnz", RP_I64, 1, &v[5]));
    const char *rule = sp == SHARD_TEST ? "keep" : s->opt.outlier;
    RP_CALL(rp_h5_attr_write_str(f, split_group[sp], "outlier_rule", rule));
cleanup:
    return rc;
}

static int root_attrs(hid_t f, const shard_state *s)
{
    int rc = RP_OK;
    const shard_opts *o = &s->opt;
    int64_t dedup = o->dedup;
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &s->n_users));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &s->n_items));
    RP_CALL(rp_h5_attr_write(f, "/", "norm_min", RP_F64, 1, &s->norm_min));
    RP_CALL(rp_h5_attr_write(f, "/", "norm_max", RP_F64, 1, &s->norm_max));
    RP_CALL(rp_h5_attr_write_str(f, "/", "outlier_rule", o->outlier));
    RP_CALL(rp_h5_attr_write(f, "/", "outlier_threshold", RP_F64, 1, &o->outlier_max));
    RP_CALL(rp_h5_attr_write_str(f, "/", "test_outlier_rule", "keep"));
    RP_CALL(rp_h5_attr_write(f, "/", "max_bad_rows", RP_I64, 1, &o->max_bad_rows));
    RP_CALL(rp_h5_attr_write(f, "/", "valid_frac", RP_F64, 1, &o->valid_frac));
    RP_CALL(rp_h5_attr_write_str(f, "/", "valid_rounding", "round(valid_frac * n), halves up"));
    RP_CALL(rp_h5_attr_write(f, "/", "dedup", RP_I64, 1, &dedup));
    RP_CALL(rp_h5_attr_write_str(f, "/", "repeat", o->repeat));
    RP_CALL(rp_h5_attr_write(f, "/", "big_rows_read", RP_I64, 1, &s->read_big));
    RP_CALL(rp_h5_attr_write(f, "/", "big_rows_bad", RP_I64, 1, &s->bad_big));
    RP_CALL(rp_h5_attr_write(f, "/", "small_rows_read", RP_I64, 1, &s->read_small));
    RP_CALL(rp_h5_attr_write(f, "/", "small_rows_bad", RP_I64, 1, &s->bad_small));
cleanup:
    return rc;
}

static int write_all(const rp_stage *st, hid_t f, shard_state *s)
{
    int rc = RP_OK;
    MPI_Comm comm = st->comm;
    int64_t nblock = s->user_cuts[st->rank + 1] - s->user_cuts[st->rank];
    int64_t *ucnt[SHARD_NSPLITS] = {NULL, NULL, NULL}, unseen[SHARD_NSPLITS] = {0, 0, 0};
    scratch x = {0};
    RP_CALL(scratch_init(comm, st->rank, st->size, s, &x));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_USER_RAW, RP_I64, 1, &s->n_users, s->user_raw));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_ITEM_RAW, RP_I64, 1, &s->n_items, s->item_raw));
    for (int sp = 0; sp < SHARD_NSPLITS; sp++) {
        ucnt[sp] = rp_calloc((size_t)nblock + 1, sizeof *ucnt[sp]);
        RP_AGREE_LOCAL(comm, ucnt[sp] == NULL);
        RP_CALL(write_csr(comm, f, s, sp, &x, ucnt[sp]));
        RP_CALL(write_csc(comm, f, s, sp, &x));
        RP_CALL(split_attrs(comm, f, s, sp));
        unseen[sp] = rows_item_unseen(s, sp);
        free(s->split[sp].pairs); /* written: its memory is for the next split (see scratch) */
        s->split[sp].pairs = NULL;
    }
    RP_CALL(unseen_attrs(comm, f, s, SHARD_VALID, ucnt[SHARD_TRAIN], ucnt[SHARD_VALID], nblock,
                         unseen[SHARD_VALID]));
    RP_CALL(unseen_attrs(comm, f, s, SHARD_TEST, ucnt[SHARD_TRAIN], ucnt[SHARD_TEST], nblock,
                         unseen[SHARD_TEST]));
    RP_CALL(root_attrs(f, s));
    RP_CALL(rp_stage_stamp(st, f, RP_SCHEMA_SHARDS, RP_SCHEMA_VERSION, s->inputs));
cleanup:
    scratch_clear(&x);
    for (int sp = 0; sp < SHARD_NSPLITS; sp++) free(ucnt[sp]);
    return rc;
}

int shard_write_output(const rp_stage *st, shard_state *s)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    h5_secs = 0.0;
    h5_bytes = 0;
    RP_CALL(rp_h5_create(st->comm, s->opt.out, &f));
    rc = write_all(st, f, s);
cleanup:;
    double t0 = MPI_Wtime();
    if (f >= 0 || rc == RP_OK) rc = rp_h5_commit(st->comm, &f, s->opt.out, rc);
    s->commit_secs = MPI_Wtime() - t0;
    s->h5_secs = h5_secs;
    s->h5_bytes = h5_bytes;
    return rc;
}
