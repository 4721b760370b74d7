/* rp_args.c - long-option parsing and --help text shared by every stage program. */
#include "rp_args.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"

/* Only rank 0 prints usage and usage errors: every rank parses the same argv. */
static int quiet_rank(void)
{
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (r == NULL) r = getenv("PMIX_RANK");
    if (r == NULL) r = getenv("SLURM_PROCID");
    return r != NULL && atoi(r) != 0;
}

static void usage_error(const rp_cmd *cmd, const char *fmt, const char *a, const char *b)
{
    if (quiet_rank()) return;
    fprintf(stderr, "%s: error: ", cmd->prog);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (try %s --help)\n", cmd->prog);
}

static void default_str(const rp_arg *a, char *buf, size_t cap)
{
    switch (a->kind) {
    case RP_ARG_INT: snprintf(buf, cap, "%d", *(int *)a->dst); break;
    case RP_ARG_I64: snprintf(buf, cap, "%lld", (long long)*(int64_t *)a->dst); break;
    case RP_ARG_DBL: snprintf(buf, cap, "%g", *(double *)a->dst); break;
    case RP_ARG_STR: {
        const char *s = *(const char **)a->dst;
        snprintf(buf, cap, "%s", s ? s : "");
        break;
    }
    case RP_ARG_FLAG: snprintf(buf, cap, "%s", *(int *)a->dst ? "on" : "off"); break;
    }
}

void rp_args_print_help(const rp_cmd *cmd, const rp_arg *args, int nargs)
{
    printf("Usage: %s [options]\n       mpirun -np N %s [options]\n\n%s\n\nOptions:\n", cmd->prog,
           cmd->prog, cmd->summary);
    for (int i = 0; i < nargs; i++) {
        const rp_arg *a = &args[i];
        char left[96], def[256];
        if (a->kind == RP_ARG_FLAG)
            snprintf(left, sizeof left, "--%s, --no-%s", a->name, a->name);
        else
            snprintf(left, sizeof left, "--%s %s", a->name, a->metavar ? a->metavar : "X");
        default_str(a, def, sizeof def);
        printf("  %-30s %s", left, a->help);
        if (a->choices) {
            printf(" (");
            for (int c = 0; a->choices[c]; c++) printf("%s%s", c ? "|" : "", a->choices[c]);
            printf(")");
        }
        /* Every option shows its default; an unset string is "none" (or "required" when the
         * help text says so). */
        if (!def[0]) snprintf(def, sizeof def, "%s", strstr(a->help, "required") ? "required" : "none");
        printf(" [%s]", def);
        printf("\n");
    }
    printf("  %-30s %s\n  %-30s %s\n", "--help", "show this help and exit", "--version",
           "show the version and exit");
    if (cmd->epilog) printf("\n%s", cmd->epilog);
    printf("\n%s", RP_COMMON_EPILOG);
}

static int set_value(const rp_cmd *cmd, const rp_arg *a, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (a->kind) {
    case RP_ARG_INT: {
        long x = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno || x < INT_MIN || x > INT_MAX) break;
        *(int *)a->dst = (int)x;
        return RP_OK;
    }
    case RP_ARG_I64: {
        long long x = strtoll(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno) break;
        *(int64_t *)a->dst = (int64_t)x;
        return RP_OK;
    }
    case RP_ARG_DBL: {
        double x = strtod(v, &end);
        if (*v == '\0' || *end != '\0' || errno || !isfinite(x)) break;
        *(double *)a->dst = x;
        return RP_OK;
    }
    case RP_ARG_STR:
        if (a->choices) {
            int ok = 0;
            for (int c = 0; a->choices[c]; c++) ok |= strcmp(a->choices[c], v) == 0;
            if (!ok) {
                usage_error(cmd, "--%s: '%s' is not one of the choices", a->name, v);
                return RP_ERR_USAGE;
            }
        }
        *(const char **)a->dst = v;
        return RP_OK;
    case RP_ARG_FLAG: break;
    }
    usage_error(cmd, "--%s: invalid value '%s'", a->name, v);
    return RP_ERR_USAGE;
}

static const rp_arg *find(const rp_arg *args, int nargs, const char *name, size_t len)
{
    for (int i = 0; i < nargs; i++)
        if (strlen(args[i].name) == len && strncmp(args[i].name, name, len) == 0) return &args[i];
    return NULL;
}

int rp_args_parse(int argc, char **argv, const rp_cmd *cmd, const rp_arg *args, int nargs)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            if (!quiet_rank()) rp_args_print_help(cmd, args, nargs);
            return RP_HELP;
        }
        if (strcmp(s, "--version") == 0) {
            if (!quiet_rank()) printf("%s (recpipe) %s\n", cmd->prog, RP_VERSION);
            return RP_HELP;
        }
        if (strncmp(s, "--", 2) != 0) {
            usage_error(cmd, "unexpected argument '%s'%s", s, "");
            return RP_ERR_USAGE;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const rp_arg *a = find(args, nargs, name, len);
        if (a == NULL && len > 3 && strncmp(name, "no-", 3) == 0) {
            a = find(args, nargs, name + 3, len - 3);
            if (a && a->kind == RP_ARG_FLAG && !eq) {
                *(int *)a->dst = 0;
                continue;
            }
            a = NULL;
        }
        if (a == NULL) {
            usage_error(cmd, "unknown option '%s'%s", s, "");
            return RP_ERR_USAGE;
        }
        if (a->kind == RP_ARG_FLAG) {
            if (eq) {
                usage_error(cmd, "--%s takes no value%s", a->name, "");
                return RP_ERR_USAGE;
            }
            *(int *)a->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (v == NULL) {
            usage_error(cmd, "--%s needs a value%s", a->name, "");
            return RP_ERR_USAGE;
        }
        if (set_value(cmd, a, v) != RP_OK) return RP_ERR_USAGE;
    }
    return RP_OK;
}

void rp_args_cmdline(int argc, char **argv, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < argc && used + 1 < cap; i++) {
        int quote = strpbrk(argv[i], " \t'\"$") != NULL;
        int n = snprintf(buf + used, cap - used, "%s%s%s%s", i ? " " : "", quote ? "'" : "",
                         argv[i], quote ? "'" : "");
        if (n < 0) break;
        used += (size_t)n;
    }
}
