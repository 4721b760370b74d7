/* rp_mem.h - memory placement hints for large arrays (rp-shard's rows and exchange buffers). */
#ifndef RP_MEM_H
#define RP_MEM_H

#include <stddef.h>

/* Arrays at least this large are worth backing with transparent huge pages. */
#define RP_MEM_HUGE_MIN ((size_t)4 << 20)

/* rp_mem_huge - ask the kernel to back the pages of [p, p + n) with transparent huge pages
 * (madvise MADV_HUGEPAGE) before they are first touched: one fault per 2 MiB instead of per
 * 4 KiB. On the project's VMs a 4 KiB first-touch fault costs about 12 us (0.35 GB/s of fresh
 * memory, against 16 GB/s with huge pages; see docs/stages/shard.md). A hint only: ignored for
 * n < RP_MEM_HUGE_MIN, NULL, or where THP is unsupported. Local; never fails. */
void rp_mem_huge(void *p, size_t n);

#endif
