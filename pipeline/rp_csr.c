/* rp_csr.c - checked CSR offsets of shards.h5 groups (rp-features, rp-eval, rp-hybrid,
 * rp-recommend, the baselines). */
#include "rp_csr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_part.h"

int rp_csr_read_offsets(hid_t file, const char *grp, const char *entries, int64_t nrows,
                        int64_t **off, int64_t *nnz)
{
    int rc = RP_OK, nd = 0;
    int64_t *o = NULL, od[2] = {0, 0}, ed[2] = {0, 0};
    char ods[512], eds[512], fname[1024];
    snprintf(ods, sizeof ods, "%s/offsets", grp);
    snprintf(eds, sizeof eds, "%s/%s", grp, entries);
    rp_h5_filename(file, fname, sizeof fname);
    RP_CALL(rp_h5_read_all(file, ods, RP_I64, (void **)&o, &nd, od));
    if (nd != 1 || od[0] != nrows + 1)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, expected %lld (rows + 1)", fname, ods,
                      (long long)od[0], (long long)(nrows + 1));
    RP_CALL(rp_h5_dims(file, eds, &nd, ed));
    if (o[0] != 0 || o[nrows] != ed[0])
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s runs from %lld to %lld, expected 0 to %lld (the "
                      "length of %s)", fname, ods, (long long)o[0], (long long)o[nrows],
                      (long long)ed[0], eds);
    for (int64_t r = 0; r < nrows; r++)
        if (o[r + 1] < o[r])
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s decreases at row %lld", fname, ods, (long long)r);
    *off = o;
    o = NULL;
    if (nnz != NULL) *nnz = ed[0];
cleanup:
    free(o);
    return rc;
}

void rp_csr_block_clear(rp_csr_block *b)
{
    free(b->offsets);
    free(b->cuts);
    free(b->idx);
    free(b->val);
    memset(b, 0, sizeof *b);
}

int rp_csr_block_read(MPI_Comm comm, hid_t f, const char *grp, const char *idx_name,
                      int64_t idx_bound, int64_t nrows, rp_csr_block *b)
{
    int rc = RP_OK, rank = 0, size = 1;
    char ds[256], fname[1024];
    memset(b, 0, sizeof *b);
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    b->nrows = nrows;
    rp_h5_filename(f, fname, sizeof fname);
    RP_CALL(rp_csr_read_offsets(f, grp, "value", nrows, &b->offsets, NULL));
    snprintf(ds, sizeof ds, "%s/value", grp);
    b->cuts = rp_malloc((size_t)(size + 1) * sizeof *b->cuts);
    RP_AGREE_LOCAL(comm, b->cuts == NULL);
    rp_part_weighted(b->offsets, nrows, size, 1.0, b->cuts);
    b->r0 = b->cuts[rank];
    b->nr = b->cuts[rank + 1] - b->r0;
    int64_t z0 = b->offsets[b->r0], nz = b->offsets[b->r0 + b->nr] - z0;
    b->val = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *b->val);
    RP_AGREE_LOCAL(comm, b->val == NULL);
    RP_CALL(rp_h5_read(f, ds, RP_F64, z0, nz, b->val));
    if (idx_name != NULL) {
        snprintf(ds, sizeof ds, "%s/%s", grp, idx_name);
        b->idx = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *b->idx);
        RP_AGREE_LOCAL(comm, b->idx == NULL);
        RP_CALL(rp_h5_read(f, ds, RP_I32, z0, nz, b->idx));
        for (int64_t z = 0; z < nz; z++)
            if (b->idx[z] < 0 || b->idx[z] >= idx_bound)
                RP_FAIL_USER(RP_ERR_DATA, "%s: %s[%lld] = %d outside [0, %lld)", fname, ds,
                             (long long)(z0 + z), b->idx[z], (long long)idx_bound);
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc != RP_OK) rp_csr_block_clear(b);
    return rc;
}
