/* seqrec_attn.c - causal softmax attention of one window and one head, forward and backward,
 * by hand instead of BLAS. A window is at most T (64 by default) rows and a head dh = d / H
 * (16) wide: the four products of the forward and backward were six GEMM calls of 64 x 64 x 16
 * per window and head, each paying OpenBLAS's call and packing costs and computing the upper
 * triangle the causal mask then discards (measured: 50 us per window of 2 heads, a third of a
 * training step). Here every loop stops at the diagonal's vector and runs over contiguous
 * memory, in 8-float vectors (GCC vector extensions: AVX with -march=x86-64-v3, two SSE
 * halves without):
 *   - keys and values are transposed once per window ([dh][Lp], Lp = L rounded up to 8, zero
 *     padded), so a score row is dh broadcast-FMAs per 8 keys;
 *   - probability rows are kept zero beyond the diagonal up to the row's last vector, so the
 *     backward's vector loops need no masks;
 *   - the context and the query gradient sum rows of V and K: dh / 8 vectors per key.
 * Heads whose width is not a multiple of 8 take scalar loops of the same order. Every result
 * is a pure function of the window's rows, so bits stay identical for any rank count. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "seqrec_model.h"

/* The vectors never cross a call (static inline helpers): no ABI to keep. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static inline v8 ld8(const float *p)
{
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

static inline v8 bc8(float x) { return (v8){x, x, x, x, x, x, x, x}; }

/* dst[c * Lp + j] = src[j * ld + c] for j < L, c < dh; zero for L <= j < Lp. */
static void transpose_head(const float *src, int ld, int L, int Lp, int dh, float *dst)
{
    for (int c = 0; c < dh; c++) {
        float *d = dst + (int64_t)c * Lp;
        for (int j = 0; j < L; j++) d[j] = src[(int64_t)j * ld + c];
        for (int j = L; j < Lp; j++) d[j] = 0.0f;
    }
}

/* out[j] = scale * sum_c a[c] * bt[c * Lp + j] for j < n8 (n8: a multiple of 8). Four key
 * vectors at a time: one chain of dh dependent FMAs per vector would wait on the FMA latency. */
static inline __attribute__((always_inline)) void score_row(int dh, const float *a,
                                                            const float *bt, int Lp, int n8,
                                                            float scale, float *out)
{
    int j = 0;
    for (; j + 32 <= n8; j += 32) {
        v8 s0 = bc8(0.0f), s1 = s0, s2 = s0, s3 = s0;
        for (int c = 0; c < dh; c++) {
            const float *r = bt + (int64_t)c * Lp + j;
            v8 ac = bc8(a[c]);
            s0 += ac * ld8(r);
            s1 += ac * ld8(r + 8);
            s2 += ac * ld8(r + 16);
            s3 += ac * ld8(r + 24);
        }
        st8(out + j, s0 * bc8(scale));
        st8(out + j + 8, s1 * bc8(scale));
        st8(out + j + 16, s2 * bc8(scale));
        st8(out + j + 24, s3 * bc8(scale));
    }
    for (; j < n8; j += 8) { /* even and odd columns in two chains */
        v8 s0 = bc8(0.0f), s1 = s0;
        int c = 0;
        for (; c + 1 < dh; c += 2) {
            s0 += bc8(a[c]) * ld8(bt + (int64_t)c * Lp + j);
            s1 += bc8(a[c + 1]) * ld8(bt + (int64_t)(c + 1) * Lp + j);
        }
        if (c < dh) s0 += bc8(a[c]) * ld8(bt + (int64_t)c * Lp + j);
        st8(out + j, (s0 + s1) * bc8(scale));
    }
}

/* exp(x) for x <= 0 on 8 floats: Cephes' expf (x = n ln2 + r, |r| <= ln2 / 2, a degree-6
 * polynomial for e^r, 2^n from the exponent bits; n by the 1.5 * 2^23 rounding trick), inputs
 * clamped at -87. */
