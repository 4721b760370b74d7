/* rp_csv.c - line-aligned byte-range CSV reading and fast strict number parsing. */
#include "rp_csv.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rp_err.h"
#include "rp_fault.h"
#include "rp_file.h"
#include "rp_mpi.h"

int rp_csv_line_start(int fd, int64_t fsize, int64_t lo, int64_t b, int64_t *start)
{
    if (b <= lo) {
        *start = lo;
        return 0;
    }
    char tmp[65536];
    for (int64_t off = b - 1; off < fsize; off += (int64_t)sizeof tmp) {
        size_t got = 0;
        if (rp_file_pread_full(fd, tmp, sizeof tmp, off, &got) != 0) return -1;
        char *nl = memchr(tmp, '\n', got);
        if (nl) {
            *start = off + (nl - tmp) + 1;
            return 0;
        }
        if (got == 0) break;
    }
    *start = fsize;
    return 0;
}

static int open_sized(const char *path, int *fd, int64_t *fsize)
{
    int rc = RP_OK;
    struct stat st;
    *fd = open(path, O_RDONLY);
    if (*fd < 0) RP_FAIL_USER(RP_ERR_NOINPUT, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode))
        RP_FAIL_USER(RP_ERR_NOINPUT, "%s: not a regular file", path);
    if (st.st_size == 0) RP_FAIL_USER(RP_ERR_NOINPUT, "%s: empty file", path);
    *fsize = (int64_t)st.st_size;
cleanup:
    return rc;
}

/* Rank 0: drop the BOM and the header line from the chunk, checking it against want. */
static int take_header(rp_csv_chunk *ck, const char *want)
{
    int rc = RP_OK;
    size_t skip = 0;
    if (ck->len >= 3 && memcmp(ck->buf, "\xEF\xBB\xBF", 3) == 0) skip = 3;
    char *nl = memchr(ck->buf + skip, '\n', ck->len - skip);
    size_t end = nl ? (size_t)(nl - ck->buf) : ck->len;
    size_t hlen = end - skip;
    if (hlen > 0 && ck->buf[skip + hlen - 1] == '\r') hlen--;
    if (want != NULL && (hlen != strlen(want) || memcmp(ck->buf + skip, want, hlen) != 0)) {
        char got[160];
        rp_csv_sanitize(ck->buf + skip, hlen, got, sizeof got);
        RP_FAIL_USER(RP_ERR_DATA, "%s:1: header is '%s', expected '%s'", ck->path, got, want);
    }
    size_t drop = nl ? end + 1 : ck->len;
    memmove(ck->buf, ck->buf + drop, ck->len - drop + 1);
    ck->len -= drop;
    ck->byte_offset += (int64_t)drop;
cleanup:
    return rc;
}

