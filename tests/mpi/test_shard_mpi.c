/* test_shard_mpi.c - rp-shard under 1..4 ranks: a hand-computed tiny dataset (split,
 * aggregation, outliers, normalisation, CSR/CSC), rank-count independence of every dataset's
 * bytes against a single-process run, and bad rows found across rank boundaries. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_sha256.h"
#include "rp_test.h"
#include "shard.h"

int test_shard_mpi_register(void);

#define HDR SHARD_HEADER "\r\n"

static const struct { const char *name; rp_dtype t; } datasets[] = {
    {"/ids/user_raw", RP_I64},
    {"/ids/item_raw", RP_I64},
#define SPLIT_DS(g)                                                                            \
    {g "/by_user/offsets", RP_I64}, {g "/by_user/item", RP_I32}, {g "/by_user/value", RP_F32}, \
    {g "/by_user/watch_ratio", RP_F32}, {g "/by_user/timestamp", RP_F64},                       \
    {g "/by_item/offsets", RP_I64}, {g "/by_item/user", RP_I32}, {g "/by_item/value", RP_F32}
    SPLIT_DS("/train"), SPLIT_DS("/valid"), SPLIT_DS("/test"),
};
#define NDS ((int)(sizeof datasets / sizeof datasets[0]))

/* Run the stage on comm with default options plus max_bad_rows. */
static int run_shard(MPI_Comm comm, const char *big, const char *small, const char *out)
{
    rp_stage st;
    memset(&st, 0, sizeof st);
    st.prog = "rp-shard";
    st.comm = comm;
    MPI_Comm_rank(comm, &st.rank);
    MPI_Comm_size(comm, &st.size);
    st.t0 = MPI_Wtime();
    snprintf(st.cmdline, sizeof st.cmdline, "test");
    shard_state s = {0};
    shard_opts_defaults(&s.opt);
    s.opt.outlier = "drop"; /* the expected values are worked out for drop (not the default) */
    s.opt.big = big;
    s.opt.small = small;
    s.opt.out = out;
    s.opt.read_kb = 1; /* many windows, lines cut at window edges */
    shard_opts_check(&s.opt);
    int rc = shard_run(&st, &s);
    shard_state_clear(&s);
    return rc;
}

/* Read dataset k of file f whole; *n elements. Collective on the file's communicator. */
static void *read_ds(hid_t f, int k, int64_t *n)
{
    void *buf = NULL;
    int nd = 0;
    int64_t d[2] = {0, 0};
    if (rp_h5_read_all(f, datasets[k].name, datasets[k].t, &buf, &nd, d) != RP_OK) return NULL;
    *n = d[0];
    return buf;
}

static const char *tiny_big =
    "\xEF\xBB\xBF" HDR
    "10,100,50,100,2020-07-05 00:00:01,20200705,1,0.5\r\n"          /* line 2 */
    "10,101,100,100,2020-07-05 00:00:02,20200705,2,1.0\r\n"
    "10,101,100,100,2020-07-05 00:00:02,20200705,2,1.0\r\n"         /* exact duplicate */
    "10,102,200,100,2020-07-05 00:00:03,20200705,3,2.0\r\n"
    "10,103,400,100,2020-07-05 00:00:04,20200705,4,4.0\r\n"         /* outlier */
    "10,101,150,100,2020-07-05 00:00:05,20200705,5,1.5\r\n"         /* repeat view */
    "10,104,25,100,2020-07-05 00:00:06,20200705,6,0.25\r\n"
    "10,105,0,100,2020-07-05 00:00:07,20200705,7,0.0\r\n"
    "10,106,75,100,2020-07-05 00:00:08,20200705,8,0.75\r\n"
    "10,107,175,100,2020-07-05 00:00:09,20200705,9,1.75\r\n"
    "10,108,100,100,2020-07-05 00:00:10,20200705,10,1.0\r\n"
    "10,109,50,100,2020-07-05 00:00:11,20200705,11,0.5\r\n"         /* latest: valid */
    "20,100,50,100,2020-07-05 00:00:01,20200705,1,0.5\r\n"
    "20,102,100,100,2020-07-05 00:00:02,20200705,2,1.0\r\n"
    "20,104,150,100,2020-07-05 00:00:03,20200705,3,1.5\r\n"
    "20,110,25,100,2020-07-05 00:00:04,20200705,4,0.25\r\n"
    "20,111,350,100,2020-07-05 00:00:05,20200705,5,3.5\r\n";        /* valid, an outlier */
