/* test_rp_records_mpi.c - rp_records_allgather under 1..4 ranks: uneven (and empty) parts come
 * back whole on every rank, in rank order. */
#include <stdlib.h>

#include "rp_err.h"
#include "rp_records.h"
#include "rp_test.h"

int test_rp_records_mpi_register(void);

typedef struct rec {
    int64_t id;
    int32_t rank, k;
} rec;

static void records_rank_order(void)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* Rank r holds r records (rank 0 none), ids continuing where the lower ranks stopped. */
    rec mine[8];
    int64_t first = (int64_t)rank * (rank - 1) / 2;
    for (int k = 0; k < rank; k++) mine[k] = (rec){first + k, rank, k};
    void *all = NULL;
    int64_t nall = -1;
    CU_ASSERT_EQUAL(rp_records_allgather(MPI_COMM_WORLD, mine, rank, sizeof *mine, &all, &nall),
                    RP_OK);
    CU_ASSERT_EQUAL(nall, (int64_t)size * (size - 1) / 2);
    const rec *r = all;
    int ok = r != NULL || nall == 0;
    for (int64_t x = 0; ok && x < nall; x++) ok = r[x].id == x && r[x].k < r[x].rank;
    for (int64_t x = 1; ok && x < nall; x++) ok = r[x].rank >= r[x - 1].rank;
    CU_ASSERT(ok);
    free(all);
}

int test_rp_records_mpi_register(void)
{
    RP_ADD_SUITE("rp_records_mpi", RP_T(records_rank_order));
    return 0;
}
