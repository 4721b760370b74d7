/* rp_baseline.c - baselines fitted on /train of shards.h5 as dot-form rp_models (global, user,
 * video mean, bias). Used by rp-eval, rp-hybrid and rp-recommend. Rank-count independence:
 * per-row sums are made by the row's owner in file order and gathered in row order. */
#include "rp_baseline.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_csr.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_schema.h"
#include "rp_shards.h"

/* This rank's contiguous block of rows of one CSR/CSC of /train. */
typedef struct rows_block {
    int64_t nrows;    /* global rows */
    int64_t *offsets; /* [nrows + 1], replicated */
    int64_t *cuts;    /* [size + 1]: rank p owns rows [cuts[p], cuts[p+1]) */
    int64_t r0, nr;   /* my rows */
    int32_t *idx;     /* my nonzeros' other index (user or item), NULL unless asked */
    double *val;      /* my nonzeros' normalised values */
} rows_block;

static void rows_block_clear(rows_block *b)
{
    free(b->offsets);
    free(b->cuts);
    free(b->idx);
    free(b->val);
    memset(b, 0, sizeof *b);
}

static int shards_dims(hid_t shards, int64_t *n_users, int64_t *n_items)
{
    int rc = RP_OK;
    char fname[1024];
    rp_shards_header h;
    rp_h5_filename(shards, fname, sizeof fname);
    RP_CALL(rp_shards_read_header(shards, fname, &h));
    *n_users = h.n_users;
    *n_items = h.n_items;
cleanup:
    return rc;
}

/* Read my block of rows of grp ("/train/by_item") with nrows rows; idx_name ("user"/"item")
 * is read too when idx_name != NULL and checked against idx_bound. Collective. */
static int read_block(MPI_Comm comm, hid_t f, const char *grp, const char *idx_name,
                      int64_t idx_bound, int64_t nrows, rows_block *b)
{
    int rc = RP_OK, rank = 0, size = 1;
    char ds[256], fname[1024];
    memset(b, 0, sizeof *b);
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    b->nrows = nrows;
    rp_h5_filename(f, fname, sizeof fname);
    RP_CALL(rp_csr_read_offsets(f, grp, "value", nrows, &b->offsets, NULL));
    snprintf(ds, sizeof ds, "%s/value", grp);
    b->cuts = rp_malloc((size_t)(size + 1) * sizeof *b->cuts);
    RP_AGREE_LOCAL(comm, b->cuts == NULL);
    rp_part_weighted(b->offsets, nrows, size, 1.0, b->cuts);
    b->r0 = b->cuts[rank];
    b->nr = b->cuts[rank + 1] - b->r0;
    int64_t z0 = b->offsets[b->r0], nz = b->offsets[b->r0 + b->nr] - z0;
    b->val = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *b->val);
    RP_AGREE_LOCAL(comm, b->val == NULL);
    RP_CALL(rp_h5_read(f, ds, RP_F64, z0, nz, b->val));
    if (idx_name != NULL) {
        snprintf(ds, sizeof ds, "%s/%s", grp, idx_name);
        b->idx = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *b->idx);
        RP_AGREE_LOCAL(comm, b->idx == NULL);
        RP_CALL(rp_h5_read(f, ds, RP_I32, z0, nz, b->idx));
        for (int64_t z = 0; z < nz; z++)
            if (b->idx[z] < 0 || b->idx[z] >= idx_bound)
                RP_FAIL_USER(RP_ERR_DATA, "%s: %s[%lld] = %d outside [0, %lld)", fname, ds,
                             (long long)(z0 + z), b->idx[z], (long long)idx_bound);
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc != RP_OK) rows_block_clear(b);
    return rc;
}

