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
#include "rp_mem.h"
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

/* Lanes: a rank's byte range is read as up to SHARD_LANES consecutive pieces side by side, one
 * window of each per round, so that the SHA-256 of their hash blocks runs as parallel streams
 * (rp_range_hash_update_lanes: 1.8x the bytes per second of one stream with four). A lane
 * starts at the first line at or after a hash-block boundary and hashes the blocks from there
 * to the next lane's boundary, so no lane needs another's bytes. Each lane parses into its own
 * region of the one row array, sized from the first window's rows per byte; the regions are
 * closed up after the pass (a memmove of rows already touched), so the rows end in file order,
 * as a single pass leaves them. A lane whose region fills goes on in an array of its own,
 * copied in after the pass (not seen on the KuaiRec-shaped files: the regions have 3% slack). */
#define SHARD_LANES 4

typedef struct lane {
    int64_t pos, end;     /* next byte to read; end of the lane's range */
    char *buf;            /* read window (grown for a longer line) */
    size_t cap, carry;    /* window bytes; bytes of a partial line kept at buf[0] */
    int64_t line;         /* lane-relative line number of buf[0] (1 = the lane's first line) */
    shard_parsed part;    /* rows in the lane's region (rows borrowed from the array) */
    shard_parsed ovf;     /* rows after the region filled (own array) */
    int in_ovf;           /* region full: the rest goes to ovf */
    int64_t region;       /* first row of the region in the array */
    rp_range_hash h;
    size_t got;           /* bytes read this round */
} lane;

static void lane_clear(lane *ln, int owns_rows)
{
    free(ln->buf);
    if (!owns_rows) ln->part.rows = NULL; /* borrowed from lane 0's array */
    shard_parsed_clear(&ln->part);
    shard_parsed_clear(&ln->ovf);
    rp_range_hash_clear(&ln->h);
}

/* The lanes of [lo, hi): the rank hashes the blocks that start in [edge(lo), edge(hi))
 * (rp_range_hash_edge: about equal shares over ranks, at most half a block read twice); they
 * are dealt to the lanes in consecutive runs. Out: ln[0, *nl) with pos/end/h set and the bytes
 * before each lane's range that its first block holds hashed (rank 0: the header; lane 0 of
 * another rank: at most half a block; other lanes: less than a line). Local. */
static int lanes_begin(int fd, const char *path, int rank, int size, int64_t data_start,
                       int64_t lo, int64_t hi, int64_t fsize, int64_t block, lane *ln, int *nl)
{
    int rc = RP_OK;
    char *buf = NULL;
    int64_t edge = rank == 0 ? 0 : rp_range_hash_edge(fsize, block, lo);
    int64_t to = rank + 1 < size ? rp_range_hash_edge(fsize, block, hi) : fsize;
    int64_t b0 = edge / block, b1 = to >= fsize ? (fsize + block - 1) / block : to / block;
    int64_t nb = edge < to && edge < fsize ? b1 - b0 : 0;
    int n = nb < SHARD_LANES ? (nb > 0 ? (int)nb : 1) : SHARD_LANES;
    int64_t from[SHARD_LANES + 1], start[SHARD_LANES + 1];
    from[0] = edge < lo && nb > 0 ? edge : lo; /* nothing of ours: nothing to read */
    start[0] = lo;
    for (int j = 1; j < n; j++) {
        from[j] = (b0 + nb * j / n) * block;
        RP_REQUIRE(rp_csv_line_start(fd, fsize, data_start, from[j], &start[j]) == 0, RP_ERR_IO,
                   "%s: read failed: %s", path, strerror(errno));
        if (start[j] > hi) start[j] = hi;
        if (start[j] < start[j - 1]) start[j] = start[j - 1];
    }
    from[n] = to;
    start[n] = hi;
    RP_ALLOC(buf = malloc(1 << 20));
    for (int j = 0; j < n; j++) {
        ln[j].pos = start[j];
        ln[j].end = start[j + 1];
        RP_CALL(rp_range_hash_begin(&ln[j].h, fsize, block, from[j], from[j + 1]));
        for (int64_t pos = from[j]; pos < start[j];) {
            size_t want = start[j] - pos < (1 << 20) ? (size_t)(start[j] - pos) : (1 << 20);
            size_t got = 0;
            RP_REQUIRE(rp_file_pread_full(fd, buf, want, pos, &got) == 0 && got == want,
                       RP_ERR_IO, "%s: read failed at byte %lld", path, (long long)pos);
            rp_range_hash_update(&ln[j].h, buf, got);
            pos += (int64_t)got;
        }
    }
    *nl = n;
cleanup:
    free(buf);
    return rc;
}

