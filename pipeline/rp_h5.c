/* rp_h5.c - collective parallel-HDF5 helpers and atomic outputs; used by every stage. */
#include "rp_h5.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "rp_file.h"
#include "rp_log.h"
#include "rp_mem.h"
#include "rp_mpi.h"

size_t rp_dtype_size(rp_dtype t)
{
    switch (t) {
    case RP_I32: return 4;
    case RP_I64: return 8;
    case RP_F32: return 4;
    case RP_F64: return 8;
    case RP_U8: return 1;
    }
    return 0;
}

hid_t rp_dtype_h5(rp_dtype t)
{
    switch (t) {
    case RP_I32: return H5T_NATIVE_INT32;
    case RP_I64: return H5T_NATIVE_INT64;
    case RP_F32: return H5T_NATIVE_FLOAT;
    case RP_F64: return H5T_NATIVE_DOUBLE;
    case RP_U8: return H5T_NATIVE_UINT8;
    }
    return H5I_INVALID_HID;
}

/* This process's HDF5 output since rp_h5_init: dataset bytes it wrote and the seconds spent in
 * H5Dwrite and in closing output files (where HDF5 flushes what it cached), for the summary
 * line's write rate (rp_stage_end). */
static double out_seconds;
static int64_t out_bytes;

void rp_h5_init(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    out_seconds = 0.0;
    out_bytes = 0;
}

void rp_h5_out_stats(double *seconds, int64_t *bytes)
{
    *seconds = out_seconds;
    *bytes = out_bytes;
}

static herr_t last_walk(unsigned n, const H5E_error2_t *err, void *data)
{
    (void)n;
    /* The walk goes innermost first: keep the first description. */
    char *buf = data;
    if (buf[0] == '\0' && err->desc != NULL) snprintf(buf, 256, "%s (%s)", err->desc, err->func_name);
    return 0;
}

void rp_h5_last_error(char *buf, size_t cap)
{
    char tmp[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, last_walk, tmp);
    snprintf(buf, cap, "%s", tmp[0] ? tmp : "unknown HDF5 error");
}

void rp_h5_filename(hid_t file, char *buf, size_t cap)
{
    if (H5Fget_name(file, buf, cap) < 0) snprintf(buf, cap, "(unknown file)");
}

/* The communicator file was opened on (a duplicate: the caller frees it). Local. */
static int file_comm(hid_t file, MPI_Comm *comm)
{
    int rc = RP_OK;
    hid_t fapl = H5I_INVALID_HID;
    MPI_Info info = MPI_INFO_NULL;
    RP_H5(fapl = H5Fget_access_plist(file));
    RP_H5(H5Pget_fapl_mpio(fapl, comm, &info));
cleanup:
    if (info != MPI_INFO_NULL) MPI_Info_free(&info);
    if (fapl >= 0) H5Pclose(fapl);
    return rc;
}

static int make_fapl(MPI_Comm comm, hid_t *fapl)
{
    int rc = RP_OK;
    hid_t p = H5I_INVALID_HID;
    RP_H5(p = H5Pcreate(H5P_FILE_ACCESS));
    RP_H5(H5Pset_fapl_mpio(p, comm, MPI_INFO_NULL));
    RP_H5(H5Pset_all_coll_metadata_ops(p, 1));
    RP_H5(H5Pset_coll_metadata_write(p, 1));
    *fapl = p;
    p = H5I_INVALID_HID;
cleanup:
    if (p >= 0) H5Pclose(p);
    return rc;
}

