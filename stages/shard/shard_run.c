/* shard_run.c - rp-shard's phases in order: read and parse both files, dense ids, user blocks,
 * exchange to user owners, clean and split, train-only normalisation, item blocks, write. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rp_err.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "shard.h"

void shard_state_clear(shard_state *s)
{
    free(s->user_raw);
    free(s->item_raw);
    free(s->user_cuts);
    free(s->item_cuts);
    free(s->item_nnz);
    for (int sp = 0; sp < SHARD_NSPLITS; sp++) free(s->split[sp].pairs);
    shard_opts o = s->opt;
    memset(s, 0, sizeof *s);
    s->opt = o;
}

/* Blocks of n rows with about equal global counts (counts already summed over ranks). Agreed:
 * collective on comm. */
static int weighted_cuts(MPI_Comm comm, const int64_t *counts, int64_t n, int64_t **cuts)
{
    int rc = RP_OK;
    int size = 1;
    int64_t *off = NULL;
    RP_MPI(MPI_Comm_size(comm, &size));
    off = rp_malloc((size_t)(n + 1) * sizeof *off);
    *cuts = rp_malloc((size_t)(size + 1) * sizeof **cuts);
    if (off != NULL && *cuts != NULL) {
        off[0] = 0;
        for (int64_t i = 0; i < n; i++) off[i + 1] = off[i] + counts[i];
        rp_part_weighted(off, n, size, 1.0, *cuts);
    }
    RP_AGREE_LOCAL(comm, off == NULL || *cuts == NULL);
cleanup:
    free(off);
    return rc;
}

static int read_inputs(MPI_Comm comm, shard_state *s, shard_parsed *big, shard_parsed *small)
{
    int rc = RP_OK;
    const shard_opts *o = &s->opt;
    size_t win = (size_t)o->read_kb * 1024;
    RP_CALL(shard_read_file(comm, o->big, 0, o->max_bad_rows, win, big, &s->bad_big,
                            &s->read_big));
    rp_log_info("%s: %lld rows, %lld bad", o->big, (long long)s->read_big, (long long)s->bad_big);
    RP_CALL(shard_read_file(comm, o->small, 1, o->max_bad_rows - s->bad_big, win, small,
                            &s->bad_small, &s->read_small));
    rp_log_info("%s: %lld rows, %lld bad", o->small, (long long)s->read_small,
                (long long)s->bad_small);
    /* The lineage attribute, from the hashes taken while parsing (same as rp_hash_file's). */
    snprintf(s->inputs, sizeof s->inputs, "big=%s sha256=%s\nsmall=%s sha256=%s", o->big,
             big->sha256, o->small, small->sha256);
    s->bytes_parsed = big->bytes + small->bytes;
    RP_CALL(rp_mpi_sum_i64(comm, &s->bytes_parsed, 1));
cleanup:
    return rc;
}


/* Raw ids -> dense, rows counted per user to cut user blocks. Collective. */
static int make_ids(MPI_Comm comm, shard_state *s, shard_parsed *big, shard_parsed *small)
{
    int rc = RP_OK;
    int64_t *cnt = NULL;
    RP_CALL(shard_ids_build(comm, big, small, &s->user_raw, &s->n_users, &s->item_raw,
                            &s->n_items));
    rc = shard_ids_densify(big, s->user_raw, s->n_users, s->item_raw, s->n_items);
    if (rc == RP_OK) rc = shard_ids_densify(small, s->user_raw, s->n_users, s->item_raw, s->n_items);
    RP_AGREE(comm, rc);
    cnt = rp_calloc((size_t)s->n_users + 1, sizeof *cnt);
    RP_AGREE_LOCAL(comm, cnt == NULL);
    const shard_row *b = big->rows, *t = small->rows;
    for (int64_t k = 0; k < big->n; k++) cnt[b[k].user]++;
    for (int64_t k = 0; k < small->n; k++) cnt[t[k].user]++;
    RP_CALL(rp_mpi_sum_i64(comm, cnt, (int)s->n_users));
    RP_CALL(weighted_cuts(comm, cnt, s->n_users, &s->user_cuts));
cleanup:
    free(cnt);
    return rc;
}

