/* features_tab.h - rp-features column tables: categorical (int32 codes, 0 = missing, with
 * cardinality and optional dictionary) and numeric (float32 with the transform's min/max). */
#ifndef FEATURES_TAB_H
#define FEATURES_TAB_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "rp_h5.h"

#define FTAB_MAXC 48

typedef struct ftab {
    int64_t nrows;
    int ncols;
    char names[FTAB_MAXC][48];
    int32_t *ci[FTAB_MAXC]; /* categorical columns */
    float *cf[FTAB_MAXC];   /* numeric columns */
    int32_t card[FTAB_MAXC];
    char **sdict[FTAB_MAXC];   /* string dictionary (code k = sdict[k-1]) */
    int64_t *idict[FTAB_MAXC]; /* integer dictionary */
    int64_t ndict[FTAB_MAXC];
    double lo[FTAB_MAXC], hi[FTAB_MAXC];
    char transform[FTAB_MAXC][32];
} ftab;

void ftab_clear(ftab *t);
/* ftab_add - append a zeroed column of t->nrows rows. Out: *col its index. */
int ftab_add(ftab *t, const char *name, int is_num, int *col);
/* ftab_str_dict - dictionary of the distinct strings at base + i*stride (i < n), sorted by
 * bytes; empty and UNKNOWN excluded. Sets card = entries + 1. */
int ftab_str_dict(ftab *t, int c, const char *base, int64_t n, size_t stride);
int32_t ftab_str_code(const ftab *t, int c, const char *s);
/* ftab_i64_dict - dictionary of the distinct non-negative vals, ascending. */
int ftab_i64_dict(ftab *t, int c, const int64_t *vals, int64_t n);
int32_t ftab_i64_code(const ftab *t, int c, int64_t v);
/* ftab_minmax - column c = (x - min) / (max - min) over non-NaN x (NaN -> 0; a constant
 * column -> 0); records min/max and the transform name. */
void ftab_minmax(ftab *t, int c, const double *x, const char *transform);
/* ftab_identity - column c = x as is; records its observed min/max. */
void ftab_identity(ftab *t, int c, const double *x, const char *transform);
/* ftab_write_2d - rank 0 writes a replicated [nrows, ncols] array (either may be 0). Collective. */
int ftab_write_2d(MPI_Comm comm, hid_t file, const char *ds, rp_dtype t, int64_t nrows,
                  int64_t ncols, const void *buf);
/* Writers: collective; every rank holds the same table, rank 0 writes the rows. */
int ftab_write_cat(MPI_Comm comm, hid_t file, const char *ds, const char *card_ds, const ftab *t);
int ftab_write_num(MPI_Comm comm, hid_t file, const char *ds, const ftab *t);

#endif
