/* rp_linreg.c - the ridge linear regression baseline on user and video features (features.h5)
 * fitted on /train of shards.h5, as a dot-form rp_model; used by rp-eval. Rank-count
 * independent: fixed-point normal equations reduced exactly (see rp_linreg.h). */
#include "rp_linreg.h"

#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_baseline.h"
#include "rp_csr.h"
#include "rp_err.h"
#include "rp_fault.h"
#include "rp_h5.h"
#include "rp_la.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_shards.h"

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
    /* The collective reads first, the local allocation after them. */
    if (is_tags) {
        RP_CALL(rp_h5_attr_read(f, cat_name, "cardinality", RP_I64, 1, &tagc));
        RP_ALLOC(tb->card = malloc((size_t)tb->ncols * sizeof *tb->card));
        for (int64_t c = 0; c < tb->ncols; c++) tb->card[c] = (int32_t)(tagc + 1);
        goto cleanup;
    }
    RP_CALL(rp_h5_read_all(f, card_name, RP_I32, (void **)&card, &nd, d));
    RP_ALLOC(tb->card = malloc((size_t)tb->ncols * sizeof *tb->card));
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

/* The datasets of one side of features.h5 (docs/SCHEMA.md); tags NULL: the side has none. */
typedef struct feat_names {
    const char *cat, *card, *tags, *num;
} feat_names;
static const feat_names user_names = {RP_DS_USER_CAT, RP_DS_USER_CAT_CARD, NULL, RP_DS_USER_NUM};
static const feat_names item_names = {RP_DS_ITEM_CAT, RP_DS_ITEM_CAT_CARD, RP_DS_ITEM_TAGS,
                                      RP_DS_ITEM_NUM};

/* Build the sparse rows of one side. Collective (reads); the rc is agreed. */
static int read_side(MPI_Comm comm, hid_t f, const feat_names *nm, int64_t nrows, int max_card,
                     feat_rows *fr)
{
    int rc = RP_OK;
    feat_table tb[3] = {{0}};
    const char *cat = nm->cat, *card = nm->card, *tags = nm->tags, *num = nm->num;
    char fname[1024];
    rp_h5_filename(f, fname, sizeof fname);
    RP_CALL(read_table(f, cat, RP_I32, nrows, &tb[0]));
    RP_CALL(read_cards(f, cat, card, 0, max_card, &tb[0]));
    if (tags != NULL) {
        RP_CALL(read_table(f, tags, RP_I32, nrows, &tb[1]));
        RP_CALL(read_cards(f, tags, NULL, 1, max_card, &tb[1]));
    }
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
    rc = rp_mpi_agree(comm, rc); /* the rows are built locally */
    if (rc != RP_OK) feat_rows_clear(fr);
    return rc;
}

/* Fixed-point normal equations scaled by 2^e, columns [intercept, user features (pu - 1), item
 * features]: every rank sums its users' part of the top rows Au [pu, p] (the user x user and
 * user x item blocks) and its items' part of b [p]; the item x item block needs only the
 * items' features and train counts, so rank 0 alone makes it, in the matrix it solves. No rank
 * holds a p x p sum of its own any more (p ~ 4,200 at full size: 141 MB). */
