/* rp_log.h - logging to stderr with the program name and "[rank r/size]"; progress from rank 0.
 * Used by every stage. The prefix is set once by rp_log_init (rp_stage_begin does it). */
#ifndef RP_LOG_H
#define RP_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum { RP_LOG_QUIET = 0, RP_LOG_INFO = 1, RP_LOG_DEBUG = 2 };

/* rp_log_init - remember the program name, rank and size for message prefixes. Local. */
void rp_log_init(const char *prog, int rank, int size);
void rp_log_set_level(int level);
int rp_log_level(void);
const char *rp_log_prog(void);
/* rp_log_on_error - call hook after every error line this process prints (NULL: none). */
void rp_log_on_error(void (*hook)(void));

/* rp_log_error - "prog[r/size]: error: msg (src.c:line)". Any rank. */
void rp_log_error(const char *src, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* rp_log_user_error - "prog: error: msg": for messages that name the user's file and line. */
void rp_log_user_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* rp_log_user_error0 - the same, printed by rank 0 only: for checks every rank makes alike. */
void rp_log_user_error0(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* rp_log_warn - "prog: warning: msg". Any rank; callers usually restrict to rank 0. */
void rp_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* rp_log_info - progress line "prog: msg" on stderr, printed only on rank 0 and level >= INFO. */
void rp_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rp_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Progress of a long loop, printed by rank 0 on stderr (level >= INFO):
 *   "rp-shard: parsing big_matrix.csv: 1.2M/4.5M rows (27%), 310k rows/s, 11 s left"
 * When stderr is a terminal, one line rewritten in place (\r) at most every second; otherwise
 * (Slurm logs, files) a plain line every RP_PROGRESS_SECONDS (default 5). rp_progress_end
 * prints the final line with the total time. done/total are what the caller counts, usually
 * this rank's own share of the work (balanced stages: rank 0 stands for all). Local: no
 * communication, so it may be called between collectives on rank 0 only or on every rank.
 *
 *   rp_progress pg;
 *   rp_progress_begin(&pg, "epoch 3", n_batches, "batches");
 *   for (b = 0; b < n_batches; b++) { ...; rp_progress_update(&pg, b + 1); }
 *   rp_progress_end(&pg);
 */
typedef struct rp_progress {
    char what[96], unit[24];
    int64_t total, done, next_check;
    double t0, last_print, interval;
    int enabled, tty, printed;
} rp_progress;

void rp_progress_begin(rp_progress *p, const char *what, int64_t total, const char *unit);
/* rp_progress_update - done units so far (monotone). Cheap: reads the clock only about every
 * 0.1 s of expected work, so it may be called per row. */
void rp_progress_update(rp_progress *p, int64_t done);
void rp_progress_end(rp_progress *p);
/* rp_progress_format - the line for done/total after secs seconds (no prefix). Pure; tests. */
void rp_progress_format(char *buf, size_t cap, const char *what, const char *unit, int64_t done,
                        int64_t total, double secs);

#endif
