/* seqrec_data.c - read shards.h5 (train, valid and test rows by user, in time order, with their
 * timestamps) and the item side information of features.h5 (author column, tags) on every rank,
 * and build each user's history: train rows, then valid rows. rp-seqrec only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_h5.h"
#include "rp_inputs.h"
#include "rp_mem.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "seqrec.h"

typedef struct split {
    int64_t *off;
    int32_t *item;
    float *value;
    double *time;
} split;

static void split_clear(split *s)
{
    free(s->off);
    free(s->item);
    free(s->value);
    free(s->time);
    memset(s, 0, sizeof *s);
}

static int read_vec(hid_t f, const char *path, const char *sp, const char *ds, rp_dtype t,
                    int64_t n, void **buf)
{
    int rc = RP_OK, nd = 0;
    int64_t dims[2] = {0, 0};
    char name[256];
    snprintf(name, sizeof name, "%s/%s", sp, ds);
    RP_CALL(rp_h5_read_all(f, name, t, buf, &nd, dims));
    if (nd != 1 || dims[0] != n)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, expected %lld", path, name,
                      (long long)dims[0], (long long)n);
cleanup:
    return rc;
}

/* One split's CSR by user with its values and timestamps, checked. */
static int read_split(hid_t f, const char *path, const char *sp, const sr_data *d, split *s)
{
    int rc = RP_OK;
    memset(s, 0, sizeof *s);
    RP_CALL(read_vec(f, path, sp, RP_DS_BY_USER_OFFSETS, RP_I64, d->n_users + 1,
                     (void **)&s->off));
    for (int64_t u = 0; u < d->n_users; u++)
        if (s->off[0] != 0 || s->off[u] > s->off[u + 1])
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s/%s is not non-decreasing from 0 (row %lld)", path,
                          sp, RP_DS_BY_USER_OFFSETS, (long long)u);
    int64_t nnz = s->off[d->n_users];
    RP_CALL(read_vec(f, path, sp, RP_DS_BY_USER_ITEM, RP_I32, nnz, (void **)&s->item));
    RP_CALL(read_vec(f, path, sp, RP_DS_BY_USER_VALUE, RP_F32, nnz, (void **)&s->value));
    RP_CALL(read_vec(f, path, sp, RP_DS_BY_USER_TIME, RP_F64, nnz, (void **)&s->time));
    for (int64_t k = 0; k < nnz; k++) {
        if (s->item[k] < 0 || s->item[k] >= d->n_items)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s/%s[%lld] = %d is outside [0, n_items=%lld)", path,
                          sp, RP_DS_BY_USER_ITEM, (long long)k, s->item[k],
                          (long long)d->n_items);
        if (!(s->value[k] >= 0.0f && s->value[k] <= 1.0f))
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s/%s[%lld] = %g is not in [0, 1]", path, sp,
                          RP_DS_BY_USER_VALUE, (long long)k, (double)s->value[k]);
    }
cleanup:
    return rc;
}

/* History of every user: its train rows then its valid rows (both in time order). */
static int build_history(sr_data *d, const split *tr, const split *va, int buckets)
{
    int rc = RP_OK;
    int64_t U = d->n_users, n = tr->off[U] + va->off[U];
    RP_ALLOC(d->hoff = malloc((size_t)(U + 1) * sizeof *d->hoff));
    RP_ALLOC(d->ntrain = malloc((size_t)U * sizeof *d->ntrain));
    /* huge pages: these hold every train and valid view, and a 4 KB page's first touch costs
     * 12-20 us on these VMs */
    RP_ALLOC(d->hitem = rp_mem_big((size_t)(n > 0 ? n : 1) * sizeof *d->hitem));
    RP_ALLOC(d->hval = rp_mem_big((size_t)(n > 0 ? n : 1) * sizeof *d->hval));
    RP_ALLOC(d->hbucket = rp_mem_big((size_t)(n > 0 ? n : 1)));
    RP_ALLOC(d->htime = rp_mem_big((size_t)(n > 0 ? n : 1) * sizeof *d->htime));
    int64_t k = 0;
    double sum = 0.0;
    for (int64_t u = 0; u < U; u++) {
        d->hoff[u] = k;
        d->ntrain[u] = tr->off[u + 1] - tr->off[u];
        const split *parts[2] = {tr, va};
        for (int p = 0; p < 2; p++)
            for (int64_t r = parts[p]->off[u]; r < parts[p]->off[u + 1]; r++, k++) {
                d->hitem[k] = parts[p]->item[r];
                d->hval[k] = parts[p]->value[r];
                d->hbucket[k] = seqrec_bucket(parts[p]->value[r], buckets);
                d->htime[k] = parts[p]->time[r];
                if (p == 0) sum += parts[p]->value[r];
            }
    }
    d->hoff[U] = k;
    d->n_train = tr->off[U];
    d->n_valid = va->off[U];
    d->train_mean = d->n_train > 0 ? sum / (double)d->n_train : 0.0;
cleanup:
    return rc;
}

