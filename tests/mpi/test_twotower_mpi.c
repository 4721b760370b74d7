/* test_twotower_mpi.c - rp-twotower under 1..4 ranks: replicas stay identical, the result does
 * not depend on the rank count, resume equals uninterrupted, a planted problem is learned, the
 * written model is the best validation epoch, a model that loses falls back to the bias model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_h5.h"
#include "rp_fixed.h"
#include "rp_mpi.h"
#include "rp_rng.h"
#include "rp_sha256.h"
#include "rp_test.h"
#include "twotower.h"
#include "twotower_fixture.h"

int test_twotower_mpi_register(void);

static char shards[1024], features[1024];

/* The planted fixture, written once (collectively) per test binary run. */
static int fixture(void)
{
    static int done = 0;
    if (done) return RP_OK;
    tt_fixture fx;
    twotower_fixture_default(&fx);
    snprintf(shards, sizeof shards, "%s", rp_test_path("tt_shards.h5"));
    snprintf(features, sizeof features, "%s", rp_test_path("tt_features.h5"));
    int rc = twotower_fixture_write(MPI_COMM_WORLD, &fx, shards, features);
    done = rc == RP_OK;
    return rc;
}

static void opts(tt_opts *o, const char *ckpt_name)
{
    static char ckpt[4][1024];
    static int k = 0;
    twotower_opts_default(o);
    o->train.shards = shards;
    o->train.features = features;
    o->train.out = rp_test_path("unused.h5");
    k = (k + 1) % 4;
    snprintf(ckpt[k], sizeof ckpt[k], "%s", rp_test_path(ckpt_name));
    o->train.checkpoint = ckpt[k];
    o->train.epochs = 3;
    o->train.batch = 64;
    o->train.micro_batch = 16;
    o->dim = 8;
    o->hidden = "16";
    o->emb_dim = 8;
    o->train.early_stop = 0;
    /* the fixture's values are planted normalised values, not watch ratios: these tests are
     * of the clipped target at its former learning rate (log_target_calibrated: the log one) */
    o->target = "clipped";
    o->train.lr = 0.005;
}

/* Train on comm; out: model hash (dense + embeddings) and the last validation MAE. */
static int train(MPI_Comm comm, const tt_opts *o, char hex[65], double *mae)
{
    tt_data d;
    tt_train tr;
    memset(&tr, 0, sizeof tr);
    int level = rp_log_level();
    rp_log_set_level(RP_LOG_QUIET);
    int rc = twotower_read_inputs(comm, o, &d);
    if (rc == RP_OK) rc = twotower_train(comm, o, &d, &tr);
    if (rc == RP_OK) {
        rp_sha256 c;
        unsigned char dig[32];
        rp_sha256_init(&c);
        rp_sha256_update(&c, tr.m.dense, (size_t)tr.m.n_dense * sizeof(float));
        rp_sha256_update(&c, tr.m.emb, (size_t)tr.m.n_rows * tr.m.E * sizeof(float));
        rp_sha256_update(&c, tr.loop.hist.valid_mae, (size_t)tr.loop.hist.n * sizeof(double));
        rp_sha256_final(&c, dig);
        for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", dig[i]);
        *mae = tr.loop.hist.valid_mae[tr.loop.hist.n - 1];
    }
    twotower_train_clear(&tr);
    twotower_data_clear(&d);
    rp_log_set_level(level);
    return rc;
}

/* Every rank must hold the same bits: compare with rank 0's hash. */
static int same_everywhere(MPI_Comm comm, const char *hex)
{
    char root[65];
    memcpy(root, hex, 65);
    MPI_Bcast(root, 65, MPI_CHAR, 0, comm);
    int same = strcmp(root, hex) == 0;
    MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_MIN, comm);
    return same;
}

/* The same bits on every rank and for any rank count; prior = 1: with --row-l2 on every
 * embedding table, which must change the model (the prior's weights are the same on all ranks). */
