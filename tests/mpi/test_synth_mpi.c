/* test_synth_mpi.c - rp-synth under 1..4 ranks: every generated CSV parses with rp_csv (column
 * counts, integers, floats, empty fields only where KuaiRec has them), truth.h5 lines up with
 * small_matrix.csv row by row, and the planted expectation predicts the observed watch ratio. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"
#include "rp_csv.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_test.h"

int test_synth_mpi_register(void);
static const char *out_dir(void) { return rp_test_path("synth"); }

static int generate(void)
{
    rp_stage st = {.prog = "rp-synth", .comm = MPI_COMM_WORLD, .t0 = MPI_Wtime()};
    MPI_Comm_rank(st.comm, &st.rank);
    MPI_Comm_size(st.comm, &st.size);
    snprintf(st.cmdline, sizeof st.cmdline, "rp-synth (test)");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", out_dir());
    char *argv[] = {"rp-synth", "--out", dir, "--scale", "0.02", "--seed", "11", NULL};
    synth_opts o;
    int rc = synth_parse_args(7, argv, &o);
    if (rc == RP_OK) rc = synth_run(&st, &o);
    return rc;
}

/* Column kinds: I integer, i integer or empty, F float, f float or empty, L list [..], S text */
typedef struct table { const char *name, *header, *kinds; int64_t rows; } table;

static int check_field(const rp_csv_field *f, char kind)
{
    int64_t v;
    double d;
    if ((kind == 'i' || kind == 'f') && f->len == 0) return 0;
    if (kind == 'I' || kind == 'i') return rp_parse_i64(f->p, f->len, &v);
    if (kind == 'F' || kind == 'f') return rp_parse_f64(f->p, f->len, &d);
    if (kind == 'L') return f->len >= 2 && f->p[0] == '[' && f->p[f->len - 1] == ']' ? 0 : -1;
    return 0;
}

static void parse_table(table *t, int64_t *bad)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", out_dir(), t->name);
    rp_csv_chunk ck;
    int rc = rp_csv_read_chunk(MPI_COMM_WORLD, path, t->header, &ck);
    CU_ASSERT_EQUAL(rc, RP_OK);
    if (rc != RP_OK) return;
    int ncol = (int)strlen(t->kinds);
    size_t pos = 0;
    const char *s, *e;
    int64_t line = 0, rows = 0;
    int trunc = 0;
    rp_csv_field f[64];
    while (rp_csv_next_line(&ck, &pos, &s, &e, &line, &trunc)) {
        rows++;
        int nf = rp_csv_split(s, e, f, 64);
        if (nf != ncol || trunc) {
            if (*bad < 3) fprintf(stderr, "%s:%lld: %d fields, want %d\n", t->name, (long long)line, nf, ncol);
            (*bad)++;
            continue;
        }
        for (int k = 0; k < ncol; k++)
            if (check_field(&f[k], t->kinds[k]) != 0) {
                if (*bad < 3) fprintf(stderr, "%s:%lld: column %d bad\n", t->name, (long long)line, k + 1);
                (*bad)++;
            }
    }
    rp_csv_chunk_clear(&ck);
    rp_mpi_sum_i64(MPI_COMM_WORLD, &rows, 1);
    t->rows = rows;
}

static void all_tables_parse(void)
{
    CU_ASSERT_EQUAL_FATAL(generate(), RP_OK);
    table t[] = {
        {"big_matrix.csv", SYNTH_HDR_BIG, "IIIISIFF", 0},
        {"small_matrix.csv", SYNTH_HDR_SMALL, "IIIISifF", 0},
        {"user_features.csv", SYNTH_HDR_USERS, "ISIIIISISISISIIIIiIIIIIIIiiiiii", 0},
        {"item_categories.csv", SYNTH_HDR_ITEMS, "IL", 0},
        {"item_daily_features.csv", SYNTH_HDR_DAILY,
         "IIISSSSfIIIISIIIIIIIIIIIIIFIIIIIIIIIIIIIIIIIIIIIIIIIIIffff", 0},
        {"kuairec_caption_category.csv", SYNTH_HDR_CAPTION, "ISSLISISIS", 0},
        {"social_network.csv", SYNTH_HDR_SOCIAL, "IL", 0},
    };
    int64_t bad = 0;
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) parse_table(&t[k], &bad);
    rp_mpi_sum_i64(MPI_COMM_WORLD, &bad, 1);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(t[2].rows, 144);  /* users at scale 0.02 */
    CU_ASSERT_EQUAL(t[3].rows, 215);  /* videos */
    CU_ASSERT_EQUAL(t[5].rows, 215);
    CU_ASSERT_EQUAL(t[6].rows, 9);    /* 472 x 144 / 7176 */
    CU_ASSERT(t[0].rows > 144 * 2 && t[1].rows > 28 * 60 && t[4].rows > 215);
}