/* full[r] for every global row r from my rows' local[0 .. nr), in row order. Collective. */
static int gather_rows(MPI_Comm comm, const rows_block *b, const double *local, double *full)
{
    int rc = RP_OK, size = 1;
    int *counts = NULL, *displs = NULL;
    RP_MPI(MPI_Comm_size(comm, &size));
    counts = rp_malloc((size_t)size * sizeof *counts);
    displs = rp_malloc((size_t)size * sizeof *displs);
    RP_AGREE_LOCAL(comm, counts == NULL || displs == NULL);
    for (int p = 0; p < size; p++) {
        RP_CALL(rp_int_cast(b->cuts[p + 1] - b->cuts[p], &counts[p]));
        RP_CALL(rp_int_cast(b->cuts[p], &displs[p]));
    }
    int mine = 0;
    RP_MPI(MPI_Comm_rank(comm, &mine));
    RP_MPI(MPI_Allgatherv(local, counts[mine], MPI_DOUBLE, full, counts, displs, MPI_DOUBLE, comm));
cleanup:
    free(counts);
    free(displs);
    return rc;
}

/* Per-row sums of values (sequential, file order), gathered for every row. Out: *sums [nrows]. */
static int row_sums(MPI_Comm comm, const rows_block *b, double **sums)
{
    int rc = RP_OK;
    double *local = NULL, *full = NULL;
    local = rp_malloc((size_t)(b->nr > 0 ? b->nr : 1) * sizeof *local);
    full = rp_malloc((size_t)b->nrows * sizeof *full);
    RP_AGREE_LOCAL(comm, local == NULL || full == NULL);
    int64_t z0 = b->offsets[b->r0];
    for (int64_t r = 0; r < b->nr; r++) {
        double s = 0.0;
        for (int64_t z = b->offsets[b->r0 + r]; z < b->offsets[b->r0 + r + 1]; z++)
            s += b->val[z - z0];
        local[r] = s;
    }
    RP_CALL(gather_rows(comm, b, local, full));
    *sums = full;
    full = NULL;
cleanup:
    free(local);
    free(full);
    return rp_mpi_agree(comm, rc);
}

/* mu = sum over users, in user order, of per-user sums / nnz. */
static double mean_of(const rows_block *b, const double *sums)
{
    double s = 0.0;
    for (int64_t r = 0; r < b->nrows; r++) s += sums[r];
    int64_t nnz = b->offsets[b->nrows];
    return nnz > 0 ? s / (double)nnz : 0.0;
}

/* Per-user sums from /train/by_user and mu. Out: *b (caller clears), *sums, *mu. */
static int user_stats(MPI_Comm comm, hid_t shards, int want_idx, rows_block *b, double **sums,
                      double *mu)
{
    int rc = RP_OK;
    int64_t n_users = 0, n_items = 0;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(read_block(comm, shards, RP_SPLIT_TRAIN "/by_user", want_idx ? "item" : NULL,
                       n_items, n_users, b));
    RP_CALL(row_sums(comm, b, sums));
    *mu = mean_of(b, *sums);
cleanup:
    return rp_mpi_agree(comm, rc);
}

int rp_baseline_train_mean(MPI_Comm comm, hid_t shards, double *mu)
{
    int rc = RP_OK;
    rows_block b = {0};
    double *sums = NULL;
    RP_CALL(user_stats(comm, shards, 0, &b, &sums, mu));
cleanup:
    free(sums);
    rows_block_clear(&b);
    return rc;
}

static int fill(double **x, int64_t n, double v)
{
    int rc = RP_OK;
    RP_ALLOC(*x = malloc((size_t)(n > 0 ? n : 1) * sizeof **x));
    for (int64_t k = 0; k < n; k++) (*x)[k] = v;
cleanup:
    return rc;
}

int rp_baseline_global_mean(MPI_Comm comm, hid_t shards, rp_model **m)
{
    int rc = RP_OK;
    int64_t n_users = 0, n_items = 0;
    double mu = 0.0, *U = NULL, *V = NULL;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(rp_baseline_train_mean(comm, shards, &mu));
    RP_CALL(fill(&U, n_users, 1.0));
    RP_CALL(fill(&V, n_items, 0.0));
    RP_CALL(rp_model_from_dot(RP_BASELINE_GLOBAL_MEAN, n_users, n_items, 1, U, V,
                              RP_POST_IDENTITY, 1.0, mu, m));
cleanup:
    free(U);
    free(V);
    return rp_mpi_agree(comm, rc);
}

