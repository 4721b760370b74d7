/* rp_test.c - test helpers (linked into both runners). */
#include "rp_test.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[1024];

const char *rp_test_tmpdir(void)
{
    if (tmpdir[0]) return tmpdir;
    int rank = 0, init = 0;
    MPI_Initialized(&init);
    if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/rptest.XXXXXX", base && *base ? base : "/tmp");
        if (mkdtemp(tmpdir) == NULL) {
            perror("mkdtemp");
            abort();
        }
    }
    if (init) MPI_Bcast(tmpdir, sizeof tmpdir, MPI_CHAR, 0, MPI_COMM_WORLD);
    return tmpdir;
}

const char *rp_test_path(const char *name)
{
    static char bufs[8][1200];
    static int next = 0;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", rp_test_tmpdir(), name);
    return b;
}

void rp_test_write_file(const char *path, const char *text)
{
    int rank = 0, init = 0;
    MPI_Initialized(&init);
    if (init) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) {
        FILE *f = fopen(path, "wb");
        if (f == NULL) {
            perror(path);
            abort();
        }
        fwrite(text, 1, strlen(text), f);
        fclose(f);
    }
    if (init) MPI_Barrier(MPI_COMM_WORLD);
}

int rp_test_close(double a, double b, double tol) { return fabs(a - b) <= tol * (1.0 + fabs(b)); }

void rp_test_cleanup(void)
{
    if (tmpdir[0]) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    }
}
