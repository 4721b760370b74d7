/* eval_score.c - rp-eval's scoring: each rank predicts its test users' pairs, computes per-user
 * sums and ranking metrics, and the per-user rows are gathered in user order so the reductions
 * (summed in user order on every rank) do not depend on the number of ranks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "rp_err.h"
#include "rp_log.h"
#include "rp_mpi.h"

/* Per-user row: sums first, then the ranking metrics. */
enum { S_N, S_AE, S_SE, S_AE_RAW, S_SE_RAW, S_AE_TRUTH, S_SE_TRUTH, S_N_TRUTH, S_RANK };
/* ranking block: ndcg, ndcg_raw, precision, recall (nk each), auc */
#define N_RANKED 4
#define ROW_WIDTH(nk) (S_RANK + N_RANKED * (nk) + 1)

static char name_pool[64][32];

int eval_metric_names(const eval_opts *o, const char **names, int cap)
{
    int n = 0, pool = 0;
    static const char *fixed[] = {"mae", "rmse", "mae_raw", "rmse_raw"};
    for (int j = 0; j < 4 && n < cap; j++) names[n++] = fixed[j];
    static const char *ranked[N_RANKED] = {"ndcg", "ndcg_raw", "precision", "recall"};
    for (int r = 0; r < N_RANKED; r++)
        for (int j = 0; j < o->nk && n < cap && pool < 64; j++) {
            snprintf(name_pool[pool], sizeof name_pool[0], "%s@%d", ranked[r], o->k[j]);
            names[n++] = name_pool[pool++];
        }
    if (n < cap) names[n++] = "auc";
    for (int j = 0; j < o->nk && n < cap && pool < 64; j++) {
        snprintf(name_pool[pool], sizeof name_pool[0], "coverage@%d", o->k[j]);
        names[n++] = name_pool[pool++];
    }
    if (n < cap) names[n++] = "mae_vs_truth_raw";
    if (n < cap) names[n++] = "rmse_vs_truth_raw";
    if (n < cap) names[n++] = "gap_share";
    return n;
}

int eval_count_names(const char **names, int cap)
{
    static const char *c[] = {"test_pairs", "test_users", "users_ndcg", "users_recall",
                              "users_auc", "truth_pairs"};
    int n = 0;
    for (; n < 6 && n < cap; n++) names[n] = c[n];
    return n;
}

/* Normalised and raw predictions of this rank's test pairs for entry e. */
static int predict(const eval_test *t, const eval_entry *e, float *pn, double *praw)
{
    int rc = RP_OK;
    int32_t *users = NULL;
    int64_t nz = t->off[t->nu];
    double span = t->norm_max - t->norm_min;
    if (e->model == NULL) { /* the noise-free truth (of either regime) */
        for (int64_t z = 0; z < nz; z++) {
            double c = fmin(fmax(e->expect[z], t->norm_min), t->norm_max);
            pn[z] = (float)((c - t->norm_min) / span);
            praw[z] = e->expect[z];
        }
        goto cleanup;
    }
    RP_ALLOC(users = malloc((size_t)(nz > 0 ? nz : 1) * sizeof *users));
    for (int64_t u = 0; u < t->nu; u++)
        for (int64_t z = t->off[u]; z < t->off[u + 1]; z++) users[z] = (int32_t)(t->u0 + u);
    RP_CALL(rp_model_score_pairs(e->model, users, t->item, nz, pn));
    for (int64_t z = 0; z < nz; z++) {
        if (!isfinite(pn[z]))
            RP_FAIL_USER(RP_ERR_DATA, "%s: model %s predicts %g for user %d, item %d (NaN or "
                         "infinite factors?)", e->source, e->name, pn[z], users[z], t->item[z]);
        praw[z] = t->norm_min + (double)pn[z] * span;
    }
cleanup:
    free(users);
    return rc;
}

/* Row of user u (local index): error sums in file order, then ranking metrics. Marks the top-k
 * items of the user in cover[j * n_items + item]. The truth row (is_truth) is ranked by its
 * unclamped expectation, so values above norm_max do not tie. */
