/* shard_parse.c - bench-shard_parse: rp-shard's row parser on CSV text already in memory, so the
 * figure is the parser's alone (no reads, no page cache). Two ways on the same bytes, taking
 * turns REPS rounds, best of each, CPU seconds of this process (steadier than the wall clock
 * on a shared machine):
 *   mask    shard_parse_chunk: the stage's path (boundaries by SIMD masks, the best instruction
 *           set of the CPU or $RP_SHARD_SIMD; rows of another shape the scalar way)
 *   scalar  shard_parse_chunk with SHARD_SIMD_NONE: the one-pass byte-at-a-time fast path,
 *           strict parser for the rest (the stage's path before the mask parser)
 *   strict  shard_parse_line on every line: the strict per-field parser alone
 * Usage: shard_parse FILE [MB] [REPS] [WAYS]   (the first MB megabytes of FILE after the header,
 *        whole lines; default 256 MB, 5 rounds, WAYS a subset of "mask scalar strict", default
 *        all). Prints MB/s per CPU second and the ratios; row counts and rows must agree.
 * Each round parses into fresh rows (their page faults counted, as in the stage); with
 * SHARD_PARSE_WARM=1 the chunk ways reuse one row array touched before (the parser alone). */
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

/* shard_parse_chunk at SIMD level `level` into *p (fresh rows unless p->rows is set: then
 * they are reused). */
static int run_chunk(const char *buf, size_t len, int level, shard_parsed *p)
{
    rp_csv_chunk ck;
    memset(&ck, 0, sizeof ck);
    ck.buf = (char *)buf;
    ck.len = len;
    ck.first_line = 2;
    shard_row *rows = p->rows;
    int64_t cap = p->cap;
    memset(p, 0, sizeof *p);
    p->rows = rows;
    p->cap = cap;
    shard_simd_select(level);
    int rc = shard_parse_chunk(&ck, 1, p);
    shard_simd_select(SHARD_SIMD_AUTO);
    return rc;
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
    static const char *const names[3] = {"mask", "scalar", "strict"};
    MPI_Init(&argc, &argv);
    int help = argc > 1 && strcmp(argv[1], "--help") == 0;
    if (argc < 2 || help) {
        fprintf(help ? stdout : stderr, "usage: shard_parse FILE [MB] [REPS] [WAYS]: time the row "
                "parser on the first MB megabytes of a big_matrix.csv (default 256), REPS rounds "
                "(5), WAYS of \"mask scalar strict\" (all)\n");
        MPI_Finalize();
        return help ? 0 : 64;
    }
    size_t want = (size_t)(argc > 2 ? atof(argv[2]) : 256.0) * 1000000;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    const char *ways = argc > 4 ? argv[4] : "mask scalar strict";
    size_t len = 0;
    char *buf = load(argv[1], want, &len);
    if (buf == NULL) {
        fprintf(stderr, "shard_parse: %s: cannot read (or no data lines)\n", argv[1]);
        MPI_Finalize();
        return 66;
    }
    const char *warm_env = getenv("SHARD_PARSE_WARM");
    int warm = warm_env != NULL && atoi(warm_env) != 0;
    shard_parsed kept[2]; /* the warm rows of the chunk ways */
    memset(kept, 0, sizeof kept);
    double best[3] = {1e30, 1e30, 1e30};
    int64_t nrows[3] = {0, 0, 0};
    uint64_t sum[3] = {0, 0, 0}; /* row hashes and ids folded: the ways must agree */
    for (int r = 0; r < reps; r++)
        for (int w = 0; w < 3; w++) {
            if (strstr(ways, names[w]) == NULL) continue;
            double c0 = cpu_now();
            uint64_t h = 0;
            if (w < 2) {
                shard_parsed p;
                memset(&p, 0, sizeof p);
                if (warm) p = kept[w];
                if (run_chunk(buf, len, w == 0 ? SHARD_SIMD_AUTO : SHARD_SIMD_NONE, &p) != RP_OK)
                    return 70;
                nrows[w] = p.n;
                for (int64_t k = 0; k < p.n; k++)
                    h = h * 31 + p.rows[k].hash + (uint64_t)p.rows[k].user +
                        (uint64_t)p.rows[k].item;
                if (warm) kept[w] = p;
                else shard_parsed_clear(&p);
            } else { /* fresh rows each round, as the chunk way's (page faults included) */
                shard_raw *fresh = malloc((len / 8 + 1) * sizeof *fresh);
                if (fresh == NULL) return 70;
                nrows[w] = run_strict(buf, len, fresh);
                for (int64_t k = 0; k < nrows[w]; k++)
                    h = h * 31 + fresh[k].hash + (uint64_t)fresh[k].user + (uint64_t)fresh[k].item;
                free(fresh);
            }
            double cs = cpu_now() - c0;
            sum[w] = h;
            if (cs < best[w]) best[w] = cs;
        }
    double mb = (double)len / 1e6;
    printf("%-7s %10s %10s %12s %12s  (SIMD level %d, %s rows)\n", "way", "MB", "rows",
           "best_cpu_s", "MB/cpu_s", shard_simd_level(), warm ? "warm" : "fresh");
    for (int w = 0; w < 3; w++)
        if (best[w] < 1e30)
            printf("%-7s %10.1f %10lld %12.3f %12.1f\n", names[w], mb, (long long)nrows[w], best[w],
                   mb / best[w]);
    for (int w = 1; w < 3; w++)
        if (best[0] < 1e30 && best[w] < 1e30)
            printf("mask vs %s: %.2fx the rate%s\n", names[w], best[w] / best[0],
                   nrows[0] == nrows[w] && sum[0] == sum[w] ? "" : " (rows DIFFER)");
    shard_parsed_clear(&kept[0]);
    shard_parsed_clear(&kept[1]);
    free(buf);
    MPI_Finalize();
    return 0;
}
