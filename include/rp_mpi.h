/* rp_mpi.h - MPI helpers shared by every stage: checked calls, agreement on return codes,
 * 64-bit counts, and all-to-all exchanges whose counts exceed an int. */
#ifndef RP_MPI_H
#define RP_MPI_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "rp_err.h"

/* RP_MPI - wrap an MPI call: on failure log the MPI error string and goto cleanup. */
#define RP_MPI(call) RP_MPI_AS_(call, RP_FAIL(RP_ERR_MPI, "%s: %s", #call, rp_mpi_s_))

/* RP_MPI_IO - an MPI-IO call on the user's file `path`: a failure is an I/O error that names
 * the file ("path: MPI message", exit 74), not an internal one. */
#define RP_MPI_IO(call, path) RP_MPI_AS_(call, RP_FAIL_USER(RP_ERR_IO, "%s: %s", (path), rp_mpi_s_))

/* The check both share: evaluate call once; on failure put MPI's message in rp_mpi_s_, fail. */
#define RP_MPI_AS_(call, fail)                                                  \
    do {                                                                        \
        int rp_mpi_e_ = (call);                                                 \
        if (rp_mpi_e_ != MPI_SUCCESS) {                                         \
            char rp_mpi_s_[MPI_MAX_ERROR_STRING];                               \
            int rp_mpi_l_ = 0;                                                  \
            MPI_Error_string(rp_mpi_e_, rp_mpi_s_, &rp_mpi_l_);                 \
            fail;                                                               \
        }                                                                       \
    } while (0)

/* RP_AGREE - end of a phase: all ranks take the worst rc (MPI_MAX) and branch alike.
 * Collective on comm. A failure of the reduction itself aborts (peers may hang). */
#define RP_AGREE(comm, rc_var)                                                  \
    do {                                                                        \
        (rc_var) = rp_mpi_agree((comm), (rc_var));                              \
        if ((rc_var) != RP_OK) goto cleanup;                                    \
    } while (0)

/* RP_AGREE_LOCAL - the one way to end a rank-local step (an allocation, a local read, a
 * validation) that precedes a collective: `failed` true (e.g. an rp_malloc that returned NULL)
 * is logged as out of memory and sets rc; a step that failed otherwise has already set rc
 * without jumping. Then every rank agrees on rc (MPI_Allreduce inside, as darshan's
 * DARSHAN_CHECK_ERR) and all go to cleanup together, so a rank that fails alone never leaves
 * the others waiting in the collective. Collective on comm. Needs rc and cleanup:. */
#define RP_AGREE_LOCAL(comm, failed)                                            \
    do {                                                                        \
        if ((failed) && rc == RP_OK) {                                          \
            rp_log_error(__FILE__, __LINE__, "%s: out of memory", #failed);     \
            rc = RP_ERR_NOMEM;                                                  \
        }                                                                       \
        RP_AGREE((comm), rc);                                                   \
    } while (0)

/* rp_mpi_agree - collective: returns the maximum rc over comm; aborts if MPI fails. */
int rp_mpi_agree(MPI_Comm comm, int rc);

/* rp_die - abort the whole job after logging msg (a failed collective may leave peers hung). */
void rp_die(MPI_Comm comm, int code, const char *msg) __attribute__((noreturn));

/* rp_int_cast - range-checked int64 -> int for MPI counts. Returns RP_ERR_INTERNAL if out of range. */
int rp_int_cast(int64_t v, int *out);

/* rp_mpi_exscan_i64 - exclusive prefix sum of v over ranks (0 on rank 0). Collective. */
int rp_mpi_exscan_i64(MPI_Comm comm, int64_t v, int64_t *out);
/* rp_mpi_sum_i64 / max / min - in-place allreduce over n values. Collective. */
int rp_mpi_sum_i64(MPI_Comm comm, int64_t *v, int n);
int rp_mpi_max_i64(MPI_Comm comm, int64_t *v, int n);
int rp_mpi_min_i64(MPI_Comm comm, int64_t *v, int n);
int rp_mpi_sum_f64(MPI_Comm comm, double *v, int n);
int rp_mpi_max_f64(MPI_Comm comm, double *v, int n);

/* rp_mpi_alltoallv_bytes - personalised all-to-all of raw bytes with 64-bit counts.
 * sendcounts[p] bytes go to rank p from sendbuf at sdispls[p]. Collective.
 * Out: *recvbuf allocated here (caller frees), recvcounts/rdispls (size entries, caller-provided),
 * *recvtotal. Large messages are sent in pieces so no count overflows an int. */
int rp_mpi_alltoallv_bytes(MPI_Comm comm, const void *sendbuf, const int64_t *sendcounts,
                           const int64_t *sdispls, void **recvbuf, int64_t *recvcounts,
                           int64_t *rdispls, int64_t *recvtotal);

/* rp_mpi_byte_layout - for rp_mpi_alltoallv_bytes: counts[p] records of recsz bytes for rank p,
 * packed in rank order, become byte counts, and displs[p] their byte offsets. Local. */
void rp_mpi_byte_layout(int size, size_t recsz, int64_t *counts, int64_t *displs);

/* rp_mpi_bcast_str - broadcast a string from root into buf (capacity cap). Collective. */
int rp_mpi_bcast_str(MPI_Comm comm, char *buf, size_t cap, int root);

/* rp_wtime_max - seconds since t0, the maximum over ranks. Collective. */
double rp_wtime_max(MPI_Comm comm, double t0);

#endif
