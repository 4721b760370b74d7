/* shard_write.c - rp-shard's output: each split's CSR (by user, from the user owners) and CSC
 * (by item, after an all-to-all to the item owners) written as contiguous slices of global
 * arrays, plus the attributes and the stamp. Slices follow data keys only, so the bytes do not
 * depend on the number of ranks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_h5.h"
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

/* This rank's slice of one split's arrays: CSR (idx = item, with wr and ts) or CSC (idx = user). */
typedef struct slice {
    int64_t *off; /* r1 - r0 (+ 1 on the last rank) global offsets */
    int32_t *idx;
    float *val, *wr;
    double *ts;
} slice;

static void slice_clear(slice *x)
{
    free(x->off);
    free(x->idx);
    free(x->val);
    free(x->wr);
    free(x->ts);
    memset(x, 0, sizeof *x);
}

/* off[j + 1] holds row j's count on entry; becomes global offsets. */
static void finish_offsets(int64_t *off, const block *b)
{
    off[0] = b->base;
    for (int64_t j = 1; j <= b->r1 - b->r0; j++) off[j] += off[j - 1];
}

/* CSR slice from the pairs of this rank's user block. Local. */
static int csr_slice(const shard_state *s, int sp, const block *b, slice *out)
{
    int rc = RP_OK;
    const shard_split *x = &s->split[sp];
    size_t n1 = (size_t)x->n + 1;
    RP_ALLOC(out->off = calloc((size_t)(b->r1 - b->r0) + 2, sizeof *out->off));
    RP_ALLOC(out->idx = malloc(n1 * sizeof *out->idx));
    RP_ALLOC(out->val = malloc(n1 * sizeof *out->val));
    RP_ALLOC(out->wr = malloc(n1 * sizeof *out->wr));
    RP_ALLOC(out->ts = malloc(n1 * sizeof *out->ts));
    for (int64_t k = 0; k < x->n; k++) {
        const shard_pair *p = &x->pairs[k];
        out->off[p->user - b->r0 + 1]++;
        out->idx[k] = p->item;
        out->val[k] = shard_value(shard_target(p->wr, &s->opt, sp), s->norm_min, s->norm_max);
        out->wr[k] = (float)p->wr;
        out->ts[k] = p->ts;
    }
    finish_offsets(out->off, b);
cleanup:
    return rc;
}

