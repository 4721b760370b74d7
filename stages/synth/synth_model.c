/* synth_model.c - rp-synth's planted model: users and videos with latent factors, biases, tag,
 * author and duration effects; who watches what (activity degree -> count, popularity skew),
 * when, and how long (a mixture of skips, partial views, a log-normal main part with heavy
 * noise, and looping outliers). Every draw is keyed by (seed, stream, global index). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_mpi.h"
#include "rp_rng.h"
#include "synth.h"
#include "synth_model.h"

/* Streams, one per kind of draw, so changing one part never shifts another. The id is a hash
 * of the name, cached per call site (hot loops draw per pair). */
#define ST(name)                                                                \
    __extension__({                                                             \
        static uint64_t st_id_ = 0;                                             \
        if (st_id_ == 0) st_id_ = rp_rng_stream("synth." name);                 \
        st_id_;                                                                 \
    })

#define SHORT_SHARE 0.005 /* videos of 140 ms .. 3 s */
#define LOOP_MS 3e5       /* a looping outlier plays up to ~300 s (x the video: up to WR_CAP) */
#define WR_CAP 575.0      /* largest watch ratio (KuaiRec: 573.46 big, 571.52 small) */

/* Tail calibration (full size, seed 42, against KUAIREC.md): the outlier rates set the share
 * above 5 (big 0.92%, small 0.49%), the small regime's heavy-noise share its p99 (3.585). */
const synth_regime SYNTH_BIG = {.skip = 1.0, .partial = 0.17, .outlier = 0.0048,
                                .noise = 0.36, .heavy_p = 0.07, .heavy_k = 2.6, .mu = -0.10};
const synth_regime SYNTH_SMALL = {.skip = 0.30, .partial = 0.06, .outlier = 0.0030,
                                  .noise = 0.30, .heavy_p = 0.09, .heavy_k = 2.6, .mu = -0.19};

double synth_u01(uint64_t seed, const char *stream, uint64_t idx)
{
    return rp_rng_uniform(seed, rp_rng_stream(stream), idx);
}

/* Select k of n indices by the smallest keyed hashes (ties by index); out ascending. */
typedef struct keyed { uint64_t key; int64_t idx; } keyed;

static int cmp_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int select_k(uint64_t seed, const char *stream, int64_t n, int64_t k, int64_t *out)
{
    int rc = RP_OK;
    keyed *kv = NULL;
    uint64_t s = rp_rng_stream(stream);
    RP_ALLOC(kv = malloc((size_t)(n > 0 ? n : 1) * sizeof *kv));
    for (int64_t i = 0; i < n; i++) kv[i] = (keyed){rp_rng_hash(seed, s, (uint64_t)i), i};
    qsort(kv, (size_t)n, sizeof *kv, cmp_key);
    for (int64_t j = 0; j < k; j++) out[j] = kv[j].idx;
    qsort(out, (size_t)k, sizeof *out, cmp_i64);
cleanup:
    free(kv);
    return rc;
}

void synth_user_gen(const synth_model *m, int64_t u, synth_user_feat *f)
{
    static const int card[18] = {2, 8, 30, 1076, 12, 10, 3, 47, 340, 7, 5, 3, 2, 2, 2, 2, 2, 2};
    static const double skew[18] = {1.3, 2, 1.5, 1.2, 2, 12, 1.2, 1.6, 1.4, 1.3, 1.6, 6, 1.8,
                                    4, 4, 9, 9, 10};
    uint64_t s = rp_rng_stream("synth.ufeat");
    rp_rng r;
    rp_rng_init(&r, m->seed, s, (uint64_t)u << 8);
    double x = rp_rng_next_uniform(&r);
    f->degree = x < 0.849 ? 0 : x < 0.980 ? 1 : x < 0.9961 ? 3 : 2;
    f->lowactive = rp_rng_next_uniform(&r) < 0.0005;
    f->streamer = rp_rng_next_uniform(&r) < 0.0068;
    f->author = rp_rng_next_uniform(&r) < 0.17;
    f->follow = (int64_t)floor(exp(3.5 + 1.6 * rp_rng_next_normal(&r))) - 1;
    if (f->follow < 0) f->follow = 0;
    if (f->follow > 2100) f->follow = 2100;
    f->fans = (int64_t)floor(exp(0.6 + 1.8 * rp_rng_next_normal(&r))) - 1;
    if (f->fans < 0) f->fans = 0;
    f->friends =
        rp_rng_next_uniform(&r) < 0.6 ? 0 : (int64_t)floor(exp(0.8 + 1.2 * rp_rng_next_normal(&r)));
    if (f->friends < 0) f->friends = 0;
    f->register_days = 15 + (int64_t)floor(exp(5.4 + 0.8 * rp_rng_next_normal(&r)));
    if (f->register_days > 2245) f->register_days = 2245;
    int missing_block = rp_rng_next_uniform(&r) < 74.0 / 7176;
    for (int k = 0; k < 18; k++) {
        double v = pow(rp_rng_next_uniform(&r), skew[k]);
        f->onehot[k] = (int)floor(v * card[k]);
        if (f->onehot[k] >= card[k]) f->onehot[k] = card[k] - 1;
        f->missing[k] = k >= 12 && missing_block;
    }
    f->missing[4] = rp_rng_next_uniform(&r) < 201.0 / 7176;
    if (rp_rng_next_uniform(&r) < 3.0 / 7176) f->missing[12] = 1;
}

