/* test_features_mpi.c - rp-features end to end under 1..4 ranks: tiny side files in the exact
 * real format (quoted commas, list fields, empty fields, UTF-8, bare \r, 64-bit music ids) and a
 * hand-made shards.h5; checks every feature, train-only watch ratios, errors with file:line and
 * no output, optional files, and byte-identical output against a one-rank run. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "features_stage.h"
#include "rp_h5.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "rp_test.h"

int test_features_mpi_register(void);

/* One split of a shards fixture: n triplets of dense (user, item, value). */
typedef struct fx_split {
    int n;
    const int *u, *i;
    const float *v;
} fx_split;

static int cmp_pair(const void *a, const void *b)
{
    const int *x = a, *y = b;
    if (x[0] != y[0]) return x[0] - y[0];
    return x[1] - y[1];
}

/* CSR (by user) or CSC (by item) of a split, written under /<split>/<by>/. */
static void write_csr(hid_t f, const char *grp, const fx_split *s, int64_t nrows, int by_item)
{
    int n = s->n;
    int *key = malloc((size_t)(3 * n + 1) * sizeof *key);
    for (int k = 0; k < n; k++) {
        key[3 * k] = by_item ? s->i[k] : s->u[k];
        key[3 * k + 1] = by_item ? s->u[k] : s->i[k];
        key[3 * k + 2] = k;
    }
    qsort(key, (size_t)n, 3 * sizeof *key, cmp_pair);
    int64_t *off = calloc((size_t)nrows + 1, sizeof *off);
    int32_t *col = malloc((size_t)n * sizeof *col + 4);
    float *val = malloc((size_t)n * sizeof *val + 4), *wr = malloc((size_t)n * sizeof *wr + 4);
    double *ts = malloc((size_t)n * sizeof *ts + 8);
    for (int k = 0; k < n; k++) {
        off[key[3 * k] + 1]++;
        col[k] = key[3 * k + 1];
        val[k] = s->v[key[3 * k + 2]];
        wr[k] = 2.0f * val[k];
        ts[k] = 1593878903.0 + k;
    }
    for (int64_t r = 0; r < nrows; r++) off[r + 1] += off[r];
    char p[256];
    MPI_Comm comm = MPI_COMM_WORLD;
    int64_t dn = n, dr = nrows + 1;
    snprintf(p, sizeof p, "%s/%s/offsets", grp, by_item ? "by_item" : "by_user");
    rp_h5_write_replicated(comm, f, p, RP_I64, 1, &dr, off);
    snprintf(p, sizeof p, "%s/%s/%s", grp, by_item ? "by_item" : "by_user",
             by_item ? "user" : "item");
    rp_h5_write_replicated(comm, f, p, RP_I32, 1, &dn, col);
    snprintf(p, sizeof p, "%s/%s/value", grp, by_item ? "by_item" : "by_user");
    rp_h5_write_replicated(comm, f, p, RP_F32, 1, &dn, val);
    if (!by_item) {
        snprintf(p, sizeof p, "%s/by_user/watch_ratio", grp);
        rp_h5_write_replicated(comm, f, p, RP_F32, 1, &dn, wr);
        snprintf(p, sizeof p, "%s/by_user/timestamp", grp);
        rp_h5_write_replicated(comm, f, p, RP_F64, 1, &dn, ts);
    }
    free(key);
    free(off);
    free(col);
    free(val);
    free(wr);
    free(ts);
}

/* A shards.h5 following include/rp_schema.h (collective on MPI_COMM_WORLD). */
static void make_shards(const char *path, int64_t nu, const int64_t *uraw, int64_t ni,
                        const int64_t *iraw, const fx_split sp[3])
{
    MPI_Comm comm = MPI_COMM_WORLD;
    static const char *const grp[3] = {"/train", "/valid", "/test"};
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_create(comm, path, &f), RP_OK);
    rp_h5_write_replicated(comm, f, RP_DS_USER_RAW, RP_I64, 1, &nu, uraw);
    rp_h5_write_replicated(comm, f, RP_DS_ITEM_RAW, RP_I64, 1, &ni, iraw);
    for (int k = 0; k < 3; k++) {
        write_csr(f, grp[k], &sp[k], nu, 0);
        write_csr(f, grp[k], &sp[k], ni, 1);
        int64_t nnz = sp[k].n;
        rp_h5_attr_write(f, grp[k], "nnz", RP_I64, 1, &nnz);
    }
    double lo = 0.0, hi = 2.0;
    rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_SHARDS);
    rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &nu);
    rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &ni);
    rp_h5_attr_write(f, "/", "norm_min", RP_F64, 1, &lo);
    rp_h5_attr_write(f, "/", "norm_max", RP_F64, 1, &hi);
    CU_ASSERT_EQUAL(rp_h5_commit(comm, &f, path, RP_OK), RP_OK);
}

