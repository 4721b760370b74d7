/* test_recommend_mpi.c - rp-recommend under 1..4 ranks on planted inputs: recs.h5 and the CSV
 * are bitwise those of a single-process run, every row equals a brute-force sort of the model's
 * scores without the user's train videos, --users picks rows, bad inputs leave no output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hybrid_fixture.h"
#include "recommend.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_test.h"

int test_recommend_mpi_register(void);

#define NU 300 /* two user blocks of RP_MODEL_USER_BLOCK: some ranks get none */
#define NI 90
#define K 12

static void fixtures(void)
{
    static int done = 0;
    if (done) return;
    MPI_Comm comm = MPI_COMM_WORLD;
    CU_ASSERT_EQUAL(hyb_fixture_shards(comm, rp_test_path("rc_shards.h5"), NU, NI, 0.4, 5), RP_OK);
    CU_ASSERT_EQUAL(hyb_fixture_model(comm, rp_test_path("rc_als.h5"), RP_SCHEMA_ALS, NU, NI, 2,
                                      0.3, 5), RP_OK);
    done = 1;
}

static int run_rec(MPI_Comm comm, int argc, char **argv)
{
    rp_stage stg;
    memset(&stg, 0, sizeof stg);
    stg.prog = "rp-recommend";
    stg.comm = comm;
    MPI_Comm_rank(comm, &stg.rank);
    MPI_Comm_size(comm, &stg.size);
    rec_opts o;
    int64_t n = 0;
    double pairs = 0;
    int rc = rec_parse(argc, argv, &o);
    if (rc == RP_OK) rc = rec_run(&stg, &o, &n, &pairs);
    return rc;
}

typedef struct recs {
    int64_t n, k, *user_raw, *items;
    float *scores;
} recs;

static int read_recs(const char *path, recs *r)
{
    hid_t f = H5I_INVALID_HID;
    int nd = 0, rc = rp_h5_open(MPI_COMM_WORLD, path, &f);
    int64_t d[2];
    memset(r, 0, sizeof *r);
    if (rc == RP_OK) rc = rp_h5_read_all(f, "/user_raw", RP_I64, (void **)&r->user_raw, &nd, d);
    r->n = d[0];
    if (rc == RP_OK) rc = rp_h5_read_all(f, "/items", RP_I64, (void **)&r->items, &nd, d);
    r->k = d[1];
    if (rc == RP_OK) rc = rp_h5_read_all(f, "/scores", RP_F32, (void **)&r->scores, &nd, d);
    rp_h5_close(&f);
    return rc;
}

static void recs_clear(recs *r)
{
    free(r->user_raw);
    free(r->items);
    free(r->scores);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *b = malloc(1 << 20);
    *len = fread(b, 1, (1 << 20) - 1, f);
    fclose(f);
    return b;
}

