/* rp_csr.c - checked CSR offsets of shards.h5 groups (rp-features, rp-eval, rp-hybrid,
 * rp-recommend, the baselines). */
#include "rp_csr.h"

#include <stdio.h>
#include <stdlib.h>

#include "rp_err.h"
#include "rp_h5.h"

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
