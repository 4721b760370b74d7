/* shard_parse.c - bench-shard_parse: rp-shard's row parser on CSV text already in memory, so the
 * figure is the parser's alone (no reads, no page cache). Two ways on the same bytes, taking
 * turns REPS rounds, best of each, CPU seconds of this process (steadier than the wall clock
 * on a shared machine):
 *   chunk   shard_parse_chunk: the stage's path (one-pass fast path, strict parser for the rest)
 *   strict  shard_parse_line on every line: the strict per-field parser alone (the stage's path
 *           before the fast path, less its line-counting pass)
 * Usage: shard_parse FILE [MB] [REPS]   (the first MB megabytes of FILE after the header, whole
 *        lines; default 256 MB, 5 rounds). Prints MB/s per CPU second and the ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "rp_err.h"
#include "shard.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The first `want` bytes of whole data lines (after the header line). Out: *len. */
static char *load(const char *path, size_t want, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = malloc(want + 1);
    size_t got = buf ? fread(buf, 1, want, f) : 0;
    fclose(f);
    char *nl = got ? memchr(buf, '\n', got) : NULL, *last = got ? memrchr(buf, '\n', got) : NULL;
    if (nl == NULL || last == nl) {
        free(buf);
        return NULL;
    }
    size_t skip = (size_t)(nl - buf) + 1;
    *len = (size_t)(last - buf) + 1 - skip;
    memmove(buf, buf + skip, *len);
    return buf;
}

static int64_t run_strict(const char *buf, size_t len, shard_raw *rows)
{
    int64_t n = 0;
    char why[SHARD_ERR_LEN];
    for (const char *s = buf, *end = buf + len; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl > s && nl[-1] == '\r' ? nl - 1 : nl;
        n += shard_parse_line(s, e, 1, &rows[n], why, sizeof why) == 0;
        s = nl + 1;
    }
    return n;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int help = argc > 1 && strcmp(argv[1], "--help") == 0;
    if (argc < 2 || help) {
        fprintf(help ? stdout : stderr, "usage: shard_parse FILE [MB] [REPS]: time the row parser "
                "on the first MB megabytes of a big_matrix.csv (default 256), REPS rounds (5)\n");
        MPI_Finalize();
        return help ? 0 : 64;
    }
    size_t want = (size_t)(argc > 2 ? atof(argv[2]) : 256.0) * 1000000;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    size_t len = 0;
    char *buf = load(argv[1], want, &len);
    if (buf == NULL) {
        fprintf(stderr, "shard_parse: %s: cannot read (or no data lines)\n", argv[1]);
        free(buf);
        MPI_Finalize();
        return 66;
    }
    double best[2] = {1e30, 1e30};
    int64_t nrows[2] = {0, 0};
    for (int r = 0; r < reps; r++)
        for (int w = 0; w < 2; w++) {
            double c0 = cpu_now();
            if (w == 0) {
                rp_csv_chunk ck;
                memset(&ck, 0, sizeof ck);
                ck.buf = buf;
                ck.len = len;
                ck.first_line = 2;
                shard_parsed p;
                memset(&p, 0, sizeof p);
                if (shard_parse_chunk(&ck, 1, &p) != RP_OK) return 70;
                nrows[0] = p.n;
                shard_parsed_clear(&p);
            } else { /* fresh rows each round, as the chunk way's (page faults included) */
                shard_raw *fresh = malloc((len / 8 + 1) * sizeof *fresh);
                if (fresh == NULL) return 70;
                nrows[1] = run_strict(buf, len, fresh);
                free(fresh);
            }
            double cs = cpu_now() - c0;
            if (cs < best[w]) best[w] = cs;
        }
    double mb = (double)len / 1e6;
    printf("%-7s %10s %10s %12s %12s\n", "way", "MB", "rows", "best_cpu_s", "MB/cpu_s");
    printf("%-7s %10.1f %10lld %12.3f %12.1f\n", "chunk", mb, (long long)nrows[0], best[0], mb / best[0]);
    printf("%-7s %10.1f %10lld %12.3f %12.1f\n", "strict", mb, (long long)nrows[1], best[1], mb / best[1]);
    printf("chunk vs strict: %.2fx the rate%s\n", best[1] / best[0],
           nrows[0] == nrows[1] ? "" : " (row counts DIFFER)");
    free(buf);
    MPI_Finalize();
    return 0;
}
