/* rp_mem.c - huge-page backed large buffers (see rp_mem.h). */
#include "rp_mem.h"

#include <stdlib.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 * 1024 * 1024)

void *rp_mem_big(size_t n)
{
    if (n < RP_MEM_HUGE_MIN) return malloc(n > 0 ? n : 1);
    if (n > (size_t)-1 - HUGE_PAGE) return NULL;
    size_t len = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, len);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* Advice only: without huge pages the buffer works the same, page by page. */
    if (p != NULL) (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}
