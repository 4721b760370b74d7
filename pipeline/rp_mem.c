/* rp_mem.c - memory placement hints (transparent huge pages for large arrays). */
#include "rp_mem.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

void rp_mem_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    if (p == NULL || n < RP_MEM_HUGE_MIN) return;
    /* madvise wants a page-aligned start: the first page of a malloc'ed block holds only its
     * header besides our bytes, so advising it too is harmless. */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p & ~(page - 1), hi = (uintptr_t)p + n;
    (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}
