/* als_data.c - rp-als input: nnz-balanced user and item blocks read as hyperslabs of shards.h5,
 * the routing tables of the factor exchange (built once), the global mean, initial factors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_rng.h"
#include "rp_schema.h"
#include "rp_shards.h"

static const char *const side_csr[2] = {"by_user", "by_item"};
static const char *const side_col[2] = {"item", "user"};

static void block_clear(als_block *b)
{
    free(b->off);
    free(b->col);
    free(b->val);
    free(b->lcol);
    memset(b, 0, sizeof *b);
}

static void route_clear(als_route *r)
{
    free(r->recvcounts);
    free(r->rdispls);
    free(r->sendcounts);
    free(r->sdispls);
    free(r->send_rows);
    memset(r, 0, sizeof *r);
}

void als_state_clear(als_state *st)
{
    for (int s = 0; s < 2; s++) {
        als_side *sd = &st->side[s];
        free(sd->cuts);
        block_clear(&sd->train);
        block_clear(&sd->valid);
        route_clear(&sd->route);
        free(sd->fac);
        free(sd->table);
    }
    if (st->row_type != MPI_DATATYPE_NULL && st->row_type != 0) MPI_Type_free(&st->row_type);
    free(st->work);
    free(st->cu);
    free(st->ci);
    als_hist_clear(&st->hist);
    als_grid_clear(&st->grid);
    als_snap_clear(&st->point_best);
    als_snap_clear(&st->best);
    memset(st, 0, sizeof *st);
}

/* read_offsets - the whole offsets vector of split/csr (every rank: the partition needs it),
 * checked: n + 1 entries, starts at 0, never decreases, ends at the column dataset's length. */
static int read_offsets(MPI_Comm comm, hid_t f, const char *path, const char *split, int s,
                        int64_t n, int64_t **out)
{
    int rc = RP_OK, nd = 0;
    int64_t *off = NULL, dims[2] = {0, 0}, cdims[2] = {0, 0}, vdims[2] = {0, 0};
    char name[128], cname[128], vname[128];
    snprintf(name, sizeof name, "%s/%s/offsets", split, side_csr[s]);
    snprintf(cname, sizeof cname, "%s/%s/%s", split, side_csr[s], side_col[s]);
    snprintf(vname, sizeof vname, "%s/%s/value", split, side_csr[s]);
    RP_CALL(rp_h5_dims(f, name, &nd, dims));
    if (nd != 1 || dims[0] != n + 1)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, expected n + 1 = %lld", path, name,
                      (long long)dims[0], (long long)(n + 1));
    RP_CALL(rp_h5_dims(f, cname, &nd, cdims));
    RP_CALL(rp_h5_dims(f, vname, &nd, vdims));
    off = rp_malloc((size_t)(n + 1) * sizeof *off);
    RP_AGREE_LOCAL(comm, off == NULL);
    RP_CALL(rp_h5_read(f, name, RP_I64, 0, n + 1, off));
    if (off[0] != 0) RP_FAIL_USER0(RP_ERR_DATA, "%s: %s[0] is %lld, expected 0", path, name,
                                   (long long)off[0]);
    for (int64_t i = 0; i < n; i++)
        if (off[i + 1] < off[i])
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s decreases at row %lld", path, name, (long long)i);
    if (off[n] != cdims[0] || off[n] != vdims[0])
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s ends at %lld but %s has %lld and %s %lld entries",
                      path, name, (long long)off[n], cname, (long long)cdims[0], vname,
                      (long long)vdims[0]);
    *out = off;
    off = NULL;
cleanup:
    free(off);
    return rc;
}

/* read_block - this rank's rows [r0, r1) of split/csr: one hyperslab of columns and values.
 * Collective: the checks of this rank's values are agreed at the end. */
