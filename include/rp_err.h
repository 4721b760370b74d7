/* rp_err.h - return codes (sysexits-style, they double as exit codes) and the one error pattern:
 * every wrapped call logs "prog[r/size]: error: call: message (file.c:line)" (rp_log_error),
 * sets rc and jumps to cleanup. */
#ifndef RP_ERR_H
#define RP_ERR_H

#include "rp_fault.h"
#include "rp_log.h"

/* Codes are ordered by severity so an MPI_MAX reduction picks the most specific failure. */
enum {
    RP_OK = 0,
    RP_HELP = 1,              /* --help was printed; exit 0 */
    RP_ERR_USAGE = 64,        /* bad command line */
    RP_ERR_DATA = 65,         /* malformed input data */
    RP_ERR_NOINPUT = 66,      /* missing or empty input */
    RP_ERR_INTERNAL = 70,     /* bug, MPI failure, out of memory */
    RP_ERR_IO = 74,           /* I/O failure (disk full, HDF5 write) */
    RP_ERR_INTERRUPTED = 75   /* checkpointed after SIGTERM/SIGUSR1: requeue me */
};
#define RP_ERR_MPI RP_ERR_INTERNAL
#define RP_ERR_H5 RP_ERR_IO
#define RP_ERR_NOMEM RP_ERR_INTERNAL

/* Exit status for a return code: RP_HELP is a success. */
#define RP_EXIT_CODE(rc) ((rc) == RP_HELP ? 0 : (rc))

#define RP_FAIL(code, ...)                                                      \
    do {                                                                        \
        rp_log_error(__FILE__, __LINE__, __VA_ARGS__);                          \
        rc = (code);                                                            \
        goto cleanup;                                                           \
    } while (0)

/* A user-facing data error: the message itself names the file and line, no source location. */
#define RP_FAIL_USER(code, ...)                                                 \
    do {                                                                        \
        rp_log_user_error(__VA_ARGS__);                                         \
        rc = (code);                                                            \
        goto cleanup;                                                           \
    } while (0)

/* The same for a check every rank makes identically: only rank 0 prints. */
#define RP_FAIL_USER0(code, ...)                                                \
    do {                                                                        \
        rp_log_user_error0(__VA_ARGS__);                                        \
        rc = (code);                                                            \
        goto cleanup;                                                           \
    } while (0)

#define RP_REQUIRE(cond, code, ...)                                             \
    do {                                                                        \
        if (!(cond)) RP_FAIL(code, __VA_ARGS__);                                \
    } while (0)

/* Propagate an rp_* function's code; the callee already logged. */
#define RP_CALL(expr)                                                           \
    do {                                                                        \
        int rp_call_rc_ = (expr);                                               \
        if (rp_call_rc_ != RP_OK) {                                             \
            rc = rp_call_rc_;                                                   \
            goto cleanup;                                                       \
        }                                                                       \
    } while (0)

/* An allocation; RP_FAULT=alloc:N@rank makes it fail without evaluating expr (see rp_fault.h).
 * Before a collective use rp_malloc/rp_calloc and RP_AGREE_LOCAL (rp_mpi.h) instead. */
#define RP_ALLOC(expr)                                                          \
    do {                                                                        \
        if (rp_fault_hit(RP_FAULT_ALLOC) || (expr) == NULL)                     \
            RP_FAIL(RP_ERR_NOMEM, "%s: out of memory", #expr);                  \
    } while (0)

/* LAPACKE: failure is info != 0. */
#define RP_LAPACK(expr)                                                         \
    do {                                                                        \
        int rp_info_ = (int)(expr);                                             \
        if (rp_info_ != 0)                                                      \
            RP_FAIL(RP_ERR_INTERNAL, "%s: LAPACK info=%d", #expr, rp_info_);    \
    } while (0)

#endif
