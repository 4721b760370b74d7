/* synth_tables.c - the seven KuaiRec 2.0 tables and truth.h5: one formatter per table (rows of
 * one user or one video), driven by synth_write_table. Formats follow ../shared/KUAIREC.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_h5.h"
#include "rp_inputs.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_rng.h"
#include "rp_schema.h"
#include "synth.h"
#include "synth_meta.h"
#include "synth_model.h"

/* truth.h5 datasets, in this order in row_ctx.dset */
#define TRUTH_NDSETS 5
static const char *const truth_names[TRUTH_NDSETS] = {"/user_raw", "/item_raw",
                                                      "/" RP_TRUTH_EXPECTED,
                                                      "/" RP_TRUTH_CLIPPED,
                                                      "/" RP_TRUTH_CLIPPED_TRAIN};

typedef struct row_ctx {
    synth_row *rows;
    size_t cap, n;
    int64_t nrows;           /* rows formatted by this rank */
    /* truth rows of the current chunk (small matrix) */
    int64_t *t_user, *t_item;
    double *t_exp, *t_clip, *t_clip_train;
    size_t t_n, t_cap;
    hid_t file, dset[TRUTH_NDSETS];
    int64_t t_base;
} row_ctx;

static void put_interaction(synth_buf *b, const synth_model *m, int64_t u, const synth_row *r)
{
    int64_t dur = m->i_dur[r->item];
    synth_put_i64(b, m->u_raw[u]);
    synth_put_ch(b, ',');
    synth_put_i64(b, m->i_raw[r->item]);
    synth_put_ch(b, ',');
    synth_put_i64(b, r->play);
    synth_put_ch(b, ',');
    synth_put_i64(b, dur);
    synth_put_ch(b, ',');
    if (r->ts_ms >= 0) {
        synth_put_time(b, r->ts_ms);
        synth_put_ch(b, ',');
        synth_put_ymd(b, r->ts_ms, r->shift);
        synth_put_ch(b, ',');
        synth_put_ts(b, r->ts_ms);
        synth_put_ch(b, ',');
    } else {
        synth_put_str(b, ",,,");
    }
    /* watch_ratio = play / duration rounded to 6 decimals (integer arithmetic: exact) */
    synth_put_micro(b, ((int64_t)r->play * 2000000 + dur) / (2 * dur));
    synth_put_ch(b, '\n');
}

static int big_unit(const synth_model *m, int64_t u, synth_buf *b, void *vctx)
{
    int rc = RP_OK;
    row_ctx *c = vctx;
    RP_CALL(synth_user_big(m, u, &c->rows, &c->cap, &c->n));
    RP_CALL(synth_buf_reserve(b, c->n * 96));
    for (size_t k = 0; k < c->n; k++) put_interaction(b, m, u, &c->rows[k]);
    c->nrows += (int64_t)c->n;
cleanup:
    return rc;
}

static int grow_truth(row_ctx *c, size_t extra)
{
    if (c->t_n + extra <= c->t_cap) return RP_OK;
    size_t nc = (c->t_n + extra) * 2;
    int64_t *a = realloc(c->t_user, nc * sizeof *a);
    if (a) c->t_user = a;
    int64_t *bb = realloc(c->t_item, nc * sizeof *bb);
    if (bb) c->t_item = bb;
    double *e = realloc(c->t_exp, nc * sizeof *e);
    if (e) c->t_exp = e;
    double *ec = realloc(c->t_clip, nc * sizeof *ec);
    if (ec) c->t_clip = ec;
    double *et = realloc(c->t_clip_train, nc * sizeof *et);
    if (et) c->t_clip_train = et;
    if (!a || !bb || !e || !ec || !et) return RP_ERR_NOMEM;
    c->t_cap = nc;
    return RP_OK;
}

static int small_unit(const synth_model *m, int64_t su, synth_buf *b, void *vctx)
{
    int rc = RP_OK;
    row_ctx *c = vctx;
    int64_t u = m->small_users[su];
    RP_CALL(synth_user_small(m, su, &c->rows, &c->cap, &c->n));
    RP_CALL(synth_buf_reserve(b, c->n * 96));
    RP_CALL(grow_truth(c, c->n));
    for (size_t k = 0; k < c->n; k++) {
        put_interaction(b, m, u, &c->rows[k]);
        c->t_user[c->t_n] = m->u_raw[u];
        c->t_item[c->t_n] = m->i_raw[c->rows[k].item];
        c->t_exp[c->t_n] = c->rows[k].expect;
        c->t_clip[c->t_n] = c->rows[k].expect_clipped;
        c->t_clip_train[c->t_n++] = c->rows[k].expect_clipped_train;
    }
    c->nrows += (int64_t)c->n;
cleanup:
    return rc;
}