/* truth.h5 row k is small_matrix.csv data row k; expected predicts observed; the clipped
 * expectation is below both the unclipped one and clip_max (3), and its mean matches the mean
 * of min(watch ratio, 3) over the written rows (within 5 standard errors). */
static void truth_matches_small(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    char path[1200];
    snprintf(path, sizeof path, "%s/truth.h5", out_dir());
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, path, &f), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_check_schema(f, path, RP_SCHEMA_TRUTH), RP_OK);
    int64_t *ur = NULL, *ir = NULL, dims[2];
    double *ex = NULL, *ec = NULL, clip = 0;
    int nd;
    CU_ASSERT_EQUAL(rp_h5_read_all(f, "/user_raw", RP_I64, (void **)&ur, &nd, dims), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_read_all(f, "/item_raw", RP_I64, (void **)&ir, &nd, dims), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_read_all(f, "/expected_watch_ratio", RP_F64, (void **)&ex, &nd, dims), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_read_all(f, "/expected_clipped", RP_F64, (void **)&ec, &nd, dims),
                    RP_OK);
    CU_ASSERT_EQUAL(rp_h5_attr_read(f, "/", "clip_max", RP_F64, 1, &clip), RP_OK);
    CU_ASSERT_EQUAL(clip, 3.0);
    rp_h5_close(&f);
    int64_t n = dims[0];
    snprintf(path, sizeof path, "%s/small_matrix.csv", out_dir());
    rp_csv_chunk ck;
    CU_ASSERT_EQUAL_FATAL(rp_csv_read_chunk(comm, path, SYNTH_HDR_SMALL, &ck), RP_OK);
    size_t pos = 0;
    const char *s, *e;
    int64_t line = 0, rows = 0, mismatch = 0;
    int trunc = 0;
    double sxy[5] = {0}; /* sums of x, y, xx, yy, xy for the correlation */
    double sc[3] = {0};  /* sums of min(w, 3), its square, and the clipped expectation */
    while (rp_csv_next_line(&ck, &pos, &s, &e, &line, &trunc)) {
        rp_csv_field fl[8];
        int64_t u = -1, i = -1, k = line - 2;
        double w = 0;
        rows++;
        if (rp_csv_split(s, e, fl, 8) != 8 || k >= n) { mismatch++; continue; }
        rp_parse_i64(fl[0].p, fl[0].len, &u);
        rp_parse_i64(fl[1].p, fl[1].len, &i);
        rp_parse_f64(fl[7].p, fl[7].len, &w);
        mismatch += u != ur[k] || i != ir[k] || !(ex[k] > 0) || !(ec[k] < ex[k]) ||
                    !(ec[k] > 0 && ec[k] <= 3);
        double wc = w < 3 ? w : 3;
        sc[0] += wc; sc[1] += wc * wc; sc[2] += ec[k];
        w = w > 5 ? 5 : w;
        double x = ex[k] > 5 ? 5 : ex[k];
        sxy[0] += x; sxy[1] += w; sxy[2] += x * x; sxy[3] += w * w; sxy[4] += x * w;
    }
    rp_csv_chunk_clear(&ck);
    rp_mpi_sum_i64(comm, &rows, 1);
    rp_mpi_sum_i64(comm, &mismatch, 1);
    rp_mpi_sum_f64(comm, sxy, 5);
    rp_mpi_sum_f64(comm, sc, 3);
    CU_ASSERT_EQUAL(rows, n);
    CU_ASSERT_EQUAL(mismatch, 0);
    double m = (double)rows, cov = sxy[4] / m - sxy[0] * sxy[1] / m / m;
    double corr = cov / sqrt((sxy[2] / m - pow(sxy[0] / m, 2)) * (sxy[3] / m - pow(sxy[1] / m, 2)));
    CU_ASSERT(corr > 0.25); /* the planted model explains a real share of the variance */
    double se = sqrt((sc[1] / m - pow(sc[0] / m, 2)) / m);
    CU_ASSERT(fabs(sc[0] / m - sc[2] / m) < 5 * se);
    free(ec);
    free(ur);
    free(ir);
    free(ex);
}

int test_synth_mpi_register(void)
{
    RP_ADD_SUITE("synth_mpi", RP_T(all_tables_parse), RP_T(truth_matches_small));
    return 0;
}