/* Mean per row (mu for empty rows). */
static void row_means(const rows_block *b, const double *sums, double mu, double *out)
{
    for (int64_t r = 0; r < b->nrows; r++) {
        int64_t n = b->offsets[r + 1] - b->offsets[r];
        out[r] = n > 0 ? sums[r] / (double)n : mu;
    }
}

int rp_baseline_user_mean(MPI_Comm comm, hid_t shards, rp_model **m)
{
    int rc = RP_OK;
    rows_block b = {0};
    int64_t n_users = 0, n_items = 0;
    double mu = 0.0, *sums = NULL, *U = NULL, *V = NULL;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(user_stats(comm, shards, 0, &b, &sums, &mu));
    RP_CALL(fill(&U, n_users, 0.0));
    RP_CALL(fill(&V, n_items, 1.0));
    row_means(&b, sums, mu, U);
    RP_CALL(rp_model_from_dot(RP_BASELINE_USER_MEAN, n_users, n_items, 1, U, V,
                              RP_POST_IDENTITY, 1.0, 0.0, m));
cleanup:
    free(sums);
    free(U);
    free(V);
    rows_block_clear(&b);
    return rp_mpi_agree(comm, rc);
}

/* Per-item sums from /train/by_item. Out: *b (caller clears), *sums. */
static int item_stats(MPI_Comm comm, hid_t shards, rows_block *b, double **sums)
{
    int rc = RP_OK;
    int64_t n_users = 0, n_items = 0;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(read_block(comm, shards, RP_SPLIT_TRAIN "/by_item", NULL, n_users, n_items, b));
    RP_CALL(row_sums(comm, b, sums));
cleanup:
    return rp_mpi_agree(comm, rc);
}

int rp_baseline_item_mean(MPI_Comm comm, hid_t shards, rp_model **m)
{
    int rc = RP_OK;
    rows_block bi = {0};
    int64_t n_users = 0, n_items = 0;
    double mu = 0.0, *sums = NULL, *U = NULL, *V = NULL;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(rp_baseline_train_mean(comm, shards, &mu));
    RP_CALL(item_stats(comm, shards, &bi, &sums));
    RP_CALL(fill(&U, n_users, 1.0));
    RP_CALL(fill(&V, n_items, 0.0));
    row_means(&bi, sums, mu, V);
    RP_CALL(rp_model_from_dot(RP_BASELINE_ITEM_MEAN, n_users, n_items, 1, U, V,
                              RP_POST_IDENTITY, 1.0, 0.0, m));
cleanup:
    free(sums);
    free(U);
    free(V);
    rows_block_clear(&bi);
    return rp_mpi_agree(comm, rc);
}

/* b_u for my users from their train rows and the replicated item biases bi. */
static void user_biases(const rows_block *bu, const double *bi, double mu, double reg,
                        double *local)
{
    int64_t z0 = bu->offsets[bu->r0];
    for (int64_t r = 0; r < bu->nr; r++) {
        int64_t a = bu->offsets[bu->r0 + r], e = bu->offsets[bu->r0 + r + 1];
        double s = 0.0;
        for (int64_t z = a; z < e; z++) s += bu->val[z - z0] - mu - bi[bu->idx[z - z0]];
        double den = reg + (double)(e - a);
        local[r] = den > 0.0 ? s / den : 0.0; /* reg = 0 and no rows: no bias */
    }
}