static const char *fx_users =
    "user_id,user_active_degree,is_lowactive_period,is_live_streamer,is_video_author,"
    "follow_user_num,follow_user_num_range,fans_user_num,fans_user_num_range,friend_user_num,"
    "friend_user_num_range,register_days,register_days_range,onehot_feat0,onehot_feat1,"
    "onehot_feat2,onehot_feat3,onehot_feat4,onehot_feat5,onehot_feat6,onehot_feat7,onehot_feat8,"
    "onehot_feat9,onehot_feat10,onehot_feat11,onehot_feat12,onehot_feat13,onehot_feat14,"
    "onehot_feat15,onehot_feat16,onehot_feat17\n"
    "0,high_active,0,0,0,5,\"(0,10]\",0,0,0,0,107,61-90,0,1,17,638,2,0,1,6,184,6,3,0,0,0,0,0,0,0\n"
    "1,full_active,0,0,0,386,\"(250,500]\",4,\"[1,10)\",2,\"[1,5)\",327,181-365,0,3,25,1021,,0,1,"
    "6,186,6,2,0,,,,,,\n"
    "2,UNKNOWN,1,0,1,27,\"(10,50]\",0,0,0,0,116,91-180,1,6,8,402,0,0,0,2,51,2,3,0,0,0,0,0,0,0\n"
    "3,middle_active,0,1,0,0,0,11401,\"[1w,10w)\",1425,250+,0,15-30,0,1,8,281,11,0,0,34,251,3,2,"
    "1,1,1,1,1,1,1\n"
    "4,full_active,0,0,0,5000,500+,0,0,0,0,2245,730+,1,7,29,1075,0,9,2,46,339,6,4,2,0,0,0,0,0,0\n"
    "5,high_active,0,0,0,1,\"(0,10]\",0,0,0,0,9,15-30,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n";

static const char *fx_tags =
    "video_id,feat\n0,[8]\n1,\"[27, 9]\"\n2,\"[3, 1, 4, 30, 2]\"\n3,[0]\n4,[12]\n";

static const char *fx_caption =
    "video_id,manual_cover_text,caption,topic_tag,first_level_category_id,"
    "first_level_category_name,second_level_category_id,second_level_category_name,"
    "third_level_category_id,third_level_category_name\n"
    "0,cover text,\"caption, with a comma and \"\"quotes\"\"\",[topic],5,Food,-124,UNKNOWN,-124,"
    "UNKNOWN\n"
    "1,,plain caption with a bare\rCR inside,[],8,Games,77,Mobile,2676,Something\n"
    "2,\"text\",x,[],-124,UNKNOWN,77,Mobile,-124,UNKNOWN\n"
    "3,\xe4\xb8\xad\xe6\x96\x87,\xe5\xad\x97\xe5\xb9\x95\xef\xbc\x8c\xe5\x85\xa8,[],5,Food,12,"
    "Cook,-124,UNKNOWN\n"
    "99,none,none,[],9,Other,1,One,1,One\n";

/* One daily row: 58 fields, "0" except those given. */
static size_t daily_row(char *o, const char *id, const char *date, const char *author,
                        const char *vtype, const char *utype, const char *dur, const char *show,
                        const char *collect)
{
    size_t n = 0;
    n += (size_t)sprintf(o + n, "%s,%s,%s,%s,2020-07-01,%s,public,%s,720,1280,4000000000,28,"
                                "\xe7\xbe\x8e\xe9\xa3\x9f,%s",
                         id, date, author, vtype, utype, dur, show);
    for (int c = 14; c < 58; c++) {
        const char *v = c == 26 ? "0.53" : (c >= 54 ? collect : "0");
        n += (size_t)sprintf(o + n, ",%s", c == 15 ? "7" : v);
    }
    o[n++] = '\n';
    o[n] = '\0';
    return n;
}

