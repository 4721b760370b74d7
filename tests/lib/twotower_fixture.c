/* twotower_fixture.c - planted synthetic shards.h5 + features.h5 following include/rp_schema.h,
 * used by rp-twotower's tests and benchmark (the real files come from other stages). */
#include "twotower_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_rng.h"
#include "rp_schema.h"

void twotower_fixture_default(tt_fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->n_users = 60;
    fx->n_items = 80;
    fx->train_per_user = 40;
    fx->valid_per_user = 10;
    fx->n_ucat = 2;
    fx->n_unum = 2;
    fx->n_icat = 2;
    fx->n_inum = 1;
    fx->tag_len = 3;
    fx->ucard = 5;  /* 4 values + the missing slot 0 */
    fx->icard = 6;
    fx->tag_card = 8;
    fx->with_tags = 1;
    fx->seed = 7;
    fx->noise = 0.02;
}

typedef struct fx_feats {
    int32_t *ucat, *icat, *tags;
    float *unum, *inum;
} fx_feats;

static double fx_u(const tt_fixture *fx, uint64_t stream, uint64_t idx)
{
    return rp_rng_uniform(fx->seed, stream, idx);
}

static int make_feats(const tt_fixture *fx, fx_feats *F)
{
    int rc = RP_OK;
    int64_t nu = fx->n_users, ni = fx->n_items;
    RP_ALLOC(F->ucat = malloc((size_t)(nu * fx->n_ucat + 1) * sizeof(int32_t)));
    RP_ALLOC(F->icat = malloc((size_t)(ni * fx->n_icat + 1) * sizeof(int32_t)));
    RP_ALLOC(F->tags = calloc((size_t)(ni * fx->tag_len + 1), sizeof(int32_t)));
    RP_ALLOC(F->unum = malloc((size_t)(nu * fx->n_unum + 1) * sizeof(float)));
    RP_ALLOC(F->inum = malloc((size_t)(ni * fx->n_inum + 1) * sizeof(float)));
    for (int64_t k = 0; k < nu * fx->n_ucat; k++)
        F->ucat[k] = 1 + (int32_t)(fx_u(fx, 1, (uint64_t)k) * (fx->ucard - 1));
    for (int64_t k = 0; k < ni * fx->n_icat; k++)
        F->icat[k] = 1 + (int32_t)(fx_u(fx, 2, (uint64_t)k) * (fx->icard - 1));
    for (int64_t i = 0; i < ni; i++) {
        int nt = 1 + (int)(fx_u(fx, 3, (uint64_t)i) * fx->tag_len);
        for (int k = 0; k < nt && k < fx->tag_len; k++)
            F->tags[i * fx->tag_len + k] = 1 + (int32_t)(fx_u(fx, 4, (uint64_t)(i * 64 + k)) *
                                                         fx->tag_card);
    }
    for (int64_t k = 0; k < nu * fx->n_unum; k++) F->unum[k] = (float)fx_u(fx, 5, (uint64_t)k);
    for (int64_t k = 0; k < ni * fx->n_inum; k++)
        F->inum[k] = (float)(1000.0 + 9000.0 * fx_u(fx, 6, (uint64_t)k)); /* raw "ms" scale */
cleanup:
    return rc;
}

/* The planted expected value of (u, i). */
static double planted(const tt_fixture *fx, const fx_feats *F, int64_t u, int64_t i)
{
    int cu = fx->n_ucat > 0 ? F->ucat[u * fx->n_ucat] : 0;
    int ci = fx->n_icat > 0 ? F->icat[i * fx->n_icat] : 0;
    double a = 2.0 * rp_rng_uniform(fx->seed, 7, (uint64_t)(cu * 1000 + ci)) - 1.0;
    double v = 0.5 + 0.3 * a;
    if (fx->with_tags && fx->tag_len > 0) {
        int32_t t0 = F->tags[i * fx->tag_len];
        v += 0.15 * (2.0 * rp_rng_uniform(fx->seed, 8, (uint64_t)(t0 * 1000 + cu)) - 1.0);
    }
    if (fx->n_unum > 0) v += 0.1 * (F->unum[u * fx->n_unum] - 0.5);
    return v;
}

