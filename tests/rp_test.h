/* rp_test.h - helpers shared by the unit and MPI test suites: temp directories, tiny files,
 * float comparison with size-scaled tolerances. */
#ifndef RP_TEST_H
#define RP_TEST_H

#include <CUnit/CUnit.h>
#include <stddef.h>

/* rp_test_tmpdir - a fresh directory under $TMPDIR (or /tmp) for this test; same path on every
 * rank of an MPI test (made by rank 0, broadcast). The runner removes it at exit. */
const char *rp_test_tmpdir(void);
/* rp_test_path - "<tmpdir>/<name>" in a static rotating buffer. */
const char *rp_test_path(const char *name);
/* rp_test_write_file - write text to path (rank 0 only in MPI tests; then barrier). */
void rp_test_write_file(const char *path, const char *text);
/* rp_test_close - |a-b| <= tol * (1 + |b|) */
int rp_test_close(double a, double b, double tol);
/* rp_test_cleanup - remove the temporary folder (the runners call it at exit). */
void rp_test_cleanup(void);

/* Suites register through one function named after their file: int test_<mod>_register(void)
 * (unit) or int test_<mod>_mpi_register(void) (MPI). Return 0 on success. */
#define RP_ADD_SUITE(name, ...)                                                 \
    do {                                                                        \
        CU_pSuite s_ = CU_add_suite(name, NULL, NULL);                          \
        if (s_ == NULL) return -1;                                              \
        struct { const char *n; CU_TestFunc f; } t_[] = {__VA_ARGS__};          \
        for (size_t i_ = 0; i_ < sizeof t_ / sizeof t_[0]; i_++)                \
            if (CU_add_test(s_, t_[i_].n, t_[i_].f) == NULL) return -1;         \
    } while (0)
#define RP_T(f) {#f, f}

#endif
