/* synth.h - rp-synth: KuaiRec 2.0 format data of any size from a planted model. Shared between
 * the stage's modules (model, formatting, table writers, --side reader, --stats checker) and
 * its tests. */
#ifndef SYNTH_H
#define SYNTH_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "rp_stage.h"

/* Real KuaiRec 2.0 sizes: the default (scale 1). */
#define SYNTH_REAL_USERS 7176
#define SYNTH_REAL_ITEMS 10728
#define SYNTH_REAL_SMALL_USERS 1411
#define SYNTH_REAL_SMALL_ITEMS 3327
#define SYNTH_REAL_SOCIAL 472
#define SYNTH_REAL_MIN_ROWS 100 /* fewest big-matrix rows of a user (a filter of the real data) */
#define SYNTH_K 8          /* latent dimension of the planted model */
#define SYNTH_NTAGS 31     /* tag ids 0..30 */
#define SYNTH_NDAYS 63     /* 2020-07-05 .. 2020-09-05 */
#define SYNTH_DAY0_EPOCH 1593878400LL /* 2020-07-05 00:00 local (UTC+8) */

#define SYNTH_HDR_BIG                                                                              \
    "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio"
#define SYNTH_HDR_SMALL SYNTH_HDR_BIG
#define SYNTH_HDR_USERS                                                                        \
    "user_id,user_active_degree,is_lowactive_period,is_live_streamer,is_video_author,"        \
    "follow_user_num,follow_user_num_range,fans_user_num,fans_user_num_range,friend_user_num," \
    "friend_user_num_range,register_days,register_days_range,onehot_feat0,onehot_feat1,"      \
    "onehot_feat2,onehot_feat3,onehot_feat4,onehot_feat5,onehot_feat6,onehot_feat7,"          \
    "onehot_feat8,onehot_feat9,onehot_feat10,onehot_feat11,onehot_feat12,onehot_feat13,"      \
    "onehot_feat14,onehot_feat15,onehot_feat16,onehot_feat17"
#define SYNTH_HDR_ITEMS "video_id,feat"
#define SYNTH_HDR_DAILY                                                                        \
    "video_id,date,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,"  \
    "video_width,video_height,music_id,video_tag_id,video_tag_name,show_cnt,show_user_num,"    \
    "play_cnt,play_user_num,play_duration,complete_play_cnt,complete_play_user_num,"           \
    "valid_play_cnt,valid_play_user_num,long_time_play_cnt,long_time_play_user_num,"           \
    "short_time_play_cnt,short_time_play_user_num,play_progress,comment_stay_duration,"        \
    "like_cnt,like_user_num,click_like_cnt,double_click_cnt,cancel_like_cnt,"                  \
    "cancel_like_user_num,comment_cnt,comment_user_num,direct_comment_cnt,reply_comment_cnt,"  \
    "delete_comment_cnt,delete_comment_user_num,comment_like_cnt,comment_like_user_num,"       \
    "follow_cnt,follow_user_num,cancel_follow_cnt,cancel_follow_user_num,share_cnt,"           \
    "share_user_num,download_cnt,download_user_num,report_cnt,report_user_num,"                \
    "reduce_similar_cnt,reduce_similar_user_num,collect_cnt,collect_user_num,"                 \
    "cancel_collect_cnt,cancel_collect_user_num"
#define SYNTH_HDR_CAPTION                                                                      \
    "video_id,manual_cover_text,caption,topic_tag,first_level_category_id,"                    \
    "first_level_category_name,second_level_category_id,second_level_category_name,"           \
    "third_level_category_id,third_level_category_name"
#define SYNTH_HDR_SOCIAL "user_id,friend_list"

typedef struct synth_opts {
    const char *out;
    int64_t users, items, small_users, small_items; /* 0 = from --scale (or --side) */
    double scale;
    int64_t seed;
    const char *side;
    const char *stats;  /* --stats DIR: check a folder's statistics instead of generating */
    double clip_max;    /* truth.h5's /expected_clipped is E[min(watch ratio, clip_max)] */
    int fatigue, drift; /* planted sequential effects (synth_seq.c), off by default */
} synth_opts;

