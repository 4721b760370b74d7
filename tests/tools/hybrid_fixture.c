/* hybrid_fixture.c - bin/test-hybrid_fixture: planted shards.h5, als.h5 and twotower.h5 in the
 * current folder from tests/lib/hybrid_fixture.c (tests/e2e/hybrid.sh,
 * bench/bench-recommend.sh).
 * Usage: test-hybrid_fixture N_USERS N_ITEMS P_TRAIN ALS_EXTRA TWOTOWER_EXTRA SEED */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "hybrid_fixture.h"
#include "rp_err.h"
#include "rp_h5.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rp_h5_init();
    int rc = RP_ERR_USAGE;
    if (argc == 7) {
        long nu = atol(argv[1]), ni = atol(argv[2]);
        double density = atof(argv[3]);
        int da = atoi(argv[4]), dt = atoi(argv[5]);
        unsigned long seed = strtoul(argv[6], NULL, 10);
        rc = hyb_fixture_shards(MPI_COMM_WORLD, "shards.h5", nu, ni, density, seed);
        if (rc == RP_OK)
            rc = hyb_fixture_model(MPI_COMM_WORLD, "als.h5", "recpipe.als", nu, ni, da, 0.3, seed);
        if (rc == RP_OK)
            rc = hyb_fixture_model(MPI_COMM_WORLD, "twotower.h5", "recpipe.twotower", nu, ni, dt,
                                   0.6, seed);
    } else {
        fprintf(stderr, "usage: test-hybrid_fixture N_USERS N_ITEMS P_TRAIN ALS_EXTRA "
                        "TWOTOWER_EXTRA SEED\n");
    }
    MPI_Finalize();
    return RP_EXIT_CODE(rc);
}