int rp_h5_create(MPI_Comm comm, const char *path, hid_t *file)
{
    int rc = RP_OK;
    hid_t fapl = H5I_INVALID_HID, f = H5I_INVALID_HID;
    char partial[4096];
    snprintf(partial, sizeof partial, "%s.partial", path);
    /* Outputs may name a folder that does not exist yet (runs/new/als.h5): rank 0 makes it. */
    int rank = 0, mk = RP_OK;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0) mk = rp_file_mkdirs_for(partial);
    RP_MPI(MPI_Bcast(&mk, 1, MPI_INT, 0, comm));
    if (mk != RP_OK) {
        rc = mk;
        goto cleanup;
    }
    RP_CALL(make_fapl(comm, &fapl));
    f = H5Fcreate(partial, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f < 0) {
        char m[256];
        rp_h5_last_error(m, sizeof m);
        RP_FAIL_USER0(RP_ERR_IO, "%s: cannot create output: %s", partial, m);
    }
    rp_file_partial_track(partial);
    *file = f;
cleanup:
    if (fapl >= 0) H5Pclose(fapl);
    return rp_mpi_agree(comm, rc);
}

int rp_h5_open(MPI_Comm comm, const char *path, hid_t *file)
{
    int rc = RP_OK;
    hid_t fapl = H5I_INVALID_HID, f = H5I_INVALID_HID;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    /* Rank 0 looks first so a missing or foreign file gets one clear message, not N. */
    int verdict = RP_OK;
    if (rank == 0) {
        struct stat st;
        if (stat(path, &st) != 0) {
            rp_log_user_error("%s: cannot open: %s", path, strerror(errno));
            verdict = RP_ERR_NOINPUT;
        } else if (H5Fis_hdf5(path) <= 0) {
            rp_log_user_error("%s: not an HDF5 file (truncated or wrong file?)", path);
            verdict = RP_ERR_DATA;
        }
    }
    RP_MPI(MPI_Bcast(&verdict, 1, MPI_INT, 0, comm));
    rc = verdict;
    if (rc != RP_OK) goto cleanup;
    RP_CALL(make_fapl(comm, &fapl));
    f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0) {
        char m[256];
        rp_h5_last_error(m, sizeof m);
        RP_FAIL_USER0(RP_ERR_DATA, "%s: cannot open as HDF5 (truncated?): %s", path, m);
    }
    *file = f;
cleanup:
    if (fapl >= 0) H5Pclose(fapl);
    return rp_mpi_agree(comm, rc);
}

int rp_h5_close(hid_t *file)
{
    int rc = RP_OK;
    if (*file >= 0) {
        hid_t f = *file;
        *file = H5I_INVALID_HID;
        RP_H5(H5Fclose(f));
    }
cleanup:
    return rc;
}

int rp_h5_commit(MPI_Comm comm, hid_t *file, const char *path, int rc_so_far)
{
    int rc = rc_so_far;
    char partial[4096];
    snprintf(partial, sizeof partial, "%s.partial", path);
    /* The close is collective: wait for every rank first, so the timed part is the flush and
     * not the ranks' skew. */
    MPI_Barrier(comm);
    double t0 = MPI_Wtime();
    int crc = rp_h5_close(file);
    double dt = MPI_Wtime() - t0;
    out_seconds += dt;
    rp_log_debug("%s: closed in %.4f s (output so far %.1f MB, %.4f s)", partial, dt,
                 (double)out_bytes / 1e6, out_seconds);
    if (rc == RP_OK && crc != RP_OK) {
        rp_log_user_error("%s: write failed while closing: %s", partial,
                          errno ? strerror(errno) : "HDF5 error (disk full?)");
        rc = crc;
    }
    return rp_file_commit(comm, partial, path, rc);
}

/* Create every missing group on the path to `name` (without recording times). */
static int make_parents(hid_t file, const char *name)
{
    int rc = RP_OK;
    hid_t gcpl = H5I_INVALID_HID;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", name);
    RP_H5(gcpl = H5Pcreate(H5P_GROUP_CREATE));
    RP_H5(H5Pset_obj_track_times(gcpl, 0));
    for (char *s = strchr(buf + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
            hid_t g = H5I_INVALID_HID;
            RP_H5(g = H5Gcreate2(file, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT));
            H5Gclose(g);
        }
        *s = '/';
    }
cleanup:
    if (gcpl >= 0) H5Pclose(gcpl);
    return rc;
}

