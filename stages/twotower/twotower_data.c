/* twotower_data.c - read shards.h5 (train/valid interactions) and features.h5 (user and video
 * features) on every rank, validate them, and standardise numeric features. rp-twotower only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_shards.h"
#include "rp_sha256.h"
#include "twotower.h"

/* Read one split's CSR by user into interaction arrays and validate it. Collective. */
static int read_split(MPI_Comm comm, hid_t f, const char *path, const char *split,
                      int64_t n_users, int64_t n_items, tt_split *s)
{
    int rc = RP_OK;
    int64_t *off = NULL, d[2];
    int nd = 0;
    char name[256];
    memset(s, 0, sizeof *s);
    snprintf(name, sizeof name, "%s/%s", split, RP_DS_BY_USER_OFFSETS);
    RP_CALL(rp_h5_read_all(f, name, RP_I64, (void **)&off, &nd, d));
    if (nd != 1 || d[0] != n_users + 1)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, expected n_users+1 = %lld", path,
                      name, (long long)d[0], (long long)(n_users + 1));
    int64_t nnz = off[n_users];
    for (int64_t u = 0; u < n_users; u++)
        if (off[u] > off[u + 1] || off[0] != 0)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s is not a non-decreasing offsets vector from 0 "
                          "(row %lld)", path, name, (long long)u);
    snprintf(name, sizeof name, "%s/%s", split, RP_DS_BY_USER_ITEM);
    RP_CALL(rp_h5_read_all(f, name, RP_I32, (void **)&s->item, &nd, d));
    if (d[0] != nnz)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, offsets say %lld", path, name,
                      (long long)d[0], (long long)nnz);
    snprintf(name, sizeof name, "%s/%s", split, RP_DS_BY_USER_VALUE);
    RP_CALL(rp_h5_read_all(f, name, RP_F32, (void **)&s->value, &nd, d));
    if (d[0] != nnz)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, offsets say %lld", path, name,
                      (long long)d[0], (long long)nnz);
    s->user = rp_malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof *s->user);
    RP_AGREE_LOCAL(comm, s->user == NULL);
    for (int64_t u = 0; u < n_users; u++)
        for (int64_t k = off[u]; k < off[u + 1]; k++) s->user[k] = (int32_t)u;
    for (int64_t k = 0; k < nnz; k++) {
        if (s->item[k] < 0 || s->item[k] >= n_items)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s/%s[%lld] = %d is outside [0, n_items=%lld)", path,
                          split, RP_DS_BY_USER_ITEM, (long long)k, s->item[k], (long long)n_items);
        if (!(s->value[k] >= 0.0f && s->value[k] <= 1.0f))
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s/%s[%lld] = %g is not in [0, 1]", path, split,
                          RP_DS_BY_USER_VALUE, (long long)k, (double)s->value[k]);
    }
    s->n = nnz;
cleanup:
    free(off);
    return rc;
}

static int read_shards(MPI_Comm comm, const char *path, tt_data *d)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    RP_CALL(rp_shards_open(comm, path, &f, &d->n_users, &d->n_items));
    RP_CALL(read_split(comm, f, path, RP_SPLIT_TRAIN, d->n_users, d->n_items, &d->train));
    RP_CALL(read_split(comm, f, path, RP_SPLIT_VALID, d->n_users, d->n_items, &d->valid));
    if (d->train.n == 0 || d->train.n >= UINT32_MAX)
        RP_FAIL_USER0(RP_ERR_NOINPUT, "%s: /train has %lld interactions", path,
                      (long long)d->train.n);
    double sum = 0.0;
    for (int64_t k = 0; k < d->train.n; k++) sum += d->train.value[k];
    d->train_mean = sum / (double)d->train.n;
cleanup:
    rp_h5_close(&f);
    return rc;
}