static int read_block(MPI_Comm comm, hid_t f, const char *path, const char *split, int s,
                      const int64_t *goff, int64_t r0, int64_t r1, int64_t n_cols, als_block *b)
{
    int rc = RP_OK;
    char cname[128], vname[128];
    snprintf(cname, sizeof cname, "%s/%s/%s", split, side_csr[s], side_col[s]);
    snprintf(vname, sizeof vname, "%s/%s/value", split, side_csr[s]);
    b->nrows = r1 - r0;
    b->nnz = goff[r1] - goff[r0];
    b->off = rp_malloc((size_t)(b->nrows + 1) * sizeof *b->off);
    b->col = rp_malloc((size_t)(b->nnz + 1) * sizeof *b->col);
    b->val = rp_malloc((size_t)(b->nnz + 1) * sizeof *b->val);
    RP_AGREE_LOCAL(comm, b->off == NULL || b->col == NULL || b->val == NULL);
    for (int64_t i = 0; i <= b->nrows; i++) b->off[i] = goff[r0 + i] - goff[r0];
    RP_CALL(rp_h5_read(f, cname, RP_I32, goff[r0], b->nnz, b->col));
    RP_CALL(rp_h5_read(f, vname, RP_F32, goff[r0], b->nnz, b->val));
    for (int64_t j = 0; j < b->nnz; j++) {
        if (b->col[j] < 0 || b->col[j] >= n_cols)
            RP_FAIL_USER(RP_ERR_DATA, "%s: %s[%lld] = %d is outside [0, %lld)", path, cname,
                         (long long)(goff[r0] + j), (int)b->col[j], (long long)n_cols);
        if (!isfinite(b->val[j]))
            RP_FAIL_USER(RP_ERR_DATA, "%s: %s[%lld] is not finite", path, vname,
                         (long long)(goff[r0] + j));
    }
cleanup:
    return rp_mpi_agree(comm, rc);
}

/* need_list - sorted distinct columns (< n_cols) of the blocks (train, and valid when given):
 * a marker per column, so O(nnz + n_cols) instead of a sort. */
static int need_list(const als_block *t, const als_block *v, int64_t n_cols, int32_t **out,
                     int64_t *n_out)
{
    int rc = RP_OK;
    unsigned char *seen = NULL;
    int32_t *ids = NULL;
    int64_t m = 0;
    RP_ALLOC(seen = calloc((size_t)n_cols + 1, 1));
    for (int64_t j = 0; j < t->nnz; j++) seen[t->col[j]] = 1;
    for (int64_t j = 0; v && j < v->nnz; j++) seen[v->col[j]] = 1;
    for (int64_t c = 0; c < n_cols; c++) m += seen[c];
    RP_ALLOC(ids = malloc((size_t)(m + 1) * sizeof *ids));
    m = 0;
    for (int64_t c = 0; c < n_cols; c++)
        if (seen[c]) ids[m++] = (int32_t)c;
    *out = ids;
    *n_out = m;
cleanup:
    free(seen);
    return rc;
}

/* map_cols - table row of every nonzero: its column's position in need (pos[c], built by the
 * caller), or the column itself when the table holds every row. */
static void map_cols(als_block *b, const int32_t *pos, int identity)
{
    for (int64_t j = 0; j < b->nnz; j++) b->lcol[j] = identity ? b->col[j] : pos[b->col[j]];
}

/* route_requests - alltoallv mode: tell each owner which of its rows this rank needs (need is
 * sorted and owners hold ascending contiguous blocks, so the received table follows need). */
static int route_requests(als_state *st, als_route *r, const int64_t *cuts_o,
                          const int32_t *need, int64_t n_need)
{
    int rc = RP_OK, size = st->size;
    for (int64_t j = 0; j < n_need; j++) r->recvcounts[rp_part_owner(cuts_o, size, need[j])]++;
    for (int p = 1; p < size; p++) r->rdispls[p] = r->rdispls[p - 1] + r->recvcounts[p - 1];
    RP_MPI(MPI_Alltoall(r->recvcounts, 1, MPI_INT, r->sendcounts, 1, MPI_INT, st->comm));
    int64_t total = 0;
    for (int p = 0; p < size; p++) {
        RP_CALL(rp_int_cast(total, &r->sdispls[p]));
        total += r->sendcounts[p];
    }
    r->n_send = total;
    r->send_rows = rp_malloc((size_t)(total + 1) * sizeof *r->send_rows);
    RP_AGREE_LOCAL(st->comm, r->send_rows == NULL);
    RP_MPI(MPI_Alltoallv(need, r->recvcounts, r->rdispls, MPI_INT32_T, r->send_rows,
                         r->sendcounts, r->sdispls, MPI_INT32_T, st->comm));
    for (int64_t j = 0; j < total; j++) r->send_rows[j] -= (int32_t)cuts_o[st->rank];
cleanup:
    return rc;
}

