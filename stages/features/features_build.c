/* features_build.c - rp-features: read shards.h5 (ids, train split), the side files, assemble
 * the user and video tables aligned to the dense indices, and write features.h5 atomically. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features_stage.h"
#include "features_tab.h"
#include "rp_csr.h"
#include "rp_h5.h"
#include "rp_inputs.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_records.h"
#include "rp_schema.h"
#include "rp_shards.h"
#include "rp_stage.h"

/* Everything read, replicated on every rank. */
typedef struct feat_inputs {
    int64_t n_users, n_items;
    int64_t *user_raw, *item_raw;
    int64_t *train_count; /* per item */
    double *train_sum;    /* per item, sum of normalised values in file order */
    int64_t train_nnz;
    feat_user_rec *users;
    int64_t n_user_recs;
    feat_tag_rec *tags;
    int64_t n_tag_recs;
    feat_caption_rec *caps;
    int64_t n_cap_recs;
    feat_daily_rec *daily;
    int64_t n_daily_recs;
    int have_caps, have_daily;
    char inputs[8192]; /* lineage lines for the stamp */
} feat_inputs;

static void inputs_clear(feat_inputs *in)
{
    free(in->user_raw);
    free(in->item_raw);
    free(in->train_count);
    free(in->train_sum);
    free(in->users);
    free(in->tags);
    free(in->caps);
    free(in->daily);
    memset(in, 0, sizeof *in);
}

/* Ids must be strictly increasing (rp-shard sorts them) so lookups can bisect. */
static int check_sorted(const int64_t *v, int64_t n, const char *path, const char *ds)
{
    int rc = RP_OK;
    for (int64_t i = 1; i < n; i++)
        if (v[i] <= v[i - 1])
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s is not strictly increasing at index %lld", path, ds,
                          (long long)i);
cleanup:
    return rc;
}

static int read_ids(hid_t f, const char *path, const char *ds, int64_t want, int64_t **out)
{
    int rc = RP_OK;
    int nd = 0;
    int64_t dims[2] = {0, 0};
    RP_CALL(rp_h5_read_all(f, ds, RP_I64, (void **)out, &nd, dims));
    if (nd != 1 || dims[0] != want)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, attribute says %lld", path, ds,
                      (long long)dims[0], (long long)want);
    RP_CALL(check_sorted(*out, want, path, ds));
cleanup:
    return rc;
}

/* Per-item sums of the TRAIN normalised values: each rank sums a contiguous block of items in
 * file order, the blocks are concatenated in rank order, so the sums are the same for any N. */
/* sums[i] = the sum of item off + i's train values vals (file order); every value finite.
 * Local: returns RP_OK or RP_ERR_DATA ("path: ds[j] is not finite"). */
static int item_sums(const int64_t *offs, int64_t off, int64_t cnt, const double *vals,
                     const char *path, const char *ds, double *sums)
{
    int rc = RP_OK;
    int64_t lo = offs[off];
    for (int64_t i = 0; i < cnt; i++)
        for (int64_t j = offs[off + i]; j < offs[off + i + 1]; j++) {
            if (!isfinite(vals[j - lo]))
                RP_FAIL_USER(RP_ERR_DATA, "%s: %s[%lld] is not finite", path, ds, (long long)j);
            sums[i] += vals[j - lo];
        }
cleanup:
    return rc;
}

