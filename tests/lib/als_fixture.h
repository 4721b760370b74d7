/* als_fixture.h - synthetic shards.h5 files with a planted biased low-rank model, written in
 * parallel exactly per rp_schema.h: the rp-als tests and benchmark (KuaiRec-shaped at full
 * size) use them in place of rp-shard output. */
#ifndef ALS_FIXTURE_H
#define ALS_FIXTURE_H

#include <mpi.h>
#include <stdint.h>

typedef struct als_fixture {
    int64_t n_users, n_items;
    double density;    /* mean fraction of pairs observed (varies per user and item) */
    int k_true;        /* rank of the planted model */
    double signal;     /* std of each planted term (biases and factor dot product) */
    double sigma;      /* noise std */
    double mu;         /* planted global mean */
    double valid_frac; /* fraction of observed pairs in /valid */
    double test_frac;  /* fraction in /test */
    uint64_t seed;
} als_fixture;

/* als_fixture_default - a small planted problem (n_users x n_items). */
als_fixture als_fixture_default(int64_t n_users, int64_t n_items);

/* als_fixture_value - the planted noise-free value of (u, i). Pure function. */
double als_fixture_truth(const als_fixture *fx, int64_t u, int64_t i);

/* als_fixture_write - write the whole shards.h5 at path (no .partial). Collective.
 * Returns RP_OK or an RP_ERR_* code. */
int als_fixture_write(MPI_Comm comm, const char *path, const als_fixture *fx);

#endif