/* Read the lane's next window after its carry. Local. */
static int lane_read(int fd, const char *path, lane *ln)
{
    int rc = RP_OK;
    size_t want = ln->cap - ln->carry, got = 0;
    if ((int64_t)want > ln->end - ln->pos) want = (size_t)(ln->end - ln->pos);
    RP_REQUIRE(rp_file_pread_full(fd, ln->buf + ln->carry, want, ln->pos, &got) == 0 &&
                   got == want, RP_ERR_IO, "%s: read failed at byte %lld", path,
               (long long)ln->pos);
    ln->pos += (int64_t)got;
    ln->got = got;
cleanup:
    return rc;
}

/* Parse buf[0, use) of the lane: into its region while room is sure (a stored row has at least
 * 13 bytes, so a piece of 12 (room - 1) bytes cannot fill it), then into its own array. With
 * grow set (one lane, whose region is the whole array) the array grows instead. Local. */
static int lane_parse(lane *ln, const char *path, size_t use, int allow_empty_time, int grow)
{
    int rc = RP_OK;
    rp_csv_chunk ck = {.buf = NULL};
    snprintf(ck.path, sizeof ck.path, "%s", path);
    for (size_t at = 0; at < use;) {
        size_t len = use - at;
        if (!grow && !ln->in_ovf) {
            int64_t room = ln->part.cap - ln->part.n;
            size_t lim = room > 1 ? (size_t)(room - 1) * 12 : 0;
            if (len > lim) {
                char *nl = lim > 0 ? memrchr(ln->buf + at, '\n', lim) : NULL;
                if (nl == NULL) {
                    ln->in_ovf = 1;
                    continue;
                }
                len = (size_t)(nl - (ln->buf + at)) + 1;
            }
        }
        shard_parsed *dst = ln->in_ovf ? &ln->ovf : &ln->part;
        int64_t before = dst->n + dst->nbad;
        ck.buf = ln->buf + at;
        ck.len = len;
        ck.first_line = ln->line;
        RP_CALL(shard_parse_chunk(&ck, allow_empty_time, dst));
        ln->line += dst->n + dst->nbad - before;
        at += len;
    }
cleanup:
    return rc;
}

/* After lane 0's first window (`use` bytes): the row array reserved for the range's rows at
 * that window's rate, 3% more with several lanes, and cut into the lanes' regions in proportion
 * to their bytes. Local. */
static int lanes_regions(lane *ln, int n, int64_t lo, int64_t hi, double use)
{
    int rc = RP_OK;
    double rate = (double)ln[0].part.n / use * (n > 1 ? 1.03 : 1.02);
    int64_t cap = (int64_t)(rate * (double)(hi - lo)) + 4096 * n;
    if (cap < ln[0].part.n) cap = ln[0].part.n;
    RP_CALL(shard_parsed_reserve(&ln[0].part, cap));
    ln[0].region = 0;
    for (int i = 1; i < n; i++) {
        int64_t r = (int64_t)((double)cap * (double)(ln[i].pos - lo) / (double)(hi - lo));
        int64_t min = i == 1 ? ln[0].part.n : ln[i - 1].region;
        ln[i].region = r < min ? min : r > cap ? cap : r;
    }
    for (int i = 0; i < n; i++) {
        ln[i].part.cap = (i + 1 < n ? ln[i + 1].region : cap) - ln[i].region;
        if (i > 0) ln[i].part.rows = ln[0].part.rows + ln[i].region;
    }
cleanup:
    return rc;
}

/* One round: a window of every lane not done, hashed side by side, then parsed. *first: lane
 * 0's first window, after which the row array is reserved for the whole range. Local. */
