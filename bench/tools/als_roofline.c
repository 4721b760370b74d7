/* als_roofline.c - bin/bench-als_roofline, the roofline of bench/bench-als.sh: every rank times
 * a square DGEMM and SGEMM (single-threaded OpenBLAS, all ranks at once, like rp-als), rank 0
 * prints the sums.
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
    double r[4];
    for (int i = 0; i < 4; i++) { /* fp64 wall, fp32 wall, fp64 CPU, fp32 CPU */
        MPI_Barrier(MPI_COMM_WORLD);
        r[i] = rp_la_gemm_rate(n, i % 2 == 0, reps, i >= 2);
    }
    MPI_Allreduce(MPI_IN_PLACE, r, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("dgemm_gflops=%.2f sgemm_gflops=%.2f dgemm_cpu_gflops=%.2f sgemm_cpu_gflops=%.2f\n",
               r[0], r[1], r[2], r[3]);
    MPI_Finalize();
    return 0;
}