double synth_user_feat_effect(int degree, int author, int feat1, int feat6)
{
    /* Small, learnable effects of user features on watch ratio. */
    return 0.06 * author + 0.05 * (feat6 == 1) - 0.04 * (degree != 0) +
           0.04 * ((feat1 % 4) - 1.5) / 1.5;
}

/* Big-matrix rows at full scale: activity degree drives the count. */
static double user_rows_target(uint64_t seed, int64_t u, int degree)
{
    rp_rng r;
    rp_rng_init(&r, seed, rp_rng_stream("synth.count"), (uint64_t)u << 4);
    double a = rp_rng_next_uniform(&r), b = rp_rng_next_uniform(&r);
    double z = rp_rng_next_normal(&r);
    if (degree != 0) return exp(log(100.0) + b * (log(1900.0) - log(100.0)));
    if (a < 0.01) return exp(log(3500.0) + b * (log(16015.0) - log(3500.0)));
    double n = 1900 + 450 * z;
    return n < 500 ? 500 : n > 4000 ? 4000 : n;
}

static int build_users(synth_model *m)
{
    int rc = RP_OK;
    int64_t n = m->n_users;
    RP_ALLOC(m->u_bias = malloc((size_t)n * sizeof *m->u_bias));
    RP_ALLOC(m->u_fac = malloc((size_t)n * SYNTH_K * sizeof *m->u_fac));
    RP_ALLOC(m->u_rows = malloc((size_t)n * sizeof *m->u_rows));
    RP_ALLOC(m->u_small = malloc((size_t)n * sizeof *m->u_small));
    if (m->u_raw == NULL) { /* generated users: ids 0..n-1 and features from synth_user_gen */
        RP_ALLOC(m->u_raw = malloc((size_t)n * sizeof *m->u_raw));
        RP_ALLOC(m->u_degree = malloc((size_t)n));
        RP_ALLOC(m->u_feff = malloc((size_t)n * sizeof *m->u_feff));
        for (int64_t u = 0; u < n; u++) {
            synth_user_feat f;
            synth_user_gen(m, u, &f);
            m->u_raw[u] = u;
            m->u_degree[u] = (int8_t)f.degree;
            m->u_feff[u] = (float)synth_user_feat_effect(f.degree, f.author, f.onehot[1],
                                                         f.onehot[6]);
        }
    }
    uint64_t sb = ST("ubias"), sf = ST("ufac");
    for (int64_t u = 0; u < n; u++) {
        m->u_bias[u] = (float)(0.2 * rp_rng_normal(m->seed, sb, (uint64_t)u) + m->u_feff[u]);
        for (int k = 0; k < SYNTH_K; k++)
            m->u_fac[u * SYNTH_K + k] =
                (float)(0.27 * rp_rng_normal(m->seed, sf, (uint64_t)u * SYNTH_K + (uint64_t)k));
        double t = user_rows_target(m->seed, u, m->u_degree[u]) * m->density;
        m->u_rows[u] = (int32_t)(t < 1 ? 1 : t + 0.5);
        m->u_small[u] = -1;
    }
    RP_ALLOC(m->small_users = malloc((size_t)(m->n_small_users + 1) * sizeof(int64_t)));
    RP_CALL(select_k(m->seed, "synth.small_users", n, m->n_small_users, m->small_users));
    for (int64_t j = 0; j < m->n_small_users; j++) m->u_small[m->small_users[j]] = (int32_t)j;
    RP_ALLOC(m->social_users = malloc((size_t)(m->n_social + 1) * sizeof(int64_t)));
    RP_CALL(select_k(m->seed, "synth.social", n, m->n_social, m->social_users));
cleanup:
    return rc;
}