static void write_daily(const char *path, int bad)
{
    char *t = malloc(20000);
    size_t n = (size_t)sprintf(t, "%s\n", feat_daily_header);
    n += daily_row(t + n, "0", "20200706", "100", "NORMAL", "ShortImport", "12000.0", "5", "");
    n += daily_row(t + n, "2", "20200705", "102", "NORMAL", "ShortCamera", "315072", "1", "");
    n += daily_row(t + n, "0", "20200705", "100", "NORMAL", "ShortImport", "10000.0", "10", "");
    n += daily_row(t + n, "3", "20200705", "103", "AD", "ShortImport", "5000", "0", "");
    n += daily_row(t + n, "99", "20200705", "999", "NORMAL", "Weird", "1", "1000", "");
    n += daily_row(t + n, "1", "20200801", "101", "AD", "LongImport", "140", "0", "0.0");
    n += daily_row(t + n, "0", "20200801", "101", "NORMAL", "ShortImport", "", "1", "0.0");
    n += daily_row(t + n, "2", "20200802", "102", "NORMAL", "ShortCamera", "315072", "2", "0.0");
    n += daily_row(t + n, "3", "20200802", "", "", "ShortImport", "", "4", "0.0");
    if (bad) n += (size_t)sprintf(t + n, "3,20200803,103,NORMAL\n");
    rp_test_write_file(path, t);
    free(t);
}

static void mkdir0(const char *dir)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) mkdir(dir, 0755);
    MPI_Barrier(MPI_COMM_WORLD);
}

static void write_in(const char *dir, const char *name, const char *text)
{
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    rp_test_write_file(p, text);
}