/* Select rows [off, off+n) of a rank-1/2 space (all columns), or nothing when n == 0. */
static int select_rows(hid_t space, int ndims, const hsize_t *dims, int64_t off, int64_t n)
{
    int rc = RP_OK;
    if (n == 0) {
        RP_H5(H5Sselect_none(space));
    } else {
        hsize_t start[2] = {(hsize_t)off, 0}, count[2] = {(hsize_t)n, ndims > 1 ? dims[1] : 1};
        RP_H5(H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL));
    }
cleanup:
    return rc;
}

/* Independent transfers: every transfer here is one contiguous block per rank of a contiguous,
 * unfiltered, early-allocated dataset, which HDF5 then writes with one MPI_File_write_at of
 * bytes. The collective path (even with H5FD_MPIO_INDIVIDUAL_IO) sets a file view of a derived
 * datatype and goes through the MPI-IO layer's two-phase buffering: about 2.3x the CPU for the
 * same bytes (bench/bench-h5write.sh). Datasets are still created collectively (the file
 * access list asks for collective metadata) and every rank still makes every call. */
static int xfer_plist(hid_t *dxpl)
{
    int rc = RP_OK;
    RP_H5(*dxpl = H5Pcreate(H5P_DATASET_XFER));
    RP_H5(H5Pset_dxpl_mpio(*dxpl, H5FD_MPIO_INDEPENDENT));
cleanup:
    return rc;
}

/* HDF5 often loses errno on the MPI-IO path: look at the folder's free space instead. */
static int disk_full(const char *fname)
{
    char dir[1024];
    struct statvfs vfs;
    snprintf(dir, sizeof dir, "%s", fname);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0'; else snprintf(dir, sizeof dir, ".");
    return statvfs(dir[0] ? dir : "/", &vfs) == 0 && vfs.f_bavail * vfs.f_frsize < (1u << 20);
}

/* Collective write, then agreement: the lowest failing rank names the file and the cause once
 * (a full disk is the usual one) instead of every rank printing HDF5's stack. */
static int write_agreed(hid_t file, hid_t dset, const char *name, rp_dtype t, hid_t mspace,
                        hid_t fspace, hid_t dxpl, const void *buf)
{
    int rc = RP_OK, rank = 0;
    MPI_Comm comm = MPI_COMM_NULL;
    errno = 0;
    double t0 = MPI_Wtime();
    herr_t st = H5Dwrite(dset, rp_dtype_h5(t), mspace, fspace, dxpl, buf);
    out_seconds += MPI_Wtime() - t0;
    hssize_t npoints = H5Sget_select_npoints(mspace);
    if (st >= 0 && npoints > 0) out_bytes += (int64_t)npoints * (int64_t)rp_dtype_size(t);
    int err = st < 0 ? errno : 0;
    char why[256];
    if (st < 0) rp_h5_last_error(why, sizeof why);
    if (st >= 0 && rp_fault_hit(RP_FAULT_H5WRITE)) {
        st = -1;
        err = EIO;
    }
    RP_CALL(file_comm(file, &comm));
    RP_MPI(MPI_Comm_rank(comm, &rank));
    int first = st < 0 ? rank : INT_MAX;
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, comm));
    if (first != INT_MAX) {
        char fname[1024];
        rp_h5_filename(file, fname, sizeof fname);
        if (rank == first)
            rp_log_user_error("%s: cannot write %s: %s", fname, name,
                              err != 0 ? strerror(err) : (disk_full(fname) ? "disk full" : why));
        rc = RP_ERR_IO;
    }
cleanup:
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
    return rc;
}

