/* recommend_run.c - rp-recommend: options, inputs, blocked scoring with a top-K heap per user,
 * recs.h5 and the optional CSV. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recommend.h"
#include "rp_args.h"
#include "rp_baseline.h"
#include "rp_csr.h"
#include "rp_err.h"
#include "rp_fault.h"
#include "rp_file.h"
#include "rp_h5.h"
#include "rp_inputs.h"
#include "rp_log.h"
#include "rp_mem.h"
#include "rp_model_hybrid.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_shards.h"

static const char *const model_choices[] = {"als", "twotower", "hybrid", "bias", NULL};

void rec_result_clear(rec_result *r)
{
    free(r->user_raw);
    free(r->items);
    free(r->scores);
    memset(r, 0, sizeof *r);
}

int rec_parse(int argc, char **argv, rec_opts *o)
{
    int rc = RP_OK;
    *o = (rec_opts){.k = 50, .exclude_train = 1, .bias_reg = 10.0};
    rp_arg args[] = {
        {"shards", RP_ARG_STR, &o->shards, "FILE", "shards.h5 (ids and the train split)", NULL},
        {"model-file", RP_ARG_STR, &o->model_file, "FILE",
         "model to score: als.h5, twotower.h5, hybrid.h5[#blend|#concat]", NULL},
        {"model", RP_ARG_STR, &o->model, "M",
         "expected model kind (checked against the file); bias fits the bias baseline from "
         "--shards and needs no file", model_choices},
        {"out", RP_ARG_STR, &o->out, "FILE", "output recs.h5", NULL},
        {"k", RP_ARG_INT, &o->k, "K", "videos per user", NULL},
        {"exclude-train", RP_ARG_FLAG, &o->exclude_train, NULL,
         "never recommend a video the user watched in the train split", NULL},
        {"users", RP_ARG_STR, &o->users, "LIST",
         "only these raw user ids: 1,2,3 or @file (default: every user)", NULL},
        {"csv", RP_ARG_STR, &o->csv, "PATH", "also write user_id,rank,video_id,score", NULL},
        {"bias-reg", RP_ARG_DBL, &o->bias_reg, "R", "regulariser of --model bias", NULL},
    };
    rp_cmd cmd = {"rp-recommend", "Top-K videos for every user from any trained model.",
                  "Output: recs.h5 (schema recpipe.recs): /user_raw [n], /items [n, K] raw video "
                  "ids, /scores [n, K].\n"};
    RP_CALL(rp_args_parse(argc, argv, &cmd, args, (int)(sizeof args / sizeof args[0])));
    if (o->shards == NULL || o->out == NULL)
        RP_FAIL_USER0(RP_ERR_USAGE, "--shards and --out are required (try rp-recommend --help)");
    int is_bias = o->model != NULL && strcmp(o->model, "bias") == 0;
    if (!is_bias && o->model_file == NULL)
        RP_FAIL_USER0(RP_ERR_USAGE, "--model-file is required unless --model bias");
    if (is_bias && o->model_file != NULL)
        RP_FAIL_USER0(RP_ERR_USAGE, "--model bias is fitted from --shards: drop --model-file");
    if (o->k < 1 || o->k > 100000 || o->bias_reg < 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "--k must be in 1..100000 and --bias-reg >= 0");
cleanup:
    return rc;
}

/* Wall-time phases of a run, per rank (logged as the max and min over ranks): where the wall
 * time goes besides scoring. */
enum { PH_IDS, PH_TRAIN, PH_MODEL, PH_SCORE, PH_WAIT, PH_LINEAGE, PH_WRITE, PH_CSV, PH_N };
static const char *const ph_name[PH_N] = {"ids", "train", "model", "score", "wait",
                                          "lineage", "write", "csv"};

