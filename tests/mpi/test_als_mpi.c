/* test_als_mpi.c - rp-als under 1..4 ranks: factors bit-identical to a one-rank run for both
 * exchange modes and precisions, with given K and lambda and with the grid search; a resumed
 * run (given or grid) bit-identical to an uninterrupted one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"
#include "als_fixture.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_test.h"

int test_als_mpi_register(void);

static const char *const compared[] = {"/user_factors", "/item_factors", "/user_bias",
                                       "/item_bias",    "/score/user",   "/score/item",
                                       "/history/train_rmse", "/history/valid_rmse",
                                       "/history/valid_mae", "/grid/valid_rmse",
                                       "/grid/lambda"};

/* train_to - load, train and write out with the given options on comm. Collective on comm. */
static int train_to(MPI_Comm comm, als_opts *opt)
{
    als_state st = {0};
    rp_stage stg;
    memset(&stg, 0, sizeof stg);
    stg.prog = "test-als";
    stg.comm = comm;
    MPI_Comm_rank(comm, &stg.rank);
    MPI_Comm_size(comm, &stg.size);
    int64_t iters = 0, level = rp_log_level();
    rp_log_set_level(RP_LOG_QUIET); /* no progress lines in the test log */
    int rc = als_load(comm, opt, &st);
    if (rc == RP_OK) rc = als_train(&stg, &st, opt, &iters);
    if (rc == RP_OK) rc = als_write_output(&stg, &st, opt, iters);
    als_state_clear(&st);
    rp_log_set_level((int)level);
    return rc;
}

/* Number of compared datasets whose bytes differ between two files (rank 0, own handle). */
static int count_differences(const char *a, const char *b, int fp32)
{
    int diff = 0;
    hid_t fa = H5I_INVALID_HID, fb = H5I_INVALID_HID;
    if (rp_h5_open(MPI_COMM_SELF, a, &fa) != RP_OK || rp_h5_open(MPI_COMM_SELF, b, &fb) != RP_OK)
        return 99;
    for (size_t d = 0; d < sizeof compared / sizeof compared[0]; d++) {
        void *x = NULL, *y = NULL;
        int nd = 0;
        int64_t da[2] = {0, 0}, db[2] = {0, 0};
        int stats = strncmp(compared[d], "/history", 8) == 0 || strncmp(compared[d], "/grid", 5) == 0;
        rp_dtype t = stats || !fp32 ? RP_F64 : RP_F32;
        if (rp_h5_read_all(fa, compared[d], t, &x, &nd, da) != RP_OK ||
            rp_h5_read_all(fb, compared[d], t, &y, &nd, db) != RP_OK || da[0] != db[0] ||
            da[1] != db[1] || memcmp(x, y, (size_t)(da[0] * da[1]) * rp_dtype_size(t)) != 0)
            diff++;
        free(x);
        free(y);
    }
    rp_h5_close(&fa);
    rp_h5_close(&fb);
    return diff;
}

static als_opts base_opts(const char *shards, const char *out)
{
    return (als_opts){.shards = shards, .out = out, .checkpoint = NULL, .precision = "fp64",
                      .exchange = "auto", .k = 6, .lambda = 0.05, .penalty = "wr", .iters = 4,
                      .seed = 9, .ckpt_every = 0};
}

/* A sparse fixture so the routed exchange really sends only some rows. */
static const char *sparse_fixture(void)
{
    static char path[1200]; /* rp_test_path's buffers rotate */
    snprintf(path, sizeof path, "%s", rp_test_path("als_np.h5"));
    als_fixture fx = als_fixture_default(130, 95);
    fx.density = 0.06;
    int rc = als_fixture_write(MPI_COMM_WORLD, path, &fx);
    CU_ASSERT_EQUAL(rc, RP_OK);
    return path;
}

/* grid mode: K and lambda searched (a small grid over the same fixture), with the constant
 * penalty (the given point above uses the weighted one: both are covered) */
