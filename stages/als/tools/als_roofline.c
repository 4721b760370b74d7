/* als_roofline.c - the roofline of bench/bench-als.sh: every rank times a square DGEMM and
 * SGEMM (single-threaded OpenBLAS, all ranks at once, like rp-als), rank 0 prints the sums.
 * Usage: als-roofline [N [REPS]] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "rp_la.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, n = argc > 1 ? atoi(argv[1]) : 1024, reps = argc > 2 ? atoi(argv[2]) : 5;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    rp_la_init(1);
    double r[2];
    MPI_Barrier(MPI_COMM_WORLD);
    r[0] = rp_la_gemm_rate(n, 1, reps);
    MPI_Barrier(MPI_COMM_WORLD);
    r[1] = rp_la_gemm_rate(n, 0, reps);
    MPI_Allreduce(MPI_IN_PLACE, r, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("dgemm_gflops=%.2f sgemm_gflops=%.2f\n", r[0], r[1]);
    MPI_Finalize();
    return 0;
}
