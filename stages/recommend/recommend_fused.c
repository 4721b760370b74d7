/* recommend_fused.c - rp-recommend's fused scoring of monotone dot-form models on AVX-512:
 * products of a few users and 16 items per vector accumulate in registers and meet each user's
 * top-K threshold there; the few that pass go to the running top-K (rec_topk_take). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define REC_FUSED_X86 1
#endif

#include "recommend.h"
#include "rp_err.h"
#include "rp_fault.h"

static int fused_on = -1; /* -1: not yet decided */

int rec_fused_available(void)
{
    if (fused_on < 0) {
#ifdef REC_FUSED_X86
        const char *off = getenv("RP_REC_NO_AVX512");
        __builtin_cpu_init();
        fused_on = (off == NULL || *off == '\0') && __builtin_cpu_supports("avx512f");
#else
        fused_on = 0;
#endif
    }
    return fused_on;
}

void rec_fused_enable(int on)
{
    fused_on = -1;
    if (!on) fused_on = 0;
    else (void)rec_fused_available();
}

float rec_fused_dot(const float *u, const float *v, int64_t d)
{
    float s = 0.0f;
    for (int64_t j = 0; j < d; j++) s = fmaf(u[j], v[j], s);
    return s;
}

void rec_fused_clear(rec_fused *f)
{
    free(f->panel_mem);
    free(f->probe_mem);
    memset(f, 0, sizeof *f);
}

/* Rows rows[x] of V [*, d] as panels [n / 16 rounded up][d][16] (rows NULL: rows 0 .. n-1),
 * zeros past n, in *mem (free it). 64-byte aligned: one panel row is one aligned vector. */
static float *pack(const float *V, int64_t d, const int32_t *rows, int64_t n, int64_t *npanel,
                   void **mem)
{
    int64_t np = (n + 15) / 16;
    size_t bytes = (size_t)(np * d * 16) * sizeof(float);
    char *base = rp_malloc(bytes + 64);
    if (base == NULL) return NULL;
    float *pn = (float *)(base + (64 - (uintptr_t)base % 64) % 64);
    *mem = base;
    memset(pn, 0, bytes);
    for (int64_t x = 0; x < n; x++) {
        const float *v = V + (rows != NULL ? (int64_t)rows[x] : x) * d;
        float *dst = pn + (x / 16) * d * 16 + x % 16;
        for (int64_t j = 0; j < d; j++) dst[j * 16] = v[j];
    }
    *npanel = np;
    return pn;
}

int rec_fused_create(const rp_model *m, const rec_probe *p, rec_fused *f)
{
    int rc = RP_OK;
    const float *Uf = NULL, *Vf = NULL;
    int64_t d = 0;
    const double *U = NULL, *V = NULL;
    rp_post post;
    double scale, shift;
    memset(f, 0, sizeof *f);
    RP_CALL(rp_model_dot_parts(m, &d, &U, &V, &post, &scale, &shift));
    RP_CALL(rp_model_dot_floats(m, &Uf, &Vf));
    f->n_items = m->n_items;
    f->d = d;
    RP_ALLOC(f->panel = pack(Vf, d, NULL, m->n_items, &f->npanel, &f->panel_mem));
    if (p != NULL && p->n > 0)
        RP_ALLOC(f->probe_panel = pack(Vf, d, p->items, p->n, &f->nprobe_panel, &f->probe_mem));
cleanup:
    if (rc != RP_OK) rec_fused_clear(f);
    return rc;
}

#ifdef REC_FUSED_X86
/* Panels [p0, p1) of pn against R user rows: acc[r] lane l = rec_fused_dot(ug + r d, item
 * 16 p + l). Loop over the factors outside the users: one load of the panel row feeds R fused
 * multiply-adds (the user factor is a broadcast memory operand); R independent chains hide the
 * FMA latency. */
#define FZ_DOTS(R, pn, p, d, ug, acc)                                                    \
    do {                                                                                 \
        const float *vp_ = (pn) + (p) * (d) * 16;                                        \
        _Pragma("GCC unroll 8") for (int r_ = 0; r_ < (R); r_++) acc[r_] =               \
            _mm512_setzero_ps();                                                         \
        for (int64_t j_ = 0; j_ < (d); j_++) {                                           \
            __m512 v_ = _mm512_load_ps(vp_ + j_ * 16);                                   \
            _Pragma("GCC unroll 8") for (int r_ = 0; r_ < (R); r_++) acc[r_] =           \
                _mm512_fmadd_ps(_mm512_set1_ps((ug)[r_ * (d) + j_]), v_, acc[r_]);       \
        }                                                                                \
    } while (0)

__attribute__((target("avx512f"), always_inline)) static inline void
probe_r(const int R, const rec_fused *f, const float *ug, float *raw)
{
    int64_t d = f->d, ld = f->nprobe_panel * 16;
    __m512 acc[REC_FUSED_USERS];
    for (int64_t p = 0; p < f->nprobe_panel; p++) {
        FZ_DOTS(R, f->probe_panel, p, d, ug, acc);
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)
            _mm512_storeu_ps(raw + r * ld + p * 16, acc[r]);
    }
}