static int pick_tag(rp_rng *r)
{
    /* Skewed tag popularity: tag t has weight 1 / (rank + 2) under a fixed permutation. */
    static const int perm[SYNTH_NTAGS] = {8, 9, 27, 26, 1, 2, 19, 11, 5, 12, 34 % 31, 6, 20, 7,
                                          28, 17, 25, 14, 10, 18, 13, 15, 0, 3, 4, 16, 21, 22,
                                          23, 24, 29};
    static double cum[SYNTH_NTAGS];
    static int init = 0;
    if (!init) { /* idempotent: every thread computes the same table */
        double s = 0;
        for (int t = 0; t < SYNTH_NTAGS; t++) cum[t] = (s += 1.0 / (t + 2));
        for (int t = 0; t < SYNTH_NTAGS; t++) cum[t] /= s;
        init = 1;
    }
    double x = rp_rng_next_uniform(r);
    int t = 0;
    while (t < SYNTH_NTAGS - 1 && cum[t] < x) t++;
    return perm[t];
}

void synth_item_gen_tags(uint64_t seed, int64_t i, uint8_t *ntags, uint8_t *tags)
{
    rp_rng r;
    rp_rng_init(&r, seed, rp_rng_stream("synth.tags"), (uint64_t)i << 6);
    double x = rp_rng_next_uniform(&r);
    int n = x < 0.8361 ? 1 : x < 0.9817 ? 2 : x < 0.9990 ? 3 : 4;
    int k = 0;
    while (k < n) {
        int t = pick_tag(&r), dup = 0;
        for (int j = 0; j < k; j++) dup |= tags[j] == t;
        if (!dup) tags[k++] = (uint8_t)t;
    }
    *ntags = (uint8_t)n;
}

static int build_items(synth_model *m)
{
    int rc = RP_OK;
    int64_t n = m->n_items;
    double tag_eff[SYNTH_NTAGS], wsum = 0;
    for (int t = 0; t < SYNTH_NTAGS; t++)
        tag_eff[t] = 0.15 * rp_rng_normal(m->seed, ST("tageff"), (uint64_t)t);
    RP_ALLOC(m->i_bias = malloc((size_t)n * sizeof *m->i_bias));
    RP_ALLOC(m->i_fac = malloc((size_t)n * SYNTH_K * sizeof *m->i_fac));
    RP_ALLOC(m->i_logm = malloc((size_t)n * sizeof *m->i_logm));
    RP_ALLOC(m->i_weight = malloc((size_t)n * sizeof *m->i_weight));
    RP_ALLOC(m->i_dur = malloc((size_t)n * sizeof *m->i_dur));
    RP_ALLOC(m->i_author = malloc((size_t)n * sizeof *m->i_author));
    RP_ALLOC(m->i_small = malloc((size_t)n * sizeof *m->i_small));
    RP_ALLOC(m->i_skip = malloc((size_t)n * sizeof *m->i_skip));
    RP_ALLOC(m->i_out_hi = malloc((size_t)n * sizeof *m->i_out_hi));
    if (m->i_raw == NULL) { /* generated items: ids 0..n-1, tags from synth_item_gen_tags */
        RP_ALLOC(m->i_raw = malloc((size_t)n * sizeof *m->i_raw));
        RP_ALLOC(m->i_ntags = malloc((size_t)n));
        RP_ALLOC(m->i_tags = malloc((size_t)n * 4));
        for (int64_t i = 0; i < n; i++) {
            m->i_raw[i] = i;
            synth_item_gen_tags(m->seed, i, &m->i_ntags[i], &m->i_tags[i * 4]);
        }
    }
    int64_t n_authors = n * 6 / 10 > 1 ? n * 6 / 10 : 1;
    for (int64_t i = 0; i < n; i++) {
        rp_rng r;
        rp_rng_init(&r, m->seed, ST("item"), (uint64_t)i << 5);
        double zd = rp_rng_next_normal(&r), mix = rp_rng_next_uniform(&r);
        /* a few very short clips (KuaiRec's shortest is 140 ms): they loop, so they carry the
         * largest outliers; the rest a log-normal body and a long-video component */
        double d = mix < SHORT_SHARE ? exp(log(140.0) + mix / SHORT_SHARE * log(3000.0 / 140))
                   : mix < 0.93      ? exp(log(9000.0) + 0.55 * zd)
                                     : exp(log(30000.0) + 0.9 * zd);
        d = d < 140 ? 140 : d > 315072 ? 315072 : d;
        m->i_dur[i] = (int32_t)d;
        m->i_author[i] = (int32_t)floor(n_authors * pow(rp_rng_next_uniform(&r), 1.5));
        double zp = rp_rng_next_normal(&r), zb = rp_rng_next_normal(&r);
        m->i_weight[i] = (float)exp(1.1 * zp);
        wsum += m->i_weight[i];
        /* popular videos are watched a little longer: learnable popularity signal */
        m->i_bias[i] = (float)(0.2 * (0.4 * zp + 0.92 * zb));
        for (int k = 0; k < SYNTH_K; k++)
            m->i_fac[i * SYNTH_K + k] = (float)(0.27 * rp_rng_next_normal(&r));
        double te = 0;
        for (int k = 0; k < m->i_ntags[i]; k++) te += tag_eff[m->i_tags[i * 4 + k] % SYNTH_NTAGS];
        double ae = 0.15 * rp_rng_normal(m->seed, ST("autheff"), (uint64_t)m->i_author[i]);
        /* short videos get higher watch ratios, long ones rarely pass 1 */
        double de = -0.32 * log(d / 9636.0);
        de = de < -1.0 ? -1.0 : de > 0.9 ? 0.9 : de;
        m->i_logm[i] = m->i_bias[i] + te / m->i_ntags[i] + ae + de;
        double ps = 0.085 * pow(d / 9636.0, 0.4);
        m->i_skip[i] = ps < 0.02 ? 0.02 : ps > 0.35 ? 0.35 : ps;
        double hi = LOOP_MS / d;
        m->i_out_hi[i] = hi < 8 ? 8 : hi > WR_CAP ? WR_CAP : hi;
        m->i_small[i] = -1;
    }
    for (int64_t i = 0; i < n; i++) m->i_weight[i] = (float)(m->i_weight[i] / wsum);
    RP_ALLOC(m->small_items = malloc((size_t)(m->n_small_items + 1) * sizeof(int64_t)));
    RP_CALL(select_k(m->seed, "synth.small_items", n, m->n_small_items, m->small_items));
    for (int64_t j = 0; j < m->n_small_items; j++) m->i_small[m->small_items[j]] = (int32_t)j;
cleanup:
    return rc;
}

