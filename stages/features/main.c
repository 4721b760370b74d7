/* main.c - rp-features: user and video feature tables (see features_run.c). */
#include <mpi.h>

#include "features_stage.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int status = features_run(MPI_COMM_WORLD, argc, argv);
    MPI_Finalize();
    return status;
}
