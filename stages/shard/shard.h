/* shard.h - rp-shard's internal interface: options, the row records that travel between ranks,
 * and the phases (parse, ids, owner exchange, clean/split, write). Used by main.c and tests. */
#ifndef SHARD_H
#define SHARD_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rp_csv.h"
#include "rp_stage.h"

#define SHARD_HEADER "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio"
#define SHARD_NCOLS 8
#define SHARD_MAX_ERRS 10 /* bad-row messages printed per file */
#define SHARD_ERR_LEN 200

enum { SHARD_OUT_DROP = 0, SHARD_OUT_CLIP = 1, SHARD_OUT_NONE = 2 };
enum { SHARD_REP_MEAN = 0, SHARD_REP_LAST = 1 };
enum { SHARD_TRAIN = 0, SHARD_VALID = 1, SHARD_TEST = 2, SHARD_NSPLITS = 3 };

typedef struct shard_opts {
    const char *big;
    const char *small;
    const char *out;
    double valid_frac;
    const char *outlier;   /* "drop" | "clip" | "none" */
    double outlier_max;
    int dedup;
    const char *repeat;    /* "mean" | "last" */
    int64_t max_bad_rows;  /* over both files */
    int64_t read_kb;       /* read window per rank */
    int outlier_rule;      /* SHARD_OUT_* from outlier */
    int repeat_rule;       /* SHARD_REP_* from repeat */
} shard_opts;

/* One parsed CSV row (shard_parse_line's result). hash is a 64-bit hash of the whole line text
 * (CR stripped): two rows are exact duplicates when hash and every parsed field agree. */
typedef struct shard_raw {
    int64_t user;
    int64_t item;
    double ts; /* NaN when the small matrix leaves time/date/timestamp empty */
    double wr;
    uint64_t hash;
} shard_raw;

/* A row as stored: while parsing, user and item hold the raw id when it fits in int32 (every
 * KuaiRec id does) and -(k + 1) for a wider id kept in shard_parsed.wide[k] (32 bytes per row
 * instead of 40: fresh memory is what the parse pays most for on the project's VMs); after
 * shard_ids_densify, the dense indices. What the owner exchange moves. */
typedef struct shard_row {
    int32_t user;
    int32_t item;
    double ts;
    double wr;
    uint64_t hash;
} shard_row;

/* One (user, item) pair after dedup and aggregation of repeat views. */
typedef struct shard_pair {
    int32_t user;
    int32_t item;
    double ts;      /* latest view (NaN only if every view lacks a time) */
    double wr;      /* aggregated raw watch_ratio (mean or last view) */
    int32_t views;  /* distinct views merged into this pair */
    int32_t dups;   /* exact duplicate rows dropped for this pair */
} shard_pair;

/* Row counts of one split (attributes on the split's group, see docs/stages/shard.md). */
typedef struct shard_counts {
    int64_t read, bad, duplicate, outlier, aggregated, kept;
} shard_counts;

/* A bad row noted while parsing: the first few per rank are gathered to rank 0. */
typedef struct shard_err {
    int64_t line;
    char msg[SHARD_ERR_LEN]; /* the reason, without "file:line: " */
} shard_err;

typedef struct shard_parsed {
    shard_row *rows; /* raw ids coded as in shard_row until densified */
    int64_t n, cap;
    int64_t *wide;   /* ids wider than int32 (rare), one entry per such field */
    int64_t nwide, wide_cap;
    int64_t nbad;                   /* bad rows on this rank */
    int64_t nscan;                  /* rows taken by the mask path (shard_scan_rows) */
    int nerr;                       /* messages kept (<= SHARD_MAX_ERRS) */
    shard_err errs[SHARD_MAX_ERRS]; /* in file order */
    int64_t bytes;                  /* CSV bytes parsed on this rank */
    char sha256[65];                /* the file's lineage hash (rp_hash_file's), every rank */
} shard_parsed;

/* Per-split data held by one rank after cleaning: CSR rows of its user block. */
typedef struct shard_split {
    shard_pair *pairs; /* sorted by user, then time (NaN last), then item */
    int64_t n;
    shard_counts counts;
} shard_split;

typedef struct shard_state {
    shard_opts opt;
    int64_t *user_raw, *item_raw; /* replicated, sorted */
    int64_t n_users, n_items;
    int64_t *user_cuts, *item_cuts; /* size + 1 block boundaries (dense index) */
    int64_t *item_nnz;              /* [split][item] global nnz, replicated */
    shard_split split[SHARD_NSPLITS];
    double norm_min, norm_max;
    int64_t bad_big, bad_small, read_big, read_small; /* global */
    int64_t bytes_parsed;                             /* global */
    char inputs[2400];
    /* Wall seconds of this rank inside rp_h5 dataset writes and the bytes it wrote there, and
     * of the close + rename (shard_write.c), for the summary's per-phase timings. */
    double h5_secs, commit_secs;
    int64_t h5_bytes;
} shard_state;

/* shard_opts.c */
/* shard_parse_args - parse argv into *opt (defaults set here). Local; rank 0 prints usage
 * errors. Returns RP_OK, RP_HELP or RP_ERR_USAGE. */