/* Everything the scoring loop needs. */
typedef struct rec_ctx {
    MPI_Comm comm;
    int rank, size;
    int64_t n_users, n_items;
    int64_t *user_raw, *item_raw;
    int64_t *sel, n_sel;      /* selected dense users, sorted */
    int64_t s0, s1;           /* my slice sel[s0 .. s1) */
    int64_t *off;             /* train offsets [n_users + 1] */
    int32_t *train_items;     /* items of users sel[s0] .. sel[s1-1] (contiguous range) */
    int64_t train_base;       /* off[sel[s0]] */
    rp_model *m;
    double ph[PH_N]; /* seconds per phase, this rank */
} rec_ctx;

static void ctx_clear(rec_ctx *c)
{
    free(c->user_raw);
    free(c->item_raw);
    free(c->sel);
    free(c->off);
    free(c->train_items);
    rp_model_destroy(&c->m);
}

/* The end e of the aligned user block whose first selected user is sel[s]: sel[s .. e) are in
 * it; *span: the users its GEMM spans. */
static int64_t block_end(const rec_ctx *c, int64_t s, int64_t *span)
{
    int64_t b = c->sel[s] / RP_MODEL_USER_BLOCK, e = s;
    while (e < c->n_sel && c->sel[e] / RP_MODEL_USER_BLOCK == b) e++;
    *span = c->sel[e - 1] - c->sel[s] + 1;
    return e;
}

/* The block boundary (a count of blocks) for rank p: the one whose preceding work (spanned
 * users) is nearest to p / size of the total, the lower one on a tie. */
static int64_t block_cut(const rec_ctx *c, int p)
{
    int64_t span, j = 0, best = 0;
    double total = 0.0, work = 0.0;
    for (int64_t s = 0; s < c->n_sel;) {
        s = block_end(c, s, &span);
        total += (double)span;
    }
    double target = total * p / c->size, best_gap = target;
    for (int64_t s = 0; s < c->n_sel; j++) {
        s = block_end(c, s, &span);
        work += (double)span;
        if (fabs(work - target) < best_gap) best_gap = fabs(work - target), best = j + 1;
    }
    return best;
}

/* Assign whole aligned user blocks to ranks, contiguous and balanced by the users their GEMMs
 * span (KuaiRec's 7,176 users: 28 full blocks and one of 8, split 14 + 14 at np 2 instead of
 * 15 + 14 by block count): my slice of sel covers blocks [b0, b1). */
static void my_slice(rec_ctx *c)
{
    int64_t b0 = block_cut(c, c->rank), b1 = block_cut(c, c->rank + 1), span, j = 0;
    c->s0 = c->s1 = 0;
    for (int64_t s = 0; s < c->n_sel; j++) {
        int64_t e = block_end(c, s, &span);
        if (j == b0) c->s0 = c->s1 = s;
        if (j >= b0 && j < b1) c->s1 = e;
        s = e;
    }
}

static int read_ids(rec_ctx *c, hid_t f, const char *path)
{
    int rc = RP_OK, nd = 0;
    int64_t d[2];
    RP_CALL(rp_h5_read_all(f, RP_DS_USER_RAW, RP_I64, (void **)&c->user_raw, &nd, d));
    if (d[0] != c->n_users)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld ids, n_users is %lld", path, RP_DS_USER_RAW,
                      (long long)d[0], (long long)c->n_users);
    for (int64_t u = 1; u < c->n_users; u++)
        if (c->user_raw[u] <= c->user_raw[u - 1])
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s is not strictly increasing at %lld", path,
                          RP_DS_USER_RAW, (long long)u);
    RP_CALL(rp_h5_read_all(f, RP_DS_ITEM_RAW, RP_I64, (void **)&c->item_raw, &nd, d));
    if (d[0] != c->n_items)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld ids, n_items is %lld", path, RP_DS_ITEM_RAW,
                      (long long)d[0], (long long)c->n_items);
cleanup:
    return rc;
}