static const char *tiny_small = HDR
    "10,110,100,100,2020-07-05 00:00:20,20200705,20,1.0\r\n"
    "10,200,900,100,,,,9.0\r\n"
    "30,201,10,100,,,,0.1\r\n";

static void expect_i64(hid_t f, int k, const int64_t *want, int64_t n)
{
    int64_t got_n = -1;
    int64_t *got = read_ds(f, k, &got_n);
    CU_ASSERT_EQUAL(got_n, n);
    if (got && got_n == n)
        for (int64_t i = 0; i < n; i++) CU_ASSERT_EQUAL(got[i], want[i]);
    free(got);
}

static void expect_i32(hid_t f, int k, const int32_t *want, int64_t n)
{
    int64_t got_n = -1;
    int32_t *got = read_ds(f, k, &got_n);
    CU_ASSERT_EQUAL(got_n, n);
    if (got && got_n == n)
        for (int64_t i = 0; i < n; i++) CU_ASSERT_EQUAL(got[i], want[i]);
    free(got);
}

static void expect_f(hid_t f, int k, const double *want, int64_t n)
{
    int64_t got_n = -1;
    void *got = read_ds(f, k, &got_n);
    CU_ASSERT_EQUAL(got_n, n);
    for (int64_t i = 0; got && got_n == n && i < n; i++) {
        double g = datasets[k].t == RP_F32 ? ((float *)got)[i] : ((double *)got)[i];
        CU_ASSERT(isnan(want[i]) ? isnan(g) : rp_test_close(g, want[i], 1e-6));
    }
    free(got);
}

static int ds_index(const char *name)
{
    for (int k = 0; k < NDS; k++)
        if (strcmp(datasets[k].name, name) == 0) return k;
    return 0;
}

static int64_t attr_i64(hid_t f, const char *obj, const char *name)
{
    int64_t v = -1;
    rp_h5_attr_read(f, obj, name, RP_I64, 1, &v);
    return v;
}

/* Every value below is worked out by hand in the comments of tiny_big / tiny_small: users
 * 10, 20, 30 -> 0, 1, 2; items 100..111, 200, 201 -> 0..13; train min 0, max 2. */