/* CSC slice from this rank's entries, sorted by (item, user). Local. */
static int csc_slice(const csc_entry *e, int64_t n, const block *b, slice *out)
{
    int rc = RP_OK;
    RP_ALLOC(out->off = calloc((size_t)(b->r1 - b->r0) + 2, sizeof *out->off));
    RP_ALLOC(out->idx = malloc(((size_t)n + 1) * sizeof *out->idx));
    RP_ALLOC(out->val = malloc(((size_t)n + 1) * sizeof *out->val));
    for (int64_t k = 0; k < n; k++) {
        out->off[e[k].item - b->r0 + 1]++;
        out->idx[k] = e[k].user;
        out->val[k] = e[k].value;
    }
    finish_offsets(out->off, b);
cleanup:
    return rc;
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

static int write_csr(MPI_Comm comm, hid_t f, const shard_state *s, int sp, int64_t *ucounts)
{
    int rc = RP_OK;
    const shard_split *x = &s->split[sp];
    slice sl = {0};
    block b;
    int64_t nnz = 0;
    RP_CALL(make_block(comm, s->user_cuts, x->n, &b, &nnz));
    rc = csr_slice(s, sp, &b, &sl);
    RP_AGREE(comm, rc);
    for (int64_t j = 0; j < b.r1 - b.r0; j++) ucounts[j] = sl.off[j + 1] - sl.off[j];
    int64_t noff = b.r1 - b.r0 + b.last;
    RP_CALL(write_part(f, sp, RP_DS_BY_USER_OFFSETS, RP_I64, s->n_users + 1, b.r0, noff, sl.off));
    RP_CALL(write_part(f, sp, RP_DS_BY_USER_ITEM, RP_I32, nnz, b.base, x->n, sl.idx));
    RP_CALL(write_part(f, sp, RP_DS_BY_USER_VALUE, RP_F32, nnz, b.base, x->n, sl.val));
    RP_CALL(write_part(f, sp, RP_DS_BY_USER_WATCH, RP_F32, nnz, b.base, x->n, sl.wr));
    RP_CALL(write_part(f, sp, RP_DS_BY_USER_TIME, RP_F64, nnz, b.base, x->n, sl.ts));
cleanup:
    slice_clear(&sl);
    return rc;
}

/* (item, user, value) of every pair, grouped by the item's owner. Local. */
static int pack_by_item_owner(const shard_state *s, int sp, int size, csc_entry **send,
                              int64_t *sc, int64_t *sd)
{
    int rc = RP_OK;
    const shard_split *x = &s->split[sp];
    int64_t *fill = NULL;
    RP_ALLOC(fill = calloc((size_t)size, sizeof *fill));
    RP_ALLOC(*send = malloc((size_t)(x->n + 1) * sizeof **send));
    for (int64_t k = 0; k < x->n; k++) sc[rp_part_owner(s->item_cuts, size, x->pairs[k].item)]++;
    for (int p = 1; p < size; p++) fill[p] = fill[p - 1] + sc[p - 1];
    for (int64_t k = 0; k < x->n; k++) {
        const shard_pair *p = &x->pairs[k];
        float v = shard_value(shard_target(p->wr, &s->opt, sp), s->norm_min, s->norm_max);
        int dest = rp_part_owner(s->item_cuts, size, p->item);
        (*send)[fill[dest]++] = (csc_entry){p->item, p->user, v};
    }
    rp_mpi_byte_layout(size, sizeof(csc_entry), sc, sd);
cleanup:
    free(fill);
    return rc;
}

/* Stable counting sort of the received entries by item (block [i0, i0 + ni)). Local. */
static int sort_by_item(const csc_entry *in, int64_t n, int64_t i0, int64_t ni, csc_entry **out)
{
    int rc = RP_OK;
    int64_t *fill = NULL;
    RP_ALLOC(fill = calloc((size_t)ni + 1, sizeof *fill));
    RP_ALLOC(*out = malloc((size_t)(n + 1) * sizeof **out));
    for (int64_t k = 0; k < n; k++) fill[in[k].item - i0 + 1]++;
    for (int64_t j = 0; j < ni; j++) fill[j + 1] += fill[j];
    for (int64_t k = 0; k < n; k++) (*out)[fill[in[k].item - i0]++] = in[k];
cleanup:
    free(fill);
    return rc;
}

/* Send (item, user, value) to the item owners. Rows leave in user order and user blocks are in
 * rank order, so the received entries are sorted by user; a stable counting sort by item then
 * gives the CSC order (item, user). Collective. Out: *out (sorted), *nout. */
static int gather_by_item(MPI_Comm comm, const shard_state *s, int sp, csc_entry **out,
                          int64_t *nout)
{
    int rc = RP_OK;
    int rank = 0, size = 1;
    int64_t *cnt = NULL, *sc, *sd, *rcnt, *rd, total = 0; /* cnt holds the four count arrays */
    csc_entry *send = NULL, *recv = NULL, *sorted = NULL;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    cnt = rp_calloc(4 * (size_t)size, sizeof *cnt);
    RP_AGREE_LOCAL(comm, cnt == NULL);
    sc = cnt, sd = cnt + size, rcnt = cnt + 2 * size, rd = cnt + 3 * size;
    rc = pack_by_item_owner(s, sp, size, &send, sc, sd);
    RP_AGREE(comm, rc);
    RP_CALL(rp_mpi_alltoallv_bytes(comm, send, sc, sd, (void **)&recv, rcnt, rd, &total));
    free(send); /* at most two copies of the entries at any time */
    send = NULL;
    int64_t n = total / (int64_t)sizeof *recv, i0 = s->item_cuts[rank];
    rc = sort_by_item(recv, n, i0, s->item_cuts[rank + 1] - i0, &sorted);
    RP_AGREE(comm, rc);
    *out = sorted;
    *nout = n;
    sorted = NULL;
cleanup:
    free(sorted);
    free(recv);
    free(send);
    free(cnt);
    return rc;
}

static int write_csc(MPI_Comm comm, hid_t f, const shard_state *s, int sp)
{
    int rc = RP_OK;
    csc_entry *e = NULL;
    slice sl = {0};
    block b;
    int64_t n = 0, nnz = 0;
    RP_CALL(gather_by_item(comm, s, sp, &e, &n));
    RP_CALL(make_block(comm, s->item_cuts, n, &b, &nnz));
    rc = csc_slice(e, n, &b, &sl);
    free(e);
    e = NULL;
    RP_AGREE(comm, rc);
    int64_t noff = b.r1 - b.r0 + b.last;
    RP_CALL(write_part(f, sp, RP_DS_BY_ITEM_OFFSETS, RP_I64, s->n_items + 1, b.r0, noff, sl.off));
    RP_CALL(write_part(f, sp, RP_DS_BY_ITEM_USER, RP_I32, nnz, b.base, n, sl.idx));
    RP_CALL(write_part(f, sp, RP_DS_BY_ITEM_VALUE, RP_F32, nnz, b.base, n, sl.val));
cleanup:
    slice_clear(&sl);
    free(e);
    return rc;
}

/* Users and items of split sp that never occur in train, and their rows. Collective. */
static int unseen_attrs(MPI_Comm comm, hid_t f, const shard_state *s, int sp,
                        const int64_t *ucnt_train, const int64_t *ucnt_sp, int64_t nblock)
{
    int rc = RP_OK;
    /* [users, rows of those users, items, rows of those items] */
    int64_t v[4] = {0, 0, 0, 0};
    for (int64_t j = 0; j < nblock; j++) {
        if (ucnt_sp[j] > 0 && ucnt_train[j] == 0) {
            v[0]++;
            v[1] += ucnt_sp[j];
        }
    }
    const int64_t *tr = s->item_nnz, *it = s->item_nnz + (size_t)sp * (size_t)s->n_items;
    for (int64_t k = 0; k < s->split[sp].n; k++) v[3] += tr[s->split[sp].pairs[k].item] == 0;
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
    int64_t *ucnt[SHARD_NSPLITS] = {NULL, NULL, NULL};
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_USER_RAW, RP_I64, 1, &s->n_users, s->user_raw));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_ITEM_RAW, RP_I64, 1, &s->n_items, s->item_raw));
    for (int sp = 0; sp < SHARD_NSPLITS; sp++) {
        ucnt[sp] = rp_calloc((size_t)nblock + 1, sizeof *ucnt[sp]);
        RP_AGREE_LOCAL(comm, ucnt[sp] == NULL);
        RP_CALL(write_csr(comm, f, s, sp, ucnt[sp]));
        RP_CALL(write_csc(comm, f, s, sp));
        RP_CALL(split_attrs(comm, f, s, sp));
    }
    RP_CALL(unseen_attrs(comm, f, s, SHARD_VALID, ucnt[SHARD_TRAIN], ucnt[SHARD_VALID], nblock));
    RP_CALL(unseen_attrs(comm, f, s, SHARD_TEST, ucnt[SHARD_TRAIN], ucnt[SHARD_TEST], nblock));
    RP_CALL(root_attrs(f, s));
    RP_CALL(rp_stage_stamp(st, f, RP_SCHEMA_SHARDS, RP_SCHEMA_VERSION, s->inputs));
cleanup:
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