int shard_parse_args(int argc, char **argv, shard_opts *opt);
void shard_opts_defaults(shard_opts *opt);
/* shard_opts_check - derived fields and value ranges; RP_ERR_USAGE with a message. Local. */
int shard_opts_check(shard_opts *opt);

/* shard_parse.c */
/* shard_parse_line - parse one line [s, e) (CR already stripped). allow_empty_time: the
 * time/date/timestamp fields may be empty together. Out: *row. Returns 0, or -1 with a
 * one-phrase reason in why (cap bytes). Pure. */
int shard_parse_line(const char *s, const char *e, int allow_empty_time, shard_raw *row,
                     char *why, size_t cap);
/* shard_parse_chunk - parse every line of ck, appending to out->rows (grown here; start from a
 * zeroed *out); bad lines are counted and the first SHARD_MAX_ERRS noted with their line
 * numbers (from ck->first_line). A last line without '\n' is bad ("truncated"). Local.
 * Returns RP_OK or RP_ERR_NOMEM. */
int shard_parse_chunk(const rp_csv_chunk *ck, int allow_empty_time, shard_parsed *out);
/* shard_stream_file - parse this rank's line-aligned byte range of path (rp_csv_read_chunk's
 * split of the data lines) through a window of `window` bytes, so the text is never held whole.
 * Rank 0 checks the header (BOM and CRLF accepted). The bytes read are hashed as they are
 * parsed (rp_range_hash: the digest of rp_hash_file without a second read). Collective.
 * Out: *out (rows, bad-row notes with file line numbers, bytes, sha256). Returns RP_OK, RP_ERR_NOINPUT ("path: cannot open" / "empty
 * file"), RP_ERR_DATA ("path:1: header is ..."), RP_ERR_IO. */
int shard_stream_file(MPI_Comm comm, const char *path, size_t window, int allow_empty_time,
                      shard_parsed *out);
/* shard_stream_file_block - shard_stream_file with hash blocks of `block` bytes (the lineage
 * digest is rp_hash_file_block's): for tests of the lanes on small files. */
int shard_stream_file_block(MPI_Comm comm, const char *path, size_t window, int64_t block,
                            int allow_empty_time, shard_parsed *out);
/* shard_read_file - shard_stream_file + the bad-row report: rank 0 prints the first
 * SHARD_MAX_ERRS messages in file order and the total. Collective. Returns RP_OK (bad rows
 * within budget; *nbad_global, *nread_global set), RP_ERR_NOINPUT (also for a header-only
 * file), RP_ERR_DATA (bad header, or more bad rows than budget), RP_ERR_IO. */
int shard_read_file(MPI_Comm comm, const char *path, int allow_empty_time, int64_t budget,
                    size_t window, shard_parsed *out, int64_t *nbad_global, int64_t *nread_global);
void shard_parsed_clear(shard_parsed *p);
/* shard_raw_id - the raw id of a coded user/item field of p's rows (before densifying). Pure. */
static inline int64_t shard_raw_id(const shard_parsed *p, int32_t v)
{
    return v >= 0 ? v : p->wide[-(int64_t)v - 1];
}
/* shard_parsed_get - row k of p with its raw ids decoded (before densifying). Pure. */
void shard_parsed_get(const shard_parsed *p, int64_t k, shard_raw *r);
/* shard_parsed_reserve - room for at least cap rows in p->rows (huge-page hint). Local.
 * Returns RP_OK or RP_ERR_NOMEM (p unchanged). */
int shard_parsed_reserve(shard_parsed *p, int64_t cap);
/* shard_hash_bytes - the 64-bit hash of a line's text that tells duplicate rows apart. Pure.
 * Word-at-a-time multiply-xorshift: fast, and only needs to separate distinct lines of the
 * same (user, video, time, watch_ratio), never adversarial input. Inline: the row parsers'
 * hot loops call it once per row. */
static inline uint64_t shard_hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)n * 0xFF51AFD7ED558CCDULL);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w) * 0x94D049BB133111EBULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return h;
}

/* shard_scan.c: the mask-based fast path of shard_parse_chunk. */
enum { SHARD_SIMD_AUTO = -1, SHARD_SIMD_NONE = 0, SHARD_SIMD_SSE2 = 1, SHARD_SIMD_AVX2 = 2,
       SHARD_SIMD_AVX512 = 3, SHARD_SIMD_VBMI2 = 4 /* AVX-512BW + VBMI2 byte compress */ };
/* shard_simd_select - the instruction set shard_parse_chunk finds field boundaries with: level,
 * capped at what the CPU runs; SHARD_SIMD_AUTO = the best one, or $RP_SHARD_SIMD when set;
 * SHARD_SIMD_NONE = the scalar path alone. Process-wide (tests and benchmarks compare paths).
 * Returns the level now in use. */
int shard_simd_select(int level);
/* shard_simd_level - the level in use (chosen with SHARD_SIMD_AUTO on first use). */
int shard_simd_level(void);
/* shard_scan_index - the ',' and '\n' of the nblocks 64-byte blocks from buf + from, in order,
 * as (offset from buf) << 1 | (1 for '\n'). Reads buf[from, from + 64 * nblocks); out has room
 * for 64 * nblocks + 8 entries; offsets must fit in 31 bits. Returns the count (0 without SIMD). */
