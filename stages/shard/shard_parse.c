/* shard_parse.c - rp-shard's strict parser of the KuaiRec interaction CSVs: one pass over each
 * rank's line-aligned chunk, bad rows noted as "file:line: reason", first ones printed by rank 0
 * in file order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_log.h"
#include "rp_mem.h"
#include "rp_mpi.h"
#include "shard.h"

static const char *const col_name[SHARD_NCOLS] = {"user_id", "video_id", "play_duration",
                                                  "video_duration", "time", "date",
                                                  "timestamp", "watch_ratio"};

/* Split on commas. A quote only means something at the start of a field (as in rp_csv_split),
 * so a line where some piece starts with '"' (never in the real files) is split again by the
 * general splitter, which honours commas inside quotes. */
static int split_fields(const char *s, const char *e, rp_csv_field *f)
{
    int n = 0, quoted = 0;
    const char *p = s;
    for (;;) {
        const char *c = memchr(p, ',', (size_t)(e - p));
        const char *end = c ? c : e;
        quoted |= p < e && *p == '"';
        if (n < SHARD_NCOLS) f[n] = (rp_csv_field){p, (size_t)(end - p), 0};
        n++;
        if (c == NULL) break;
        p = c + 1;
    }
    return quoted ? rp_csv_split(s, e, f, SHARD_NCOLS) : n;
}

static int bad_field(const rp_csv_field *f, int col, const char *what, char *why, size_t cap)
{
    char txt[64];
    rp_csv_sanitize(f->p, f->len, txt, sizeof txt);
    if (f->len == 0) snprintf(why, cap, "empty %s", col_name[col]);
    else snprintf(why, cap, "%s '%s' %s", col_name[col], txt, what);
    return -1;
}

/* A non-negative integer column. */
static int get_count(const rp_csv_field *f, int col, int64_t *v, char *why, size_t cap)
{
    if (rp_parse_i64(f->p, f->len, v) != 0) return bad_field(f, col, "is not an integer", why, cap);
    if (*v < 0) return bad_field(f, col, "is negative", why, cap);
    return 0;
}

static int get_real(const rp_csv_field *f, int col, double *v, char *why, size_t cap)
{
    if (rp_parse_f64(f->p, f->len, v) != 0)
        return bad_field(f, col, "is not a finite number", why, cap);
    return 0;
}

int shard_parse_line(const char *s, const char *e, int allow_empty_time, shard_raw *row,
                     char *why, size_t cap)
{
    rp_csv_field f[SHARD_NCOLS];
    int64_t play = 0, vdur = 0, date = 0;
    if (s == e) {
        snprintf(why, cap, "empty line");
        return -1;
    }
    int nf = split_fields(s, e, f);
    if (nf < 0) {
        snprintf(why, cap, "unterminated quote or text after a closing quote");
        return -1;
    }
    if (nf != SHARD_NCOLS) {
        snprintf(why, cap, "%d fields, expected %d", nf, SHARD_NCOLS);
        return -1;
    }
    if (get_count(&f[0], 0, &row->user, why, cap) || get_count(&f[1], 1, &row->item, why, cap) ||
        get_count(&f[2], 2, &play, why, cap) || get_count(&f[3], 3, &vdur, why, cap))
        return -1;
    if (f[4].len == 0 && f[5].len == 0 && f[6].len == 0) {
        if (!allow_empty_time) {
            snprintf(why, cap,
                     "empty time, date and timestamp (only the small matrix may omit them)");
            return -1;
        }
        row->ts = NAN;
    } else if (f[4].len == 0) {
        return bad_field(&f[4], 4, "", why, cap);
    } else if (get_count(&f[5], 5, &date, why, cap) || get_real(&f[6], 6, &row->ts, why, cap)) {
        return -1;
    }
    if (get_real(&f[7], 7, &row->wr, why, cap)) return -1;
    if (row->wr < 0) return bad_field(&f[7], 7, "is negative", why, cap);
    row->hash = shard_hash_bytes(s, (size_t)(e - s));
    return 0;
}

/* The fast path below: what it cannot take exactly, it leaves to shard_parse_line. */
/* Plain digits (1-18 of them, so no overflow) up to `stop`. Out: *v, *pp past the digits. */
static int fast_count(const char **pp, const char *e, char stop, int64_t *v)
{
    const char *p = *pp, *b = p;
    int64_t x = 0;
    /* at most 18 digits are read: a 19th leaves p on a digit, not on `stop` */
    while (p < e && p - b < 18 && (unsigned)(*p - '0') <= 9) x = x * 10 + (*p++ - '0');
    if (p == b || p == e || *p != stop) return -1;
    *v = x;
    *pp = p + 1;
    return 0;
}

/* digits[.digits] with at most 19 digits ending at `end`, when rp_decimal_to_f64 rounds it
 * exactly: the double rp_parse_f64 gives. */