static int user_row(const eval_opts *o, const eval_test *t, int64_t u, int is_truth,
                    const float *pn, const double *praw, eval_item *scratch, unsigned char *cover,
                    double *row)
{
    int rc = RP_OK;
    int64_t a = t->off[u], n = t->off[u + 1] - a;
    double span = t->norm_max - t->norm_min;
    memset(row, 0, (size_t)ROW_WIDTH(o->nk) * sizeof *row);
    for (int64_t z = a; z < a + n; z++) {
        double e = (double)pn[z] - (double)t->value[z], er = praw[z] - (double)t->watch[z];
        row[S_N] += 1.0;
        row[S_AE] += fabs(e);
        row[S_SE] += e * e;
        row[S_AE_RAW] += fabs(er);
        row[S_SE_RAW] += er * er;
        if (t->truth != NULL) {
            double et = praw[z] - t->truth[z];
            row[S_AE_TRUTH] += fabs(et);
            row[S_SE_TRUTH] += et * et;
            row[S_N_TRUTH] += 1.0;
        }
        double key = is_truth ? (praw[z] - t->norm_min) / span : (double)pn[z];
        scratch[z - a] = (eval_item){key, t->watch[z], t->item[z]};
    }
    eval_user_rank r;
    eval_rank_opts ro = {o->k, o->nk, o->like_threshold, t->gain_max};
    RP_CALL(eval_rank_user(scratch, n, &ro, &r));
    for (int j = 0; j < o->nk; j++) {
        row[S_RANK + j] = r.ndcg[j];
        row[S_RANK + o->nk + j] = r.ndcg_raw[j];
        row[S_RANK + 2 * o->nk + j] = r.precision[j];
        row[S_RANK + 3 * o->nk + j] = r.recall[j];
        for (int64_t x = 0; x < n && x < o->k[j]; x++)
            cover[(int64_t)j * t->n_items + scratch[x].item] = 1;
    }
    row[S_RANK + N_RANKED * o->nk] = r.auc;
cleanup:
    return rc;
}

/* All users' rows in user order on every rank. Collective. */
static int gather_user_rows(MPI_Comm comm, const eval_test *t, int width, const double *local,
                            double *full)
{
    int rc = RP_OK, size = 1, rank = 0;
    int *cnt = NULL, *dsp = NULL;
    RP_MPI(MPI_Comm_size(comm, &size));
    RP_MPI(MPI_Comm_rank(comm, &rank));
    cnt = rp_malloc((size_t)size * sizeof *cnt);
    dsp = rp_malloc((size_t)size * sizeof *dsp);
    RP_AGREE_LOCAL(comm, cnt == NULL || dsp == NULL);
    for (int p = 0; p < size; p++) {
        RP_CALL(rp_int_cast((t->cuts[p + 1] - t->cuts[p]) * width, &cnt[p]));
        RP_CALL(rp_int_cast(t->cuts[p] * width, &dsp[p]));
    }
    RP_MPI(MPI_Allgatherv(local, cnt[rank], MPI_DOUBLE, full, cnt, dsp, MPI_DOUBLE, comm));
cleanup:
    free(cnt);
    free(dsp);
    return rc;
}

/* Mean of column c over users where it is defined (not NaN); *n how many. In user order. */
static double user_mean(const double *rows, int64_t n_users, int width, int c, int64_t *n)
{
    double s = 0.0;
    *n = 0;
    for (int64_t u = 0; u < n_users; u++) {
        double v = rows[u * width + c];
        if (!isnan(v)) {
            s += v;
            (*n)++;
        }
    }
    return *n > 0 ? s / (double)*n : NAN;
}