size_t shard_scan_index(const char *buf, size_t from, size_t nblocks, uint32_t *out);
/* shard_scan - the boundaries (shard_scan_index) of the text not yet parsed: idx[k..n) cover
 * the text up to `next`; more are indexed 64 bytes at a time while whole blocks remain. */
#define SHARD_SCAN_CAP 4096
typedef struct shard_scan {
    uint32_t idx[SHARD_SCAN_CAP + 72];
    size_t k, n, next;
} shard_scan;
/* shard_scan_rows - the rows from buf + *pos (a line start) while they are in the shape of
 * every real row: seven commas then '\n', plain digits of at most 16 (ids below 2^31),
 * digits[.digits] reals of up to 19 digits that round exactly, an unquoted time, a date
 * written as digits or digits".0". Stops at the first other row, after `room` rows, or where
 * fewer than 32 bytes would follow the row (the parser reads past fields). sc starts zeroed
 * for each buffer and is handed back unchanged between calls; len < 2^31. Out:
 * rows[0, returned) (raw ids, the values and line hash shard_parse_line gives), *pos past
 * them. Local. */
int64_t shard_scan_rows(shard_scan *sc, const char *buf, size_t len, size_t *pos,
                        int allow_empty_time, shard_row *rows, int64_t room);

/* shard_ids.c */
/* shard_ids_build - the sorted union over ranks of the user ids and item ids of a's and b's
 * rows. Collective. Out: *users, *items (replicated, caller frees), counts. */
int shard_ids_build(MPI_Comm comm, const shard_parsed *a, const shard_parsed *b, int64_t **users,
                    int64_t *nu, int64_t **items, int64_t *ni);
/* shard_ids_densify - replace the coded raw ids of p's rows by dense indices in place. Local.
 * Returns RP_OK or RP_ERR_INTERNAL (an id not in the maps). */
int shard_ids_densify(shard_parsed *p, const int64_t *users, int64_t nu, const int64_t *items,
                      int64_t ni);

/* shard_rows.c */
/* shard_exchange - send every row to the owner of its user (user_cuts) with one all-to-all;
 * the rows this rank owns stay where they are (grouped in place, not sent to itself).
 * *rows has room for cap rows (reallocated only when more arrive). Collective. Takes ownership
 * of *rows; Out: *rows, *n: the rows it kept, then
 * those received (in no particular order: shard_aggregate orders them). */
int shard_exchange(MPI_Comm comm, shard_row **rows, int64_t *n, int64_t cap,
                   const int64_t *user_cuts);
/* shard_aggregate - group this rank's rows of one file by user, order each user's rows by
 * (time with missing first, item, hash, watch_ratio), drop exact duplicates (if dedup) and merge
 * repeat views into pairs. Local. Takes ownership of rows. Out: *pairs sorted by user, then time
 * (missing last), then item (the by-user order), *np. */
int shard_aggregate(shard_row *rows, int64_t n, const shard_opts *opt, shard_pair **pairs,
                    int64_t *npairs);
/* shard_n_valid - how many of a user's n interactions go to validation: round(frac * n),
 * halves up. Pure. */
int64_t shard_n_valid(int64_t n, double frac);
/* shard_split_pairs - order each user's pairs by (time, item) (a check only for pairs from
 * shard_aggregate, which are in that order); the last shard_n_valid go to
 * valid; the outlier rule then applies to train and valid. Local. Takes ownership of pairs.
 * Out: train and valid (counts filled). */
int shard_split_pairs(shard_pair *pairs, int64_t n, const shard_opts *opt, shard_split *train,
                      shard_split *valid);
/* shard_finish_test - order the test pairs by (user, time, item), no outlier rule. Local. */
int shard_finish_test(shard_pair *pairs, int64_t n, shard_split *test);
/* shard_target - the training target of a pair's watch ratio under the rule (clip caps it).
 * Inline, as shard_value: the write phase computes both for every pair twice (CSR and CSC). */
static inline double shard_target(double wr, const shard_opts *opt, int split)
{
    if (split != SHARD_TEST && opt->outlier_rule == SHARD_OUT_CLIP && wr > opt->outlier_max)
        return opt->outlier_max;
    return wr;
}
/* shard_value - normalised value in [0, 1]. Pure. */
static inline float shard_value(double target, double nmin, double nmax)
{
    double v = nmax > nmin ? (target - nmin) / (nmax - nmin) : (target > nmin ? 1.0 : 0.0);
    return (float)(v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v));
}

/* shard_write.c */
/* shard_write_output - write shards.h5 atomically (datasets, attributes, stamp). Collective.
 * Frees each split's pairs once written (s->split[sp].pairs = NULL; counts and n stay). */
int shard_write_output(const rp_stage *st, shard_state *s);

/* shard_run.c */
/* shard_run - the whole stage after argument parsing. Collective. */
int shard_run(rp_stage *st, shard_state *s);
void shard_state_clear(shard_state *s);

#endif
