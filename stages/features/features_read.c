/* features_read.c - rp-features readers for the small side files (user_features.csv,
 * item_categories.csv, kuairec_caption_category.csv): each rank parses its byte range, the
 * compact records are gathered to every rank and sorted by id. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features_stage.h"
#include "rp_csv.h"
#include "rp_mpi.h"
#include "rp_records.h"

const char *const feat_user_header =
    "user_id,user_active_degree,is_lowactive_period,is_live_streamer,is_video_author,"
    "follow_user_num,follow_user_num_range,fans_user_num,fans_user_num_range,friend_user_num,"
    "friend_user_num_range,register_days,register_days_range,onehot_feat0,onehot_feat1,"
    "onehot_feat2,onehot_feat3,onehot_feat4,onehot_feat5,onehot_feat6,onehot_feat7,onehot_feat8,"
    "onehot_feat9,onehot_feat10,onehot_feat11,onehot_feat12,onehot_feat13,onehot_feat14,"
    "onehot_feat15,onehot_feat16,onehot_feat17";
const char *const feat_tag_header = "video_id,feat";
const char *const feat_caption_header =
    "video_id,manual_cover_text,caption,topic_tag,first_level_category_id,"
    "first_level_category_name,second_level_category_id,second_level_category_name,"
    "third_level_category_id,third_level_category_name";
const char *const feat_onehot_names[FEAT_N_ONEHOT] = {
    "onehot_feat0",  "onehot_feat1",  "onehot_feat2",  "onehot_feat3",  "onehot_feat4",
    "onehot_feat5",  "onehot_feat6",  "onehot_feat7",  "onehot_feat8",  "onehot_feat9",
    "onehot_feat10", "onehot_feat11", "onehot_feat12", "onehot_feat13", "onehot_feat14",
    "onehot_feat15", "onehot_feat16", "onehot_feat17"};
const char *const feat_range_names[FEAT_N_RANGES] = {
    "follow_user_num_range", "fans_user_num_range", "friend_user_num_range",
    "register_days_range"};
const char *const feat_flag_names[FEAT_N_FLAGS] = {"is_lowactive_period", "is_live_streamer",
                                                   "is_video_author"};
const char *const feat_ucount_names[FEAT_N_UCOUNTS] = {"follow_user_num", "fans_user_num",
                                                       "friend_user_num", "register_days"};

#define USER_NF 31
#define CAPTION_NF 10

/* A line parser: fill *rec from [s, e) or log "path:line: problem" and return RP_ERR_DATA. */
typedef int (*line_parser)(const char *s, const char *e, const char *path, int64_t line,
                           void *rec);

static void bad_field(const char *path, int64_t line, const char *col, const rp_csv_field *f,
                      const char *want)
{
    char v[80];
    rp_csv_sanitize(f->p, f->len, v, sizeof v);
    rp_log_user_error("%s:%lld: %s is '%s', expected %s", path, (long long)line, col, v, want);
}

/* Non-negative integer; empty allowed when opt (then *v = -1). */
static int field_int(const rp_csv_field *f, int opt, int64_t *v)
{
    if (f->len == 0 && opt) {
        *v = -1;
        return 0;
    }
    return rp_parse_i64(f->p, f->len, v) == 0 && *v >= 0 ? 0 : -1;
}

static int field_str(const rp_csv_field *f, char *buf)
{
    char tmp[FEAT_STR + 8];
    if (f->len >= FEAT_STR + 4) return -1;
    size_t l = rp_csv_unquote(f, tmp, sizeof tmp);
    if (l >= FEAT_STR) return -1;
    memcpy(buf, tmp, l + 1);
    return 0;
}

static int split_exact(const char *s, const char *e, const char *path, int64_t line,
                       rp_csv_field *f, int nf)
{
    int got = rp_csv_split(s, e, f, nf);
    if (got == -1) {
        rp_log_user_error("%s:%lld: unterminated or misplaced quote", path, (long long)line);
        return RP_ERR_DATA;
    }
    if (got != nf) {
        rp_log_user_error("%s:%lld: %d fields, expected %d", path, (long long)line, got, nf);
        return RP_ERR_DATA;
    }
    return RP_OK;
}

