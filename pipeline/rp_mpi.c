/* rp_mpi.c - checked MPI helpers: agreement on return codes, 64-bit counts, chunked all-to-all. */
#include "rp_mpi.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rp_mem.h"

int rp_mpi_agree(MPI_Comm comm, int rc)
{
    int worst = rc;
    if (MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
        rp_die(comm, RP_ERR_MPI, "MPI_Allreduce of return codes failed");
    return worst;
}

void rp_die(MPI_Comm comm, int code, const char *msg)
{
    rp_log_error(__FILE__, __LINE__, "fatal: %s; aborting all ranks", msg);
    MPI_Abort(comm, code);
    exit(code); /* not reached: MPI_Abort does not return */
}

int rp_int_cast(int64_t v, int *out)
{
    int rc = RP_OK;
    RP_REQUIRE(v >= INT_MIN && v <= INT_MAX, RP_ERR_INTERNAL,
               "count %lld does not fit an MPI int", (long long)v);
    *out = (int)v;
cleanup:
    return rc;
}

int rp_mpi_exscan_i64(MPI_Comm comm, int64_t v, int64_t *out)
{
    int rc = RP_OK;
    int rank = 0;
    int64_t r = 0;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Exscan(&v, &r, 1, MPI_INT64_T, MPI_SUM, comm));
    *out = rank == 0 ? 0 : r; /* MPI leaves rank 0's result undefined */
cleanup:
    return rc;
}

static int reduce(MPI_Comm comm, void *v, int n, MPI_Datatype t, MPI_Op op)
{
    int rc = RP_OK;
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, t, op, comm));
cleanup:
    return rc;
}

int rp_mpi_sum_i64(MPI_Comm comm, int64_t *v, int n) { return reduce(comm, v, n, MPI_INT64_T, MPI_SUM); }
int rp_mpi_max_i64(MPI_Comm comm, int64_t *v, int n) { return reduce(comm, v, n, MPI_INT64_T, MPI_MAX); }
int rp_mpi_min_i64(MPI_Comm comm, int64_t *v, int n) { return reduce(comm, v, n, MPI_INT64_T, MPI_MIN); }
int rp_mpi_sum_f64(MPI_Comm comm, double *v, int n) { return reduce(comm, v, n, MPI_DOUBLE, MPI_SUM); }
int rp_mpi_max_f64(MPI_Comm comm, double *v, int n) { return reduce(comm, v, n, MPI_DOUBLE, MPI_MAX); }

/* Messages above this many bytes travel in several rounds so every count fits an int. */
#define RP_A2A_CHUNK ((int64_t)1 << 30)

/* One round of the rare huge exchange, point to point (no int displacements at all): rank p's
 * piece is sc[p] bytes at send + sdispls[p], received pieces land at recv + rdispls[p]. Peers
 * wait on this rank's messages once any is posted, so a failed MPI call aborts the job. */
