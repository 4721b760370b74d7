/* rp_csv.h - distributed CSV reading for the KuaiRec files: each rank reads its own byte range
 * aligned to line boundaries (no rank reads a whole file), knows the file line number of every
 * line for error messages, and parses fields and numbers without sscanf/strtod in the hot loop.
 * Used by rp-shard, rp-features and rp-synth's tests. Lines end at '\n' only: a bare '\r' inside
 * a field is data (the real caption file has some); a trailing '\r' (CRLF) is dropped. */
#ifndef RP_CSV_H
#define RP_CSV_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rp_csv_chunk {
    char *buf;          /* this rank's whole lines (header removed), NUL-terminated */
    size_t len;
    int64_t first_line; /* 1-based file line number of buf[0] */
    int64_t file_bytes; /* size of the whole file */
    int64_t byte_offset;/* file offset of buf[0] */
    char path[1024];
} rp_csv_chunk;

/* rp_csv_read_chunk - split `path` into size byte ranges aligned to '\n' and read this rank's.
 * Collective. Rank 0 strips a UTF-8 BOM and checks the first line against `header` (exact,
 * CRLF accepted); header NULL skips the check but still drops line 1.
 * Returns RP_OK, RP_ERR_NOINPUT ("path: cannot open: ..." or "path: empty file"),
 * RP_ERR_DATA ("path:1: header is '...', expected '...'"), RP_ERR_IO. All ranks agree. */
int rp_csv_read_chunk(MPI_Comm comm, const char *path, const char *header, rp_csv_chunk *ck);
void rp_csv_chunk_clear(rp_csv_chunk *ck);

/* rp_csv_line_start - where the line holding byte b - 1 ends: one past the first '\n' at or
 * after b - 1, so ranks that cut a file at even byte offsets get whole lines (fsize when there
 * is none; lo when b <= lo, lo being the first data byte). Local. Returns 0, or -1 with errno
 * set by a failed read. */
int rp_csv_line_start(int fd, int64_t fsize, int64_t lo, int64_t b, int64_t *start);

/* rp_csv_next_line - iterate lines of a chunk. *pos starts at 0. Out: [*s, *e) without '\n' or
 * a trailing '\r', *line its file line number. Returns 0 at the end. A final line without '\n'
 * is returned too (*truncated set to 1 so readers can report it). */
int rp_csv_next_line(const rp_csv_chunk *ck, size_t *pos, const char **s, const char **e,
                     int64_t *line, int *truncated);

typedef struct rp_csv_field {
    const char *p; /* field text without surrounding quotes ("" inside quotes stays doubled) */
    size_t len;
    int quoted;
} rp_csv_field;

/* rp_csv_split - split one line into fields, honouring "..." quoting. Fills at most maxf fields
 * and returns the total number of fields on the line, or -1 for an unterminated quote. */
int rp_csv_split(const char *s, const char *e, rp_csv_field *f, int maxf);

/* rp_csv_unquote - copy a field into buf (cap bytes), turning "" into ". Returns length. */
size_t rp_csv_unquote(const rp_csv_field *f, char *buf, size_t cap);

/* Strict number parsers over [s, s+len): no spaces, no trailing garbage.
 * rp_parse_i64: optional '-', digits, no overflow; a float-written integer ("20200705.0",
 * "3.00") is accepted as that integer, any other fraction ("20200705.5") is rejected.
 * rp_parse_f64: decimal with optional fraction
 * and exponent; NaN, inf and empty are rejected (finite numbers only). Return 0 ok, -1 bad. */
int rp_parse_i64(const char *s, size_t len, int64_t *v);
int rp_parse_f64(const char *s, size_t len, double *v);

/* rp_decimal_to_f64 - m / 10^frac correctly rounded to double (the value strtod gives for the
 * decimal with mantissa digits m and frac of them after the point), when it can be done
 * exactly without strtod: m <= 2^53 and frac <= 22 (Clinger: one IEEE division), or, where
 * long double has a 64-bit mantissa (x86), any m below 2^64 with frac <= 27 unless the
 * extended quotient lies exactly halfway between two doubles. Returns 0, or -1 (*v untouched:
 * use strtod). Pure. */
int rp_decimal_to_f64(uint64_t m, int frac, double *v);

/* rp_csv_sanitize - copy up to cap-1 bytes of a field for an error message, escaping control
 * bytes, truncating with "..." */
void rp_csv_sanitize(const char *s, size_t len, char *buf, size_t cap);

#endif
