/* fuzz_csv.c - libFuzzer target for the CSV layer every reader shares (rp_csv): line splitting,
 * quoted fields, unquoting, and the strict number parsers, with strtod/strtoll as oracles so
 * the fast paths must agree with libc bit for bit. Built and run by `make fuzz`. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rp_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_number(const char *s, size_t len)
{
    char tmp[64];
    double d = 0;
    int64_t i = 0;
    if (len >= sizeof tmp) return;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (rp_parse_f64(s, len, &d) == 0) {
        char *end = NULL;
        double ref = strtod(tmp, &end);
        /* Accepted text must be a complete finite decimal that libc reads to the same bits. */
        if (end != tmp + len || !isfinite(d) || memcmp(&ref, &d, sizeof d) != 0) abort();
    }
    if (rp_parse_i64(s, len, &i) == 0) {
        char *end = NULL;
        errno = 0;
        long long ref = strtoll(tmp, &end, 10);
        /* A float-written integer ("12.0", "12.000") is accepted as its integer part. */
        const char *q = end;
        if (q < tmp + len && *q == '.' && q + 1 < tmp + len)
            for (q++; q < tmp + len && *q == '0'; q++) continue;
        if (q != tmp + len || end == tmp || errno != 0 || ref != i) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    rp_csv_field f[16];
    char buf[256], safe[64];
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        int n = rp_csv_split(p, e, f, 16);
        for (int k = 0; k < n && k < 16; k++) {
            /* Fields must lie inside the line. */
            if (f[k].p < p || f[k].p + f[k].len > e) abort();
            size_t ul = rp_csv_unquote(&f[k], buf, sizeof buf);
            if (ul >= sizeof buf || ul > f[k].len) abort();
            check_number(f[k].p, f[k].len);
            rp_csv_sanitize(f[k].p, f[k].len, safe, sizeof safe);
            if (strlen(safe) >= sizeof safe) abort();
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}
