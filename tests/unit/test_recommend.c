/* test_recommend.c - rp-recommend pieces: the heap top-K equals a brute-force sort (with many
 * ties, exclusions, K above the candidate count), the fused top-K on raw dot products equals
 * finishing every score and sorting (clamp ties, negative scale, NaN), the fused AVX-512 path
 * equals finishing every FMA-chain product and sorting (d 1..40, near-tie families), user
 * selection and option errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recommend.h"
#include "rp_err.h"
#include "rp_model.h"
#include "rp_rng.h"
#include "rp_test.h"

int test_recommend_register(void);

static const float *cmp_scores;

/* Brute-force order: higher score first, then lower index (the documented total order). */
static int cmp_rank(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float sx = cmp_scores[x], sy = cmp_scores[y];
    if (sx != sy) return sx > sy ? -1 : 1;
    return (x > y) - (x < y);
}

static void topk_matches_bruteforce(void)
{
    enum { N = 500 };
    float s[N];
    uint32_t mark[N];
    int32_t heap[N + 10], idx[N + 10], all[N];
    float val[N + 10];
    int ks[6] = {1, 5, 17, 50, 300, N + 5};
    int mismatches = 0, excluded_seen = 0, trials = 0;
    for (int trial = 0; trial < 40; trial++) {
        /* Scores on a coarse grid: many exact ties. */
        int levels = 1 + trial % 9;
        for (int i = 0; i < N; i++) {
            rp_rng r;
            rp_rng_init(&r, 7, (uint64_t)trial, (uint64_t)i);
            s[i] = (float)rp_rng_next_below(&r, (uint64_t)levels) / 8.0f;
            mark[i] = rp_rng_uniform(8, (uint64_t)trial, (uint64_t)i) < 0.3 ? 5u : 0u;
        }
        int n = 0;
        for (int i = 0; i < N; i++)
            if (mark[i] != 5u) all[n++] = i;
        cmp_scores = s;
        qsort(all, (size_t)n, sizeof *all, cmp_rank);
        for (int kk = 0; kk < 6; kk++) {
            int k = ks[kk];
            rec_topk(s, N, mark, 5u, k, heap, idx, val);
            trials++;
            for (int r = 0; r < k; r++) {
                int want = r < n ? all[r] : -1;
                if (idx[r] != want) mismatches++;
                if (want >= 0 && val[r] != s[want]) mismatches++;
                if (want < 0 && !isnan(val[r])) mismatches++;
                if (idx[r] >= 0 && mark[idx[r]] == 5u) excluded_seen++;
            }
        }
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    CU_ASSERT_EQUAL(excluded_seen, 0);
    CU_ASSERT_EQUAL(trials, 240);
    /* No exclusion: an all-equal row gives the first K indices. */
    for (int i = 0; i < N; i++) s[i] = 0.5f;
    rec_topk(s, N, NULL, 0, 4, heap, idx, val);
    CU_ASSERT(idx[0] == 0 && idx[1] == 1 && idx[2] == 2 && idx[3] == 3);
    /* NaN ranks last. */
    s[0] = NAN;
    s[7] = 0.9f;
    rec_topk(s, 3, NULL, 0, 3, heap, idx, val);
    CU_ASSERT(idx[0] == 1 && idx[1] == 2 && idx[2] == 0);
    CU_ASSERT(rec_better(0.9f, 7, 0.5f, 1));
    CU_ASSERT(!rec_better(0.5f, 3, 0.5f, 1));
}

/* Reference order with NaN last: higher score, then lower index. */
static int cmp_ref(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float sx = cmp_scores[x], sy = cmp_scores[y];
    int nx = isnan(sx), ny = isnan(sy);
    if (nx != ny) return nx ? 1 : -1;
    if (!nx && sx != sy) return sx > sy ? -1 : 1;
    return (x > y) - (x < y);
}

/* One fixture: NU users x NI items, factors on a coarse grid (many equal products), scores
 * pushed past [0, 1] by scale/shift so the clamp makes more ties. Returns mismatches of the
 * fused top-K (fed tile by tile) against score_block + a full sort, for several K, with
 * exclusions. */
static int fused_vs_reference(double scale, double shift, int with_nan, int *checked)
{
    enum { NU = 37, NI = 301, D = 3 };
    double U[NU * D], V[NI * D];
    for (int x = 0; x < NU * D; x++) U[x] = (double)((x * 7) % 5 - 2) / 2.0;
    for (int x = 0; x < NI * D; x++) V[x] = (double)((x * 11) % 7 - 3) / 3.0;
    if (with_nan) V[5 * D + 1] = NAN; /* item 5 scores NaN for everyone */
    rp_model *m = NULL;
    if (rp_model_from_dot("als", NU, NI, D, U, V, RP_POST_IDENTITY, scale, shift, &m) != RP_OK)
        return -1;
    int sign = rp_model_dot_monotone(m), bad = 0;
    float *fin = malloc(sizeof(float) * NU * NI), *raw = malloc(sizeof(float) * NU * NI);
    uint32_t mark[NI];
    int32_t order[NI], idx[NI + 5], heap[NI + 5];
    rec_entry eh[REC_RUN_CAP(NI + 5)];
    float val[NI + 5];
    int ks[5] = {1, 4, 25, 200, NI + 5};
    if (sign == 0 || rp_model_score_block(m, 0, NU, fin) != RP_OK ||
        rp_model_dot_raw_block(m, 0, NU, raw) != RP_OK)
        bad = -1;
    for (int u = 0; u < NU && bad >= 0; u++) {
        int n = 0;
        uint16_t excl[(NI + 15) / 16] = {0};
        for (int i = 0; i < NI; i++) {
            mark[i] = rp_rng_uniform(9, (uint64_t)u, (uint64_t)i) < 0.2 ? 3u : 0u;
            if (mark[i] != 3u) order[n++] = i;
            else rec_excl_set(excl, (int32_t[]){i}, 1);
        }
        cmp_scores = fin + (int64_t)u * NI;
        qsort(order, (size_t)n, sizeof *order, cmp_ref);
        for (int kk = 0; kk < 5; kk++) {
            int k = ks[kk];
            float row[NI];
            memcpy(row, raw + (int64_t)u * NI, sizeof row);
            /* Fed in tiles of 16 * (1 + (u + k) % 5) items: the run carries over tiles. */
            int64_t tw = 16 * (1 + (u + k) % 5);
            rec_topk_run run;
            rec_topk_begin(&run, eh, k);
            for (int64_t i0 = 0; i0 < NI; i0 += tw)
                rec_topk_feed(&run, row + i0, i0, NI - i0 < tw ? NI - i0 : tw, excl, m, sign, k);
            rec_topk_end(&run, k, idx, val);
            int32_t hidx[NI + 5];
            float hval[NI + 5];
            rec_topk(cmp_scores, NI, mark, 3u, k, heap, hidx, hval);
            for (int r = 0; r < k; r++) {
                int want = r < n ? order[r] : -1;
                float wv = want >= 0 ? cmp_scores[want] : NAN;
                /* Same item and the same score bits as finishing every product. */
                if (idx[r] != want || memcmp(&val[r], &wv, sizeof wv) != 0) bad++;
                if (hidx[r] != want) bad++;
            }
            (*checked)++;
        }
    }
    free(fin);
    free(raw);
    rp_model_destroy(&m);
    return bad;
}

static void fused_topk_matches_reference(void)
{
    /* Every vector width of the scan this CPU has (SSE2 always) gives the same result. */
    int top = rec_topk_simd(-1);
    for (int level = 0; level <= top; level++) {
        int checked = 0;
        CU_ASSERT_EQUAL(rec_topk_simd(level), level);
        CU_ASSERT_EQUAL(fused_vs_reference(0.4, 0.5, 0, &checked), 0);  /* clamps at 0 and 1 */
        CU_ASSERT_EQUAL(fused_vs_reference(-0.3, 0.5, 0, &checked), 0); /* decreasing */
        CU_ASSERT_EQUAL(fused_vs_reference(0.05, 0.5, 1, &checked), 0); /* a NaN, no clamp */
        CU_ASSERT_EQUAL(fused_vs_reference(0.0, 0.25, 0, &checked), 0); /* every score equal */
        CU_ASSERT_EQUAL(checked, 4 * 37 * 5);
    }
    CU_ASSERT_EQUAL(rec_topk_simd(-1), top);
    /* The sigmoid is not known monotone to the last bit: no shortcut. */
    double U[2] = {1, 2}, V[2] = {3, 4};
    rp_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(rp_model_from_dot("tt", 2, 2, 1, U, V, RP_POST_SIGMOID, 1, 0, &m), RP_OK);
    CU_ASSERT_EQUAL(rp_model_dot_monotone(m), 0);
    rp_model_destroy(&m);
}

/* within_bound - |a - b| within the rounding bound of two float dot products of length d:
 * (2d + 4) eps |u| |v| with |u| |v| <= d / 4 for entries in [-0.5, 0.5). OpenBLAS picks its SGEMM
 * kernel and blocking by the call's shape (seen: the AMD EPYC/Haswell kernel sums a tile of 48
 * items in another order than the whole row), so bits may differ between shapes; the bound
 * may not be exceeded. */
static int within_bound(float a, float b, int64_t d)
{
    double eps = 5.96e-8, bound = (2.0 * (double)d + 4.0) * eps * (double)d / 4.0;
    return fabs((double)a - (double)b) <= bound;
}

/* A tile of the fused path gives the whole-row GEMM's products up to float rounding: the shapes
 * rp-recommend uses (KuaiRec's 10,728 videos, widths of ALS, the two-tower and wider) and a
 * partial last block. */
static void tiles_match_whole_gemm(void)
{
    enum { NI = 10728 };
    int64_t ds[4] = {10, 32, 33, 66}, nus[3] = {256, 37, 3};
    int bad = 0, tiled = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++) {
            int64_t d = ds[a], nu = nus[b];
            double *U = malloc(sizeof(double) * (size_t)(nu * d));
            double *V = malloc(sizeof(double) * (size_t)(NI * d));
            float *whole = malloc(sizeof(float) * (size_t)(nu * NI));
            float *tile = malloc(sizeof(float) * (size_t)(nu * NI));
            rp_model *m = NULL;
            CU_ASSERT_FATAL(U && V && whole && tile);
            for (int64_t x = 0; x < nu * d; x++)
                U[x] = rp_rng_uniform(11, (uint64_t)d, (uint64_t)x) - 0.5;
            for (int64_t x = 0; x < NI * d; x++)
                V[x] = rp_rng_uniform(12, (uint64_t)d, (uint64_t)x) - 0.5;
            CU_ASSERT_EQUAL_FATAL(
                rp_model_from_dot("als", nu, NI, d, U, V, RP_POST_IDENTITY, 1, 0, &m), RP_OK);
            CU_ASSERT_EQUAL(rp_model_dot_raw_block(m, 0, nu, whole), RP_OK);
            int64_t tw = rec_tile_width(nu, NI, 50);
            tiled += tw < NI;
            CU_ASSERT(tw == NI || tw % 16 == 0);
            for (int64_t i0 = 0; i0 < NI; i0 += tw) {
                int64_t n = NI - i0 < tw ? NI - i0 : tw;
                CU_ASSERT_EQUAL(rp_model_dot_raw_tile(m, 0, nu, i0, n, tile), RP_OK);
                for (int64_t r = 0; r < nu; r++)
                    for (int64_t j = 0; j < n; j++)
                        bad += !within_bound(tile[r * n + j], whole[r * NI + i0 + j], d);
            }
            rp_model_destroy(&m);
            free(U);
            free(V);
            free(whole);
            free(tile);
        }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(tiled >= 8); /* 256 and 37 users are tiled at every width */
    /* Large K: no tiling (the block's heaps would be large). */
    CU_ASSERT_EQUAL(rec_tile_width(256, NI, 100000), NI);
}

