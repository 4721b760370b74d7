/* runner.c - the unit test runner: registers every tests/unit/test_<mod>.c suite (list generated
 * by make), runs them, exits non-zero when any assertion failed. MPI is initialised as a single
 * process because the library's helpers take a communicator. */
#include <CUnit/Basic.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "rp_h5.h"
#include "rp_log.h"
#include "rp_test.h"

#define RP_SUITE(name) int name##_register(void);
#include "unit_suites.inc"
#undef RP_SUITE


int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rp_log_init("test-unit", 0, 1);
    rp_h5_init();
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
#define RP_SUITE(name)                                                          \
    if (name##_register() != 0) {                                               \
        fprintf(stderr, "cannot register %s\n", #name);                         \
        return 2;                                                               \
    }
#include "unit_suites.inc"
#undef RP_SUITE
    if (argc > 1) {
        /* Run one suite by name: test-unit <suite> */
        CU_pSuite s = CU_get_suite(argv[1]);
        if (s == NULL) {
            fprintf(stderr, "no suite %s\n", argv[1]);
            return 2;
        }
        CU_basic_set_mode(CU_BRM_VERBOSE);
        CU_basic_run_suite(s);
    } else {
        CU_basic_set_mode(CU_BRM_VERBOSE);
        CU_basic_run_tests();
    }
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    rp_test_cleanup();
    MPI_Finalize();
    return failed ? 1 : 0;
}
