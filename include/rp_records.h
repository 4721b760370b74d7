/* rp_records.h - small tables of fixed-size records that every rank parsed a part of (side CSV
 * files split by byte range) and every rank then needs whole, in file order. */
#ifndef RP_RECORDS_H
#define RP_RECORDS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* rp_records_allgather - concatenate every rank's nlocal records of recsz bytes in rank order
 * (rank 0's first: file order when ranks hold consecutive byte ranges) onto every rank.
 * Collective. Out: *all (allocated here, caller frees), *nall; both untouched on error.
 * Returns RP_OK, RP_ERR_INTERNAL (more than 2 GB in all, out of memory, MPI failure). */
int rp_records_allgather(MPI_Comm comm, const void *local, int64_t nlocal, size_t recsz,
                         void **all, int64_t *nall);

#endif
