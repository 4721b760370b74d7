/* rp_rng.c - counter-based generator: SplitMix64-style finalisers over (seed, stream, index). */
#include "rp_rng.h"

#include <math.h>

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* (seed, stream)'s part of rp_rng_hash: the same for every draw of a cursor. */
static inline uint64_t key_of(uint64_t seed, uint64_t stream)
{
    uint64_t k = mix64(seed + 0x9E3779B97F4A7C15ULL);
    return mix64(k ^ (stream * 0xD6E8FEB86659FD93ULL + 0x632BE59BD9B4E019ULL));
}

static inline uint64_t hash_keyed(uint64_t key, uint64_t idx)
{
    return mix64(key ^ (idx * 0x9E3779B97F4A7C15ULL + 0xD1B54A32D192ED03ULL));
}

uint64_t rp_rng_hash(uint64_t seed, uint64_t stream, uint64_t idx)
{
    /* Three chained finalisers: each key component is fully avalanched before the next enters. */
    return hash_keyed(key_of(seed, stream), idx);
}

/* 53 random bits, offset by half a step so 0 and 1 are never returned. */
static inline double uniform_keyed(uint64_t key, uint64_t idx)
{
    return ((double)(hash_keyed(key, idx) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static inline double normal_keyed(uint64_t key, uint64_t idx)
{
    double u1 = uniform_keyed(key, 2 * idx), u2 = uniform_keyed(key, 2 * idx + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double rp_rng_uniform(uint64_t seed, uint64_t stream, uint64_t idx)
{
    return uniform_keyed(key_of(seed, stream), idx);
}

double rp_rng_normal(uint64_t seed, uint64_t stream, uint64_t idx)
{
    return normal_keyed(key_of(seed, stream), idx);
}

void rp_rng_init(rp_rng *r, uint64_t seed, uint64_t stream, uint64_t start)
{
    r->seed = seed;
    r->stream = stream;
    r->ctr = start;
    r->key = key_of(seed, stream);
}

/* A cursor's draws use its key: one finaliser per draw instead of three. */
uint64_t rp_rng_next(rp_rng *r) { return hash_keyed(r->key, r->ctr++); }
double rp_rng_next_uniform(rp_rng *r) { return uniform_keyed(r->key, r->ctr++); }
double rp_rng_next_normal(rp_rng *r) { return normal_keyed(r->key, r->ctr++); }

/* Draw with counter *ctr under key: rp_rng_next_below's value. Rejection keeps it unbiased:
 * draws from the incomplete top bucket, at or above UINT64_MAX - UINT64_MAX % n, are dropped.
 * That limit is above UINT64_MAX - n, so it is computed (a second division) only for the
 * draws beyond that, one in 2^64 / n. */
static inline uint64_t below_keyed(uint64_t key, uint64_t *ctr, uint64_t n)
{
    for (;;) {
        uint64_t x = hash_keyed(key, (*ctr)++);
        if (x <= UINT64_MAX - n || x < UINT64_MAX - UINT64_MAX % n) return x % n;
    }
}

uint64_t rp_rng_next_below(rp_rng *r, uint64_t n)
{
    return below_keyed(r->key, &r->ctr, n);
}

/* Fisher-Yates in blocks of SHUFFLE_BLOCK swaps on the given entries: draw the block's targets,
 * prefetch them, swap in the plain loop's order. */
enum { SHUFFLE_BLOCK = 32 };
#define RP_SHUFFLE_BODY(T)                                                              \
    do {                                                                                \
        uint64_t key = r->key, j[SHUFFLE_BLOCK];                                        \
        for (int64_t i = n - 1; i > 0;) {                                               \
            int nb = i < SHUFFLE_BLOCK ? (int)i : SHUFFLE_BLOCK;                        \
            for (int b = 0; b < nb; b++) {                                              \
                j[b] = below_keyed(key, &r->ctr, (uint64_t)(i - b) + 1);                \
                __builtin_prefetch(perm + j[b], 1);                                     \
            }                                                                           \
            for (int b = 0; b < nb; b++, i--) {                                         \
                T t = perm[i];                                                          \
                perm[i] = perm[j[b]];                                                   \
                perm[j[b]] = t;                                                         \
            }                                                                           \
        }                                                                               \
    } while (0)

void rp_rng_permute_u32(rp_rng *r, uint32_t *perm, int64_t n) { RP_SHUFFLE_BODY(uint32_t); }

void rp_rng_shuffle_u32(rp_rng *r, uint32_t *perm, int64_t n)
{
    for (int64_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    rp_rng_permute_u32(r, perm, n);
}

void rp_rng_shuffle_i64(rp_rng *r, int64_t *perm, int64_t n)
{
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    RP_SHUFFLE_BODY(int64_t);
}

uint64_t rp_rng_stream(const char *name)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return mix64(h);
}
