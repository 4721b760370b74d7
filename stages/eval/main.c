/* main.c - rp-eval: score baselines and trained models on the test split (see eval_run.c). */
#include <mpi.h>

#include "eval.h"
#include "rp_err.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rc = eval_run(MPI_COMM_WORLD, argc, argv);
    MPI_Finalize();
    return RP_EXIT_CODE(rc);
}