static void tiny_hand_computed(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *big = rp_test_path("tiny_big.csv"), *small = rp_test_path("tiny_small.csv");
    char out[1024];
    snprintf(out, sizeof out, "%s", rp_test_path("tiny.h5"));
    rp_test_write_file(big, tiny_big);
    rp_test_write_file(small, tiny_small);
    CU_ASSERT_EQUAL_FATAL(run_shard(comm, big, small, out), RP_OK);
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, out, &f), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_check_schema(f, out, RP_SCHEMA_SHARDS), RP_OK);
    const int64_t users[] = {10, 20, 30}, items[] = {100, 101, 102, 103, 104, 105, 106,
                                                     107, 108, 109, 110, 111, 200, 201};
    expect_i64(f, ds_index("/ids/user_raw"), users, 3);
    expect_i64(f, ds_index("/ids/item_raw"), items, 14);
    const int64_t tr_off[] = {0, 8, 12, 12};
    const int32_t tr_item[] = {0, 2, 1, 4, 5, 6, 7, 8, 0, 2, 4, 10};
    const double tr_val[] = {.25, 1, .625, .125, 0, .375, .875, .5, .25, .5, .75, .125};
    const double tr_wr[] = {.5, 2, 1.25, .25, 0, .75, 1.75, 1, .5, 1, 1.5, .25};
    const double tr_ts[] = {1, 3, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4};
    expect_i64(f, ds_index("/train/by_user/offsets"), tr_off, 4);
    expect_i32(f, ds_index("/train/by_user/item"), tr_item, 12);
    expect_f(f, ds_index("/train/by_user/value"), tr_val, 12);
    expect_f(f, ds_index("/train/by_user/watch_ratio"), tr_wr, 12);
    expect_f(f, ds_index("/train/by_user/timestamp"), tr_ts, 12);
    const int64_t tc_off[] = {0, 2, 3, 5, 5, 7, 8, 9, 10, 11, 11, 12, 12, 12, 12};
    const int32_t tc_user[] = {0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1};
    const double tc_val[] = {.25, .25, .625, 1, .5, .125, .75, 0, .375, .875, .5, .125};
    expect_i64(f, ds_index("/train/by_item/offsets"), tc_off, 15);
    expect_i32(f, ds_index("/train/by_item/user"), tc_user, 12);
    expect_f(f, ds_index("/train/by_item/value"), tc_val, 12);
    const int64_t va_off[] = {0, 1, 1, 1};
    const int32_t va_item[] = {9};
    const double va_val[] = {.25}, va_ts[] = {11};
    expect_i64(f, ds_index("/valid/by_user/offsets"), va_off, 4);
    expect_i32(f, ds_index("/valid/by_user/item"), va_item, 1);
    expect_f(f, ds_index("/valid/by_user/value"), va_val, 1);
    expect_f(f, ds_index("/valid/by_user/timestamp"), va_ts, 1);
    const int64_t te_off[] = {0, 2, 2, 3};
    const int32_t te_item[] = {10, 12, 13};
    const double te_val[] = {.5, 1, .05}, te_wr[] = {1, 9, .1}, te_ts[] = {20, NAN, NAN};
    expect_i64(f, ds_index("/test/by_user/offsets"), te_off, 4);
    expect_i32(f, ds_index("/test/by_user/item"), te_item, 3);
    expect_f(f, ds_index("/test/by_user/value"), te_val, 3);
    expect_f(f, ds_index("/test/by_user/watch_ratio"), te_wr, 3);
    expect_f(f, ds_index("/test/by_user/timestamp"), te_ts, 3);
    double nm[2] = {-1, -1};
    rp_h5_attr_read(f, "/", "norm_min", RP_F64, 1, &nm[0]);
    rp_h5_attr_read(f, "/", "norm_max", RP_F64, 1, &nm[1]);
    CU_ASSERT(nm[0] == 0.0 && nm[1] == 2.0);
    CU_ASSERT_EQUAL(attr_i64(f, "/", "n_users"), 3);
    CU_ASSERT_EQUAL(attr_i64(f, "/", "n_items"), 14);
    CU_ASSERT_EQUAL(attr_i64(f, "/train", "rows_read"), 15);
    CU_ASSERT_EQUAL(attr_i64(f, "/train", "rows_duplicate"), 1);
    CU_ASSERT_EQUAL(attr_i64(f, "/train", "rows_aggregated"), 1);
    CU_ASSERT_EQUAL(attr_i64(f, "/train", "rows_outlier"), 1);
    CU_ASSERT_EQUAL(attr_i64(f, "/train", "rows_kept"), 12);
    CU_ASSERT_EQUAL(attr_i64(f, "/valid", "rows_read"), 2);
    CU_ASSERT_EQUAL(attr_i64(f, "/valid", "rows_outlier"), 1);
    CU_ASSERT_EQUAL(attr_i64(f, "/valid", "rows_kept"), 1);
    CU_ASSERT_EQUAL(attr_i64(f, "/test", "rows_read"), 3);
    CU_ASSERT_EQUAL(attr_i64(f, "/test", "rows_kept"), 3);
    CU_ASSERT_EQUAL(attr_i64(f, "/test", "users_not_in_train"), 1);
    CU_ASSERT_EQUAL(attr_i64(f, "/test", "items_not_in_train"), 2);
    CU_ASSERT_EQUAL(attr_i64(f, "/test", "rows_item_not_in_train"), 2);
    rp_h5_close(&f);
}

/* Ids wider than int32 (kept aside while parsing, rows store 32-bit codes) come out as the
 * same raw ids and dense indices as small ones would, on any rank count. */