static int read_train(MPI_Comm comm, hid_t f, const char *path, feat_inputs *in)
{
    int rc = RP_OK;
    int rank = 0, size = 1;
    int64_t *offs = NULL, off = 0, cnt = 0, nall = 0;
    double *vals = NULL, *sums = NULL;
    const char *vds = RP_SPLIT_TRAIN "/" RP_DS_BY_ITEM_VALUE;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    RP_CALL(rp_csr_read_offsets(f, RP_SPLIT_TRAIN "/by_item", "value", in->n_items, &offs,
                                &in->train_nnz));
    rp_part_even(in->n_items, size, rank, &off, &cnt);
    int64_t lo = offs[off], hi = offs[off + cnt];
    vals = rp_malloc((size_t)(hi - lo + 1) * sizeof *vals);
    sums = rp_calloc((size_t)(cnt + 1), sizeof *sums);
    RP_AGREE_LOCAL(comm, vals == NULL || sums == NULL);
    RP_CALL(rp_h5_read(f, vds, RP_F64, lo, hi - lo, vals));
    rc = item_sums(offs, off, cnt, vals, path, vds, sums);
    RP_AGREE(comm, rc);
    RP_CALL(rp_records_allgather(comm, sums, cnt, sizeof *sums, (void **)&in->train_sum, &nall));
    RP_ALLOC(in->train_count = malloc((size_t)(in->n_items + 1) * sizeof *in->train_count));
    for (int64_t i = 0; i < in->n_items; i++) in->train_count[i] = offs[i + 1] - offs[i];
cleanup:
    free(sums);
    free(vals);
    free(offs);
    return rp_mpi_agree(comm, rc);
}

static int read_shards(MPI_Comm comm, const char *path, feat_inputs *in)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    RP_CALL(rp_shards_open(comm, path, &f, &in->n_users, &in->n_items));
    RP_CALL(read_ids(f, path, RP_DS_USER_RAW, in->n_users, &in->user_raw));
    RP_CALL(read_ids(f, path, RP_DS_ITEM_RAW, in->n_items, &in->item_raw));
    RP_CALL(read_train(comm, f, path, in));
cleanup:
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

static int add_lineage(MPI_Comm comm, feat_inputs *in, const char *name, const char *path)
{
    return rp_inputs_lineage(comm, in->inputs, sizeof in->inputs, name, path);
}

static int read_side_files(MPI_Comm comm, const feat_opts *opt, feat_inputs *in)
{
    int rc = RP_OK;
    char p[4096];
    snprintf(p, sizeof p, "%s/user_features.csv", opt->data);
    RP_CALL(features_read_users(comm, p, &in->users, &in->n_user_recs));
    RP_CALL(add_lineage(comm, in, "user_features", p));
    snprintf(p, sizeof p, "%s/item_categories.csv", opt->data);
    RP_CALL(features_read_tags(comm, p, &in->tags, &in->n_tag_recs));
    RP_CALL(add_lineage(comm, in, "item_categories", p));
    snprintf(p, sizeof p, "%s/kuairec_caption_category.csv", opt->data);
    in->have_caps = opt->caption_cats && rp_inputs_exists(comm, p);
    if (in->have_caps) {
        RP_CALL(features_read_captions(comm, p, &in->caps, &in->n_cap_recs));
        RP_CALL(add_lineage(comm, in, "kuairec_caption_category", p));
    } else if (opt->caption_cats) {
        rp_log_info("notice: %s not found: caption category features dropped", p);
    }
    snprintf(p, sizeof p, "%s/item_daily_features.csv", opt->data);
    int want_daily = opt->author || opt->video_type || opt->duration || opt->popularity;
    in->have_daily = want_daily && rp_inputs_exists(comm, p);
    if (in->have_daily) {
        RP_CALL(features_read_daily(comm, p, opt->popularity_until, &in->daily,
                                    &in->n_daily_recs));
        RP_CALL(add_lineage(comm, in, "item_daily_features", p));
    } else if (want_daily) {
        rp_log_info("notice: %s not found: author, video/upload type, duration and popularity "
                    "features dropped", p);
    }
cleanup:
    return rp_mpi_agree(comm, rc);
}