/* Move one file's rows to the user owners and clean them into pairs. Takes ownership. */
static int owner_pairs(MPI_Comm comm, shard_state *s, shard_parsed *p, shard_pair **pairs,
                       int64_t *npairs)
{
    int rc = RP_OK;
    shard_row *rows = p->rows;
    int64_t n = p->n, cap = p->cap; /* the reserve's slack takes the rows received */
    p->rows = NULL;
    rc = shard_exchange(comm, &rows, &n, cap, s->user_cuts);
    RP_AGREE(comm, rc);
    rc = shard_aggregate(rows, n, &s->opt, pairs, npairs);
    rows = NULL;
    RP_AGREE(comm, rc);
cleanup:
    free(rows);
    return rc;
}

/* No checkpoint to take: a SIGTERM/SIGUSR1 stops the run between phases with no output. */
static int check_signal(MPI_Comm comm)
{
    int rc = RP_OK;
    if (rp_signal_pending(comm))
        RP_FAIL_USER0(RP_ERR_INTERRUPTED, "interrupted by a signal: no output written, rerun");
cleanup:
    return rc;
}

/* Train-only min-max bounds of the target. Collective. */
static int fit_norm(MPI_Comm comm, shard_state *s)
{
    int rc = RP_OK;
    const shard_split *t = &s->split[SHARD_TRAIN];
    double mm[2] = {-INFINITY, -INFINITY}; /* {-min, max} */
    int64_t n = t->n;
    for (int64_t k = 0; k < t->n; k++) {
        double v = shard_target(t->pairs[k].wr, &s->opt, SHARD_TRAIN);
        if (-v > mm[0]) mm[0] = -v;
        if (v > mm[1]) mm[1] = v;
    }
    RP_CALL(rp_mpi_max_f64(comm, mm, 2));
    RP_CALL(rp_mpi_sum_i64(comm, &n, 1));
    if (n == 0) RP_FAIL_USER0(RP_ERR_DATA, "%s: no training rows left after cleaning", s->opt.big);
    s->norm_min = -mm[0];
    s->norm_max = mm[1];
cleanup:
    return rc;
}

/* Global nnz per (split, item) and the item blocks for the CSC arrays. Collective. */
static int item_blocks(MPI_Comm comm, shard_state *s)
{
    int rc = RP_OK;
    int64_t ni = s->n_items, *tot = NULL;
    int cnt = 0;
    s->item_nnz = rp_calloc((size_t)(SHARD_NSPLITS * ni) + 1, sizeof *s->item_nnz);
    tot = rp_calloc((size_t)ni + 1, sizeof *tot);
    RP_AGREE_LOCAL(comm, s->item_nnz == NULL || tot == NULL);
    RP_CALL(rp_int_cast(ni, &cnt)); /* ni is the same on every rank */
    for (int sp = 0; sp < SHARD_NSPLITS; sp++)
        for (int64_t k = 0; k < s->split[sp].n; k++)
            s->item_nnz[(size_t)sp * (size_t)ni + (size_t)s->split[sp].pairs[k].item]++;
    for (int sp = 0; sp < SHARD_NSPLITS; sp++)
        RP_CALL(rp_mpi_sum_i64(comm, s->item_nnz + (size_t)sp * (size_t)ni, cnt));
    for (int sp = 0; sp < SHARD_NSPLITS; sp++)
        for (int64_t i = 0; i < ni; i++) tot[i] += s->item_nnz[(size_t)sp * (size_t)ni + (size_t)i];
    RP_CALL(weighted_cuts(comm, tot, ni, &s->item_cuts));
cleanup:
    free(tot);
    return rc;
}


/* This process's CPU seconds: on a loaded machine the parse rate per CPU second says more about
 * the parser than the wall clock does. */
