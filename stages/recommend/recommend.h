/* recommend.h - rp-recommend's modules: top-K selection, user selection, the blocked scoring
 * loop and the recs.h5 / CSV writers. */
#ifndef RECOMMEND_H
#define RECOMMEND_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "rp_model.h"
#include "rp_stage.h"

typedef struct rec_opts {
    const char *shards, *model_file, *model, *out, *users, *csv;
    int k, exclude_train;
    double bias_reg;
} rec_opts;

/* The recommendations of this rank's users, rows in global output order. */
typedef struct rec_result {
    int64_t n_local, row_offset, n_global;
    int k;
    int64_t *user_raw; /* [n_local] */
    int64_t *items;    /* [n_local, k] raw video ids, -1 where fewer than k candidates */
    float *scores;     /* [n_local, k], NaN where items is -1 */
} rec_result;

void rec_result_clear(rec_result *r);

/* rec_better - 1 if (score a, item ia) ranks before (b, ib): higher score, then lower item
 * index; NaN ranks last. */
int rec_better(float a, int32_t ia, float b, int32_t ib);

/* rec_topk - the k best items of scores[0..n) in rank order, skipping items with
 * mark[i] == stamp (mark may be NULL). heap: k ints of scratch. Out: idx[k] dense item indices
 * (-1 past the candidates), val[k] (NaN there). Local, deterministic. */
void rec_topk(const float *scores, int64_t n, const uint32_t *mark, uint32_t stamp, int k,
              int32_t *heap, int32_t *idx, float *val);

/* One kept candidate of rec_topk_monotone: its rank (rec_better as one integer: larger is
 * better), score, sort key (sign * raw product) and dense item index. */
typedef struct rec_entry {
    uint64_t rank;
    float score, key;
    int32_t item;
} rec_entry;

/* rec_topk_monotone - rec_topk on the raw float products of a dot-form model whose score is
 * monotone in them (rp_model_dot_monotone(m) == sign, non-zero): the same idx/val as rec_topk
 * on the finished scores, but only candidates whose product beats the K-th best so far are
 * finished (rp_model_dot_finish) and touch the heap. raw[0..n) is scratch (negated in place
 * when sign < 0). heap: k entries of scratch. Local, deterministic. */
void rec_topk_monotone(float *raw, int64_t n, const rp_model *m, int sign, const uint32_t *mark,
                       uint32_t stamp, int k, rec_entry *heap, int32_t *idx, float *val);

/* rec_select_users - dense indices (sorted, unique) of the users to recommend for: every user
 * when spec is NULL, else the raw ids "1,2,3" or "@file" (ids separated by commas, spaces or
 * newlines) looked up in user_raw (sorted). Out: *sel (caller frees), *n. Local.
 * Returns RP_OK, RP_ERR_USAGE (malformed list, unknown id), RP_ERR_NOINPUT (unreadable file). */
int rec_select_users(const char *spec, const int64_t *user_raw, int64_t n_users, int64_t **sel,
                     int64_t *n);

/* rec_parse - command line. Local. Returns RP_OK, RP_HELP, RP_ERR_USAGE. */
int rec_parse(int argc, char **argv, rec_opts *o);

/* rec_run - open inputs, score every selected user in blocks of RP_MODEL_USER_BLOCK aligned on
 * the global user index (so results are bitwise identical for any rank count), write recs.h5
 * (and the CSV). Collective. */
int rec_run(const rp_stage *stg, const rec_opts *o, int64_t *n_users_out, double *pairs_out);

#endif