/* The standard fixture: shards users {0,1,2,3,7}, items {0,1,2,3,10}. */
static const char *fx_dir(void)
{
    static char dir[1300];
    if (dir[0]) return dir;
    snprintf(dir, sizeof dir, "%s", rp_test_path("fx"));
    mkdir0(dir);
    write_in(dir, "user_features.csv", fx_users);
    write_in(dir, "item_categories.csv", fx_tags);
    write_in(dir, "kuairec_caption_category.csv", fx_caption);
    char p[1400];
    snprintf(p, sizeof p, "%s/item_daily_features.csv", dir);
    write_daily(p, 0);
    static const int64_t uraw[5] = {0, 1, 2, 3, 7}, iraw[5] = {0, 1, 2, 3, 10};
    /* Train: item 0 gets 0.2 and 0.4, item 1 gets 1.0. Valid/test values are wildly different
     * (all 1.0 / 0.0 on items 0, 2, 3) and must not move the averages. */
    static const int tu[3] = {0, 1, 2}, ti[3] = {0, 0, 1};
    static const float tv[3] = {0.2f, 0.4f, 1.0f};
    static const int vu[4] = {0, 1, 2, 3}, vi[4] = {0, 2, 3, 0};
    static const float vv[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    static const int su[3] = {4, 4, 3}, si[3] = {0, 2, 3};
    static const float sv[3] = {0.0f, 0.0f, 0.0f};
    fx_split sp[3] = {{3, tu, ti, tv}, {4, vu, vi, vv}, {3, su, si, sv}};
    snprintf(p, sizeof p, "%s/shards.h5", dir);
    make_shards(p, 5, uraw, 5, iraw, sp);
    return dir;
}

/* Run the program with stderr captured to a per-rank file. Returns the exit status. */
static int run_cap(MPI_Comm comm, const char *tag, char **argv, int argc)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char ep[1400];
    snprintf(ep, sizeof ep, "%s/err-%s-%d.txt", rp_test_tmpdir(), tag, rank);
    fflush(stderr);
    int saved = dup(2), fd = open(ep, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    dup2(fd, 2);
    close(fd);
    int st = features_run(comm, argc, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    rp_log_init("test-mpi", rank, size); /* the run renamed the log prefix */
    return st;
}

/* 1 on every rank if some rank's captured stderr for tag contains s. */
static int err_has(const char *tag, const char *s)
{
    int rank = 0, found = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char ep[1400], buf[8192] = "";
    snprintf(ep, sizeof ep, "%s/err-%s-%d.txt", rp_test_tmpdir(), tag, rank);
    FILE *f = fopen(ep, "rb");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        found = strstr(buf, s) != NULL;
    }
    int local = found;
    MPI_Allreduce(MPI_IN_PLACE, &found, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!found && !local && f)
        fprintf(stderr, "[rank %d] '%s' not in stderr of %s:\n%s\n", rank, s, tag, buf);
    return found;
}

/* Run rp-features on dir (shards from the fixture) writing out; extra options appended. */
static int run_features(MPI_Comm comm, const char *tag, const char *dir, const char *out,
                        const char *const *extra, int nextra)
{
    char shards[1400];
    snprintf(shards, sizeof shards, "%s/shards.h5", fx_dir());
    char *argv[32] = {"rp-features", "--data", (char *)dir, "--shards", shards, "--out",
                      (char *)out};
    int argc = 7;
    for (int k = 0; k < nextra && argc < 31; k++) argv[argc++] = (char *)extra[k];
    argv[argc] = NULL;
    return run_cap(comm, tag, argv, argc);
}

static const char *const std_opts[] = {"--min-author-count", "2", "--smoothing", "2",
                                       "--popularity"};

static int col_index(hid_t f, const char *ds, const char *name)
{
    char **cols = NULL;
    int64_t n = 0;
    int idx = -1;
    if (rp_h5_attr_read_strs(f, ds, "columns", &cols, &n) != RP_OK) return -1;
    for (int64_t c = 0; c < n; c++)
        if (strcmp(cols[c], name) == 0) idx = (int)c;
    rp_h5_strs_free(cols, n);
    return idx;
}

/* Column `name` of a 2-D dataset as int32 (cat) or float (num); NULL when absent. */
static void *read_col(hid_t f, const char *ds, const char *name, int is_num, int64_t *nrows)
{
    void *all = NULL;
    int nd = 0;
    int64_t dims[2] = {0, 0};
    int c = col_index(f, ds, name);
    if (c < 0 || rp_h5_read_all(f, ds, is_num ? RP_F32 : RP_I32, &all, &nd, dims) != RP_OK)
        return NULL;
    size_t esz = 4;
    char *out = malloc((size_t)dims[0] * esz + 4);
    for (int64_t i = 0; i < dims[0]; i++)
        memcpy(out + i * esz, (char *)all + (i * dims[1] + c) * (int64_t)esz, esz);
    free(all);
    *nrows = dims[0];
    return out;
}

static int icol_eq(hid_t f, const char *ds, const char *name, const int32_t *want, int n)
{
    int64_t nr = 0;
    int32_t *v = read_col(f, ds, name, 0, &nr);
    int ok = v != NULL && nr == n;
    for (int i = 0; ok && i < n; i++) ok = v[i] == want[i];
    if (!ok && v) {
        fprintf(stderr, "%s %s:", ds, name);
        for (int i = 0; i < nr; i++) fprintf(stderr, " %d", v[i]);
        fprintf(stderr, "\n");
    }
    free(v);
    return ok;
}

static int fcol_close(hid_t f, const char *ds, const char *name, const double *want, int n)
{
    int64_t nr = 0;
    float *v = read_col(f, ds, name, 1, &nr);
    int ok = v != NULL && nr == n;
    for (int i = 0; ok && i < n; i++) ok = fabs(v[i] - want[i]) <= 1e-6 * (1 + fabs(want[i]));
    if (!ok && v) {
        fprintf(stderr, "%s %s:", ds, name);
        for (int i = 0; i < nr; i++) fprintf(stderr, " %.7g/%.7g", v[i], want[i]);
        fprintf(stderr, "\n");
    }
    free(v);
    return ok;
}

static int card_of(hid_t f, const char *card_ds, const char *cat_ds, const char *name)
{
    int c = col_index(f, cat_ds, name);
    int32_t *card = NULL;
    int nd = 0;
    int64_t dims[2];
    if (c < 0 || rp_h5_read_all(f, card_ds, RP_I32, (void **)&card, &nd, dims) != RP_OK) return -1;
    int v = card[c];
    free(card);
    return v;
}

static void check_users(hid_t f)
{
    const char *U = RP_DS_USER_CAT;
    /* Dense users raw {0,1,2,3,7}; raw 7 has no row (all 0). */
    CU_ASSERT(icol_eq(f, U, "onehot_feat3", (int32_t[]){639, 1022, 403, 282, 0}, 5));
    CU_ASSERT(icol_eq(f, U, "onehot_feat4", (int32_t[]){3, 0, 1, 12, 0}, 5));
    CU_ASSERT(icol_eq(f, U, "onehot_feat17", (int32_t[]){1, 0, 1, 2, 0}, 5));
    CU_ASSERT(icol_eq(f, U, "user_active_degree", (int32_t[]){2, 1, 0, 3, 0}, 5));
    CU_ASSERT(icol_eq(f, U, "is_video_author", (int32_t[]){1, 1, 2, 1, 0}, 5));
    /* follow ranges sorted by bytes: "(0,10]" "(10,50]" "(250,500]" "0" "500+" */
    CU_ASSERT(icol_eq(f, U, "follow_user_num_range", (int32_t[]){1, 3, 2, 4, 0}, 5));
    CU_ASSERT_EQUAL(card_of(f, RP_DS_USER_CAT_CARD, U, "onehot_feat3"), 1077);
    CU_ASSERT_EQUAL(card_of(f, RP_DS_USER_CAT_CARD, U, "user_active_degree"), 4);
    CU_ASSERT_EQUAL(card_of(f, RP_DS_USER_CAT_CARD, U, "follow_user_num_range"), 6);
    /* Min-max over the users in shards only (file row 4 has 5000 follows and is ignored). */
    double m = log1p(386.0);
    CU_ASSERT(fcol_close(f, RP_DS_USER_NUM, "follow_user_num",
                         (double[]){log1p(5.0) / m, 1.0, log1p(27.0) / m, 0.0, 0.0}, 5));
    double r0 = log1p(0.0), r1 = log1p(327.0);
    CU_ASSERT(fcol_close(f, RP_DS_USER_NUM, "register_days",
                         (double[]){(log1p(107.0) - r0) / (r1 - r0), 1.0,
                                    log1p(116.0) / r1, 0.0, 0.0}, 5));
    int64_t miss = -1, ign = -1;
    rp_h5_attr_read(f, U, "users_missing", RP_I64, 1, &miss);
    rp_h5_attr_read(f, U, "user_rows_ignored", RP_I64, 1, &ign);
    CU_ASSERT_EQUAL(miss, 1);
    CU_ASSERT_EQUAL(ign, 2);
}

static void check_items(hid_t f)
{
    const char *I = RP_DS_ITEM_CAT;
    /* Items raw {0,1,2,3,10}. Author: latest row wins (video 0 moved to 101 on 20200801);
     * 101 has 2 videos (kept, code 2), 102/103 one each (rare, 1); video 10 unknown. */
    CU_ASSERT(icol_eq(f, I, "author_id", (int32_t[]){2, 2, 1, 1, 0}, 5));
    CU_ASSERT_EQUAL(card_of(f, RP_DS_ITEM_CAT_CARD, I, "author_id"), 3);
    CU_ASSERT(icol_eq(f, I, "video_type", (int32_t[]){2, 1, 2, 1, 0}, 5));
    CU_ASSERT(icol_eq(f, I, "upload_type", (int32_t[]){3, 1, 2, 3, 0}, 5));
    CU_ASSERT(icol_eq(f, I, "first_level_category", (int32_t[]){1, 2, 0, 1, 0}, 5));
    CU_ASSERT(icol_eq(f, I, "second_level_category", (int32_t[]){0, 3, 3, 2, 0}, 5));
    CU_ASSERT(icol_eq(f, I, "third_level_category", (int32_t[]){0, 2, 0, 0, 0}, 5));
    int32_t *tags = NULL;
    int nd = 0;
    int64_t dims[2] = {0, 0}, card = 0, trunc = 0;
    CU_ASSERT_EQUAL(rp_h5_read_all(f, RP_DS_ITEM_TAGS, RP_I32, (void **)&tags, &nd, dims), RP_OK);
    static const int32_t want[20] = {9, 0, 0, 0, 28, 10, 0, 0, 4, 2, 5, 31, 1, 0, 0, 0, 0, 0, 0, 0};
    CU_ASSERT(dims[0] == 5 && dims[1] == 4 && tags && memcmp(tags, want, sizeof want) == 0);
    free(tags);
    rp_h5_attr_read(f, RP_DS_ITEM_TAGS, "cardinality", RP_I64, 1, &card);
    rp_h5_attr_read(f, RP_DS_ITEM_TAGS, "truncated", RP_I64, 1, &trunc);
    CU_ASSERT_EQUAL(card, 32);
    CU_ASSERT_EQUAL(trunc, 1);
    double lo = log1p(140.0), hi = log1p(315072.0);
    CU_ASSERT(fcol_close(f, RP_DS_ITEM_NUM, "duration",
                         (double[]){(log1p(12000.0) - lo) / (hi - lo), 0.0, 1.0,
                                    (log1p(5000.0) - lo) / (hi - lo), 0.0}, 5));
    /* Train only: mu = (0.2 + 0.4 + 1.0) / 3, smoothing 2. */
    double mu = ((double)0.2f + (double)0.4f + 1.0) / 3.0;
    CU_ASSERT(fcol_close(f, RP_DS_ITEM_NUM, "watch_ratio_avg",
                         (double[]){((double)0.2f + (double)0.4f + 2 * mu) / 4, (1 + 2 * mu) / 3,
                                    mu, mu, mu}, 5));
    double gm = 0;
    rp_h5_attr_read(f, RP_DS_ITEM_NUM, "global_mean", RP_F64, 1, &gm);
    CU_ASSERT(rp_test_close(gm, mu, 1e-12));
    /* show_cnt sums over days: 16, 0, 3, 4; min 0, max log1p(16). */
    double s = log1p(16.0);
    CU_ASSERT(fcol_close(f, RP_DS_ITEM_NUM, "show_cnt",
                         (double[]){1.0, 0.0, log1p(3.0) / s, log1p(4.0) / s, 0.0}, 5));
    int64_t md = -1, ig = -1;
    rp_h5_attr_read(f, I, "items_missing_daily", RP_I64, 1, &md);
    rp_h5_attr_read(f, I, "daily_videos_ignored", RP_I64, 1, &ig);
    CU_ASSERT_EQUAL(md, 1);
    CU_ASSERT_EQUAL(ig, 1);
}

static void features_fixture_round_trip(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *out = rp_test_path("feat-std.h5");
    CU_ASSERT_EQUAL_FATAL(run_features(comm, "std", fx_dir(), out, std_opts, 5), 0);
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, out, &f), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_check_schema(f, out, RP_SCHEMA_FEATURES), RP_OK);
    check_users(f);
    check_items(f);
    rp_h5_close(&f);
}