/* Train items of my users (one contiguous range of the CSR), for the exclusion marks. */
static int read_train(rec_ctx *c, hid_t f, const char *path)
{
    int rc = RP_OK;
    RP_CALL(rp_csr_read_offsets(f, RP_SPLIT_TRAIN "/by_user", "item", c->n_users, &c->off, NULL));
    int64_t lo = 0, n = 0;
    if (c->s1 > c->s0) {
        lo = c->off[c->sel[c->s0]];
        n = c->off[c->sel[c->s1 - 1] + 1] - lo;
    }
    c->train_base = lo;
    /* On huge pages: the read's first touch of 18 MB (full size, np 2) in 4 KB pages took
     * ~0.1 s of faults on the VM. */
    c->train_items = rp_mem_big((size_t)(n > 0 ? n : 1) * sizeof *c->train_items);
    RP_AGREE_LOCAL(c->comm, c->train_items == NULL);
    RP_CALL(rp_h5_read(f, RP_SPLIT_TRAIN "/" RP_DS_BY_USER_ITEM, RP_I32, lo, n, c->train_items));
    /* One unsigned comparison per entry and no early exit, so the check vectorises; the entry
     * is looked for only when one is bad. */
    uint32_t bad = 0, lim = (uint32_t)(c->n_items < INT32_MAX ? c->n_items : INT32_MAX);
    for (int64_t x = 0; x < n; x++) bad |= (uint32_t)c->train_items[x] >= lim;
    for (int64_t x = 0; x < n && bad; x++)
        if (c->train_items[x] < 0 || c->train_items[x] >= c->n_items)
            RP_FAIL_USER(RP_ERR_DATA, "%s: /train/%s entry %lld: item %d outside [0, %lld)", path,
                         RP_DS_BY_USER_ITEM, (long long)(lo + x), c->train_items[x],
                         (long long)c->n_items);
cleanup:
    return rc;
}

static int open_inputs(rec_ctx *c, const rec_opts *o)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    double t = MPI_Wtime();
    RP_CALL(rp_shards_open(c->comm, o->shards, &f, &c->n_users, &c->n_items));
    RP_CALL(read_ids(c, f, o->shards));
    RP_CALL(rec_select_users(o->users, c->user_raw, c->n_users, &c->sel, &c->n_sel));
    my_slice(c);
    c->ph[PH_IDS] = MPI_Wtime() - t;
    t = MPI_Wtime();
    /* A bad train item is seen only by the rank holding it: agree before the collective loads. */
    RP_CALL(rp_mpi_agree(c->comm, read_train(c, f, o->shards)));
    c->ph[PH_TRAIN] = MPI_Wtime() - t;
    t = MPI_Wtime();
    if (o->model != NULL && strcmp(o->model, "bias") == 0) {
        RP_CALL(rp_baseline_bias(c->comm, f, o->bias_reg, &c->m));
    } else {
        RP_CALL(rp_model_load(c->comm, o->model_file, c->n_users, c->n_items, &c->m));
        if (o->model != NULL && strncmp(c->m->name, o->model, strlen(o->model)) != 0)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: holds a '%s' model, not --model %s", o->model_file,
                          c->m->name, o->model);
    }
    c->ph[PH_MODEL] = MPI_Wtime() - t;
cleanup:
    rp_h5_close(&f);
    return rp_mpi_agree(c->comm, rc);
}

/* Scratch of the scoring loop. */
typedef struct rec_scratch {
    float *buf;          /* products or scores of one GEMM */
    uint32_t *mark;      /* exclusion stamps (finishing path) */
    int32_t *heap, *idx; /* k each */
    rec_entry *eheap;    /* RP_MODEL_USER_BLOCK candidate buffers (fused path) */
    rec_topk_run *run;   /* RP_MODEL_USER_BLOCK */
    uint16_t *excl;      /* RP_MODEL_USER_BLOCK exclusion bitsets of excl_words each */
    int64_t excl_words;
    float *cut;          /* RP_MODEL_USER_BLOCK initial thresholds from the probes */
    rec_probe probe;
    rec_fused fz;        /* packed items of the AVX-512 path (fz.panel NULL: GEMM tiles) */
    float *ug;           /* REC_FUSED_USERS user rows of the fused path */
} rec_scratch;