/* Column names from the "columns" attribute, or "<prefix><j>" when it is absent. */
static int column_names(hid_t f, const char *ds, const char *prefix, int n, char ***out)
{
    int rc = RP_OK;
    char **names = NULL;
    int64_t got = 0;
    if (rp_h5_attr_exists(f, ds, "columns")) {
        RP_CALL(rp_h5_attr_read_strs(f, ds, "columns", &names, &got));
        if (got == n) {
            *out = names;
            return RP_OK;
        }
        rp_h5_strs_free(names, got);
        names = NULL;
    }
    RP_ALLOC(names = calloc((size_t)(n > 0 ? n : 1), sizeof *names));
    for (int j = 0; j < n; j++) {
        RP_ALLOC(names[j] = malloc(32));
        snprintf(names[j], 32, "%s%d", prefix, j);
    }
    *out = names;
    names = NULL;
cleanup:
    if (names) rp_h5_strs_free(names, n);
    return rc;
}

/* Read an optional [n_rows, k] matrix; absent -> k = 0. */
static int read_matrix(hid_t f, const char *path, const char *ds, rp_dtype t, int64_t n_rows,
                       void **buf, int *k)
{
    int rc = RP_OK;
    int nd = 0;
    int64_t d[2] = {0, 0};
    *k = 0;
    *buf = NULL;
    if (!rp_h5_exists(f, ds)) return RP_OK;
    RP_CALL(rp_h5_dims(f, ds, &nd, d));
    if (nd != 2 || d[0] != n_rows || d[1] > 100000)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has shape [%lld, %lld], expected [%lld, k]", path, ds,
                      (long long)d[0], (long long)(nd == 2 ? d[1] : 1), (long long)n_rows);
    if (d[1] > 0) RP_CALL(rp_h5_read_all(f, ds, t, buf, &nd, d));
    *k = (int)d[1];
cleanup:
    return rc;
}

/* Categorical columns and their cardinalities; every value must index its table. */
static int read_cats(hid_t f, const char *path, const char *ds, const char *card_ds, tt_side *s)
{
    int rc = RP_OK;
    int nd = 0;
    int64_t d[2];
    RP_CALL(read_matrix(f, path, ds, RP_I32, s->n, (void **)&s->cat, &s->ncat));
    if (s->ncat == 0) return RP_OK;
    RP_CALL(rp_h5_read_all(f, card_ds, RP_I32, (void **)&s->card, &nd, d));
    if (nd != 1 || d[0] != s->ncat)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, expected %d", path, card_ds,
                      (long long)d[0], s->ncat);
    for (int j = 0; j < s->ncat; j++)
        if (s->card[j] < 1) RP_FAIL_USER0(RP_ERR_DATA, "%s: %s[%d] = %d < 1", path, card_ds, j,
                                          s->card[j]);
    for (int64_t r = 0; r < s->n; r++)
        for (int j = 0; j < s->ncat; j++) {
            int32_t v = s->cat[r * s->ncat + j];
            if (v < 0 || v >= s->card[j])
                RP_FAIL_USER0(RP_ERR_DATA, "%s: %s[%lld, %d] = %d is outside [0, %d)", path, ds,
                              (long long)r, j, v, s->card[j]);
        }
    RP_CALL(column_names(f, ds, "cat", s->ncat, &s->cat_names));
cleanup:
    return rc;
}

/* Numeric columns, standardised (z-scores over all rows) so raw scales (durations in ms) do not
 * swamp the MLP; mean/std are kept and written with the weights. */
static int read_nums(hid_t f, const char *path, const char *ds, tt_side *s)
{
    int rc = RP_OK;
    RP_CALL(read_matrix(f, path, ds, RP_F32, s->n, (void **)&s->num, &s->nnum));
    if (s->nnum == 0) return RP_OK;
    /* names first: their attribute read is collective, the rest is local work that may fail on
     * one rank alone (the caller agrees after it) */
    RP_CALL(column_names(f, ds, "num", s->nnum, &s->num_names));
    RP_ALLOC(s->num_mean = malloc((size_t)s->nnum * sizeof(float)));
    RP_ALLOC(s->num_std = malloc((size_t)s->nnum * sizeof(float)));
    for (int j = 0; j < s->nnum; j++) {
        double sum = 0.0, sq = 0.0;
        for (int64_t r = 0; r < s->n; r++) {
            double v = s->num[r * s->nnum + j];
            if (!isfinite(v))
                RP_FAIL_USER0(RP_ERR_DATA, "%s: %s[%lld, %d] is not finite", path, ds,
                              (long long)r, j);
            sum += v;
            sq += v * v;
        }
        double mean = sum / (double)s->n, var = sq / (double)s->n - mean * mean;
        double sd = var > 1e-12 ? sqrt(var) : 1.0;
        s->num_mean[j] = (float)mean;
        s->num_std[j] = (float)sd;
        for (int64_t r = 0; r < s->n; r++)
            s->num[r * s->nnum + j] = (float)((s->num[r * s->nnum + j] - mean) / sd);
    }
cleanup:
    return rc;
}