static int read_shards(MPI_Comm comm, const sr_opts *o, sr_data *d)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    split tr = {0}, va = {0}, te = {0};
    const char *path = o->train.shards;
    RP_CALL(rp_h5_open(comm, path, &f));
    RP_CALL(rp_h5_check_schema(f, path, RP_SCHEMA_SHARDS));
    RP_CALL(rp_h5_attr_read(f, "/", "n_users", RP_I64, 1, &d->n_users));
    RP_CALL(rp_h5_attr_read(f, "/", "n_items", RP_I64, 1, &d->n_items));
    if (d->n_users < 1 || d->n_items < 1 || d->n_users > INT32_MAX || d->n_items > INT32_MAX)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: n_users=%lld n_items=%lld out of range", path,
                      (long long)d->n_users, (long long)d->n_items);
    RP_CALL(read_split(f, path, RP_SPLIT_TRAIN, d, &tr));
    RP_CALL(read_split(f, path, RP_SPLIT_VALID, d, &va));
    RP_CALL(read_split(f, path, RP_SPLIT_TEST, d, &te));
    if (tr.off[d->n_users] == 0)
        RP_FAIL_USER0(RP_ERR_NOINPUT, "%s: /train is empty", path);
    RP_CALL(build_history(d, &tr, &va, o->buckets));
    d->toff = te.off;
    d->titem = te.item;
    d->tval = te.value;
    d->ttime = te.time;
    d->n_test = te.off[d->n_users];
    memset(&te, 0, sizeof te);
cleanup:
    split_clear(&tr);
    split_clear(&va);
    split_clear(&te);
    rp_h5_close(&f);
    return rc;
}

/* The author column of /item/cat (named "author_id" or "author"), if any. */
static int read_author(hid_t f, const char *path, sr_data *d)
{
    int rc = RP_OK, nd = 0, col = -1;
    int64_t dims[2] = {0, 0}, ncols = 0;
    char **names = NULL;
    int32_t *cat = NULL, *card = NULL;
    if (!rp_h5_exists(f, RP_DS_ITEM_CAT) || !rp_h5_attr_exists(f, RP_DS_ITEM_CAT, "columns"))
        return RP_OK;
    RP_CALL(rp_h5_attr_read_strs(f, RP_DS_ITEM_CAT, "columns", &names, &ncols));
    for (int64_t j = 0; j < ncols; j++)
        if (strcmp(names[j], "author_id") == 0 || strcmp(names[j], "author") == 0) col = (int)j;
    if (col < 0) goto cleanup;
    RP_CALL(rp_h5_read_all(f, RP_DS_ITEM_CAT, RP_I32, (void **)&cat, &nd, dims));
    if (nd != 2 || dims[0] != d->n_items || dims[1] != ncols)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has shape [%lld, %lld], expected [%lld, %lld]", path,
                      RP_DS_ITEM_CAT, (long long)dims[0], (long long)dims[1],
                      (long long)d->n_items, (long long)ncols);
    RP_CALL(rp_h5_read_all(f, RP_DS_ITEM_CAT_CARD, RP_I32, (void **)&card, &nd, dims));
    if (nd != 1 || dims[0] != ncols || card[col] < 1)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s does not match the columns of %s", path,
                      RP_DS_ITEM_CAT_CARD, RP_DS_ITEM_CAT);
    RP_ALLOC(d->author = malloc((size_t)d->n_items * sizeof *d->author));
    for (int64_t i = 0; i < d->n_items; i++) {
        int32_t v = cat[i * ncols + col];
        if (v < 0 || v >= card[col])
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s[%lld, %d] = %d is outside [0, %d)", path,
                          RP_DS_ITEM_CAT, (long long)i, col, v, card[col]);
        d->author[i] = v;
    }
    d->n_authors = card[col];
