/* eval_load.c - rp-eval inputs: options, this rank's block of test users from shards.h5, the
 * noise-free truth aligned with it (truth.h5 from rp-synth), baselines and model files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "eval_pairs.h"
#include "rp_args.h"
#include "rp_baseline.h"
#include "rp_linreg.h"
#include "rp_csr.h"
#include "rp_err.h"
#include "rp_fault.h"
#include "rp_h5.h"
#include "rp_inputs.h"
#include "rp_log.h"
#include "rp_model_hybrid.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_schema.h"
#include "rp_shards.h"

static int parse_k_list(const char *s, eval_opts *o)
{
    int rc = RP_OK;
    const char *p = s;
    o->nk = 0;
    while (*p) {
        char *end = NULL;
        long k = strtol(p, &end, 10);
        if (end == p || k <= 0 || k > 100000 || o->nk == EVAL_MAX_K || (*end && *end != ','))
            RP_FAIL_USER0(RP_ERR_USAGE,
                          "--k-list '%s': expected up to %d positive integers separated by ','",
                          s, EVAL_MAX_K);
        o->k[o->nk++] = (int)k;
        p = *end ? end + 1 : end;
    }
    if (o->nk == 0) RP_FAIL_USER0(RP_ERR_USAGE, "--k-list is empty");
cleanup:
    return rc;
}

int eval_parse(int argc, char **argv, eval_opts *o)
{
    int rc = RP_OK;
    static const rp_cmd cmd = {
        "rp-eval",
        "Score baselines and trained models on the test split: accuracy, ranking, coverage.",
        "Inputs: shards.h5 (required); features.h5 (linear regression), als.h5, twotower.h5,\n"
        "hybrid.h5, truth.h5 when they exist (missing ones are skipped with a notice).\n"
        "Outputs: eval.h5, and report.json, report.md, plots/*.png in --report-dir.\n"};
    memset(o, 0, sizeof *o);
    o->k_list = "10,50";
    o->like_threshold = 2.0;
    o->bias_reg = 10.0;
    o->ridge = 1.0;
    o->max_card = 2000;
    o->plots = 1;
    o->gnuplot = "gnuplot";
    rp_arg args[] = {
        {"shards", RP_ARG_STR, &o->shards, "FILE", "shards.h5 (train for baselines, test)", NULL},
        {"features", RP_ARG_STR, &o->features, "FILE", "features.h5 for the linear regression",
         NULL},
        {"als", RP_ARG_STR, &o->als, "FILE", "ALS model file", NULL},
        {"twotower", RP_ARG_STR, &o->twotower, "FILE", "two-tower model file", NULL},
        {"hybrid", RP_ARG_STR, &o->hybrid, "FILE",
         "hybrid model file; FILE#variant picks a variant; a comma list gives several rows",
         NULL},
        {"seqrec", RP_ARG_STR, &o->seqrec, "FILE",
         "sequential model file: rows <name> (per-pair /test_pred) and <name>-final (/score)",
         NULL},
        {"truth", RP_ARG_STR, &o->truth, "FILE", "truth.h5 (noise-free expected watch ratio)",
         NULL},
        {"out", RP_ARG_STR, &o->out, "FILE", "output eval.h5", NULL},
        {"report-dir", RP_ARG_STR, &o->report_dir, "DIR",
         "report folder (default: dir of --out)", NULL},
        {"k-list", RP_ARG_STR, &o->k_list, "K,K", "cut-offs of the ranking metrics", NULL},
        {"like-threshold", RP_ARG_DBL, &o->like_threshold, "X", "like = watch_ratio > X", NULL},
        {"bias-reg", RP_ARG_DBL, &o->bias_reg, "X", "regularisation of the bias baseline", NULL},
        {"ridge", RP_ARG_DBL, &o->ridge, "X", "ridge penalty of the linear regression", NULL},
        {"max-cardinality", RP_ARG_INT, &o->max_card, "N",
         "linear regression: skip categorical columns with more levels", NULL},
        {"plots", RP_ARG_FLAG, &o->plots, NULL, "draw PNG plots with gnuplot", NULL},
        {"gnuplot", RP_ARG_STR, &o->gnuplot, "PROG", "gnuplot program (searched in PATH)", NULL},
    };
    RP_CALL(rp_args_parse(argc, argv, &cmd, args, (int)(sizeof args / sizeof args[0])));
    if (o->shards == NULL || o->out == NULL)
        RP_FAIL_USER0(RP_ERR_USAGE, "--shards and --out are required (try rp-eval --help)");
    if (o->bias_reg < 0 || o->ridge < 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "--bias-reg and --ridge must be >= 0");
    RP_CALL(parse_k_list(o->k_list, o));
cleanup:
    return rc;
}

static int read_block_arrays(MPI_Comm comm, hid_t f, eval_test *t, int64_t z0, int64_t nz,
                             const char *path)
{
    int rc = RP_OK;
    t->item = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *t->item);
    t->value = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *t->value);
    t->watch = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *t->watch);
    RP_AGREE_LOCAL(comm, t->item == NULL || t->value == NULL || t->watch == NULL);
    RP_CALL(rp_h5_read(f, RP_SPLIT_TEST "/" RP_DS_BY_USER_ITEM, RP_I32, z0, nz, t->item));
    RP_CALL(rp_h5_read(f, RP_SPLIT_TEST "/" RP_DS_BY_USER_VALUE, RP_F32, z0, nz, t->value));
    RP_CALL(rp_h5_read(f, RP_SPLIT_TEST "/" RP_DS_BY_USER_WATCH, RP_F32, z0, nz, t->watch));
    for (int64_t z = 0; z < nz; z++) {
        if (t->item[z] < 0 || t->item[z] >= t->n_items || !isfinite(t->value[z]) ||
            !isfinite(t->watch[z]))
            RP_FAIL_USER(RP_ERR_DATA, "%s: test entry %lld: item %d outside [0, %lld) or value "
                         "not finite", path, (long long)(z0 + z), t->item[z],
                         (long long)t->n_items);
    }
cleanup:
    return rc;
}

/* The NDCG gain clip, OUTLIER_MAX as rp-shard recorded it (outlier_threshold; a file
 * without it, not from rp-shard, falls back to norm_max), and the outlier rule. */
