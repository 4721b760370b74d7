/* shard_stream.c - bench-shard_stream: rp-shard's whole read+parse phase of one file
 * (shard_stream_file on MPI_COMM_SELF: pread through the window, SHA-256 of the input,
 * mask parser, the row array's first touch) with several read windows in turns, REPS rounds,
 * best CPU seconds of this process for each window.
 * Usage: shard_stream FILE REPS KB [KB ...]   e.g. shard_stream big_matrix.csv 5 256 1024 8192 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "rp_err.h"
#include "shard.h"

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int help = argc > 1 && strcmp(argv[1], "--help") == 0;
    if (argc < 4 || help) {
        fprintf(help ? stdout : stderr, "usage: shard_stream FILE REPS KB [KB ...]: time "
                "rp-shard's read+parse phase of FILE with each read window in turns\n");
        MPI_Finalize();
        return help ? 0 : 64;
    }
    int reps = atoi(argv[2]), nw = argc - 3;
    for (int a = 3; a < argc && reps >= 1; a++)
        if (atol(argv[a]) < 1) reps = 0;
    if (reps < 1) {
        fprintf(stderr, "shard_stream: REPS '%s' and every KB must be whole numbers >= 1\n",
                argv[2]);
        MPI_Finalize();
        return 64;
    }
    double best_cpu[64], best_wall[64];
    int64_t rows[64], bytes = 0;
    char sha[64][65];
    if (nw > 64) nw = 64;
    for (int w = 0; w < nw; w++) best_cpu[w] = best_wall[w] = 1e30;
    for (int r = 0; r < reps; r++)
        for (int w = 0; w < nw; w++) {
            size_t window = (size_t)atol(argv[3 + w]) * 1024;
            shard_parsed p;
            double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t0 = clock_s(CLOCK_MONOTONIC);
            int rc = shard_stream_file(MPI_COMM_SELF, argv[1], window, 1, &p);
            if (rc != RP_OK) {
                MPI_Finalize();
                return rc; /* the reader named the file and the problem */
            }
            double cs = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0, ws = clock_s(CLOCK_MONOTONIC) - t0;
            if (cs < best_cpu[w]) best_cpu[w] = cs;
            if (ws < best_wall[w]) best_wall[w] = ws;
            rows[w] = p.n;
            bytes = p.bytes;
            memcpy(sha[w], p.sha256, sizeof sha[w]);
            shard_parsed_clear(&p);
        }
    printf("%8s %10s %10s %10s %12s %12s\n", "KB", "rows", "best_cpu_s", "best_wall", "MB/cpu_s",
           "MB/wall_s");
    for (int w = 0; w < nw; w++)
        printf("%8s %10lld %10.3f %10.3f %12.1f %12.1f%s\n", argv[3 + w], (long long)rows[w],
               best_cpu[w], best_wall[w], (double)bytes / 1e6 / best_cpu[w],
               (double)bytes / 1e6 / best_wall[w],
               rows[w] == rows[0] && strcmp(sha[w], sha[0]) == 0 ? "" : "  (DIFFERS)");
    MPI_Finalize();
    return 0;
}