/* build_route - which rows of the other side side s's solves (and item-side metrics) read. */
static int build_route(als_state *st, int s, int mode)
{
    int rc = RP_OK, size = st->size;
    als_side *sd = &st->side[s];
    const als_side *so = &st->side[1 - s];
    als_route *r = &sd->route;
    int32_t *need = NULL, *pos = NULL;
    int64_t n_need = 0;
    rc = need_list(&sd->train, s == ALS_ITEM ? &sd->valid : NULL, so->n_global, &need, &n_need);
    r->recvcounts = rp_calloc((size_t)size, sizeof(int));
    r->rdispls = rp_calloc((size_t)size, sizeof(int));
    r->sendcounts = rp_calloc((size_t)size, sizeof(int));
    r->sdispls = rp_calloc((size_t)size, sizeof(int));
    RP_AGREE_LOCAL(st->comm, !(r->recvcounts && r->rdispls && r->sendcounts && r->sdispls));
    /* auto: all-gather when the average rank needs most of the other side anyway */
    double need_sum = (double)n_need;
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, &need_sum, 1, MPI_DOUBLE, MPI_SUM, st->comm));
    r->allgather = mode == ALS_EX_ALLGATHER ||
                   (mode == ALS_EX_AUTO && need_sum > 0.5 * size * (double)so->n_global);
    if (r->allgather) {
        for (int p = 0; p < size; p++) {
            RP_CALL(rp_int_cast(so->cuts[p + 1] - so->cuts[p], &r->recvcounts[p]));
            RP_CALL(rp_int_cast(so->cuts[p], &r->rdispls[p]));
        }
        r->n_need = so->n_global;
    } else {
        RP_CALL(route_requests(st, r, so->cuts, need, n_need));
        r->n_need = n_need;
    }
    r->recv_remote_rows = r->n_need - r->recvcounts[st->rank];
    RP_ALLOC(pos = malloc((size_t)(so->n_global + 1) * sizeof *pos));
    for (int64_t j = 0; j < n_need; j++) pos[need[j]] = (int32_t)j;
    RP_ALLOC(sd->train.lcol = malloc((size_t)(sd->train.nnz + 1) * sizeof(int32_t)));
    map_cols(&sd->train, pos, r->allgather);
    if (s == ALS_ITEM) {
        RP_ALLOC(sd->valid.lcol = malloc((size_t)(sd->valid.nnz + 1) * sizeof(int32_t)));
        map_cols(&sd->valid, pos, r->allgather);
    }
    size_t es = st->dbl ? sizeof(double) : sizeof(float);
    sd->table = rp_malloc((size_t)(r->n_need + 1) * (size_t)(st->kmax + 1) * es);
    RP_AGREE_LOCAL(st->comm, sd->table == NULL); /* the local steps above included */
cleanup:
    free(need);
    free(pos);
    return rc;
}

/* global_mean - mean of the train values, summed per user in CSR order and then over users in
 * global order on rank 0, so it is the same double for any number of ranks. */
static int global_mean(als_state *st)
{
    int rc = RP_OK;
    const als_side *u = &st->side[ALS_USER];
    double *row_sum = NULL, *all = NULL;
    int *counts = NULL, *displs = NULL, nloc = 0;
    row_sum = rp_calloc((size_t)u->nrows + 1, sizeof *row_sum);
    counts = rp_calloc((size_t)st->size, sizeof *counts);
    displs = rp_calloc((size_t)st->size, sizeof *displs);
    all = rp_malloc((size_t)(st->rank == 0 ? u->n_global + 1 : 1) * sizeof *all);
    RP_AGREE_LOCAL(st->comm, !(row_sum && counts && displs && all));
    for (int64_t i = 0; i < u->nrows; i++)
        for (int64_t j = u->train.off[i]; j < u->train.off[i + 1]; j++)
            row_sum[i] += (double)u->train.val[j];
    for (int p = 0; p < st->size; p++) {
        RP_CALL(rp_int_cast(u->cuts[p + 1] - u->cuts[p], &counts[p]));
        RP_CALL(rp_int_cast(u->cuts[p], &displs[p]));
    }
    RP_CALL(rp_int_cast(u->nrows, &nloc));
    RP_MPI(MPI_Gatherv(row_sum, nloc, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, st->comm));
    double sum = 0.0;
    if (st->rank == 0)
        for (int64_t i = 0; i < u->n_global; i++) sum += all[i];
    RP_MPI(MPI_Bcast(&sum, 1, MPI_DOUBLE, 0, st->comm));
    st->mu = st->nnz_train > 0 ? sum / (double)st->nnz_train : 0.0;
cleanup:
    free(row_sum);
    free(all);
    free(counts);
    free(displs);
    return rc;
}