int rp_csv_read_chunk(MPI_Comm comm, const char *path, const char *header, rp_csv_chunk *ck)
{
    int rc = RP_OK;
    int rank = 0, size = 1, fd = -1;
    int64_t fsize = 0, start = 0, *starts = NULL;
    memset(ck, 0, sizeof *ck);
    snprintf(ck->path, sizeof ck->path, "%s", path);
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    /* Rank 0 reports open problems once; the verdict is shared. */
    int verdict = RP_OK;
    if (rank == 0) verdict = open_sized(path, &fd, &fsize);
    RP_MPI(MPI_Bcast(&verdict, 1, MPI_INT, 0, comm));
    if (verdict != RP_OK) {
        rc = verdict;
        goto cleanup;
    }
    if (rank != 0) {
        fd = open(path, O_RDONLY);
        RP_REQUIRE(fd >= 0, RP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    RP_MPI(MPI_Bcast(&fsize, 1, MPI_INT64_T, 0, comm));
    ck->file_bytes = fsize;
    RP_REQUIRE(rp_csv_line_start(fd, fsize, 0, fsize * rank / size, &start) == 0, RP_ERR_IO,
               "%s: read failed: %s", path, strerror(errno));
    starts = rp_malloc(((size_t)size + 1) * sizeof *starts);
    RP_AGREE_LOCAL(comm, starts == NULL);
    RP_MPI(MPI_Allgather(&start, 1, MPI_INT64_T, starts, 1, MPI_INT64_T, comm));
    starts[size] = fsize;
    int64_t end = starts[rank + 1];
    ck->len = (size_t)(end - start);
    ck->byte_offset = start;
    ck->buf = rp_malloc(ck->len + 1);
    RP_AGREE_LOCAL(comm, ck->buf == NULL);
    size_t got = 0;
    RP_REQUIRE(rp_file_pread_full(fd, ck->buf, ck->len, start, &got) == 0 && got == ck->len, RP_ERR_IO,
               "%s: read failed at byte %lld", path, (long long)start);
    ck->buf[ck->len] = '\0';
    int64_t nl = 0;
    for (const char *p = ck->buf; (p = memchr(p, '\n', ck->len - (size_t)(p - ck->buf))); p++) nl++;
    RP_CALL(rp_mpi_exscan_i64(comm, nl, &ck->first_line));
    ck->first_line += 1;
    if (rank == 0) {
        rc = take_header(ck, header);
        ck->first_line = 2;
    }
cleanup:
    if (fd >= 0) close(fd);
    free(starts);
    rc = rp_mpi_agree(comm, rc);
    if (rc != RP_OK) rp_csv_chunk_clear(ck);
    return rc;
}

void rp_csv_chunk_clear(rp_csv_chunk *ck)
{
    free(ck->buf);
    ck->buf = NULL;
    ck->len = 0;
}

int rp_csv_next_line(const rp_csv_chunk *ck, size_t *pos, const char **s, const char **e,
                     int64_t *line, int *truncated)
{
    if (*pos >= ck->len) return 0;
    const char *b = ck->buf + *pos;
    const char *nl = memchr(b, '\n', ck->len - *pos);
    const char *end = nl ? nl : ck->buf + ck->len;
    /* The line number is the chunk's first plus the newlines consumed so far; callers iterate
     * in order, so count incrementally through *line. */
    *line = (*pos == 0) ? ck->first_line : *line + 1;
    *truncated = nl == NULL;
    *pos = (size_t)(end - ck->buf) + (nl ? 1 : 0);
    if (end > b && end[-1] == '\r') end--;
    *s = b;
    *e = end;
    return 1;
}

int rp_csv_split(const char *s, const char *e, rp_csv_field *f, int maxf)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        rp_csv_field cur = {p, 0, 0};
        if (p < e && *p == '"') {
            const char *q = p + 1;
            for (;;) {
                const char *c = memchr(q, '"', (size_t)(e - q));
                if (c == NULL) return -1;
                if (c + 1 < e && c[1] == '"') {
                    q = c + 2;
                    continue;
                }
                cur.p = p + 1;
                cur.len = (size_t)(c - p - 1);
                cur.quoted = 1;
                p = c + 1;
                break;
            }
            if (p < e && *p != ',') return -1; /* text after the closing quote */
        } else {
            const char *c = memchr(p, ',', (size_t)(e - p));
            const char *end = c ? c : e;
            cur.len = (size_t)(end - p);
            p = end;
        }
        if (n < maxf) f[n] = cur;
        n++;
        if (p >= e) return n;
        p++; /* the comma */
    }
}

size_t rp_csv_unquote(const rp_csv_field *f, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < f->len && o + 1 < cap; i++) {
        buf[o++] = f->p[i];
        if (f->quoted && f->p[i] == '"' && i + 1 < f->len && f->p[i + 1] == '"') i++;
    }
    buf[o] = '\0';
    return o;
}

/* Length of [s, s+len) without a float-written integer's ".0", ".00", ... suffix: dataframe
 * libraries write an integer column that has missing values as floats (KuaiRec's small_matrix
 * dates are "20200705.0"). Any other fraction is left in place, so the caller rejects it. */
static size_t strip_zero_fraction(const char *s, size_t len)
{
    size_t k = len;
    while (k > 0 && s[k - 1] == '0') k--;
    if (k > 0 && k < len && s[k - 1] == '.') return k - 1;
    return len;
}