/* The probes' lower bound with the tiled run, as rp-recommend uses them, against finishing
 * every score: NU users in two aligned blocks, random factors rounded to a coarse grid (equal
 * products), a clamp (ties at 0 and 1), both signs, exclusions. Returns mismatches; *cuts
 * counts the users the probes gave a bound for. */
static int probe_vs_reference(double scale, double shift, int k, int *cuts)
{
    enum { NU = 300, NI = 1600, D = 10 };
    double *U = malloc(sizeof(double) * NU * D), *V = malloc(sizeof(double) * NI * D);
    float *fin = malloc(sizeof(float) * NU * NI), *raw = malloc(sizeof(float) * NU * NI);
    float *praw = malloc(sizeof(float) * RP_MODEL_USER_BLOCK * (k + 128));
    uint16_t *excl = calloc((size_t)NU * ((NI + 15) / 16), sizeof *excl);
    uint32_t *mark = calloc((size_t)NU * NI, sizeof *mark);
    rec_entry *ent = malloc(sizeof(rec_entry) * (size_t)REC_RUN_CAP(k));
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)k), *hidx = malloc(sizeof(int32_t) * (size_t)k);
    int32_t *heap = malloc(sizeof(int32_t) * (size_t)k);
    float *val = malloc(sizeof(float) * (size_t)k), *hval = malloc(sizeof(float) * (size_t)k);
    rp_model *m = NULL;
    rec_probe pr = {0};
    int bad = 0;
    for (int x = 0; x < NU * D; x++)
        U[x] = floor(8.0 * rp_rng_uniform(13, 0, (uint64_t)x)) / 8.0 + (x % D == 0);
    for (int x = 0; x < NI * D; x++) V[x] = floor(6.0 * rp_rng_uniform(14, 0, (uint64_t)x)) / 6.0;
    if (rp_model_from_dot("als", NU, NI, D, U, V, RP_POST_IDENTITY, scale, shift, &m) != RP_OK ||
        rp_model_score_block(m, 0, NU, fin) != RP_OK || rec_probe_create(m, k, &pr) != RP_OK ||
        pr.n == 0)
        bad = -1;
    int sign = bad < 0 ? 0 : rp_model_dot_monotone(m);
    for (int64_t u0 = 0; u0 < NU && bad >= 0; u0 += RP_MODEL_USER_BLOCK) {
        int64_t nu = NU - u0 < RP_MODEL_USER_BLOCK ? NU - u0 : RP_MODEL_USER_BLOCK;
        int64_t tw = 16 * (1 + u0 % 7 + k % 5);
        if (rp_model_dot_raw_block(m, u0, nu, raw) != RP_OK ||
            rec_probe_block(&pr, u0, nu, praw) != RP_OK)
            bad = -1;
        /* The reference finishes the very products the run is fed (rec_topk_feed turns them
         * into keys in place): a whole-block GEMM may round otherwise (tiles_match_whole_gemm). */
        for (int64_t x = 0; x < nu * NI && bad >= 0; x++)
            fin[u0 * NI + x] = rp_model_dot_finish(m, raw[x]);
        for (int64_t r = 0; r < nu && bad >= 0; r++) {
            int64_t u = u0 + r;
            uint16_t *ex = excl + u * ((NI + 15) / 16);
            for (int32_t i = 0; i < NI; i++)
                if (rp_rng_uniform(15, (uint64_t)u, (uint64_t)i) < 0.15) {
                    rec_excl_set(ex, &i, 1);
                    mark[u * NI + i] = 1u;
                }
            rec_topk_run run;
            rec_topk_begin(&run, ent, k);
            run.kthr = rec_probe_cut(&pr, praw + r * pr.n, u, ex, m, sign, k);
            *cuts += !isnan(run.kthr);
            for (int64_t i0 = 0; i0 < NI; i0 += tw)
                rec_topk_feed(&run, raw + r * NI + i0, i0, NI - i0 < tw ? NI - i0 : tw, ex, m, sign,
                              k);
            rec_topk_end(&run, k, idx, val);
            rec_topk(fin + u * NI, NI, mark + u * NI, 1u, k, heap, hidx, hval);
            for (int j = 0; j < k; j++)
                bad += idx[j] != hidx[j] || memcmp(&val[j], &hval[j], sizeof val[j]) != 0;
        }
    }
    rec_probe_clear(&pr);
    rp_model_destroy(&m);
    free(U);
    free(V);
    free(fin);
    free(raw);
    free(praw);
    free(excl);
    free(mark);
    free(ent);
    free(idx);
    free(hidx);
    free(heap);
    free(val);
    free(hval);
    return bad;
}