static void scratch_clear(rec_scratch *w)
{
    free(w->buf);
    free(w->mark);
    free(w->heap);
    free(w->idx);
    free(w->eheap);
    free(w->run);
    free(w->excl);
    free(w->cut);
    free(w->ug);
    rec_probe_clear(&w->probe);
    rec_fused_clear(&w->fz);
}

static int scratch_alloc(const rec_ctx *c, int k, int fused, rec_scratch *w)
{
    int rc = RP_OK;
    size_t nb = RP_MODEL_USER_BLOCK;
    w->excl_words = (c->n_items + 15) / 16;
    /* The large buffers on huge pages: a first touch of each 4 KB page costs more than scoring
     * a user (rp_mem.h), and every rank pays for its own scratch. */
    int fz = fused && rec_fused_available();
    /* The fused path needs buf only for a span's probe products (rec_probe_create: k + 128
     * probes, packed in panels of 16). */
    size_t nbuf = fz ? (size_t)REC_FUSED_SPAN * (size_t)(((int64_t)k + 128 + 15) / 16 * 16)
                     : nb * (size_t)c->n_items;
    RP_ALLOC(w->buf = rp_mem_big(nbuf * sizeof *w->buf));
    RP_ALLOC(w->idx = malloc((size_t)k * sizeof *w->idx));
    if (fused) {
        /* One buffer per user of a block when tiled (rec_tile_width's test), else one. */
        size_t cap = (size_t)REC_RUN_CAP(k);
        size_t nh = (double)nb * (double)cap * REC_HEAP_ENTRY_BYTES <= REC_HEAP_BYTES ? nb : 1;
        if (fz) nh = REC_FUSED_SPAN; /* one per user of a span */
        RP_ALLOC(w->eheap = rp_mem_big(nh * cap * sizeof *w->eheap));
        RP_ALLOC(w->run = malloc(nb * sizeof *w->run));
        RP_ALLOC(w->excl = rp_mem_big(nb * (size_t)w->excl_words * sizeof *w->excl));
        RP_ALLOC(w->cut = malloc(nb * sizeof *w->cut));
        RP_CALL(rec_probe_create(c->m, k, &w->probe));
        if (fz) {
            RP_CALL(rec_fused_create(c->m, &w->probe, &w->fz));
            RP_ALLOC(w->ug = malloc((size_t)(REC_FUSED_SPAN * (w->fz.d > 0 ? w->fz.d : 1)) *
                                    sizeof *w->ug));
        }
    } else {
        RP_ALLOC(w->mark = calloc((size_t)c->n_items, sizeof *w->mark));
        RP_ALLOC(w->heap = malloc((size_t)k * sizeof *w->heap));
    }
cleanup:
    return rc;
}

static void store_row(const rec_ctx *c, rec_result *r, int64_t x, const int32_t *idx)
{
    int64_t row = x - c->s0;
    r->user_raw[row] = c->user_raw[c->sel[x]];
    for (int j = 0; j < r->k; j++)
        r->items[row * r->k + j] = idx[j] < 0 ? -1 : c->item_raw[idx[j]];
}

/* Selected users sel[s .. e) of one aligned block, finishing every score: one GEMM (the
 * model's score_block) and a heap per user. */
static int block_finished(const rec_ctx *c, const rec_opts *o, int64_t s, int64_t e,
                          rec_scratch *w, rec_result *r)
{
    int rc = RP_OK, k = o->k;
    int64_t u0 = c->sel[s], nu = c->sel[e - 1] - u0 + 1;
    RP_CALL(rp_model_score_block(c->m, u0, nu, w->buf));
    for (int64_t x = s; x < e; x++) {
        int64_t u = c->sel[x];
        uint32_t stamp = (uint32_t)(x + 1); /* distinct per selected user: no reset needed */
        if (o->exclude_train)
            for (int64_t t = c->off[u]; t < c->off[u + 1]; t++)
                w->mark[c->train_items[t - c->train_base]] = stamp;
        rec_topk(w->buf + (u - u0) * c->n_items, c->n_items, o->exclude_train ? w->mark : NULL,
                 stamp, k, w->heap, w->idx, r->scores + (x - c->s0) * k);
        store_row(c, r, x, w->idx);
    }
cleanup:
    return rc;
}

