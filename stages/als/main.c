/* main.c - rp-als: block-partitioned ALS on shards.h5, writes als.h5 (docs/stages/als.md). */
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

#include "als.h"
#include "rp_la.h"
#include "rp_mpi.h"

int main(int argc, char **argv)
{
    als_opts opt;
    als_state st = {0};
    rp_stage stg;
    int64_t iters = 0;
    MPI_Init(&argc, &argv);
    rp_la_init(1); /* one BLAS thread per rank: the ranks are the parallelism */
    int rc = rp_stage_begin(MPI_COMM_WORLD, "rp-als", argc, argv, &stg);
    if (rc == RP_OK) rc = als_parse_args(argc, argv, &opt);
    if (rc == RP_OK) rc = als_load(MPI_COMM_WORLD, &opt, &st);
    if (rc == RP_OK) rc = als_train(&stg, &st, &opt, &iters);
    if (rc == RP_OK) rc = als_write_output(&stg, &st, &opt, iters);
    if (rc == RP_OK && stg.rank == 0) unlink(opt.checkpoint); /* finished: no longer needed */
    rc = rp_stage_end(&stg, rc);
    als_state_clear(&st);
    MPI_Finalize();
    return RP_EXIT_CODE(rc);
}
