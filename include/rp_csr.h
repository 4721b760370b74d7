/* rp_csr.h - the CSR groups of shards.h5 ("/train/by_user", "/test/by_item", ...) as every
 * reading stage needs them: the offsets vector, checked once against its entry arrays. */
#ifndef RP_CSR_H
#define RP_CSR_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

/* rp_csr_read_offsets - read "<grp>/offsets" (int64, nrows + 1 entries) whole on every rank and
 * check it is a CSR offset vector over "<grp>/<entries>" (e.g. "item" or "value"): starts at 0,
 * never decreases, ends at the length of the entry array. Every rank checks the same array, so
 * every rank fails alike and only rank 0 prints ("<file>: <grp>/offsets ..."): callers may then
 * read row blocks with rp_h5_read without a rank-local range failure. Collective.
 * Out: *off (allocated here, caller frees), *nnz (may be NULL); untouched on error.
 * Returns RP_OK, RP_ERR_DATA (missing dataset, bad shape or values), RP_ERR_IO. */
int rp_csr_read_offsets(hid_t file, const char *grp, const char *entries, int64_t nrows,
                        int64_t **off, int64_t *nnz);

/* This rank's contiguous block of rows of one CSR group, its rows balanced by nonzeros. */
typedef struct rp_csr_block {
    int64_t nrows;    /* global rows */
    int64_t *offsets; /* [nrows + 1], replicated */
    int64_t *cuts;    /* [size + 1]: rank p owns rows [cuts[p], cuts[p+1]) */
    int64_t r0, nr;   /* my rows */
    int32_t *idx;     /* my nonzeros' other index (user or item), NULL unless asked */
    double *val;      /* my nonzeros' normalised values */
} rp_csr_block;

/* rp_csr_block_read - this rank's block of rows of grp ("/train/by_item", nrows rows, cut by
 * rp_part_weighted on the offsets): its "value"s as double, and its idx_name entries ("user" or
 * "item", int32, checked in [0, idx_bound)) when idx_name is not NULL. Collective; the rc is
 * agreed. Out: *b (rp_csr_block_clear), cleared on error. Returns RP_OK, RP_ERR_DATA, RP_ERR_IO,
 * RP_ERR_NOMEM. */
int rp_csr_block_read(MPI_Comm comm, hid_t f, const char *grp, const char *idx_name,
                      int64_t idx_bound, int64_t nrows, rp_csr_block *b);
void rp_csr_block_clear(rp_csr_block *b);

#endif