int rp_baseline_bias(MPI_Comm comm, hid_t shards, double reg, rp_model **m)
{
    int rc = RP_OK;
    rows_block bu = {0}, bi = {0};
    int64_t n_users = 0, n_items = 0;
    double mu = 0.0, *usum = NULL, *isum = NULL, *local = NULL, *U = NULL, *V = NULL;
    RP_REQUIRE(reg >= 0.0, RP_ERR_INTERNAL, "bias baseline: reg=%g < 0", reg);
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(user_stats(comm, shards, 1, &bu, &usum, &mu));
    RP_CALL(item_stats(comm, shards, &bi, &isum));
    /* U = [b_u, 1], V = [1, b_i]: item biases first (they need only mu), then users. */
    U = rp_malloc((size_t)(2 * n_users) * sizeof *U);
    V = rp_malloc((size_t)(2 * n_items) * sizeof *V);
    local = rp_malloc((size_t)(n_users > n_items ? n_users : n_items) * sizeof *local);
    RP_AGREE_LOCAL(comm, U == NULL || V == NULL || local == NULL);
    double *b_item = isum; /* overwritten in place: sum -> bias */
    for (int64_t i = 0; i < n_items; i++) {
        double n = (double)(bi.offsets[i + 1] - bi.offsets[i]);
        b_item[i] = (isum[i] - n * mu) / (reg + n > 0.0 ? reg + n : 1.0);
    }
    user_biases(&bu, b_item, mu, reg, local);
    double *b_user = usum;
    RP_CALL(gather_rows(comm, &bu, local, b_user));
    for (int64_t u = 0; u < n_users; u++) {
        U[2 * u] = b_user[u];
        U[2 * u + 1] = 1.0;
    }
    for (int64_t i = 0; i < n_items; i++) {
        V[2 * i] = 1.0;
        V[2 * i + 1] = b_item[i];
    }
    RP_CALL(rp_model_from_dot(RP_BASELINE_BIAS, n_users, n_items, 2, U, V, RP_POST_IDENTITY, 1.0,
                              mu, m));
cleanup:
    free(usum);
    free(isum);
    free(local);
    free(U);
    free(V);
    rows_block_clear(&bu);
    rows_block_clear(&bi);
    return rp_mpi_agree(comm, rc);
}

/* Sparse feature rows of one side (users or items): CSR with explicit values. */
typedef struct feat_rows {
    int64_t n, width;
    int64_t *off;
    int32_t *col;
    double *val;
    double maxabs;
} feat_rows;

static void feat_rows_clear(feat_rows *r)
{
    free(r->off);
    free(r->col);
    free(r->val);
    memset(r, 0, sizeof *r);
}

/* One table of side features read whole: int32 codes or float values [n, ncols]. */
typedef struct feat_table {
    int32_t *codes;
    float *nums;
    int64_t ncols;
    int32_t *card; /* per column slots, -1 = left out */
} feat_table;

static int read_table(hid_t f, const char *name, rp_dtype t, int64_t nrows, feat_table *tb)
{
    int rc = RP_OK, nd = 0;
    int64_t d[2];
    char fname[1024];
    if (!rp_h5_exists(f, name)) goto cleanup;
    RP_CALL(rp_h5_read_all(f, name, t, t == RP_I32 ? (void **)&tb->codes : (void **)&tb->nums,
                           &nd, d));
    tb->ncols = nd == 2 ? d[1] : 1;
    rp_h5_filename(f, fname, sizeof fname);
    if (d[0] != nrows)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld rows, expected %lld (features of another "
                      "dataset?)", fname, name, (long long)d[0], (long long)nrows);
cleanup:
    return rc;
}

/* Slots per categorical column from its cardinality dataset (tags: the "cardinality" attribute
 * + 1 so that every tag value up to it has a slot); columns above max_card get -1. */
static int read_cards(hid_t f, const char *cat_name, const char *card_name, int is_tags,
                      int max_card, feat_table *tb)
{
    int rc = RP_OK, nd = 0;
    int64_t d[2], tagc = 0;
    int32_t *card = NULL;
    char fname[1024];
    rp_h5_filename(f, fname, sizeof fname);
    if (tb->codes == NULL) goto cleanup;
    RP_ALLOC(tb->card = malloc((size_t)tb->ncols * sizeof *tb->card));
    if (is_tags) {
        RP_CALL(rp_h5_attr_read(f, cat_name, "cardinality", RP_I64, 1, &tagc));
        for (int64_t c = 0; c < tb->ncols; c++) tb->card[c] = (int32_t)(tagc + 1);
        goto cleanup;
    }
    RP_CALL(rp_h5_read_all(f, card_name, RP_I32, (void **)&card, &nd, d));
    if (d[0] != tb->ncols)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries for %lld columns of %s", fname,
                      card_name, (long long)d[0], (long long)tb->ncols, cat_name);
    for (int64_t c = 0; c < tb->ncols; c++) {
        tb->card[c] = card[c] > 0 && card[c] <= max_card ? card[c] : -1;
        if (card[c] > max_card)
            rp_log_info("notice: %s: %s column %lld has %d levels > max_cardinality %d: left "
                        "out of the linear regression", fname, cat_name, (long long)c, card[c],
                        max_card);
    }