static void rank_count_free(int prior, char hw[65])
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    CU_ASSERT_EQUAL_FATAL(fixture(), RP_OK);
    tt_opts o;
    char hs[65] = "", name[64];
    double mw = 0, ms = 0;
    opts(&o, "rep_world.ckpt");
    o.row_l2 = prior ? 2.0 : o.row_l2;
    o.row_l2_features = prior;
    CU_ASSERT_EQUAL(train(MPI_COMM_WORLD, &o, hw, &mw), RP_OK);
    CU_ASSERT(same_everywhere(MPI_COMM_WORLD, hw));
    /* The same run on a single rank (each rank alone) must give the same bits. */
    snprintf(name, sizeof name, "rep_self%d.ckpt", rank);
    opts(&o, name);
    o.row_l2 = prior ? 2.0 : o.row_l2;
    o.row_l2_features = prior;
    CU_ASSERT_EQUAL(train(MPI_COMM_SELF, &o, hs, &ms), RP_OK);
    CU_ASSERT_STRING_EQUAL(hs, hw);
    CU_ASSERT(ms == mw);
}

/* ... and the same bits whether the epoch's permutation carries the pairs' classes
 * (the default while indices and classes fit in 32 bits) or the step reads them from the users
 * (RP_TT_CLASS_TAGS=0, the path of larger data), and whether a micro-batch gathers its pairs
 * from one packed word each (the default while the ids fit in 32 bits) or from the split's
 * three arrays (RP_TT_PACKED_PAIRS=0). */
static void replicas_identical_and_rank_count_free(void)
{
    char h0[65] = "", h1[65] = "", hu[65] = "", hp[65] = "";
    rank_count_free(0, h0);
    rank_count_free(1, h1);
    CU_ASSERT_STRING_NOT_EQUAL(h0, h1);
    setenv("RP_TT_CLASS_TAGS", "0", 1);
    rank_count_free(0, hu);
    unsetenv("RP_TT_CLASS_TAGS");
    CU_ASSERT_STRING_EQUAL(hu, h0);
    setenv("RP_TT_PACKED_PAIRS", "0", 1);
    rank_count_free(0, hp);
    unsetenv("RP_TT_PACKED_PAIRS");
    CU_ASSERT_STRING_EQUAL(hp, h0);
}

/* Rank p's gradient of step t in the sparse test: distinct random rows of [0, nrows), some
 * columns zero (bias-like rows carry one value), values from 1e-9 to 0.5 so that records
 * travel both as int32 pairs and as int64. */
static void sparse_grad(int p, int t, int nrows, int E, tt_grad *g, int32_t *used)
{
    rp_rng r;
    rp_rng_init(&r, 99, (uint64_t)p, (uint64_t)t << 32);
    memset(used, 0, (size_t)nrows * sizeof *used);
    g->nrows = 0;
    for (int k = 0; k < g->cap_rows; k++) {
        int32_t row = (int32_t)rp_rng_next_below(&r, (uint64_t)nrows);
        if (used[row]) continue;
        used[row] = 1;
        float *v = g->vals + g->nrows * E;
        int kind = (int)rp_rng_next_below(&r, 4);
        for (int q = 0; q < E; q++) {
            double mag = kind == 3 ? 0.5 : 1e-6;
            v[q] = (kind == 0 && q > 0) ? 0.0f : (float)((rp_rng_next_uniform(&r) - 0.5) * mag);
        }
        g->rows[g->nrows++] = row;
    }
}

/* The owner-partitioned reduction is exact: every row's sum over the ranks reaches its owner
 * bit for bit (narrow and wide records, masked columns), each touched row exactly once, and
 * after the owners' update every rank holds every updated row. Three steps reuse the buffers. */