/* The same users for a dot-form model monotone in its products (fused): tile by tile of items,
 * a GEMM of the block's users into a cache-sized buffer, then each user's running top-K scans
 * its row of the tile; the post transform and clamp are applied only to the few candidates. */
static int block_fused(const rec_ctx *c, const rec_opts *o, int sign, int64_t s, int64_t e,
                       rec_scratch *w, rec_result *r)
{
    int rc = RP_OK, k = o->k;
    int64_t u0 = c->sel[s], nu = c->sel[e - 1] - u0 + 1, ni = c->n_items;
    int64_t tw = rec_tile_width(nu, ni, k), nwords = w->excl_words;
    int tiled = tw < ni;
    memset(w->excl, 0, (size_t)(nu * nwords) * sizeof *w->excl);
    for (int64_t x = s; x < e && o->exclude_train; x++) {
        int64_t u = c->sel[x];
        rec_excl_set(w->excl + (u - u0) * nwords, c->train_items + (c->off[u] - c->train_base),
                     c->off[u + 1] - c->off[u]);
    }
    /* The probes' products go to the tile buffer: the cuts are taken before the first tile. */
    RP_CALL(rec_probe_block(&w->probe, u0, nu, w->buf));
    for (int64_t x = s; x < e; x++) {
        int64_t row = c->sel[x] - u0;
        const uint16_t *ex = w->excl + row * nwords;
        w->cut[x - s] = w->probe.n == 0 ? NAN
                                        : rec_probe_cut(&w->probe, w->buf + row * w->probe.n,
                                                        c->sel[x], ex, c->m, sign, k);
        if (!tiled) continue;
        rec_topk_begin(&w->run[x - s], w->eheap + (x - s) * REC_RUN_CAP(k), k);
        w->run[x - s].kthr = w->cut[x - s];
    }
    for (int64_t i0 = 0; i0 < ni; i0 += tw) {
        int64_t n = ni - i0 < tw ? ni - i0 : tw;
        RP_CALL(rp_model_dot_raw_tile(c->m, u0, nu, i0, n, w->buf));
        for (int64_t x = s; x < e; x++) {
            int64_t row = c->sel[x] - u0;
            rec_topk_run *run = tiled ? &w->run[x - s] : &w->run[0];
            if (!tiled) {
                rec_topk_begin(run, w->eheap, k);
                run->kthr = w->cut[x - s];
            }
            rec_topk_feed(run, w->buf + row * n, i0, n, w->excl + row * nwords, c->m, sign, k);
            if (i0 + n < ni) continue;
            rec_topk_end(run, k, w->idx, r->scores + (x - c->s0) * k);
            store_row(c, r, x, w->idx);
        }
    }
cleanup:
    return rc;
}

/* Selected users sel[x .. x + nr) (nr <= REC_FUSED_SPAN, any users) on the fused AVX-512
 * path: their exclusion bits, probe products and cuts, then every item, a chunk of panels at a
 * time for each group of REC_FUSED_USERS (the chunk stays in L1 for the next group). Each
 * user's result depends on its own products only. */