static void probe_bound_is_exact(void)
{
    int cuts[4] = {0, 0, 0, 0};
    CU_ASSERT_EQUAL(probe_vs_reference(0.05, 0.0, 10, &cuts[0]), 0); /* clamps at 1: many ties */
    CU_ASSERT_EQUAL(probe_vs_reference(-0.04, 0.9, 50, &cuts[1]), 0); /* decreasing, clamps at 0 */
    CU_ASSERT_EQUAL(probe_vs_reference(0.01, 0.2, 1, &cuts[2]), 0);   /* no clamp */
    CU_ASSERT_EQUAL(probe_vs_reference(0.0, 0.5, 10, &cuts[3]), 0);   /* every score equal */
    /* A bound for every user, except where every key scores the same (nothing to cut). */
    CU_ASSERT(cuts[0] == 300 && cuts[1] == 300 && cuts[2] == 300 && cuts[3] == 0);
    /* No probes when they would not be few next to the items. */
    double U[4] = {1, 2, 3, 4}, V[4] = {1, 0, 0, 1};
    rp_model *m = NULL;
    rec_probe pr = {0};
    CU_ASSERT_EQUAL_FATAL(rp_model_from_dot("als", 2, 2, 2, U, V, RP_POST_IDENTITY, 1, 0, &m),
                          RP_OK);
    CU_ASSERT(rec_probe_create(m, 1, &pr) == RP_OK && pr.n == 0);
    rp_model_destroy(&m);
}