/* Tables of F(c) = sum_i min(1, c w_i) over all items and over non-small items, on a log grid
 * of c, so a user's expected number of distinct videos can be inverted to c cheaply. */
static int build_tables(synth_model *m)
{
    int rc = RP_OK;
    int nt = 512;
    double lo = log(0.05), hi = log(1e5 * (double)m->n_items + 10);
    RP_ALLOC(m->tab_c = malloc((size_t)nt * sizeof(double)));
    RP_ALLOC(m->tab_all = calloc((size_t)nt, sizeof(double)));
    RP_ALLOC(m->tab_ns = calloc((size_t)nt, sizeof(double)));
    for (int j = 0; j < nt; j++) m->tab_c[j] = exp(lo + (hi - lo) * j / (nt - 1));
    for (int64_t i = 0; i < m->n_items; i++)
        for (int j = 0; j < nt; j++) {
            double p = m->tab_c[j] * m->i_weight[i];
            p = p > 1 ? 1 : p;
            m->tab_all[j] += p;
            if (m->i_small[i] < 0) m->tab_ns[j] += p;
        }
    m->ntab = nt;
cleanup:
    return rc;
}

static double invert_table(const synth_model *m, const double *f, double target)
{
    int j = 0;
    while (j < m->ntab - 1 && f[j + 1] < target) j++;
    if (j >= m->ntab - 1) return m->tab_c[m->ntab - 1];
    double f0 = f[j], f1 = f[j + 1];
    if (target <= f0) return m->tab_c[j] * target / (f0 > 0 ? f0 : 1);
    return m->tab_c[j] + (m->tab_c[j + 1] - m->tab_c[j]) * (target - f0) / (f1 - f0);
}

