/* rp_log.c - stderr logging with rank prefixes, shared by every stage. */
#include "rp_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process-wide logging identity; set once at stage start, read-only afterwards. */
static char log_prog[64] = "recpipe";
static int log_rank = 0;
static int log_size = 1;
static int log_level = RP_LOG_INFO;
/* A terminal progress line is on screen without its newline: end it before other output. */
static int progress_open = 0;
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
    if (progress_open) {
        fputc('\n', stderr);
        progress_open = 0;
    }
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

/* ---- progress lines ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 1234 -> "1234", 12345 -> "12.3k", 4.5e6 -> "4.5M". */
static void human(char *buf, size_t cap, double v)
{
    if (v < 10000) snprintf(buf, cap, "%.0f", v);
    else if (v < 1e6) snprintf(buf, cap, "%.1fk", v / 1e3);
    else if (v < 1e9) snprintf(buf, cap, "%.1fM", v / 1e6);
    else snprintf(buf, cap, "%.2fG", v / 1e9);
}

static void duration(char *buf, size_t cap, double s)
{
    long m = (long)(s / 60), sec = (long)s - 60 * m;
    if (s < 10) snprintf(buf, cap, "%.1f s", s);
    else if (s < 100) snprintf(buf, cap, "%.0f s", s);
    else if (s < 6000) snprintf(buf, cap, "%ld min %02ld s", m, sec);
    else snprintf(buf, cap, "%.1f h", s / 3600);
}

void rp_progress_format(char *buf, size_t cap, const char *what, const char *unit, int64_t done,
                        int64_t total, double secs)
{
    char d[32], t[32], r[32], left[48] = "";
    double rate = secs > 0 ? (double)done / secs : 0;
    human(d, sizeof d, (double)done);
    human(t, sizeof t, (double)total);
    if (rate < 10) snprintf(r, sizeof r, "%.2f", rate); /* slow loops: epochs, batches */
    else human(r, sizeof r, rate);
    if (total > 0 && done < total && rate > 0) {
        char dur[32];
        duration(dur, sizeof dur, (double)(total - done) / rate);
        snprintf(left, sizeof left, ", %s left", dur);
    }
    if (total > 0)
        snprintf(buf, cap, "%s: %s/%s %s (%.0f%%), %s %s/s%s", what, d, t, unit,
                 100.0 * (double)done / (double)total, r, unit, left);
    else
        snprintf(buf, cap, "%s: %s %s, %s %s/s", what, d, unit, r, unit);
}

static void progress_print(rp_progress *p, double t, int final)
{
    char line[512];
    rp_progress_format(line, sizeof line, p->what, p->unit, p->done, p->total, t - p->t0);
    if (final) {
        char dur[32];
        duration(dur, sizeof dur, t - p->t0);
        size_t l = strlen(line);
        snprintf(line + l, sizeof line - l, " in %s", dur);
    }
    if (log_size > 1) fprintf(stderr, "%s%s[%d/%d]: %s", p->tty ? "\r" : "", log_prog, log_rank,
                              log_size, line);
    else fprintf(stderr, "%s%s: %s", p->tty ? "\r" : "", log_prog, line);
    if (p->tty && !final) {
        fputs("\033[K", stderr); /* clear what a longer previous line left */
        progress_open = 1;
    } else {
        fputs(p->tty ? "\033[K\n" : "\n", stderr);
        progress_open = 0;
    }
    fflush(stderr);
    p->last_print = t;
    p->printed = 1;
}

void rp_progress_begin(rp_progress *p, const char *what, int64_t total, const char *unit)
{
    memset(p, 0, sizeof *p);
    snprintf(p->what, sizeof p->what, "%s", what);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->total = total;
    p->enabled = log_rank == 0 && log_level >= RP_LOG_INFO;
    p->tty = isatty(2);
    const char *env = getenv("RP_PROGRESS_SECONDS");
    p->interval = env != NULL && atof(env) > 0 ? atof(env) : p->tty ? 1.0 : 5.0;
    p->t0 = p->last_print = now_s();
    p->next_check = 1;
}

void rp_progress_update(rp_progress *p, int64_t done)
{
    p->done = done;
    if (!p->enabled || done < p->next_check) return;
    double t = now_s(), secs = t - p->t0;
    /* Next clock read after about 0.1 s of work at the rate so far. */
    double per_tenth = secs > 0 ? 0.1 * (double)done / secs : 1;
    p->next_check = done + (per_tenth < 1 ? 1 : per_tenth > 1e9 ? 1000000000 : (int64_t)per_tenth);
    /* The last step is left to rp_progress_end, which adds the total time. */
    if (t - p->last_print >= p->interval && (p->total <= 0 || done < p->total))
        progress_print(p, t, 0);
}

void rp_progress_end(rp_progress *p)
{
    if (!p->enabled) return;
    double t = now_s();
    /* Short loops stay quiet unless a line was already shown (then it gets its final state). */
    if (p->printed || t - p->t0 >= p->interval) progress_print(p, t, 1);
    p->enabled = 0;
}