static int parse_user(const char *s, const char *e, const char *path, int64_t line, void *out)
{
    rp_csv_field f[USER_NF];
    feat_user_rec *r = out;
    int64_t v = 0;
    memset(r, 0, sizeof *r);
    r->line = line;
    if (split_exact(s, e, path, line, f, USER_NF) != RP_OK) return RP_ERR_DATA;
    if (field_int(&f[0], 0, &r->id) != 0) goto bad_id;
    if (field_str(&f[1], r->degree) != 0) {
        bad_field(path, line, "user_active_degree", &f[1], "a short string");
        return RP_ERR_DATA;
    }
    for (int k = 0; k < FEAT_N_FLAGS; k++) {
        if (field_int(&f[2 + k], 1, &v) != 0 || v > 1000000) {
            bad_field(path, line, feat_flag_names[k], &f[2 + k], "a small integer or empty");
            return RP_ERR_DATA;
        }
        r->flags[k] = (int32_t)v;
    }
    /* follow,range,fans,range,friend,range,register_days,range from column 5 on. */
    for (int k = 0; k < FEAT_N_UCOUNTS; k++) {
        const rp_csv_field *num = &f[5 + 2 * k], *rng = &f[6 + 2 * k];
        if (field_int(num, 1, &v) != 0) {
            bad_field(path, line, feat_ucount_names[k], num, "a non-negative integer or empty");
            return RP_ERR_DATA;
        }
        r->counts[k] = v < 0 ? NAN : (double)v;
        if (field_str(rng, r->ranges[k]) != 0) {
            bad_field(path, line, feat_range_names[k], rng, "a short string");
            return RP_ERR_DATA;
        }
    }
    for (int k = 0; k < FEAT_N_ONEHOT; k++) {
        if (field_int(&f[13 + k], 1, &v) != 0 || v > 100000000) {
            bad_field(path, line, feat_onehot_names[k], &f[13 + k], "a category number or empty");
            return RP_ERR_DATA;
        }
        r->onehot[k] = (int32_t)v;
    }
    return RP_OK;
bad_id:
    bad_field(path, line, "user_id", &f[0], "a non-negative integer");
    return RP_ERR_DATA;
}

int features_parse_list(const char *s, size_t len, int32_t *vals, int cap)
{
    if (len < 2 || s[0] != '[' || s[len - 1] != ']') return -1;
    size_t i = 1, end = len - 1;
    int n = 0;
    if (i == end) return 0;
    for (;;) {
        while (i < end && s[i] == ' ') i++;
        size_t j = i;
        while (j < end && s[j] != ',') j++;
        size_t k = j;
        while (k > i && s[k - 1] == ' ') k--;
        int64_t v = 0;
        if (rp_parse_i64(s + i, k - i, &v) != 0 || v < 0 || v > 100000000) return -1;
        if (n < cap) vals[n] = (int32_t)v;
        n++;
        if (j == end) return n;
        i = j + 1;
    }
}

static int parse_tags(const char *s, const char *e, const char *path, int64_t line, void *out)
{
    rp_csv_field f[2];
    feat_tag_rec *r = out;
    memset(r, 0, sizeof *r);
    r->line = line;
    if (split_exact(s, e, path, line, f, 2) != RP_OK) return RP_ERR_DATA;
    if (field_int(&f[0], 0, &r->id) != 0) {
        bad_field(path, line, "video_id", &f[0], "a non-negative integer");
        return RP_ERR_DATA;
    }
    int n = features_parse_list(f[1].p, f[1].len, r->tags, FEAT_MAX_TAGS);
    if (n < 0) {
        bad_field(path, line, "feat", &f[1], "a tag list like [8] or \"[27, 9]\"");
        return RP_ERR_DATA;
    }
    if (n > FEAT_MAX_TAGS) {
        rp_log_user_error("%s:%lld: %d tags, at most %d supported", path, (long long)line, n,
                          FEAT_MAX_TAGS);
        return RP_ERR_DATA;
    }
    r->ntags = n;
    return RP_OK;
}

/* A category level: the id column, and its name column (UNKNOWN also means missing). */
static int caption_level(const rp_csv_field *id, const rp_csv_field *name, int64_t *cat)
{
    int64_t v = 0;
    if (id->len == 0) {
        *cat = -1;
        return 0;
    }
    if (rp_parse_i64(id->p, id->len, &v) != 0) return -1;
    int unknown = name->len == 7 && memcmp(name->p, "UNKNOWN", 7) == 0;
    if (v == -124 || unknown) v = -1;
    else if (v < 0) return -1;
    *cat = v;
    return 0;
}