int synth_model_build(MPI_Comm comm, const synth_opts *o, synth_model *m)
{
    int rc = RP_OK;
    m->seed = (uint64_t)o->seed;
    m->clip_max = o->clip_max > 0 ? o->clip_max : 3.0;
    m->side = o->side;
    m->seq_fatigue = o->fatigue;
    m->seq_drift = o->drift;
    if (o->side) RP_CALL(synth_side_read(comm, o->side, m));
    /* sizes: explicit counts, else the real ones times --scale; small sizes follow the user and
     * video counts when those were given (or read from --side) */
    if (m->n_users == 0) m->n_users = o->users ? o->users : llround(SYNTH_REAL_USERS * o->scale);
    if (m->n_items == 0) m->n_items = o->items ? o->items : llround(SYNTH_REAL_ITEMS * o->scale);
    double su = (o->users || o->side) ? (double)m->n_users / SYNTH_REAL_USERS : o->scale;
    double si = (o->items || o->side) ? (double)m->n_items / SYNTH_REAL_ITEMS : o->scale;
    m->n_small_users = o->small_users ? o->small_users : llround(SYNTH_REAL_SMALL_USERS * su);
    m->n_small_items = o->small_items ? o->small_items : llround(SYNTH_REAL_SMALL_ITEMS * si);
    m->n_social = llround(SYNTH_REAL_SOCIAL * (double)m->n_users / SYNTH_REAL_USERS);
    if (m->n_small_users < 1) m->n_small_users = 1;
    if (m->n_small_items < 1) m->n_small_items = 1;
    if (m->n_social < 1) m->n_social = 1;
    if (m->n_users < 2 || m->n_items < 2)
        RP_FAIL_USER0(RP_ERR_USAGE, "too few users (%lld) or videos (%lld): need at least 2",
                      (long long)m->n_users, (long long)m->n_items);
    if (m->n_small_users > m->n_users || m->n_small_items > m->n_items)
        RP_FAIL_USER0(RP_ERR_USAGE,
                      "small matrix (%lld x %lld) larger than the big one (%lld x %lld)",
                      (long long)m->n_small_users, (long long)m->n_small_items,
                      (long long)m->n_users, (long long)m->n_items);
    if (m->n_small_items >= m->n_items)
        RP_FAIL_USER0(RP_ERR_USAGE,
                      "small matrix must leave videos for the big one (--small-items < --items)");
    m->density = (double)m->n_items / SYNTH_REAL_ITEMS;
    m->min_rows = synth_min_rows(m->density);
    /* Local steps: agree on them before the collectives that follow in the caller. */
    rc = build_items(m);
    if (rc == RP_OK) rc = build_users(m);
    if (rc == RP_OK) rc = build_tables(m);
    RP_AGREE(comm, rc);
cleanup:
    return rc;
}

int32_t synth_min_rows(double density)
{
    double f = SYNTH_REAL_MIN_ROWS * density + 0.5;
    return f < 1 ? 1 : f > 2e9 ? 2000000000 : (int32_t)f;
}

void synth_model_clear(synth_model *m)
{
    void *ptrs[] = {m->u_raw, m->i_raw, m->u_feff, m->u_degree, m->u_bias, m->u_fac, m->u_small,
                    m->small_users, m->social_users, m->u_rows, m->i_bias, m->i_fac,
                    m->i_logm, m->i_weight, m->i_dur, m->i_author, m->i_ntags, m->i_tags,
                    m->i_small, m->small_items, m->i_skip, m->i_out_hi, m->tab_c, m->tab_all,
                    m->tab_ns};
    for (size_t k = 0; k < sizeof ptrs / sizeof ptrs[0]; k++) free(ptrs[k]);
    memset(m, 0, sizeof *m);
}

double synth_logm(const synth_model *m, int64_t u, int64_t i)
{
    const float *p = m->u_fac + u * SYNTH_K, *q = m->i_fac + i * SYNTH_K;
    double dot = 0;
    for (int k = 0; k < SYNTH_K; k++) dot += (double)p[k] * q[k];
    return m->u_bias[u] + m->i_logm[i] + dot;
}

#define P_ZERO 0.05      /* share of skips with play_duration 0 */
#define RHO 0.121        /* mean extra distinct views of a (user, video) pair */
#define DELTA 0.0839     /* mean exact copies of a row (logging duplicates) */

/* Expected watch ratio with the log-normal main part's log median moved by shift (the
 * sequential effects of synth_seq.c; 0 = none). */
static double expected_wr(const synth_model *m, const synth_regime *g, int64_t u, int64_t i,
                          double shift)
{
    double ps = g->skip * m->i_skip[i], hi = m->i_out_hi[i];
    double s = g->noise, sk = g->noise * g->heavy_k;
    double mnoise = (1 - g->heavy_p) * exp(s * s / 2) + g->heavy_p * exp(sk * sk / 2);
    double e_out = (hi - 5) / log(hi / 5);
    return ps * (1 - P_ZERO) * 0.04 + g->partial * 0.25 + g->outlier * e_out +
           (1 - ps - g->partial - g->outlier) * exp(g->mu + synth_logm(m, u, i) + shift) * mnoise;
}

double synth_expected_small(const synth_model *m, int64_t u, int64_t i)
{
    return expected_wr(m, &SYNTH_SMALL, u, i, 0.0);
}

double synth_expected_small_shifted(const synth_model *m, int64_t u, int64_t i, double shift)
{
    return expected_wr(m, &SYNTH_SMALL, u, i, shift);
}

/* E[min(X, c)] for log X ~ N(mu, s^2), closed form:
 * E[X; X < c] + c P(X >= c) = e^(mu + s^2/2) Phi((ln c - mu - s^2)/s) + c Phi((mu - ln c)/s).
 * Phi through erfc keeps the relative precision in both tails. */
