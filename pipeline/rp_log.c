/* rp_log.c - stderr logging with rank prefixes, shared by every stage. */
#include "rp_log.h"

#include <stdio.h>
#include <string.h>

/* Process-wide logging identity; set once at stage start, read-only afterwards. */
static char log_prog[64] = "recpipe";
static int log_rank = 0;
static int log_size = 1;
static int log_level = RP_LOG_INFO;
static void (*log_error_hook)(void) = NULL;

void rp_log_init(const char *prog, int rank, int size)
{
    snprintf(log_prog, sizeof log_prog, "%s", prog);
    log_rank = rank;
    log_size = size;
}

void rp_log_set_level(int level) { log_level = level; }
int rp_log_level(void) { return log_level; }
const char *rp_log_prog(void) { return log_prog; }
void rp_log_on_error(void (*hook)(void)) { log_error_hook = hook; }

static void emit(const char *kind, const char *src, int line, const char *fmt, va_list ap)
{
    char msg[2048], where[300] = "", out[2600];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (src != NULL) snprintf(where, sizeof where, " (%s:%d)", src, line);
    /* One write per line: the ranks share stderr, and pieces of lines would interleave. */
    if (log_size > 1)
        snprintf(out, sizeof out, "%s[%d/%d]: %s%s%s\n", log_prog, log_rank, log_size, kind, msg,
                 where);
    else
        snprintf(out, sizeof out, "%s: %s%s%s\n", log_prog, kind, msg, where);
    fputs(out, stderr);
    fflush(stderr);
    if (kind[0] == 'e' && log_error_hook != NULL) log_error_hook();
}

void rp_log_error(const char *src, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("error: ", src, line, fmt, ap);
    va_end(ap);
}

void rp_log_user_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("error: ", NULL, 0, fmt, ap);
    va_end(ap);
}

void rp_log_user_error0(const char *fmt, ...)
{
    if (log_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    emit("error: ", NULL, 0, fmt, ap);
    va_end(ap);
}

void rp_log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("warning: ", NULL, 0, fmt, ap);
    va_end(ap);
}

void rp_log_info(const char *fmt, ...)
{
    if (log_rank != 0 || log_level < RP_LOG_INFO) return;
    va_list ap;
    va_start(ap, fmt);
    emit("", NULL, 0, fmt, ap);
    va_end(ap);
}

void rp_log_debug(const char *fmt, ...)
{
    if (log_level < RP_LOG_DEBUG) return;
    va_list ap;
    va_start(ap, fmt);
    emit("debug: ", NULL, 0, fmt, ap);
    va_end(ap);
}
