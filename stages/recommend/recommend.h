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

/* One candidate of the fused top-K: its rank (rec_better as one integer: larger is better; the
 * low 32 bits are the complemented dense item index), score and sort key (sign * raw product).
 * 16 bytes: the candidate buffers of a user block share the L2 cache with the tile. */
typedef struct rec_entry {
    uint64_t rank;
    float score, key;
} rec_entry;

/* Fused scoring of dot-form models whose score is monotone in the float product
 * (rp_model_dot_monotone(m) == sign, non-zero): a user's items arrive in index order, tile by
 * tile of raw products; only candidates whose product beats the K-th best so far are finished
 * (rp_model_dot_finish) and buffered; a full buffer keeps its K best (quickselect) and raises the
 * threshold. The result (idx/val) is the one rec_topk gives on the finished scores. */
typedef struct rec_topk_run {
    rec_entry *ent; /* REC_RUN_CAP(k) entries, borrowed */
    int n, cap;
    float kthr;     /* keys <= kthr cannot enter; NaN: no shortcut yet */
} rec_topk_run;

/* Candidates buffered per user: selection every K + 32 or more new ones keeps it O(1) each. */
#define REC_RUN_CAP(k) (2 * (k) + 32)

/* Tile sizes of the fused path: a tile of products stays in the L2 cache while it is scanned;
 * tiling needs the candidate buffers of a whole user block (RP_MODEL_USER_BLOCK of them). */
#define REC_TILE_BYTES (512 * 1024)
#define REC_HEAP_BYTES (8 * 1024 * 1024)
/* Bytes per candidate in that test: the entry's size when the test was set (24), kept so that
 * the same K are tiled as before, with the same GEMM shapes and bits. */
#define REC_HEAP_ENTRY_BYTES 24
#define REC_SMALL_GEMM_MN 1200

/* rec_topk_begin - start a user's run over ent (REC_RUN_CAP(k) entries of scratch). Local. */
void rec_topk_begin(rec_topk_run *t, rec_entry *ent, int k);

/* rec_topk_feed - offer items i0 .. i0+n-1 (i0 a multiple of 16, every item after those fed
 * before) with raw products raw[0..n) (scratch: negated in place when sign < 0), skipping items
 * whose bit is set in excl (bit i of excl[i / 16]; NULL: none). Local, deterministic. */
void rec_topk_feed(rec_topk_run *t, float *raw, int64_t i0, int64_t n, const uint16_t *excl,
                   const rp_model *m, int sign, int k);

/* rec_topk_take - offer the candidates bits (bit j: item i0 + j with key key[j], above the
 * threshold and not excluded) of a block of len <= 16 keys in index order; after each one the
 * rest of the block is tested again against the raised threshold, skipping the ex bits. The step
 * rec_topk_feed takes for every block its scan stops at (and the fused kernel, recommend_fused.c,
 * for its own). Local. */
void rec_topk_take(rec_topk_run *t, const float *key, int64_t i0, int len, uint32_t bits,
                   uint32_t ex, const rp_model *m, int sign, int k);

/* rec_topk_simd - the vector width of rec_topk_feed's scan: want 0 (SSE2), 1 (AVX2), 2
 * (AVX-512), capped by what the CPU has; -1: the widest it has (the default). Every width gives
 * the same result (tests run each). Returns the level now in use. Not thread-safe. */
int rec_topk_simd(int want);

/* rec_topk_end - the k best fed items in rank order: idx[k] dense item indices (-1 past the
 * candidates), val[k] finished scores (NaN there). Empties the run. Local. */
void rec_topk_end(rec_topk_run *t, int k, int32_t *idx, float *val);

/* rec_excl_set - set the bits of items[0..n) in an exclusion bitset. Local. */
void rec_excl_set(uint16_t *bits, const int32_t *items, int64_t n);

/* rec_tile_width - items per tile of the fused path for a GEMM of nu users (a multiple of 16, or
 * n_items: no tiling, when the block's heaps for this k would be large or a tile's GEMM would
 * run another BLAS kernel than the whole row's). Depends on nu, n_items and k only, so the tiles
 * are the same for any rank count. Local. */
int64_t rec_tile_width(int64_t nu, int64_t n_items, int k);

/* Probe items of the fused path (recommend_probe.c): K + 128 items picked from the model
 * (highest product with the mean user), scored for a whole user block by one small GEMM, give
 * each user a lower bound on its K-th best score before its first tile. */
typedef struct rec_probe {
    int64_t n, d;    /* probe items (0: none), model width */
    int32_t *items;  /* [n] dense item indices */
    float *Vp;       /* [n, d] their float factors */
    double *vnorm;   /* [n] Euclidean norms of those */
    const float *Uf; /* [n_users, d] the model's float user factors, borrowed */
    uint32_t *key;   /* [n rounded up to 16] scratch */
} rec_probe;

/* rec_probe_create - probes of a monotone dot-form model for top-k (p->n = 0, no probes, for
 * other models or when k + 128 exceeds a quarter of the items). Borrows the model's factors: m
 * must outlive p. Local, deterministic. Returns RP_OK, RP_ERR_NOMEM. */
int rec_probe_create(const rp_model *m, int k, rec_probe *p);
void rec_probe_clear(rec_probe *p);

