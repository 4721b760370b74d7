/* eval_run.c - rp-eval's five steps (begin, parse, inputs, score, write, end) on a communicator,
 * so tests can run the whole program in-process. */
#include "eval.h"
#include "rp_err.h"
#include "rp_mpi.h"
#include "rp_stage.h"

int eval_run(MPI_Comm comm, int argc, char **argv)
{
    eval_opts o;
    eval_state s = {0};
    rp_stage st;
    int rc = rp_stage_begin(comm, "rp-eval", argc, argv, &st);
    if (rc == RP_OK) rc = eval_parse(argc, argv, &o);
    if (rc == RP_OK) rc = rp_mpi_agree(comm, eval_load_test(comm, &o, &s.test));
    if (rc == RP_OK) rc = eval_load_models(comm, &o, &s);
    if (rc == RP_OK) rc = eval_score_all(comm, &o, &s);
    if (rc == RP_OK) rc = eval_write(comm, &st, &o, &s);
    if (rc == RP_OK) {
        rp_stage_add(&st, "models", "%d", s.n_entries);
        rp_stage_add(&st, "test_pairs", "%lld", (long long)s.test.nnz_global);
        rp_stage_add(&st, "out", "%s", o.out);
    }
    rc = rp_stage_end(&st, rc);
    eval_state_clear(&s);
    return rc;
}
