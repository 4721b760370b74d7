/* main.c - rp-hybrid: fuse ALS, two-tower and the bias baseline into hybrid.h5. */
#include <mpi.h>
#include <stdio.h>

#include "hybrid.h"
#include "rp_err.h"


int main(int argc, char **argv)
{
    hyb_opts opt;
    hyb_state st = {0};
    rp_stage stg;
    MPI_Init(&argc, &argv);
    int rc = rp_stage_begin(MPI_COMM_WORLD, "rp-hybrid", argc, argv, &stg);
    if (rc == RP_OK) rc = hyb_parse(argc, argv, &opt);
    if (rc == RP_OK) rc = hyb_open_inputs(stg.comm, &opt, &st);
    if (rc == RP_OK) rc = hyb_fuse(stg.comm, &opt, &st);
    if (rc == RP_OK) rc = hyb_write(&stg, &opt, &st);
    if (rc == RP_OK) {
        rp_stage_add(&stg, "default", "%s", st.deflt);
        rp_stage_add(&stg, "valid_rmse_blend", "%.5f", st.blend.rmse);
        rp_stage_add(&stg, "valid_rmse_concat", "%.5f", st.concat_rmse);
        rp_stage_add(&stg, "heldout_rmse_blend", "%.5f", st.blend.fold0_rmse);
        rp_stage_add(&stg, "heldout_rmse_concat", "%.5f", st.concat.valid_rmse);
        for (int c = 0; c < st.n_comp; c++) {
            char key[64];
            snprintf(key, sizeof key, "valid_rmse_%s", st.names[c]);
            rp_stage_add(&stg, key, "%.5f", st.blend.input_rmse[c]);
        }
    }
    rc = rp_stage_end(&stg, rc);
    hyb_state_clear(&st);
    MPI_Finalize();
    return RP_EXIT_CODE(rc);
}