/* Compare every dataset of two feature files as bytes. */
static int same_datasets(const char *a, const char *b)
{
    static const char *const ds[] = {RP_DS_USER_CAT, RP_DS_USER_CAT_CARD, RP_DS_USER_NUM,
                                     RP_DS_ITEM_CAT, RP_DS_ITEM_CAT_CARD, RP_DS_ITEM_TAGS,
                                     RP_DS_ITEM_NUM};
    hid_t fa = H5I_INVALID_HID, fb = H5I_INVALID_HID;
    int same = rp_h5_open(MPI_COMM_SELF, a, &fa) == RP_OK &&
               rp_h5_open(MPI_COMM_SELF, b, &fb) == RP_OK;
    for (size_t k = 0; same && k < sizeof ds / sizeof ds[0]; k++) {
        void *x = NULL, *y = NULL;
        int na = 0, nb = 0;
        int64_t da[2] = {0, 0}, db[2] = {0, 0};
        rp_dtype t = strstr(ds[k], "num") ? RP_F32 : RP_I32;
        same = rp_h5_read_all(fa, ds[k], t, &x, &na, da) == RP_OK &&
               rp_h5_read_all(fb, ds[k], t, &y, &nb, db) == RP_OK && na == nb &&
               da[0] == db[0] && da[1] == db[1] &&
               memcmp(x, y, (size_t)(da[0] * (na > 1 ? da[1] : 1)) * 4) == 0;
        double mx[2][FEAT_N_POP + 8];
        if (same && t == RP_F32) {
            int64_t k2 = na > 1 ? da[1] : 1;
            same = rp_h5_attr_read(fa, ds[k], "max", RP_F64, k2, mx[0]) == RP_OK &&
                   rp_h5_attr_read(fb, ds[k], "max", RP_F64, k2, mx[1]) == RP_OK &&
                   memcmp(mx[0], mx[1], (size_t)k2 * sizeof(double)) == 0;
        }
        free(x);
        free(y);
    }
    rp_h5_close(&fa);
    rp_h5_close(&fb);
    return same;
}