int rp_h5_write(hid_t file, const char *name, rp_dtype t, int ndims, const int64_t *gdims,
                int64_t row_offset, int64_t nrows_local, const void *buf)
{
    int rc = RP_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hid_t dcpl = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    hsize_t dims[2] = {(hsize_t)gdims[0], ndims > 1 ? (hsize_t)gdims[1] : 1};
    RP_REQUIRE(ndims == 1 || ndims == 2, RP_ERR_INTERNAL, "%s: rank %d unsupported", name, ndims);
    RP_REQUIRE(row_offset >= 0 && nrows_local >= 0 && row_offset + nrows_local <= gdims[0],
               RP_ERR_INTERNAL, "%s: rows [%lld,+%lld) outside %lld", name, (long long)row_offset,
               (long long)nrows_local, (long long)gdims[0]);
    RP_CALL(make_parents(file, name));
    RP_H5(fspace = H5Screate_simple(ndims, dims, NULL));
    RP_H5(dcpl = H5Pcreate(H5P_DATASET_CREATE));
    RP_H5(H5Pset_obj_track_times(dcpl, 0));
    RP_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
    RP_H5(dset = H5Dcreate2(file, name, rp_dtype_h5(t), fspace, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    hsize_t mdims[2] = {(hsize_t)(nrows_local > 0 ? nrows_local : 1), dims[1]};
    RP_H5(mspace = H5Screate_simple(ndims, mdims, NULL));
    if (nrows_local == 0) RP_H5(H5Sselect_none(mspace));
    RP_CALL(select_rows(fspace, ndims, dims, row_offset, nrows_local));
    RP_CALL(xfer_plist(&dxpl));
    /* A zero-size dataset (empty split, zero columns) has nothing to write; HDF5 rejects it. */
    if (dims[0] > 0 && dims[1] > 0)
        RP_CALL(write_agreed(file, dset, name, t, mspace, fspace, dxpl, buf));
cleanup:
    if (dxpl >= 0) H5Pclose(dxpl);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (dset >= 0 && H5Dclose(dset) < 0 && rc == RP_OK) rc = RP_ERR_H5;
    return rc;
}

int rp_h5_write_1d(hid_t file, const char *name, rp_dtype t, int64_t n_global, int64_t offset,
                   int64_t n_local, const void *buf)
{
    return rp_h5_write(file, name, t, 1, &n_global, offset, n_local, buf);
}

int rp_h5_write_2d(hid_t file, const char *name, rp_dtype t, int64_t nrows_global, int64_t ncols,
                   int64_t row_offset, int64_t nrows_local, const void *buf)
{
    int64_t d[2] = {nrows_global, ncols};
    return rp_h5_write(file, name, t, 2, d, row_offset, nrows_local, buf);
}

int rp_h5_put_replicated(MPI_Comm comm, hid_t file, const char *name, rp_dtype t, int64_t rows,
                         int64_t cols, const void *buf)
{
    int64_t g[2] = {rows, cols};
    return rp_h5_write_replicated(comm, file, name, t, cols > 0 ? 2 : 1, g, buf);
}

int rp_h5_write_replicated(MPI_Comm comm, hid_t file, const char *name, rp_dtype t, int ndims,
                           const int64_t *gdims, const void *buf)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    return rp_h5_write(file, name, t, ndims, gdims, 0, rank == 0 ? gdims[0] : 0, buf);
}

int rp_h5_exists(hid_t file, const char *name)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", name);
    for (char *s = strchr(buf + 1, '/'); ; s = strchr(s + 1, '/')) {
        if (s != NULL) *s = '\0';
        if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) return 0;
        if (s == NULL) return 1;
        *s = '/';
    }
}

int rp_h5_dims(hid_t file, const char *name, int *ndims, int64_t dims[2])
{
    int rc = RP_OK;
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID;
    char fname[1024];
    if (!rp_h5_exists(file, name)) {
        rp_h5_filename(file, fname, sizeof fname);
        RP_FAIL_USER0(RP_ERR_DATA, "%s: missing dataset %s", fname, name);
    }
    RP_H5(dset = H5Dopen2(file, name, H5P_DEFAULT));
    RP_H5(space = H5Dget_space(dset));
    hsize_t d[H5S_MAX_RANK];
    int nd = H5Sget_simple_extent_dims(space, d, NULL);
    RP_H5(nd);
    rp_h5_filename(file, fname, sizeof fname);
    RP_REQUIRE(nd >= 1 && nd <= 2, RP_ERR_DATA, "%s: dataset %s has rank %d", fname, name, nd);
    *ndims = nd;
    dims[0] = (int64_t)d[0];
    dims[1] = nd > 1 ? (int64_t)d[1] : 1;
cleanup:
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    return rc;
}

