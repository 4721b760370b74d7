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
#include "rp_h5.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_schema.h"

typedef struct pairs_impl {
    rp_model *dot;     /* the file's dot form (owned) */
    int64_t *off;      /* [n_users + 1] test rows by user */
    int32_t *item;     /* per user, sorted ascending */
    float *pred;       /* aligned with item */
} pairs_impl;

static int pairs_score(const rp_model *m, const int32_t *users, const int32_t *items, int64_t n,
                       float *out)
{
    int rc = RP_OK;
    const pairs_impl *p = m->impl;
    for (int64_t k = 0; k < n; k++) {
        int64_t lo = p->off[users[k]], hi = p->off[users[k] + 1];
        while (lo < hi) { /* first row with item >= items[k] */
            int64_t mid = lo + (hi - lo) / 2;
            if (p->item[mid] < items[k]) lo = mid + 1;
            else hi = mid;
        }
        if (lo < p->off[users[k] + 1] && p->item[lo] == items[k]) out[k] = p->pred[lo];
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

/* Sort one user's (item, pred) rows by item (insertion sort on runs: rows are few per user,
 * and a test pair occurs once). */
static void sort_user(int32_t *item, float *pred, int64_t n)
{
    for (int64_t a = 1; a < n; a++) {
        int32_t it = item[a];
        float pv = pred[a];
        int64_t b = a;
        for (; b > 0 && item[b - 1] > it; b--) {
            item[b] = item[b - 1];
            pred[b] = pred[b - 1];
        }
        item[b] = it;
        pred[b] = pv;
    }
}

static int read_pairs(MPI_Comm comm, const char *path, const char *shards, int64_t n_users,
                      pairs_impl *p)
{
    int rc = RP_OK, nd = 0;
    hid_t f = H5I_INVALID_HID, s = H5I_INVALID_HID;
    int64_t d1[2] = {0, 0}, d2[2] = {0, 0}, d3[2] = {0, 0};
    char name[128];
    RP_CALL(rp_h5_open(comm, shards, &s));
    snprintf(name, sizeof name, "%s/%s", RP_SPLIT_TEST, RP_DS_BY_USER_OFFSETS);
    RP_CALL(rp_h5_read_all(s, name, RP_I64, (void **)&p->off, &nd, d1));
    snprintf(name, sizeof name, "%s/%s", RP_SPLIT_TEST, RP_DS_BY_USER_ITEM);
    RP_CALL(rp_h5_read_all(s, name, RP_I32, (void **)&p->item, &nd, d2));
    if (d1[0] != n_users + 1 || p->off[n_users] != d2[0])
        RP_FAIL_USER0(RP_ERR_DATA, "%s: /test/by_user does not match n_users=%lld", shards,
                      (long long)n_users);
    RP_CALL(rp_h5_open(comm, path, &f));
    RP_CALL(rp_h5_read_all(f, RP_DS_TEST_PRED, RP_F32, (void **)&p->pred, &nd, d3));
    if (nd != 1 || d3[0] != d2[0])
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, %s has %lld test pairs", path,
                      RP_DS_TEST_PRED, (long long)d3[0], shards, (long long)d2[0]);
    for (int64_t k = 0; k < d3[0]; k++)
        if (!(p->pred[k] >= 0.0f && p->pred[k] <= 1.0f))
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s[%lld] = %g is not in [0, 1]", path,
                          RP_DS_TEST_PRED, (long long)k, (double)p->pred[k]);
    for (int64_t u = 0; u < n_users; u++)
        sort_user(p->item + p->off[u], p->pred + p->off[u], p->off[u + 1] - p->off[u]);
cleanup:
    rp_h5_close(&f);
    rp_h5_close(&s);
    return rp_mpi_agree(comm, rc);
}

int eval_pairs_load(MPI_Comm comm, const char *path, const char *shards, int64_t n_users,
                    int64_t n_items, rp_model **out)
{
    int rc = RP_OK;
    pairs_impl *p = NULL;
    rp_model *m = NULL;
    p = calloc(1, sizeof *p);
    m = calloc(1, sizeof *m);
    rc = p == NULL || m == NULL ? RP_ERR_NOMEM : RP_OK;
    RP_AGREE(comm, rc);
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