/* The CSC view (by_item, users ascending within an item) that the bias baseline reads. */
static int write_by_item(MPI_Comm comm, hid_t f, const tt_fixture *fx, const char *split,
                         int64_t per_user, const int32_t *item, const float *val)
{
    int rc = RP_OK;
    int64_t ni = fx->n_items, nnz = fx->n_users * per_user, g1 = ni + 1;
    int64_t *off = NULL, *pos = NULL;
    int32_t *user = NULL;
    float *v = NULL;
    char name[128];
    RP_ALLOC(off = calloc((size_t)(ni + 1), sizeof *off));
    RP_ALLOC(pos = malloc((size_t)(ni + 1) * sizeof *pos));
    RP_ALLOC(user = malloc((size_t)(nnz + 1) * sizeof *user));
    RP_ALLOC(v = malloc((size_t)(nnz + 1) * sizeof *v));
    for (int64_t k = 0; k < nnz; k++) off[item[k] + 1]++;
    for (int64_t i = 0; i < ni; i++) off[i + 1] += off[i];
    memcpy(pos, off, (size_t)(ni + 1) * sizeof *pos);
    for (int64_t k = 0; k < nnz; k++) {
        int64_t p = pos[item[k]]++;
        user[p] = (int32_t)(k / per_user);
        v[p] = val[k];
    }
    snprintf(name, sizeof name, "%s/%s", split, RP_DS_BY_ITEM_OFFSETS);
    RP_CALL(rp_h5_write_replicated(comm, f, name, RP_I64, 1, &g1, off));
    snprintf(name, sizeof name, "%s/%s", split, RP_DS_BY_ITEM_USER);
    RP_CALL(rp_h5_write_replicated(comm, f, name, RP_I32, 1, &nnz, user));
    snprintf(name, sizeof name, "%s/%s", split, RP_DS_BY_ITEM_VALUE);
    RP_CALL(rp_h5_write_replicated(comm, f, name, RP_F32, 1, &nnz, v));
cleanup:
    free(off);
    free(pos);
    free(user);
    free(v);
    return rc;
}

/* CSR of one split: per_user random items for every user, values planted + noise. */
static int write_split(MPI_Comm comm, hid_t f, const tt_fixture *fx, const fx_feats *F,
                       const char *split, int64_t per_user, uint64_t stream)
{
    int rc = RP_OK;
    int64_t nu = fx->n_users, nnz = nu * per_user;
    int64_t *off = NULL;
    int32_t *item = NULL;
    float *val = NULL;
    char name[128];
    RP_ALLOC(off = malloc((size_t)(nu + 1) * sizeof *off));
    RP_ALLOC(item = malloc((size_t)(nnz + 1) * sizeof *item));
    RP_ALLOC(val = malloc((size_t)(nnz + 1) * sizeof *val));
    for (int64_t u = 0; u <= nu; u++) off[u] = u * per_user;
    for (int64_t k = 0; k < nnz; k++) {
        int64_t u = k / per_user;
        int64_t i = (int64_t)(rp_rng_uniform(fx->seed, stream, (uint64_t)k) * fx->n_items);
        double v = planted(fx, F, u, i) + fx->noise * rp_rng_normal(fx->seed, stream + 1,
                                                                    (uint64_t)k);
        item[k] = (int32_t)i;
        val[k] = (float)fmin(fmax(v, 0.0), 1.0);
    }
    int64_t g1 = nu + 1;
    snprintf(name, sizeof name, "%s/%s", split, RP_DS_BY_USER_OFFSETS);
    RP_CALL(rp_h5_write_replicated(comm, f, name, RP_I64, 1, &g1, off));
    snprintf(name, sizeof name, "%s/%s", split, RP_DS_BY_USER_ITEM);
    RP_CALL(rp_h5_write_replicated(comm, f, name, RP_I32, 1, &nnz, item));
    snprintf(name, sizeof name, "%s/%s", split, RP_DS_BY_USER_VALUE);
    RP_CALL(rp_h5_write_replicated(comm, f, name, RP_F32, 1, &nnz, val));
    RP_CALL(write_by_item(comm, f, fx, split, per_user, item, val));
cleanup:
    free(off);
    free(item);
    free(val);
    return rc;
}