static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void summarize(rp_stage *st, const shard_state *s, double parse_secs, double parse_cpu)
{
    static const char *const nm[SHARD_NSPLITS] = {"train", "valid", "test"};
    for (int sp = 0; sp < SHARD_NSPLITS; sp++) {
        const shard_counts *c = &s->split[sp].counts; /* already global */
        char key[32];
        snprintf(key, sizeof key, "%s_read", nm[sp]);
        rp_stage_add(st, key, "%lld", (long long)c->read);
        snprintf(key, sizeof key, "%s_bad", nm[sp]);
        rp_stage_add(st, key, "%lld", (long long)c->bad);
        snprintf(key, sizeof key, "%s_duplicate", nm[sp]);
        rp_stage_add(st, key, "%lld", (long long)c->duplicate);
        snprintf(key, sizeof key, "%s_outlier", nm[sp]);
        rp_stage_add(st, key, "%lld", (long long)c->outlier);
        snprintf(key, sizeof key, "%s_kept", nm[sp]);
        rp_stage_add(st, key, "%lld", (long long)c->kept);
    }
    double mb = (double)s->bytes_parsed / 1e6;
    rp_stage_add(st, "csv_mb", "%.1f", mb);
    rp_stage_add(st, "parse_seconds", "%.2f", parse_secs);
    double per_rank = mb / st->size;
    rp_stage_add(st, "parse_mb_s_per_rank", "%.1f",
                 per_rank / (parse_secs > 0 ? parse_secs : 1e-9));
    rp_stage_add(st, "parse_cpu_mb_s_per_rank", "%.1f",
                 per_rank / (parse_cpu > 0 ? parse_cpu : 1e-9));
    double secs = MPI_Wtime() - st->t0;
    rp_stage_add(st, "mb_s", "%.1f", mb / (secs > 0 ? secs : 1e-9));
}

/* Per-phase wall seconds after parsing (max over ranks at each phase's end: the phases end
 * in collectives, so this is what the run waited for). */
enum { PH_IDS, PH_SPLIT, PH_TEST, PH_HASH, PH_WRITE, SHARD_NPHASES };

static void lap(double *ph, int which, double *tp)
{
    double now = MPI_Wtime();
    ph[which] = now - *tp;
    *tp = now;
}

/* Phase times and the HDF5 write rate on the summary line: the write phase is split into the
 * dataset writes (rp_h5, summed over ranks' bytes, slowest rank's seconds), the close + rename,
 * and the rest (CSR/CSC slices and the by-item exchange). Collective. */
static int phase_summary(rp_stage *st, const shard_state *s, double *ph)
{
    int rc = RP_OK;
    double v[4] = {s->h5_secs, s->commit_secs, (double)s->h5_bytes, cpu_seconds()};
    RP_CALL(rp_mpi_max_f64(st->comm, ph, SHARD_NPHASES));
    RP_CALL(rp_mpi_max_f64(st->comm, v, 2));
    RP_CALL(rp_mpi_sum_f64(st->comm, &v[2], 2));
    static const char *const key[SHARD_NPHASES] = {"ids_seconds", "split_seconds",
                                                   "test_seconds", "prep_seconds",
                                                   "write_seconds"};
    for (int p = 0; p < SHARD_NPHASES; p++) rp_stage_add(st, key[p], "%.2f", ph[p]);
    rp_stage_add(st, "h5_write_seconds", "%.2f", v[0]);
    rp_stage_add(st, "h5_commit_seconds", "%.2f", v[1]);
    rp_stage_add(st, "h5_mb", "%.1f", v[2] / 1e6);
    rp_stage_add(st, "h5_mb_s", "%.1f", v[2] / 1e6 / (v[0] > 0 ? v[0] : 1e-9));
    /* On a shared machine the wall clock measures the neighbours: CPU seconds of all ranks
     * (user + system, MPI start-up included) say what the run itself cost. */
    rp_stage_add(st, "cpu_seconds", "%.2f", v[3]);
cleanup:
    return rc;
}