/* Final metrics and counts of one entry from the gathered rows and coverage bitmaps. */
static void finish_entry(const eval_opts *o, const eval_test *t, const double *rows,
                         const unsigned char *cover, double *met, int64_t *cnt)
{
    int w = ROW_WIDTH(o->nk), nk = o->nk, c = 0;
    double sum[S_RANK] = {0};
    int64_t users = 0, nd = 0;
    for (int64_t u = 0; u < t->n_users; u++) {
        for (int s = 0; s < S_RANK; s++) sum[s] += rows[u * w + s];
        users += rows[u * w + S_N] > 0;
    }
    double n = sum[S_N], nt = sum[S_N_TRUTH];
    met[c++] = n > 0 ? sum[S_AE] / n : NAN;
    met[c++] = n > 0 ? sqrt(sum[S_SE] / n) : NAN;
    met[c++] = n > 0 ? sum[S_AE_RAW] / n : NAN;
    met[c++] = n > 0 ? sqrt(sum[S_SE_RAW] / n) : NAN;
    for (int j = 0; j < N_RANKED * nk; j++)
        met[c++] = user_mean(rows, t->n_users, w, S_RANK + j, &nd);
    int64_t n_ndcg = 0, n_rec = 0, n_auc = 0;
    user_mean(rows, t->n_users, w, S_RANK, &n_ndcg);
    user_mean(rows, t->n_users, w, S_RANK + 3 * nk, &n_rec);
    met[c++] = user_mean(rows, t->n_users, w, S_RANK + N_RANKED * nk, &n_auc);
    for (int j = 0; j < nk; j++) {
        int64_t hit = 0;
        for (int64_t i = 0; i < t->n_items; i++) hit += cover[(int64_t)j * t->n_items + i];
        met[c++] = (double)hit / (double)t->n_items;
    }
    met[c++] = nt > 0 ? sum[S_AE_TRUTH] / nt : NAN;
    met[c++] = nt > 0 ? sqrt(sum[S_SE_TRUTH] / nt) : NAN;
    met[c++] = NAN; /* gap_share: filled once every entry is scored */
    int64_t out[6] = {(int64_t)n, users, n_ndcg, n_rec, n_auc, (int64_t)nt};
    memcpy(cnt, out, sizeof out);
}

/* Per-entry work buffers, allocated once for all entries: a prediction array of every test
 * pair per entry came back as fresh pages each time (tens of MB per entry; their first touch was
 * ~20% of rp-eval's CPU at full size). */
typedef struct score_bufs {
    float *pn;
    double *praw, *local, *full;
    eval_item *scratch;
    unsigned char *cover;
} score_bufs;

static void score_bufs_clear(score_bufs *b)
{
    free(b->pn);
    free(b->praw);
    free(b->scratch);
    free(b->local);
    free(b->full);
    free(b->cover);
    memset(b, 0, sizeof *b);
}

/* Returns 1 if an allocation failed (b is then cleared). Local. */
static int score_bufs_alloc(const eval_opts *o, const eval_test *t, score_bufs *b)
{
    int w = ROW_WIDTH(o->nk);
    int64_t nz = t->off[t->nu], maxn = 1;
    for (int64_t u = 0; u < t->nu; u++)
        if (t->off[u + 1] - t->off[u] > maxn) maxn = t->off[u + 1] - t->off[u];
    b->pn = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *b->pn);
    b->praw = rp_malloc((size_t)(nz > 0 ? nz : 1) * sizeof *b->praw);
    b->scratch = rp_malloc((size_t)maxn * sizeof *b->scratch);
    b->local = rp_malloc((size_t)((t->nu > 0 ? t->nu : 1) * w) * sizeof *b->local);
    b->full = rp_malloc((size_t)(t->n_users * w) * sizeof *b->full);
    b->cover = rp_malloc((size_t)(o->nk * t->n_items > 0 ? o->nk * t->n_items : 1));
    int nomem = !b->pn || !b->praw || !b->scratch || !b->local || !b->full || !b->cover;
    if (nomem) score_bufs_clear(b);
    return nomem;
}

/* Score entry e: local rows, gather, coverage union, final numbers. Collective. b: the work
 * buffers, or all NULL after a failed allocation on this rank (agreed on here). */