static int read_tags(hid_t f, const char *path, tt_side *s)
{
    int rc = RP_OK;
    int64_t card = 0;
    RP_CALL(read_matrix(f, path, RP_DS_ITEM_TAGS, RP_I32, s->n, (void **)&s->tags, &s->tag_len));
    if (s->tag_len == 0) return RP_OK;
    RP_CALL(rp_h5_attr_read(f, RP_DS_ITEM_TAGS, "cardinality", RP_I64, 1, &card));
    /* Whether "cardinality" counts the pad slot or not, card + 1 rows hold every valid value. */
    s->tag_rows = card + 1;
    for (int64_t k = 0; k < s->n * s->tag_len; k++)
        if (s->tags[k] < 0 || s->tags[k] > card)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s[%lld, %lld] = %d is outside [0, %lld]", path,
                          RP_DS_ITEM_TAGS, (long long)(k / s->tag_len),
                          (long long)(k % s->tag_len), s->tags[k], (long long)card);
cleanup:
    return rc;
}

static int read_features(MPI_Comm comm, const char *path, tt_data *d)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    tt_side *u = &d->side[TT_USER], *it = &d->side[TT_ITEM];
    RP_CALL(rp_h5_open(comm, path, &f));
    RP_CALL(rp_h5_check_schema(f, path, RP_SCHEMA_FEATURES));
    u->n = d->n_users;
    it->n = d->n_items;
    /* Each step ends in local work (scaling, checks) that may fail on one rank alone. */
    rc = read_cats(f, path, RP_DS_USER_CAT, RP_DS_USER_CAT_CARD, u);
    RP_AGREE(comm, rc);
    rc = read_nums(f, path, RP_DS_USER_NUM, u);
    RP_AGREE(comm, rc);
    rc = read_cats(f, path, RP_DS_ITEM_CAT, RP_DS_ITEM_CAT_CARD, it);
    RP_AGREE(comm, rc);
    rc = read_nums(f, path, RP_DS_ITEM_NUM, it);
    RP_AGREE(comm, rc);
    RP_CALL(read_tags(f, path, it));
cleanup:
    rp_h5_close(&f);
    return rc;
}

int twotower_read_inputs(MPI_Comm comm, const tt_opts *o, tt_data *d)
{
    int rc = RP_OK;
    char hs[65], hf[65];
    memset(d, 0, sizeof *d);
    rc = read_shards(comm, o->train.shards, d);
    RP_AGREE(comm, rc);
    rc = read_features(comm, o->train.features, d);
    RP_AGREE(comm, rc);
    RP_CALL(twotower_log_setup(comm, o, d));
    RP_CALL(rp_hash_file(comm, o->train.shards, hs));
    RP_CALL(rp_hash_file(comm, o->train.features, hf));
    snprintf(d->inputs, sizeof d->inputs, "shards=%s sha256=%s\nfeatures=%s sha256=%s",
             o->train.shards, hs, o->train.features, hf);
cleanup:
    return rp_mpi_agree(comm, rc);
}

static void side_clear(tt_side *s)
{
    free(s->cat);
    free(s->card);
    if (s->cat_names) rp_h5_strs_free(s->cat_names, s->ncat);
    free(s->num);
    free(s->num_mean);
    free(s->num_std);
    if (s->num_names) rp_h5_strs_free(s->num_names, s->nnum);
    free(s->tags);
    memset(s, 0, sizeof *s);
}

static void split_clear(tt_split *s)
{
    free(s->user);
    free(s->item);
    free(s->value);
    memset(s, 0, sizeof *s);
}

void twotower_data_clear(tt_data *d)
{
    side_clear(&d->side[0]);
    side_clear(&d->side[1]);
    split_clear(&d->train);
    split_clear(&d->valid);
    free(d->cu);
    free(d->ci);
    d->cu = d->ci = NULL;
}