/* Index of raw id in recs sorted by id (first member int64), or -1. */
static int64_t find_rec(const void *recs, int64_t n, size_t recsz, int64_t id)
{
    const char *b = recs;
    int64_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int64_t v = *(const int64_t *)(b + (size_t)mid * recsz);
        if (v == id) return mid;
        if (v < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* rec_of[i] = index of dense row i's record or -1; counts rows without one, and records
 * matched by no row (ignored). */
static int match_rows(const int64_t *raw, int64_t nrows, const void *recs, int64_t nrecs,
                      size_t recsz, int64_t **rec_of, int64_t *missing, int64_t *ignored)
{
    int rc = RP_OK;
    int64_t *m = NULL, hit = 0;
    RP_ALLOC(m = malloc((size_t)(nrows + 1) * sizeof *m));
    *missing = 0;
    for (int64_t i = 0; i < nrows; i++) {
        m[i] = find_rec(recs, nrecs, recsz, raw[i]);
        if (m[i] < 0) (*missing)++;
        else hit++;
    }
    *ignored = nrecs - hit;
    *rec_of = m;
    m = NULL;
cleanup:
    free(m);
    return rc;
}

/* A value-coded categorical: code = v + 1, 0 = missing; cardinality from the whole file. */
static int user_int_col(ftab *t, const char *name, const feat_inputs *in, const int64_t *rec_of,
                        size_t field_off)
{
    int rc = RP_OK;
    int c = 0;
    int32_t vmax = -1;
    RP_CALL(ftab_add(t, name, 0, &c));
    for (int64_t r = 0; r < in->n_user_recs; r++) {
        int32_t v = *(const int32_t *)((const char *)&in->users[r] + field_off);
        if (v > vmax) vmax = v;
    }
    t->card[c] = vmax + 2;
    for (int64_t i = 0; i < t->nrows; i++) {
        if (rec_of[i] < 0) continue;
        int32_t v = *(const int32_t *)((const char *)&in->users[rec_of[i]] + field_off);
        t->ci[c][i] = v < 0 ? 0 : v + 1;
    }
cleanup:
    return rc;
}

static int user_str_col(ftab *t, const char *name, const feat_inputs *in, const int64_t *rec_of,
                        size_t field_off)
{
    int rc = RP_OK;
    int c = 0;
    const char *base = (const char *)in->users + field_off;
    RP_CALL(ftab_add(t, name, 0, &c));
    RP_CALL(ftab_str_dict(t, c, base, in->n_user_recs, sizeof *in->users));
    for (int64_t i = 0; i < t->nrows; i++)
        if (rec_of[i] >= 0)
            t->ci[c][i] = ftab_str_code(t, c, base + (size_t)rec_of[i] * sizeof *in->users);
cleanup:
    return rc;
}

static int user_tables(const feat_opts *opt, const feat_inputs *in, const int64_t *rec_of,
                       ftab *cat, ftab *num)
{
    int rc = RP_OK;
    double *x = NULL;
    int c = 0;
    cat->nrows = num->nrows = in->n_users;
    for (int k = 0; opt->user_onehot && k < FEAT_N_ONEHOT; k++)
        RP_CALL(user_int_col(cat, feat_onehot_names[k], in, rec_of,
                             offsetof(feat_user_rec, onehot) + (size_t)k * sizeof(int32_t)));
    if (opt->user_activity) {
        RP_CALL(user_str_col(cat, "user_active_degree", in, rec_of,
                             offsetof(feat_user_rec, degree)));
        for (int k = 0; k < FEAT_N_FLAGS; k++)
            RP_CALL(user_int_col(cat, feat_flag_names[k], in, rec_of,
                                 offsetof(feat_user_rec, flags) + (size_t)k * sizeof(int32_t)));
    }
    for (int k = 0; opt->user_ranges && k < FEAT_N_RANGES; k++)
        RP_CALL(user_str_col(cat, feat_range_names[k], in, rec_of,
                             offsetof(feat_user_rec, ranges) + (size_t)k * FEAT_STR));
    RP_ALLOC(x = malloc((size_t)(in->n_users + 1) * sizeof *x));
    for (int k = 0; k < FEAT_N_UCOUNTS; k++) {
        if (k < 3 ? !opt->user_counts : !opt->user_register) continue;
        /* Heavy-tailed counts (fans up to 11,401): log1p before min-max. */
        for (int64_t i = 0; i < in->n_users; i++)
            x[i] = rec_of[i] < 0 ? NAN : log1p(in->users[rec_of[i]].counts[k]);
        RP_CALL(ftab_add(num, feat_ucount_names[k], 1, &c));
        ftab_minmax(num, c, x, "log1p_minmax");
    }
cleanup:
    free(x);
    return rc;
}

static int cmp_i64v(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Author id: authors with at least min_count videos among the output items keep their own
 * code (2.., ascending author id); rarer ones share code 1; unknown is 0. */
static int author_col(ftab *t, const feat_opts *opt, const feat_inputs *in, const int64_t *dref,
                      int64_t *n_rare)
{
    int rc = RP_OK;
    int64_t *a = NULL, na = 0, nk = 0;
    int c = 0;
    RP_ALLOC(a = malloc((size_t)(t->nrows + 1) * sizeof *a));
    for (int64_t i = 0; i < t->nrows; i++)
        if (dref[i] >= 0 && in->daily[dref[i]].author >= 0) a[na++] = in->daily[dref[i]].author;
    qsort(a, (size_t)na, sizeof *a, cmp_i64v);
    *n_rare = 0;
    for (int64_t i = 0; i < na;) {
        int64_t j = i;
        while (j < na && a[j] == a[i]) j++;
        if (j - i >= opt->min_author_count) a[nk++] = a[i];
        else (*n_rare)++;
        i = j;
    }
    RP_CALL(ftab_add(t, "author_id", 0, &c));
    t->idict[c] = a;
    t->ndict[c] = nk;
    t->card[c] = (int32_t)(nk + 2);
    a = NULL;
    for (int64_t i = 0; i < t->nrows; i++) {
        if (dref[i] < 0 || in->daily[dref[i]].author < 0) continue;
        int64_t v = in->daily[dref[i]].author;
        int64_t *hit = bsearch(&v, t->idict[c], (size_t)nk, sizeof v, cmp_i64v);
        t->ci[c][i] = hit ? (int32_t)(hit - t->idict[c]) + 2 : 1;
    }
cleanup:
    free(a);
    return rc;
}

static int daily_str_col(ftab *t, const char *name, const feat_inputs *in, const int64_t *dref,
                         size_t field_off)
{
    int rc = RP_OK;
    int c = 0;
    const char *base = (const char *)in->daily + field_off;
    RP_CALL(ftab_add(t, name, 0, &c));
    RP_CALL(ftab_str_dict(t, c, base, in->n_daily_recs, sizeof *in->daily));
    for (int64_t i = 0; i < t->nrows; i++)
        if (dref[i] >= 0)
            t->ci[c][i] = ftab_str_code(t, c, base + (size_t)dref[i] * sizeof *in->daily);
cleanup:
    return rc;
}

static int caption_cols(ftab *t, const feat_inputs *in, const int64_t *cref)
{
    static const char *const names[3] = {"first_level_category", "second_level_category",
                                         "third_level_category"};
    int rc = RP_OK;
    int64_t *v = NULL;
    int c = 0;
    RP_ALLOC(v = malloc((size_t)(in->n_cap_recs + 1) * sizeof *v));
    for (int k = 0; k < 3; k++) {
        for (int64_t r = 0; r < in->n_cap_recs; r++) v[r] = in->caps[r].cat[k];
        RP_CALL(ftab_add(t, names[k], 0, &c));
        RP_CALL(ftab_i64_dict(t, c, v, in->n_cap_recs));
        for (int64_t i = 0; i < t->nrows; i++)
            if (cref[i] >= 0) t->ci[c][i] = ftab_i64_code(t, c, in->caps[cref[i]].cat[k]);
    }
cleanup:
    free(v);
    return rc;
}

/* Numeric video columns: duration, train watch-ratio average, popularity counts. */
static int item_num(const feat_opts *opt, const feat_inputs *in, const int64_t *dref, ftab *num,
                    double *global_mean)
{
    int rc = RP_OK;
    double *x = NULL, sum = 0.0;
    int c = 0;
    RP_ALLOC(x = malloc((size_t)(in->n_items + 1) * sizeof *x));
    if (in->have_daily && opt->duration) {
        for (int64_t i = 0; i < in->n_items; i++)
            x[i] = dref[i] < 0 ? NAN : log1p(in->daily[dref[i]].duration);
        RP_CALL(ftab_add(num, "duration", 1, &c));
        ftab_minmax(num, c, x, "log1p_minmax");
    }
    /* Global mean in item order (fixed), then a Bayesian average with `smoothing`
     * pseudo-observations of it: rarely seen videos stay near the mean. */
    for (int64_t i = 0; i < in->n_items; i++) sum += in->train_sum[i];
    *global_mean = in->train_nnz > 0 ? sum / (double)in->train_nnz : 0.0;
    if (opt->watch_ratio) {
        for (int64_t i = 0; i < in->n_items; i++) {
            double den = (double)in->train_count[i] + opt->smoothing;
            x[i] = den > 0 ? (in->train_sum[i] + opt->smoothing * *global_mean) / den
                           : *global_mean;
        }
        RP_CALL(ftab_add(num, "watch_ratio_avg", 1, &c));
        ftab_identity(num, c, x, "train_bayes_avg");
    }
    for (int k = 0; in->have_daily && opt->popularity && k < FEAT_N_POP; k++) {
        for (int64_t i = 0; i < in->n_items; i++)
            x[i] = dref[i] < 0 ? NAN : log1p((double)in->daily[dref[i]].pop[k]);
        RP_CALL(ftab_add(num, feat_pop_names[k], 1, &c));
        ftab_minmax(num, c, x, "log1p_minmax");
    }
cleanup:
    free(x);
    return rc;
}

/* /item/tags: tag + 1 in file order, padded with 0; videos with more tags keep the first. */
static int tag_table(const feat_opts *opt, const feat_inputs *in, const int64_t *tref,
                     int32_t **out, int64_t *card, int64_t *truncated)
{
    int rc = RP_OK;
    int32_t *t = NULL, tmax = -1;
    int64_t L = opt->tag_len;
    RP_ALLOC(t = calloc((size_t)(in->n_items * L + 1), sizeof *t));
    for (int64_t r = 0; r < in->n_tag_recs; r++)
        for (int j = 0; j < in->tags[r].ntags; j++)
            if (in->tags[r].tags[j] > tmax) tmax = in->tags[r].tags[j];
    *card = (int64_t)tmax + 2;
    *truncated = 0;
    for (int64_t i = 0; i < in->n_items; i++) {
        if (tref[i] < 0) continue;
        const feat_tag_rec *r = &in->tags[tref[i]];
        if (r->ntags > L) (*truncated)++;
        for (int64_t j = 0; j < L && j < r->ntags; j++) t[i * L + j] = r->tags[j] + 1;
    }
    *out = t;
    t = NULL;
cleanup:
    free(t);
    return rc;
}

/* Row matches and counts between the dense indices and the side files. */
typedef struct feat_match {
    int64_t *uref, *tref, *cref, *dref; /* record index per dense row, -1 = none */
    int64_t users_missing, user_rows_ignored, items_missing_tags, tag_rows_ignored;
    int64_t items_missing_caption, caption_rows_ignored, items_missing_daily, daily_ignored;
    int64_t authors_rare, tag_card, tags_truncated;
    double global_mean;
} feat_match;

static void match_clear(feat_match *m)
{
    free(m->uref);
    free(m->tref);
    free(m->cref);
    free(m->dref);
    memset(m, 0, sizeof *m);
}

static int match_all(const feat_inputs *in, feat_match *m)
{
    int rc = RP_OK;
    RP_CALL(match_rows(in->user_raw, in->n_users, in->users, in->n_user_recs, sizeof *in->users,
                       &m->uref, &m->users_missing, &m->user_rows_ignored));
    RP_CALL(match_rows(in->item_raw, in->n_items, in->tags, in->n_tag_recs, sizeof *in->tags,
                       &m->tref, &m->items_missing_tags, &m->tag_rows_ignored));
    RP_CALL(match_rows(in->item_raw, in->n_items, in->caps, in->n_cap_recs, sizeof *in->caps,
                       &m->cref, &m->items_missing_caption, &m->caption_rows_ignored));
    RP_CALL(match_rows(in->item_raw, in->n_items, in->daily, in->n_daily_recs, sizeof *in->daily,
                       &m->dref, &m->items_missing_daily, &m->daily_ignored));
cleanup:
    return rc;
}

static int item_cat(const feat_opts *opt, const feat_inputs *in, feat_match *m, ftab *cat)
{
    int rc = RP_OK;
    cat->nrows = in->n_items;
    if (in->have_daily && opt->author) RP_CALL(author_col(cat, opt, in, m->dref, &m->authors_rare));
    if (in->have_daily && opt->video_type) {
        RP_CALL(daily_str_col(cat, "video_type", in, m->dref, offsetof(feat_daily_rec, vtype)));
        RP_CALL(daily_str_col(cat, "upload_type", in, m->dref, offsetof(feat_daily_rec, utype)));
    }
    if (in->have_caps) RP_CALL(caption_cols(cat, in, m->cref));
cleanup:
    return rc;
}

static int put_i64(hid_t f, const char *obj, const char *name, int64_t v)
{
    return rp_h5_attr_write(f, obj, name, RP_I64, 1, &v);
}

static int write_item_attrs(hid_t f, const feat_opts *opt, const feat_inputs *in,
                            const feat_match *m, const ftab *icat)
{
    int rc = RP_OK;
    int64_t kept = 0;
    for (int c = 0; c < icat->ncols; c++)
        if (strcmp(icat->names[c], "author_id") == 0) kept = icat->ndict[c];
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "items_missing_tags", m->items_missing_tags));
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "tag_rows_ignored", m->tag_rows_ignored));
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "caption_file_used", in->have_caps));
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "items_missing_caption",
                    in->have_caps ? m->items_missing_caption : in->n_items));
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "caption_rows_ignored", m->caption_rows_ignored));
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "daily_file_used", in->have_daily));
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "items_missing_daily",
                    in->have_daily ? m->items_missing_daily : in->n_items));
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "daily_videos_ignored", m->daily_ignored));
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "author_min_count", opt->min_author_count));
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "authors_kept", kept));
    RP_CALL(put_i64(f, RP_DS_ITEM_CAT, "authors_rare", m->authors_rare));
    RP_CALL(put_i64(f, RP_DS_ITEM_TAGS, "cardinality", m->tag_card));
    RP_CALL(put_i64(f, RP_DS_ITEM_TAGS, "tag_len", opt->tag_len));
    RP_CALL(put_i64(f, RP_DS_ITEM_TAGS, "truncated", m->tags_truncated));
    RP_CALL(rp_h5_attr_write(f, RP_DS_ITEM_NUM, "smoothing", RP_F64, 1, &opt->smoothing));
    RP_CALL(rp_h5_attr_write(f, RP_DS_ITEM_NUM, "global_mean", RP_F64, 1, &m->global_mean));
    RP_CALL(put_i64(f, RP_DS_ITEM_NUM, "train_nnz", in->train_nnz));
    RP_CALL(put_i64(f, RP_DS_ITEM_NUM, "popularity_until", opt->popularity_until));
