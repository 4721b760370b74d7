/* rp_rng.c - counter-based generator: SplitMix64-style finalisers over (seed, stream, index). */
#include "rp_rng.h"

#include <math.h>

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t rp_rng_hash(uint64_t seed, uint64_t stream, uint64_t idx)
{
    /* Three chained finalisers: each key component is fully avalanched before the next enters. */
    uint64_t k = mix64(seed + 0x9E3779B97F4A7C15ULL);
    k = mix64(k ^ (stream * 0xD6E8FEB86659FD93ULL + 0x632BE59BD9B4E019ULL));
    return mix64(k ^ (idx * 0x9E3779B97F4A7C15ULL + 0xD1B54A32D192ED03ULL));
}

double rp_rng_uniform(uint64_t seed, uint64_t stream, uint64_t idx)
{
    /* 53 random bits, offset by half a step so 0 and 1 are never returned. */
    return ((double)(rp_rng_hash(seed, stream, idx) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double rp_rng_normal(uint64_t seed, uint64_t stream, uint64_t idx)
{
    double u1 = rp_rng_uniform(seed, stream, 2 * idx);
    double u2 = rp_rng_uniform(seed, stream, 2 * idx + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void rp_rng_init(rp_rng *r, uint64_t seed, uint64_t stream, uint64_t start)
{
    r->seed = seed;
    r->stream = stream;
    r->ctr = start;
}

uint64_t rp_rng_next(rp_rng *r) { return rp_rng_hash(r->seed, r->stream, r->ctr++); }
double rp_rng_next_uniform(rp_rng *r) { return rp_rng_uniform(r->seed, r->stream, r->ctr++); }
double rp_rng_next_normal(rp_rng *r) { return rp_rng_normal(r->seed, r->stream, r->ctr++); }

uint64_t rp_rng_next_below(rp_rng *r, uint64_t n)
{
    /* Rejection keeps it unbiased: drop draws from the incomplete top bucket. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = rp_rng_next(r);
        if (x < limit) return x % n;
    }
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