typedef struct normal_eq {
    int64_t p, pu;
    int64_t *Au, *b;
    double scale;
    double *t;       /* [p - pu] per-user sum of item features */
    int64_t *touch;  /* item columns touched for the current user */
    int64_t *tfx;    /* [p - pu]: llround(t[touch[x]] * scale) */
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

/* User side: n_u g g^T, g t_u^T and g S_u with g = [1, f_u]. The cross block is summed in
 * the upper triangle only (rows of A, cache-friendly) and mirrored once before the solve: the
 * strided mirror writes were most of rp-eval's linear-regression time at full size. */
static void ne_user(normal_eq *ne, const feat_rows *fu, const feat_rows *fi, const rp_csr_block *bu,
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
    for (int64_t x = 0; x < nt; x++) ne->tfx[x] = llround(ne->t[ne->touch[x]] * ne->scale);
    int64_t k0 = fu->off[u] - 1, k1 = fu->off[u + 1]; /* k0: the intercept */
    for (int64_t ka = k0; ka < k1; ka++) {
        int64_t ca = ka == k0 ? 0 : 1 + fu->col[ka];
        double ga = ka == k0 ? 1.0 : fu->val[ka];
        for (int64_t kb = k0; kb < k1; kb++) {
            int64_t cb = kb == k0 ? 0 : 1 + fu->col[kb];
            fx_add(&ne->Au[ca * p + cb], n * ga * (kb == k0 ? 1.0 : fu->val[kb]), ne->scale);
        }
        int64_t *row = &ne->Au[ca * p + pu];
        if (ga == 1.0) /* one-hot columns: the same rounded t_u for every such row */
            for (int64_t x = 0; x < nt; x++) row[ne->touch[x]] += ne->tfx[x];
        else
            for (int64_t x = 0; x < nt; x++) fx_add(&row[ne->touch[x]], ga * ne->t[ne->touch[x]],
                                                    ne->scale);
        fx_add(&ne->b[ca], ga * S, ne->scale);
    }
}

/* Item side of b: f_i S_i for my items. */
static void ne_item_b(normal_eq *ne, const feat_rows *fi, const rp_csr_block *bi, int64_t r)
{
    int64_t i = bi->r0 + r, z0 = bi->offsets[bi->r0];
    int64_t a0 = bi->offsets[i] - z0, a1 = bi->offsets[i + 1] - z0;
    double S = 0.0;
    for (int64_t z = a0; z < a1; z++) S += bi->val[z];
    for (int64_t ka = fi->off[i]; ka < fi->off[i + 1]; ka++)
        fx_add(&ne->b[ne->pu + fi->col[ka]], fi->val[ka] * S, ne->scale);
}

/* Item x item block of every item, n_i f_i f_i^T with n_i its train count (from the replicated
 * offsets), added into A (rank 0's p x p sums). */
static void ne_item_block(const normal_eq *ne, const feat_rows *fi, const int64_t *offsets,
                          int64_t *A)
{
    int64_t p = ne->p, pu = ne->pu;
    for (int64_t i = 0; i < fi->n; i++) {
        double n = (double)(offsets[i + 1] - offsets[i]);
        for (int64_t ka = fi->off[i]; ka < fi->off[i + 1]; ka++) {
            int64_t ca = pu + fi->col[ka];
            for (int64_t kb = fi->off[i]; kb < fi->off[i + 1]; kb++)
                fx_add(&A[ca * p + pu + fi->col[kb]], n * fi->val[ka] * fi->val[kb], ne->scale);
        }
    }
}

/* Rank 0's exact sums A [p, p]: the reduced top rows, their mirror, the item block; then the
 * same storage turned into doubles in place (memcpy gives it the effective type double). */
static double *ne_assemble(const normal_eq *ne, const feat_rows *fi, const int64_t *offsets,
                           int64_t *A)
{
    int64_t p = ne->p;
    for (int64_t r = 0; r < ne->pu; r++) /* the user x item block's lower triangle */
        for (int64_t c = ne->pu; c < p; c++) A[c * p + r] = A[r * p + c];
    ne_item_block(ne, fi, offsets, A);
    for (int64_t x = 0; x < p * p; x++) {
        double v = (double)A[x] / ne->scale;
        memcpy(&A[x], &v, sizeof v);
    }
    return (double *)(void *)A;
}

/* Reduce the fixed-point sums to rank 0 (exact), solve there, broadcast w [p]. Collective.
 * Rank 0 reduces the top rows in place and grows them into its p x p matrix (realloc: mremap for
 * a block this size), so Au and the matrix are never held side by side. */
static int ne_solve(MPI_Comm comm, normal_eq *ne, const feat_rows *fi, const int64_t *offsets,
                    double ridge, double *w)
{
    int rc = RP_OK, rank = 0, n = 0, info = 0;
    int64_t p = ne->p, *A = NULL, *b = NULL;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_CALL(rp_int_cast(ne->pu * p, &n));
    if (rank == 0) b = rp_calloc((size_t)p, sizeof *b);
    RP_AGREE_LOCAL(comm, rank == 0 && b == NULL);
    /* In pieces of 2^19 entries: a reduction tree's buffers stay at 4 MB, not |Au| (54 MB at
     * full size). */
    for (int64_t x = 0, piece = 1 << 19; x < (int64_t)n; x += piece) {
        int cnt = (int)(n - x < piece ? n - x : piece);
        if (rank == 0)
            RP_MPI(MPI_Reduce(MPI_IN_PLACE, ne->Au + x, cnt, MPI_INT64_T, MPI_SUM, 0, comm));
        else
            RP_MPI(MPI_Reduce(ne->Au + x, NULL, cnt, MPI_INT64_T, MPI_SUM, 0, comm));
    }
    RP_MPI(MPI_Reduce(ne->b, b, (int)p, MPI_INT64_T, MPI_SUM, 0, comm));
#ifdef __GLIBC__
    /* The interactions freed before the solve may sit in heap pages glibc keeps (blocks below
     * its mmap threshold): give them back before rank 0's largest allocation. */
    if (rank == 0) malloc_trim(0);
#endif
    if (rank == 0 && (A = rp_realloc(ne->Au, (size_t)(p * p) * sizeof *A)) != NULL) {
        ne->Au = NULL; /* now the top rows of A */
        memset(A + ne->pu * p, 0, (size_t)((p - ne->pu) * p) * sizeof *A);
        double *Ad = ne_assemble(ne, fi, offsets, A);
        for (int64_t x = 0; x < p; x++) w[x] = (double)b[x] / ne->scale;
        for (int64_t x = 1; x < p; x++) Ad[x * p + x] += ridge;
        if (rp_la_dposv_info(p, Ad, w, &info) != RP_OK) info = INT32_MIN + 1;
    } else if (rank == 0) {
        info = INT32_MIN; /* every outcome, out of memory included, reaches the others by info */
    }
    free(ne->Au);
    ne->Au = NULL;
    RP_MPI(MPI_Bcast(&info, 1, MPI_INT, 0, comm));
    RP_REQUIRE(info != INT32_MIN, RP_ERR_NOMEM, "linear regression: out of memory for %lld^2",
               (long long)p);
    RP_REQUIRE(info != INT32_MIN + 1, RP_ERR_INTERNAL, "linear regression: LAPACK failed");
    if (info != 0)
        RP_FAIL_USER0(RP_ERR_DATA, "linear regression: normal equations not positive definite "
                      "(LAPACK info=%d): raise --ridge", info);
    RP_MPI(MPI_Bcast(w, (int)p, MPI_DOUBLE, 0, comm));
cleanup:
    free(A);
    free(b);
    return rc;
}

static void normal_eq_clear(normal_eq *ne)
{
    free(ne->Au);
    free(ne->b);
    free(ne->t);
    free(ne->touch);
    free(ne->tfx);
    free(ne->stamp);
    memset(ne, 0, sizeof *ne);
}

static int ne_alloc(normal_eq *ne, int64_t pu, int64_t pi)
{
    int rc = RP_OK;
    ne->pu = pu;
    ne->p = pu + pi;
    /* 8000 columns: rank 0's 8000^2 matrix is 512 MB; beyond, refuse. */
    if (ne->p > 8000)
        RP_FAIL_USER0(RP_ERR_DATA, "linear regression: %lld feature columns is too wide "
                      "(lower the maximum cardinality)", (long long)ne->p);
    RP_ALLOC(ne->Au = calloc((size_t)(ne->pu * ne->p), sizeof *ne->Au));
    RP_ALLOC(ne->b = calloc((size_t)ne->p, sizeof *ne->b));
    RP_ALLOC(ne->t = calloc((size_t)(pi > 0 ? pi : 1), sizeof *ne->t));
    RP_ALLOC(ne->touch = malloc((size_t)(pi > 0 ? pi : 1) * sizeof *ne->touch));
    RP_ALLOC(ne->tfx = malloc((size_t)(pi > 0 ? pi : 1) * sizeof *ne->tfx));
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

static void drop_entries(rp_csr_block *b)
{
    free(b->idx);
    free(b->val);
    b->idx = NULL;
    b->val = NULL;
}

int rp_linreg_fit(MPI_Comm comm, hid_t shards, hid_t features, const rp_linreg_opts *o,
                  rp_model **m)
{
    int rc = RP_OK;
    rp_csr_block bu = {0}, bi = {0};
    feat_rows fu = {0}, fi = {0};
    normal_eq ne = {0};
    int64_t n_users = 0, n_items = 0;
    double *w = NULL;
    char fname[1024];
    rp_h5_filename(shards, fname, sizeof fname);
    RP_CALL(rp_shards_read_header(shards, fname, &n_users, &n_items));
    RP_CALL(read_side(comm, features, &user_names, n_users, o->max_cardinality, &fu));
    RP_CALL(read_side(comm, features, &item_names, n_items, o->max_cardinality, &fi));
    RP_CALL(rp_csr_block_read(comm, shards, RP_SPLIT_TRAIN "/by_user", "item", n_items, n_users,
                              &bu));
    RP_CALL(rp_csr_block_read(comm, shards, RP_SPLIT_TRAIN "/by_item", NULL, n_users, n_items,
                              &bi));
    double ymax = 0.0;
    for (int64_t z = 0; z < bu.offsets[bu.r0 + bu.nr] - bu.offsets[bu.r0]; z++)
        ymax = fmax(ymax, fabs(bu.val[z]));
    RP_CALL(rp_mpi_max_f64(comm, &ymax, 1));
    rc = ne_alloc(&ne, 1 + fu.width, fi.width);
    w = rp_malloc((size_t)(ne.p > 0 ? ne.p : 1) * sizeof *w);
    RP_AGREE_LOCAL(comm, w == NULL);
    ne.scale = fx_scale(&fu, &fi, bu.offsets[n_users], ymax);
    for (int64_t r = 0; r < bu.nr; r++) ne_user(&ne, &fu, &fi, &bu, r);
    for (int64_t r = 0; r < bi.nr; r++) ne_item_b(&ne, &fi, &bi, r);
    /* Rank 0's p x p matrix must not meet the interactions: only the offsets stay. */
    drop_entries(&bu);
    drop_entries(&bi);
    RP_CALL(ne_solve(comm, &ne, &fi, bi.offsets, o->ridge, w));
    RP_CALL(linreg_model(&fu, &fi, ne.pu, w, m));
cleanup:
    free(w);
    normal_eq_clear(&ne);
    feat_rows_clear(&fu);
    feat_rows_clear(&fi);
    rp_csr_block_clear(&bu);
    rp_csr_block_clear(&bi);
    return rp_mpi_agree(comm, rc);
}
