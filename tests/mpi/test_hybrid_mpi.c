/* test_hybrid_mpi.c - rp-hybrid end to end on planted inputs under 1..4 ranks: hybrid.h5 has
 * the same datasets as a single-process run, every variant loads through rp_model_load and
 * scores the validation split exactly as recorded, bad inputs fail with the documented code and
 * leave no output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hybrid.h"
#include "hybrid_fixture.h"
#include "rp_h5.h"
#include "rp_model_hybrid.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_test.h"

int test_hybrid_mpi_register(void);

#define NU 60
#define NI 80

static void fixtures(void)
{
    static int done = 0;
    if (done) return;
    MPI_Comm comm = MPI_COMM_WORLD;
    CU_ASSERT_EQUAL(hyb_fixture_shards(comm, rp_test_path("hy_shards.h5"), NU, NI, 0.4, 3), RP_OK);
    CU_ASSERT_EQUAL(hyb_fixture_model(comm, rp_test_path("hy_als.h5"), RP_SCHEMA_ALS, NU, NI, 2,
                                      0.3, 3), RP_OK);
    CU_ASSERT_EQUAL(hyb_fixture_model(comm, rp_test_path("hy_tt.h5"), RP_SCHEMA_TWOTOWER, NU, NI,
                                      3, 0.7, 3), RP_OK);
    CU_ASSERT_EQUAL(hyb_fixture_model(comm, rp_test_path("hy_wrong.h5"), RP_SCHEMA_ALS, NU + 1,
                                      NI, 2, 0.3, 3), RP_OK);
    CU_ASSERT_EQUAL(hyb_fixture_model(comm, rp_test_path("hy_seq.h5"), "recpipe.seqrec", NU, NI,
                                      1, 0.5, 5), RP_OK);
    done = 1;
}

/* rp-hybrid's main steps on comm with the given --als / --shards and --out, and --seqrec when
 * seqrec is not NULL. */
static int run_hybrid_seq(MPI_Comm comm, const char *shards, const char *als, const char *seqrec,
                          const char *out)
{
    rp_stage stg;
    memset(&stg, 0, sizeof stg);
    stg.prog = "rp-hybrid";
    stg.comm = comm;
    MPI_Comm_rank(comm, &stg.rank);
    MPI_Comm_size(comm, &stg.size);
    char *argv[] = {"rp-hybrid", "--shards", (char *)shards, "--als", (char *)als, "--twotower",
                    (char *)rp_test_path("hy_tt.h5"), "--out", (char *)out, "--epochs", "4",
                    "--hidden", "8", "--batch", "100", "--lr", "0.01", "--seqrec",
                    (char *)seqrec};
    hyb_opts o;
    hyb_state st = {0};
    int rc = hyb_parse(seqrec ? 19 : 17, argv, &o);
    if (rc == RP_OK) rc = hyb_open_inputs(comm, &o, &st);
    if (rc == RP_OK) rc = hyb_fuse(comm, &o, &st);
    if (rc == RP_OK) rc = hyb_write(&stg, &o, &st);
    hyb_state_clear(&st);
    return rc;
}

static int run_hybrid(MPI_Comm comm, const char *shards, const char *als, const char *out)
{
    return run_hybrid_seq(comm, shards, als, NULL, out);
}

static int same_dataset(hid_t a, hid_t b, const char *name)
{
    void *x = NULL, *y = NULL;
    int nd = 0, same = 0;
    int64_t dx[2] = {0, 0}, dy[2] = {0, 0};
    if (rp_h5_read_all(a, name, RP_F64, &x, &nd, dx) == RP_OK &&
        rp_h5_read_all(b, name, RP_F64, &y, &nd, dy) == RP_OK)
        same = dx[0] == dy[0] && dx[1] == dy[1] &&
               memcmp(x, y, (size_t)(dx[0] * dx[1]) * sizeof(double)) == 0;
    free(x);
    free(y);
    return same;
}