cleanup:
    if (names) rp_h5_strs_free(names, ncols);
    free(cat);
    free(card);
    return rc;
}

static int read_tags(hid_t f, const char *path, sr_data *d)
{
    int rc = RP_OK, nd = 0;
    int64_t dims[2] = {0, 0}, card = 0;
    if (!rp_h5_exists(f, RP_DS_ITEM_TAGS)) return RP_OK;
    RP_CALL(rp_h5_dims(f, RP_DS_ITEM_TAGS, &nd, dims));
    if (nd != 2 || dims[0] != d->n_items || dims[1] > 64)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has shape [%lld, %lld], expected [%lld, <= 64]", path,
                      RP_DS_ITEM_TAGS, (long long)dims[0], (long long)dims[1],
                      (long long)d->n_items);
    if (dims[1] == 0) return RP_OK;
    RP_CALL(rp_h5_read_all(f, RP_DS_ITEM_TAGS, RP_I32, (void **)&d->tags, &nd, dims));
    RP_CALL(rp_h5_attr_read(f, RP_DS_ITEM_TAGS, "cardinality", RP_I64, 1, &card));
    for (int64_t k = 0; k < d->n_items * dims[1]; k++)
        if (d->tags[k] < 0 || d->tags[k] > card)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s[%lld, %lld] = %d is outside [0, %lld]", path,
                          RP_DS_ITEM_TAGS, (long long)(k / dims[1]), (long long)(k % dims[1]),
                          d->tags[k], (long long)card);
    d->tag_len = (int)dims[1];
    d->tag_rows = card + 1; /* whether or not "cardinality" counts the pad, this holds all */
cleanup:
    return rc;
}

static int read_features(MPI_Comm comm, const char *path, sr_data *d)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    RP_CALL(rp_h5_open(comm, path, &f));
    RP_CALL(rp_h5_check_schema(f, path, RP_SCHEMA_FEATURES));
    RP_CALL(read_author(f, path, d));
    RP_CALL(read_tags(f, path, d));
cleanup:
    rp_h5_close(&f);
    return rc;
}

int seqrec_read_inputs(MPI_Comm comm, const sr_opts *o, sr_data *d)
{
    int rc = RP_OK;
    memset(d, 0, sizeof *d);
    rc = read_shards(comm, o, d);
    RP_AGREE(comm, rc);
    rc = read_features(comm, o->train.features, d);
    RP_AGREE(comm, rc);
    RP_CALL(seqrec_log_setup(comm, o, d));
    d->inputs[0] = '\0';
    RP_CALL(rp_inputs_lineage(comm, d->inputs, sizeof d->inputs, "shards", o->train.shards));
    RP_CALL(rp_inputs_lineage(comm, d->inputs, sizeof d->inputs, "features", o->train.features));
    /* --init is an input too: a checkpoint started from another ALS fit must not resume */
    if (o->init != NULL)
        RP_CALL(rp_inputs_lineage(comm, d->inputs, sizeof d->inputs, "init", o->init));
cleanup:
    return rp_mpi_agree(comm, rc);
}

void seqrec_data_clear(sr_data *d)
{
    free(d->hoff);
    free(d->ntrain);
    free(d->hitem);
    free(d->hval);
    free(d->hbucket);
    free(d->htime);
    free(d->toff);
    free(d->titem);
    free(d->tval);
    free(d->ttime);
    free(d->author);
    free(d->tags);
    free(d->hlog);
    free(d->cu);
    free(d->ci);
    memset(d, 0, sizeof *d);
}