/* rp_h5_read's collective read without the agreement: the rc is this rank's. */
static int read_rows(hid_t file, const char *name, rp_dtype t, int64_t row_offset,
                     int64_t nrows_local, void *buf)
{
    int rc = RP_OK;
    hid_t dset = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hid_t dxpl = H5I_INVALID_HID;
    int nd = 0;
    int64_t gd[2];
    char fname[1024];
    RP_CALL(rp_h5_dims(file, name, &nd, gd));
    rp_h5_filename(file, fname, sizeof fname);
    /* A bad range is this rank's alone: report it, but still take part in the collective read
     * with an empty selection so the other ranks do not wait forever. */
    int range_rc = RP_OK;
    if (row_offset < 0 || nrows_local < 0 || row_offset + nrows_local > gd[0]) {
        rp_log_user_error("%s: %s has %lld rows, need rows [%lld, %lld)", fname, name,
                          (long long)gd[0], (long long)row_offset,
                          (long long)(row_offset + nrows_local));
        range_rc = RP_ERR_DATA;
        row_offset = 0;
        nrows_local = 0;
    }
    hsize_t dims[2] = {(hsize_t)gd[0], (hsize_t)gd[1]};
    RP_H5(dset = H5Dopen2(file, name, H5P_DEFAULT));
    RP_H5(fspace = H5Dget_space(dset));
    RP_CALL(select_rows(fspace, nd, dims, row_offset, nrows_local));
    hsize_t mdims[2] = {(hsize_t)(nrows_local > 0 ? nrows_local : 1), dims[1]};
    RP_H5(mspace = H5Screate_simple(nd, mdims, NULL));
    if (nrows_local == 0) RP_H5(H5Sselect_none(mspace));
    RP_CALL(xfer_plist(&dxpl));
    if (H5Dread(dset, rp_dtype_h5(t), mspace, fspace, dxpl, buf) < 0 ||
        rp_fault_hit(RP_FAULT_H5READ))
        RP_FAIL_USER(RP_ERR_DATA, "%s: cannot read %s (truncated or corrupt file?)", fname, name);
    rc = range_rc;
cleanup:
    if (dxpl >= 0) H5Pclose(dxpl);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (dset >= 0) H5Dclose(dset);
    return rc;
}

/* A read fails on one rank alone (a bad range, a damaged block, RP_FAULT): every rank of the
 * file's communicator agrees on the outcome before returning, so callers go on together. */
int rp_h5_read(hid_t file, const char *name, rp_dtype t, int64_t row_offset,
               int64_t nrows_local, void *buf)
{
    int rc = read_rows(file, name, t, row_offset, nrows_local, buf);
    MPI_Comm comm = MPI_COMM_NULL;
    RP_CALL(file_comm(file, &comm));
    RP_AGREE(comm, rc);
cleanup:
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
    return rc;
}

int rp_h5_read_all(hid_t file, const char *name, rp_dtype t, void **buf, int *ndims,
                   int64_t dims[2])
{
    int rc = RP_OK;
    void *b = NULL;
    int nd = 0;
    int64_t d[2];
    MPI_Comm comm = MPI_COMM_NULL;
    RP_CALL(rp_h5_dims(file, name, &nd, d));
    RP_CALL(file_comm(file, &comm));
    size_t bytes = (size_t)(d[0] * d[1]) * rp_dtype_size(t);
    /* huge pages for whole splits: a 4 KB page's first touch costs 12-20 us on these VMs,
     * as much as reading it from the page cache */
    b = bytes >= RP_MEM_HUGE_MIN ? rp_malloc_big(bytes) : rp_malloc(bytes > 0 ? bytes : 1);
    RP_AGREE_LOCAL(comm, b == NULL);
    RP_CALL(rp_h5_read(file, name, t, 0, d[0], b));
    *buf = b;
    b = NULL;
    if (ndims) *ndims = nd;
    if (dims) {
        dims[0] = d[0];
        dims[1] = d[1];
    }
cleanup:
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
    free(b);
    return rc;
}

