/* features_tab.c - rp-features column tables (categorical int32 and numeric float32 columns
 * aligned to dense indices), dictionaries, min-max scaling, and writing them to features.h5.
 * Every rank holds the same tables (they are small); rank 0 writes the rows. */
#include "features_tab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_fault.h"
#include "rp_h5.h"
#include "rp_mpi.h"

void ftab_clear(ftab *t)
{
    for (int c = 0; c < t->ncols; c++) {
        free(t->ci[c]);
        free(t->cf[c]);
        rp_h5_strs_free(t->sdict[c], t->ndict[c]);
        free(t->idict[c]);
    }
    memset(t, 0, sizeof *t);
}

int ftab_add(ftab *t, const char *name, int is_num, int *col)
{
    int rc = RP_OK;
    RP_REQUIRE(t->ncols < FTAB_MAXC, RP_ERR_INTERNAL, "too many columns");
    int c = t->ncols;
    snprintf(t->names[c], sizeof t->names[c], "%s", name);
    if (is_num) RP_ALLOC(t->cf[c] = calloc((size_t)(t->nrows + 1), sizeof *t->cf[c]));
    else RP_ALLOC(t->ci[c] = calloc((size_t)(t->nrows + 1), sizeof *t->ci[c]));
    t->card[c] = 1;
    t->ncols++;
    *col = c;
cleanup:
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Empty and UNKNOWN are "missing" for every string categorical of KuaiRec. */
static int str_missing(const char *s) { return s[0] == '\0' || strcmp(s, "UNKNOWN") == 0; }

int ftab_str_dict(ftab *t, int c, const char *base, int64_t n, size_t stride)
{
    int rc = RP_OK;
    char **d = NULL;
    int64_t nd = 0;
    RP_ALLOC(d = calloc((size_t)(n > 0 ? n : 1), sizeof *d));
    for (int64_t i = 0; i < n; i++) {
        const char *s = base + (size_t)i * stride;
        if (!str_missing(s)) d[nd++] = (char *)s;
    }
    qsort(d, (size_t)nd, sizeof *d, cmp_str);
    int64_t u = 0;
    for (int64_t i = 0; i < nd; i++)
        if (u == 0 || strcmp(d[u - 1], d[i]) != 0) d[u++] = d[i];
    for (int64_t i = 0; i < u; i++) RP_ALLOC(d[i] = strdup(d[i]));
    t->sdict[c] = d;
    t->ndict[c] = u;
    t->card[c] = (int32_t)(u + 1);
    d = NULL;
cleanup:
    free(d);
    return rc;
}

int32_t ftab_str_code(const ftab *t, int c, const char *s)
{
    if (str_missing(s)) return 0;
    const char *key = s;
    char **hit = bsearch(&key, t->sdict[c], (size_t)t->ndict[c], sizeof *t->sdict[c], cmp_str);
    return hit ? (int32_t)(hit - t->sdict[c]) + 1 : 0;
}

int ftab_i64_dict(ftab *t, int c, const int64_t *vals, int64_t n)
{
    int rc = RP_OK;
    int64_t *d = NULL, u = 0;
    RP_ALLOC(d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d));
    for (int64_t i = 0; i < n; i++)
        if (vals[i] >= 0) d[u++] = vals[i];
    qsort(d, (size_t)u, sizeof *d, cmp_i64);
    int64_t k = 0;
    for (int64_t i = 0; i < u; i++)
        if (k == 0 || d[k - 1] != d[i]) d[k++] = d[i];
    t->idict[c] = d;
    t->ndict[c] = k;
    t->card[c] = (int32_t)(k + 1);
    d = NULL;
cleanup:
    free(d);
    return rc;
}

int32_t ftab_i64_code(const ftab *t, int c, int64_t v)
{
    if (v < 0) return 0;
    int64_t *hit = bsearch(&v, t->idict[c], (size_t)t->ndict[c], sizeof v, cmp_i64);
    return hit ? (int32_t)(hit - t->idict[c]) + 1 : 0;
}

void ftab_minmax(ftab *t, int c, const double *x, const char *transform)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < t->nrows; i++) {
        if (isnan(x[i])) continue;
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (lo > hi) lo = hi = 0.0; /* no value at all */
    /* A constant column maps to 0: there is no spread to scale. */
    double span = hi > lo ? hi - lo : 1.0;
    for (int64_t i = 0; i < t->nrows; i++)
        t->cf[c][i] = isnan(x[i]) ? 0.0f : (float)((x[i] - lo) / span);
    t->lo[c] = lo;
    t->hi[c] = hi;
    snprintf(t->transform[c], sizeof t->transform[c], "%s", transform);
}

