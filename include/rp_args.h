/* rp_args.h - command-line parsing with --help for every stage: a table of long options
 * (--name value or --name=value; --flag / --no-flag), defaults shown in the help. */
#ifndef RP_ARGS_H
#define RP_ARGS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { RP_ARG_INT, RP_ARG_I64, RP_ARG_DBL, RP_ARG_STR, RP_ARG_FLAG } rp_arg_kind;

/* One option. dst: int* (INT, FLAG), int64_t* (I64), double* (DBL), const char** (STR).
 * choices: NULL, or a NULL-terminated list of accepted strings (STR only). */
typedef struct rp_arg {
    const char *name;
    rp_arg_kind kind;
    void *dst;
    const char *metavar;
    const char *help;
    const char *const *choices;
} rp_arg;

typedef struct rp_cmd {
    const char *prog;    /* "rp-als" */
    const char *summary; /* one line: what the program does */
    const char *epilog;  /* optional: inputs, outputs, exit codes */
} rp_cmd;

/* rp_args_parse - parse argv against args. Local (every rank parses the same argv).
 * --help prints usage on rank 0 to stdout and returns RP_HELP; --version likewise.
 * Returns RP_OK, RP_HELP, or RP_ERR_USAGE with a one-line message on rank 0. */
int rp_args_parse(int argc, char **argv, const rp_cmd *cmd, const rp_arg *args, int nargs);

/* rp_args_print_help - the usage text (defaults taken from the current dst values). */
void rp_args_print_help(const rp_cmd *cmd, const rp_arg *args, int nargs);

/* rp_args_cmdline - argv joined with spaces (shell-quoted where needed) into buf. */
void rp_args_cmdline(int argc, char **argv, char *buf, size_t cap);

#define RP_VERSION "0.1.0"
#define RP_COMMON_EPILOG                                                        \
    "Exit codes: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal error,\n" \
    "74 I/O error (disk full), 75 interrupted after a checkpoint (rerun with --resume).\n"

#endif