static int score_entry(MPI_Comm comm, const eval_opts *o, const eval_test *t, const eval_entry *e,
                       score_bufs *b, double *met, int64_t *cnt)
{
    int rc = RP_OK, w = ROW_WIDTH(o->nk), ncov = 0;
    /* Local phase: failures (memory, a non-finite prediction on this rank's users) flow to
     * the one RP_AGREE below so every rank makes the same collective calls. */
    int nomem = b->pn == NULL;
    if (!nomem) {
        memset(b->cover, 0, (size_t)(o->nk * t->n_items));
        rc = predict(t, e, b->pn, b->praw);
    }
    char what[128];
    rp_progress pg;
    snprintf(what, sizeof what, "ranking %s", e->name);
    rp_progress_begin(&pg, what, t->nu, "users"); /* rank 0's block of users */
    for (int64_t u = 0; u < t->nu && rc == RP_OK && !nomem; u++) {
        rc = user_row(o, t, u, e->model == NULL, b->pn, b->praw, b->scratch, b->cover,
                      b->local + u * w);
        rp_progress_update(&pg, u + 1);
    }
    rp_progress_end(&pg);
    RP_AGREE_LOCAL(comm, nomem);
    RP_CALL(gather_user_rows(comm, t, w, b->local, b->full));
    RP_CALL(rp_int_cast(o->nk * t->n_items, &ncov));
    /* A union of 0/1 flags: MAX is exact, so coverage is rank-count independent too. */
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, b->cover, ncov, MPI_UNSIGNED_CHAR, MPI_MAX, comm));
    finish_entry(o, t, b->full, b->cover, met, cnt);
cleanup:
    return rp_mpi_agree(comm, rc);
}

/* The gap_share column: each row's share of the bias-to-truth test MSE gap (normalised scale;
 * MSE = rmse^2, column 1). NaN without a bias or truth row. */
static void fill_gap_share(eval_state *s)
{
    int bias = -1, truth = -1, col = s->n_metrics - 1;
    for (int k = 0; k < s->n_entries; k++) {
        if (s->entries[k].model == NULL && strcmp(s->entries[k].name, "truth") == 0) truth = k;
        else if (strcmp(s->entries[k].name, "bias") == 0 && s->entries[k].source[0] == '\0')
            bias = k;
    }
    for (int k = 0; k < s->n_entries; k++) {
        double *met = s->metrics + (int64_t)k * s->n_metrics;
        if (bias < 0 || truth < 0) { met[col] = NAN; continue; }
        double rb = s->metrics[(int64_t)bias * s->n_metrics + 1];
        double rt = s->metrics[(int64_t)truth * s->n_metrics + 1];
        met[col] = eval_gap_share(rb * rb, met[1] * met[1], rt * rt);
    }
}

int eval_score_all(MPI_Comm comm, const eval_opts *o, eval_state *s)
{
    int rc = RP_OK;
    score_bufs bufs = {0};
    const char *names[64];
    s->n_metrics = eval_metric_names(o, names, 64);
    s->n_counts = eval_count_names(names, 64);
    s->metrics = rp_malloc((size_t)(s->n_entries * s->n_metrics) * sizeof *s->metrics);
    s->counts = rp_malloc((size_t)(s->n_entries * s->n_counts) * sizeof *s->counts);
    RP_AGREE_LOCAL(comm, s->metrics == NULL || s->counts == NULL);
    score_bufs_alloc(o, &s->test, &bufs); /* a failure is agreed on in score_entry */
    for (int k = 0; k < s->n_entries; k++) {
        double *met = s->metrics + (int64_t)k * s->n_metrics, t0 = MPI_Wtime();
        RP_CALL(score_entry(comm, o, &s->test, &s->entries[k], &bufs, met,
                            s->counts + (int64_t)k * s->n_counts));
        rp_log_info("%-12s rmse=%.4f mae=%.4f ndcg@%d=%.4f ndcg_raw@%d=%.4f (%.2f s)",
                    s->entries[k].name, met[1], met[0], o->k[0], met[4], o->k[0],
                    met[4 + o->nk], MPI_Wtime() - t0);
    }
    fill_gap_share(s);
cleanup:
    score_bufs_clear(&bufs);
    return rp_mpi_agree(comm, rc);
}
