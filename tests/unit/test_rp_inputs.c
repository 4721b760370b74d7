/* test_rp_inputs.c - rp_inputs: optional-file existence and lineage lines (format, one hash per
 * file even when named twice, missing file, full buffer left unchanged). */
#include <stdio.h>
#include <string.h>

#include "rp_err.h"
#include "rp_inputs.h"
#include "rp_sha256.h"
#include "rp_test.h"

int test_rp_inputs_register(void);

static void exists(void)
{
    const char *p = rp_test_path("in_exists.txt");
    rp_test_write_file(p, "x\n");
    CU_ASSERT_EQUAL(rp_inputs_exists(MPI_COMM_WORLD, p), 1);
    CU_ASSERT_EQUAL(rp_inputs_exists(MPI_COMM_WORLD, rp_test_path("in_none.txt")), 0);
    CU_ASSERT_EQUAL(rp_inputs_exists(MPI_COMM_WORLD, NULL), 0);
}

static void lineage_lines(void)
{
    const char *a = rp_test_path("in_a.txt"), *b = rp_test_path("in_b.txt");
    rp_test_write_file(a, "abc");
    rp_test_write_file(b, "");
    char buf[8192] = "", want[8192], ha[65], hb[65];
    rp_sha256_hex("abc", 3, ha);
    rp_sha256_hex("", 0, hb);
    CU_ASSERT_EQUAL(rp_inputs_lineage(MPI_COMM_WORLD, buf, sizeof buf, "shards", a), RP_OK);
    CU_ASSERT_EQUAL(rp_inputs_lineage(MPI_COMM_WORLD, buf, sizeof buf, "model", b), RP_OK);
    CU_ASSERT_EQUAL(rp_inputs_lineage(MPI_COMM_WORLD, buf, sizeof buf, "model", b), RP_OK);
    snprintf(want, sizeof want, "shards=%s sha256=%s\nmodel=%s sha256=%s", a, ha, b, hb);
    CU_ASSERT_STRING_EQUAL(buf, want);
    /* The same file under another role is another line. */
    CU_ASSERT_EQUAL(rp_inputs_lineage(MPI_COMM_WORLD, buf, sizeof buf, "truth", b), RP_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\ntruth="));
    CU_ASSERT_EQUAL(rp_inputs_lineage(MPI_COMM_WORLD, buf, sizeof buf, "x",
                                      rp_test_path("in_none.txt")), RP_ERR_NOINPUT);
    char small[100] = "";
    CU_ASSERT_EQUAL(rp_inputs_lineage(MPI_COMM_WORLD, small, sizeof small, "shards", a),
                    RP_ERR_INTERNAL);
    CU_ASSERT_STRING_EQUAL(small, "");
}

int test_rp_inputs_register(void)
{
    RP_ADD_SUITE("rp_inputs", RP_T(exists), RP_T(lineage_lines));
    return 0;
}