static int read_outlier_attrs(MPI_Comm comm, hid_t f, const char *path, eval_test *t)
{
    int rc = RP_OK, rank = 0;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    t->gain_max = t->norm_max;
    if (rp_h5_attr_exists(f, "/", "outlier_threshold") > 0)
        RP_CALL(rp_h5_attr_read(f, "/", "outlier_threshold", RP_F64, 1, &t->gain_max));
    else if (rank == 0)
        rp_log_warn("%s: no outlier_threshold attribute: NDCG gains clipped at norm_max %g",
                    path, t->norm_max);
    if (rp_h5_attr_exists(f, "/", "outlier_rule") > 0)
        RP_CALL(rp_h5_attr_read_str(f, "/", "outlier_rule", t->outlier_rule,
                                    sizeof t->outlier_rule));
    if (!(t->gain_max > 0) || !isfinite(t->gain_max))
        RP_FAIL_USER0(RP_ERR_DATA, "%s: outlier_threshold %g: must be a finite number > 0",
                      path, t->gain_max);
cleanup:
    return rc;
}

/* Root attributes and the test CSR block of this rank. */
static int read_test(MPI_Comm comm, hid_t f, const char *path, eval_test *t)
{
    int rc = RP_OK, rank = 0, size = 1;
    int64_t *off = NULL;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    RP_CALL(rp_shards_read_header(f, path, &t->n_users, &t->n_items));
    RP_CALL(rp_h5_attr_read(f, "/", "norm_min", RP_F64, 1, &t->norm_min));
    RP_CALL(rp_h5_attr_read(f, "/", "norm_max", RP_F64, 1, &t->norm_max));
    if (!(t->norm_max > t->norm_min))
        RP_FAIL_USER0(RP_ERR_DATA, "%s: bad root attributes norm_min/norm_max", path);
    RP_CALL(read_outlier_attrs(comm, f, path, t));
    RP_CALL(rp_csr_read_offsets(f, RP_SPLIT_TEST "/by_user", "item", t->n_users, &off,
                                &t->nnz_global));
    t->cuts = rp_malloc((size_t)(size + 1) * sizeof *t->cuts);
    RP_AGREE_LOCAL(comm, t->cuts == NULL);
    rp_part_weighted(off, t->n_users, size, 1.0, t->cuts);
    t->u0 = t->cuts[rank];
    t->nu = t->cuts[rank + 1] - t->u0;
    t->off = rp_malloc((size_t)(t->nu + 1) * sizeof *t->off);
    RP_AGREE_LOCAL(comm, t->off == NULL);
    for (int64_t r = 0; r <= t->nu; r++) t->off[r] = off[t->u0 + r] - off[t->u0];
    RP_CALL(read_block_arrays(comm, f, t, off[t->u0], t->off[t->nu], path));
cleanup:
    free(off);
    return rp_mpi_agree(comm, rc);
}