static void exchange_p2p(MPI_Comm comm, const char *send, const int *sc, const int64_t *sdispls,
                         char *recv, const int *rcn, const int64_t *rdispls, MPI_Request *req)
{
    int size = 0, nreq = 0;
    if (MPI_Comm_size(comm, &size) != MPI_SUCCESS)
        rp_die(comm, RP_ERR_MPI, "MPI_Comm_size in chunked all-to-all failed");
    for (int p = 0; p < size; p++) {
        if (rcn[p] > 0 && MPI_Irecv(recv + rdispls[p], rcn[p], MPI_BYTE, p, 7, comm,
                                    &req[nreq++]) != MPI_SUCCESS)
            rp_die(comm, RP_ERR_MPI, "MPI_Irecv in chunked all-to-all failed");
    }
    for (int p = 0; p < size; p++) {
        if (sc[p] > 0 && MPI_Isend(send + sdispls[p], sc[p], MPI_BYTE, p, 7, comm,
                                   &req[nreq++]) != MPI_SUCCESS)
            rp_die(comm, RP_ERR_MPI, "MPI_Isend in chunked all-to-all failed");
    }
    if (MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        rp_die(comm, RP_ERR_MPI, "MPI_Waitall in chunked all-to-all failed");
}

int rp_mpi_alltoallv_bytes(MPI_Comm comm, const void *sendbuf, const int64_t *sendcounts,
                           const int64_t *sdispls, void **recvbuf, int64_t *recvcounts,
                           int64_t *rdispls, int64_t *recvtotal)
{
    int rc = RP_OK;
    int size = 0;
    char *rbuf = NULL;
    int *sc = NULL, *sd = NULL, *rcn = NULL, *rd = NULL;
    MPI_Request *req = NULL;
    RP_MPI(MPI_Comm_size(comm, &size));
    RP_MPI(MPI_Alltoall(sendcounts, 1, MPI_INT64_T, recvcounts, 1, MPI_INT64_T, comm));
    int64_t total = 0, maxmsg = 0;
    for (int p = 0; p < size; p++) {
        rdispls[p] = total;
        total += recvcounts[p];
        if (recvcounts[p] > maxmsg) maxmsg = recvcounts[p];
        if (sendcounts[p] > maxmsg) maxmsg = sendcounts[p];
    }
    RP_CALL(rp_mpi_max_i64(comm, &maxmsg, 1));
    rbuf = rp_malloc(total > 0 ? (size_t)total : 1);
    rp_mem_huge(rbuf, (size_t)total);
    sc = rp_calloc((size_t)size, sizeof *sc);
    sd = rp_calloc((size_t)size, sizeof *sd);
    rcn = rp_calloc((size_t)size, sizeof *rcn);
    rd = rp_calloc((size_t)size, sizeof *rd);
    req = rp_malloc(2 * (size_t)size * sizeof *req);
    RP_AGREE_LOCAL(comm, !(rbuf && sc && sd && rcn && rd && req));
    /* Round r moves bytes [r*CHUNK, (r+1)*CHUNK) of every message; displacements are relative
     * to per-round base pointers so they fit an int too. */
    int64_t rounds = maxmsg == 0 ? 1 : (maxmsg + RP_A2A_CHUNK - 1) / RP_A2A_CHUNK;
    int64_t stotal = size > 0 ? sdispls[size - 1] + sendcounts[size - 1] : 0;
    int64_t big = (rounds > 1 || total > INT_MAX || stotal > INT_MAX) ? 1 : 0;
    RP_CALL(rp_mpi_max_i64(comm, &big, 1));
    for (int64_t r = 0; r < rounds; r++) {
        int64_t lo = r * RP_A2A_CHUNK;
        for (int p = 0; p < size; p++) {
            int64_t s = sendcounts[p] - lo, q = recvcounts[p] - lo;
            sc[p] = (int)(s < 0 ? 0 : (s > RP_A2A_CHUNK ? RP_A2A_CHUNK : s));
            rcn[p] = (int)(q < 0 ? 0 : (q > RP_A2A_CHUNK ? RP_A2A_CHUNK : q));
        }
        if (!big) {
            for (int p = 0; p < size; p++) {
                RP_CALL(rp_int_cast(sdispls[p], &sd[p]));
                RP_CALL(rp_int_cast(rdispls[p], &rd[p]));
            }
            RP_MPI(MPI_Alltoallv(sendbuf, sc, sd, MPI_BYTE, rbuf, rcn, rd, MPI_BYTE, comm));
        } else {
            exchange_p2p(comm, (const char *)sendbuf + lo, sc, sdispls, rbuf + lo, rcn, rdispls,
                         req);
        }
    }
    *recvbuf = rbuf;
    rbuf = NULL;
    *recvtotal = total;
cleanup:
    free(rbuf);
    free(sc);
    free(sd);
    free(rcn);
    free(rd);
    free(req);
    return rc;
}

void rp_mpi_byte_layout(int size, size_t recsz, int64_t *counts, int64_t *displs)
{
    int64_t at = 0;
    for (int p = 0; p < size; p++) {
        counts[p] *= (int64_t)recsz;
        displs[p] = at;
        at += counts[p];
    }
}

int rp_mpi_bcast_str(MPI_Comm comm, char *buf, size_t cap, int root)
{
    int rc = RP_OK;
    int n = 0;
    RP_CALL(rp_int_cast((int64_t)cap, &n));
    RP_MPI(MPI_Bcast(buf, n, MPI_CHAR, root, comm));
    buf[cap - 1] = '\0';
cleanup:
    return rc;
}

double rp_wtime_max(MPI_Comm comm, double t0)
{
    double dt = MPI_Wtime() - t0;
    if (MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, comm) != MPI_SUCCESS)
        rp_die(comm, RP_ERR_MPI, "MPI_Allreduce of times failed");
    return dt;
}