static int attr_create(hid_t file, const char *obj, const char *name, hid_t type, hid_t space,
                       hid_t *attr)
{
    int rc = RP_OK;
    if (H5Aexists_by_name(file, obj, name, H5P_DEFAULT) > 0)
        RP_H5(H5Adelete_by_name(file, obj, name, H5P_DEFAULT));
    RP_H5(*attr = H5Acreate_by_name(file, obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT,
                                    H5P_DEFAULT));
cleanup:
    return rc;
}

int rp_h5_attr_write(hid_t file, const char *obj, const char *name, rp_dtype t, int64_t n,
                     const void *vals)
{
    int rc = RP_OK;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    hsize_t d = (hsize_t)n;
    RP_H5(space = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL));
    RP_CALL(attr_create(file, obj, name, rp_dtype_h5(t), space, &attr));
    RP_H5(H5Awrite(attr, rp_dtype_h5(t), vals));
cleanup:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return rc;
}

int rp_h5_attr_write_str(hid_t file, const char *obj, const char *name, const char *s)
{
    return rp_h5_attr_write_strs(file, obj, name, -1, &s);
}

/* n < 0 writes one scalar string. Strings are fixed-length, NUL-padded: h5py reads them as bytes
 * or str, and parallel HDF5 needs no variable-length data. */
int rp_h5_attr_write_strs(hid_t file, const char *obj, const char *name, int64_t n,
                          const char *const *strs)
{
    int rc = RP_OK;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID, type = H5I_INVALID_HID;
    char *packed = NULL;
    MPI_Comm comm = MPI_COMM_NULL;
    int64_t count = n < 0 ? 1 : n;
    size_t width = 1;
    for (int64_t i = 0; i < count; i++) {
        size_t l = strlen(strs[i]);
        if (l + 1 > width) width = l + 1;
    }
    RP_CALL(file_comm(file, &comm));
    packed = rp_calloc((size_t)(count > 0 ? count : 1), width);
    RP_AGREE_LOCAL(comm, packed == NULL);
    for (int64_t i = 0; i < count; i++) memcpy(packed + (size_t)i * width, strs[i], strlen(strs[i]));
    RP_H5(type = H5Tcopy(H5T_C_S1));
    RP_H5(H5Tset_size(type, width));
    RP_H5(H5Tset_strpad(type, H5T_STR_NULLTERM));
    hsize_t d = (hsize_t)count;
    RP_H5(space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &d, NULL));
    RP_CALL(attr_create(file, obj, name, type, space, &attr));
    RP_H5(H5Awrite(attr, type, packed));
cleanup:
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
    free(packed);
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return rc;
}

int rp_h5_attr_exists(hid_t file, const char *obj, const char *name)
{
    if (!rp_h5_exists(file, obj) && strcmp(obj, "/") != 0) return 0;
    return H5Aexists_by_name(file, obj, name, H5P_DEFAULT) > 0;
}

static int attr_open(hid_t file, const char *obj, const char *name, hid_t *attr, int64_t *n)
{
    int rc = RP_OK;
    hid_t space = H5I_INVALID_HID;
    char fname[1024];
    if (!rp_h5_attr_exists(file, obj, name)) {
        rp_h5_filename(file, fname, sizeof fname);
        RP_FAIL_USER0(RP_ERR_DATA, "%s: missing attribute %s on %s", fname, name, obj);
    }
    RP_H5(*attr = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT));
    RP_H5(space = H5Aget_space(*attr));
    hssize_t np = H5Sget_simple_extent_npoints(space);
    RP_H5(np);
    *n = (int64_t)np;
