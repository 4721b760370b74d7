/* main.c - rp-recommend: top-K videos per user from any model into recs.h5 (and CSV). */
#include <mpi.h>

#include "recommend.h"
#include "rp_err.h"

int main(int argc, char **argv)
{
    rec_opts opt;
    rp_stage stg;
    int64_t n_users = 0;
    double pairs = 0.0;
    MPI_Init(&argc, &argv);
    int rc = rp_stage_begin(MPI_COMM_WORLD, "rp-recommend", argc, argv, &stg);
    if (rc == RP_OK) rc = rec_parse(argc, argv, &opt);
    if (rc == RP_OK) rc = rec_run(&stg, &opt, &n_users, &pairs);
    if (rc == RP_OK) {
        rp_stage_add(&stg, "users", "%lld", (long long)n_users);
        rp_stage_add(&stg, "k", "%d", opt.k);
        rp_stage_add(&stg, "pairs_scored", "%.0f", pairs);
    }
    rc = rp_stage_end(&stg, rc);
    MPI_Finalize();
    return RP_EXIT_CODE(rc);
}