static double lognormal_min(double mu, double s, double c)
{
    double lc = log(c);
    double below = 0.5 * erfc(-((lc - mu - s * s) / s) / M_SQRT2);
    double above = 0.5 * erfc(-((mu - lc) / s) / M_SQRT2);
    return exp(mu + s * s / 2) * below + c * above;
}

/* E[min(Y, c)] for Y = 0.1 y^1.5, y ~ U(0, 1): y below t = (10 c)^(2/3) is not clipped. */
static double skip_min(double c)
{
    if (c >= 0.1) return 0.04;
    double t = pow(10 * c, 2.0 / 3.0);
    return 0.1 * pow(t, 2.5) / 2.5 + c * (1 - t);
}

/* E[min(U, c)] for U ~ U(a, b). */
static double uniform_min(double a, double b, double c)
{
    if (c >= b) return (a + b) / 2;
    if (c <= a) return c;
    return ((c * c - a * a) / 2 + c * (b - c)) / (b - a);
}

/* E[min(L, c)] for L = 5 (hi/5)^y, y ~ U(0, 1) (log-uniform on [5, hi]): the density of L is
 * 1 / (l ln(hi/5)), so E[L; L < c] = (c - 5) / ln(hi/5) and P(L >= c) = ln(hi/c) / ln(hi/5). */
static double loguniform_min(double hi, double c)
{
    double span = log(hi / 5);
    if (c <= 5) return c;
    if (c >= hi) return (hi - 5) / span;
    return (c - 5) / span + c * log(hi / c) / span;
}

/* The same mixture as synth_draw_wr, each component's E[min(., c)] in closed form. The main
 * part's draws are capped at WR_CAP, so its clip point is min(c, WR_CAP). */
double synth_expected_clipped(const synth_model *m, const synth_regime *g, int64_t u, int64_t i,
                              double c, double shift)
{
    double ps = g->skip * m->i_skip[i], mu = g->mu + synth_logm(m, u, i) + shift;
    double cm = c < WR_CAP ? c : WR_CAP;
    double main = (1 - g->heavy_p) * lognormal_min(mu, g->noise, cm) +
                  g->heavy_p * lognormal_min(mu, g->noise * g->heavy_k, cm);
    return ps * (1 - P_ZERO) * skip_min(c) + g->partial * uniform_min(0.1, 0.4, c) +
           g->outlier * loguniform_min(m->i_out_hi[i], c) +
           (1 - ps - g->partial - g->outlier) * main;
}

double synth_draw_wr(const synth_model *m, const synth_regime *g, int64_t i, double logm,
                     rp_rng *r, int32_t *main_part)
{
    double ps = g->skip * m->i_skip[i], x = rp_rng_next_uniform(r), y = rp_rng_next_uniform(r);
    double wr;
    int32_t main = 0;
    if (x < ps * P_ZERO) wr = 0;
    else if (x < ps) wr = 0.1 * pow(y, 1.5);
    else if (x < ps + g->partial) wr = 0.1 + 0.3 * y;
    else if (x < ps + g->partial + g->outlier) wr = 5 * exp(y * log(m->i_out_hi[i] / 5));
    else {
        double z = rp_rng_next_normal(r);
        if (y < g->heavy_p) z *= g->heavy_k;
        wr = exp(g->mu + logm + g->noise * z);
        if (wr > WR_CAP) wr = WR_CAP;
        main = 1;
    }
    if (main_part) *main_part = main;
    return wr;
}

/* One watch: play_duration in ms from the regime's mixture. */
static int32_t draw_play(const synth_model *m, const synth_regime *g, int64_t i, double logm,
                         rp_rng *r, int32_t *main_part)
{
    return (int32_t)llround(synth_draw_wr(m, g, i, logm, r, main_part) * m->i_dur[i]);
}

/* Hour-of-day curve (relative weights, a day-night cycle) and its cumulative share, built once
 * from the weights so the draw is over exactly their sum. */
static const double HOUR_W[24] = {4, 2.5, 1.5, 1, 0.8, 0.8, 1.2, 2.2, 3, 3.4, 3.6, 3.8,
                                  4.4, 4.4, 4, 4, 4.2, 4.4, 4.8, 5.4, 6, 6.4, 6.2, 5.2};

double synth_hour_share(int h)
{
    double s = 0;
    for (int k = 0; k < 24; k++) s += HOUR_W[k];
    return h >= 0 && h < 24 ? HOUR_W[h] / s : 0;
}