static const float *g_scores;
static int by_rank(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_scores[x] != g_scores[y]) return g_scores[x] > g_scores[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* Every row against a sort of the model's block scores without the train videos. */
static int brute_force_mismatches(const recs *r, int exclude)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    rp_model *m = NULL;
    hid_t f = H5I_INVALID_HID;
    int64_t *off = NULL, d[2];
    int32_t *items = NULL, order[NI];
    int nd = 0, bad = 0, in_train = 0;
    float *buf = malloc((size_t)RP_MODEL_USER_BLOCK * NI * sizeof *buf);
    if (rp_model_load(comm, rp_test_path("rc_als.h5"), NU, NI, &m) != RP_OK) return -1;
    rp_h5_open(comm, rp_test_path("rc_shards.h5"), &f);
    rp_h5_read_all(f, "/train/by_user/offsets", RP_I64, (void **)&off, &nd, d);
    rp_h5_read_all(f, "/train/by_user/item", RP_I32, (void **)&items, &nd, d);
    rp_h5_close(&f);
    for (int64_t row = 0; row < r->n; row++) {
        int64_t u = (r->user_raw[row] - 3) / 10, b0 = u / RP_MODEL_USER_BLOCK * RP_MODEL_USER_BLOCK;
        int64_t nb = NU - b0 < RP_MODEL_USER_BLOCK ? NU - b0 : RP_MODEL_USER_BLOCK;
        rp_model_score_block(m, b0, nb, buf);
        g_scores = buf + (u - b0) * NI;
        int n = 0;
        for (int32_t i = 0; i < NI; i++) {
            int skip = 0;
            for (int64_t t = off[u]; t < off[u + 1] && exclude; t++) skip |= items[t] == i;
            if (!skip) order[n++] = i;
        }
        qsort(order, (size_t)n, sizeof *order, by_rank);
        for (int j = 0; j < K; j++) {
            int64_t want = j < n ? 7 * order[j] + 1 : -1, got = r->items[row * K + j];
            bad += got != want;
            if (j < n)
                bad += memcmp(&r->scores[row * K + j], &g_scores[order[j]], sizeof(float)) != 0;
            for (int64_t t = off[u]; t < off[u + 1]; t++) in_train += 7 * items[t] + 1 == got;
        }
    }
    free(buf);
    free(off);
    free(items);
    rp_model_destroy(&m);
    return exclude ? bad + in_train : (in_train > 0 ? bad : bad + 1);
}

static void recs_np_independent_and_exact(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    fixtures();
    char *sh = (char *)rp_test_path("rc_shards.h5"), *mf = (char *)rp_test_path("rc_als.h5");
    char *out = (char *)rp_test_path("rc_np.h5"), *one = (char *)rp_test_path("rc_one.h5");
    char *csv = (char *)rp_test_path("rc_np.csv"), *csv1 = (char *)rp_test_path("rc_one.csv");
    char *argv[] = {"rp-recommend", "--shards", sh, "--model-file", mf, "--model", "als",
                    "--k", "12", "--out", out, "--csv", csv};
    CU_ASSERT_EQUAL_FATAL(run_rec(comm, 13, argv), RP_OK);
    int rc1 = RP_OK;
    if (rank == 0) {
        argv[10] = one;
        argv[12] = csv1;
        rc1 = run_rec(MPI_COMM_SELF, 13, argv);
    }
    MPI_Bcast(&rc1, 1, MPI_INT, 0, comm);
    CU_ASSERT_EQUAL_FATAL(rc1, RP_OK);
    recs a, b;
    CU_ASSERT_EQUAL_FATAL(read_recs(out, &a), RP_OK);
    CU_ASSERT_EQUAL_FATAL(read_recs(one, &b), RP_OK);
    CU_ASSERT(a.n == NU && a.k == K && b.n == NU);
    CU_ASSERT(memcmp(a.user_raw, b.user_raw, NU * sizeof(int64_t)) == 0);
    CU_ASSERT(memcmp(a.items, b.items, NU * K * sizeof(int64_t)) == 0);
    CU_ASSERT(memcmp(a.scores, b.scores, NU * K * sizeof(float)) == 0);
    size_t la = 0, lb = 0;
    char *ta = slurp(csv, &la), *tb = slurp(csv1, &lb);
    CU_ASSERT(ta != NULL && tb != NULL && la == lb && la > 0 && memcmp(ta, tb, la) == 0);
    CU_ASSERT(ta != NULL && strncmp(ta, "user_id,rank,video_id,score\n3,1,", 32) == 0);
    free(ta);
    free(tb);
    CU_ASSERT_EQUAL(brute_force_mismatches(&a, 1), 0);
    recs_clear(&a);
    recs_clear(&b);
    /* Switched off, the train videos come back (the planted model ranks them like any other). */
    char *noex[] = {"rp-recommend", "--shards", sh, "--model-file", mf, "--k", "12", "--out",
                    out, "--no-exclude-train"};
    CU_ASSERT_EQUAL_FATAL(run_rec(comm, 10, noex), RP_OK);
    CU_ASSERT_EQUAL_FATAL(read_recs(out, &a), RP_OK);
    CU_ASSERT_EQUAL(brute_force_mismatches(&a, 0), 0);
    recs_clear(&a);
}