static int group_fused(const rec_ctx *c, const rec_opts *o, int sign, int64_t x, int nr,
                       rec_scratch *w, rec_result *r)
{
    int rc = RP_OK, k = o->k, G = REC_FUSED_USERS;
    int64_t d = w->fz.d, nwords = w->excl_words, ldp = w->fz.nprobe_panel * 16;
    int64_t chunk = rec_fused_chunk(&w->fz);
    const float *Uf = NULL, *Vf = NULL;
    RP_CALL(rp_model_dot_floats(c->m, &Uf, &Vf));
    memset(w->excl, 0, (size_t)(nr * nwords) * sizeof *w->excl);
    for (int q = 0; q < nr; q++) {
        int64_t u = c->sel[x + q];
        memcpy(w->ug + q * d, Uf + u * d, (size_t)d * sizeof *w->ug);
        if (o->exclude_train)
            rec_excl_set(w->excl + q * nwords, c->train_items + (c->off[u] - c->train_base),
                         c->off[u + 1] - c->off[u]);
    }
    for (int g = 0; g < nr && w->probe.n > 0; g += G)
        rec_fused_probe(&w->fz, w->ug + g * d, nr - g < G ? nr - g : G, w->buf + g * ldp);
    for (int q = 0; q < nr; q++) {
        rec_topk_begin(&w->run[q], w->eheap + q * REC_RUN_CAP(k), k);
        w->run[q].kthr = w->probe.n == 0 ? NAN
                                         : rec_probe_cut_exact(&w->probe, w->buf + q * ldp,
                                                               w->excl + q * nwords, c->m, sign, k);
    }
    for (int64_t p0 = 0; p0 < w->fz.npanel; p0 += chunk)
        for (int g = 0; g < nr; g += G) {
            rec_group grp = {w->ug + g * d, nr - g < G ? nr - g : G, w->run + g,
                             w->excl + g * nwords, nwords, c->m, sign, k};
            rec_fused_topk_range(&w->fz, &grp, p0, p0 + chunk);
        }
    for (int q = 0; q < nr; q++) {
        rec_topk_end(&w->run[q], k, w->idx, r->scores + (x + q - c->s0) * k);
        store_row(c, r, x + q, w->idx);
    }
cleanup:
    return rc;
}

/* Score my slice block by block: each aligned block's selected users span [first, last] is one
 * GEMM shape whatever the rank count (tiled alike on every rank count), so the bits are too. */
static int score_slice(rec_ctx *c, const rec_opts *o, rec_result *r, double *pairs)
{
    int rc = RP_OK, k = o->k;
    rec_scratch w = {0};
    int64_t n = c->s1 - c->s0;
    int sign = rp_model_dot_monotone(c->m);
    r->k = k;
    r->n_local = n;
    RP_CALL(scratch_alloc(c, k, sign != 0, &w));
    RP_ALLOC(r->user_raw = malloc((size_t)(n > 0 ? n : 1) * sizeof *r->user_raw));
    RP_ALLOC(r->items = rp_mem_big((size_t)(n * k > 0 ? n * k : 1) * sizeof *r->items));
    RP_ALLOC(r->scores = rp_mem_big((size_t)(n * k > 0 ? n * k : 1) * sizeof *r->scores));
    rp_progress pg;
    rp_progress_begin(&pg, "top-k", n, "users"); /* rank 0's slice */
    for (int64_t s = c->s0; s < c->s1 && w.fz.panel != NULL; s += REC_FUSED_SPAN) {
        int nr = c->s1 - s < REC_FUSED_SPAN ? (int)(c->s1 - s) : REC_FUSED_SPAN;
        RP_CALL(group_fused(c, o, sign, s, nr, &w, r));
        *pairs += (double)nr * (double)c->n_items;
        if ((s - c->s0) % 256 == 0) rp_progress_update(&pg, s - c->s0);
    }
    for (int64_t s = c->s0; s < c->s1 && w.fz.panel == NULL;) {
        int64_t span, e = block_end(c, s, &span);
        if (sign != 0) RP_CALL(block_fused(c, o, sign, s, e, &w, r));
        else RP_CALL(block_finished(c, o, s, e, &w, r));
        *pairs += (double)span * (double)c->n_items;
        s = e;
        rp_progress_update(&pg, s - c->s0);
    }
    rp_progress_end(&pg);
cleanup:
    scratch_clear(&w);
    return rc;
}