/* A truth row on its way to the rank owning its user. */
typedef struct truth_rec {
    int32_t u, i;
    double e;
} truth_rec;

/* Dense index of raw id v in the sorted ids[n], or -1. */
static int32_t dense_of(const int64_t *ids, int64_t n, int64_t v)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < v) lo = mid + 1; else hi = mid;
    }
    return lo < n && ids[lo] == v ? (int32_t)lo : -1;
}

void eval_idmap_init(eval_idmap *m, const int64_t *ids, int64_t n)
{
    memset(m, 0, sizeof *m);
    m->ids = ids;
    m->n = n;
    /* sorted: the unsigned difference is the true span, whatever the ids' signs */
    if (n <= 0 || (uint64_t)ids[n - 1] - (uint64_t)ids[0] > (uint64_t)(4 * n + 1024)) return;
    m->lo = ids[0];
    m->span = (int64_t)((uint64_t)ids[n - 1] - (uint64_t)ids[0]) + 1;
    m->tab = malloc((size_t)m->span * sizeof *m->tab); /* NULL: the search still works */
    if (m->tab == NULL) return;
    for (int64_t k = 0; k < m->span; k++) m->tab[k] = -1;
    for (int64_t k = 0; k < n; k++) m->tab[ids[k] - m->lo] = (int32_t)k;
}

int32_t eval_idmap_get(const eval_idmap *m, int64_t v)
{
    if (m->tab == NULL) return dense_of(m->ids, m->n, v);
    return (uint64_t)v - (uint64_t)m->lo < (uint64_t)m->span ? m->tab[v - m->lo] : -1;
}

void eval_idmap_clear(eval_idmap *m)
{
    free(m->tab);
    memset(m, 0, sizeof *m);
}

/* Read an even block of truth rows and map raw ids to dense ones (unknown ids dropped).
 * Out: *recs, *n (records grouped by destination rank, *per[p] each). */