void als_init_factors(als_state *st)
{
    static const char *const stream[2] = {"als.init.user", "als.init.item"};
    int k = st->k;
    double scale = 0.1 / sqrt((double)k);
    for (int s = 0; s < 2; s++) {
        als_side *sd = &st->side[s];
        uint64_t strm = rp_rng_stream(stream[s]);
        for (int64_t i = 0; i < sd->nrows; i++) {
            uint64_t g = (uint64_t)(sd->row_offset + i);
            for (int j = 0; j <= k; j++) {
                double v = j < k ? scale * rp_rng_normal(st->seed, strm, g * (uint64_t)k + j) : 0.0;
                if (st->dbl) ((double *)sd->fac)[i * (k + 1) + j] = v;
                else ((float *)sd->fac)[i * (k + 1) + j] = (float)v;
            }
        }
    }
}

/* open_shards - open, check the schema and read the catalogue sizes. */
static int open_shards(MPI_Comm comm, const char *path, hid_t *f, int64_t n[2])
{
    int rc = RP_OK;
    RP_CALL(rp_shards_open(comm, path, f, &n[ALS_USER], &n[ALS_ITEM]));
cleanup:
    return rc;
}

/* load_side - partition side s by train nonzeros and read its train (and valid) block. */
static int load_side(als_state *st, hid_t f, const char *path, int s)
{
    int rc = RP_OK;
    als_side *sd = &st->side[s];
    int64_t *off = NULL, *voff = NULL, n_cols = st->side[1 - s].n_global;
    RP_CALL(read_offsets(st->comm, f, path, RP_SPLIT_TRAIN, s, sd->n_global, &off));
    RP_CALL(read_offsets(st->comm, f, path, RP_SPLIT_VALID, s, sd->n_global, &voff));
    sd->cuts = rp_malloc((size_t)(st->size + 1) * sizeof *sd->cuts);
    RP_AGREE_LOCAL(st->comm, sd->cuts == NULL);
    /* a row costs its nonzeros plus about k for the Cholesky solve and bookkeeping (the
     * largest k of the grid: one partition serves every point) */
    rp_part_weighted(off, sd->n_global, st->size, (double)st->kmax, sd->cuts);
    sd->row_offset = sd->cuts[st->rank];
    sd->nrows = sd->cuts[st->rank + 1] - sd->row_offset;
    if (s == ALS_USER) st->nnz_train = off[sd->n_global];
    if (s == ALS_USER) st->nnz_valid = voff[sd->n_global];
    RP_CALL(read_block(st->comm, f, path, RP_SPLIT_TRAIN, s, off, sd->row_offset,
                       sd->row_offset + sd->nrows, n_cols, &sd->train));
    if (s == ALS_ITEM)
        RP_CALL(read_block(st->comm, f, path, RP_SPLIT_VALID, s, voff, sd->row_offset,
                           sd->row_offset + sd->nrows, n_cols, &sd->valid));
    size_t es = st->dbl ? sizeof(double) : sizeof(float);
    sd->fac = rp_calloc((size_t)(sd->nrows + 1) * (size_t)(st->kmax + 1), es);
    RP_AGREE_LOCAL(st->comm, sd->fac == NULL);
cleanup:
    free(off);
    free(voff);
    return rc;
}

static int exchange_mode(const char *s)
{
    if (strcmp(s, "alltoallv") == 0) return ALS_EX_ALLTOALLV;
    if (strcmp(s, "allgather") == 0) return ALS_EX_ALLGATHER;
    return ALS_EX_AUTO;
}