/* The fused AVX-512 path against finishing every rec_fused_dot product and sorting, for one
 * model: NU users in groups of up to REC_FUSED_USERS (group sizes vary), with the probe cuts as
 * rp-recommend takes them, exclusions. Items come in near-tie families: a base item, its exact
 * copies (equal products: ties broken by index) and copies one float step apart in one factor
 * (products a rounding apart), so the K-th best often sits in a family. Returns mismatches (-1:
 * setup failed); *cuts counts users the probes gave a bound. */
static int fused_vs_fma_reference(int64_t d, int k, double scale, double shift, int *cuts)
{
    enum { NU = 21, NI = 16 * 61 + 7 };
    int64_t nw = (NI + 15) / 16;
    double *U = malloc(sizeof(double) * (size_t)(NU * d)), *V = malloc(sizeof(double) * (size_t)(NI * d));
    float *raw = malloc(sizeof(float) * NI), *fin = malloc(sizeof(float) * NI), *ug = NULL;
    float *praw = NULL, *val = malloc(sizeof(float) * (size_t)k), *hval = malloc(sizeof(float) * (size_t)k);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)k), *hidx = malloc(sizeof(int32_t) * (size_t)k);
    int32_t *heap = malloc(sizeof(int32_t) * (size_t)k);
    uint32_t *mark = calloc((size_t)NU * NI, sizeof *mark);
    uint16_t *excl = calloc((size_t)(REC_FUSED_USERS * nw), sizeof *excl);
    rec_entry *ent = malloc(sizeof(rec_entry) * (size_t)(REC_FUSED_USERS * REC_RUN_CAP(k)));
    rec_topk_run run[REC_FUSED_USERS];
    rp_model *m = NULL;
    rec_probe pr = {0};
    rec_fused fz = {0};
    const float *Uf = NULL, *Vf = NULL;
    int bad = 0, sign = 0;
    for (int64_t x = 0; x < NU * d; x++)
        U[x] = floor(8.0 * rp_rng_uniform(21, (uint64_t)d, (uint64_t)x)) / 4.0 - 0.75;
    for (int64_t i = 0; i < NI; i++) {
        int64_t base = i - i % 4; /* families of 4 */
        for (int64_t j = 0; j < d; j++)
            V[i * d + j] = i % 4 == 0 ? floor(6.0 * rp_rng_uniform(22, (uint64_t)d,
                                                                  (uint64_t)(i * d + j))) / 3.0 - 0.9
                                      : V[base * d + j];
        /* The last of a family: one factor a float step up (a near-tie); the others: copies. */
        if (i % 4 == 3) V[i * d] = (double)nextafterf((float)V[i * d], 10.0f);
    }
    if (d >= 2) V[5 * d + 1] = NAN; /* item 5 scores NaN for everyone */
    if (rp_model_from_dot("als", NU, NI, d, U, V, RP_POST_IDENTITY, scale, shift, &m) != RP_OK ||
        rec_probe_create(m, k, &pr) != RP_OK || rec_fused_create(m, &pr, &fz) != RP_OK ||
        rp_model_dot_floats(m, &Uf, &Vf) != RP_OK)
        bad = -1;
    sign = bad < 0 ? 0 : rp_model_dot_monotone(m);
    ug = malloc(sizeof(float) * (size_t)(REC_FUSED_USERS * d));
    praw = malloc(sizeof(float) * (size_t)(REC_FUSED_USERS * (fz.nprobe_panel * 16 + 1)));
    if (sign == 0 || !ug || !praw || !U || !V || !raw || !fin || !mark || !excl || !ent) bad = -1;
    for (int64_t x = 0; x < NU && bad >= 0;) {
        int nr = 1 + (int)((x + k) % REC_FUSED_USERS);
        if (nr > NU - x) nr = (int)(NU - x);
        memset(excl, 0, sizeof *excl * (size_t)(REC_FUSED_USERS * nw));
        for (int q = 0; q < nr; q++) {
            int64_t u = x + q;
            memcpy(ug + q * d, Uf + u * d, sizeof(float) * (size_t)d);
            for (int32_t i = 0; i < NI; i++)
                if (rp_rng_uniform(23, (uint64_t)u, (uint64_t)i) < 0.15) {
                    rec_excl_set(excl + q * nw, &i, 1);
                    mark[u * NI + i] = 1u;
                }
        }
        if (pr.n > 0) rec_fused_probe(&fz, ug, nr, praw);
        for (int q = 0; q < nr; q++) {
            rec_topk_begin(&run[q], ent + q * REC_RUN_CAP(k), k);
            run[q].kthr = pr.n == 0 ? NAN
                                    : rec_probe_cut_exact(&pr, praw + q * fz.nprobe_panel * 16,
                                                          excl + q * nw, m, sign, k);
            *cuts += !isnan(run[q].kthr);
        }
        rec_group grp = {ug, nr, run, excl, nw, m, sign, k};
        if (x % 2 == 0) {
            rec_fused_topk(&fz, &grp);
        } else { /* in chunks of panels, as rp-recommend feeds them */
            int64_t ch = 1 + (x + k) % 7;
            for (int64_t p0 = 0; p0 < fz.npanel; p0 += ch)
                rec_fused_topk_range(&fz, &grp, p0, p0 + ch);
        }
        for (int q = 0; q < nr; q++) {
            int64_t u = x + q;
            for (int64_t i = 0; i < NI; i++) {
                raw[i] = rec_fused_dot(Uf + u * d, Vf + i * d, d);
                fin[i] = rp_model_dot_finish(m, raw[i]);
            }
            rec_topk_end(&run[q], k, idx, val);
            rec_topk(fin, NI, mark + u * NI, 1u, k, heap, hidx, hval);
            for (int j = 0; j < k; j++)
                bad += idx[j] != hidx[j] || memcmp(&val[j], &hval[j], sizeof val[j]) != 0;
        }
        x += nr;
    }
    rec_fused_clear(&fz);
    rec_probe_clear(&pr);
    rp_model_destroy(&m);
    free(U), free(V), free(raw), free(fin), free(ug), free(praw), free(val), free(hval);
    free(idx), free(hidx), free(heap), free(mark), free(excl), free(ent);
    return bad;
}