/* The rare case: some lanes of a panel passed a user's threshold. keys[r]: user r's 16 keys,
 * mk[r] its passing lanes (only items). Takes the non-excluded ones, user by user. One call per
 * such panel, with no vector register live across it: the caller reloads the thresholds after
 * (a call per user kept the 8 accumulators and thresholds live: spilled and reloaded each
 * time). */
__attribute__((noinline)) static void take_panel(const rec_group *g, const float *keys,
                                                 const uint32_t *mk, int64_t p, int len)
{
    for (int r = 0; r < g->nr; r++) {
        uint32_t ex = g->excl[r * g->nwords + p], bits = mk[r] & ~ex;
        if (bits != 0)
            rec_topk_take(&g->run[r], keys + r * 16, p * 16, len, bits, ex, g->m, g->sign, g->k);
    }
}

/* Keys sign * product, compared with each user's threshold in registers (not-less-or-equal:
 * NaN passes, as rec_topk_feed's scan); a panel with no passing lane costs no store. */
__attribute__((target("avx512f"), always_inline)) static inline void
topk_r(const int R, const rec_fused *f, const rec_group *g, int64_t p0, int64_t p1)
{
    const float *ug = g->ug;
    rec_topk_run *run = g->run;
    int sign = g->sign;
    int64_t d = f->d, last = f->npanel - 1;
    int tail = (int)(f->n_items - last * 16);
    __m512i flip = _mm512_set1_epi32(sign < 0 ? (int)0x80000000u : 0);
    __m512 acc[REC_FUSED_USERS], thr[REC_FUSED_USERS];
    float keys[REC_FUSED_USERS * 16] __attribute__((aligned(64)));
    uint32_t mk[REC_FUSED_USERS];
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) thr[r] = _mm512_set1_ps(run[r].kthr);
    for (int64_t p = p0; p < p1; p++) {
        FZ_DOTS(R, f->panel, p, d, ug, acc);
        __mmask16 any = 0;
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
            acc[r] = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(acc[r]), flip));
            any |= _mm512_cmp_ps_mask(acc[r], thr[r], _CMP_NLE_UQ);
        }
        if (__builtin_expect(any == 0, 1)) continue;
        /* Each user's mask again here rather than 8 masks kept across the loop (spilled):
         * thr not-greater-or-equal key is key not-less-or-equal thr, written otherwise so the
         * compiler does not merge it with the test above. */
        uint32_t lim = p < last ? 0xffffu : (1u << tail) - 1u;
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
            mk[r] = _mm512_cmp_ps_mask(thr[r], acc[r], _CMP_NGE_UQ) & lim;
            _mm512_store_ps(keys + r * 16, acc[r]);
        }
        take_panel(g, keys, mk, p, p < last ? 16 : tail);
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) thr[r] = _mm512_set1_ps(run[r].kthr);
    }
}

__attribute__((target("avx512f"))) static void probe_avx512(const rec_fused *f, const float *ug,
                                                             int nr, float *raw)
{
    switch (nr) {
    case 8: probe_r(8, f, ug, raw); break;
    case 7: probe_r(7, f, ug, raw); break;
    case 6: probe_r(6, f, ug, raw); break;
    case 5: probe_r(5, f, ug, raw); break;
    case 4: probe_r(4, f, ug, raw); break;
    case 3: probe_r(3, f, ug, raw); break;
    case 2: probe_r(2, f, ug, raw); break;
    default: probe_r(1, f, ug, raw); break;
    }
}

__attribute__((target("avx512f"))) static void
topk_avx512(const rec_fused *f, const rec_group *g, int64_t p0, int64_t p1)
{
    switch (g->nr) {
    case 8: topk_r(8, f, g, p0, p1); break;
    case 7: topk_r(7, f, g, p0, p1); break;
    case 6: topk_r(6, f, g, p0, p1); break;
    case 5: topk_r(5, f, g, p0, p1); break;
    case 4: topk_r(4, f, g, p0, p1); break;
    case 3: topk_r(3, f, g, p0, p1); break;
    case 2: topk_r(2, f, g, p0, p1); break;
    default: topk_r(1, f, g, p0, p1); break;
    }
}
#endif

void rec_fused_probe(const rec_fused *f, const float *ug, int nr, float *raw)
{
#ifdef REC_FUSED_X86
    if (nr > 0 && f->nprobe_panel > 0) probe_avx512(f, ug, nr, raw);
#else
    (void)f, (void)ug, (void)nr, (void)raw;
#endif
}

void rec_fused_topk_range(const rec_fused *f, const rec_group *g, int64_t p0, int64_t p1)
{
    if (p1 > f->npanel) p1 = f->npanel;
#ifdef REC_FUSED_X86
    if (g->nr > 0 && g->k > 0 && p0 < p1) topk_avx512(f, g, p0, p1);
#else
    (void)g, (void)p0;
#endif
}

void rec_fused_topk(const rec_fused *f, const rec_group *g)
{
    rec_fused_topk_range(f, g, 0, f->npanel);
}

int64_t rec_fused_chunk(const rec_fused *f)
{
    int64_t c = REC_FUSED_CHUNK_BYTES / (f->d * 16 * (int64_t)sizeof(float) + 1);
    return c > 0 ? c : 1;
}