cleanup:
    return rc;
}

static int write_tags(MPI_Comm comm, hid_t f, const feat_opts *opt, const feat_inputs *in,
                      const int32_t *tags)
{
    int rc = RP_OK;
    char names[FEAT_MAX_TAGS][16];
    const char *np[FEAT_MAX_TAGS];
    for (int j = 0; j < opt->tag_len; j++) {
        snprintf(names[j], sizeof names[j], "tag_%d", j);
        np[j] = names[j];
    }
    RP_CALL(ftab_write_2d(comm, f, RP_DS_ITEM_TAGS, RP_I32, in->n_items, opt->tag_len, tags));
    RP_CALL(rp_h5_attr_write_strs(f, RP_DS_ITEM_TAGS, "columns", opt->tag_len, np));
cleanup:
    return rc;
}

static int write_output(const rp_stage *st, const feat_opts *opt, const feat_inputs *in,
                        const feat_match *m, ftab *t[4], const int32_t *tags)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    MPI_Comm comm = st->comm;
    RP_CALL(rp_h5_create(comm, opt->out, &f));
    RP_CALL(ftab_write_cat(comm, f, RP_DS_USER_CAT, RP_DS_USER_CAT_CARD, t[0]));
    RP_CALL(ftab_write_num(comm, f, RP_DS_USER_NUM, t[1]));
    RP_CALL(put_i64(f, RP_DS_USER_CAT, "users_missing", m->users_missing));
    RP_CALL(put_i64(f, RP_DS_USER_CAT, "user_rows_ignored", m->user_rows_ignored));
    RP_CALL(ftab_write_cat(comm, f, RP_DS_ITEM_CAT, RP_DS_ITEM_CAT_CARD, t[2]));
    RP_CALL(write_tags(comm, f, opt, in, tags));
    RP_CALL(ftab_write_num(comm, f, RP_DS_ITEM_NUM, t[3]));
    RP_CALL(write_item_attrs(f, opt, in, m, t[2]));
    RP_CALL(rp_stage_stamp(st, f, RP_SCHEMA_FEATURES, RP_SCHEMA_VERSION, in->inputs));