static int truth_block(MPI_Comm comm, hid_t shards, hid_t tf, const char *path,
                       const char *dset, const eval_test *t, truth_rec **recs, int64_t *per)
{
    int rc = RP_OK, rank = 0, size = 1, nd = 0;
    int64_t *uraw = NULL, *iraw = NULL, *ru = NULL, *ri = NULL, *pos = NULL, ud[2], id[2], d[3][2];
    int *own = NULL;
    eval_idmap um = {0}, im = {0};
    double *e = NULL;
    truth_rec *out = NULL;
    *recs = NULL;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    RP_CALL(rp_h5_read_all(shards, RP_DS_USER_RAW, RP_I64, (void **)&uraw, &nd, ud));
    RP_CALL(rp_h5_read_all(shards, RP_DS_ITEM_RAW, RP_I64, (void **)&iraw, &nd, id));
    RP_CALL(rp_h5_dims(tf, "/user_raw", &nd, d[0]));
    RP_CALL(rp_h5_dims(tf, "/item_raw", &nd, d[1]));
    RP_CALL(rp_h5_dims(tf, dset, &nd, d[2]));
    if (d[0][0] != d[1][0] || d[0][0] != d[2][0] || ud[0] != t->n_users || id[0] != t->n_items)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: /user_raw, /item_raw, %s lengths differ (or shards "
                      "ids do not match n_users/n_items)", path, dset);
    int64_t off = 0, n = 0;
    rp_part_even(d[0][0], size, rank, &off, &n);
    ru = rp_malloc((size_t)(n + 1) * sizeof *ru);
    ri = rp_malloc((size_t)(n + 1) * sizeof *ri);
    e = rp_malloc((size_t)(n + 1) * sizeof *e);
    out = rp_malloc((size_t)(n + 1) * sizeof *out);
    RP_AGREE_LOCAL(comm, ru == NULL || ri == NULL || e == NULL || out == NULL);
    RP_CALL(rp_h5_read(tf, "/user_raw", RP_I64, off, n, ru));
    RP_CALL(rp_h5_read(tf, "/item_raw", RP_I64, off, n, ri));
    RP_CALL(rp_h5_read(tf, dset, RP_F64, off, n, e));
    for (int p = 0; p < size; p++) per[p] = 0;
    int64_t m = 0;
    eval_idmap_init(&um, uraw, ud[0]);
    eval_idmap_init(&im, iraw, id[0]);
    for (int64_t k = 0; k < n; k++) {
        int32_t u = eval_idmap_get(&um, ru[k]), i = eval_idmap_get(&im, ri[k]);
        if (!isfinite(e[k]))
            RP_FAIL_USER(RP_ERR_DATA, "%s: %s[%lld] is not finite", path, dset,
                         (long long)(off + k));
        if (u < 0 || i < 0) continue;
        out[m++] = (truth_rec){u, i, e[k]};
    }
    free(ru); /* the block's raw columns are in out now: keep the peak at one copy */
    free(ri);
    free(e);
    ru = ri = NULL;
    e = NULL;
    /* Group by owner rank (a stable counting sort: the receivers need no order). */
    RP_ALLOC(own = malloc((size_t)(m + 1) * sizeof *own));
    RP_ALLOC(*recs = malloc((size_t)(m + 1) * sizeof **recs));
    for (int64_t k = 0; k < m; k++) per[own[k] = rp_part_owner(t->cuts, size, out[k].u)]++;
    RP_ALLOC(pos = malloc((size_t)size * sizeof *pos));
    for (int64_t p = 0, at = 0; p < size; at += per[p], p++) pos[p] = at;
    for (int64_t k = 0; k < m; k++) (*recs)[pos[own[k]]++] = out[k];
cleanup:
    eval_idmap_clear(&um);
    eval_idmap_clear(&im);
    free(uraw);
    free(iraw);
    free(ru);
    free(ri);
    free(e);
    free(out);
    free(own);
    free(pos);
    if (rc != RP_OK) {
        free(*recs);
        *recs = NULL;
    }
    return rp_mpi_agree(comm, rc);
}

/* Put received truth records (any order) on the local test pairs: *out (allocated here) is
 * aligned with them, NaN where no record matched. The records are grouped by local user with a
 * counting sort, then each user's test items are found through an item -> position map (no
 * O(n log n) sort of the 4.7M pairs). A pair twice is an error; records of pairs outside the
 * test split are ignored. */
