/* rp_h5.h - collective parallel-HDF5 I/O shared by every stage: files opened with the MPI-IO
 * driver and collective metadata, one row hyperslab per rank, attributes, and atomic outputs
 * (write "<out>.partial", close, agree, rank 0 renames). Object times are not recorded so the
 * datasets of a file are byte-identical whatever the number of ranks. */
#ifndef RP_H5_H
#define RP_H5_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "rp_err.h"

/* RP_H5 - wrap an HDF5 call (failure: negative hid_t/herr_t); logs HDF5's innermost message. */
#define RP_H5(expr)                                                             \
    do {                                                                        \
        if ((expr) < 0) {                                                       \
            char rp_h5_m_[256];                                                 \
            rp_h5_last_error(rp_h5_m_, sizeof rp_h5_m_);                        \
            RP_FAIL(RP_ERR_H5, "%s: %s", #expr, rp_h5_m_);                      \
        }                                                                       \
    } while (0)

typedef enum { RP_I32, RP_I64, RP_F32, RP_F64, RP_U8 } rp_dtype;

size_t rp_dtype_size(rp_dtype t);
hid_t rp_dtype_h5(rp_dtype t);

/* rp_h5_init - silence HDF5's automatic error stack printing (RP_H5 reports instead). Local. */
void rp_h5_init(void);

/* rp_h5_out_stats - this process's HDF5 output since rp_h5_init: dataset bytes written by
 * rp_h5_write and the seconds spent in its H5Dwrite calls and in rp_h5_commit's close (the
 * flush). Local; rp_stage_end reports the aggregate rate. */
void rp_h5_out_stats(double *seconds, int64_t *bytes);
/* rp_h5_last_error - the innermost message of HDF5's current error stack, or "unknown". */
void rp_h5_last_error(char *buf, size_t cap);

/* rp_h5_create - create (truncate) "<path>.partial" for writing. Collective on comm.
 * Out: *file. Returns RP_OK or RP_ERR_IO (message names the path). */
int rp_h5_create(MPI_Comm comm, const char *path, hid_t *file);

/* rp_h5_open - open an existing file read-only. Collective on comm.
 * Returns RP_OK, RP_ERR_NOINPUT (missing), RP_ERR_DATA (not HDF5 / truncated). */
int rp_h5_open(MPI_Comm comm, const char *path, hid_t *file);

/* rp_h5_close - close a file (if valid) and set *file invalid. Collective. */
int rp_h5_close(hid_t *file);

/* rp_h5_commit - close "<path>.partial", agree on rc_so_far, rank 0 renames it to path.
 * Collective. On any failure (rc_so_far or close/rename) the partial file is removed and the
 * final path is left untouched. Returns the agreed rc. */
int rp_h5_commit(MPI_Comm comm, hid_t *file, const char *path, int rc_so_far);

/* rp_h5_write - create dataset `name` (parents created) of rank 1 or 2 with global dims gdims,
 * and write this rank's rows [row_offset, row_offset + nrows_local) from buf (row-major).
 * Collective: every rank calls with the same name, type and dims (nrows_local may be 0). */
int rp_h5_write(hid_t file, const char *name, rp_dtype t, int ndims, const int64_t *gdims,
                int64_t row_offset, int64_t nrows_local, const void *buf);
int rp_h5_write_1d(hid_t file, const char *name, rp_dtype t, int64_t n_global,
                   int64_t offset, int64_t n_local, const void *buf);
int rp_h5_write_2d(hid_t file, const char *name, rp_dtype t, int64_t nrows_global,
                   int64_t ncols, int64_t row_offset, int64_t nrows_local, const void *buf);
/* rp_h5_write_replicated - every rank holds the whole array; rank 0 writes it. Collective. */
int rp_h5_write_replicated(MPI_Comm comm, hid_t file, const char *name, rp_dtype t, int ndims,
                           const int64_t *gdims, const void *buf);
/* rp_h5_put_replicated - rp_h5_write_replicated of a vector (cols = 0) or rows x cols matrix. */
int rp_h5_put_replicated(MPI_Comm comm, hid_t file, const char *name, rp_dtype t, int64_t rows,
                         int64_t cols, const void *buf);

/* rp_h5_dims - rank and dims of dataset `name`. Returns RP_ERR_DATA naming file and dataset if
 * it is missing. Collective (metadata). */
int rp_h5_dims(hid_t file, const char *name, int *ndims, int64_t dims[2]);
/* rp_h5_exists - 1 if the link path exists (every component), else 0. */
int rp_h5_exists(hid_t file, const char *name);

/* rp_h5_read - read rows [row_offset, row_offset + nrows_local) of a rank-1/2 dataset into buf,
 * converting to type t. Collective (ranks may read overlapping or empty ranges). */
int rp_h5_read(hid_t file, const char *name, rp_dtype t, int64_t row_offset,
               int64_t nrows_local, void *buf);
/* rp_h5_read_all - allocate and read a whole dataset on every rank. Out: *buf (caller frees),
 * dims. Collective. */
int rp_h5_read_all(hid_t file, const char *name, rp_dtype t, void **buf, int *ndims,
                   int64_t dims[2]);

/* Attributes on object `obj` ("/" for the root, or a group/dataset path). Collective for
 * writes: every rank calls with identical arguments. Reads check the element count. */
int rp_h5_attr_write(hid_t file, const char *obj, const char *name, rp_dtype t, int64_t n,
                     const void *vals);
int rp_h5_attr_write_str(hid_t file, const char *obj, const char *name, const char *s);
int rp_h5_attr_write_strs(hid_t file, const char *obj, const char *name, int64_t n,
                          const char *const *strs);
int rp_h5_attr_read(hid_t file, const char *obj, const char *name, rp_dtype t, int64_t n,
                    void *vals);
int rp_h5_attr_read_str(hid_t file, const char *obj, const char *name, char *buf, size_t cap);
/* rp_h5_attr_read_strs - read a string-array attribute. Out: *strs (n strings, free with
 * rp_h5_strs_free), *n. */
int rp_h5_attr_read_strs(hid_t file, const char *obj, const char *name, char ***strs,
                         int64_t *n);
void rp_h5_strs_free(char **strs, int64_t n);
int rp_h5_attr_exists(hid_t file, const char *obj, const char *name);

/* rp_h5_check_schema - RP_ERR_DATA unless root attribute "schema" equals want
 * ("path: schema is 'x', expected 'y'"). */
int rp_h5_check_schema(hid_t file, const char *path, const char *want);

/* rp_h5_filename - the file's name (for messages) into buf. */
void rp_h5_filename(hid_t file, char *buf, size_t cap);

#endif