static int write_recs(const rp_stage *stg, const rec_opts *o, rec_ctx *c, const rec_result *r)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    char inputs[9000] = "";
    int64_t k = r->k, ex = o->exclude_train;
    const char *mpath = o->model_file ? o->model_file : "";
    double t = MPI_Wtime();
    RP_CALL(rp_inputs_lineage(c->comm, inputs, sizeof inputs, "shards", o->shards));
    if (o->model_file != NULL) {
        char fpath[4096], var[64];
        rp_model_split_variant(o->model_file, fpath, sizeof fpath, var, sizeof var);
        RP_CALL(rp_inputs_lineage(c->comm, inputs, sizeof inputs, "model", fpath));
    }
    c->ph[PH_LINEAGE] = MPI_Wtime() - t;
    t = MPI_Wtime();
    RP_CALL(rp_h5_create(c->comm, o->out, &f));
    RP_CALL(rp_stage_stamp(stg, f, RP_SCHEMA_RECS, RP_SCHEMA_VERSION, inputs));
    RP_CALL(rp_h5_write_1d(f, "/user_raw", RP_I64, r->n_global, r->row_offset, r->n_local,
                           r->user_raw));
    RP_CALL(rp_h5_write_2d(f, "/items", RP_I64, r->n_global, k, r->row_offset, r->n_local,
                           r->items));
    RP_CALL(rp_h5_write_2d(f, "/scores", RP_F32, r->n_global, k, r->row_offset, r->n_local,
                           r->scores));
    RP_CALL(rp_h5_attr_write(f, "/", "k", RP_I64, 1, &k));
    RP_CALL(rp_h5_attr_write(f, "/", "exclude_train", RP_I64, 1, &ex));
    RP_CALL(rp_h5_attr_write_str(f, "/", "model", c->m->name));
    RP_CALL(rp_h5_attr_write_str(f, "/", "model_file", mpath));
cleanup:
    rc = rp_h5_commit(c->comm, &f, o->out, rc);
    c->ph[PH_WRITE] = MPI_Wtime() - t;
    return rc;
}

/* My rows as CSV text (header on rank 0). Out: *text, *len. */
static int csv_text(const rec_result *r, int rank, char **text, size_t *len)
{
    int rc = RP_OK;
    size_t cap = 64 + (size_t)(r->n_local * r->k) * 64, used = 0;
    char *b = NULL;
    RP_ALLOC(b = malloc(cap));
    if (rank == 0) used += (size_t)snprintf(b, cap, "user_id,rank,video_id,score\n");
    for (int64_t row = 0; row < r->n_local; row++)
        for (int j = 0; j < r->k; j++) {
            int64_t item = r->items[row * r->k + j];
            if (item < 0) continue; /* fewer candidates than K */
            used += (size_t)snprintf(b + used, cap - used, "%lld,%d,%lld,%.9g\n",
                                     (long long)r->user_raw[row], j + 1, (long long)item,
                                     (double)r->scores[row * r->k + j]);
        }
    *text = b;
    *len = used;
    b = NULL;
cleanup:
    free(b);
    return rc;
}

/* Write the CSV collectively to "<path>.partial" at exclusive-prefix offsets, then rename. */
static int write_csv(MPI_Comm comm, const char *path, const rec_result *r)
{
    int rc = RP_OK, rank = 0;
    char *text = NULL, partial[4096];
    size_t len = 0;
    int64_t off = 0;
    MPI_File fh = MPI_FILE_NULL;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    snprintf(partial, sizeof partial, "%s.partial", path);
    rc = csv_text(r, rank, &text, &len);
    RP_AGREE(comm, rc); /* a local formatting step before the collective scan */
    RP_CALL(rp_mpi_exscan_i64(comm, (int64_t)len, &off));
    rc = rp_mpi_agree(comm, rc);
    if (rc != RP_OK) goto cleanup;
    if (MPI_File_open(comm, partial, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh) !=
        MPI_SUCCESS)
        RP_FAIL_USER0(RP_ERR_IO, "%s: cannot create", partial);
    RP_MPI(MPI_File_set_size(fh, 0));
    for (size_t done = 0; done < len;) {
        int piece = (int)(len - done > (1u << 30) ? (1u << 30) : len - done);
        RP_MPI(MPI_File_write_at(fh, (MPI_Offset)(off + (int64_t)done), text + done, piece,
                                 MPI_BYTE, MPI_STATUS_IGNORE));
        done += (size_t)piece;
    }
cleanup:
    if (fh != MPI_FILE_NULL && MPI_File_close(&fh) != MPI_SUCCESS && rc == RP_OK) rc = RP_ERR_IO;
    free(text);
    return rp_file_commit(comm, partial, path, rc);
}