static void fused_matches_fma_reference(void)
{
    if (!rec_fused_available()) {
        fprintf(stderr, "(no AVX-512: fused path not tested) ");
        return;
    }
    int ks[3] = {1, 50, 16 * 61 + 7 + 9}, bad = 0, cuts = 0, runs = 0;
    for (int64_t d = 1; d <= 40; d++)
        for (int kk = 0; kk < 3; kk++) {
            /* Increasing with clamps at 0 and 1, decreasing, and no clamp. */
            double scale = d % 3 == 0 ? 0.2 : d % 3 == 1 ? -0.1 : 0.01;
            double shift = d % 3 == 1 ? 0.3 : 0.5;
            int r = fused_vs_fma_reference(d, ks[kk], scale, shift, &cuts);
            bad += r != 0;
            runs++;
        }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(runs, 120);
    CU_ASSERT(cuts > 40 * 21); /* the probes bound most users at K = 1 and 50 */
    /* The GEMM fallback can be forced and the CPU's answer restored. */
    rec_fused_enable(0);
    CU_ASSERT_EQUAL(rec_fused_available(), 0);
    rec_fused_enable(1);
    CU_ASSERT_EQUAL(rec_fused_available(), 1);
}

/* rec_fused_dot is the chain of fmaf from +0 in index order: with a = 1 + 2^-12, a a rounds
 * (half-way, to even) down by 2^-24, so u = (a, a), v = (a, -a) gives exactly that error,
 * -2^-24; a separate multiply and add gives 0, the other order +2^-24. */
