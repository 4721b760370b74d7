/* rp_fixed.h - fixed-point sums for rank-count-independent training. Gradients are summed as
 * int64 multiples of 2^-40, which is exact and associative, so a sum over ranks (and over
 * micro-batches) has the same bits for any rank count and any reduction order. Used by
 * rp-twotower and rp-seqrec. */
#ifndef RP_FIXED_H
#define RP_FIXED_H

#include <stdint.h>

#define RP_FIX_SCALE 1099511627776.0 /* 2^40 */
#define RP_FIX_MAX 4.0e18

/* rp_fix_of - x in fixed point. Branch-free (it runs once per gradient entry per
 * micro-batch): clamp, then truncate. NaN maps to 0; a diverging run shows in the loss, not as
 * undefined behaviour here. */
static inline int64_t rp_fix_of(double x)
{
    double v = x * RP_FIX_SCALE;
    v = v == v ? v : 0.0;
    v = v > RP_FIX_MAX ? RP_FIX_MAX : v;
    v = v < -RP_FIX_MAX ? -RP_FIX_MAX : v;
    return (int64_t)v;
}

/* rp_fix_to - the value of a fixed-point sum. */
static inline double rp_fix_to(int64_t f) { return (double)f / RP_FIX_SCALE; }

#endif