static inline v8 exp8_nonpos(v8 x)
{
    const v8 magic = bc8(12582912.0f), lo = bc8(-87.0f);
    v8i below = x < lo;
    x = (v8)(((v8i)x & ~below) | ((v8i)lo & below));
    v8 t = x * bc8(1.44269504088896341f) + magic, n = t - magic;
    v8 r = x - n * bc8(0.693359375f);
    r = r + n * bc8(2.12194440e-4f);
    v8 p = bc8(1.9875691500e-4f);
    p = p * r + bc8(1.3981999507e-3f);
    p = p * r + bc8(8.3334519073e-3f);
    p = p * r + bc8(4.1665795894e-2f);
    p = p * r + bc8(1.6666665459e-1f);
    p = p * r + bc8(5.0000001201e-1f);
    p = p * (r * r) + r + bc8(1.0f);
    v8i e = ((v8i)t - (v8i)magic + 127) << 23;
    return p * (v8)e;
}

void seqrec_exp_nonpos_n(const float *x, float *y, int64_t n)
{
    float buf[8];
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) st8(y + k, exp8_nonpos(ld8(x + k)));
    if (k == n) return;
    for (int e = 0; e < 8; e++) buf[e] = k + e < n ? x[k + e] : 0.0f;
    st8(buf, exp8_nonpos(ld8(buf)));
    memcpy(y + k, buf, (size_t)(n - k) * sizeof(float));
}

/* Softmax of row[0..i] in place; row[i + 1 .. n8) = 0. In whole vectors to n8 (a multiple of
 * 8), the entries past the diagonal first set far below the rest, then to 0: a loop to i + 1
 * left up to 7 elements to a scalar epilogue that cost more than the vector part. */
static inline void softmax_row(float *row, int i, int n8)
{
    v8 mx = bc8(row[0]), z = bc8(0.0f);
    for (int j = i + 1; j < n8; j++) row[j] = -1e30f;
    for (int j = 0; j < n8; j += 8) {
        v8 x = ld8(row + j);
        v8i gt = x > mx;
        mx = (v8)(((v8i)x & gt) | ((v8i)mx & ~gt));
    }
    float m = mx[0];
    for (int e = 1; e < 8; e++) m = mx[e] > m ? mx[e] : m;
    for (int j = 0; j < n8; j += 8) st8(row + j, exp8_nonpos(ld8(row + j) - bc8(m)));
    for (int j = i + 1; j < n8; j++) row[j] = 0.0f;
    for (int j = 0; j < n8; j += 8) z += ld8(row + j);
    float zs = ((z[0] + z[1]) + (z[2] + z[3])) + ((z[4] + z[5]) + (z[6] + z[7]));
    v8 inv = bc8(1.0f / zs);
    for (int j = 0; j < n8; j += 8) st8(row + j, ld8(row + j) * inv);
}

/* out[0..dh) = alpha * sum_{j <= i} w[j] * rows[j * ld + 0..dh), dh a multiple of 8. Four
 * keys at a time into separate sums, for the same reason as score_row. */
static inline __attribute__((always_inline)) void weighted_rows(int dh, const float *w,
                                                                const float *rows, int ld,
                                                                int i, float alpha, float *out)
{
    v8 acc[4][SR_ATTN_MAX_DH / 8];
    int nv = dh / 8, j = 0;
    for (int u = 0; u < 4; u++)
        for (int c = 0; c < nv; c++) acc[u][c] = bc8(0.0f);
    for (; j + 3 <= i; j += 4)
        for (int u = 0; u < 4; u++) {
            const float *r = rows + (int64_t)(j + u) * ld;
            v8 wj = bc8(w[j + u]);
            for (int c = 0; c < nv; c++) acc[u][c] += wj * ld8(r + 8 * c);
        }
    for (; j <= i; j++) {
        const float *r = rows + (int64_t)j * ld;
        v8 wj = bc8(w[j]);
        for (int c = 0; c < nv; c++) acc[0][c] += wj * ld8(r + 8 * c);
    }
    for (int c = 0; c < nv; c++)
        st8(out + 8 * c, ((acc[0][c] + acc[1][c]) + (acc[2][c] + acc[3][c])) * bc8(alpha));
}

/* acc_t[c * Lp + j] += sum_u a[u][c] * w[u][j] for j < n8, u < 4: four rank-1 updates of a
 * transposed sum per load and store of it (one per update was bound by the stores). */
