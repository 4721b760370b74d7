/* main.c - rp-shard: CSV interaction matrices -> shards.h5 (see docs/stages/shard.md). */
#include <mpi.h>

#include "rp_err.h"
#include "rp_stage.h"
#include "shard.h"

int main(int argc, char **argv)
{
    rp_stage st;
    shard_state s = {0};
    MPI_Init(&argc, &argv);
    int rc = rp_stage_begin(MPI_COMM_WORLD, "rp-shard", argc, argv, &st);
    if (rc == RP_OK) rc = shard_parse_args(argc, argv, &s.opt);
    if (rc == RP_OK) rc = shard_run(&st, &s);
    rc = rp_stage_end(&st, rc);
    shard_state_clear(&s);
    MPI_Finalize();
    return RP_EXIT_CODE(rc);
}