/* The output of N ranks equals the output of one rank, bit for bit. */
static void features_rank_independent(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const char *outn = rp_test_path("feat-n.h5"), *out1 = rp_test_path("feat-1.h5");
    const char *dir = fx_dir();
    CU_ASSERT_EQUAL(run_features(comm, "n", dir, outn, std_opts, 5), 0);
    int st = 0, same = 0;
    if (rank == 0) {
        st = run_features(MPI_COMM_SELF, "one", dir, out1, std_opts, 5);
        same = st == 0 && same_datasets(outn, out1);
    }
    MPI_Bcast(&same, 1, MPI_INT, 0, comm);
    CU_ASSERT(same);
}

/* A malformed file: exit 65, "file:line:" on stderr, no output and no partial file. */
static void expect_bad(const char *tag, const char *file, const char *text, const char *msg)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    char dir[1300], out[1400], part[1500];
    snprintf(dir, sizeof dir, "%s", rp_test_path(tag));
    mkdir0(dir);
    write_in(dir, "user_features.csv", fx_users);
    write_in(dir, "item_categories.csv", fx_tags);
    write_in(dir, "kuairec_caption_category.csv", fx_caption);
    char p[1400];
    snprintf(p, sizeof p, "%s/item_daily_features.csv", dir);
    write_daily(p, strcmp(file, "daily") == 0);
    if (text) write_in(dir, file, text);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    snprintf(part, sizeof part, "%s.partial", out);
    int st = run_features(comm, tag, dir, out, NULL, 0);
    CU_ASSERT_EQUAL(st, 65);
    CU_ASSERT(err_has(tag, msg));
    CU_ASSERT_EQUAL(access(out, F_OK), -1);
    CU_ASSERT_EQUAL(access(part, F_OK), -1);
}