static int truth_attach(const eval_test *t, const truth_rec *r, int64_t n, const char *path,
                        double **out)
{
    int rc = RP_OK;
    int64_t nz = t->off[t->nu], *start = NULL, *order = NULL, *at = NULL;
    int32_t *seen = NULL;
    double *truth = NULL;
    RP_ALLOC(truth = malloc((size_t)(nz > 0 ? nz : 1) * sizeof *truth));
    RP_ALLOC(start = calloc((size_t)(t->nu + 1), sizeof *start));
    RP_ALLOC(order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order));
    RP_ALLOC(at = malloc((size_t)(t->n_items > 0 ? t->n_items : 1) * sizeof *at));
    RP_ALLOC(seen = malloc((size_t)(t->n_items > 0 ? t->n_items : 1) * sizeof *seen));
    for (int64_t z = 0; z < nz; z++) truth[z] = NAN;
    for (int64_t i = 0; i < t->n_items; i++) at[i] = -1, seen[i] = -1;
    for (int64_t b = 0; b < n; b++) start[r[b].u - t->u0 + 1]++;
    for (int64_t u = 0; u < t->nu; u++) start[u + 1] += start[u];
    for (int64_t b = 0; b < n; b++) order[start[r[b].u - t->u0]++] = b;
    for (int64_t u = t->nu; u > 0; u--) start[u] = start[u - 1]; /* back to the starts */
    start[0] = 0;
    for (int64_t u = 0; u < t->nu; u++) {
        for (int64_t z = t->off[u]; z < t->off[u + 1]; z++) at[t->item[z]] = z;
        for (int64_t x = start[u]; x < start[u + 1]; x++) {
            const truth_rec *q = &r[order[x]];
            if (seen[q->i] == (int32_t)u)
                RP_FAIL_USER(RP_ERR_DATA, "%s: pair (user %d, item %d) (dense) appears twice",
                             path, q->u, q->i);
            seen[q->i] = (int32_t)u;
            if (at[q->i] >= 0) truth[at[q->i]] = q->e;
        }
        for (int64_t z = t->off[u]; z < t->off[u + 1]; z++) at[t->item[z]] = -1;
    }
    *out = truth;
    truth = NULL;
cleanup:
    free(truth);
    free(start);
    free(order);
    free(at);
    free(seen);
    return rc;
}

/* Which truth dataset the truth row predicts with: /expected_clipped, E[min(wr, clip_max)],
 * the best predictor of the clipped target, when its clip_max is the shards' gain_max; else
 * (an older truth.h5, or another clip point) E[wr], with a warning. Collective (reads). */
static int truth_choose(MPI_Comm comm, hid_t tf, const char *path, eval_test *t,
                        const char **dset)
{
    int rc = RP_OK, rank = 0;
    double clip = NAN;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    *dset = "/" RP_TRUTH_EXPECTED;
    int have = rp_h5_exists(tf, "/" RP_TRUTH_CLIPPED) &&
               rp_h5_attr_exists(tf, "/", RP_TRUTH_CLIP_MAX) > 0;
    if (have) RP_CALL(rp_h5_attr_read(tf, "/", RP_TRUTH_CLIP_MAX, RP_F64, 1, &clip));
    if (have && clip == t->gain_max) {
        *dset = "/" RP_TRUTH_CLIPPED;
    } else if (rank == 0 && have) {
        rp_log_warn("%s: clip_max %g is not the shards' outlier threshold %g: the truth row "
                    "uses E[watch ratio] (rerun rp-synth with --clip-max %g)", path, clip,
                    t->gain_max, t->gain_max);
    } else if (rank == 0) {
        rp_log_warn("%s: no /%s (made before it existed): the truth row uses E[watch ratio], "
                    "not the best predictor of the clipped target (rerun rp-synth)", path,
                    RP_TRUTH_CLIPPED);
    }
    snprintf(t->truth_target, sizeof t->truth_target, "%s", *dset + 1);
cleanup:
    return rc;
}

/* Send each row of truth dataset dset to its user's owner, attach it to the local test pairs
 * (*out, allocated here), and require every test pair covered. Collective. */
