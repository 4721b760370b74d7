/* hybrid_fixture.h - tiny planted inputs for the rp-hybrid and rp-recommend tests and benchmark:
 * a shards.h5 and dot-form model files written with rp_h5. Not used by the programs. */
#ifndef HYBRID_FIXTURE_H
#define HYBRID_FIXTURE_H

#include <mpi.h>
#include <stdint.h>

#define HYB_FX_D 3 /* latent width of the planted preferences */

/* hyb_fixture_truth - the planted normalised preference of (u, i) in [0, 1]. */
double hyb_fixture_truth(int64_t u, int64_t i, uint64_t seed);

/* hyb_fixture_shards - shards.h5 with nu users and ni items: each pair is in /train with
 * probability p_train, else in /valid with probability 0.1, else in /test with 0.1; value =
 * truth + small noise (clamped). Raw ids: user 10*u + 3, item 7*i + 1. Collective. */
int hyb_fixture_shards(MPI_Comm comm, const char *path, int64_t nu, int64_t ni, double p_train,
                       uint64_t seed);

/* hyb_fixture_model - a dot-form model file (schema e.g. "recpipe.als") whose predictions are
 * the truth's dot part with gaussian noise of sd `noise` on the user factors, plus `extra`
 * random extra columns (more width). Collective. */
int hyb_fixture_model(MPI_Comm comm, const char *path, const char *schema, int64_t nu,
                      int64_t ni, int extra, double noise, uint64_t seed);

/* hyb_fixture_poke_last - rank 0 overwrites the last element of the 1-D dataset `name` of the
 * closed file path with v (converted to the dataset's type) through the serial driver, to make
 * a bad input. Collective (a broadcast). Returns 1 on success on every rank, else 0. */
int hyb_fixture_poke_last(MPI_Comm comm, const char *path, const char *name, int64_t v);

#endif
