/* main.c - rp-synth: writes the seven KuaiRec 2.0 CSV files (and truth.h5) from a planted
 * model, or with --stats checks a folder's statistics against the real data's. */
#include <stdlib.h>

#include "rp_err.h"
#include "rp_stage.h"
#include "synth.h"

int main(int argc, char **argv)
{
    synth_opts opt = {0};
    rp_stage st;
    MPI_Init(&argc, &argv);
    int rc = rp_stage_begin(MPI_COMM_WORLD, "rp-synth", argc, argv, &st);
    if (rc == RP_OK) rc = synth_parse_args(argc, argv, &opt);
    if (rc == RP_OK) rc = synth_run(&st, &opt);
    rc = rp_stage_end(&st, rc);
    MPI_Finalize();
    return rc;
}
