/* main.c - rp-seqrec: a SASRec-style causal transformer over each user's viewing sequence,
 * trained data-parallel with MPI; see docs/stages/seqrec.md. */
#include <stdlib.h>

#include "rp_err.h"
#include "rp_stage.h"
#include "seqrec.h"

int main(int argc, char **argv)
{
    rp_stage st;
    sr_opts o;
    sr_data d = {0};
    sr_train tr = {0};
    sr_scores sc = {0};
    MPI_Init(&argc, &argv);
    seqrec_opts_default(&o);
    int rc = rp_stage_begin(MPI_COMM_WORLD, "rp-seqrec", argc, argv, &st);
    if (rc == RP_OK) rc = seqrec_parse_args(argc, argv, &o);
    if (rc == RP_OK) rc = seqrec_init_dim(st.comm, &o);
    /* phase times (rank 0's clock): reading is replicated and scoring partitioned, which is
     * what docs/SCALING.md's projection needs to tell apart */
    double t_ph[4] = {MPI_Wtime(), 0, 0, 0};
    if (rc == RP_OK) rc = seqrec_read_inputs(st.comm, &o, &d);
    t_ph[1] = MPI_Wtime();
    if (rc == RP_OK) rc = seqrec_train(st.comm, &o, &d, &tr);
    double gamma = 1.0;
    t_ph[2] = MPI_Wtime();
    if (rc == RP_OK) rc = seqrec_final_gamma(st.comm, &d, &tr, &gamma);
    if (rc == RP_OK) rc = seqrec_score(st.comm, &tr.m, &d, gamma, &sc);
    if (rc == RP_OK) rc = seqrec_fallback(st.comm, &o, &d, &tr, &sc);
    t_ph[3] = MPI_Wtime();
    if (rc == RP_OK) rc = seqrec_write_output(&st, &o, &d, &tr, &sc);
    if (rc == RP_OK) rp_trainer_ckpt_remove(st.comm, o.train.checkpoint);
    if (rc == RP_OK) {
        const rp_trainer *l = &tr.loop;
        rp_stage_add(&st, "epochs", "%lld", (long long)l->hist.n);
        rp_stage_add(&st, "best_epoch", "%lld", (long long)l->best_epoch);
        rp_stage_add(&st, "valid_rmse", "%.5f", sc.valid_rmse);
        rp_stage_add(&st, "bias_valid_rmse", "%.5f", sc.bias_valid_rmse);
        rp_stage_add(&st, "beats_bias", "%d", sc.beats_bias);
        rp_stage_add(&st, "target", "%s", d.log_target ? "log" : "clipped");
        if (d.log_target) rp_stage_add(&st, "calib_gamma", "%.4f", sc.gamma);
        rp_stage_add(&st, "samples_per_s", "%.0f",
                     l->train_seconds > 0 ? l->samples_done / l->train_seconds : 0.0);
        rp_stage_add(&st, "train_seconds", "%.1f", l->train_seconds);
        rp_stage_add(&st, "train_cpu_seconds", "%.2f", l->train_cpu_seconds);
        rp_stage_add(&st, "allreduce_bytes_per_step", "%.0f",
                     l->steps_done > 0 ? tr.bytes_reduced / l->steps_done : 0.0);
        rp_stage_add(&st, "read_seconds", "%.2f", t_ph[1] - t_ph[0]);
        rp_stage_add(&st, "fit_seconds", "%.2f", t_ph[2] - t_ph[1]);
        rp_stage_add(&st, "score_seconds", "%.2f", t_ph[3] - t_ph[2]);
        rp_stage_add(&st, "write_seconds", "%.2f", MPI_Wtime() - t_ph[3]);
    }
    rc = rp_stage_end(&st, rc);
    seqrec_scores_clear(&sc);
    seqrec_train_clear(&tr);
    seqrec_data_clear(&d);
    MPI_Finalize();
    return rc;
}