/* The validation pairs of shards as rp-hybrid holds them (this rank's block) and replicated. */
static void read_valid_pairs(MPI_Comm comm, const char *shards, hyb_pairs *mine, hyb_pairs *all)
{
    hid_t s = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, shards, &s), RP_OK);
    CU_ASSERT_EQUAL(hyb_read_pairs(comm, s, shards, RP_SPLIT_VALID, 0, NU, NI, mine), RP_OK);
    CU_ASSERT_EQUAL(hyb_read_pairs(comm, s, shards, RP_SPLIT_VALID, 1, NU, NI, all), RP_OK);
    rp_h5_close(&s);
}

static void hybrid_np_independent_and_loadable(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    fixtures();
    const char *shards = rp_test_path("hy_shards.h5"), *out = rp_test_path("hy_np.h5");
    const char *one = rp_test_path("hy_one.h5");
    CU_ASSERT_EQUAL_FATAL(run_hybrid(comm, shards, rp_test_path("hy_als.h5"), out), RP_OK);
    int rc1 = RP_OK;
    if (rank == 0) rc1 = run_hybrid(MPI_COMM_SELF, shards, rp_test_path("hy_als.h5"), one);
    MPI_Bcast(&rc1, 1, MPI_INT, 0, comm);
    CU_ASSERT_EQUAL_FATAL(rc1, RP_OK);
    hid_t a = H5I_INVALID_HID, b = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, out, &a), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, one, &b), RP_OK);
    const char *names[] = {RP_HYB_CONCAT_PARAMS, RP_HYB_BLEND_WEIGHTS, RP_HYB_CONCAT_USER_MEAN,
                           "/components/bias/score/user", "/components/als/score/item",
                           "/concat/history/valid_rmse"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        CU_ASSERT(same_dataset(a, b, names[k]));
    double vb = 0, vc = 0, in[3] = {0, 0, 0};
    char deflt[16] = "";
    rp_h5_attr_read(a, "/", "valid_rmse_blend", RP_F64, 1, &vb);
    rp_h5_attr_read(a, "/", "valid_rmse_concat", RP_F64, 1, &vc);
    rp_h5_attr_read(a, RP_HYB_BLEND, "input_valid_rmse", RP_F64, 3, in);
    rp_h5_attr_read_str(a, "/", "default", deflt, sizeof deflt);
    CU_ASSERT(vb <= in[0] && vb <= in[1] && vb <= in[2]);
    CU_ASSERT(vb < in[1]); /* the planted two-tower is much noisier than the blend */
    double hb = 0, hc = 0; /* the default: the lower RMSE on fold 0, where neither was fitted */
    rp_h5_attr_read(a, RP_HYB_BLEND, "fold0_rmse", RP_F64, 1, &hb);
    rp_h5_attr_read(a, RP_HYB_CONCAT, "heldout_rmse", RP_F64, 1, &hc);
    int64_t be = -1;
    char cfb[32] = "x";
    rp_h5_attr_read(a, RP_HYB_CONCAT, "best_epoch", RP_I64, 1, &be);
    rp_h5_attr_read_str(a, RP_HYB_CONCAT, "fallback", cfb, sizeof cfb);
    CU_ASSERT(hb > 0 && hc > 0 && be >= 0);
    CU_ASSERT_STRING_EQUAL(deflt, hc < hb && be > 0 && cfb[0] == '\0' ? "concat" : "blend");
    /* The contract: the root holds the default variant's numbers; the planted inputs win. */
    double root_v = -1, bias_v = -1, var_v = -2;
    int32_t beats = 0;
    char fb[32] = "x", grp[16];
    snprintf(grp, sizeof grp, "/%s", deflt);
    rp_h5_attr_read(a, "/", "valid_rmse", RP_F64, 1, &root_v);
    rp_h5_attr_read(a, grp, "valid_rmse", RP_F64, 1, &var_v);
    rp_h5_attr_read(a, "/", "bias_valid_rmse", RP_F64, 1, &bias_v);
    rp_h5_attr_read(a, "/", "beats_bias", RP_I32, 1, &beats);
    rp_h5_attr_read_str(a, "/", "fallback", fb, sizeof fb);
    CU_ASSERT(root_v == var_v && fabs(bias_v - in[2]) < 1e-15);
    CU_ASSERT(beats == 1 && root_v < bias_v);
    CU_ASSERT_STRING_EQUAL(fb, "");
    int64_t tr = -1, ho = -1;
    rp_h5_attr_read(a, RP_HYB_CONCAT, "train_rows", RP_I64, 1, &tr);
    rp_h5_attr_read(a, RP_HYB_CONCAT, "heldout_rows", RP_I64, 1, &ho);
    rp_h5_close(&a);
    rp_h5_close(&b);
    hyb_pairs valid = {0}, all = {0};
    read_valid_pairs(comm, shards, &valid, &all);
    /* The concat's rows are exactly the validation pairs: fold 0 (seed 42, 5 folds) held out. */
    int64_t n0 = 0;
    for (int64_t x = 0; x < all.n; x++) n0 += hyb_fold_of(all.u[x], 42, 5) == 0;
    CU_ASSERT(ho == n0 && tr == all.n - n0 && n0 > 0);
    hyb_pairs_clear(&all);
    /* Each variant, loaded by name, scores validation exactly as rp-hybrid recorded. */
    char path[1400];
    const char *vars[3] = {"", "#blend", "#concat"}, *want[3] = {"hybrid", "hybrid-blend",
                                                                 "hybrid-concat"};
    double rec[3] = {strcmp(deflt, "concat") == 0 ? vc : vb, vb, vc};
    for (int v = 0; v < 3; v++) {
        rp_model *m = NULL;
        double r = -1;
        snprintf(path, sizeof path, "%s%s", out, vars[v]);
        CU_ASSERT_EQUAL_FATAL(rp_model_load(comm, path, NU, NI, &m), RP_OK);
        CU_ASSERT_STRING_EQUAL(m->name, want[v]);
        CU_ASSERT_EQUAL(hyb_rmse(comm, m, &valid, &r), RP_OK);
        CU_ASSERT(fabs(r - rec[v]) < 1e-12);
        rp_model_destroy(&m);
    }
    rp_model *m = NULL;
    snprintf(path, sizeof path, "%s#mlp", out);
    CU_ASSERT_EQUAL(rp_model_load(comm, path, NU, NI, &m), RP_ERR_DATA);
    snprintf(path, sizeof path, "%s#blend", rp_test_path("hy_als.h5"));
    CU_ASSERT_EQUAL(rp_model_load(comm, path, NU, NI, &m), RP_ERR_DATA);
    hyb_pairs_clear(&valid);
    hyb_pairs_clear(&all);
}

