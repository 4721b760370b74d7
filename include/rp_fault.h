/* rp_fault.h - fault injection for tests: RP_FAULT="kind:N@rank" makes the N-th allocation
 * (alloc), HDF5 dataset read (h5read) or write (h5write) on one rank fail, through RP_ALLOC,
 * rp_malloc/rp_calloc/rp_realloc and rp_h5_read/rp_h5_write, or its N-th training step (step:
 * rp-twotower's, as a refused layer product would). Unset: no effect. */
#ifndef RP_FAULT_H
#define RP_FAULT_H

#include <stddef.h>

typedef enum {
    RP_FAULT_ALLOC = 0,
    RP_FAULT_H5READ = 1,
    RP_FAULT_H5WRITE = 2,
    RP_FAULT_STEP = 3
} rp_fault_kind;

/* rp_fault_init - read $RP_FAULT for this rank (rp_stage_begin calls it). Local. Returns 0, or
 * -1 (logged) when the variable is malformed. Before it is called no fault fires. */
int rp_fault_init(int rank);

/* rp_fault_hit - count one operation of kind; 1 if it is the one to fail on this rank (a
 * warning names it), else 0. Local. */
int rp_fault_hit(rp_fault_kind kind);

/* rp_fault_count - operations of kind counted so far on this rank (only while RP_FAULT names
 * this rank: the counts show a test which N reach which step). Local. */
long long rp_fault_count(rp_fault_kind kind);

/* rp_fault_mark - on the rank RP_FAULT names, log (debug level, RP_LOG=2) "RP_FAULT mark
 * <where>: alloc=.. h5read=.. h5write=..", the counts so far: a test injects N = count + 1 to
 * fail the first operation after a named point (e.g. a trainer's buffers). Local. */
void rp_fault_mark(const char *where);

/* rp_malloc / rp_calloc / rp_realloc - the C allocators, failing where RP_FAULT says: for the
 * rank-local steps that end in RP_AGREE_LOCAL instead of jumping to cleanup. Local. */
void *rp_malloc(size_t n);
void *rp_calloc(size_t n, size_t size);
void *rp_realloc(void *p, size_t n);
/* rp_malloc_big - rp_mem_big (huge pages from RP_MEM_BIG_MIN bytes; free() releases it) that
 * fails where RP_FAULT says, counted as an alloc like rp_malloc. Local. */
void *rp_malloc_big(size_t n);

#endif