static int draw_hour(rp_rng *r)
{
    static double cum[24];
    static int init = 0;
    if (!init) { /* idempotent: every thread computes the same table */
        double s = 0;
        for (int h = 0; h < 24; h++) cum[h] = (s += HOUR_W[h]);
        for (int h = 0; h < 24; h++) cum[h] /= s;
        init = 1;
    }
    double x = rp_rng_next_uniform(r);
    int h = 0;
    while (h < 23 && cum[h] <= x) h++;
    return h;
}

/* Time of a view: a day in the three windows (Jul 5-12, Aug 1-10, Aug 27-Sep 5), an hour of
 * the day-night curve, a millisecond. */
int64_t synth_draw_time(rp_rng *r)
{
    int d = (int)floor(rp_rng_next_uniform(r) * 28);
    int day = d < 8 ? d : d < 18 ? 27 + (d - 8) : 53 + (d - 18);
    int64_t ms = (int64_t)draw_hour(r) * 3600000 + (int64_t)rp_rng_next_below(r, 3600000);
    return (SYNTH_DAY0_EPOCH + (int64_t)day * 86400) * 1000 + ms;
}

static int geom(rp_rng *r, double mean)
{
    double q = mean / (1 + mean);
    int k = 0;
    while (k < 1000 && rp_rng_next_uniform(r) < q) k++;
    return k;
}

/* Row order within a user: by time (empty times last), then video, then play_duration. The
 * 64-bit key packs time since day 0 (33 bits of ms) and the video (31 bits); rows equal in key
 * and play are identical copies, so any correct sort gives the same bytes. */
static uint64_t row_key(const synth_row *r)
{
    uint64_t t = r->ts_ms < 0 ? (1ULL << 33) - 1 : (uint64_t)(r->ts_ms - SYNTH_DAY0_EPOCH * 1000);
    return t << 31 | (uint64_t)r->item;
}

static int row_less(const synth_row *x, uint64_t kx, const synth_row *y, uint64_t ky)
{
    return kx != ky ? kx < ky : x->play < y->play;
}

/* Bottom-up merge sort of rows by (key, play) through a scratch array (no callbacks). */
static int sort_rows(synth_row *rows, size_t n)
{
    if (n < 2) return RP_OK;
    synth_row *tmp = malloc(n * sizeof *tmp);
    uint64_t *key = malloc(n * sizeof *key), *ktmp = malloc(n * sizeof *ktmp);
    if (tmp == NULL || key == NULL || ktmp == NULL) {
        free(tmp);
        free(key);
        free(ktmp);
        return RP_ERR_NOMEM;
    }
    for (size_t k = 0; k < n; k++) key[k] = row_key(&rows[k]);
    synth_row *src = rows, *dst = tmp;
    uint64_t *ks = key, *kd = ktmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                int take_b = row_less(&src[b], ks[b], &src[a], ks[a]);
                size_t j = take_b ? b++ : a++;
                dst[o] = src[j];
                kd[o++] = ks[j];
            }
            while (a < mid) { dst[o] = src[a]; kd[o++] = ks[a++]; }
            while (b < hi) { dst[o] = src[b]; kd[o++] = ks[b++]; }
        }
        synth_row *t = src; src = dst; dst = t;
        uint64_t *kt = ks; ks = kd; kd = kt;
    }
    if (src != rows) memcpy(rows, src, n * sizeof *rows);
    free(tmp);
    free(key);
    free(ktmp);
    return RP_OK;
}

static int push_row(synth_row **rows, size_t *cap, size_t *n, synth_row v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        synth_row *p = realloc(*rows, nc * sizeof *p);
        if (p == NULL) return RP_ERR_NOMEM;
        *rows = p;
        *cap = nc;
    }
    (*rows)[(*n)++] = v;
    return RP_OK;
}

static int emit_pair(const synth_model *m, int64_t u, int64_t i, double rho, synth_row **rows,
                     size_t *cap, size_t *n)
{
    int rc = RP_OK;
    rp_rng r;
    rp_rng_init(&r, m->seed, ST("pair"), (uint64_t)(u * m->n_items + i) << 14);
    double logm = synth_logm(m, u, i);
    int views = 1 + geom(&r, rho);
    for (int v = 0; v < views; v++) {
        synth_row row = {.item = (int32_t)i, .ts_ms = synth_draw_time(&r)};
        row.play = draw_play(m, &SYNTH_BIG, i, logm, &r, &row.main_part);
        if (rp_rng_next_uniform(&r) < 0.001) row.shift = rp_rng_next_uniform(&r) < 0.5 ? -1 : 1;
        int copies = 1 + geom(&r, DELTA);
        for (int c = 0; c < copies; c++) RP_CALL(push_row(rows, cap, n, row));
    }
cleanup:
    return rc;
}