static void fused_dot_is_fma_chain(void)
{
    float a = 1.0f + 0x1p-12f, u[2] = {a, a}, v[2] = {a, -a}, ur[2] = {a, a}, vr[2] = {-a, a};
    CU_ASSERT_EQUAL(rec_fused_dot(u, v, 2), -0x1p-24f);
    CU_ASSERT_EQUAL(rec_fused_dot(ur, vr, 2), 0x1p-24f);
    CU_ASSERT(rec_fused_dot(u, v, 0) == 0.0f && !signbit(rec_fused_dot(u, v, 0)));
}

static void select_users(void)
{
    int64_t raw[5] = {3, 13, 23, 33, 43}, *sel = NULL, n = 0;
    CU_ASSERT_EQUAL_FATAL(rec_select_users(NULL, raw, 5, &sel, &n), RP_OK);
    CU_ASSERT(n == 5 && sel[4] == 4);
    free(sel);
    CU_ASSERT_EQUAL_FATAL(rec_select_users("43,3, 13,3", raw, 5, &sel, &n), RP_OK);
    CU_ASSERT(n == 3 && sel[0] == 0 && sel[1] == 1 && sel[2] == 4);
    free(sel);
    const char *path = rp_test_path("users.txt");
    rp_test_write_file(path, "23\n33\n\n");
    char spec[1300];
    snprintf(spec, sizeof spec, "@%s", path);
    CU_ASSERT_EQUAL_FATAL(rec_select_users(spec, raw, 5, &sel, &n), RP_OK);
    CU_ASSERT(n == 2 && sel[0] == 2 && sel[1] == 3);
    free(sel);
    CU_ASSERT_EQUAL(rec_select_users("3,4", raw, 5, &sel, &n), RP_ERR_USAGE);
    CU_ASSERT_EQUAL(rec_select_users("3,x", raw, 5, &sel, &n), RP_ERR_USAGE);
    CU_ASSERT_EQUAL(rec_select_users("3.5", raw, 5, &sel, &n), RP_ERR_USAGE);
    CU_ASSERT_EQUAL(rec_select_users(",", raw, 5, &sel, &n), RP_ERR_USAGE);
    CU_ASSERT_EQUAL(rec_select_users("@/nonexistent/users", raw, 5, &sel, &n), RP_ERR_NOINPUT);
}