cleanup:
    free(card);
    return rc;
}

/* Append the one-hot (multi-hot for tags) entries of row r of tb at column base *w. */
static int put_codes(const feat_table *tb, int is_tags, int64_t r, int64_t w, feat_rows *fr,
                     int64_t *nz, const char *fname)
{
    int rc = RP_OK;
    for (int64_t c = 0; c < tb->ncols; c++) {
        int32_t v = tb->codes[r * tb->ncols + c], k = tb->card[c];
        if (k < 0) continue;
        if (v < 0 || v >= k)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: categorical code %d in row %lld column %lld outside "
                          "[0, %d)", fname, v, (long long)r, (long long)c, k);
        if (!(is_tags && v == 0)) {
            fr->col[*nz] = (int32_t)w + v;
            fr->val[(*nz)++] = 1.0;
        }
        if (!is_tags) w += k;
    }
cleanup:
    return rc;
}

static int64_t table_width(const feat_table *tb, int is_tags)
{
    int64_t w = 0;
    if (tb->codes == NULL) return 0;
    if (is_tags) return tb->card[0] > 0 ? tb->card[0] : 0;
    for (int64_t c = 0; c < tb->ncols; c++) w += tb->card[c] > 0 ? tb->card[c] : 0;
    return w;
}

/* Build the sparse rows of one side ("/user" or "/item"). Collective (reads). */
static int read_side(hid_t f, const char *side, int64_t nrows, int max_card, feat_rows *fr)
{
    int rc = RP_OK;
    feat_table tb[3] = {{0}};
    char cat[64], card[64], tags[64], num[64], fname[1024];
    rp_h5_filename(f, fname, sizeof fname);
    snprintf(cat, sizeof cat, "%s/cat", side);
    snprintf(card, sizeof card, "%s/cat_cardinality", side);
    snprintf(tags, sizeof tags, "%s/tags", side);
    snprintf(num, sizeof num, "%s/num", side);
    RP_CALL(read_table(f, cat, RP_I32, nrows, &tb[0]));
    RP_CALL(read_cards(f, cat, card, 0, max_card, &tb[0]));
    RP_CALL(read_table(f, tags, RP_I32, nrows, &tb[1]));
    RP_CALL(read_cards(f, tags, NULL, 1, max_card, &tb[1]));
    RP_CALL(read_table(f, num, RP_F32, nrows, &tb[2]));
    int64_t w0 = table_width(&tb[0], 0), w1 = table_width(&tb[1], 1);
    int64_t per = tb[0].ncols + tb[1].ncols + tb[2].ncols, nz = 0;
    fr->n = nrows;
    fr->width = w0 + w1 + tb[2].ncols;
    RP_ALLOC(fr->off = malloc((size_t)(nrows + 1) * sizeof *fr->off));
    RP_ALLOC(fr->col = malloc((size_t)(nrows * per + 1) * sizeof *fr->col));
    RP_ALLOC(fr->val = malloc((size_t)(nrows * per + 1) * sizeof *fr->val));
    fr->maxabs = 1.0;
    for (int64_t r = 0; r < nrows; r++) {
        fr->off[r] = nz;
        if (tb[0].codes) RP_CALL(put_codes(&tb[0], 0, r, 0, fr, &nz, fname));
        if (tb[1].codes) RP_CALL(put_codes(&tb[1], 1, r, w0, fr, &nz, fname));
        for (int64_t c = 0; c < tb[2].ncols; c++) {
            double v = tb[2].nums[r * tb[2].ncols + c];
            if (!isfinite(v))
                RP_FAIL_USER0(RP_ERR_DATA, "%s: %s row %lld column %lld is not finite", fname,
                              num, (long long)r, (long long)c);
            fr->col[nz] = (int32_t)(w0 + w1 + c);
            fr->val[nz++] = v;
            if (fabs(v) > fr->maxabs) fr->maxabs = fabs(v);
        }
    }
    fr->off[nrows] = nz;
cleanup:
    for (int k = 0; k < 3; k++) {
        free(tb[k].codes);
        free(tb[k].nums);
        free(tb[k].card);
    }
    if (rc != RP_OK) feat_rows_clear(fr);
    return rc;
}