static inline __attribute__((always_inline)) void outer_add4(int dh, const float *const a[4],
                                                             const float *const w[4], int n8,
                                                             int Lp, float *acc_t)
{
    for (int c = 0; c < dh; c++) {
        float *dst = acc_t + (int64_t)c * Lp;
        v8 a0 = bc8(a[0][c]), a1 = bc8(a[1][c]), a2 = bc8(a[2][c]), a3 = bc8(a[3][c]);
        for (int j = 0; j < n8; j += 8)
            st8(dst + j, ld8(dst + j) + ((a0 * ld8(w[0] + j) + a1 * ld8(w[1] + j)) +
                                         (a2 * ld8(w[2] + j) + a3 * ld8(w[3] + j))));
    }
}

static inline __attribute__((always_inline)) void fwd_vec(int dh, const float *q,
                                                          const float *k, const float *v,
                                                          int ld, int L, float *P, int ldp,
                                                          float *ctx, int ldc, float *kt)
{
    int Lp = (L + 7) & ~7;
    float scale = 1.0f / sqrtf((float)dh);
    transpose_head(k, ld, L, Lp, dh, kt);
    for (int i = 0; i < L; i++) {
        float *row = P + (int64_t)i * ldp;
        int n8 = (i + 8) & ~7;
        score_row(dh, q + (int64_t)i * ld, kt, Lp, n8, scale, row);
        softmax_row(row, i, n8);
        for (int j = n8; j < Lp; j++) row[j] = 0.0f; /* the backward reads rows by blocks */
        weighted_rows(dh, row, v, ld, i, 1.0f, ctx + (int64_t)i * ldc);
    }
}

/* The query gradient row by row; the key and value gradients, sums over rows i >= j, by blocks
 * of 4 rows into transposed accumulators. */
static inline __attribute__((always_inline)) void back_vec(
    int dh, const float *q, const float *k, const float *v, int ld, int L, const float *P,
    int ldp, const float *dc, int ldc, float *dq, float *dk, float *dv, float *scratch)
{
    int Lp = (L + 7) & ~7;
    float scale = 1.0f / sqrtf((float)dh);
    float *vt = scratch, *dkt = vt + (int64_t)dh * Lp, *dvt = dkt + (int64_t)dh * Lp;
    float *dsb = dvt + (int64_t)dh * Lp, *zero = dsb + 4 * (int64_t)Lp;
    transpose_head(v, ld, L, Lp, dh, vt);
    memset(dkt, 0, (size_t)(2 * (int64_t)dh * Lp) * sizeof(float));
    memset(zero, 0, (size_t)(dh > Lp ? dh : Lp) * sizeof(float));
    for (int i0 = 0; i0 < L; i0 += 4) {
        int nb = L - i0 < 4 ? L - i0 : 4, n8 = (i0 + nb + 7) & ~7;
        const float *pr[4], *dcr[4], *qr[4], *dsr[4];
        for (int u = 0; u < 4; u++) {
            int i = i0 + u;
            if (u >= nb) {
                pr[u] = dcr[u] = qr[u] = dsr[u] = zero;
                continue;
            }
            float *ds = dsb + (int64_t)u * Lp;
            pr[u] = P + (int64_t)i * ldp;
            dcr[u] = dc + (int64_t)i * ldc;
            qr[u] = q + (int64_t)i * ld;
            dsr[u] = ds;
            score_row(dh, dcr[u], vt, Lp, n8, 1.0f, ds); /* dP[i][j] = dctx_i . v_j */
            v8 dot8 = bc8(0.0f);
            for (int j = 0; j < n8; j += 8) dot8 += ld8(pr[u] + j) * ld8(ds + j);
            float dot = ((dot8[0] + dot8[1]) + (dot8[2] + dot8[3])) +
                        ((dot8[4] + dot8[5]) + (dot8[6] + dot8[7]));
            for (int j = 0; j < n8; j += 8) /* softmax backward; 0 where P is */
                st8(ds + j, ld8(pr[u] + j) * (ld8(ds + j) - bc8(dot)));
            weighted_rows(dh, ds, k, ld, i, scale, dq + (int64_t)i * ld); /* dQ_i = scale dS_i K */
        }
        outer_add4(dh, dcr, pr, n8, Lp, dvt); /* dV_j += P_ij dctx_i */
        outer_add4(dh, qr, dsr, n8, Lp, dkt); /* dK_j += dS_ij q_i */
    }
    for (int j = 0; j < L; j++)
        for (int c = 0; c < dh; c++) {
            dk[(int64_t)j * ld + c] = scale * dkt[(int64_t)c * Lp + j];
            dv[(int64_t)j * ld + c] = dvt[(int64_t)c * Lp + j];
        }
}