static int lanes_round(int fd, const char *path, lane *ln, int n, int64_t lo, int64_t hi,
                       int allow_empty_time, int *first)
{
    int rc = RP_OK;
    rp_range_hash *hs[SHARD_LANES];
    const void *ps[SHARD_LANES];
    size_t ns[SHARD_LANES];
    int k = 0;
    for (int j = 0; j < n; j++) {
        ln[j].got = 0;
        if (ln[j].pos >= ln[j].end && ln[j].carry == 0) continue;
        if (*first && j > 0) continue;
        RP_CALL(lane_read(fd, path, &ln[j]));
        hs[k] = &ln[j].h, ps[k] = ln[j].buf + ln[j].carry, ns[k++] = ln[j].got;
    }
    rp_range_hash_update_lanes(hs, ps, ns, k);
    for (int j = 0; j < n; j++) {
        lane *l = &ln[j];
        if (l->got == 0 && l->carry == 0) continue;
        if (*first && j > 0) continue;
        size_t len = l->carry + l->got, use = len;
        if (l->pos < l->end) { /* keep the partial last line for the next window */
            char *nl = memrchr(l->buf, '\n', len);
            if (nl == NULL) { /* a line longer than the window */
                char *bigger = NULL;
                RP_ALLOC(bigger = realloc(l->buf, 2 * l->cap + 1));
                l->buf = bigger;
                l->cap *= 2;
                l->carry = len;
                continue;
            }
            use = (size_t)(nl - l->buf) + 1;
        }
        RP_CALL(lane_parse(l, path, use, allow_empty_time, n == 1 || *first));
        l->carry = len - use;
        memmove(l->buf, l->buf + use, l->carry);
        if (*first && l->part.n > 0) RP_CALL(lanes_regions(ln, n, lo, hi, (double)use));
        if (*first && (l->part.n > 0 || (l->pos >= l->end && l->carry == 0)))
            *first = 0; /* (a lane 0 without rows leaves the others to their own arrays) */
    }
cleanup:
    return rc;
}

/* Append part p's rows (moved from wherever they are to out->rows + out->n), wide ids (codes
 * renumbered after out's), counts and notes (lines shifted by `lines`) to out. */
static void join_part(shard_parsed *out, const shard_parsed *p, int64_t lines)
{
    shard_row *dst = out->rows + out->n;
    if (p->n > 0 && dst != p->rows) memmove(dst, p->rows, (size_t)p->n * sizeof *dst);
    for (int64_t k = 0; k < p->n && out->nwide > 0 && p->nwide > 0; k++) {
        if (dst[k].user < 0) dst[k].user -= (int32_t)out->nwide; /* -(k + 1) of the table */
        if (dst[k].item < 0) dst[k].item -= (int32_t)out->nwide;
    }
    if (p->nwide > 0) memcpy(out->wide + out->nwide, p->wide, (size_t)p->nwide * sizeof *p->wide);
    for (int e = 0; e < p->nerr && out->nerr < SHARD_MAX_ERRS; e++) {
        out->errs[out->nerr] = p->errs[e];
        out->errs[out->nerr++].line += lines;
    }
    out->n += p->n;
    out->nwide += p->nwide;
    out->nbad += p->nbad;
    out->nscan += p->nscan;
    out->bytes += p->bytes;
}

/* Close up the lanes' rows in file order in lane 0's array (a fresh one when a lane spilled
 * into its own), with their wide ids, bad-row notes (line numbers made range-relative) and
 * counts. Takes the rows of ln. Local. Returns RP_OK or RP_ERR_NOMEM. */
static int lanes_join(lane *ln, int n, shard_parsed *out)
{
    int rc = RP_OK;
    int spill = 0;
    int64_t total = 0, wide = 0, lines = 0;
    shard_row *base = ln[0].part.rows;
    int64_t cap = 0;
    for (int j = 0; j < n; j++) {
        total += ln[j].part.n + ln[j].ovf.n;
        wide += ln[j].part.nwide + ln[j].ovf.nwide;
        spill |= ln[j].ovf.n + ln[j].ovf.nbad > 0;
        cap += ln[j].part.cap;
    }
    memset(out, 0, sizeof *out);
    out->rows = base;
    out->cap = cap;
    if (spill) { /* rare: a fresh array, every part copied in */
        out->cap = total > cap ? total : cap;
        RP_ALLOC(out->rows = malloc((size_t)out->cap * sizeof *out->rows + 1));
        rp_mem_huge(out->rows, (size_t)out->cap * sizeof *out->rows);
    }
    if (wide > 0) RP_ALLOC(out->wide = malloc((size_t)wide * sizeof *out->wide));
    out->wide_cap = wide;
    for (int j = 0; j < n; j++) {
        join_part(out, &ln[j].part, lines);
        join_part(out, &ln[j].ovf, lines); /* counts on from the lane's region */
        lines += ln[j].part.n + ln[j].part.nbad + ln[j].ovf.n + ln[j].ovf.nbad;
    }
    if (!spill) base = NULL; /* now out's */
    rp_log_debug("%d lane%s, %lld rows%s", n, n > 1 ? "s" : "", (long long)total,
                 spill ? ", regions overflowed" : "");
cleanup:
    if (rc != RP_OK && out->rows != base) free(out->rows);
    if (rc != RP_OK) free(out->wide), out->rows = NULL, out->wide = NULL;
    free(base);
    for (int j = 0; j < n; j++) ln[j].part.rows = NULL; /* lane 0's was base */
    return rc;
}