/* Fixed-point normal equations: A [p, p] and b [p] scaled by 2^e, columns
 * [intercept, user features (pu - 1), item features]. */
typedef struct normal_eq {
    int64_t p, pu;
    int64_t *A, *b;
    double scale;
    double *t;       /* [p - pu] per-user sum of item features */
    int64_t *touch;  /* item columns touched for the current user */
    int64_t *stamp;  /* [p - pu]: user that last touched the column, -1 none */
} normal_eq;

static inline void fx_add(int64_t *dst, double v, double scale) { *dst += llround(v * scale); }

static double row_l1(const feat_rows *f, int64_t r)
{
    double s = 0.0;
    for (int64_t z = f->off[r]; z < f->off[r + 1]; z++) s += fabs(f->val[z]);
    return s;
}

/* The scale 2^e keeps every partial sum below 2^62: |entry| <= nnz * M * max(M, Y) with M the
 * largest row L1 norm of x_ui and Y the largest |target|. Depends only on global data. */
static double fx_scale(const feat_rows *fu, const feat_rows *fi, int64_t nnz, double ymax)
{
    double mu = 0.0, mi = 0.0;
    for (int64_t r = 0; r < fu->n; r++) mu = fmax(mu, row_l1(fu, r));
    for (int64_t r = 0; r < fi->n; r++) mi = fmax(mi, row_l1(fi, r));
    double m = 1.0 + mu + mi, bound = (double)(nnz > 0 ? nnz : 1) * m * fmax(m, ymax);
    int e = 0;
    frexp(bound, &e); /* bound < 2^e */
    return ldexp(1.0, 61 - e);
}

/* User side: n_u g g^T, g t_u^T (both triangles) and g S_u with g = [1, f_u]. */
static void ne_user(normal_eq *ne, const feat_rows *fu, const feat_rows *fi, const rows_block *bu,
                    int64_t r)
{
    int64_t u = bu->r0 + r, z0 = bu->offsets[bu->r0], nt = 0, p = ne->p, pu = ne->pu;
    int64_t a0 = bu->offsets[u] - z0, a1 = bu->offsets[u + 1] - z0;
    double n = (double)(a1 - a0), S = 0.0;
    for (int64_t z = a0; z < a1; z++) {
        int32_t i = bu->idx[z];
        S += bu->val[z];
        for (int64_t q = fi->off[i]; q < fi->off[i + 1]; q++) {
            int64_t c = fi->col[q];
            if (ne->stamp[c] != u) {
                ne->stamp[c] = u;
                ne->t[c] = 0.0;
                ne->touch[nt++] = c;
            }
            ne->t[c] += fi->val[q];
        }
    }
    int64_t k0 = fu->off[u] - 1, k1 = fu->off[u + 1]; /* k0: the intercept */
    for (int64_t ka = k0; ka < k1; ka++) {
        int64_t ca = ka == k0 ? 0 : 1 + fu->col[ka];
        double ga = ka == k0 ? 1.0 : fu->val[ka];
        for (int64_t kb = k0; kb < k1; kb++) {
            int64_t cb = kb == k0 ? 0 : 1 + fu->col[kb];
            fx_add(&ne->A[ca * p + cb], n * ga * (kb == k0 ? 1.0 : fu->val[kb]), ne->scale);
        }
        for (int64_t x = 0; x < nt; x++) {
            int64_t c = ne->touch[x];
            fx_add(&ne->A[ca * p + pu + c], ga * ne->t[c], ne->scale);
            fx_add(&ne->A[(pu + c) * p + ca], ga * ne->t[c], ne->scale);
        }
        fx_add(&ne->b[ca], ga * S, ne->scale);
    }
}

