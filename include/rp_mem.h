/* rp_mem.h - large buffers backed by transparent huge pages: on the VMs recpipe runs on, the
 * first touch of each 4 KB page traps to the hypervisor (~20 us measured, more than scoring a
 * user's 10,728 videos), a 2 MB huge page costs one trap. Used by rp-recommend. */
#ifndef RP_MEM_H
#define RP_MEM_H

#include <stddef.h>

/* Buffers from this size on are huge-page aligned and advised. */
#define RP_MEM_HUGE_MIN (256 * 1024)

/* rp_mem_big - like malloc(n) (free() releases it), but from RP_MEM_HUGE_MIN bytes on the block
 * is 2 MB aligned, rounded up to whole 2 MB and advised MADV_HUGEPAGE (Linux; elsewhere, or when
 * the kernel has no huge page to give, ordinary pages). Local. Returns NULL when out of memory. */
void *rp_mem_big(size_t n);

#endif