/* One log line: each phase's max and min over ranks (max - min of "score" is the imbalance the
 * "wait" phase shows). Collective. */
static int log_phases(const rec_ctx *c)
{
    int rc = RP_OK;
    double mx[PH_N], mn[PH_N];
    char line[512];
    size_t used = 0;
    for (int p = 0; p < PH_N; p++) mx[p] = c->ph[p], mn[p] = -c->ph[p];
    RP_CALL(rp_mpi_max_f64(c->comm, mx, PH_N));
    RP_CALL(rp_mpi_max_f64(c->comm, mn, PH_N));
    for (int p = 0; p < PH_N && used < sizeof line; p++)
        used += (size_t)snprintf(line + used, sizeof line - used, " %s %.3f/%.3f", ph_name[p],
                                 mx[p], -mn[p]);
    rp_log_info("wall s per phase (max/min over ranks):%s", line);
cleanup:
    return rc;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int rec_run(const rp_stage *stg, const rec_opts *o, int64_t *n_users_out, double *pairs_out)
{
    int rc = RP_OK;
    rec_ctx c = {0};
    rec_result r = {0};
    double pairs = 0.0, t0 = MPI_Wtime();
    c.comm = stg->comm;
    RP_MPI(MPI_Comm_rank(c.comm, &c.rank));
    RP_MPI(MPI_Comm_size(c.comm, &c.size));
    RP_CALL(open_inputs(&c, o));
    rp_log_info("%s: %lld users x %lld videos, top-%d%s", c.m->name, (long long)c.n_sel,
                (long long)c.n_items, o->k, o->exclude_train ? ", train videos excluded" : "");
    t0 = MPI_Wtime();
    double cpu = cpu_seconds();
    rc = score_slice(&c, o, &r, &pairs);
    /* CPU seconds too: on a shared machine the wall time mostly measures the neighbours. Taken
     * before the agreement, whose wait (Open MPI polls) would count as scoring. */
    cpu = cpu_seconds() - cpu;
    c.ph[PH_SCORE] = MPI_Wtime() - t0;
    RP_AGREE(c.comm, rc);
    c.ph[PH_WAIT] = MPI_Wtime() - t0 - c.ph[PH_SCORE];
    double secs = rp_wtime_max(c.comm, t0);
    RP_CALL(rp_mpi_max_f64(c.comm, &cpu, 1));
    RP_CALL(rp_mpi_sum_f64(c.comm, &pairs, 1));
    rp_log_info("scored %.0f pairs in %.3f s (%.3g pairs/s; %.3f cpu s per rank, %.3g pairs per "
                "cpu s per rank)", pairs, secs, secs > 0 ? pairs / secs : 0.0, cpu,
                cpu > 0 ? pairs / c.size / cpu : 0.0);
    r.n_global = r.n_local;
    RP_CALL(rp_mpi_sum_i64(c.comm, &r.n_global, 1));
    RP_CALL(rp_mpi_exscan_i64(c.comm, r.n_local, &r.row_offset));
    RP_CALL(write_recs(stg, o, &c, &r));
    double tc = MPI_Wtime();
    if (o->csv != NULL) RP_CALL(write_csv(c.comm, o->csv, &r));
    c.ph[PH_CSV] = MPI_Wtime() - tc;
    RP_CALL(log_phases(&c));
    *n_users_out = r.n_global;
    *pairs_out = pairs;
cleanup:
    rc = rp_mpi_agree(c.comm, rc);
    rec_result_clear(&r);
    ctx_clear(&c);
    return rc;
}