static void wide_ids(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *big = rp_test_path("wide_big.csv"), *small = rp_test_path("wide_small.csv");
    char out[1024];
    snprintf(out, sizeof out, "%s", rp_test_path("wide.h5"));
    rp_test_write_file(big, HDR "3000000000,4294967296,1,2,t,20200101,1.0,0.5\n"
                                "5,7,1,2,t,20200101,2.0,0.5\n"
                                "9223372036854775807,7,1,2,t,20200101,3.0,1.0\n"
                                "2147483647,2147483648,1,2,t,20200101,4.0,0.25\n");
    rp_test_write_file(small, HDR "5,4294967296,1,2,t,20200101,5.0,0.5\n");
    CU_ASSERT_EQUAL_FATAL(run_shard(comm, big, small, out), RP_OK);
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, out, &f), RP_OK);
    const int64_t users[] = {5, 2147483647, 3000000000LL, INT64_MAX};
    const int64_t items[] = {7, 2147483648LL, 4294967296LL};
    const int32_t tr_item[] = {0, 1, 2, 0}, te_item[] = {2};
    expect_i64(f, ds_index("/ids/user_raw"), users, 4);
    expect_i64(f, ds_index("/ids/item_raw"), items, 3);
    expect_i32(f, ds_index("/train/by_user/item"), tr_item, 4);
    expect_i32(f, ds_index("/test/by_user/item"), te_item, 1);
    rp_h5_close(&f);
}

/* A deterministic mid-size input with duplicates, repeat views, outliers and empty times. */
static void write_random_inputs(const char *big, const char *small)
{
    size_t cap = 1 << 20, o = 0;
    char *t = malloc(cap);
    uint64_t x = 12345;
#define NEXT() (x = x * 6364136223846793005ULL + 1442695040888963407ULL, x >> 33)
    o += (size_t)snprintf(t + o, cap - o, "%s\n", SHARD_HEADER);
    for (int k = 0; k < 6000; k++) {
        unsigned u = (unsigned)(NEXT() % 37) * 3, v = (unsigned)(NEXT() % 150) + 1000;
        unsigned play = (unsigned)(NEXT() % 40000), dur = (unsigned)(NEXT() % 20000) + 140;
        double ts = 1593878400.0 + (double)(NEXT() % 500000) / 8.0;
        int line = snprintf(t + o, cap - o, "%u,%u,%u,%u,time,20200705,%.3f,%.6f\n", u, v, play,
                            dur, ts, (double)play / dur);
        if (NEXT() % 10 == 0) { /* an exact duplicate */
            memcpy(t + o + line, t + o, (size_t)line);
            o += (size_t)line;
        }
        o += (size_t)line;
    }
    rp_test_write_file(big, t);
    o = (size_t)snprintf(t, cap, "%s\n", SHARD_HEADER);
    for (int k = 0; k < 2000; k++) {
        unsigned u = (unsigned)(NEXT() % 41) * 3 + 1, v = (unsigned)(NEXT() % 170) + 990;
        unsigned play = (unsigned)(NEXT() % 30000), dur = 10000;
        if (NEXT() % 8 == 0)
            o += (size_t)snprintf(t + o, cap - o, "%u,%u,%u,%u,,,,%.6f\n", u, v, play, dur,
                                  (double)play / dur);
        else
            o += (size_t)snprintf(t + o, cap - o, "%u,%u,%u,%u,t,20200901,%u.5,%.6f\n", u, v, play,
                                  dur, 1598900000u + (unsigned)k, (double)play / dur);
    }
#undef NEXT
    rp_test_write_file(small, t);
    free(t);
}

