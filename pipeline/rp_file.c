/* rp_file.c - positional reads, mkdir -p and atomic renames shared by rp_h5, rp_csv and the
 * stages that write CSV or text outputs (rp-synth, rp-recommend). */
#include "rp_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rp_err.h"
#include "rp_mpi.h"

int rp_file_pread_full(int fd, void *buf, size_t n, int64_t off, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + (int64_t)done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

int rp_file_mkdirs(const char *dir)
{
    int rc = RP_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *path; p++) {
        int end = *p == '\0';
        if (*p != '/' && !end) continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            RP_FAIL_USER(RP_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
        if (end) break;
        *p = '/';
    }
cleanup:
    return rc;
}

int rp_file_mkdirs_for(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) return RP_OK;
    *slash = '\0';
    return rp_file_mkdirs(dir);
}

/* Partial outputs being written by this process: read by a signal handler, hence fixed arrays. */
#define RP_PARTIAL_SLOTS 4
static char partial_paths[RP_PARTIAL_SLOTS][4096];

void rp_file_partial_track(const char *partial)
{
    for (int i = 0; i < RP_PARTIAL_SLOTS; i++) {
        if (partial_paths[i][0] == '\0') {
            snprintf(partial_paths[i], sizeof partial_paths[i], "%s", partial);
            return;
        }
    }
}

static void partial_forget(const char *partial)
{
    for (int i = 0; i < RP_PARTIAL_SLOTS; i++) {
        if (strcmp(partial_paths[i], partial) == 0) partial_paths[i][0] = '\0';
    }
}

void rp_file_partial_unlink_all(void)
{
    for (int i = 0; i < RP_PARTIAL_SLOTS; i++) {
        if (partial_paths[i][0] != '\0') unlink(partial_paths[i]);
    }
}

int rp_file_commit(MPI_Comm comm, const char *partial, const char *path, int rc)
{
    int rank = 0;
    partial_forget(partial);
    MPI_Comm_rank(comm, &rank);
    rc = rp_mpi_agree(comm, rc);
    if (rank == 0) {
        if (rc == RP_OK && rename(partial, path) != 0) {
            rp_log_user_error("%s: cannot rename to %s: %s", partial, path, strerror(errno));
            rc = RP_ERR_IO;
        }
        if (rc != RP_OK) unlink(partial);
    }
    return rp_mpi_agree(comm, rc);
}
