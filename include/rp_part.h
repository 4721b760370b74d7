/* rp_part.h - block partitions of rows over ranks: even blocks, and contiguous blocks balanced by
 * nonzeros from a CSR offsets vector (so any N ranks agree on the blocks from the file alone). */
#ifndef RP_PART_H
#define RP_PART_H

#include <stdint.h>

/* rp_part_even - rows [*off, *off + *cnt) of n for rank of size (first n % size ranks get one more). */
void rp_part_even(int64_t n, int size, int rank, int64_t *off, int64_t *cnt);

/* rp_part_weighted - cuts[0..size] (cuts[0] = 0, cuts[size] = n) so that block p holds rows
 * [cuts[p], cuts[p+1]) with about equal weight, weight(row i) = nnz(i) + row_cost where
 * nnz(i) = offsets[i+1] - offsets[i]. offsets has n + 1 entries. Pure function. */
void rp_part_weighted(const int64_t *offsets, int64_t n, int size, double row_cost, int64_t *cuts);

/* rp_part_owner - the p with cuts[p] <= row < cuts[p+1] (binary search). */
int rp_part_owner(const int64_t *cuts, int size, int64_t row);

#endif
