/* rp_rng.h - counter-based random numbers keyed by (seed, stream, index): a value depends only on
 * its key, never on which rank draws it or in what order, so results are rank-count independent.
 * Used by rp-synth (data), rp-als (initial factors), rp-twotower (init, shuffles). */
#ifndef RP_RNG_H
#define RP_RNG_H

#include <stdint.h>

/* rp_rng_hash - 64 well-mixed bits for (seed, stream, idx). Pure function. */
uint64_t rp_rng_hash(uint64_t seed, uint64_t stream, uint64_t idx);
/* rp_rng_uniform - uniform double in (0, 1) for the key. */
double rp_rng_uniform(uint64_t seed, uint64_t stream, uint64_t idx);
/* rp_rng_normal - standard normal for the key (Box-Muller on two derived uniforms). */
double rp_rng_normal(uint64_t seed, uint64_t stream, uint64_t idx);

/* A cursor over one stream: draws idx = ctr, ctr+1, ... Make one with rp_rng_init only (it
 * sets the cached key). */
typedef struct rp_rng {
    uint64_t seed;
    uint64_t stream;
    uint64_t ctr;
    uint64_t key;   /* (seed, stream)'s part of the hash, set by rp_rng_init */
} rp_rng;

void rp_rng_init(rp_rng *r, uint64_t seed, uint64_t stream, uint64_t start);
uint64_t rp_rng_next(rp_rng *r);
double rp_rng_next_uniform(rp_rng *r);
double rp_rng_next_normal(rp_rng *r);
/* rp_rng_next_below - uniform integer in [0, n), n > 0 (unbiased). */
uint64_t rp_rng_next_below(rp_rng *r, uint64_t n);

/* rp_rng_shuffle_u32 - perm[0..n) = a uniform random permutation of 0..n-1: Fisher-Yates from
 * the identity, swapping perm[i] with perm[rp_rng_next_below(r, i + 1)] for i = n-1 down to 1,
 * r advanced as by those calls. Exactly that loop's result, faster on tables beyond the cache:
 * the draws do not depend on the table, so a block of them is made first and its swap targets
 * prefetched (the plain loop waits for memory at every swap). */
void rp_rng_shuffle_u32(rp_rng *r, uint32_t *perm, int64_t n);
/* rp_rng_permute_u32 - the same swaps on the entries perm already holds: perm[i] becomes the
 * entry at position rp_rng_shuffle_u32's perm[i] (so a table of tagged indices is shuffled as
 * the indices would be). */
void rp_rng_permute_u32(rp_rng *r, uint32_t *perm, int64_t n);
/* rp_rng_shuffle_i64 - the same on int64 entries. */
void rp_rng_shuffle_i64(rp_rng *r, int64_t *perm, int64_t n);

/* rp_rng_stream - derive a stream id from a name ("als.init") so modules never collide. */
uint64_t rp_rng_stream(const char *name);

#endif
