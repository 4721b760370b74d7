/* test_rp_io_mpi.c - collective HDF5 helpers and line-aligned CSV chunks under 1..4 ranks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rp_csv.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_sha256.h"
#include "rp_test.h"

int test_rp_io_mpi_register(void);

/* Every line of a CSV is seen by exactly one rank, with its true line number. */
static void csv_chunks_cover_lines(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *path = rp_test_path("chunks.csv");
    char *text = malloc(200000);
    size_t o = (size_t)sprintf(text, "\xEF\xBB\xBF" "a,b\r\n");
    for (int i = 0; i < 5000; i++) o += (size_t)sprintf(text + o, "%d,%d\r\n", i + 2, i * 7);
    rp_test_write_file(path, text);
    free(text);
    rp_csv_chunk ck;
    CU_ASSERT_EQUAL_FATAL(rp_csv_read_chunk(comm, path, "a,b", &ck), RP_OK);
    size_t pos = 0;
    const char *s, *e;
    int64_t line = 0, count = 0, bad = 0;
    int trunc = 0;
    while (rp_csv_next_line(&ck, &pos, &s, &e, &line, &trunc)) {
        rp_csv_field f[3];
        int64_t a = 0, b = 0;
        if (rp_csv_split(s, e, f, 3) != 2 || rp_parse_i64(f[0].p, f[0].len, &a) != 0 ||
            rp_parse_i64(f[1].p, f[1].len, &b) != 0 || a != line || b != (line - 2) * 7)
            bad++;
        count++;
    }
    rp_csv_chunk_clear(&ck);
    rp_mpi_sum_i64(comm, &count, 1);
    rp_mpi_sum_i64(comm, &bad, 1);
    CU_ASSERT_EQUAL(count, 5000);
    CU_ASSERT_EQUAL(bad, 0);
}

static void csv_bad_header_and_missing(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *path = rp_test_path("hdr.csv");
    rp_test_write_file(path, "x,y\n1,2\n");
    rp_csv_chunk ck;
    CU_ASSERT_EQUAL(rp_csv_read_chunk(comm, path, "a,b", &ck), RP_ERR_DATA);
    CU_ASSERT_EQUAL(rp_csv_read_chunk(comm, rp_test_path("nope.csv"), "a,b", &ck), RP_ERR_NOINPUT);
    const char *empty = rp_test_path("empty.csv");
    rp_test_write_file(empty, "");
    CU_ASSERT_EQUAL(rp_csv_read_chunk(comm, empty, "a,b", &ck), RP_ERR_NOINPUT);
}

/* Rows written by N ranks as hyperslabs read back identically; commit renames atomically. */
static void h5_write_read_commit(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const char *path = rp_test_path("t.h5");
    hid_t f = H5I_INVALID_HID;
    rp_h5_init(); /* zeroes the output counters */
    CU_ASSERT_EQUAL_FATAL(rp_h5_create(comm, path, &f), RP_OK);
    int64_t n = 103, off, cnt;
    rp_part_even(n, size, rank, &off, &cnt);
    double *x = malloc((size_t)(cnt * 3 + 1) * sizeof *x);
    for (int64_t i = 0; i < cnt * 3; i++) x[i] = (double)(off * 3 + i) * 0.5;
    int rc = rp_h5_write_2d(f, "/g/sub/x", RP_F64, n, 3, off, cnt, x);
    CU_ASSERT_EQUAL(rc, RP_OK);
    int64_t k = 42;
    const char *cols[] = {"alpha", "b", "gamma_long_name"};
    CU_ASSERT_EQUAL(rp_h5_attr_write(f, "/g/sub/x", "k", RP_I64, 1, &k), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_attr_write_strs(f, "/g/sub/x", "columns", 3, cols), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_attr_write_str(f, "/", "schema", "recpipe.test"), RP_OK);
    CU_ASSERT_EQUAL(access(path, F_OK), -1); /* nothing final before commit */
    CU_ASSERT_EQUAL(rp_h5_commit(comm, &f, path, RP_OK), RP_OK);
    CU_ASSERT_EQUAL(access(path, F_OK), 0);
    free(x);
    /* The summary line's output rate counts exactly this rank's dataset bytes. */
    double out_s = -1.0;
    int64_t out_b = -1;
    rp_h5_out_stats(&out_s, &out_b);
    CU_ASSERT_EQUAL(out_b, cnt * 3 * (int64_t)sizeof(double));
    CU_ASSERT(out_s > 0.0 && out_s < 60.0);
    rp_h5_init();
    rp_h5_out_stats(&out_s, &out_b);
    CU_ASSERT(out_b == 0 && out_s == 0.0);

    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, path, &f), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_check_schema(f, path, "recpipe.test"), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_check_schema(f, path, "recpipe.other"), RP_ERR_DATA);
    double *all = NULL;
    int nd = 0;
    int64_t dims[2];
    CU_ASSERT_EQUAL(rp_h5_read_all(f, "/g/sub/x", RP_F64, (void **)&all, &nd, dims), RP_OK);
    CU_ASSERT_EQUAL(nd, 2);
    CU_ASSERT_EQUAL(dims[0], 103);
    int good = 1;
    for (int64_t i = 0; all && i < n * 3; i++) good &= all[i] == (double)i * 0.5;
    CU_ASSERT(good);
    free(all);
    int64_t k2 = 0;
    CU_ASSERT_EQUAL(rp_h5_attr_read(f, "/g/sub/x", "k", RP_I64, 1, &k2), RP_OK);
    CU_ASSERT_EQUAL(k2, 42);
    char **names = NULL;
    int64_t nn = 0;
    CU_ASSERT_EQUAL(rp_h5_attr_read_strs(f, "/g/sub/x", "columns", &names, &nn), RP_OK);
    CU_ASSERT_EQUAL(nn, 3);
    if (nn == 3) CU_ASSERT_STRING_EQUAL(names[2], "gamma_long_name");
    rp_h5_strs_free(names, nn);
    CU_ASSERT_EQUAL(rp_h5_dims(f, "/missing", &nd, dims), RP_ERR_DATA);
    rp_h5_close(&f);
}

