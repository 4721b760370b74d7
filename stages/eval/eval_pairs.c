/* eval_pairs.c - rp-eval's models scored from per-pair predictions: a model file with
 * /test_pred (seqrec.h5: each test pair scored from the user's history before its time) is
 * reported twice, as "<name>" from those predictions and as "<name>-final" from its /score dot
 * form. The per-pair kind answers the test pairs from /test_pred and any other pair, and whole
 * user blocks, from the dot form. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_pairs.h"
#include "rp_csr.h"
#include "rp_h5.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_schema.h"

/* Only the test rows of users [u0, u0 + nu) are held (the caller's block): memory per rank falls
 * with the rank count instead of holding every test pair on every rank. */
typedef struct pairs_impl {
    rp_model *dot;     /* the file's dot form (owned) */
    int64_t u0, nu;    /* the users whose test rows are held */
    int64_t *off;      /* [nu + 1] local test rows by user (0-based) */
    int32_t *item;     /* per user, sorted ascending */
    float *pred;       /* aligned with item */
} pairs_impl;

static int pairs_score(const rp_model *m, const int32_t *users, const int32_t *items, int64_t n,
                       float *out)
{
    int rc = RP_OK;
    const pairs_impl *p = m->impl;
    for (int64_t k = 0; k < n; k++) {
        int64_t r = users[k] - p->u0, lo = 0, end = 0;
        if (r >= 0 && r < p->nu) lo = p->off[r], end = p->off[r + 1];
        int64_t hi = end;
        while (lo < hi) { /* first row with item >= items[k] */
            int64_t mid = lo + (hi - lo) / 2;
            if (p->item[mid] < items[k]) lo = mid + 1;
            else hi = mid;
        }
        if (lo < end && p->item[lo] == items[k]) out[k] = p->pred[lo];
        else RP_CALL(rp_model_score_pairs(p->dot, users + k, items + k, 1, out + k));
    }
cleanup:
    return rc;
}

static int pairs_block(const rp_model *m, int64_t u0, int64_t nu, float *out)
{
    const pairs_impl *p = m->impl;
    return rp_model_score_block(p->dot, u0, nu, out);
}

static void pairs_destroy(void *impl)
{
    pairs_impl *p = impl;
    if (p == NULL) return;
    rp_model_destroy(&p->dot);
    free(p->off);
    free(p->item);
    free(p->pred);
    free(p);
}

static const rp_model_ops pairs_ops = {"pairs", pairs_score, pairs_block, pairs_destroy};

