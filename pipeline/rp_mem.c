/* rp_mem.c - huge-page hints and huge-page backed large buffers (see rp_mem.h). */
#include "rp_mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 * 1024 * 1024)

void rp_mem_huge(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
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

void *rp_mem_big(size_t n)
{
    if (n < RP_MEM_BIG_MIN) return malloc(n > 0 ? n : 1);
    if (n > (size_t)-1 - HUGE_PAGE) return NULL;
    size_t len = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, len);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* Advice only: without huge pages the buffer works the same, page by page. */
    if (p != NULL) (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}