static void features_malformed_files(void)
{
    /* Line 5 (user 3) has a letter in onehot_feat4. */
    char *u = strdup(fx_users);
    char *p = strstr(u, "281,11,");
    p[4] = 'x';
    expect_bad("bad-user", "user_features.csv", u, "user_features.csv:5: onehot_feat4");
    free(u);
    expect_bad("bad-tags", "item_categories.csv", "video_id,feat\n0,[8]\n1,\"[27, x]\"\n",
               "item_categories.csv:3: feat");
    expect_bad("dup-tags", "item_categories.csv", "video_id,feat\n0,[8]\n1,[2]\n0,[3]\n",
               "item_categories.csv:4: duplicate id 0");
    char cap[2048];
    snprintf(cap, sizeof cap, "%s\n1,\"open quote,x,[],5,A,1,B,1,C\n", feat_caption_header);
    expect_bad("bad-cap", "kuairec_caption_category.csv", cap,
               "kuairec_caption_category.csv:2: unterminated");
    expect_bad("bad-daily", "daily", NULL, "item_daily_features.csv:11: 4 fields, expected 58");
    expect_bad("bad-hdr", "user_features.csv", "user_id,foo\n1,2\n", "user_features.csv:1: header");
}

/* Optional files missing: notice, success, their columns absent. Required missing: 66. */
static void features_optional_and_required(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    char dir[1300], out[1400];
    snprintf(dir, sizeof dir, "%s", rp_test_path("opt"));
    mkdir0(dir);
    write_in(dir, "user_features.csv", fx_users);
    write_in(dir, "item_categories.csv", fx_tags);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    CU_ASSERT_EQUAL(run_features(comm, "opt", dir, out, NULL, 0), 0);
    CU_ASSERT(err_has("opt", "kuairec_caption_category.csv not found"));
    CU_ASSERT(err_has("opt", "item_daily_features.csv not found"));
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, out, &f), RP_OK);
    int nd = 0;
    int64_t dims[2] = {0, 0};
    CU_ASSERT_EQUAL(rp_h5_dims(f, RP_DS_ITEM_CAT, &nd, dims), RP_OK);
    CU_ASSERT(nd == 2 && dims[0] == 5 && dims[1] == 0);
    CU_ASSERT_EQUAL(col_index(f, RP_DS_ITEM_NUM, "duration"), -1);
    CU_ASSERT_EQUAL(col_index(f, RP_DS_ITEM_NUM, "watch_ratio_avg"), 0);
    rp_h5_close(&f);
    char dir2[1300];
    snprintf(dir2, sizeof dir2, "%s", rp_test_path("req"));
    mkdir0(dir2);
    write_in(dir2, "item_categories.csv", fx_tags);
    snprintf(out, sizeof out, "%s/out.h5", dir2);
    CU_ASSERT_EQUAL(run_features(comm, "req", dir2, out, NULL, 0), 66);
    CU_ASSERT(err_has("req", "user_features.csv: cannot open"));
    CU_ASSERT_EQUAL(access(out, F_OK), -1);
}

/* Feature groups switch off: fewer columns, the rest unchanged. */
static void features_groups_switch(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    const char *out = rp_test_path("feat-groups.h5");
    static const char *const opts[] = {"--no-user-onehot", "--no-user-counts", "--no-author",
                                       "--tag-len", "2", "--no-watch-ratio"};
    CU_ASSERT_EQUAL_FATAL(run_features(comm, "grp", fx_dir(), out, opts, 6), 0);
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, out, &f), RP_OK);
    int nd = 0;
    int64_t dims[2] = {0, 0};
    rp_h5_dims(f, RP_DS_USER_CAT, &nd, dims);
    CU_ASSERT_EQUAL(dims[1], 8); /* activity 4 + ranges 4 */
    rp_h5_dims(f, RP_DS_USER_NUM, &nd, dims);
    CU_ASSERT_EQUAL(dims[1], 1); /* register_days */
    rp_h5_dims(f, RP_DS_ITEM_TAGS, &nd, dims);
    CU_ASSERT_EQUAL(dims[1], 2);
    CU_ASSERT_EQUAL(col_index(f, RP_DS_ITEM_CAT, "author_id"), -1);
    CU_ASSERT_EQUAL(col_index(f, RP_DS_ITEM_CAT, "video_type"), 0);
    CU_ASSERT_EQUAL(col_index(f, RP_DS_ITEM_NUM, "watch_ratio_avg"), -1);
    CU_ASSERT_EQUAL(col_index(f, RP_DS_ITEM_NUM, "show_cnt"), -1); /* popularity is off */
    rp_h5_close(&f);
}

/* The real user_features.csv and item_categories.csv through the whole program, with a shards
 * file holding every user and video: cardinalities and missing counts of KUAIREC.md. */
