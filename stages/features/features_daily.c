/* features_daily.c - rp-features reader for item_daily_features.csv (the one large side file):
 * ranks parse their byte ranges into per-video aggregates (hash table), gather them and merge
 * with rules that do not depend on the split: static attributes from the latest (date, line)
 * row that has them, popularity counts as exact integer sums. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features_stage.h"
#include "rp_csv.h"
#include "rp_mpi.h"
#include "rp_records.h"

const char *const feat_daily_header =
    "video_id,date,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,"
    "video_width,video_height,music_id,video_tag_id,video_tag_name,show_cnt,show_user_num,"
    "play_cnt,play_user_num,play_duration,complete_play_cnt,complete_play_user_num,"
    "valid_play_cnt,valid_play_user_num,long_time_play_cnt,long_time_play_user_num,"
    "short_time_play_cnt,short_time_play_user_num,play_progress,comment_stay_duration,like_cnt,"
    "like_user_num,click_like_cnt,double_click_cnt,cancel_like_cnt,cancel_like_user_num,"
    "comment_cnt,comment_user_num,direct_comment_cnt,reply_comment_cnt,delete_comment_cnt,"
    "delete_comment_user_num,comment_like_cnt,comment_like_user_num,follow_cnt,follow_user_num,"
    "cancel_follow_cnt,cancel_follow_user_num,share_cnt,share_user_num,download_cnt,"
    "download_user_num,report_cnt,report_user_num,reduce_similar_cnt,reduce_similar_user_num,"
    "collect_cnt,collect_user_num,cancel_collect_cnt,cancel_collect_user_num";
const char *const feat_pop_names[FEAT_N_POP] = {"show_cnt",   "play_cnt",    "complete_play_cnt",
                                                "like_cnt",   "comment_cnt", "share_cnt",
                                                "follow_cnt", "collect_cnt"};
static const int pop_cols[FEAT_N_POP] = {13, 15, 18, 28, 34, 46, 42, 54};

#define DAILY_NF 58
enum { C_ID = 0, C_DATE = 1, C_AUTHOR = 2, C_VTYPE = 3, C_UTYPE = 5, C_DUR = 7, C_MUSIC = 10 };

/* Open-addressing table video id -> index into an array of aggregates. */
typedef struct daily_table {
    int64_t *slot; /* index + 1, 0 = empty */
    int64_t nslot;
    feat_daily_rec *rec;
    int64_t n, cap;
} daily_table;

static void table_clear(daily_table *t)
{
    free(t->slot);
    free(t->rec);
    memset(t, 0, sizeof *t);
}

static uint64_t hash_id(int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    return x ^ (x >> 29);
}