int rp_parse_i64(const char *s, size_t len, int64_t *v)
{
    size_t i = 0;
    len = strip_zero_fraction(s, len);
    int neg = 0;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len || len - i > 19) return -1;
    uint64_t x = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9) return -1;
        x = x * 10 + d;
    }
    if (x > (uint64_t)INT64_MAX + (uint64_t)neg) return -1;
    *v = neg ? (int64_t)(0 - x) : (int64_t)x;
    return 0;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#if LDBL_MANT_DIG == 64
/* 10^k, exact in the x87 format's 64-bit mantissa up to 10^27 */
static const long double pow10_ld[] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,
                                       1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
                                       1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L,
                                       1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
#endif

int rp_decimal_to_f64(uint64_t m, int frac, double *v)
{
    if (frac < 0) return -1;
    if (m <= (1ULL << 53) && frac <= 22) { /* Clinger: two exact operands, one rounding */
        *v = (double)m / pow10_exact[frac];
        return 0;
    }
#if LDBL_MANT_DIG == 64
    /* m and 10^frac are exact in the 64-bit mantissa, so q is m / 10^frac rounded once to 64
     * bits. Every point halfway between two doubles has a 64-bit form, and rounding never
     * crosses a representable point, so unless q is such a point itself, q and the exact
     * quotient lie between the same two halfway points: (double)q is the correctly rounded
     * quotient. A q exactly halfway (its 11 bits below the double's last are 100 0000 0000)
     * may come from a quotient just above or below: the caller asks strtod. */
    if (frac <= 27) {
        long double q = (long double)m / pow10_ld[frac];
        uint64_t mant;
        memcpy(&mant, &q, sizeof mant);
        if ((mant & 0x7FF) == 0x400) return -1;
        *v = (double)q;
        return 0;
    }
#endif
    return -1;
}

/* Slow path for what the fast path cannot round exactly: strtod on a bounded copy. */
static int parse_f64_slow(const char *s, size_t len, double *v)
{
    char tmp[64];
    if (len >= sizeof tmp) return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end = NULL;
    errno = 0;
    double x = strtod(tmp, &end);
    if (end != tmp + len || !isfinite(x)) return -1;
    *v = x;
    return 0;
}

int rp_parse_f64(const char *s, size_t len, double *v)
{
    size_t i = 0;
    int neg = 0, ndig = 0, exp10 = 0;
    uint64_t m = 0;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    for (; i < len && (unsigned)(s[i] - '0') <= 9; i++, ndig++) m = m * 10 + (uint64_t)(s[i] - '0');
    int intdig = ndig;
    if (i < len && s[i] == '.') {
        for (i++; i < len && (unsigned)(s[i] - '0') <= 9; i++, ndig++) {
            m = m * 10 + (uint64_t)(s[i] - '0');
            exp10--;
        }
    }
    if (ndig == 0 || (intdig == 0 && ndig == 0)) return -1;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) return parse_f64_slow(s, len, v);
    if (i != len) return -1;
    /* An exact division (rp_decimal_to_f64) for up to 19 digits; strtod for the rest */
    double x = 0;
    if (ndig > 19 || rp_decimal_to_f64(m, -exp10, &x) != 0) return parse_f64_slow(s, len, v);
    *v = neg ? -x : x;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes are not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (n == 0 || n > avail) return 0;
    for (size_t k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return n;
}

void rp_csv_sanitize(const char *s, size_t len, char *buf, size_t cap)
{
    size_t o = 0, i = 0;
    /* Keep 8 bytes spare: room for one escape plus the "..." marker. Valid UTF-8 (captions,
     * tag names) is kept; control bytes and invalid bytes (binary garbage) are escaped. */
    while (i < len && o + 8 < cap) {
        const unsigned char *c = (const unsigned char *)s + i;
        size_t n = c[0] >= 0x80 ? utf8_len(c, len - i) : 1;
        if (n > 1 && o + n + 8 < cap) {
            memcpy(buf + o, c, n);
            o += n;
            i += n;
            continue;
        }
        if (c[0] < 32 || c[0] >= 127) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c[0]);
        else buf[o++] = (char)c[0];
        i++;
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}