static void features_real_files(void)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    const char *shared = getenv("SHARED");
    char real[2048], up[2100], ip[2100];
    snprintf(real, sizeof real, "%s/data/kuairec-real", shared && *shared ? shared : "../shared");
    snprintf(up, sizeof up, "%s/user_features.csv", real);
    snprintf(ip, sizeof ip, "%s/item_categories.csv", real);
    if (access(up, R_OK) != 0 || access(ip, R_OK) != 0) {
        if (rank == 0) printf("\n    SKIPPED: %s not present (real-data checks)\n", real);
        return;
    }
    enum { NU = 7176, NI = 10728 };
    int64_t *uraw = malloc(NU * sizeof *uraw), *iraw = malloc(NI * sizeof *iraw);
    for (int i = 0; i < NU; i++) uraw[i] = i;
    for (int i = 0; i < NI; i++) iraw[i] = i;
    static const int tu[2] = {0, 1}, ti[2] = {0, 5};
    static const float tv[2] = {0.5f, 0.25f};
    fx_split sp[3] = {{2, tu, ti, tv}, {0, tu, ti, tv}, {0, tu, ti, tv}};
    char dir[1300], shards[1400], out[1400];
    snprintf(dir, sizeof dir, "%s", rp_test_path("real"));
    mkdir0(dir);
    snprintf(shards, sizeof shards, "%s/shards.h5", dir);
    snprintf(out, sizeof out, "%s/features.h5", dir);
    make_shards(shards, NU, uraw, NI, iraw, sp);
    free(uraw);
    free(iraw);
    char *argv[] = {"rp-features", "--data", real, "--shards", shards, "--out", out, NULL};
    CU_ASSERT_EQUAL_FATAL(run_cap(comm, "real", argv, 7), 0);
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(comm, out, &f), RP_OK);
    static const int card[FEAT_N_ONEHOT] = {2, 8, 30, 1076, 12, 10, 3, 47, 340,
                                            7, 5,  3,  2,    2,  2,  2, 2,  2};
    static const int missing[FEAT_N_ONEHOT] = {0, 0, 0, 0, 201, 0, 0, 0, 0,
                                               0, 0, 0, 77, 75, 75, 74, 74, 74};
    for (int k = 0; k < FEAT_N_ONEHOT; k++) {
        int64_t nr = 0, zeros = 0;
        int32_t *v = read_col(f, RP_DS_USER_CAT, feat_onehot_names[k], 0, &nr);
        CU_ASSERT_EQUAL(nr, NU);
        for (int64_t i = 0; v && i < nr; i++) zeros += v[i] == 0;
        free(v);
        CU_ASSERT_EQUAL(zeros, missing[k]);
        CU_ASSERT_EQUAL(card_of(f, RP_DS_USER_CAT_CARD, RP_DS_USER_CAT, feat_onehot_names[k]),
                        card[k] + 1);
    }
    int64_t nr = 0, deg[4] = {0};
    int32_t *d = read_col(f, RP_DS_USER_CAT, "user_active_degree", 0, &nr);
    for (int64_t i = 0; d && i < nr; i++) deg[d[i] & 3]++;
    free(d);
    /* codes: 0 UNKNOWN, 1 full_active, 2 high_active, 3 middle_active */
    CU_ASSERT(deg[0] == 118 && deg[1] == 6092 && deg[2] == 938 && deg[3] == 28);
    int32_t *tags = NULL;
    int nd = 0;
    int64_t dims[2] = {0, 0}, hist[5] = {0};
    CU_ASSERT_EQUAL(rp_h5_read_all(f, RP_DS_ITEM_TAGS, RP_I32, (void **)&tags, &nd, dims), RP_OK);
    for (int64_t i = 0; tags && i < dims[0]; i++) {
        int c = 0;
        for (int64_t j = 0; j < dims[1]; j++) c += tags[i * dims[1] + j] != 0;
        hist[c]++;
    }
    free(tags);
    CU_ASSERT(dims[0] == NI && hist[0] == 0 && hist[1] == 8970 && hist[2] == 1562 &&
              hist[3] == 185 && hist[4] == 11);
    int64_t miss = -1;
    rp_h5_attr_read(f, RP_DS_USER_CAT, "users_missing", RP_I64, 1, &miss);
    CU_ASSERT_EQUAL(miss, 0);
    rp_h5_close(&f);
}

int test_features_mpi_register(void)
{
    RP_ADD_SUITE("features_mpi", RP_T(features_fixture_round_trip),
                 RP_T(features_rank_independent), RP_T(features_malformed_files),
                 RP_T(features_optional_and_required), RP_T(features_groups_switch),
                 RP_T(features_real_files));
    return 0;
}