/* A failed stage removes its partial file and leaves the previous output untouched. */
static void h5_failed_commit_keeps_old(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank;
    MPI_Comm_rank(comm, &rank);
    const char *path = rp_test_path("keep.h5");
    rp_test_write_file(path, "old");
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_create(comm, path, &f), RP_OK);
    int size;
    MPI_Comm_size(comm, &size);
    int fail = rank == size - 1 ? RP_ERR_DATA : RP_OK;
    CU_ASSERT_EQUAL(rp_h5_commit(comm, &f, path, fail), RP_ERR_DATA);
    char p2[1200];
    snprintf(p2, sizeof p2, "%s.partial", path);
    CU_ASSERT_EQUAL(access(p2, F_OK), -1);
    FILE *fp = fopen(path, "r");
    char buf[8] = "";
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_PTR_NOT_NULL(fgets(buf, sizeof buf, fp));
    fclose(fp);
    CU_ASSERT_STRING_EQUAL(buf, "old");
    CU_ASSERT_EQUAL(rp_h5_open(comm, path, &f), RP_ERR_DATA); /* not HDF5 */
}

/* One rank asking for rows past the end: the others still complete the collective read (no
 * hang) and get their rows, and every rank returns the agreed RP_ERR_DATA (so callers
 * branch alike). */
static void h5_bad_range_on_one_rank(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const char *path = rp_test_path("range.h5");
    hid_t f = H5I_INVALID_HID;
    int32_t v[4] = {1, 2, 3, 4};
    CU_ASSERT_EQUAL_FATAL(rp_h5_create(comm, rp_test_path("sub/dir/range.h5"), &f), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_commit(comm, &f, rp_test_path("sub/dir/range.h5"), RP_OK), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_h5_create(comm, path, &f), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_write_replicated(comm, f, "/v", RP_I32, 1, (int64_t[]){4}, v), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_commit(comm, &f, path, RP_OK), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, path, &f), RP_OK);
    int32_t got[4] = {0};
    int last = rank == size - 1;
    int rc = rp_h5_read(f, "/v", RP_I32, last ? 3 : 1, last ? 5 : 2, got);
    CU_ASSERT_EQUAL(rc, RP_ERR_DATA);
    if (!last) CU_ASSERT(got[0] == 2 && got[1] == 3);
    rp_h5_close(&f);
}