static void sparse_reduce_and_share_exact(void)
{
    enum { E = 8, NROWS = 700, PER = 260 };
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    tt_sparse sp;
    tt_grad g = {.cap_rows = PER};
    int64_t *want = malloc((size_t)NROWS * E * sizeof *want);
    int32_t *used = malloc(NROWS * sizeof *used), *touched = malloc(NROWS * sizeof *touched);
    float *emb = calloc((size_t)NROWS * E, sizeof *emb);
    g.rows = malloc(PER * sizeof *g.rows);
    g.vals = malloc((size_t)PER * E * sizeof *g.vals);
    CU_ASSERT_FATAL(want && used && touched && emb && g.rows && g.vals);
    tt_sparse_shape sh = {.rank = rank, .size = size, .E = E, .n_rows = NROWS, .cap = PER,
                          .nclass = 1}; /* no users' id block */
    CU_ASSERT_EQUAL_FATAL(twotower_sparse_init(&sp, &sh), RP_OK);
    for (int t = 0; t < 3; t++) {
        memset(want, 0, (size_t)NROWS * E * sizeof *want);
        memset(touched, 0, NROWS * sizeof *touched);
        twotower_sparse_begin(&sp);
        for (int p = 0; p < size; p++) {
            sparse_grad(p, t, NROWS, E, &g, used);
            for (int64_t k = 0; k < g.nrows; k++) {
                touched[g.rows[k]] = 1;
                for (int q = 0; q < E; q++)
                    want[(size_t)g.rows[k] * E + q] += rp_fix_of(g.vals[k * E + q]);
            }
            if (p == rank) twotower_sparse_add(&sp, &g);
        }
        double bytes = 0;
        CU_ASSERT_EQUAL_FATAL(twotower_sparse_reduce(MPI_COMM_WORLD, &sp, &bytes), RP_OK);
        int exact = 1, nmine = 0, ascending = 1;
        for (int64_t k = 0; k < sp.nsel; k++) {
            int32_t row = sp.loc.rows[sp.sel[k]];
            ascending &= k == 0 || row > sp.loc.rows[sp.sel[k - 1]];
            const int64_t *sum = sp.loc.vals + (size_t)sp.sel[k] * E;
            exact &= touched[row] == 1 && twotower_sparse_owner(&sp, row) == rank;
            touched[row] = 2; /* seen once */
            for (int q = 0; q < E; q++) exact &= sum[q] == want[(size_t)row * E + q];
            float *w = emb + (size_t)row * E;
            for (int q = 0; q < E; q++) w[q] = (float)rp_fix_to(sum[q]);
            twotower_sparse_put(&sp, row, w);
        }
        for (int r = 0; r < NROWS; r++)
            nmine += touched[r] == 1 && twotower_sparse_owner(&sp, r) == rank;
        CU_ASSERT(exact);
        CU_ASSERT(ascending); /* the rows are dense in the table: updated in row order */
        CU_ASSERT_EQUAL(nmine, 0); /* no touched row of this rank was left out */
        CU_ASSERT(size == 1 || bytes > 0);
        CU_ASSERT_EQUAL_FATAL(twotower_sparse_share(MPI_COMM_WORLD, &sp, emb, &bytes), RP_OK);
        int whole = 1;
        for (int r = 0; r < NROWS; r++)
            for (int q = 0; q < E && touched[r]; q++)
                whole &= emb[(size_t)r * E + q] == (float)rp_fix_to(want[(size_t)r * E + q]);
        CU_ASSERT(whole);
    }
    twotower_sparse_clear(&sp);
    free(g.rows);
    free(g.vals);
    free(want);
    free(used);
    free(touched);
    free(emb);
}

static void resume_equals_uninterrupted(void)
{
    CU_ASSERT_EQUAL_FATAL(fixture(), RP_OK);
    tt_opts o;
    char h1[65] = "", h2[65] = "x";
    double m1 = 0, m2 = 0;
    opts(&o, "full.ckpt");
    o.row_l2 = 2.0; /* the prior's weights are recomputed on resume, not checkpointed */
    CU_ASSERT_EQUAL(train(MPI_COMM_WORLD, &o, h1, &m1), RP_OK);
    opts(&o, "cut.ckpt");
    o.row_l2 = 2.0;
    o.train.interrupt_after = 50; /* mid-epoch (38 steps per epoch) */
    CU_ASSERT_EQUAL(train(MPI_COMM_WORLD, &o, h2, &m2), RP_ERR_INTERRUPTED);
    o.train.interrupt_after = 0;
    o.train.resume = 1;
    CU_ASSERT_EQUAL(train(MPI_COMM_WORLD, &o, h2, &m2), RP_OK);
    CU_ASSERT_STRING_EQUAL(h1, h2);
    CU_ASSERT(m1 == m2);
    /* A checkpoint from other options is refused. */
    o.dim = 4;
    CU_ASSERT_EQUAL(train(MPI_COMM_WORLD, &o, h2, &m2), RP_ERR_USAGE);
}

/* Validation MAE of the bias-only model (train mean). */
static double baseline_mae(void)
{
    tt_opts o;
    tt_data d;
    opts(&o, "base.ckpt");
    double mae = NAN;
    if (twotower_read_inputs(MPI_COMM_WORLD, &o, &d) == RP_OK) {
        mae = 0.0;
        for (int64_t k = 0; k < d.valid.n; k++) mae += fabs(d.valid.value[k] - d.train_mean);
        mae /= (double)d.valid.n;
    }
    twotower_data_clear(&d);
    return mae;
}

