/* als_fixture.c - bin/test-als_fixture: write a planted-model shards.h5 (tests/e2e/als*.sh,
 * bench/bench-als.sh).
 * Usage: als-fixture OUT N_USERS N_ITEMS [DENSITY [K_TRUE [SIGMA [SEED]]]] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "als_fixture.h"
#include "rp_err.h"
#include "rp_h5.h"
#include "rp_log.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1, rc = RP_ERR_USAGE;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    rp_log_init("als-fixture", rank, size);
    rp_h5_init();
    if (argc >= 4) {
        als_fixture fx = als_fixture_default(atoll(argv[2]), atoll(argv[3]));
        if (argc > 4) fx.density = atof(argv[4]);
        if (argc > 5) fx.k_true = atoi(argv[5]);
        if (argc > 6) fx.sigma = atof(argv[6]);
        if (argc > 7) fx.seed = (uint64_t)atoll(argv[7]);
        rc = als_fixture_write(MPI_COMM_WORLD, argv[1], &fx);
    } else if (rank == 0) {
        fprintf(stderr, "usage: als-fixture OUT N_USERS N_ITEMS [DENSITY [K_TRUE [SIGMA [SEED]]]]\n");
    }
    MPI_Finalize();
    return rc;
}