/* Item side: n_i f_i f_i^T and f_i S_i. */
static void ne_item(normal_eq *ne, const feat_rows *fi, const rows_block *bi, int64_t r)
{
    int64_t i = bi->r0 + r, z0 = bi->offsets[bi->r0], p = ne->p, pu = ne->pu;
    int64_t a0 = bi->offsets[i] - z0, a1 = bi->offsets[i + 1] - z0;
    double n = (double)(a1 - a0), S = 0.0;
    for (int64_t z = a0; z < a1; z++) S += bi->val[z];
    for (int64_t ka = fi->off[i]; ka < fi->off[i + 1]; ka++) {
        int64_t ca = pu + fi->col[ka];
        for (int64_t kb = fi->off[i]; kb < fi->off[i + 1]; kb++)
            fx_add(&ne->A[ca * p + pu + fi->col[kb]], n * fi->val[ka] * fi->val[kb], ne->scale);
        fx_add(&ne->b[ca], fi->val[ka] * S, ne->scale);
    }
}

/* Reduce the fixed-point sums (exact), solve on rank 0, broadcast w [p]. Collective. */
static int ne_solve(MPI_Comm comm, normal_eq *ne, double ridge, double *w)
{
    int rc = RP_OK, rank = 0, n = 0, info = 0;
    int64_t p = ne->p;
    double *A = NULL;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_CALL(rp_int_cast(p * p, &n));
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, ne->A, n, MPI_INT64_T, MPI_SUM, comm));
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, ne->b, (int)p, MPI_INT64_T, MPI_SUM, comm));
    /* Rank 0 solves; every outcome, out of memory included, reaches the others by info. */
    if (rank == 0 && (A = malloc((size_t)(p * p) * sizeof *A)) == NULL) info = INT32_MIN;
    if (rank == 0 && A != NULL) {
        for (int64_t x = 0; x < p * p; x++) A[x] = (double)ne->A[x] / ne->scale;
        for (int64_t x = 0; x < p; x++) w[x] = (double)ne->b[x] / ne->scale;
        for (int64_t x = 1; x < p; x++) A[x * p + x] += ridge;
        info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)p, 1, A, (lapack_int)p, w, 1);
    }
    RP_MPI(MPI_Bcast(&info, 1, MPI_INT, 0, comm));
    RP_REQUIRE(info != INT32_MIN, RP_ERR_NOMEM, "linear regression: out of memory for %lld^2",
               (long long)p);
    if (info != 0)
        RP_FAIL_USER0(RP_ERR_DATA, "linear regression: normal equations not positive definite "
                      "(LAPACK info=%d): raise --ridge", info);
    RP_MPI(MPI_Bcast(w, (int)p, MPI_DOUBLE, 0, comm));
cleanup:
    free(A);
    return rc;
}

static void normal_eq_clear(normal_eq *ne)
{
    free(ne->A);
    free(ne->b);
    free(ne->t);
    free(ne->touch);
    free(ne->stamp);
    memset(ne, 0, sizeof *ne);
}

static int ne_alloc(normal_eq *ne, int64_t pu, int64_t pi)
{
    int rc = RP_OK;
    ne->pu = pu;
    ne->p = pu + pi;
    /* 8000 columns: two 8000^2 matrices (int64 and double) are 1 GiB; beyond, refuse. */
    if (ne->p > 8000)
        RP_FAIL_USER0(RP_ERR_DATA, "linear regression: %lld feature columns is too wide "
                      "(lower the maximum cardinality)", (long long)ne->p);
    RP_ALLOC(ne->A = calloc((size_t)(ne->p * ne->p), sizeof *ne->A));
    RP_ALLOC(ne->b = calloc((size_t)ne->p, sizeof *ne->b));
    RP_ALLOC(ne->t = calloc((size_t)(pi > 0 ? pi : 1), sizeof *ne->t));
    RP_ALLOC(ne->touch = malloc((size_t)(pi > 0 ? pi : 1) * sizeof *ne->touch));
    RP_ALLOC(ne->stamp = malloc((size_t)(pi > 0 ? pi : 1) * sizeof *ne->stamp));
    for (int64_t c = 0; c < pi; c++) ne->stamp[c] = -1;
cleanup:
    return rc;
}

