/* rp_csr.h - the CSR groups of shards.h5 ("/train/by_user", "/test/by_item", ...) as every
 * reading stage needs them: the offsets vector, checked once against its entry arrays. */
#ifndef RP_CSR_H
#define RP_CSR_H

#include <hdf5.h>
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

#endif