/* The planted model, replicated on every rank (O(users + items) memory). */
typedef struct synth_model {
    uint64_t seed;
    double clip_max;         /* --clip-max: the truth's E[min(wr, clip_max)] */
    int64_t n_users, n_items, n_small_users, n_small_items, n_social;
    double density;          /* n_items / real items: scales per-user counts */
    int64_t *u_raw, *i_raw;  /* dense index -> id written to the files */
    float *u_feff;           /* user-feature effect on log watch ratio */
    int8_t *u_degree;        /* 0 full_active, 1 high_active, 2 middle_active, 3 UNKNOWN */
    float *u_bias, *u_fac;   /* [n_users], [n_users * K] */
    int32_t *u_small;        /* index among small users, or -1 */
    int64_t *small_users;    /* [n_small_users] dense user indices, ascending */
    int64_t *social_users;   /* [n_social] ascending */
    int32_t *u_rows;         /* target big-matrix rows */
    int32_t min_rows;        /* floor of a user's big-matrix rows: synth_min_rows(density) */
    float *i_bias, *i_fac;   /* [n_items], [n_items * K] */
    double *i_logm;          /* item part of log m: bias, tags, author, duration */
    float *i_weight;         /* selection weight (popularity), normalised to sum 1 */
    int32_t *i_dur;          /* video_duration ms */
    int32_t *i_author;
    uint8_t *i_ntags, *i_tags;   /* [n_items], [n_items * 4] in written order */
    int32_t *i_small;        /* index among small items, or -1 */
    int64_t *small_items;    /* [n_small_items] ascending */
    double *i_skip;          /* big-matrix skip probability (duration dependent) */
    double *i_out_hi;        /* outlier upper bound (short videos loop more) */
    /* expected-count inversion tables: F(c) = sum_i min(1, c w_i) over all / non-small items */
    double *tab_c, *tab_all, *tab_ns;
    int ntab;
    /* side files given with --side: copied byte for byte */
    const char *side;
    int seq_fatigue, seq_drift; /* sequential effects switched on (synth_seq.c) */
} synth_model;

/* Growable output buffer for formatted rows. */
typedef struct synth_buf {
    char *p;
    size_t len, cap;
} synth_buf;

/* synth_buf_reserve - room for extra more bytes plus a NUL (capacity doubles from 64 KiB).
 * Returns RP_OK or RP_ERR_NOMEM (b unchanged). synth_buf_clear frees and zeroes b. */
int synth_buf_reserve(synth_buf *b, size_t extra);
void synth_buf_clear(synth_buf *b);

/* Formatting (synth_fmt.c): append to b->p + b->len; callers reserve room first. */
void synth_put_i64(synth_buf *b, int64_t v);
void synth_put_str(synth_buf *b, const char *s);
void synth_put_mem(synth_buf *b, const char *s, size_t n);
void synth_put_ch(synth_buf *b, char c);
/* micro-units (v * 1e-6) as a float with trailing zeros trimmed, at least one decimal: 1.5, 2.0 */
void synth_put_micro(synth_buf *b, int64_t micro);
/* local time of epoch ms: "2020-07-05 00:08:23.438" (fraction trimmed, omitted when .000) */
void synth_put_time(synth_buf *b, int64_t epoch_ms);
void synth_put_ymd(synth_buf *b, int64_t epoch_ms, int shift_days); /* 20200705 */
void synth_put_ts(synth_buf *b, int64_t epoch_ms);  /* 1593878903.438 / 1593878903.0 */
void synth_put_csv_text(synth_buf *b, const char *s, size_t n); /* quotes when needed */
/* the calendar date (local) of a day index from 2020-07-05 */
void synth_day_ymd(int day, int *y, int *m, int *d);

/* Model (synth_model.c). */
int synth_model_build(MPI_Comm comm, const synth_opts *o, synth_model *m);
void synth_model_clear(synth_model *m);
/* the per-user floor of big-matrix rows at a density (videos / 10,728): 100 scaled like the
 * other counts, rounded, at least 1 */
