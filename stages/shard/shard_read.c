/* shard_read.c - rp-shard's streaming reader: each rank parses its own line-aligned byte range
 * of a CSV (the same split as rp_csv_read_chunk) through a fixed-size window, so memory holds
 * the parsed rows, not the text. Line numbers for messages come from an exclusive scan of the
 * per-rank line counts after the pass. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rp_err.h"
#include "rp_file.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_sha256.h"
#include "shard.h"

/* Rank 0: the file exists, is regular and non-empty, and starts with the header (after an
 * optional UTF-8 BOM, CRLF accepted). Out: *fsize, *data_start (first byte after the header). */
static int check_head(const char *path, int64_t *fsize, int64_t *data_start)
{
    int rc = RP_OK;
    int fd = -1;
    struct stat st;
    char head[4096];
    size_t got = 0;
    fd = open(path, O_RDONLY);
    if (fd < 0) RP_FAIL_USER(RP_ERR_NOINPUT, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        RP_FAIL_USER(RP_ERR_NOINPUT, "%s: not a regular file", path);
    if (st.st_size == 0) RP_FAIL_USER(RP_ERR_NOINPUT, "%s: empty file", path);
    if (rp_file_pread_full(fd, head, sizeof head, 0, &got) != 0)
        RP_FAIL_USER(RP_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    size_t skip = got >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    char *nl = memchr(head + skip, '\n', got - skip);
    size_t end = nl ? (size_t)(nl - head) : got, hlen = end - skip;
    if (hlen > 0 && head[skip + hlen - 1] == '\r') hlen--;
    if (hlen != strlen(SHARD_HEADER) || memcmp(head + skip, SHARD_HEADER, hlen) != 0) {
        char shown[160];
        rp_csv_sanitize(head + skip, hlen, shown, sizeof shown);
        RP_FAIL_USER(RP_ERR_DATA, "%s:1: header is '%s', expected '%s'", path, shown, SHARD_HEADER);
    }
    *fsize = (int64_t)st.st_size;
    *data_start = nl ? (int64_t)end + 1 : (int64_t)got;
cleanup:
    if (fd >= 0) close(fd);
    return rc;
}

/* This rank's byte range [*lo, *hi) of the data lines. Collective. */
static int my_range(MPI_Comm comm, int fd, int64_t fsize, int64_t data_start, int64_t *lo,
                    int64_t *hi)
{
    int rc = RP_OK;
    int rank = 0, size = 1;
    int64_t *starts = NULL, start = 0;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    int64_t b = data_start + (fsize - data_start) * rank / size;
    if (rp_csv_line_start(fd, fsize, data_start, b, &start) != 0) {
        rp_log_error(__FILE__, __LINE__, "read failed: %s", strerror(errno));
        rc = RP_ERR_IO;
    }
    starts = rp_malloc(((size_t)size + 1) * sizeof *starts);
    RP_AGREE_LOCAL(comm, starts == NULL);
    RP_MPI(MPI_Allgather(&start, 1, MPI_INT64_T, starts, 1, MPI_INT64_T, comm));
    *lo = start;
    *hi = rank + 1 < size ? starts[rank + 1] : fsize;
cleanup:
    free(starts);
    return rc;
}

/* Parse [lo, hi) through a window of `window` bytes (grown for longer lines), feeding every
 * byte read to the lineage hash while it is in cache. Local. Error line numbers are relative
 * (1 = this rank's first line) until the caller shifts them. */
static int stream_range(int fd, const char *path, int64_t lo, int64_t hi, size_t window,
                        int allow_empty_time, rp_range_hash *h, shard_parsed *out)
{
    int rc = RP_OK;
    size_t cap = window, carry = 0;
    char *buf = NULL;
    int64_t line = 1;
    rp_progress pg;
    char what[4200];
    snprintf(what, sizeof what, "parsing %s", path);
    rp_progress_begin(&pg, what, hi - lo, "bytes"); /* rank 0's byte range */
    RP_ALLOC(buf = malloc(cap + 1));
    for (int64_t pos = lo; pos < hi || carry > 0;) {
        size_t want = cap - carry, got = 0;
        if ((int64_t)want > hi - pos) want = (size_t)(hi - pos);
        RP_REQUIRE(rp_file_pread_full(fd, buf + carry, want, pos, &got) == 0 && got == want, RP_ERR_IO,
                   "%s: read failed at byte %lld", path, (long long)pos);
        rp_range_hash_update(h, buf + carry, got);
        pos += (int64_t)got;
        size_t len = carry + got, use = len;
        if (pos < hi) { /* keep the partial last line for the next window */
            char *nl = memrchr(buf, '\n', len);
            if (nl == NULL) { /* a line longer than the window */
                char *bigger = NULL;
                RP_ALLOC(bigger = realloc(buf, 2 * cap + 1));
                buf = bigger;
                cap *= 2;
                carry = len;
                continue;
            }
            use = (size_t)(nl - buf) + 1;
        }
        rp_csv_chunk ck = {.buf = buf, .len = use, .first_line = line};
        snprintf(ck.path, sizeof ck.path, "%s", path);
        int64_t before = out->n + out->nbad;
        RP_CALL(shard_parse_chunk(&ck, allow_empty_time, out));
        if (before == 0 && pos < hi && out->n > 0) /* the range's rows at this window's rate */
            RP_CALL(shard_parsed_reserve(out, (int64_t)((double)out->n / (double)use *
                                                        (double)(hi - lo) * 1.02) + 4096));
        line += out->n + out->nbad - before;
        carry = len - use;
        memmove(buf, buf + use, carry);
        rp_progress_update(&pg, pos - lo);
    }
    rp_progress_end(&pg);
cleanup:
    free(buf);
    return rc;
}

/* The lineage hash of the file (rp_hash_file's digest): this rank hashes the blocks that start
 * in [edge(lo), edge(hi)) (rp_range_hash_edge: the block boundary nearest to each range start,
 * so the ranks hash about equal shares). When its edge lies below lo it first reads and feeds
 * [edge, lo) here (rank 0: the header; others at most half a block); the parse then feeds
 * [lo, hi) and rp_range_hash_end reads whatever of its last block lies past hi. Local. */
static int hash_begin(int fd, const char *path, int rank, int size, int64_t lo, int64_t hi,
                      int64_t fsize, rp_range_hash *h)
{
    int rc = RP_OK;
    char *buf = NULL;
    int64_t edge = rank == 0 ? 0 : rp_range_hash_edge(fsize, RP_HASH_BLOCK, lo);
    int64_t to = rank + 1 < size ? rp_range_hash_edge(fsize, RP_HASH_BLOCK, hi) : fsize;
    int64_t from = edge < lo && edge < to ? edge : lo; /* no blocks of ours: nothing to read */
    RP_CALL(rp_range_hash_begin(h, fsize, RP_HASH_BLOCK, from, to));
    if (from < lo) RP_ALLOC(buf = malloc(1 << 20));
    for (int64_t pos = from; pos < lo;) {
        size_t want = lo - pos < (1 << 20) ? (size_t)(lo - pos) : (1 << 20), got = 0;
        RP_REQUIRE(rp_file_pread_full(fd, buf, want, pos, &got) == 0 && got == want, RP_ERR_IO,
                   "%s: read failed at byte %lld", path, (long long)pos);
        rp_range_hash_update(h, buf, got);
        pos += (int64_t)got;
    }
cleanup:
    free(buf);
    return rc;
}

/* Turn relative error line numbers into file line numbers (the header is line 1). */
static int shift_lines(MPI_Comm comm, shard_parsed *out)
{
    int rc = RP_OK;
    int64_t before = 0;
    RP_CALL(rp_mpi_exscan_i64(comm, out->n + out->nbad, &before));
    for (int k = 0; k < out->nerr; k++) out->errs[k].line += 1 + before;
cleanup:
    return rc;
}

int shard_stream_file(MPI_Comm comm, const char *path, size_t window, int allow_empty_time,
                      shard_parsed *out)
{
    int rc = RP_OK;
    int rank = 0, size = 1, fd = -1;
    int64_t head[3] = {RP_OK, 0, 0}; /* verdict, file size, data start */
    int64_t lo = 0, hi = 0;
    rp_range_hash h = {.cur_block = -1};
    memset(out, 0, sizeof *out);
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    if (rank == 0) head[0] = check_head(path, &head[1], &head[2]);
    RP_MPI(MPI_Bcast(head, 3, MPI_INT64_T, 0, comm));
    if (head[0] != RP_OK) {
        rc = (int)head[0];
        goto cleanup;
    }
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        rp_log_user_error("%s: cannot open: %s", path, strerror(errno));
        rc = RP_ERR_IO;
    }
    RP_AGREE(comm, rc);
    rc = my_range(comm, fd, head[1], head[2], &lo, &hi);
    RP_AGREE(comm, rc);
    rc = hash_begin(fd, path, rank, size, lo, hi, head[1], &h);
    RP_AGREE(comm, rc);
    rc = stream_range(fd, path, lo, hi, window, allow_empty_time, &h, out);
    out->bytes = hi - lo;
    RP_AGREE(comm, rc);
    RP_CALL(rp_range_hash_end(comm, &h, fd, out->sha256));
    RP_CALL(shift_lines(comm, out));
cleanup:
    rp_range_hash_clear(&h);
    if (fd >= 0) close(fd);
    rc = rp_mpi_agree(comm, rc);
    if (rc != RP_OK) shard_parsed_clear(out);
    return rc;
}