/* The file written by all ranks has the same dataset bytes as rank 0 alone (COMM_SELF). */
static void rank_count_independent(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const char *big = rp_test_path("rnd_big.csv"), *small = rp_test_path("rnd_small.csv");
    char out_n[1024], out_1[1024];
    snprintf(out_n, sizeof out_n, "%s", rp_test_path("rnd_n.h5"));
    snprintf(out_1, sizeof out_1, "%s", rp_test_path("rnd_1.h5"));
    write_random_inputs(big, small);
    CU_ASSERT_EQUAL_FATAL(run_shard(comm, big, small, out_n), RP_OK);
    if (rank == 0) {
        CU_ASSERT_EQUAL(run_shard(MPI_COMM_SELF, big, small, out_1), RP_OK);
        hid_t a = H5I_INVALID_HID, b = H5I_INVALID_HID;
        CU_ASSERT_EQUAL(rp_h5_open(MPI_COMM_SELF, out_n, &a), RP_OK);
        CU_ASSERT_EQUAL(rp_h5_open(MPI_COMM_SELF, out_1, &b), RP_OK);
        int64_t total = 0;
        for (int k = 0; k < NDS && a >= 0 && b >= 0; k++) {
            int64_t na = -1, nb = -2;
            void *x = read_ds(a, k, &na), *y = read_ds(b, k, &nb);
            CU_ASSERT_EQUAL(na, nb);
            if (x && y && na == nb)
                CU_ASSERT_EQUAL(memcmp(x, y, (size_t)na * rp_dtype_size(datasets[k].t)), 0);
            total += na;
            free(x);
            free(y);
        }
        CU_ASSERT(total > 10000); /* the data is not trivially empty */
        CU_ASSERT(attr_i64(a, "/train", "rows_duplicate") > 300);
        CU_ASSERT(attr_i64(a, "/train", "rows_aggregated") > 100);
        CU_ASSERT(attr_i64(a, "/valid", "rows_kept") > 100);
        rp_h5_close(&a);
        rp_h5_close(&b);
    }
    MPI_Barrier(comm);
}

/* Bad rows spread over the file are counted whichever rank parses them; the budget decides. */
static void bad_rows_across_ranks(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *path = rp_test_path("bad_big.csv");
    char *t = malloc(1 << 20);
    size_t o = (size_t)sprintf(t, "%s\n", SHARD_HEADER);
    for (int line = 2; line <= 3001; line++) {
        if (line == 40 || line == 1500 || line == 2999)
            o += (size_t)sprintf(t + o, "%d,1,2,3,t,20200101,5.0,bad\n", line);
        else
            o += (size_t)sprintf(t + o, "%d,1,2,3,t,20200101,5.0,0.5\n", line);
    }
    rp_test_write_file(path, t);
    free(t);
    /* windows: shorter than a line (grows), a few lines, the whole file */
    const size_t windows[] = {17, 1000, 1 << 20};
    for (int w = 0; w < 3; w++) {
        shard_parsed p;
        int64_t nbad = -1, nread = -1;
        CU_ASSERT_EQUAL(shard_read_file(comm, path, 0, 2, windows[w], &p, &nbad, &nread),
                        RP_ERR_DATA);
        CU_ASSERT_EQUAL(shard_read_file(comm, path, 0, 3, windows[w], &p, &nbad, &nread), RP_OK);
        CU_ASSERT_EQUAL(nbad, 3);
        CU_ASSERT_EQUAL(nread, 3000);
        /* every good row's user id is its line number: rows and lines line up on every rank */
        int64_t sum[3] = {p.n, 0, 0};
        for (int64_t k = 0; k < p.n; k++) sum[1] += p.rows[k].user;
        for (int k = 0; k < p.nerr; k++) {
            int64_t l = p.errs[k].line;
            sum[2] += l;
            CU_ASSERT(l == 40 || l == 1500 || l == 2999);
        }
        rp_mpi_sum_i64(comm, sum, 3);
        CU_ASSERT_EQUAL(sum[0], 2997);
        CU_ASSERT_EQUAL(sum[1], (int64_t)3001 * 3002 / 2 - 1 - 40 - 1500 - 2999);
        CU_ASSERT_EQUAL(sum[2], 40 + 1500 + 2999);
        shard_parsed_clear(&p);
    }
}

/* A CSV for the lanes test: `n` data lines; kind 0: plain rows with a few wide ids and bad
 * rows; kind 1: the first quarter of the rows 300 bytes long, the rest short (the regions,
 * sized from the first window, overflow); kind 2: the first 40% bad (lane 0 stores no row). */