int eval_pairs_has(MPI_Comm comm, const char *path)
{
    hid_t f = H5I_INVALID_HID;
    int has = 0;
    if (rp_h5_open(comm, path, &f) == RP_OK) has = rp_h5_exists(f, RP_DS_TEST_PRED);
    rp_h5_close(&f);
    return has;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sort one user's (item, pred) rows by item (a test pair occurs once, so items are distinct):
 * as keys item << 32 | pred bits in key[n]. The small matrix's users have ~3,300 test rows in
 * time order, where the insertion sort used before spent ~1 s of rp-eval per rank. */
static void sort_user(int32_t *item, float *pred, int64_t n, uint64_t *key)
{
    for (int64_t a = 0; a < n; a++) {
        uint32_t bits;
        memcpy(&bits, pred + a, sizeof bits);
        key[a] = (uint64_t)(uint32_t)item[a] << 32 | bits;
    }
    qsort(key, (size_t)n, sizeof *key, cmp_u64);
    for (int64_t a = 0; a < n; a++) {
        uint32_t bits = (uint32_t)key[a];
        item[a] = (int32_t)(key[a] >> 32);
        memcpy(pred + a, &bits, sizeof bits);
    }
}

/* This rank's users' rows of shards.h5 /test/by_user/item and of path's /test_pred (the same
 * hyperslab of both), checked: lengths equal, predictions in [0, 1]. Collective. */
static int read_pairs(MPI_Comm comm, const char *path, const char *shards, int64_t n_users,
                      pairs_impl *p)
{
    int rc = RP_OK, nd = 0;
    hid_t f = H5I_INVALID_HID, s = H5I_INVALID_HID;
    int64_t *off = NULL, nnz = 0, d3[2] = {0, 0};
    uint64_t *key = NULL;
    RP_CALL(rp_h5_open(comm, shards, &s));
    RP_CALL(rp_csr_read_offsets(s, RP_SPLIT_TEST "/by_user", "item", n_users, &off, &nnz));
    RP_CALL(rp_h5_open(comm, path, &f));
    RP_CALL(rp_h5_dims(f, RP_DS_TEST_PRED, &nd, d3));
    if (nd != 1 || d3[0] != nnz)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, %s has %lld test pairs", path,
                      RP_DS_TEST_PRED, (long long)d3[0], shards, (long long)nnz);
    int64_t z0 = off[p->u0], nz = off[p->u0 + p->nu] - z0;
    p->off = rp_malloc((size_t)(p->nu + 1) * sizeof *p->off);
    p->item = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *p->item);
    p->pred = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *p->pred);
    RP_AGREE_LOCAL(comm, p->off == NULL || p->item == NULL || p->pred == NULL);
    for (int64_t r = 0; r <= p->nu; r++) p->off[r] = off[p->u0 + r] - z0;
    RP_CALL(rp_h5_read(s, RP_SPLIT_TEST "/" RP_DS_BY_USER_ITEM, RP_I32, z0, nz, p->item));
    RP_CALL(rp_h5_read(f, RP_DS_TEST_PRED, RP_F32, z0, nz, p->pred));
    for (int64_t k = 0; k < nz; k++)
        if (!(p->pred[k] >= 0.0f && p->pred[k] <= 1.0f))
            RP_FAIL_USER(RP_ERR_DATA, "%s: %s[%lld] = %g is not in [0, 1]", path,
                         RP_DS_TEST_PRED, (long long)(z0 + k), (double)p->pred[k]);
    int64_t longest = 0;
    for (int64_t r = 0; r < p->nu; r++)
        longest = p->off[r + 1] - p->off[r] > longest ? p->off[r + 1] - p->off[r] : longest;
    RP_ALLOC(key = malloc((size_t)(longest > 0 ? longest : 1) * sizeof *key));
    for (int64_t r = 0; r < p->nu; r++)
        sort_user(p->item + p->off[r], p->pred + p->off[r], p->off[r + 1] - p->off[r], key);
cleanup:
    free(key);
    free(off);
    rp_h5_close(&f);
    rp_h5_close(&s);
    return rp_mpi_agree(comm, rc);
}

int eval_pairs_load(MPI_Comm comm, const char *path, const char *shards, int64_t n_users,
                    int64_t n_items, int64_t u0, int64_t nu, rp_model **out)
{
    int rc = RP_OK;
    pairs_impl *p = NULL;
    rp_model *m = NULL;
    p = calloc(1, sizeof *p);
    m = calloc(1, sizeof *m);
    rc = p == NULL || m == NULL ? RP_ERR_NOMEM : RP_OK;
    RP_AGREE(comm, rc);
    RP_REQUIRE(u0 >= 0 && nu >= 0 && u0 + nu <= n_users, RP_ERR_INTERNAL,
               "eval_pairs_load: users [%lld, %lld) outside [0, %lld)", (long long)u0,
               (long long)(u0 + nu), (long long)n_users);
    p->u0 = u0;
    p->nu = nu;
    RP_CALL(rp_model_load(comm, path, n_users, n_items, &p->dot));
    RP_CALL(read_pairs(comm, path, shards, n_users, p));
    rp_model_set(m, p->dot->name, n_users, n_items, &pairs_ops, p);
    p = NULL;
    *out = m;
    m = NULL;
cleanup:
    pairs_destroy(p);
    free(m);
    return rc;
}
