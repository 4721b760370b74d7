/* rp_mem.h - large arrays backed by transparent huge pages. On the VMs recpipe runs on, the
 * first touch of each 4 KB page traps to the hypervisor (12-20 us measured: 0.35 GB/s of fresh
 * memory, against 16 GB/s with huge pages; docs/stages/shard.md), a 2 MB huge page costs one
 * trap. Used by rp-shard (rows, exchange and write buffers) and rp-recommend (score buffers). */
#ifndef RP_MEM_H
#define RP_MEM_H

#include <stddef.h>

/* Arrays at least this large are worth advising (rp_mem_huge: already allocated). */
#define RP_MEM_HUGE_MIN ((size_t)4 << 20)
/* Buffers from this size on are huge-page aligned and advised (rp_mem_big). */
#define RP_MEM_BIG_MIN ((size_t)256 * 1024)

/* rp_mem_huge - ask the kernel to back the pages of [p, p + n) with transparent huge pages
 * (madvise MADV_HUGEPAGE) before they are first touched: one fault per 2 MiB instead of per
 * 4 KiB. A hint only: ignored for n < RP_MEM_HUGE_MIN, NULL, or where THP is unsupported.
 * Local; never fails. */
void rp_mem_huge(void *p, size_t n);

/* rp_mem_big - like malloc(n) (free() releases it), but from RP_MEM_BIG_MIN bytes on the block
 * is 2 MB aligned, rounded up to whole 2 MB and advised MADV_HUGEPAGE (Linux; elsewhere, or when
 * the kernel has no huge page to give, ordinary pages). Local. Returns NULL when out of memory. */
void *rp_mem_big(size_t n);

#endif