void ftab_identity(ftab *t, int c, const double *x, const char *transform)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < t->nrows; i++) {
        t->cf[c][i] = (float)x[i];
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    t->lo[c] = t->nrows ? lo : 0.0;
    t->hi[c] = t->nrows ? hi : 0.0;
    snprintf(t->transform[c], sizeof t->transform[c], "%s", transform);
}

int ftab_write_2d(MPI_Comm comm, hid_t file, const char *ds, rp_dtype t, int64_t nrows,
                  int64_t ncols, const void *buf)
{
    int64_t dims[2] = {nrows, ncols};
    /* HDF5 cannot select rows of a zero-width dataset: create it with an empty selection. */
    if (nrows == 0 || ncols == 0) return rp_h5_write(file, ds, t, 2, dims, 0, 0, buf);
    return rp_h5_write_replicated(comm, file, ds, t, 2, dims, buf);
}

/* Write a dataset of rows x ncols from column arrays (row-major transpose). */
static int write_matrix(MPI_Comm comm, hid_t file, const char *ds, const ftab *t, int is_num)
{
    int rc = RP_OK;
    void *buf = NULL;
    const char *names[FTAB_MAXC];
    int64_t n = t->nrows, k = t->ncols;
    size_t esz = is_num ? sizeof(float) : sizeof(int32_t);
    buf = rp_malloc((size_t)(n * k + 1) * esz);
    RP_AGREE_LOCAL(comm, buf == NULL);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < k; c++) {
            if (is_num) ((float *)buf)[i * k + c] = t->cf[c][i];
            else ((int32_t *)buf)[i * k + c] = t->ci[c][i];
        }
    RP_CALL(ftab_write_2d(comm, file, ds, is_num ? RP_F32 : RP_I32, n, k, buf));
    for (int c = 0; c < k; c++) names[c] = t->names[c];
    RP_CALL(rp_h5_attr_write_strs(file, ds, "columns", k, names));
cleanup:
    free(buf);
    return rc;
}

/* Dictionaries of categorical columns as attributes "dict_<column>" (code k = entry k-1). */
static int write_dicts(hid_t file, const char *ds, const ftab *t)
{
    int rc = RP_OK;
    char an[96];
    for (int c = 0; c < t->ncols; c++) {
        snprintf(an, sizeof an, "dict_%s", t->names[c]);
        if (t->sdict[c] != NULL)
            RP_CALL(rp_h5_attr_write_strs(file, ds, an, t->ndict[c],
                                          (const char *const *)t->sdict[c]));
        else if (t->idict[c] != NULL)
            RP_CALL(rp_h5_attr_write(file, ds, an, RP_I64, t->ndict[c], t->idict[c]));
    }
cleanup:
    return rc;
}

int ftab_write_cat(MPI_Comm comm, hid_t file, const char *ds, const char *card_ds, const ftab *t)
{
    int rc = RP_OK;
    const char *names[FTAB_MAXC];
    int64_t k = t->ncols;
    RP_CALL(write_matrix(comm, file, ds, t, 0));
    RP_CALL(write_dicts(file, ds, t));
    RP_CALL(rp_h5_write_replicated(comm, file, card_ds, RP_I32, 1, &k, t->card));
    for (int c = 0; c < k; c++) names[c] = t->names[c];
    RP_CALL(rp_h5_attr_write_strs(file, card_ds, "columns", k, names));
cleanup:
    return rc;
}

int ftab_write_num(MPI_Comm comm, hid_t file, const char *ds, const ftab *t)
{
    int rc = RP_OK;
    const char *tr[FTAB_MAXC];
    int64_t k = t->ncols;
    RP_CALL(write_matrix(comm, file, ds, t, 1));
    RP_CALL(rp_h5_attr_write(file, ds, "min", RP_F64, k, t->lo));
    RP_CALL(rp_h5_attr_write(file, ds, "max", RP_F64, k, t->hi));
    for (int c = 0; c < k; c++) tr[c] = t->transform[c];
    RP_CALL(rp_h5_attr_write_strs(file, ds, "transform", k, tr));
cleanup:
    return rc;
}