static void use_grid(als_opts *opt)
{
    opt->k = 0;
    opt->lambda = 0.0;
    opt->penalty = "const";
    opt->grid_k = "3,6";
    opt->grid_lambda = "0.2,1,5";
    opt->lambda_bias = 1.0;
    opt->early_stop = 1;
}

static void identical_for_any_np(void)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char *shards = sparse_fixture();
    static const char *const modes[] = {"alltoallv", "allgather"};
    for (int v = 0; v < 10; v++) { /* 8, 9: the grid search, fp64 then fp32 */
        int m = v % 2, fp32 = (v / 2) % 2, syrk = v / 4 == 1;
        als_gram_enable(!syrk); /* the AVX-512 kernel (where present), then gather + SYRK */
        {
            char p_np[1200], p_one[1200];
            snprintf(p_np, sizeof p_np, "%s", rp_test_path("als_np_out.h5"));
            snprintf(p_one, sizeof p_one, "%s", rp_test_path("als_one_out.h5"));
            als_opts opt = base_opts(shards, p_np);
            if (v >= 8) use_grid(&opt);
            opt.exchange = modes[m];
            opt.precision = fp32 ? "fp32" : "fp64";
            CU_ASSERT_EQUAL(train_to(MPI_COMM_WORLD, &opt), RP_OK);
            int diff = 0;
            if (rank == 0) {
                als_opts one = opt;
                one.out = p_one;
                one.exchange = "allgather";
                CU_ASSERT_EQUAL(train_to(MPI_COMM_SELF, &one), RP_OK);
                diff = count_differences(p_np, p_one, fp32);
            }
            MPI_Bcast(&diff, 1, MPI_INT, 0, MPI_COMM_WORLD);
            CU_ASSERT_EQUAL(diff, 0);
            if (diff && rank == 0)
                fprintf(stderr, "als np mismatch: exchange=%s fp32=%d syrk=%d grid=%d: %d differ\n",
                        modes[m], fp32, syrk, v >= 8, diff);
        }
    }
    als_gram_enable(1);
}

/* Train with checkpoints; resume from the last checkpoint: the outputs must match bit for
 * bit. Given K and lambda (5 iterations, checkpoints after 2 and 4), then the grid search
 * (checkpoints every iteration: the last one is inside the last point, with the grid so far
 * and the best point's factors to restore). */
static void resume_identical(void)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char *shards = sparse_fixture();
    for (int grid = 0; grid < 2; grid++) {
        char full[1200], resumed[1200], ckpt[1200];
        snprintf(full, sizeof full, "%s", rp_test_path("als_full.h5"));
        snprintf(resumed, sizeof resumed, "%s", rp_test_path("als_resumed.h5"));
        snprintf(ckpt, sizeof ckpt, "%s", rp_test_path("als.ckpt"));
        als_opts opt = base_opts(shards, full);
        opt.iters = 5;
        opt.ckpt_every = 2;
        if (grid) {
            use_grid(&opt);
            opt.ckpt_every = 1;
        }
        opt.checkpoint = ckpt;
        CU_ASSERT_EQUAL(train_to(MPI_COMM_WORLD, &opt), RP_OK);
        opt.out = resumed;
        opt.resume = 1;
        opt.ckpt_every = 0;
        CU_ASSERT_EQUAL(train_to(MPI_COMM_WORLD, &opt), RP_OK);
        int diff = rank == 0 ? count_differences(full, resumed, 0) : 0;
        MPI_Bcast(&diff, 1, MPI_INT, 0, MPI_COMM_WORLD);
        CU_ASSERT_EQUAL(diff, 0);
        /* a checkpoint of other parameters is refused */
        opt.k = 7;
        CU_ASSERT_EQUAL(train_to(MPI_COMM_WORLD, &opt), RP_ERR_DATA);
    }
}

int test_als_mpi_register(void)
{
    RP_ADD_SUITE("als_mpi", RP_T(identical_for_any_np), RP_T(resume_identical));
    return 0;
}