static void users_subset(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    fixtures();
    char *sh = (char *)rp_test_path("rc_shards.h5"), *mf = (char *)rp_test_path("rc_als.h5");
    char *out = (char *)rp_test_path("rc_sub.h5");
    char *argv[] = {"rp-recommend", "--shards", sh, "--model-file", mf, "--k", "12", "--out",
                    out, "--users", "2993,3,13,2993"};
    CU_ASSERT_EQUAL_FATAL(run_rec(comm, 11, argv), RP_OK);
    recs a;
    CU_ASSERT_EQUAL_FATAL(read_recs(out, &a), RP_OK);
    CU_ASSERT(a.n == 3 && a.user_raw[0] == 3 && a.user_raw[1] == 13 && a.user_raw[2] == 2993);
    CU_ASSERT_EQUAL(brute_force_mismatches(&a, 1), 0);
    recs_clear(&a);
}

static void recommend_bad_inputs(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    fixtures();
    char *sh = (char *)rp_test_path("rc_shards.h5"), *mf = (char *)rp_test_path("rc_als.h5");
    char *out = (char *)rp_test_path("rc_bad.h5"), partial[1400];
    snprintf(partial, sizeof partial, "%s.partial", out);
    char *missing[] = {"rp-recommend", "--shards", sh, "--model-file",
                       (char *)rp_test_path("rc_none.h5"), "--out", out};
    CU_ASSERT_EQUAL(run_rec(comm, 7, missing), RP_ERR_NOINPUT);
    char *kind[] = {"rp-recommend", "--shards", sh, "--model-file", mf, "--model", "twotower",
                    "--out", out};
    CU_ASSERT_EQUAL(run_rec(comm, 9, kind), RP_ERR_DATA);
    char *user[] = {"rp-recommend", "--shards", sh, "--model-file", mf, "--out", out, "--users",
                    "4"};
    CU_ASSERT_EQUAL(run_rec(comm, 9, user), RP_ERR_USAGE);
    char *swapped[] = {"rp-recommend", "--shards", mf, "--model-file", sh, "--out", out};
    CU_ASSERT_EQUAL(run_rec(comm, 7, swapped), RP_ERR_DATA);
    MPI_Barrier(comm);
    CU_ASSERT(access(out, F_OK) != 0);
    CU_ASSERT(access(partial, F_OK) != 0);
}

/* A bad train item seen by one rank only fails every rank with 65 (no hang in the model load). */
static void recommend_bad_train_one_rank(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    fixtures();
    const char *sh = rp_test_path("rc_badtrain.h5");
    char *mf = (char *)rp_test_path("rc_als.h5"), *out = (char *)rp_test_path("rc_bt.h5");
    CU_ASSERT_EQUAL(hyb_fixture_shards(comm, sh, NU, NI, 0.4, 5), RP_OK);
    /* The last entry belongs to a user of the last block: at np > 1 only the last rank sees it. */
    CU_ASSERT(hyb_fixture_poke_last(comm, sh, RP_SPLIT_TRAIN "/" RP_DS_BY_USER_ITEM, NI + 5));
    char *argv[] = {"rp-recommend", "--shards", (char *)sh, "--model-file", mf, "--out", out};
    CU_ASSERT_EQUAL(run_rec(comm, 7, argv), RP_ERR_DATA);
    MPI_Barrier(comm);
    CU_ASSERT(access(out, F_OK) != 0);
}

int test_recommend_mpi_register(void)
{
    RP_ADD_SUITE("recommend_mpi", RP_T(recs_np_independent_and_exact), RP_T(users_subset),
                 RP_T(recommend_bad_inputs), RP_T(recommend_bad_train_one_rank));
    return 0;
}