static void planted_problem_is_learned(void)
{
    CU_ASSERT_EQUAL_FATAL(fixture(), RP_OK);
    double base = baseline_mae();
    static const char *heads[3] = {"dot", "sigmoid", "cosine"};
    for (int head = 0; head < 3; head++) {
        tt_opts o;
        char h[65], name[32];
        double mae = NAN;
        snprintf(name, sizeof name, "plant_%s.ckpt", heads[head]);
        opts(&o, name);
        o.train.epochs = 25;
        o.head = heads[head];
        if (head == 2) { /* the seed's shape: id embedding in the MLP, no bias terms */
            o.id_path = "mlp";
            o.bias = 0;
            o.select = "mae";
        }
        o.train.early_stop = 5;
        CU_ASSERT_EQUAL(train(MPI_COMM_WORLD, &o, h, &mae), RP_OK);
        /* noise is 0.02; the baseline is about 0.12 */
        CU_ASSERT(base > 0.08);
        CU_ASSERT(mae < 0.4 * base);
        if (!(mae < 0.4 * base))
            rp_log_warn("%s: valid MAE %g vs baseline %g", o.head, mae, base);
    }
}

/* Train, then finish (bias-model comparison); out: the trainer state (caller clears). */
static int train_finish(const tt_opts *o, tt_data *d, tt_train *tr)
{
    int level = rp_log_level();
    rp_log_set_level(RP_LOG_QUIET);
    memset(tr, 0, sizeof *tr);
    int rc = twotower_read_inputs(MPI_COMM_WORLD, o, d);
    if (rc == RP_OK) rc = twotower_train(MPI_COMM_WORLD, o, d, tr);
    if (rc == RP_OK) rc = twotower_finish(MPI_COMM_WORLD, o, d, tr);
    rp_log_set_level(level);
    return rc;
}

/* The written model is the epoch of minimum validation RMSE (not the last, not by MAE): its
 * evaluation reproduces that epoch's history entry exactly. A large constant learning rate
 * makes the curve bounce so the best epoch is usually not the last. */
static void best_epoch_by_valid_rmse(void)
{
    CU_ASSERT_EQUAL_FATAL(fixture(), RP_OK);
    tt_opts o;
    tt_data d;
    tt_train tr;
    opts(&o, "best.ckpt");
    o.train.epochs = 8;
    o.train.lr = 0.05;
    o.train.schedule = "constant";
    CU_ASSERT_EQUAL_FATAL(train_finish(&o, &d, &tr), RP_OK);
    int64_t arg = 0;
    for (int64_t k = 1; k < tr.loop.hist.n; k++)
        if (tr.loop.hist.valid_rmse[k] < tr.loop.hist.valid_rmse[arg]) arg = k;
    CU_ASSERT_EQUAL(tr.loop.hist.n, 8);
    CU_ASSERT_EQUAL(tr.loop.best_epoch, arg + 1);
    double rmse = NAN, mae = NAN;
    CU_ASSERT_EQUAL(twotower_evaluate(MPI_COMM_WORLD, &tr.m, &d.valid, &rmse, &mae), RP_OK);
    CU_ASSERT(rmse == tr.loop.hist.valid_rmse[arg]);
    CU_ASSERT(tr.fallback[0] == '\0');
    CU_ASSERT(tr.valid_rmse == rmse);
    CU_ASSERT(tr.valid_rmse < tr.bias_valid_rmse);
    if (arg == tr.loop.hist.n - 1)
        rp_log_warn("best epoch is the last one: selection not exercised");
    twotower_train_clear(&tr);
    twotower_data_clear(&d);
}

/* A model that cannot learn (tiny learning rate, no bias terms) loses to the bias model: the
 * output falls back to the bias model's terms, with the bias model's validation RMSE. */
static void loser_falls_back_to_bias(void)
{
    CU_ASSERT_EQUAL_FATAL(fixture(), RP_OK);
    tt_opts o;
    tt_data d;
    tt_train tr;
    opts(&o, "lose.ckpt");
    o.train.epochs = 1;
    o.train.lr = 1e-7;
    o.bias = 0;
    o.head = "cosine";
    CU_ASSERT_EQUAL_FATAL(train_finish(&o, &d, &tr), RP_OK);
    CU_ASSERT(tr.fallback[0] != '\0');
    CU_ASSERT(tr.loop.hist.valid_rmse[0] > tr.bias_valid_rmse);
    CU_ASSERT(tr.valid_rmse == tr.bias_valid_rmse);
    float *su = NULL, *si = NULL;
    tt_dot dot;
    CU_ASSERT_EQUAL_FATAL(twotower_output_dot(&tr, &d, &su, &si, &dot), RP_OK);
    double rmse = NAN, mae = NAN;
    CU_ASSERT_EQUAL(dot.S, o.dim + 2);
    CU_ASSERT_EQUAL(twotower_eval_scores(MPI_COMM_WORLD, &dot, &d.valid, &rmse, &mae), RP_OK);
    CU_ASSERT(rmse == tr.bias_valid_rmse);
    free(su);
    free(si);
    twotower_train_clear(&tr);
    twotower_data_clear(&d);
}

