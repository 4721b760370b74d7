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
    if (rc == RP_OK) rc = twotower_finish(st.comm, &o, &d, &tr);
    if (rc == RP_OK) rc = twotower_write_output(&st, &o, &d, &tr);
    if (rc == RP_OK) rp_trainer_ckpt_remove(st.comm, o.train.checkpoint);
    if (rc == RP_OK) twotower_report(&st, &tr);
    rc = rp_stage_end(&st, rc);
    twotower_train_clear(&tr);
    twotower_data_clear(&d);
    MPI_Finalize();
    return rc;
}