int32_t synth_min_rows(double density);
/* One generated interaction row. */
typedef struct synth_row {
    int64_t ts_ms;       /* epoch ms, or -1 = empty time fields (small matrix) */
    int32_t item;        /* dense index */
    int32_t play;        /* play_duration ms */
    int32_t shift;       /* date shifted by this many days (0.1% disagreement) */
    int32_t main_part;   /* 1: drawn from the log-normal main part (sequential effects apply) */
    double expect;       /* small matrix: noise-free expected watch ratio */
    double expect_clipped; /* small matrix: E[min(watch ratio, m->clip_max)] */
    double expect_clipped_train; /* the same under the big matrix's (training) regime */
} synth_row;
/* synth_user_big - this user's big-matrix rows, sorted by time. Out: *rows (grown), *n. */
int synth_user_big(const synth_model *m, int64_t u, synth_row **rows, size_t *cap, size_t *n);
/* synth_user_small - rows of small user su (index among small users) in file order, plus the
 * noise-free expected watch ratio of each (row.expect). */
int synth_user_small(const synth_model *m, int64_t su, synth_row **rows, size_t *cap,
                     size_t *n);
/* number of small-matrix rows of small user su (cheap: missing cells only). */
int64_t synth_small_count(const synth_model *m, int64_t su);
/* expected (noise-free) watch ratio of (u, i) in the small-matrix regime */
double synth_expected_small(const synth_model *m, int64_t u, int64_t i);

/* Tables (synth_tables.c): write all seven CSVs and truth.h5 into o->out. Collective. */
int synth_write_all(rp_stage *st, const synth_opts *o, const synth_model *m);

/* synth_run.c */
/* synth_parse_args - argv into *o (defaults set here). Local; rank 0 prints usage errors.
 * Returns RP_OK, RP_HELP or RP_ERR_USAGE. */
int synth_parse_args(int argc, char **argv, synth_opts *o);
/* synth_run - the whole stage after parsing: write the tables and truth.h5, or --stats.
 * Collective. */
int synth_run(rp_stage *st, const synth_opts *o);

/* Table writer (synth_write.c): units [0, n_units) in chunks of `chunk` units, chunk c written
 * by rank c % size, bytes placed by an exclusive scan per round: the same bytes for any size. */
typedef int (*synth_unit_fn)(const synth_model *m, int64_t unit, synth_buf *b, void *ctx);
typedef int (*synth_round_fn)(void *ctx, int64_t chunk, int have_chunk); /* collective hook */
int synth_write_table(MPI_Comm comm, const char *dir, const char *name, const char *header,
                      int64_t n_units, int64_t chunk, const synth_model *m, synth_unit_fn fn,
                      synth_round_fn round, void *ctx, int64_t *bytes_out);
/* synth_copy_file - rank 0 copies src to dir/name atomically. Collective (agrees). */
int synth_copy_file(MPI_Comm comm, const char *src, const char *dir, const char *name);

/* --side (synth_side.c): read user_features.csv and item_categories.csv into the model. */
int synth_side_read(MPI_Comm comm, const char *dir, synth_model *m);

/* --stats (synth_stats.c): statistics of a folder's big and small matrices. */
typedef struct synth_stats {
    int64_t big_rows, big_users, big_items, big_dups, big_unique_pairs, big_bad_play;
    int64_t big_date_mismatch, big_outside_windows;
    double cnt_min, cnt_median, cnt_max, cnt_mean;
    double item_top1pct_share, item_gini;
    double wr_big[9];   /* mean std p25 p50 p75 p99 max share>5 share==0 */
    double big_above1, big_below01;
    int64_t small_rows, small_users, small_items, small_empty_time, small_overlap;
    int64_t small_dups, small_bad_play;
    double small_min_per_user, small_max_per_user;
    double wr_small[9];
} synth_stats;
/* synth_stats_compute - read big_matrix.csv and small_matrix.csv of dir (line-aligned byte
 * ranges per rank) and reduce the statistics that --stats checks into *s on every rank.
 * Collective. Returns RP_OK, RP_ERR_NOINPUT, RP_ERR_DATA (file:line), RP_ERR_NOMEM. */
int synth_stats_compute(MPI_Comm comm, const char *dir, synth_stats *s);
/* synth_stats_print - the --stats table on stdout next to the KUAIREC.md targets (rank 0). */
void synth_stats_print(const synth_stats *s, int64_t n_items_hint);
/* synth_stats_check - compare with KUAIREC.md targets scaled by density (items / 10,728).
 * Returns the number of failed checks; prints each on stderr when verbose. */
int synth_stats_check(const synth_stats *s, double density, double tol, int verbose);

#endif