static void no_output(const char *out)
{
    char partial[1400];
    snprintf(partial, sizeof partial, "%s.partial", out);
    CU_ASSERT(access(out, F_OK) != 0);
    CU_ASSERT(access(partial, F_OK) != 0);
}

static void hybrid_bad_inputs(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    fixtures();
    const char *shards = rp_test_path("hy_shards.h5"), *out = rp_test_path("hy_bad.h5");
    CU_ASSERT_EQUAL(run_hybrid(comm, shards, rp_test_path("hy_missing.h5"), out), RP_ERR_NOINPUT);
    no_output(out);
    CU_ASSERT_EQUAL(run_hybrid(comm, shards, rp_test_path("hy_wrong.h5"), out), RP_ERR_DATA);
    no_output(out);
    CU_ASSERT_EQUAL(run_hybrid(comm, rp_test_path("hy_als.h5"), rp_test_path("hy_als.h5"), out),
                    RP_ERR_DATA);
    no_output(out);
}

/* Offsets that end past the item array are bad data (65), not an HDF5 read failure (74). */
static void hybrid_offsets_past_end(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    fixtures();
    const char *shards = rp_test_path("hy_badoff.h5"), *out = rp_test_path("hy_bo.h5");
    CU_ASSERT_EQUAL(hyb_fixture_shards(comm, shards, NU, NI, 0.4, 3), RP_OK);
    CU_ASSERT(hyb_fixture_poke_last(comm, shards, RP_SPLIT_VALID "/" RP_DS_BY_USER_OFFSETS,
                                    1 << 20));
    CU_ASSERT_EQUAL(run_hybrid(comm, shards, rp_test_path("hy_als.h5"), out), RP_ERR_DATA);
    no_output(out);
}