static int read_truth_dset(MPI_Comm comm, hid_t shards, hid_t tf, const char *path,
                           const char *dset, eval_test *t, double **out)
{
    int rc = RP_OK, size = 1;
    truth_rec *recs = NULL;
    void *in = NULL;
    int64_t *sc = NULL, *sd = NULL, *rcn = NULL, *rd = NULL, nin = 0;
    RP_MPI(MPI_Comm_size(comm, &size));
    sc = rp_calloc((size_t)size, sizeof *sc);
    sd = rp_calloc((size_t)size, sizeof *sd);
    rcn = rp_calloc((size_t)size, sizeof *rcn);
    rd = rp_calloc((size_t)size, sizeof *rd);
    RP_AGREE_LOCAL(comm, sc == NULL || sd == NULL || rcn == NULL || rd == NULL);
    RP_CALL(truth_block(comm, shards, tf, path, dset, t, &recs, sc));
    for (int p = 0; p < size; p++) {
        sc[p] *= (int64_t)sizeof(truth_rec);
        sd[p] = p ? sd[p - 1] + sc[p - 1] : 0;
    }
    RP_CALL(rp_mpi_alltoallv_bytes(comm, recs, sc, sd, &in, rcn, rd, &nin));
    nin /= (int64_t)sizeof(truth_rec);
    rc = truth_attach(t, in, nin, path, out); /* local: a duplicate fails on its owner only */
    RP_AGREE(comm, rc);
    int64_t missing = 0;
    for (int64_t z = 0; z < t->off[t->nu]; z++) missing += isnan((*out)[z]) != 0;
    RP_CALL(rp_mpi_sum_i64(comm, &missing, 1));
    if (missing > 0)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %lld of %lld test pairs have no expected value "
                      "(truth of another dataset?)", path, (long long)missing,
                      (long long)t->nnz_global);
cleanup:
    free(recs);
    free(in);
    free(sc);
    free(sd);
    free(rcn);
    free(rd);
    return rp_mpi_agree(comm, rc);
}

/* The truth row's dataset, and the truth-train-regime row's when truth.h5 has it for the same
 * clip point (the expectation a perfect learner of the training target predicts). Collective. */
static int read_truth(MPI_Comm comm, hid_t shards, const char *path, eval_test *t)
{
    int rc = RP_OK;
    hid_t tf = H5I_INVALID_HID;
    const char *dset = NULL;
    RP_CALL(rp_h5_open(comm, path, &tf));
    RP_CALL(rp_h5_check_schema(tf, path, RP_SCHEMA_TRUTH));
    RP_CALL(truth_choose(comm, tf, path, t, &dset));
    RP_CALL(read_truth_dset(comm, shards, tf, path, dset, t, &t->truth));
    if (strcmp(dset, "/" RP_TRUTH_CLIPPED) == 0 && rp_h5_exists(tf, "/" RP_TRUTH_CLIPPED_TRAIN))
        RP_CALL(read_truth_dset(comm, shards, tf, path, "/" RP_TRUTH_CLIPPED_TRAIN, t,
                                &t->truth_train));
cleanup:
    rp_h5_close(&tf);
    return rp_mpi_agree(comm, rc);
}

int eval_load_test(MPI_Comm comm, const eval_opts *o, eval_test *t)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    double t0 = MPI_Wtime();
    memset(t, 0, sizeof *t);
    RP_CALL(rp_h5_open(comm, o->shards, &f));
    RP_CALL(read_test(comm, f, o->shards, t));
    if (o->truth != NULL && rp_inputs_exists(comm, o->truth)) {
        RP_CALL(read_truth(comm, f, o->truth, t));
    } else if (o->truth != NULL) {
        rp_log_info("notice: %s does not exist: no comparison with the noise-free truth",
                    o->truth);
    }
    rp_log_info("test split: %lld pairs, %lld users (%.2f s)", (long long)t->nnz_global,
                (long long)t->n_users, MPI_Wtime() - t0);
cleanup:
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