static int write_mat(MPI_Comm comm, hid_t f, const char *name, rp_dtype t, int64_t rows,
                     int64_t cols, const void *buf, const char *prefix)
{
    int rc = RP_OK;
    int64_t g[2] = {rows, cols};
    char **names = NULL;
    RP_CALL(rp_h5_write_replicated(comm, f, name, t, 2, g, buf));
    RP_ALLOC(names = calloc((size_t)cols + 1, sizeof *names));
    for (int64_t j = 0; j < cols; j++) {
        RP_ALLOC(names[j] = malloc(32));
        snprintf(names[j], 32, "%s%lld", prefix, (long long)j);
    }
    RP_CALL(rp_h5_attr_write_strs(f, name, "columns", cols, (const char *const *)names));
cleanup:
    if (names) rp_h5_strs_free(names, cols);
    return rc;
}

static int write_card(MPI_Comm comm, hid_t f, const char *name, int n, int32_t card)
{
    int rc = RP_OK;
    int32_t *c = NULL;
    int64_t g = n;
    RP_ALLOC(c = malloc((size_t)(n + 1) * sizeof *c));
    for (int j = 0; j < n; j++) c[j] = card;
    RP_CALL(rp_h5_write_replicated(comm, f, name, RP_I32, 1, &g, c));
cleanup:
    free(c);
    return rc;
}

static int write_features(MPI_Comm comm, const tt_fixture *fx, const fx_feats *F,
                          const char *path)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    int64_t nu = fx->n_users, ni = fx->n_items, tc = fx->tag_card;
    RP_CALL(rp_h5_create(comm, path, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_FEATURES));
    RP_CALL(write_mat(comm, f, RP_DS_USER_CAT, RP_I32, nu, fx->n_ucat, F->ucat, "ucat"));
    RP_CALL(write_card(comm, f, RP_DS_USER_CAT_CARD, fx->n_ucat, fx->ucard));
    RP_CALL(write_mat(comm, f, RP_DS_USER_NUM, RP_F32, nu, fx->n_unum, F->unum, "unum"));
    RP_CALL(write_mat(comm, f, RP_DS_ITEM_CAT, RP_I32, ni, fx->n_icat, F->icat, "icat"));
    RP_CALL(write_card(comm, f, RP_DS_ITEM_CAT_CARD, fx->n_icat, fx->icard));
    RP_CALL(write_mat(comm, f, RP_DS_ITEM_NUM, RP_F32, ni, fx->n_inum, F->inum, "inum"));
    if (fx->tag_len > 0) {
        RP_CALL(write_mat(comm, f, RP_DS_ITEM_TAGS, RP_I32, ni, fx->tag_len, F->tags, "tag"));
        RP_CALL(rp_h5_attr_write(f, RP_DS_ITEM_TAGS, "cardinality", RP_I64, 1, &tc));
    }
cleanup:
    return rp_h5_commit(comm, &f, path, rc);
}

int twotower_fixture_write(MPI_Comm comm, const tt_fixture *fx, const char *shards,
                           const char *features)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    fx_feats F = {0};
    RP_CALL(make_feats(fx, &F));
    RP_CALL(rp_h5_create(comm, shards, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_SHARDS));
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &fx->n_users));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &fx->n_items));
    /* the scaling of rp-shard's default (clip at 3): values are watch ratio / 3 */
    double norm[2] = {0.0, 3.0};
    RP_CALL(rp_h5_attr_write(f, "/", "norm_min", RP_F64, 1, &norm[0]));
    RP_CALL(rp_h5_attr_write(f, "/", "norm_max", RP_F64, 1, &norm[1]));
    RP_CALL(write_split(comm, f, fx, &F, RP_SPLIT_TRAIN, fx->train_per_user, 10));
    RP_CALL(write_split(comm, f, fx, &F, RP_SPLIT_VALID, fx->valid_per_user, 20));
    rc = rp_h5_commit(comm, &f, shards, rc);
    if (rc == RP_OK) rc = write_features(comm, fx, &F, features);
cleanup:
    if (f >= 0) rc = rp_h5_commit(comm, &f, shards, rc);
    free(F.ucat);
    free(F.icat);
    free(F.tags);
    free(F.unum);
    free(F.inum);
    return rc;
}