/* Scalar versions for a head width that is not a multiple of 8 (the same sums, by element). */
static void fwd_scalar(int dh, const float *q, const float *k, const float *v, int ld, int L,
                       float *P, int ldp, float *ctx, int ldc)
{
    float scale = 1.0f / sqrtf((float)dh);
    for (int i = 0; i < L; i++) {
        float *row = P + (int64_t)i * ldp;
        const float *qi = q + (int64_t)i * ld;
        for (int j = 0; j <= i; j++) {
            float s = 0.0f;
            for (int c = 0; c < dh; c++) s += qi[c] * k[(int64_t)j * ld + c];
            row[j] = s * scale;
        }
        softmax_row(row, i, (i + 8) & ~7);
        for (int j = (i + 8) & ~7; j < ((L + 7) & ~7); j++) row[j] = 0.0f;
        for (int c = 0; c < dh; c++) {
            float s = 0.0f;
            for (int j = 0; j <= i; j++) s += row[j] * v[(int64_t)j * ld + c];
            ctx[(int64_t)i * ldc + c] = s;
        }
    }
}

static void back_scalar(int dh, const float *q, const float *k, const float *v, int ld, int L,
                        const float *P, int ldp, const float *dc, int ldc, float *dq, float *dk,
                        float *dv, float *ds)
{
    float scale = 1.0f / sqrtf((float)dh);
    for (int j = 0; j < L; j++)
        for (int c = 0; c < dh; c++) dk[(int64_t)j * ld + c] = dv[(int64_t)j * ld + c] = 0.0f;
    for (int i = 0; i < L; i++) {
        const float *pr = P + (int64_t)i * ldp, *dci = dc + (int64_t)i * ldc;
        const float *qi = q + (int64_t)i * ld;
        float dot = 0.0f;
        for (int j = 0; j <= i; j++) {
            float s = 0.0f;
            for (int c = 0; c < dh; c++) s += dci[c] * v[(int64_t)j * ld + c];
            ds[j] = s;
            dot += pr[j] * s;
        }
        for (int j = 0; j <= i; j++) ds[j] = pr[j] * (ds[j] - dot);
        for (int c = 0; c < dh; c++) {
            float s = 0.0f;
            for (int j = 0; j <= i; j++) {
                s += ds[j] * k[(int64_t)j * ld + c];
                dk[(int64_t)j * ld + c] += scale * ds[j] * qi[c];
                dv[(int64_t)j * ld + c] += pr[j] * dci[c];
            }
            dq[(int64_t)i * ld + c] = scale * s;
        }
    }
}

/* dh as a compile-time constant for the common widths: the column loops become registers. */
void seqrec_attn_forward(const float *q, const float *k, const float *v, int ld, int L, int dh,
                         float *P, int ldp, float *ctx, int ldc, float *scratch)
{
    if (dh == 16) fwd_vec(16, q, k, v, ld, L, P, ldp, ctx, ldc, scratch);
    else if (dh == 8) fwd_vec(8, q, k, v, ld, L, P, ldp, ctx, ldc, scratch);
    else if (dh == 32) fwd_vec(32, q, k, v, ld, L, P, ldp, ctx, ldc, scratch);
    else if (dh % 8 == 0) fwd_vec(dh, q, k, v, ld, L, P, ldp, ctx, ldc, scratch);
    else fwd_scalar(dh, q, k, v, ld, L, P, ldp, ctx, ldc);
}

void seqrec_attn_backward(const float *q, const float *k, const float *v, int ld, int L, int dh,
                          const float *P, int ldp, const float *dc, int ldc, float *dq, float *dk,
                          float *dv, float *scratch)
{
    if (dh == 16) back_vec(16, q, k, v, ld, L, P, ldp, dc, ldc, dq, dk, dv, scratch);
    else if (dh == 8) back_vec(8, q, k, v, ld, L, P, ldp, dc, ldc, dq, dk, dv, scratch);
    else if (dh == 32) back_vec(32, q, k, v, ld, L, P, ldp, dc, ldc, dq, dk, dv, scratch);
    else if (dh % 8 == 0) back_vec(dh, q, k, v, ld, L, P, ldp, dc, ldc, dq, dk, dv, scratch);
    else back_scalar(dh, q, k, v, ld, L, P, ldp, dc, ldc, dq, dk, dv, scratch);
}