static int add_entry(eval_state *s, const char *name, rp_model *m, const char *source)
{
    int rc = RP_OK;
    RP_REQUIRE(s->n_entries < EVAL_MAX_MODELS, RP_ERR_INTERNAL, "too many models");
    eval_entry *e = &s->entries[s->n_entries++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->model = m;
    snprintf(e->source, sizeof e->source, "%s", source ? source : "");
cleanup:
    return rc;
}

/* Lineage line of one input in s->inputs (variants of one file: hashed once). Collective. */
static int add_input(MPI_Comm comm, eval_state *s, const char *role, const char *path)
{
    return rp_inputs_lineage(comm, s->inputs, sizeof s->inputs, role, path);
}

/* "hybrid.h5#concat" -> "hybrid.h5": the file part of a model spec (the '#' suffix names a
 * variant of a hybrid file, resolved by rp_model_load). */
static void spec_file(const char *spec, char *file, size_t cap)
{
    snprintf(file, cap, "%s", spec);
    char *hash = strrchr(file, '#'), *slash = strrchr(file, '/');
    if (hash != NULL && (slash == NULL || hash > slash)) *hash = '\0';
}

/* A unique row name: name, or name-2, name-3, ... when taken. */
static void unique_name(const eval_state *s, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s", name);
    for (int n = 2, taken = 1; taken; n++) {
        taken = 0;
        for (int k = 0; k < s->n_entries; k++) taken |= strcmp(s->entries[k].name, out) == 0;
        if (taken) snprintf(out, cap, "%.50s-%d", name, n);
    }
}

/* Load one model spec: skipped with a notice when its file is absent, an error when it is
 * malformed or mismatched. */
static int load_model_spec(MPI_Comm comm, const eval_test *t, eval_state *s, const char *role,
                           const char *spec)
{
    int rc = RP_OK;
    rp_model *m = NULL;
    char file[4096], name[64];
    spec_file(spec, file, sizeof file);
    if (!rp_inputs_exists(comm, file)) {
        rp_log_info("notice: %s does not exist: %s skipped", file, role);
        goto cleanup;
    }
    RP_CALL(rp_model_load(comm, spec, t->n_users, t->n_items, &m));
    RP_CALL(add_input(comm, s, role, file));
    unique_name(s, m->name[0] ? m->name : role, name, sizeof name);
    RP_CALL(add_entry(s, name, m, file));
    m = NULL;
    rp_model_split_variant(spec, file, sizeof file, s->entries[s->n_entries - 1].variant,
                           sizeof s->entries[0].variant);
cleanup:
    rp_model_destroy(&m);
    return rp_mpi_agree(comm, rc);
}

/* A model file with per-pair test predictions: two rows, "<name>" from /test_pred and
 * "<name>-final" from its dot form (a file without /test_pred: the dot form only). */
static int load_pairs_file(MPI_Comm comm, const eval_opts *o, eval_state *s, const char *role,
                           const char *file)
{
    int rc = RP_OK;
    rp_model *m = NULL;
    char name[64];
    if (file == NULL) return RP_OK;
    if (!rp_inputs_exists(comm, file)) {
        rp_log_info("notice: %s does not exist: %s skipped", file, role);
        return RP_OK;
    }
    RP_CALL(load_model_spec(comm, &s->test, s, role, file));
    if (!eval_pairs_has(comm, file)) goto cleanup;
    rp_model *dot = s->entries[s->n_entries - 1].model;
    snprintf(s->entries[s->n_entries - 1].name, sizeof s->entries[0].name, "%.50s-final",
             dot->name);
    RP_CALL(eval_pairs_load(comm, file, o->shards, s->test.n_users, s->test.n_items, s->test.u0,
                            s->test.nu, &m));
    unique_name(s, m->name, name, sizeof name);
    RP_CALL(add_entry(s, name, m, file));
    m = NULL;
cleanup:
    rp_model_destroy(&m);
    return rp_mpi_agree(comm, rc);
}

/* A model option is a comma-separated list of specs (file or file#variant), each one row. */
static int load_model_file(MPI_Comm comm, const eval_test *t, eval_state *s, const char *role,
                           const char *list)
{
    int rc = RP_OK;
    char spec[4096];
    for (const char *p = list; p != NULL && *p;) {
        size_t l = strcspn(p, ",");
        snprintf(spec, sizeof spec, "%.*s", (int)l, p);
        if (spec[0]) RP_CALL(load_model_spec(comm, t, s, role, spec));
        p += l + (p[l] == ',');
    }
cleanup:
    return rp_mpi_agree(comm, rc);
}

static int load_baselines(MPI_Comm comm, const eval_opts *o, eval_state *s)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID, ff = H5I_INVALID_HID;
    rp_model *m[5] = {NULL};
    int nm = 0;
    RP_CALL(rp_h5_open(comm, o->shards, &f));
    RP_CALL(rp_baseline_global_mean(comm, f, &m[nm++]));
    RP_CALL(rp_baseline_user_mean(comm, f, &m[nm++]));
    RP_CALL(rp_baseline_item_mean(comm, f, &m[nm++]));
    RP_CALL(rp_baseline_bias(comm, f, o->bias_reg, &m[nm++]));
    if (o->features != NULL && rp_inputs_exists(comm, o->features)) {
        rp_linreg_opts lo = {o->ridge, o->max_card};
        RP_CALL(rp_h5_open(comm, o->features, &ff));
        RP_CALL(rp_h5_check_schema(ff, o->features, RP_SCHEMA_FEATURES));
        RP_CALL(rp_linreg_fit(comm, f, ff, &lo, &m[nm++]));
        RP_CALL(add_input(comm, s, "features", o->features));
    } else if (o->features != NULL) {
        rp_log_info("notice: %s does not exist: linear regression skipped", o->features);
    }
    for (int k = 0; k < nm; k++) {
        RP_CALL(add_entry(s, m[k]->name, m[k], NULL));
        m[k] = NULL;
    }
cleanup:
    for (int k = 0; k < nm; k++) rp_model_destroy(&m[k]);
    rp_h5_close(&ff);
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

int eval_load_baselines(MPI_Comm comm, const eval_opts *o, eval_state *s)
{
    int rc = RP_OK;
    double t0 = MPI_Wtime();
    RP_CALL(add_input(comm, s, "shards", o->shards));
    rp_log_info("fitting baselines on %s", o->shards);
    RP_CALL(load_baselines(comm, o, s));
    rp_log_info("baselines fitted (%.2f s with input hashing)", MPI_Wtime() - t0);
cleanup:
    return rp_mpi_agree(comm, rc);
}

int eval_load_models(MPI_Comm comm, const eval_opts *o, eval_state *s)
{
    int rc = RP_OK;
    RP_CALL(load_model_file(comm, &s->test, s, "als", o->als));
    RP_CALL(load_model_file(comm, &s->test, s, "twotower", o->twotower));
    RP_CALL(load_model_file(comm, &s->test, s, "hybrid", o->hybrid));
    RP_CALL(load_pairs_file(comm, o, s, "seqrec", o->seqrec));
    if (s->test.truth != NULL) {
        RP_CALL(add_entry(s, "truth", NULL, o->truth));
        s->entries[s->n_entries - 1].expect = s->test.truth;
        RP_CALL(add_input(comm, s, "truth", o->truth));
    }
    if (s->test.truth_train != NULL) {
        RP_CALL(add_entry(s, EVAL_TRUTH_TRAIN, NULL, o->truth));
        s->entries[s->n_entries - 1].expect = s->test.truth_train;
    }
cleanup:
    return rp_mpi_agree(comm, rc);
}

void eval_state_clear(eval_state *s)
{
    for (int k = 0; k < s->n_entries; k++) rp_model_destroy(&s->entries[k].model);
    eval_test *t = &s->test;
    free(t->off);
    free(t->item);
    free(t->value);
    free(t->watch);
    free(t->truth);
    free(t->truth_train);
    free(t->cuts);
    free(s->metrics);
    free(s->counts);
    memset(s, 0, sizeof *s);
}