static void lanes_csv(const char *path, int kind, int n)
{
    char *t = malloc((size_t)n * 400 + 200);
    size_t o = (size_t)sprintf(t, "%s\n", SHARD_HEADER);
    for (int i = 0; i < n; i++) {
        long long user = i % 977 == 5 ? 5000000000LL + i : 1000 + i / 7;
        long long item = i % 1301 == 9 ? 7000000000LL + i : 100 + i % 313;
        if ((kind == 0 && i % 2003 == 17) || (kind == 2 && i < n * 2 / 5))
            o += (size_t)sprintf(t + o, "%lld,%lld,1,2,x,20200101,nan,0.5\n", user, item);
        else if (kind == 1 && i < n / 4)
            o += (size_t)sprintf(t + o, "%lld,%lld,1,2,%0280d,20200101,%d.25,0.%d\n", user, item, i,
                                 1593000000 + i, i % 97);
        else
            o += (size_t)sprintf(t + o, "%lld,%lld,1,2,t,20200101,%d.5,%d.%03d\n", user, item,
                                 1593000000 + i, i % 4, i % 1000);
    }
    rp_test_write_file(path, t);
    free(t);
}

/* The lanes (hash blocks smaller than a rank's range: up to four pieces read side by side, each
 * parsed into its own region) give the rows, wide ids, bad-row notes with their line numbers,
 * counts and lineage digest of one lane reading the range in order; with regions that overflow
 * and a first lane without rows too. */
static void lanes_match_one_lane(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *path = rp_test_path("lanes.csv");
    const int64_t blocks[] = {4096, 20000, 77777};
    const size_t windows[] = {300, 4096, 1 << 20};
    for (int kind = 0; kind < 3; kind++) {
        lanes_csv(path, kind, 12000);
        shard_parsed one, many;
        CU_ASSERT_EQUAL_FATAL(shard_stream_file_block(comm, path, 1 << 16, (int64_t)1 << 40,
                                                      kind == 1, &one), RP_OK);
        for (size_t bi = 0; bi < 3; bi++) {
            for (size_t wi = 0; wi < 3; wi++) {
                CU_ASSERT_EQUAL_FATAL(shard_stream_file_block(comm, path, windows[wi], blocks[bi],
                                                              kind == 1, &many), RP_OK);
                CU_ASSERT_EQUAL(many.n, one.n);
                CU_ASSERT_EQUAL(many.nbad, one.nbad);
                CU_ASSERT_EQUAL(many.nerr, one.nerr);
                CU_ASSERT_EQUAL(many.bytes, one.bytes);
                CU_ASSERT(many.cap >= many.n);
                int same = many.n == one.n;
                for (int64_t k = 0; k < one.n && same; k++) {
                    shard_raw a, b;
                    shard_parsed_get(&one, k, &a);
                    shard_parsed_get(&many, k, &b);
                    same = memcmp(&a, &b, sizeof a) == 0;
                }
                CU_ASSERT(same);
                for (int e = 0; e < one.nerr && e < many.nerr; e++) {
                    CU_ASSERT_EQUAL(many.errs[e].line, one.errs[e].line);
                    CU_ASSERT_STRING_EQUAL(many.errs[e].msg, one.errs[e].msg);
                }
                char want[65];
                CU_ASSERT_EQUAL(rp_hash_file_block(comm, path, blocks[bi], want), RP_OK);
                CU_ASSERT_STRING_EQUAL(many.sha256, want);
                shard_parsed_clear(&many);
            }
        }
        int64_t tot[2] = {one.n, one.nwide};
        rp_mpi_sum_i64(comm, tot, 2);
        CU_ASSERT(tot[0] > 6000 && (kind == 1 || tot[1] > 10)); /* rows and wide ids to check */
        shard_parsed_clear(&one);
    }
}

int test_shard_mpi_register(void)
{
    RP_ADD_SUITE("shard_mpi", RP_T(tiny_hand_computed), RP_T(wide_ids),
                 RP_T(rank_count_independent), RP_T(bad_rows_across_ranks),
                 RP_T(lanes_match_one_lane));
    return 0;
}
