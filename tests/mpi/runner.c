/* runner.c - the MPI test runner: every rank runs every tests/mpi/test_<mod>_mpi.c suite; rank 0
 * reports; the exit status reflects failures on any rank (reduced with MPI_MAX). */
#include <CUnit/Basic.h>
#include <mpi.h>
#include <stdio.h>

#include "rp_h5.h"
#include "rp_log.h"
#include "rp_test.h"

#define RP_SUITE(name) int name##_register(void);
#include "mpi_suites.inc"
#undef RP_SUITE


int main(int argc, char **argv)
{
    int rank = 0, size = 1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rp_log_init("test-mpi", rank, size);
    rp_h5_init();
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
#define RP_SUITE(name)                                                          \
    if (name##_register() != 0) return 2;
#include "mpi_suites.inc"
#undef RP_SUITE
    CU_basic_set_mode(rank == 0 ? CU_BRM_VERBOSE : CU_BRM_SILENT);
    if (argc > 1) {
        CU_pSuite s = CU_get_suite(argv[1]);
        if (s == NULL) return 2;
        CU_basic_run_suite(s);
    } else {
        CU_basic_run_tests();
    }
    int failed = (int)(CU_get_number_of_failures() + CU_get_number_of_tests_failed());
    if (failed && rank != 0) fprintf(stderr, "test-mpi: rank %d/%d: %d failures\n", rank, size, failed);
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    CU_cleanup_registry();
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) rp_test_cleanup();
    MPI_Finalize();
    return failed ? 1 : 0;
}