/* Collective per round: this chunk's truth rows go to rows [t_base + exscan, ...). */
static int truth_round(void *vctx, int64_t chunk, int have)
{
    int rc = RP_OK;
    row_ctx *c = vctx;
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    int64_t off = 0, total = (int64_t)c->t_n;
    MPI_Comm comm = MPI_COMM_WORLD;
    (void)chunk;
    (void)have;
    RP_CALL(rp_mpi_exscan_i64(comm, (int64_t)c->t_n, &off));
    RP_CALL(rp_mpi_sum_i64(comm, &total, 1));
    RP_H5(dxpl = H5Pcreate(H5P_DATASET_XFER));
    RP_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
    hsize_t n = c->t_n, start = (hsize_t)(c->t_base + off), one = 1;
    RP_H5(ms = H5Screate_simple(1, n ? &n : &one, NULL));
    if (n == 0) RP_H5(H5Sselect_none(ms));
    const void *bufs[TRUTH_NDSETS] = {c->t_user, c->t_item, c->t_exp, c->t_clip,
                                      c->t_clip_train};
    hid_t types[TRUTH_NDSETS] = {H5T_NATIVE_INT64, H5T_NATIVE_INT64, H5T_NATIVE_DOUBLE,
                                 H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE};
    for (int k = 0; k < TRUTH_NDSETS; k++) {
        RP_H5(fs = H5Dget_space(c->dset[k]));
        if (n) RP_H5(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &n, NULL));
        else RP_H5(H5Sselect_none(fs));
        RP_H5(H5Dwrite(c->dset[k], types[k], ms, fs, dxpl, bufs[k]));
        H5Sclose(fs);
        fs = H5I_INVALID_HID;
    }
    c->t_base += total;
    c->t_n = 0;
cleanup:
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (dxpl >= 0) H5Pclose(dxpl);
    return rp_mpi_agree(comm, rc);
}

/* Lineage of --side files for truth.h5's "inputs" attribute (empty without --side). */
static int side_inputs(MPI_Comm comm, const synth_model *m, char *buf, size_t cap)
{
    int rc = RP_OK;
    static const char *const names[2] = {"user_features.csv", "item_categories.csv"};
    buf[0] = '\0';
    for (int k = 0; m->side && k < 2; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", m->side, names[k]);
        RP_CALL(rp_inputs_lineage(comm, buf, cap, names[k], path));
    }
cleanup:
    return rc;
}

static int truth_open(rp_stage *st, const char *dir, const synth_model *m, row_ctx *c,
                      int64_t *n_total)
{
    int rc = RP_OK;
    char path[4096], inputs[9000];
    hid_t space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
    int64_t off, cnt, total = 0;
    /* the row count first (cheap: only the missing-cell draws), so the datasets have their
     * final size and each round writes its hyperslab */
    rp_part_even(m->n_small_users, st->size, st->rank, &off, &cnt);
    for (int64_t s = off; s < off + cnt; s++) total += synth_small_count(m, s);
    RP_CALL(rp_mpi_sum_i64(st->comm, &total, 1));
    snprintf(path, sizeof path, "%s/truth.h5", dir);
    RP_CALL(rp_h5_create(st->comm, path, &c->file));
    RP_CALL(side_inputs(st->comm, m, inputs, sizeof inputs));
    RP_CALL(rp_stage_stamp(st, c->file, RP_SCHEMA_TRUTH, RP_SCHEMA_VERSION, inputs));
    RP_CALL(rp_h5_attr_write(c->file, "/", RP_TRUTH_CLIP_MAX, RP_F64, 1, &m->clip_max));
    hsize_t dims = (hsize_t)total;
    RP_H5(space = H5Screate_simple(1, &dims, NULL));
    RP_H5(dcpl = H5Pcreate(H5P_DATASET_CREATE));
    RP_H5(H5Pset_obj_track_times(dcpl, 0));
    RP_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
    hid_t types[TRUTH_NDSETS] = {H5T_STD_I64LE, H5T_STD_I64LE, H5T_IEEE_F64LE, H5T_IEEE_F64LE,
                                 H5T_IEEE_F64LE};
    for (int k = 0; k < TRUTH_NDSETS; k++)
        RP_H5(c->dset[k] = H5Dcreate2(c->file, truth_names[k], types[k], space, H5P_DEFAULT,
                                      dcpl, H5P_DEFAULT));
    *n_total = total;
cleanup:
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    return rp_mpi_agree(st->comm, rc);
}

static void row_ctx_clear(row_ctx *c)
{
    free(c->rows);
    free(c->t_user);
    free(c->t_item);
    free(c->t_exp);
    free(c->t_clip);
    free(c->t_clip_train);
}