/* Global copies of the per-split counts for the summary (the attributes sum their own). */
static int global_counts(MPI_Comm comm, shard_state *s, shard_counts *g)
{
    int rc = RP_OK;
    for (int sp = 0; sp < SHARD_NSPLITS; sp++) {
        shard_counts c = s->split[sp].counts;
        int64_t v[6] = {c.read, c.bad, c.duplicate, c.outlier, c.aggregated, c.kept};
        RP_CALL(rp_mpi_sum_i64(comm, v, 6));
        if (sp == SHARD_TRAIN) v[1] = s->bad_big;
        if (sp == SHARD_TEST) v[1] = s->bad_small;
        g[sp] = (shard_counts){v[0] + v[1], v[1], v[2], v[3], v[4], v[5]};
    }
cleanup:
    return rc;
}

int shard_run(rp_stage *st, shard_state *s)
{
    int rc = RP_OK;
    MPI_Comm comm = st->comm;
    shard_parsed big = {0}, small = {0};
    shard_pair *pairs = NULL;
    int64_t np = 0;
    shard_counts g[SHARD_NSPLITS];
    double t0 = MPI_Wtime(), c0 = cpu_seconds();
    RP_CALL(read_inputs(comm, s, &big, &small));
    double parse_cpu = cpu_seconds() - c0; /* the max over ranks, below */
    double parse_secs = rp_wtime_max(comm, t0);
    RP_CALL(rp_mpi_max_f64(comm, &parse_cpu, 1));
    rp_log_debug("parsed: %.2f s (cpu %.2f s), peak %.0f MiB", parse_secs, parse_cpu,
                 rp_peak_rss_mb());
    RP_CALL(check_signal(comm));
    double ph[SHARD_NPHASES] = {0}, tp = MPI_Wtime();
    RP_CALL(make_ids(comm, s, &big, &small));
    lap(ph, PH_IDS, &tp);
    rp_log_debug("ids: %.2f s (cpu %.2f s), peak %.0f MiB", MPI_Wtime() - t0,
                 cpu_seconds() - c0, rp_peak_rss_mb());
    rp_log_info("%lld users, %lld videos; cleaning", (long long)s->n_users, (long long)s->n_items);
    RP_CALL(owner_pairs(comm, s, &big, &pairs, &np));
    rc = shard_split_pairs(pairs, np, &s->opt, &s->split[SHARD_TRAIN], &s->split[SHARD_VALID]);
    pairs = NULL;
    RP_AGREE(comm, rc);
    lap(ph, PH_SPLIT, &tp);
    rp_log_debug("big split: %.2f s (cpu %.2f s), peak %.0f MiB", MPI_Wtime() - t0,
                 cpu_seconds() - c0, rp_peak_rss_mb());
    RP_CALL(owner_pairs(comm, s, &small, &pairs, &np));
    rc = shard_finish_test(pairs, np, &s->split[SHARD_TEST]);
    pairs = NULL;
    RP_AGREE(comm, rc);
    lap(ph, PH_TEST, &tp);
    rp_log_debug("test cleaned: %.2f s (cpu %.2f s), peak %.0f MiB", MPI_Wtime() - t0,
                 cpu_seconds() - c0, rp_peak_rss_mb());
    RP_CALL(check_signal(comm));
    RP_CALL(fit_norm(comm, s));
    RP_CALL(item_blocks(comm, s));
    RP_CALL(check_signal(comm));
    lap(ph, PH_HASH, &tp);
    rp_log_info("writing %s", s->opt.out);
    rp_log_debug("hashed: %.2f s (cpu %.2f s), peak %.0f MiB", MPI_Wtime() - t0,
                 cpu_seconds() - c0, rp_peak_rss_mb());
    RP_CALL(shard_write_output(st, s));
    lap(ph, PH_WRITE, &tp);
    rp_log_debug("written: %.2f s (cpu %.2f s), peak %.0f MiB", MPI_Wtime() - t0,
                 cpu_seconds() - c0, rp_peak_rss_mb());
    RP_CALL(global_counts(comm, s, g));
    for (int sp = 0; sp < SHARD_NSPLITS; sp++) s->split[sp].counts = g[sp];
    summarize(st, s, parse_secs, parse_cpu);
    RP_CALL(phase_summary(st, s, ph));
cleanup:
    free(pairs);
    shard_parsed_clear(&big);
    shard_parsed_clear(&small);
    return rc;
}
