/* main.c - rp-twotower: data-parallel two-tower recommender trained with MPI; see
 * docs/stages/twotower.md. */
#include <stdlib.h>

#include "rp_err.h"
#include "rp_stage.h"
#include "twotower.h"

int main(int argc, char **argv)
{
    rp_stage st;
    tt_opts o;
    tt_data d = {0};
    tt_train tr = {0};
    MPI_Init(&argc, &argv);
    twotower_opts_default(&o);
    int rc = rp_stage_begin(MPI_COMM_WORLD, "rp-twotower", argc, argv, &st);
    if (rc == RP_OK) rc = twotower_parse_args(argc, argv, &o);
    if (rc == RP_OK) rc = twotower_read_inputs(st.comm, &o, &d);
    if (rc == RP_OK) rc = twotower_train(st.comm, &o, &d, &tr);
    if (rc == RP_OK) rc = twotower_write_output(&st, &o, &d, &tr);
    if (rc == RP_OK) twotower_checkpoint_remove(st.comm, &o);
    if (rc == RP_OK) {
        int64_t k = tr.hist.n - 1, b = tr.best_epoch - 1 >= 0 ? tr.best_epoch - 1 : k;
        rp_stage_add(&st, "epochs", "%lld", (long long)tr.hist.n);
        rp_stage_add(&st, "best_epoch", "%lld", (long long)tr.best_epoch);
        rp_stage_add(&st, "valid_rmse", "%.5f", tr.hist.valid_rmse[b]);
        rp_stage_add(&st, "valid_mae", "%.5f", tr.hist.valid_mae[b]);
        rp_stage_add(&st, "samples_per_s", "%.0f",
                     tr.train_seconds > 0 ? tr.samples_done / tr.train_seconds : 0.0);
        rp_stage_add(&st, "allreduce_bytes_per_step", "%.0f",
                     tr.steps_done > 0 ? tr.bytes_dense / tr.steps_done : 0.0);
        rp_stage_add(&st, "sparse_bytes_per_step", "%.0f",
                     tr.steps_done > 0 ? tr.bytes_sparse / tr.steps_done : 0.0);
    }
    rc = rp_stage_end(&st, rc);
    twotower_train_clear(&tr);
    twotower_data_clear(&d);
    MPI_Finalize();
    return rc;
}
