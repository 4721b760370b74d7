/* rp_part.c - even and nonzero-balanced block partitions (rp-shard, rp-als, rp-eval, ...). */
#include "rp_part.h"

void rp_part_even(int64_t n, int size, int rank, int64_t *off, int64_t *cnt)
{
    int64_t base = n / size, extra = n % size;
    *off = rank * base + (rank < extra ? rank : extra);
    *cnt = base + (rank < extra ? 1 : 0);
}

void rp_part_weighted(const int64_t *offsets, int64_t n, int size, double row_cost, int64_t *cuts)
{
    double total = (double)(offsets[n] - offsets[0]) + row_cost * (double)n;
    cuts[0] = 0;
    for (int p = 1; p < size; p++) {
        /* First row whose cumulative weight reaches p/size of the total. */
        double target = total * p / size;
        int64_t lo = cuts[p - 1], hi = n;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            double w = (double)(offsets[mid] - offsets[0]) + row_cost * (double)mid;
            if (w < target) lo = mid + 1; else hi = mid;
        }
        cuts[p] = lo;
    }
    cuts[size] = n;
}

int rp_part_owner(const int64_t *cuts, int size, int64_t row)
{
    int lo = 0, hi = size - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (cuts[mid] <= row) lo = mid; else hi = mid - 1;
    }
    return lo;
}