/* Dot form of w: U = [w_0 + f_u.w_u, 1], V = [1, f_i.w_i]. */
static int linreg_model(const feat_rows *fu, const feat_rows *fi, int64_t pu, const double *w,
                        rp_model **m)
{
    int rc = RP_OK;
    double *U = NULL, *V = NULL;
    RP_ALLOC(U = malloc((size_t)(2 * fu->n) * sizeof *U));
    RP_ALLOC(V = malloc((size_t)(2 * fi->n) * sizeof *V));
    for (int64_t u = 0; u < fu->n; u++) {
        double s = w[0];
        for (int64_t z = fu->off[u]; z < fu->off[u + 1]; z++) s += fu->val[z] * w[1 + fu->col[z]];
        U[2 * u] = s;
        U[2 * u + 1] = 1.0;
    }
    for (int64_t i = 0; i < fi->n; i++) {
        double s = 0.0;
        for (int64_t z = fi->off[i]; z < fi->off[i + 1]; z++) s += fi->val[z] * w[pu + fi->col[z]];
        V[2 * i] = 1.0;
        V[2 * i + 1] = s;
    }
    RP_CALL(rp_model_from_dot(RP_BASELINE_LINREG, fu->n, fi->n, 2, U, V, RP_POST_IDENTITY, 1.0,
                              0.0, m));
cleanup:
    free(U);
    free(V);
    return rc;
}

int rp_baseline_linreg(MPI_Comm comm, hid_t shards, hid_t features,
                       const rp_baseline_linreg_opts *o, rp_model **m)
{
    int rc = RP_OK;
    rows_block bu = {0}, bi = {0};
    feat_rows fu = {0}, fi = {0};
    normal_eq ne = {0};
    int64_t n_users = 0, n_items = 0;
    double *w = NULL;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(read_side(features, "/user", n_users, o->max_cardinality, &fu));
    RP_CALL(read_side(features, "/item", n_items, o->max_cardinality, &fi));
    RP_CALL(read_block(comm, shards, RP_SPLIT_TRAIN "/by_user", "item", n_items, n_users, &bu));
    RP_CALL(read_block(comm, shards, RP_SPLIT_TRAIN "/by_item", NULL, n_users, n_items, &bi));
    double ymax = 0.0;
    for (int64_t z = 0; z < bu.offsets[bu.r0 + bu.nr] - bu.offsets[bu.r0]; z++)
        ymax = fmax(ymax, fabs(bu.val[z]));
    RP_CALL(rp_mpi_max_f64(comm, &ymax, 1));
    RP_CALL(ne_alloc(&ne, 1 + fu.width, fi.width));
    ne.scale = fx_scale(&fu, &fi, bu.offsets[n_users], ymax);
    for (int64_t r = 0; r < bu.nr; r++) ne_user(&ne, &fu, &fi, &bu, r);
    for (int64_t r = 0; r < bi.nr; r++) ne_item(&ne, &fi, &bi, r);
    RP_ALLOC(w = malloc((size_t)ne.p * sizeof *w));
    RP_CALL(ne_solve(comm, &ne, o->ridge, w));
    RP_CALL(linreg_model(&fu, &fi, ne.pu, w, m));
cleanup:
    free(w);
    normal_eq_clear(&ne);
    feat_rows_clear(&fu);
    feat_rows_clear(&fi);
    rows_block_clear(&bu);
    rows_block_clear(&bi);
    return rp_mpi_agree(comm, rc);
}
