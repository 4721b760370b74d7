/* rp_records.c - allgather of fixed-size records in rank order (rp-features, rp-synth --side). */
#include "rp_records.h"

#include <stdlib.h>

#include "rp_err.h"
#include "rp_mpi.h"

int rp_records_allgather(MPI_Comm comm, const void *local, int64_t nlocal, size_t recsz,
                         void **all, int64_t *nall)
{
    int rc = RP_OK, size = 1, mine = 0;
    int *counts = NULL, *displs = NULL;
    char *out = NULL;
    RP_MPI(MPI_Comm_size(comm, &size));
    rc = rp_int_cast(nlocal * (int64_t)recsz, &mine);
    counts = rp_malloc((size_t)size * sizeof *counts);
    displs = rp_malloc((size_t)size * sizeof *displs);
    RP_AGREE_LOCAL(comm, counts == NULL || displs == NULL);
    RP_MPI(MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm));
    int64_t total = 0;
    for (int p = 0; p < size; p++) {
        RP_CALL(rp_int_cast(total, &displs[p]));
        total += counts[p];
    }
    /* MPI_Allgatherv counts and displacements are ints: the whole table must fit one. */
    RP_REQUIRE(total < 2000000000, RP_ERR_INTERNAL, "gather of %lld bytes too large",
               (long long)total);
    out = rp_malloc((size_t)total + 1);
    RP_AGREE_LOCAL(comm, out == NULL);
    RP_MPI(MPI_Allgatherv(local, mine, MPI_BYTE, out, counts, displs, MPI_BYTE, comm));
    *all = out;
    out = NULL;
    *nall = total / (int64_t)recsz;
cleanup:
    free(out);
    free(displs);
    free(counts);
    return rc;
}
