/* rp_fault.c - RP_FAULT fault injection (see rp_fault.h); used by the e2e fault test. */
#include "rp_fault.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_log.h"
#include "rp_mem.h"

static const char *const kind_names[] = {"alloc", "h5read", "h5write", "step"};
#define NKINDS (sizeof kind_names / sizeof kind_names[0])

/* Process-wide, set once by rp_fault_init: which operation of which kind fails here. */
static int fault_kind = -1;
static int64_t fault_nth = 0;
static int64_t fault_count[NKINDS];

int rp_fault_init(int rank)
{
    const char *spec = getenv("RP_FAULT");
    fault_kind = -1;
    memset(fault_count, 0, sizeof fault_count);
    if (spec == NULL || spec[0] == '\0') return 0;
    char kind[16];
    long long nth = 0;
    int at = -1, used = 0;
    if (sscanf(spec, "%15[a-z0-9]:%lld@%d%n", kind, &nth, &at, &used) != 3 ||
        spec[used] != '\0' || nth < 1 || at < 0) {
        rp_log_user_error("RP_FAULT='%s': expected kind:N@rank (kind alloc, h5read, h5write or "
                          "step)", spec);
        return -1;
    }
    for (size_t k = 0; k < NKINDS; k++) {
        if (strcmp(kind, kind_names[k]) == 0) {
            if (at == rank) fault_kind = (int)k; /* counting starts: every kind on this rank */
            fault_nth = nth;
            return 0;
        }
    }
    rp_log_user_error("RP_FAULT='%s': unknown kind '%s' (alloc, h5read, h5write or step)", spec,
                      kind);
    return -1;
}

int rp_fault_hit(rp_fault_kind kind)
{
    if (fault_kind < 0) return 0;
    if (++fault_count[kind] != fault_nth || fault_kind != (int)kind) return 0;
    rp_log_warn("RP_FAULT: failing %s number %lld here", kind_names[kind], (long long)fault_nth);
    return 1;
}

long long rp_fault_count(rp_fault_kind kind) { return (long long)fault_count[kind]; }

void rp_fault_mark(const char *where)
{
    if (fault_kind < 0) return;
    rp_log_debug("RP_FAULT mark %s: alloc=%lld h5read=%lld h5write=%lld", where,
                 (long long)fault_count[RP_FAULT_ALLOC], (long long)fault_count[RP_FAULT_H5READ],
                 (long long)fault_count[RP_FAULT_H5WRITE]);
}

void *rp_malloc(size_t n) { return rp_fault_hit(RP_FAULT_ALLOC) ? NULL : malloc(n); }
void *rp_calloc(size_t n, size_t size)
{
    return rp_fault_hit(RP_FAULT_ALLOC) ? NULL : calloc(n, size);
}
void *rp_realloc(void *p, size_t n) { return rp_fault_hit(RP_FAULT_ALLOC) ? NULL : realloc(p, n); }
void *rp_malloc_big(size_t n) { return rp_fault_hit(RP_FAULT_ALLOC) ? NULL : rp_mem_big(n); }