/* Parse this rank's [lo, hi) in lanes through windows of `window` bytes in all, hashing every
 * byte read while it is in cache. Local. Error line numbers are relative (1 = this rank's
 * first line) until the caller shifts them; the hashes are left in ln[0].h. */
static int stream_lanes(int fd, const char *path, lane *ln, int n, int64_t lo, int64_t hi,
                        size_t window, int allow_empty_time, shard_parsed *out)
{
    int rc = RP_OK;
    int first = 1;
    rp_progress pg;
    char what[4200];
    size_t each = window / (size_t)n > 0 ? window / (size_t)n : 1;
    snprintf(what, sizeof what, "parsing %s", path);
    rp_progress_begin(&pg, what, hi - lo, "bytes"); /* rank 0's byte range */
    for (int j = 0; j < n; j++) {
        ln[j].cap = each;
        ln[j].line = 1;
        RP_ALLOC(ln[j].buf = malloc(each + 1));
    }
    for (;;) {
        int64_t left = 0, done = 0;
        for (int j = 0; j < n; j++) {
            left += (ln[j].end - ln[j].pos) + (int64_t)ln[j].carry;
            done += ln[j].pos - (j ? ln[j - 1].end : lo);
        }
        if (left == 0) break;
        RP_CALL(lanes_round(fd, path, ln, n, lo, hi, allow_empty_time, &first));
        rp_progress_update(&pg, done);
    }
    rp_progress_end(&pg);
    for (int j = 1; j < n; j++) { /* only the last lane's last block may go on past hi */
        RP_CALL(rp_range_hash_finish(&ln[j].h, fd));
        rp_range_hash_merge(&ln[0].h, &ln[j].h);
    }
    RP_CALL(lanes_join(ln, n, out));
cleanup:
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

int shard_stream_file_block(MPI_Comm comm, const char *path, size_t window, int64_t block,
                            int allow_empty_time, shard_parsed *out)
{
    int rc = RP_OK;
    int rank = 0, size = 1, fd = -1, nl = 0;
    int64_t head[3] = {RP_OK, 0, 0}; /* verdict, file size, data start */
    int64_t lo = 0, hi = 0;
    lane ln[SHARD_LANES];
    memset(ln, 0, sizeof ln);
    for (int j = 0; j < SHARD_LANES; j++) ln[j].h.cur_block = -1;
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
    rc = lanes_begin(fd, path, rank, size, head[2], lo, hi, head[1], block, ln, &nl);
    RP_AGREE(comm, rc);
    rc = stream_lanes(fd, path, ln, nl, lo, hi, window, allow_empty_time, out);
    out->bytes = hi - lo;
    RP_AGREE(comm, rc);
    RP_CALL(rp_range_hash_end(comm, &ln[0].h, fd, out->sha256));
    RP_CALL(shift_lines(comm, out));
cleanup:
    for (int j = 0; j < SHARD_LANES; j++) lane_clear(&ln[j], j == 0);
    if (fd >= 0) close(fd);
    rc = rp_mpi_agree(comm, rc);
    if (rc != RP_OK) shard_parsed_clear(out);
    return rc;
}

int shard_stream_file(MPI_Comm comm, const char *path, size_t window, int allow_empty_time,
                      shard_parsed *out)
{
    return shard_stream_file_block(comm, path, window, RP_HASH_BLOCK, allow_empty_time, out);
}
