/* fuzz_shard_row.c - libFuzzer target for rp-shard's hand-written interaction-row parser (the
 * hot loop over big_matrix.csv / small_matrix.csv): any bytes either parse to a sane row or are
 * rejected with a NUL-terminated reason; never a crash, never a half-checked row. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
