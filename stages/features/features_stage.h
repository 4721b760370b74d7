/* features_stage.h - rp-features: user and video feature tables from the KuaiRec side files and the
 * training split of shards.h5. Readers (features_read.c, features_daily.c), assembly and output
 * (features_build.c), the program (features_run.c). */
#ifndef FEATURES_STAGE_H
#define FEATURES_STAGE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define FEAT_N_ONEHOT 18
#define FEAT_N_RANGES 4
#define FEAT_N_FLAGS 3
#define FEAT_N_UCOUNTS 4 /* follow, fans, friend, register_days */
#define FEAT_MAX_TAGS 64 /* tags kept per video by the reader (--tag-len is at most this) */
#define FEAT_N_POP 8     /* popularity counts summed from the daily file */
#define FEAT_STR 32      /* fixed width of short categorical strings in records */

/* Options; defaults set by features_opts_default. Flags are 0/1. */
typedef struct feat_opts {
    const char *data, *shards, *out;
    int tag_len, min_author_count;
    double smoothing;
    int user_onehot, user_activity, user_ranges, user_counts, user_register;
    int author, video_type, caption_cats, duration, watch_ratio, popularity;
    int64_t popularity_until;
} feat_opts;

/* One user_features.csv row. Missing integers are -1, missing numbers NaN, missing strings "". */
typedef struct feat_user_rec {
    int64_t id, line;
    int32_t onehot[FEAT_N_ONEHOT];
    int32_t flags[FEAT_N_FLAGS];
    double counts[FEAT_N_UCOUNTS];
    char degree[FEAT_STR];
    char ranges[FEAT_N_RANGES][FEAT_STR];
} feat_user_rec;

/* One item_categories.csv row: tags in file order (ntags may exceed FEAT_MAX_TAGS: error). */
typedef struct feat_tag_rec {
    int64_t id, line;
    int32_t ntags;
    int32_t tags[FEAT_MAX_TAGS];
} feat_tag_rec;

/* One kuairec_caption_category.csv record: category ids per level, -1 = missing
 * (-124 or UNKNOWN in the file). */
typedef struct feat_caption_rec {
    int64_t id, line;
    int64_t cat[3];
} feat_caption_rec;

/* Which row of the daily file a static attribute came from: the latest (date, line) wins, so the
 * result does not depend on how the file was split over ranks. date 0 = never seen. */
typedef struct feat_src {
    int64_t date, line;
} feat_src;

/* Per-video aggregate of item_daily_features.csv. */
typedef struct feat_daily_rec {
    int64_t id, line; /* line: first file line seen for this video (smallest) */
    int64_t nrows;
    feat_src src_author, src_vtype, src_utype, src_duration;
    int64_t author;
    double duration; /* ms; NaN when never given */
    char vtype[FEAT_STR], utype[FEAT_STR];
    int64_t pop[FEAT_N_POP];
} feat_daily_rec;

extern const char *const feat_user_header;
extern const char *const feat_tag_header;
extern const char *const feat_caption_header;
extern const char *const feat_daily_header;
extern const char *const feat_onehot_names[FEAT_N_ONEHOT];
extern const char *const feat_range_names[FEAT_N_RANGES];
extern const char *const feat_flag_names[FEAT_N_FLAGS];
extern const char *const feat_ucount_names[FEAT_N_UCOUNTS];
extern const char *const feat_pop_names[FEAT_N_POP];

/* Readers: collective on comm. Each rank parses its byte range of the file; the records are
 * gathered to every rank and sorted by id. A duplicate id or a malformed line is RP_ERR_DATA
 * with "path:line: problem"; a missing or empty file RP_ERR_NOINPUT. Out: *recs (caller frees),
 * *n. */
int features_read_users(MPI_Comm comm, const char *path, feat_user_rec **recs, int64_t *n);
int features_read_tags(MPI_Comm comm, const char *path, feat_tag_rec **recs, int64_t *n);
int features_read_captions(MPI_Comm comm, const char *path, feat_caption_rec **recs, int64_t *n);
/* features_read_daily - per-video aggregates (see feat_daily_rec), identical on every rank and
 * for any number of ranks. Popularity counts of rows dated after pop_until (YYYYMMDD; 0 = no
 * limit) are not summed. */
int features_read_daily(MPI_Comm comm, const char *path, int64_t pop_until, feat_daily_rec **recs,
                        int64_t *n);

/* features_sort_unique - sort records (int64 id, int64 line first) by id; RP_ERR_DATA naming the
 * second line of a duplicated id. Local but identical on every rank, so rank 0 reports. */
int features_sort_unique(void *recs, int64_t n, size_t recsz, const char *path);

/* features_parse_list - "[8]", "[27, 9]" or "[]" into vals (at most cap). Returns the number of
 * values, or -1 when malformed. Values must be non-negative ints. */
int features_parse_list(const char *s, size_t len, int32_t *vals, int cap);

/* features_opts_default - the documented defaults. */
void features_opts_default(feat_opts *o);

/* features_build - read everything, compute the tables, write opt->out atomically.
 * Collective. summary receives "key=value" pairs. */
struct rp_stage;
int features_build(struct rp_stage *st, const feat_opts *opt);

/* features_run - the whole program (parse argv, build, summary line). Collective on comm.
 * Returns the process exit status. main() and the tests call it. */
int features_run(MPI_Comm comm, int argc, char **argv);

#endif