cleanup:
    return rp_h5_commit(comm, &f, opt->out, rp_mpi_agree(comm, rc));
}

int features_build(rp_stage *st, const feat_opts *opt)
{
    int rc = RP_OK;
    MPI_Comm comm = st->comm;
    feat_inputs in = {0};
    feat_match m = {0};
    ftab ucat = {0}, unum = {0}, icat = {0}, inum = {0};
    ftab *tabs[4] = {&ucat, &unum, &icat, &inum};
    int32_t *tags = NULL;
    RP_CALL(read_shards(comm, opt->shards, &in));
    RP_CALL(add_lineage(comm, &in, "shards", opt->shards));
    RP_CALL(read_side_files(comm, opt, &in));
    rp_log_info("read %lld users, %lld videos in shards; %lld user rows, %lld tag rows, "
                "%lld caption rows, %lld daily videos", (long long)in.n_users,
                (long long)in.n_items, (long long)in.n_user_recs, (long long)in.n_tag_recs,
                (long long)in.n_cap_recs, (long long)in.n_daily_recs);
    /* Every rank holds the same inputs, so the tables below are computed identically. */
    rc = match_all(&in, &m);
    if (rc == RP_OK) rc = user_tables(opt, &in, m.uref, &ucat, &unum);
    if (rc == RP_OK) rc = item_cat(opt, &in, &m, &icat);
    inum.nrows = in.n_items;
    if (rc == RP_OK) rc = item_num(opt, &in, m.dref, &inum, &m.global_mean);
    if (rc == RP_OK) rc = tag_table(opt, &in, m.tref, &tags, &m.tag_card, &m.tags_truncated);
    RP_AGREE(comm, rc);
    RP_CALL(write_output(st, opt, &in, &m, tabs, tags));
    rp_stage_add(st, "users", "%lld", (long long)in.n_users);
    rp_stage_add(st, "items", "%lld", (long long)in.n_items);
    rp_stage_add(st, "user_cat", "%d", ucat.ncols);
    rp_stage_add(st, "user_num", "%d", unum.ncols);
    rp_stage_add(st, "item_cat", "%d", icat.ncols);
    rp_stage_add(st, "item_num", "%d", inum.ncols);
    rp_stage_add(st, "users_missing", "%lld", (long long)m.users_missing);
    rp_stage_add(st, "items_missing_tags", "%lld", (long long)m.items_missing_tags);
    rp_stage_add(st, "items_missing_daily", "%lld",
                 (long long)(in.have_daily ? m.items_missing_daily : in.n_items));
    rp_stage_add(st, "items_missing_caption", "%lld",
                 (long long)(in.have_caps ? m.items_missing_caption : in.n_items));
    rp_stage_add(st, "global_mean", "%.6f", m.global_mean);
cleanup:
    free(tags);
    for (int k = 0; k < 4; k++) ftab_clear(tabs[k]);
    match_clear(&m);
    inputs_clear(&in);
    return rp_mpi_agree(comm, rc);
}