/* --target log: the same bits on every rank and for any rank count; the written dot form
 * scores exactly the validation RMSE the run reports, beats the bias model, keeps the bias
 * model's terms in its bias columns, and its gain is the least-squares one (the interaction
 * columns' best multiplier on /valid is 1). */
static void log_opts(tt_opts *o, const char *name)
{
    opts(o, name);
    o->target = "log";
    o->log_min = 0.9; /* values v are watch ratio / 3 (median 0.58): keep v >= 0.3 */
    o->train.lr = 0.02;
}

static void log_target_calibrated(void)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    CU_ASSERT_EQUAL_FATAL(fixture(), RP_OK);
    tt_opts o;
    tt_data d;
    tt_train tr;
    char hw[65] = "", hs[65] = "", name[64];
    double mw = 0, ms = 0;
    log_opts(&o, "log_world.ckpt");
    CU_ASSERT_EQUAL(train(MPI_COMM_WORLD, &o, hw, &mw), RP_OK);
    snprintf(name, sizeof name, "log_self%d.ckpt", rank);
    log_opts(&o, name);
    CU_ASSERT_EQUAL(train(MPI_COMM_SELF, &o, hs, &ms), RP_OK);
    CU_ASSERT_STRING_EQUAL(hs, hw);
    CU_ASSERT(ms == mw);
    log_opts(&o, "log_fin.ckpt");
    CU_ASSERT_EQUAL_FATAL(train_finish(&o, &d, &tr), RP_OK);
    CU_ASSERT(d.log_target && d.train.n > 0 && d.train.n < d.train_all);
    CU_ASSERT(tr.gamma > 0.0 && tr.fallback[0] == '\0');
    CU_ASSERT(tr.valid_rmse < tr.bias_valid_rmse);
    float *su = NULL, *si = NULL;
    tt_dot dot;
    CU_ASSERT_EQUAL_FATAL(twotower_output_dot(&tr, &d, &su, &si, &dot), RP_OK);
    double rmse = NAN, mae = NAN, gr = 0.0, gg = 0.0;
    CU_ASSERT_EQUAL(twotower_eval_scores(MPI_COMM_WORLD, &dot, &d.valid, &rmse, &mae), RP_OK);
    CU_ASSERT(rmse == tr.valid_rmse);
    int D = o.dim, S = dot.S, cols = S == D + 2 && dot.shift == d.cmu;
    for (int64_t u = 0; u < d.n_users; u++)
        cols &= su[u * S + D] == (float)d.cu[u] && su[u * S + D + 1] == 1.0f;
    for (int64_t i = 0; i < d.n_items; i++)
        cols &= si[i * S + D] == 1.0f && si[i * S + D + 1] == (float)d.ci[i];
    CU_ASSERT(cols);
    for (int64_t k = 0; k < d.valid.n; k++) {
        const float *a = su + (int64_t)d.valid.user[k] * S, *b = si + (int64_t)d.valid.item[k] * S;
        double g = 0.0;
        for (int q = 0; q < D; q++) g += (double)a[q] * b[q];
        double r = d.valid.value[k] - dot.shift - (double)a[D] * b[D] - (double)a[D + 1] * b[D + 1];
        gr += g * r;
        gg += g * g;
    }
    CU_ASSERT(gg > 0.0 && fabs(gr / gg - 1.0) < 1e-4);
    free(su);
    free(si);
    twotower_train_clear(&tr);
    twotower_data_clear(&d);
}

int test_twotower_mpi_register(void)
{
    RP_ADD_SUITE("twotower_mpi", RP_T(replicas_identical_and_rank_count_free),
                 RP_T(sparse_reduce_and_share_exact),
                 RP_T(resume_equals_uninterrupted), RP_T(planted_problem_is_learned),
                 RP_T(best_epoch_by_valid_rmse), RP_T(loser_falls_back_to_bias),
                 RP_T(log_target_calibrated));
    return 0;
}