static void parse_errors(void)
{
    rec_opts o;
    char *ok[] = {"rp-recommend", "--shards", "s", "--model-file", "m", "--out", "o",
                  "--no-exclude-train", "--k", "3"};
    CU_ASSERT_EQUAL(rec_parse(10, ok, &o), RP_OK);
    CU_ASSERT(o.k == 3 && o.exclude_train == 0);
    char *bias[] = {"rp-recommend", "--shards", "s", "--model", "bias", "--out", "o"};
    CU_ASSERT_EQUAL(rec_parse(7, bias, &o), RP_OK);
    char *nofile[] = {"rp-recommend", "--shards", "s", "--model", "als", "--out", "o"};
    CU_ASSERT_EQUAL(rec_parse(7, nofile, &o), RP_ERR_USAGE);
    char *badk[] = {"rp-recommend", "--shards", "s", "--model-file", "m", "--out", "o", "--k",
                    "0"};
    CU_ASSERT_EQUAL(rec_parse(9, badk, &o), RP_ERR_USAGE);
    char *badm[] = {"rp-recommend", "--shards", "s", "--model", "svd", "--out", "o"};
    CU_ASSERT_EQUAL(rec_parse(7, badm, &o), RP_ERR_USAGE);
    char *both[] = {"rp-recommend", "--shards", "s", "--model", "bias", "--model-file", "m",
                    "--out", "o"};
    CU_ASSERT_EQUAL(rec_parse(9, both, &o), RP_ERR_USAGE);
}

int test_recommend_register(void)
{
    RP_ADD_SUITE("recommend", RP_T(topk_matches_bruteforce), RP_T(fused_topk_matches_reference),
                 RP_T(tiles_match_whole_gemm), RP_T(probe_bound_is_exact),
                 RP_T(fused_matches_fma_reference), RP_T(fused_dot_is_fma_chain), RP_T(select_users),
                 RP_T(parse_errors));
    return 0;
}