/* alloc_work - scratch for the largest row: gathered rows [n, k+2], normal equations, rhs. */
static int alloc_work(als_state *st)
{
    int rc = RP_OK;
    int64_t maxn = 0;
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < st->side[s].nrows; i++) {
            int64_t n = st->side[s].train.off[i + 1] - st->side[s].train.off[i];
            if (n > maxn) maxn = n;
        }
    size_t kk = (size_t)st->kmax + 2, es = st->dbl ? sizeof(double) : sizeof(float);
    /* + the batched Cholesky's (als_kernel.inc): 16 systems' equations, their lower triangles
     * side by side, right-hand sides; the AVX-512 kernel's scratch */
    size_t batch = (size_t)ALS_BATCH_S * (2 * kk * kk + 2 * kk), scratch = 0;
    for (int k = 1; k <= st->kmax; k++) { /* its panel shrinks as k grows: the largest */
        size_t sk = als_gram_scratch(k, st->dbl);
        scratch = sk > scratch ? sk : scratch;
    }
    batch += scratch;
    size_t bytes = ((size_t)maxn * kk + kk * kk + 3 * kk + 16 + batch) * es;
    bytes = (bytes + 63) / 64 * 64;
    st->work_rows = maxn;
    RP_ALLOC(st->work = aligned_alloc(64, bytes));
cleanup:
    return rc;
}

/* load_inputs - open shards.h5 and read both sides' blocks. Collective. */
static int load_inputs(MPI_Comm comm, const als_opts *opt, als_state *st)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    int64_t n[2] = {0, 0};
    RP_CALL(open_shards(comm, opt->shards, &f, n));
    st->side[ALS_USER].n_global = n[ALS_USER];
    st->side[ALS_ITEM].n_global = n[ALS_ITEM];
    RP_CALL(load_side(st, f, opt->shards, ALS_USER));
    RP_CALL(load_side(st, f, opt->shards, ALS_ITEM));
cleanup:
    rc = rp_mpi_agree(comm, rc);
    rp_h5_close(&f);
    return rc;
}

int als_set_rank(als_state *st, int k, double lambda)
{
    int rc = RP_OK;
    if (st->row_type != MPI_DATATYPE_NULL) MPI_Type_free(&st->row_type);
    st->k = k;
    st->lambda = lambda;
    RP_MPI(MPI_Type_contiguous(k + 1, st->dbl ? MPI_DOUBLE : MPI_FLOAT, &st->row_type));
    RP_MPI(MPI_Type_commit(&st->row_type));
cleanup:
    return rc;
}

int als_load(MPI_Comm comm, const als_opts *opt, als_state *st)
{
    int rc = RP_OK;
    st->comm = comm;
    st->row_type = MPI_DATATYPE_NULL;
    RP_MPI(MPI_Comm_rank(comm, &st->rank));
    RP_MPI(MPI_Comm_size(comm, &st->size));
    rc = als_grid_init(opt, &st->grid); /* local: agree before the collective load */
    RP_AGREE(comm, rc);
    st->kmax = st->grid.ks[st->grid.nk - 1];
    st->dbl = strcmp(opt->precision, "fp32") != 0;
    st->lambda_bias = opt->lambda_bias;
    st->penalty = als_penalty(opt);
    st->valid_item = strcmp(als_valid_weight(opt), "item") == 0;
    st->seed = (uint64_t)opt->seed;
    /* start at the search's first point (the only one when --k and --lambda are given) */
    int k0 = 0;
    double l0 = 0.0;
    als_grid_next(&st->grid, &k0, &l0);
    st->k = k0;
    st->lambda = l0;
    RP_CALL(load_inputs(comm, opt, st));
    if (st->nnz_train == 0)
        RP_FAIL_USER0(RP_ERR_NOINPUT, "%s: /train has no interactions", opt->shards);
    RP_CALL(als_target_setup(comm, opt, st));
    if (st->nnz_train == 0)
        RP_FAIL_USER0(RP_ERR_NOINPUT, "%s: /train has no pairs with %g <= watch_ratio < %g "
                      "for --target log", opt->shards, st->lr.lo, st->lr.hi);
    RP_CALL(als_set_rank(st, k0, l0));
    RP_CALL(build_route(st, ALS_USER, exchange_mode(opt->exchange)));
    RP_CALL(build_route(st, ALS_ITEM, exchange_mode(opt->exchange)));
    RP_CALL(global_mean(st));
    RP_CALL(alloc_work(st));
    als_init_factors(st);
cleanup:
    return rp_mpi_agree(comm, rc);
}