cleanup:
    if (space >= 0) H5Sclose(space);
    return rc;
}

int rp_h5_attr_read(hid_t file, const char *obj, const char *name, rp_dtype t, int64_t n,
                    void *vals)
{
    int rc = RP_OK;
    hid_t attr = H5I_INVALID_HID;
    int64_t have = 0;
    char fname[1024];
    RP_CALL(attr_open(file, obj, name, &attr, &have));
    rp_h5_filename(file, fname, sizeof fname);
    RP_REQUIRE(have == n, RP_ERR_DATA, "%s: attribute %s on %s has %lld values, want %lld", fname,
               name, obj, (long long)have, (long long)n);
    RP_H5(H5Aread(attr, rp_dtype_h5(t), vals));
cleanup:
    if (attr >= 0) H5Aclose(attr);
    return rc;
}

int rp_h5_attr_read_strs(hid_t file, const char *obj, const char *name, char ***strs,
                         int64_t *n)
{
    int rc = RP_OK;
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    char *packed = NULL;
    char **out = NULL;
    int64_t count = 0;
    MPI_Comm comm = MPI_COMM_NULL;
    RP_CALL(file_comm(file, &comm));
    RP_CALL(attr_open(file, obj, name, &attr, &count));
    RP_H5(ftype = H5Aget_type(attr));
    char fname[1024];
    rp_h5_filename(file, fname, sizeof fname);
    RP_REQUIRE(H5Tget_class(ftype) == H5T_STRING && !H5Tis_variable_str(ftype), RP_ERR_DATA,
               "%s: attribute %s on %s is not a fixed-length string", fname, name, obj);
    size_t width = H5Tget_size(ftype);
    RP_H5(mtype = H5Tcopy(H5T_C_S1));
    RP_H5(H5Tset_size(mtype, width + 1));
    packed = rp_calloc((size_t)(count > 0 ? count : 1), width + 1);
    RP_AGREE_LOCAL(comm, packed == NULL);
    RP_H5(H5Aread(attr, mtype, packed));
    RP_ALLOC(out = calloc((size_t)(count > 0 ? count : 1), sizeof *out));
    for (int64_t i = 0; i < count; i++)
        RP_ALLOC(out[i] = strndup(packed + (size_t)i * (width + 1), width));
    *strs = out;
    out = NULL;
    *n = count;
cleanup:
    rp_h5_strs_free(out, count);
    free(packed);
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    if (attr >= 0) H5Aclose(attr);
    if (comm != MPI_COMM_NULL) {
        rc = rp_mpi_agree(comm, rc); /* the strings are built locally: agree on the outcome */
        MPI_Comm_free(&comm);
    }
    return rc;
}

void rp_h5_strs_free(char **strs, int64_t n)
{
    if (strs == NULL) return;
    for (int64_t i = 0; i < n; i++) free(strs[i]);
    free(strs);
}

int rp_h5_attr_read_str(hid_t file, const char *obj, const char *name, char *buf, size_t cap)
{
    int rc = RP_OK;
    char **s = NULL;
    int64_t n = 0;
    RP_CALL(rp_h5_attr_read_strs(file, obj, name, &s, &n));
    snprintf(buf, cap, "%s", n > 0 ? s[0] : "");
cleanup:
    rp_h5_strs_free(s, n);
    return rc;
}

int rp_h5_check_schema(hid_t file, const char *path, const char *want)
{
    int rc = RP_OK;
    char have[128] = "";
    if (!rp_h5_attr_exists(file, "/", "schema"))
        RP_FAIL_USER0(RP_ERR_DATA, "%s: not a recpipe file (no schema attribute), expected %s",
                     path, want);
    RP_CALL(rp_h5_attr_read_str(file, "/", "schema", have, sizeof have));
    if (strcmp(have, want) != 0)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: schema is '%s', expected '%s' (wrong stage's file?)", path,
                     have, want);
cleanup:
    return rc;
}