/* Units per chunk: about 256k rows (bounded memory whatever the number of users, few rounds
 * of collectives), and at least 4 chunks per rank when there are enough units (balance). The
 * bytes written do not depend on it. */
static int64_t chunk_units(int64_t n_units, double rows_per_unit, int size)
{
    int64_t c = (int64_t)(262144.0 / (rows_per_unit > 1 ? rows_per_unit : 1));
    int64_t balance = (n_units + 4LL * size - 1) / (4LL * size);
    if (c > balance) c = balance;
    return c < 1 ? 1 : c;
}

static void close_dsets(row_ctx *c)
{
    for (int k = 0; k < TRUTH_NDSETS; k++) {
        if (c->dset[k] >= 0) H5Dclose(c->dset[k]);
        c->dset[k] = H5I_INVALID_HID;
    }
}

static int write_interactions(rp_stage *st, const synth_opts *o, const synth_model *m)
{
    int rc = RP_OK;
    row_ctx big = {.file = H5I_INVALID_HID}, small = {.file = H5I_INVALID_HID};
    int64_t n_small = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/truth.h5", o->out);
    for (int k = 0; k < TRUTH_NDSETS; k++) big.dset[k] = small.dset[k] = H5I_INVALID_HID;
    rp_log_info("big_matrix.csv: %lld users x %lld videos", (long long)m->n_users,
                (long long)m->n_items);
    RP_CALL(synth_write_table(st->comm, o->out, "big_matrix.csv", SYNTH_HDR_BIG, m->n_users,
                              chunk_units(m->n_users, 1746.0 * m->density, st->size), m,
                              big_unit, NULL, &big, NULL));
    RP_CALL(rp_mpi_sum_i64(st->comm, &big.nrows, 1));
    rp_stage_add(st, "big_rows", "%lld", (long long)big.nrows);
    rp_log_info("small_matrix.csv: %lld users x %lld videos", (long long)m->n_small_users,
                (long long)m->n_small_items);
    RP_CALL(truth_open(st, o->out, m, &small, &n_small));
    rc = synth_write_table(st->comm, o->out, "small_matrix.csv", SYNTH_HDR_SMALL,
                           m->n_small_users,
                           chunk_units(m->n_small_users, (double)m->n_small_items, st->size), m,
                           small_unit, truth_round, &small, NULL);
    /* every rank saw the same t_base (sums of the rounds), so this verdict is shared */
    if (rc == RP_OK && small.t_base != n_small)
        RP_FAIL(RP_ERR_INTERNAL, "truth rows %lld != counted %lld", (long long)small.t_base,
                (long long)n_small);
    rp_stage_add(st, "small_rows", "%lld", (long long)n_small);
cleanup:
    close_dsets(&small); /* the MPI-IO driver closes a file only when its objects are closed */
    if (small.file >= 0) rc = rp_h5_commit(st->comm, &small.file, path, rc);
    row_ctx_clear(&big);
    row_ctx_clear(&small);
    return rc;
}

int synth_write_all(rp_stage *st, const synth_opts *o, const synth_model *m)
{
    int rc = RP_OK;
    char src[4096];
    if (m->side) {
        snprintf(src, sizeof src, "%s/user_features.csv", m->side);
        RP_CALL(synth_copy_file(st->comm, src, o->out, "user_features.csv"));
        snprintf(src, sizeof src, "%s/item_categories.csv", m->side);
        RP_CALL(synth_copy_file(st->comm, src, o->out, "item_categories.csv"));
    } else {
        RP_CALL(synth_write_table(st->comm, o->out, "user_features.csv", SYNTH_HDR_USERS,
                                  m->n_users, 1024, m, synth_users_unit, NULL, NULL, NULL));
        RP_CALL(synth_write_table(st->comm, o->out, "item_categories.csv", SYNTH_HDR_ITEMS,
                                  m->n_items, 2048, m, synth_items_unit, NULL, NULL, NULL));
    }
    RP_CALL(synth_write_table(st->comm, o->out, "social_network.csv", SYNTH_HDR_SOCIAL,
                              m->n_social, 1024, m, synth_social_unit, NULL, NULL, NULL));
    RP_CALL(synth_write_table(st->comm, o->out, "kuairec_caption_category.csv",
                              SYNTH_HDR_CAPTION, m->n_items, 1024, m, synth_caption_unit, NULL,
                              NULL, NULL));
    RP_CALL(synth_write_table(st->comm, o->out, "item_daily_features.csv", SYNTH_HDR_DAILY,
                              m->n_items, 256, m, synth_daily_unit, NULL, NULL, NULL));
    RP_CALL(write_interactions(st, o, m));
cleanup:
    return rc;
}