/* A third learned component (--seqrec): four blend weights, the concat's inputs name it, both
 * variants load back and score validation as recorded, and the blend is no worse than with two. */
static void hybrid_with_seqrec(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    fixtures();
    const char *shards = rp_test_path("hy_shards.h5"), *out = rp_test_path("hy_seqout.h5");
    CU_ASSERT_EQUAL_FATAL(run_hybrid_seq(comm, shards, rp_test_path("hy_als.h5"),
                                         rp_test_path("hy_seq.h5"), out), RP_OK);
    hid_t a = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, out, &a), RP_OK);
    char **names = NULL;
    int64_t nn = 0;
    double vb = 0, vc = 0, in[4] = {0, 0, 0, 0};
    CU_ASSERT_EQUAL(rp_h5_attr_read_strs(a, RP_HYB_CONCAT, "components", &names, &nn), RP_OK);
    CU_ASSERT(nn == 4 && strcmp(names[2], "seqrec") == 0 && strcmp(names[3], "bias") == 0);
    rp_h5_strs_free(names, nn);
    rp_h5_attr_read(a, "/", "valid_rmse_blend", RP_F64, 1, &vb);
    rp_h5_attr_read(a, "/", "valid_rmse_concat", RP_F64, 1, &vc);
    rp_h5_attr_read(a, RP_HYB_BLEND, "input_valid_rmse", RP_F64, 4, in);
    rp_h5_close(&a);
    CU_ASSERT(vb <= in[0] && vb <= in[1] && vb <= in[2] && vb <= in[3]);
    hyb_pairs valid = {0};
    hid_t s = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, shards, &s), RP_OK);
    CU_ASSERT_EQUAL(hyb_read_pairs(comm, s, shards, RP_SPLIT_VALID, 0, NU, NI, &valid), RP_OK);
    rp_h5_close(&s);
    char path[1400];
    const char *vars[2] = {"#blend", "#concat"};
    double rec[2] = {vb, vc};
    for (int v = 0; v < 2; v++) {
        rp_model *m = NULL;
        double r = -1;
        snprintf(path, sizeof path, "%s%s", out, vars[v]);
        CU_ASSERT_EQUAL_FATAL(rp_model_load(comm, path, NU, NI, &m), RP_OK);
        CU_ASSERT_EQUAL(hyb_rmse(comm, m, &valid, &r), RP_OK);
        CU_ASSERT(fabs(r - rec[v]) < 1e-12);
        rp_model_destroy(&m);
    }
    hyb_pairs_clear(&valid);
}

/* rp-hybrid keeps only its block of validation pairs: the blocks, in rank order, are exactly
 * the replicated pairs (file order), and with several ranks no rank holds them all. */
static void hybrid_pairs_partitioned(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    fixtures();
    const char *shards = rp_test_path("hy_shards.h5");
    hyb_pairs mine = {0}, all = {0};
    read_valid_pairs(comm, shards, &mine, &all);
    int64_t base = 0, total = mine.n;
    CU_ASSERT_EQUAL(rp_mpi_exscan_i64(comm, mine.n, &base), RP_OK);
    CU_ASSERT_EQUAL(rp_mpi_sum_i64(comm, &total, 1), RP_OK);
    CU_ASSERT_EQUAL(total, all.n);
    if (size > 1) CU_ASSERT(mine.n < all.n);
    int same = base + mine.n <= all.n;
    for (int64_t x = 0; same && x < mine.n; x++)
        same = mine.u[x] == all.u[base + x] && mine.i[x] == all.i[base + x] &&
               mine.y[x] == all.y[base + x];
    CU_ASSERT(same);
    hyb_pairs_clear(&mine);
    hyb_pairs_clear(&all);
}

int test_hybrid_mpi_register(void)
{
    RP_ADD_SUITE("hybrid_mpi", RP_T(hybrid_np_independent_and_loadable), RP_T(hybrid_bad_inputs),
                 RP_T(hybrid_offsets_past_end), RP_T(hybrid_with_seqrec),
                 RP_T(hybrid_pairs_partitioned));
    return 0;
}