static int table_grow(daily_table *t)
{
    int rc = RP_OK;
    int64_t ns = t->nslot ? 2 * t->nslot : 4096;
    int64_t *slot = NULL;
    RP_ALLOC(slot = calloc((size_t)ns, sizeof *slot));
    for (int64_t i = 0; i < t->n; i++) {
        uint64_t h = hash_id(t->rec[i].id) & (uint64_t)(ns - 1);
        while (slot[h]) h = (h + 1) & (uint64_t)(ns - 1);
        slot[h] = i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = ns;
cleanup:
    return rc;
}

/* The aggregate for id, created empty when new. Out: *r. */
static int table_get(daily_table *t, int64_t id, feat_daily_rec **r)
{
    int rc = RP_OK;
    if (2 * (t->n + 1) > t->nslot) RP_CALL(table_grow(t));
    uint64_t h = hash_id(id) & (uint64_t)(t->nslot - 1);
    while (t->slot[h] && t->rec[t->slot[h] - 1].id != id) h = (h + 1) & (uint64_t)(t->nslot - 1);
    if (!t->slot[h]) {
        if (t->n == t->cap) {
            int64_t nc = t->cap ? 2 * t->cap : 1024;
            feat_daily_rec *nr = NULL;
            RP_ALLOC(nr = realloc(t->rec, (size_t)nc * sizeof *nr));
            t->rec = nr;
            t->cap = nc;
        }
        feat_daily_rec *z = &t->rec[t->n];
        memset(z, 0, sizeof *z);
        z->id = id;
        z->line = INT64_MAX;
        z->author = -1;
        z->duration = NAN;
        t->slot[h] = ++t->n;
    }
    *r = &t->rec[t->slot[h] - 1];
cleanup:
    return rc;
}

static int later(feat_src a, feat_src b)
{
    return a.date != b.date ? a.date > b.date : a.line > b.line;
}

/* Fold aggregate b into a (commutative and associative, so any split gives the same result). */
static void merge_rec(feat_daily_rec *a, const feat_daily_rec *b)
{
    if (b->line < a->line) a->line = b->line;
    a->nrows += b->nrows;
    if (later(b->src_author, a->src_author)) {
        a->src_author = b->src_author;
        a->author = b->author;
    }
    if (later(b->src_vtype, a->src_vtype)) {
        a->src_vtype = b->src_vtype;
        memcpy(a->vtype, b->vtype, FEAT_STR);
    }
    if (later(b->src_utype, a->src_utype)) {
        a->src_utype = b->src_utype;
        memcpy(a->utype, b->utype, FEAT_STR);
    }
    if (later(b->src_duration, a->src_duration)) {
        a->src_duration = b->src_duration;
        a->duration = b->duration;
    }
    for (int k = 0; k < FEAT_N_POP; k++) a->pop[k] += b->pop[k];
}

static int daily_bad(const char *path, int64_t line, const char *col, const rp_csv_field *f,
                     const char *want)
{
    char v[80];
    rp_csv_sanitize(f->p, f->len, v, sizeof v);
    rp_log_user_error("%s:%lld: %s is '%s', expected %s", path, (long long)line, col, v, want);
    return RP_ERR_DATA;
}

/* A short string categorical (video_type, upload_type); empty = not given. */
static int daily_str(const rp_csv_field *f, char *buf)
{
    if (f->len >= FEAT_STR) return -1;
    size_t l = rp_csv_unquote(f, buf, FEAT_STR);
    return l < FEAT_STR ? 0 : -1;
}

/* A count: empty = 0 (the collect_* columns are empty on early dates); "12" or "12.0". */
static int daily_count(const rp_csv_field *f, int64_t *v)
{
    double x = 0;
    if (f->len == 0) {
        *v = 0;
        return 0;
    }
    if (rp_parse_i64(f->p, f->len, v) == 0) return *v >= 0 ? 0 : -1;
    if (rp_parse_f64(f->p, f->len, &x) != 0 || x < 0 || x > 9e18 || x != floor(x)) return -1;
    *v = (int64_t)x;
    return 0;
}

/* Parse one row into a one-row aggregate r (fields not given keep src.date 0). */
static int parse_daily(const char *s, const char *e, const char *path, int64_t line,
                       int64_t pop_until, feat_daily_rec *r)
{
    rp_csv_field f[DAILY_NF];
    int64_t date = 0, v = 0;
    int got = rp_csv_split(s, e, f, DAILY_NF);
    if (got == -1) {
        rp_log_user_error("%s:%lld: unterminated or misplaced quote", path, (long long)line);
        return RP_ERR_DATA;
    }
    if (got != DAILY_NF) {
        rp_log_user_error("%s:%lld: %d fields, expected %d", path, (long long)line, got, DAILY_NF);
        return RP_ERR_DATA;
    }
    if (rp_parse_i64(f[C_ID].p, f[C_ID].len, &r->id) != 0 || r->id < 0)
        return daily_bad(path, line, "video_id", &f[C_ID], "a non-negative integer");
    if (rp_parse_i64(f[C_DATE].p, f[C_DATE].len, &date) != 0 || date < 19000101 || date > 99991231)
        return daily_bad(path, line, "date", &f[C_DATE], "YYYYMMDD");
    feat_src src = {date, line};
    r->line = line;
    r->nrows = 1;
    if (f[C_AUTHOR].len > 0) {
        if (rp_parse_i64(f[C_AUTHOR].p, f[C_AUTHOR].len, &r->author) != 0 || r->author < 0)
            return daily_bad(path, line, "author_id", &f[C_AUTHOR], "a non-negative integer");
        r->src_author = src;
    }
    if (f[C_VTYPE].len > 0) {
        if (daily_str(&f[C_VTYPE], r->vtype) != 0)
            return daily_bad(path, line, "video_type", &f[C_VTYPE], "a short string");
        r->src_vtype = src;
    }
    if (f[C_UTYPE].len > 0) {
        if (daily_str(&f[C_UTYPE], r->utype) != 0)
            return daily_bad(path, line, "upload_type", &f[C_UTYPE], "a short string");
        r->src_utype = src;
    }
    if (f[C_DUR].len > 0) {
        if (rp_parse_f64(f[C_DUR].p, f[C_DUR].len, &r->duration) != 0 || r->duration < 0)
            return daily_bad(path, line, "video_duration", &f[C_DUR], "milliseconds or empty");
        r->src_duration = src;
    }
    if (f[C_MUSIC].len > 0 && rp_parse_i64(f[C_MUSIC].p, f[C_MUSIC].len, &v) != 0)
        return daily_bad(path, line, "music_id", &f[C_MUSIC], "an integer or empty");
    for (int k = 0; k < FEAT_N_POP; k++) {
        if (daily_count(&f[pop_cols[k]], &r->pop[k]) != 0)
            return daily_bad(path, line, feat_pop_names[k], &f[pop_cols[k]],
                             "a non-negative count or empty");
        if (pop_until > 0 && date > pop_until) r->pop[k] = 0;
    }
    return RP_OK;
}

/* This rank's lines into t. */
static int parse_daily_chunk(const rp_csv_chunk *ck, int64_t pop_until, daily_table *t)
{
    int rc = RP_OK;
    int64_t line = 0;
    size_t pos = 0;
    const char *s, *e;
    int trunc = 0;
    char what[4200];
    rp_progress pg;
    snprintf(what, sizeof what, "parsing %s", ck->path);
    rp_progress_begin(&pg, what, (int64_t)ck->len, "bytes"); /* rank 0's chunk */
    while (rp_csv_next_line(ck, &pos, &s, &e, &line, &trunc)) {
        rp_progress_update(&pg, (int64_t)pos);
        feat_daily_rec row, *agg = NULL;
        memset(&row, 0, sizeof row);
        row.author = -1;
        row.duration = NAN;
        if (parse_daily(s, e, ck->path, line, pop_until, &row) != RP_OK) {
            rc = RP_ERR_DATA;
            goto cleanup;
        }
        RP_CALL(table_get(t, row.id, &agg));
        merge_rec(agg, &row);
    }
    rp_progress_end(&pg);
cleanup:
    return rc;
}

static int cmp_daily(const void *a, const void *b)
{
    const feat_daily_rec *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int features_read_daily(MPI_Comm comm, const char *path, int64_t pop_until, feat_daily_rec **recs,
                        int64_t *n)
{
    int rc = RP_OK;
    rp_csv_chunk ck = {0};
    daily_table t = {0};
    feat_daily_rec *all = NULL;
    int64_t nall = 0, nout = 0;
    RP_CALL(rp_csv_read_chunk(comm, path, feat_daily_header, &ck));
    rc = parse_daily_chunk(&ck, pop_until, &t);
    rp_csv_chunk_clear(&ck);
    RP_AGREE(comm, rc);
    RP_CALL(rp_records_allgather(comm, t.rec, t.n, sizeof *t.rec, (void **)&all, &nall));
    /* A video split over ranks appears once per rank: sort (stable order is irrelevant because
     * merge_rec is commutative) and fold equal ids. */
    qsort(all, (size_t)nall, sizeof *all, cmp_daily);
    for (int64_t i = 0; i < nall; i++) {
        if (nout > 0 && all[nout - 1].id == all[i].id) merge_rec(&all[nout - 1], &all[i]);
        else all[nout++] = all[i];
    }
    *recs = all;
    all = NULL;
    *n = nout;
cleanup:
    rc = rp_mpi_agree(comm, rc);
    free(all);
    table_clear(&t);
    rp_csv_chunk_clear(&ck);
    return rc;
}
