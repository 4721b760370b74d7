/* fuzz_shard_row.c - libFuzzer target for rp-shard's hand-written interaction-row parser (the
 * hot loop over big_matrix.csv / small_matrix.csv): any bytes either parse to a sane row or are
 * rejected with a NUL-terminated reason; never a crash, never a half-checked row. The whole
 * input, in a heap block of its exact size (ASan sees a read past it), also goes through
 * shard_parse_chunk with the mask path at the CPU's best level and without it: rows, wide ids,
 * bad rows, messages and line numbers must be the same. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void chunk_at(int level, char *buf, size_t size, int allow, shard_parsed *p)
{
    rp_csv_chunk ck;
    memset(&ck, 0, sizeof ck);
    ck.buf = buf;
    ck.len = size;
    ck.first_line = 2;
    memset(p, 0, sizeof *p);
    shard_simd_select(level);
    if (shard_parse_chunk(&ck, allow, p) != 0) abort();
}

static void paths_agree(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (buf == NULL) return;
    memcpy(buf, data, size);
    for (int allow = 0; allow <= 1; allow++) {
        shard_parsed a, b;
        chunk_at(SHARD_SIMD_NONE, buf, size, allow, &a);
        chunk_at(SHARD_SIMD_AUTO, buf, size, allow, &b);
        if (a.n != b.n || a.nbad != b.nbad || a.nerr != b.nerr || a.nwide != b.nwide) abort();
        for (int64_t k = 0; k < a.n; k++) {
            shard_raw ra, rb;
            shard_parsed_get(&a, k, &ra);
            shard_parsed_get(&b, k, &rb);
            if (memcmp(&ra, &rb, sizeof ra) != 0) abort();
        }
        for (int k = 0; k < a.nerr; k++)
            if (a.errs[k].line != b.errs[k].line || strcmp(a.errs[k].msg, b.errs[k].msg) != 0)
                abort();
        shard_parsed_clear(&a);
        shard_parsed_clear(&b);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    paths_agree(data, size);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        for (int allow = 0; allow <= 1; allow++) {
            shard_raw row;
            char why[160];
            memset(why, 'x', sizeof why);
            if (shard_parse_line(p, e, allow, &row, why, sizeof why) == 0) {
                if (row.user < 0 || row.item < 0 || !(row.wr >= 0) || !isfinite(row.wr)) abort();
                if (!allow && isnan(row.ts)) abort();
                if (!isnan(row.ts) && !isfinite(row.ts)) abort();
            } else if (memchr(why, '\0', sizeof why) == NULL) {
                abort();
            }
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}