static int fast_real(const char *p, const char *end, double *v)
{
    uint64_t m = 0;
    int ndig = 0, frac = 0;
    for (; p < end && (unsigned)(*p - '0') <= 9; p++, ndig++) m = m * 10 + (uint64_t)(*p - '0');
    if (ndig == 0) return -1;
    if (p < end && *p == '.')
        for (p++; p < end && (unsigned)(*p - '0') <= 9; p++, ndig++, frac++)
            m = m * 10 + (uint64_t)(*p - '0');
    if (p != end || ndig > 19) return -1;
    return rp_decimal_to_f64(m, frac, v);
}

/* One pass over a row in the shape of every real row (plain non-negative numbers, unquoted
 * text), without the per-field splitting and error texts of shard_parse_line; 0 on success,
 * -1 for anything else (the caller then parses the line the strict way, which gives the same
 * values or the error). */
static int parse_fast(const char *s, const char *e, int allow_empty_time, shard_raw *row)
{
    const char *p = s;
    int64_t skip = 0;
    if (fast_count(&p, e, ',', &row->user) || fast_count(&p, e, ',', &row->item) ||
        fast_count(&p, e, ',', &skip) || fast_count(&p, e, ',', &skip))
        return -1;
    if (p < e && *p == ',') { /* empty time: date and timestamp must be empty too */
        if (!allow_empty_time || e - p < 3 || p[1] != ',' || p[2] != ',') return -1;
        p += 3;
        row->ts = NAN;
    } else {
        const char *c = memchr(p, ',', (size_t)(e - p));
        if (c == NULL || *p == '"') return -1;
        p = c + 1;
        if (fast_count(&p, e, ',', &skip)) return -1; /* date */
        c = memchr(p, ',', (size_t)(e - p));
        if (c == NULL || fast_real(p, c, &row->ts)) return -1;
        p = c + 1;
    }
    if (fast_real(p, e, &row->wr)) return -1;
    row->hash = shard_hash_bytes(s, (size_t)(e - s));
    return 0;
}

int shard_parsed_reserve(shard_parsed *out, int64_t cap)
{
    int rc = RP_OK;
    shard_row *bigger = NULL;
    if (cap <= out->cap) return RP_OK;
    RP_ALLOC(bigger = realloc(out->rows, (size_t)cap * sizeof *bigger));
    rp_mem_huge(bigger, (size_t)cap * sizeof *bigger);
    out->rows = bigger;
    out->cap = cap;
cleanup:
    return rc;
}

/* Room for at least one more row: geometric growth. The reader reserves its whole byte range's
 * rows after the first window (shard_stream_file), so this rarely runs on a big array: glibc
 * grows large blocks by mremap, which copies nothing but may move the block, and on the
 * project's VMs the first touch of every moved page costs a hypervisor fault again. */
static int grow_rows(shard_parsed *out, size_t hint)
{
    return shard_parsed_reserve(out, out->cap + out->cap / 2 + (int64_t)hint);
}

/* A raw id as stored in a shard_row field: itself when it fits in int32, else -(k + 1) for
 * wide[k]. */
static int code_id(shard_parsed *out, int64_t id, int32_t *v)
{
    int rc = RP_OK;
    if (id <= INT32_MAX) {
        *v = (int32_t)id;
        return RP_OK;
    }
    if (out->nwide == out->wide_cap) {
        int64_t cap = out->wide_cap ? 2 * out->wide_cap : 1024, *bigger = NULL;
        RP_ALLOC(bigger = realloc(out->wide, (size_t)cap * sizeof *bigger));
        out->wide = bigger;
        out->wide_cap = cap;
    }
    RP_REQUIRE(out->nwide < INT32_MAX, RP_ERR_NOMEM, "more than %d ids wider than 32 bits",
               INT32_MAX);
    out->wide[out->nwide] = id;
    *v = (int32_t)(-out->nwide - 1);
    out->nwide++;
cleanup:
    return rc;
}

static int store_row(shard_parsed *out, const shard_raw *r)
{
    int rc = RP_OK;
    shard_row *w = &out->rows[out->n];
    RP_CALL(code_id(out, r->user, &w->user));
    RP_CALL(code_id(out, r->item, &w->item));
    w->ts = r->ts;
    w->wr = r->wr;
    w->hash = r->hash;
    out->n++;
cleanup:
    return rc;
}

void shard_parsed_get(const shard_parsed *p, int64_t k, shard_raw *r)
{
    const shard_row *w = &p->rows[k];
    *r = (shard_raw){shard_raw_id(p, w->user), shard_raw_id(p, w->item), w->ts, w->wr, w->hash};
}

static void note_bad(shard_parsed *out, int64_t line, const char *why)
{
    if (out->nerr < SHARD_MAX_ERRS) {
        shard_err *er = &out->errs[out->nerr++];
        er->line = line;
        snprintf(er->msg, sizeof er->msg, "%s", why);
    }
    out->nbad++;
}

/* One line at pos the scalar way (the one-pass fast path, else the strict parser): exactly the
 * lines rp_csv_next_line gives, so the values, messages and line numbers are the strict
 * parser's. Out: *pos past the line. */
