/* test_rp_csr_mpi.c - rp_csr_read_offsets under 1..4 ranks: a good CSR group reads whole on every
 * rank with its nnz; wrong length, a non-zero start, a decrease and an end past the entry array
 * all fail with RP_ERR_DATA on every rank (no hang), and *off stays untouched. */
#include <stdlib.h>

#include "rp_csr.h"
#include "rp_err.h"
#include "rp_h5.h"
#include "rp_test.h"

int test_rp_csr_mpi_register(void);

/* A file with /g/offsets = off[n] and /g/item of `nnz` zeros. */
static int write_group(const char *path, const int64_t *off, int64_t n, int64_t nnz)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    hid_t f = H5I_INVALID_HID;
    int32_t *item = calloc((size_t)(nnz > 0 ? nnz : 1), sizeof *item);
    int rc = rp_h5_create(comm, path, &f);
    if (rc == RP_OK) rc = rp_h5_write_replicated(comm, f, "/g/offsets", RP_I64, 1, &n, off);
    if (rc == RP_OK) rc = rp_h5_write_replicated(comm, f, "/g/item", RP_I32, 1, &nnz, item);
    rc = rp_h5_commit(comm, &f, path, rc);
    free(item);
    return rc;
}

static int read_group(const char *path, int64_t nrows, int64_t **off, int64_t *nnz)
{
    hid_t f = H5I_INVALID_HID;
    int rc = rp_h5_open(MPI_COMM_WORLD, path, &f);
    if (rc == RP_OK) rc = rp_csr_read_offsets(f, "/g", "item", nrows, off, nnz);
    rp_h5_close(&f);
    return rc;
}

static void csr_offsets_good_and_bad(void)
{
    const char *p = rp_test_path("csr.h5");
    const int64_t good[4] = {0, 2, 2, 5}, dec[4] = {0, 3, 2, 5}, start[4] = {1, 2, 2, 5};
    int64_t *off = NULL, nnz = -1;
    if (write_group(p, good, 4, 5) != RP_OK) { /* agreed rc: every rank leaves alike */
        CU_FAIL("cannot write the CSR file");
        return;
    }
    CU_ASSERT_EQUAL(read_group(p, 3, &off, &nnz), RP_OK);
    CU_ASSERT(off != NULL && off[1] == 2 && off[3] == 5);
    CU_ASSERT_EQUAL(nnz, 5);
    free(off);
    off = NULL;
    CU_ASSERT_EQUAL(read_group(p, 4, &off, NULL), RP_ERR_DATA); /* length is not rows + 1 */
    CU_ASSERT_PTR_NULL(off);
    CU_ASSERT_EQUAL(write_group(p, good, 4, 4), RP_OK); /* ends past the entry array */
    CU_ASSERT_EQUAL(read_group(p, 3, &off, NULL), RP_ERR_DATA);
    CU_ASSERT_EQUAL(write_group(p, dec, 4, 5), RP_OK);
    CU_ASSERT_EQUAL(read_group(p, 3, &off, NULL), RP_ERR_DATA);
    CU_ASSERT_EQUAL(write_group(p, start, 4, 5), RP_OK);
    CU_ASSERT_EQUAL(read_group(p, 3, &off, NULL), RP_ERR_DATA);
    CU_ASSERT_PTR_NULL(off);
}

int test_rp_csr_mpi_register(void)
{
    RP_ADD_SUITE("rp_csr_mpi", RP_T(csr_offsets_good_and_bad));
    return 0;
}