/* rec_probe_block - the probes' products for users u0 .. u0+nu-1 (nu <= RP_MODEL_USER_BLOCK):
 * raw[r * p->n + x] (caller's nu * p->n floats). Local. */
int rec_probe_block(const rec_probe *p, int64_t u0, int64_t nu, float *raw);

/* rec_probe_cut - for user u, whose probe products are raw[0..p->n) (its row of
 * rec_probe_block): a key below which no item can enter the user's top k (its score is below
 * that of k non-excluded probe items, with a margin for the rounding of another GEMM shape), or
 * NaN when there is no such bound; a valid initial rec_topk_run kthr. excl: the user's exclusion
 * bits or NULL. Local. */
float rec_probe_cut(rec_probe *p, const float *raw, int64_t u, const uint16_t *excl,
                    const rp_model *m, int sign, int k);

/* Fused scoring on AVX-512 (recommend_fused.c), for the same monotone dot-form models: a group
 * of up to REC_FUSED_USERS users against 16 items per vector, the items' float factors packed
 * once per run as [d][16] panels. Each product is the chain of fused multiply-adds over the
 * factors in index order from +0 (rec_fused_dot: the same bits on any CPU with IEEE fmaf), kept
 * in registers and compared with each user's threshold; only the items that pass are stored
 * (rec_topk_take). No product buffer, no GEMM: a user's result depends on no other user. */
#define REC_FUSED_USERS 8

typedef struct rec_fused {
    int64_t n_items, d;
    int64_t npanel;      /* panels of 16 items: n_items rounded up */
    float *panel;        /* [npanel][d][16], zero lanes past n_items; 64-byte aligned */
    int64_t nprobe_panel; /* the probe items (rec_probe order) packed alike, 0: no probes */
    float *probe_panel;
    void *panel_mem, *probe_mem; /* the allocations the panels are aligned in */
} rec_fused;

/* rec_fused_available - 1 when the CPU has AVX-512F and RP_REC_NO_AVX512 is unset or empty;
 * rec_fused_enable(0) turns the fused path off (tests: the GEMM path), (1) back to the CPU's
 * answer. Not thread-safe. */
int rec_fused_available(void);
void rec_fused_enable(int on);

/* rec_fused_dot - the fused path's product of one user and one item: s = fmaf(u[j], v[j], s)
 * for j = 0 .. d-1 from s = +0. Local. */
float rec_fused_dot(const float *u, const float *v, int64_t d);

/* rec_fused_create - pack the model's float item factors (and p's probe items, if any) into
 * panels. m must be of the dot kind. Local. Returns RP_OK, RP_ERR_NOMEM, RP_ERR_INTERNAL. */
int rec_fused_create(const rp_model *m, const rec_probe *p, rec_fused *f);
void rec_fused_clear(rec_fused *f);

/* rec_fused_probe - raw[r * f->nprobe_panel * 16 + x]: the probe products (rec_fused_dot) of
 * user rows ug[r * d ..] for r < nr <= REC_FUSED_USERS. Needs rec_fused_available(). Local. */
void rec_fused_probe(const rec_fused *f, const float *ug, int nr, float *raw);

/* A group of user rows fed to the fused top-K: their rows ug[r * d ..] and runs run[r] for
 * r < nr <= REC_FUSED_USERS, excl: nr bitsets of nwords words (bit i of word i / 16), and how
 * candidates are finished (rec_topk_feed's m, sign, k). Borrowed. */
typedef struct rec_group {
    const float *ug;
    int nr;
    rec_topk_run *run;
    const uint16_t *excl;
    int64_t nwords;
    const rp_model *m;
    int sign, k;
} rec_group;

/* rec_fused_topk - feed every item, in index order, to the group's runs: the result is
 * rec_topk_feed's on the rec_fused_dot products. Needs rec_fused_available(). Local,
 * deterministic. */
void rec_fused_topk(const rec_fused *f, const rec_group *g);

/* rec_probe_cut_exact - rec_probe_cut when raw holds, bit for bit, the products the run will
 * be fed for the probe items (rec_fused_probe and rec_fused_topk compute the same rec_fused_dot):
 * the K-th best non-excluded probe key itself bounds the K-th best score, no rounding margin.
 * Local. */
float rec_probe_cut_exact(rec_probe *p, const float *raw, const uint16_t *excl,
                          const rp_model *m, int sign, int k);

/* rec_fused_topk_range - rec_fused_topk restricted to panels [p0, p1) (items 16 p0 ..): the
 * runs carry over, so ranges fed in increasing order give rec_fused_topk's result. Local. */
void rec_fused_topk_range(const rec_fused *f, const rec_group *g, int64_t p0, int64_t p1);

/* Users scored together by rp-recommend's fused path (groups of REC_FUSED_USERS in turn, chunk
 * of panels by chunk), so a chunk of REC_FUSED_CHUNK_BYTES of panels is read from the L1 cache
 * by every group but the first. */
#define REC_FUSED_SPAN 32
#define REC_FUSED_CHUNK_BYTES (32 * 1024)

/* rec_fused_chunk - panels per chunk (at least 1). Local. */
int64_t rec_fused_chunk(const rec_fused *f);

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