/* The parallel file hash does not depend on the number of ranks: compare to a serial digest. */
static void hash_file_matches_serial(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *path = rp_test_path("hash.txt");
    rp_test_write_file(path, "abc");
    char hex[65];
    CU_ASSERT_EQUAL(rp_hash_file(comm, path, hex), RP_OK);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* rp_range_hash over ranks' byte ranges gives rp_hash_file's digest: blocks smaller than the
 * file (a range starting mid-block, on a block boundary, or empty), one block, and a file of
 * exactly one block; bytes fed in uneven pieces; and rp-shard's way (way 3): the blocks from
 * rp_range_hash_edge of each range start, the bytes of [edge, start) fed first, the range
 * itself, the rest of the last block read at the end. A changed byte changes the digest. */
static void range_hash_matches_file_hash(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const char *path = rp_test_path("range_hash.txt");
    enum { N = 9000 };
    char *text = malloc(N + 1);
    for (int i = 0; i < N; i++) text[i] = (char)('a' + (i * 7919 + i / 13) % 26);
    text[N] = '\0';
    rp_test_write_file(path, text);
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    const int64_t blocks[] = {1000, 999, 4500, 9000, 20000};
    /* cut points: as rp-shard's (proportional), and ones on a block boundary / empty ranges */
    for (int way = 0; way < 4; way++) {
        for (size_t bi = 0; bi < sizeof blocks / sizeof *blocks; bi++) {
            int64_t from = (int64_t)N * rank / size, to = (int64_t)N * (rank + 1) / size;
            int64_t feed_to = to;
            if (way == 3) { /* as shard_read.c's hash_begin */
                int64_t lo = from, edge = rank == 0 ? 0 : rp_range_hash_edge(N, blocks[bi], lo);
                to = rank + 1 < size ? rp_range_hash_edge(N, blocks[bi], feed_to) : N;
                from = edge < lo && edge < to ? edge : lo;
                CU_ASSERT(lo - from <= blocks[bi] / 2 || blocks[bi] >= N);
            }
            if (way == 1) from = rank == 0 ? 0 : 2000 + 1000 * (rank - 1), to = rank + 1 == size ? N : 2000 + 1000 * rank;
            if (way == 2) from = rank == 0 ? 0 : N, to = rank == 0 ? N : N; /* all on rank 0 */
            if (from > N) from = N;
            if (to > N) to = N;
            rp_range_hash h;
            CU_ASSERT_EQUAL_FATAL(rp_range_hash_begin(&h, N, blocks[bi], from, to), RP_OK);
            if (way != 3) feed_to = to;
            for (int64_t p = from, step = 1; p < feed_to; p += step, step = step * 3 % 1777 + 1) {
                if (p + step > feed_to) step = feed_to - p;
                rp_range_hash_update(&h, text + p, (size_t)step);
            }
            int fd = fileno(f);
            char got[65], want[65];
            CU_ASSERT_EQUAL(rp_range_hash_end(comm, &h, fd, got), RP_OK);
            CU_ASSERT_EQUAL(rp_hash_file_block(comm, path, blocks[bi], want), RP_OK);
            CU_ASSERT_STRING_EQUAL(got, want);
        }
    }
    char plain[65], full[65];
    CU_ASSERT_EQUAL(rp_sha256_hex(text, N, plain), RP_OK);
    CU_ASSERT_EQUAL(rp_hash_file(comm, path, full), RP_OK);
    CU_ASSERT_STRING_EQUAL(plain, full); /* one block of 64 MiB: the plain SHA-256 */
    char split[65];
    CU_ASSERT_EQUAL(rp_hash_file_block(comm, path, 1000, split), RP_OK);
    CU_ASSERT_STRING_NOT_EQUAL(split, full); /* nine blocks: the digest of the digests */
    fclose(f);
    text[N / 2] ^= 1; /* one changed byte in the middle of a block */
    MPI_Barrier(comm);
    rp_test_write_file(path, text);
    char changed[65];
    CU_ASSERT_EQUAL(rp_hash_file_block(comm, path, 1000, changed), RP_OK);
    CU_ASSERT_STRING_NOT_EQUAL(changed, split);
    free(text);
}

int test_rp_io_mpi_register(void)
{
    RP_ADD_SUITE("rp_io_mpi", RP_T(csv_chunks_cover_lines), RP_T(csv_bad_header_and_missing),
                 RP_T(h5_write_read_commit), RP_T(h5_failed_commit_keeps_old), RP_T(h5_bad_range_on_one_rank),
                 RP_T(hash_file_matches_serial), RP_T(range_hash_matches_file_hash));
    return 0;
}
