/* eval_run.c - rp-eval's five steps (begin, parse, inputs, score, write, end) on a communicator,
 * so tests can run the whole program in-process. */
#include <math.h>
#include <stdio.h>

#include "eval.h"
#include "rp_err.h"
#include "rp_mpi.h"
#include "rp_stage.h"

/* "best_<metric>=<model>:<value>" over the models (the truth row excluded) for the summary. */
static void add_best(rp_stage *st, const eval_state *s, int col, const char *metric, int lower)
{
    int best = -1;
    for (int k = 0; k < s->n_entries; k++) {
        double v = s->metrics[(int64_t)k * s->n_metrics + col];
        if (s->entries[k].model == NULL || !isfinite(v)) continue;
        double b = best < 0 ? 0 : s->metrics[(int64_t)best * s->n_metrics + col];
        if (best < 0 || (lower ? v < b : v > b)) best = k;
    }
    char key[64];
    snprintf(key, sizeof key, "best_%s", metric);
    if (best >= 0)
        rp_stage_add(st, key, "%s:%.4f", s->entries[best].name,
                     s->metrics[(int64_t)best * s->n_metrics + col]);
}

int eval_run(MPI_Comm comm, int argc, char **argv)
{
    eval_opts o;
    eval_state s = {0};
    rp_stage st;
    int rc = rp_stage_begin(comm, "rp-eval", argc, argv, &st);
    if (rc == RP_OK) rc = eval_parse(argc, argv, &o);
    if (rc == RP_OK) rc = eval_load_baselines(comm, &o, &s);
    if (rc == RP_OK) rc = rp_mpi_agree(comm, eval_load_test(comm, &o, &s.test));
    if (rc == RP_OK) rc = eval_load_models(comm, &o, &s);
    if (rc == RP_OK) rc = eval_score_all(comm, &o, &s);
    if (rc == RP_OK) rc = eval_write(comm, &st, &o, &s);
    if (rc == RP_OK) {
        rp_stage_add(&st, "models", "%d", s.n_entries);
        rp_stage_add(&st, "test_pairs", "%lld", (long long)s.test.nnz_global);
        char ndcg[32];
        snprintf(ndcg, sizeof ndcg, "ndcg@%d", o.k[0]);
        add_best(&st, &s, 1, "rmse", 1); /* columns: mae, rmse, ..., ndcg@k1 (4) */
        add_best(&st, &s, 4, ndcg, 0);
        rp_stage_add(&st, "out", "%s", o.out);
    }
    rc = rp_stage_end(&st, rc);
    eval_state_clear(&s);
    return rc;
}
