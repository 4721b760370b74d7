/* rp_log.h - logging to stderr with the program name and "[rank r/size]"; progress from rank 0.
 * Used by every stage. The prefix is set once by rp_log_init (rp_stage_begin does it). */
#ifndef RP_LOG_H
#define RP_LOG_H

#include <stdarg.h>

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

#endif
