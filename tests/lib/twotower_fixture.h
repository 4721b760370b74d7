/* twotower_fixture.h - planted inputs for rp-twotower's tests and benchmark (tests/lib: linked
 * into the test runners, tools and benchmarks, never into the programs). */
#ifndef TWOTOWER_FIXTURE_H
#define TWOTOWER_FIXTURE_H

#include <mpi.h>
#include <stdint.h>

/* twotower_fixture - a planted synthetic problem in the shards.h5/features.h5 schema, for
 * tests and the benchmark: value = clamp01(0.5 + 0.3*A[ucat0][icat0] + 0.15*tag effect
 * + 0.1*(unum0 - 0.5) + noise). Collective (rank 0 generates and writes). */
typedef struct tt_fixture {
    int64_t n_users, n_items, train_per_user, valid_per_user;
    int n_ucat, n_unum, n_icat, n_inum, tag_len;
    int32_t ucard, icard, tag_card; /* cardinality of every categorical column, of tags */
    int with_tags;
    uint64_t seed;
    double noise;
} tt_fixture;
void twotower_fixture_default(tt_fixture *fx);
int twotower_fixture_write(MPI_Comm comm, const tt_fixture *fx, const char *shards,
                           const char *features);

#endif