/* One pass over the videos: pairs selected with probability min(1, c w_i), their rows appended.
 * The selection draw is keyed by the pair, so a larger c selects a superset. */
static int select_pairs(const synth_model *m, int64_t u, double c, double rho, synth_row **rows,
                        size_t *cap, size_t *n)
{
    int rc = RP_OK;
    int is_small = m->u_small[u] >= 0;
    uint64_t ssel = ST("select");
    *n = 0;
    for (int64_t i = 0; i < m->n_items; i++) {
        if (is_small && m->i_small[i] >= 0) continue; /* big and small share no pair */
        double p = c * m->i_weight[i];
        if (p < 1 && rp_rng_uniform(m->seed, ssel, (uint64_t)(u * m->n_items + i)) >= p) continue;
        RP_CALL(emit_pair(m, u, i, rho, rows, cap, n));
    }
cleanup:
    return rc;
}

int synth_user_big(const synth_model *m, int64_t u, synth_row **rows, size_t *cap, size_t *n)
{
    int rc = RP_OK;
    const double *tab = m->u_small[u] >= 0 ? m->tab_ns : m->tab_all;
    double avail = tab[m->ntab - 1], rho = RHO;
    double uniq = m->u_rows[u] / ((1 + RHO) * (1 + DELTA));
    if (uniq > 0.8 * avail) { /* heavy users: fewer distinct videos, more repeat views */
        uniq = 0.8 * avail;
        rho = m->u_rows[u] / (uniq * (1 + DELTA)) - 1;
    }
    double c = invert_table(m, tab, uniq);
    RP_CALL(select_pairs(m, u, c, rho, rows, cap, n));
    /* KuaiRec keeps only users with >= 100 rows (scaled: m->min_rows): a user the Bernoulli
     * draw left short widens its selection in small steps (a superset each time) until it
     * reaches the floor, so the minimum lands just on it. Bounded: tiny video sets may not
     * reach it. */
    for (int step = 0; step < 200 && *n < (size_t)m->min_rows; step++) {
        c *= 1.01 + 0.5 * (double)(m->min_rows - (int64_t)*n) / m->min_rows;
        RP_CALL(select_pairs(m, u, c, rho, rows, cap, n));
    }
    RP_CALL(sort_rows(*rows, *n));
    synth_seq_apply_big(m, u, *rows, *n);
cleanup:
    return rc;
}

#define SMALL_MISSING 0.0038 /* 17,827 of 4,694,397 cells */
#define SMALL_EMPTY 0.0389   /* rows with empty time, date and timestamp */

int64_t synth_small_count(const synth_model *m, int64_t su)
{
    int64_t u = m->small_users[su], c = 0;
    uint64_t s = ST("smissing");
    for (int64_t j = 0; j < m->n_small_items; j++)
        c += rp_rng_uniform(m->seed, s, (uint64_t)(u * m->n_items + m->small_items[j])) >=
             SMALL_MISSING;
    return c;
}

int synth_user_small(const synth_model *m, int64_t su, synth_row **rows, size_t *cap,
                     size_t *n)
{
    int rc = RP_OK;
    int64_t u = m->small_users[su];
    uint64_t smiss = ST("smissing"), sempty = ST("sempty");
    *n = 0;
    for (int64_t j = 0; j < m->n_small_items; j++) {
        int64_t i = m->small_items[j];
        uint64_t key = (uint64_t)(u * m->n_items + i);
        if (rp_rng_uniform(m->seed, smiss, key) < SMALL_MISSING) continue;
        rp_rng r;
        rp_rng_init(&r, m->seed, ST("spair"), key << 4);
        synth_row row = {.item = (int32_t)i, .ts_ms = synth_draw_time(&r)};
        row.play = draw_play(m, &SYNTH_SMALL, i, synth_logm(m, u, i), &r, &row.main_part);
        if (rp_rng_uniform(m->seed, sempty, key) < SMALL_EMPTY) row.ts_ms = -1;
        row.expect = expected_wr(m, &SYNTH_SMALL, u, i, 0.0);
        row.expect_clipped = synth_expected_clipped(m, &SYNTH_SMALL, u, i, m->clip_max, 0.0);
        row.expect_clipped_train = synth_expected_clipped(m, &SYNTH_BIG, u, i, m->clip_max, 0.0);
        RP_CALL(push_row(rows, cap, n, row));
    }
    RP_CALL(sort_rows(*rows, *n));
    RP_CALL(synth_seq_apply_small(m, u, *rows, *n));
cleanup:
    return rc;
}