static int scalar_line(const rp_csv_chunk *ck, size_t *pos, int64_t line, int allow_empty_time,
                       shard_parsed *out)
{
    int rc = RP_OK;
    const char *s = ck->buf + *pos, *nl = memchr(s, '\n', ck->len - *pos);
    const char *e = nl ? nl : ck->buf + ck->len;
    char why[SHARD_ERR_LEN];
    shard_raw r;
    *pos = (size_t)(e - ck->buf) + (nl ? 1 : 0);
    if (e > s && e[-1] == '\r') e--;
    if (nl == NULL)
        note_bad(out, line, "truncated last line (no newline at end of file)");
    else if (parse_fast(s, e, allow_empty_time, &r) == 0 ||
             shard_parse_line(s, e, allow_empty_time, &r, why, sizeof why) == 0)
        RP_CALL(store_row(out, &r));
    else
        note_bad(out, line, why);
cleanup:
    return rc;
}

int shard_parse_chunk(const rp_csv_chunk *ck, int allow_empty_time, shard_parsed *out)
{
    int rc = RP_OK;
    size_t pos = 0;
    int64_t line = ck->first_line;
    shard_scan sc; /* 16 KB of boundaries, on the stack: no allocation per window */
    sc.k = sc.n = sc.next = 0;
    /* offsets of the text must fit the index's 31 bits */
    int scan = shard_simd_level() != SHARD_SIMD_NONE && ck->len < ((size_t)1 << 31);
    out->bytes += (int64_t)ck->len;
    while (pos < ck->len) {
        if (out->n == out->cap) RP_CALL(grow_rows(out, ck->len / 64 + 16));
        if (scan) {
            int64_t got = shard_scan_rows(&sc, ck->buf, ck->len, &pos, allow_empty_time,
                                          out->rows + out->n, out->cap - out->n);
            out->n += got;
            out->nscan += got;
            line += got;
            if (pos >= ck->len || out->n == out->cap) continue;
        }
        RP_CALL(scalar_line(ck, &pos, line, allow_empty_time, out));
        line++;
    }
cleanup:
    return rc;
}

void shard_parsed_clear(shard_parsed *p)
{
    free(p->rows);
    free(p->wide);
    p->rows = NULL;
    p->wide = NULL;
    p->n = p->cap = p->nwide = p->wide_cap = 0;
}

/* Rank 0 gets every rank's first messages; chunks are in rank order, so the first
 * SHARD_MAX_ERRS in rank order are the first in the file. */
static int report_bad(MPI_Comm comm, const char *path, const shard_parsed *p, int64_t nbad,
                      int64_t budget)
{
    int rc = RP_OK;
    int rank = 0, size = 1;
    int *counts = NULL;
    shard_err *all = NULL;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    counts = rp_calloc((size_t)size, sizeof *counts);
    all = rp_malloc((size_t)size * sizeof p->errs);
    RP_AGREE_LOCAL(comm, counts == NULL || all == NULL);
    RP_MPI(MPI_Gather(&p->nerr, 1, MPI_INT, counts, 1, MPI_INT, 0, comm));
    RP_MPI(MPI_Gather(p->errs, (int)sizeof p->errs, MPI_BYTE, all, (int)sizeof p->errs, MPI_BYTE,
                      0, comm));
    if (rank == 0) {
        int shown = 0, fatal = nbad > budget;
        for (int r = 0; r < size && shown < SHARD_MAX_ERRS; r++) {
            for (int k = 0; k < counts[r] && shown < SHARD_MAX_ERRS; k++, shown++) {
                const shard_err *er = &all[(size_t)r * SHARD_MAX_ERRS + (size_t)k];
                if (fatal) rp_log_user_error("%s:%lld: %s", path, (long long)er->line, er->msg);
                else rp_log_warn("%s:%lld: %s (skipped)", path, (long long)er->line, er->msg);
            }
        }
        if (fatal)
            rp_log_user_error("%s: %lld bad row%s, more than the %lld that --max-bad-rows "
                              "leaves for this file", path, (long long)nbad, nbad == 1 ? "" : "s",
                              (long long)budget);
        else
            rp_log_warn("%s: %lld bad row%s skipped", path, (long long)nbad, nbad == 1 ? "" : "s");
    }
    if (nbad > budget) rc = RP_ERR_DATA;
cleanup:
    free(all);
    free(counts);
    return rc;
}

int shard_read_file(MPI_Comm comm, const char *path, int allow_empty_time, int64_t budget,
                    size_t window, shard_parsed *out, int64_t *nbad_global, int64_t *nread_global)
{
    int rc = RP_OK;
    /* The reserve's slack stays (untouched pages cost nothing): the owner exchange appends the
     * rows it receives there (shard_exchange) instead of moving the array. */
    RP_CALL(shard_stream_file(comm, path, window, allow_empty_time, out));
    int64_t tot[2] = {out->nbad, out->n + out->nbad};
    RP_CALL(rp_mpi_sum_i64(comm, tot, 2));
    if (tot[1] == 0) RP_FAIL_USER0(RP_ERR_NOINPUT, "%s: no data rows (header only)", path);
    if (tot[0] > 0) rc = report_bad(comm, path, out, tot[0], budget);
    RP_AGREE(comm, rc);
    *nbad_global = tot[0];
    *nread_global = tot[1];
cleanup:
    if (rc != RP_OK) shard_parsed_clear(out);
    return rc;
}