static int parse_caption(const char *s, const char *e, const char *path, int64_t line, void *out)
{
    static const char *const cols[3] = {"first_level_category_id", "second_level_category_id",
                                        "third_level_category_id"};
    rp_csv_field f[CAPTION_NF];
    feat_caption_rec *r = out;
    memset(r, 0, sizeof *r);
    r->line = line;
    if (split_exact(s, e, path, line, f, CAPTION_NF) != RP_OK) return RP_ERR_DATA;
    if (field_int(&f[0], 0, &r->id) != 0) {
        bad_field(path, line, "video_id", &f[0], "a non-negative integer");
        return RP_ERR_DATA;
    }
    for (int k = 0; k < 3; k++) {
        if (caption_level(&f[4 + 2 * k], &f[5 + 2 * k], &r->cat[k]) != 0) {
            bad_field(path, line, cols[k], &f[4 + 2 * k], "a category id, -124 or empty");
            return RP_ERR_DATA;
        }
    }
    return RP_OK;
}

/* Parse this rank's lines of ck into a growing array of recsz-byte records. */
static int parse_chunk(const rp_csv_chunk *ck, size_t recsz, line_parser parse, void **recs,
                       int64_t *n)
{
    int rc = RP_OK;
    char *buf = NULL;
    int64_t cap = 0, cnt = 0, line = 0;
    size_t pos = 0;
    const char *s, *e;
    int trunc = 0;
    while (rp_csv_next_line(ck, &pos, &s, &e, &line, &trunc)) {
        if (s == e && trunc) break; /* nothing after the final newline */
        if (cnt == cap) {
            cap = cap ? 2 * cap : 1024;
            char *nb = NULL;
            RP_ALLOC(nb = realloc(buf, (size_t)cap * recsz));
            buf = nb;
        }
        if (parse(s, e, ck->path, line, buf + (size_t)cnt * recsz) != RP_OK) {
            rc = RP_ERR_DATA;
            goto cleanup;
        }
        cnt++;
    }
    *recs = buf;
    buf = NULL;
    *n = cnt;
cleanup:
    free(buf);
    return rc;
}

static int cmp_id(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

int features_sort_unique(void *recs, int64_t n, size_t recsz, const char *path)
{
    int rc = RP_OK;
    char *b = recs;
    qsort(recs, (size_t)n, recsz, cmp_id);
    for (int64_t i = 1; i < n; i++) {
        const int64_t *prev = (const int64_t *)(b + (size_t)(i - 1) * recsz);
        const int64_t *cur = (const int64_t *)(b + (size_t)i * recsz);
        if (prev[0] == cur[0])
            RP_FAIL_USER0(RP_ERR_DATA, "%s:%lld: duplicate id %lld (first on line %lld)", path,
                          (long long)cur[1], (long long)cur[0], (long long)prev[1]);
    }
cleanup:
    return rc;
}

/* Read, parse (rank-split), gather and sort one small side file. */
static int read_records(MPI_Comm comm, const char *path, const char *header, size_t recsz,
                        line_parser parse, void **recs, int64_t *n)
{
    int rc = RP_OK;
    rp_csv_chunk ck = {0};
    void *local = NULL, *all = NULL;
    int64_t nlocal = 0, nall = 0;
    RP_CALL(rp_csv_read_chunk(comm, path, header, &ck));
    rc = parse_chunk(&ck, recsz, parse, &local, &nlocal);
    RP_AGREE(comm, rc);
    RP_CALL(rp_records_allgather(comm, local, nlocal, recsz, &all, &nall));
    RP_AGREE(comm, rc);
    RP_CALL(features_sort_unique(all, nall, recsz, path));
    *recs = all;
    all = NULL;
    *n = nall;
cleanup:
    rc = rp_mpi_agree(comm, rc);
    free(all);
    free(local);
    rp_csv_chunk_clear(&ck);
    return rc;
}

int features_read_users(MPI_Comm comm, const char *path, feat_user_rec **recs, int64_t *n)
{
    return read_records(comm, path, feat_user_header, sizeof **recs, parse_user, (void **)recs, n);
}

int features_read_tags(MPI_Comm comm, const char *path, feat_tag_rec **recs, int64_t *n)
{
    return read_records(comm, path, feat_tag_header, sizeof **recs, parse_tags, (void **)recs, n);
}

int features_read_captions(MPI_Comm comm, const char *path, feat_caption_rec **recs, int64_t *n)
{
    return read_records(comm, path, feat_caption_header, sizeof **recs, parse_caption,
                        (void **)recs, n);
}
