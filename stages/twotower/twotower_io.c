/* twotower_io.c - atomic checkpoints (model, Adam moments, best copy, history, position in the
 * epoch) and the twotower.h5 output (scores, tower outputs, weights, history). rp-twotower. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "twotower.h"

void twotower_config_string(const tt_opts *o, char *buf, size_t cap)
{
    snprintf(buf, cap, "dim=%d emb_dim=%d hidden=%s output=%s loss=%s huber_delta=%.17g "
             "user_id=%d item_id=%d seed=%lld batch=%d micro_batch=%d lr=%.17g "
             "weight_decay=%.17g", o->dim,
             o->emb_dim, o->hidden, o->output, o->loss, o->huber_delta, o->user_id, o->item_id,
             (long long)o->seed, o->batch, o->micro_batch, o->lr, o->weight_decay);
}

/* Write a replicated float/double/int64 vector or matrix. */
static int put(MPI_Comm comm, hid_t f, const char *name, rp_dtype t, int64_t rows, int64_t cols,
               const void *buf)
{
    int64_t g[2] = {rows, cols};
    return rp_h5_write_replicated(comm, f, name, t, cols > 0 ? 2 : 1, g, buf);
}

static int write_hist(MPI_Comm comm, hid_t f, const tt_hist *h, int64_t len)
{
    int rc = RP_OK;
    RP_CALL(put(comm, f, "/history/epoch", RP_I64, len, 0, h->epoch));
    RP_CALL(put(comm, f, "/history/train_rmse", RP_F64, len, 0, h->train_rmse));
    RP_CALL(put(comm, f, "/history/train_mae", RP_F64, len, 0, h->train_mae));
    RP_CALL(put(comm, f, "/history/valid_rmse", RP_F64, len, 0, h->valid_rmse));
    RP_CALL(put(comm, f, "/history/valid_mae", RP_F64, len, 0, h->valid_mae));
    RP_CALL(put(comm, f, "/history/seconds", RP_F64, len, 0, h->seconds));
cleanup:
    return rc;
}

int twotower_checkpoint_write(MPI_Comm comm, const tt_opts *o, const tt_data *d,
                              const tt_train *tr)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    const tt_model *m = &tr->m;
    char cfg[1024];
    int64_t ctr[6] = {tr->t, tr->epoch, tr->step, tr->best_epoch, tr->bad_epochs, tr->hist.n};
    double acc[5] = {tr->best_mae, tr->ep_sse, tr->ep_sae, tr->ep_n, tr->ep_seconds};
    int64_t hl = o->epochs > 0 ? o->epochs : 1;
    twotower_config_string(o, cfg, sizeof cfg);
    RP_CALL(rp_h5_create(comm, o->checkpoint, &f));
    RP_CALL(put(comm, f, "/dense", RP_F32, m->n_dense, 0, m->dense));
    RP_CALL(put(comm, f, "/emb", RP_F32, m->n_rows, m->E, m->emb));
    RP_CALL(put(comm, f, "/adam/m_dense", RP_F32, m->n_dense, 0, tr->m_dense));
    RP_CALL(put(comm, f, "/adam/v_dense", RP_F32, m->n_dense, 0, tr->v_dense));
    RP_CALL(put(comm, f, "/adam/m_emb", RP_F32, m->n_rows, m->E, tr->m_emb));
    RP_CALL(put(comm, f, "/adam/v_emb", RP_F32, m->n_rows, m->E, tr->v_emb));
    RP_CALL(put(comm, f, "/best/dense", RP_F32, m->n_dense, 0, tr->best_dense));
    RP_CALL(put(comm, f, "/best/emb", RP_F32, m->n_rows, m->E, tr->best_emb));
    RP_CALL(write_hist(comm, f, &tr->hist, hl));
    RP_CALL(rp_h5_attr_write_str(f, "/", "config", cfg));
    RP_CALL(rp_h5_attr_write_str(f, "/", "inputs", d->inputs));
    RP_CALL(rp_h5_attr_write(f, "/", "counters", RP_I64, 6, ctr));
    RP_CALL(rp_h5_attr_write(f, "/", "accumulators", RP_F64, 5, acc));
cleanup:
    return rp_h5_commit(comm, &f, o->checkpoint, rc);
}

void twotower_checkpoint_remove(MPI_Comm comm, const tt_opts *o)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) unlink(o->checkpoint);
}

/* Read a replicated dataset of exactly n elements of type t into dst. */
static int get(hid_t f, const char *path, const char *name, rp_dtype t, int64_t n, void *dst)
{
    int rc = RP_OK;
    void *buf = NULL;
    int nd = 0;
    int64_t d[2] = {0, 1};
    RP_CALL(rp_h5_read_all(f, name, t, &buf, &nd, d));
    if (d[0] * (nd == 2 ? d[1] : 1) != n)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has the wrong size for this model", path, name);
    memcpy(dst, buf, (size_t)n * rp_dtype_size(t));
cleanup:
    free(buf);
    return rc;
}

static int read_hist(hid_t f, const char *path, tt_hist *h, int64_t n)
{
    int rc = RP_OK;
    const char *names[6] = {"epoch", "train_rmse", "train_mae", "valid_rmse", "valid_mae",
                            "seconds"};
    void *dst[6] = {h->epoch, h->train_rmse, h->train_mae, h->valid_rmse, h->valid_mae,
                    h->seconds};
    for (int k = 0; k < 6; k++) {
        char name[64];
        void *buf = NULL;
        int nd = 0;
        int64_t d[2] = {0, 1};
        snprintf(name, sizeof name, "/history/%s", names[k]);
        RP_CALL(rp_h5_read_all(f, name, k == 0 ? RP_I64 : RP_F64, &buf, &nd, d));
        if (d[0] < n) {
            free(buf);
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s is shorter than its epoch count", path, name);
        }
        memcpy(dst[k], buf, (size_t)n * 8);
        free(buf);
    }
cleanup:
    return rc;
}

int twotower_checkpoint_read(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_train *tr)
{
    int rc = RP_OK, rank = 0, exists = 0;
    hid_t f = H5I_INVALID_HID;
    tt_model *m = &tr->m;
    const char *p = o->checkpoint;
    char want[1024], got[1024];
    int64_t ctr[6];
    double acc[5];
    RP_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0) exists = access(p, F_OK) == 0;
    RP_MPI(MPI_Bcast(&exists, 1, MPI_INT, 0, comm));
    if (!exists) {
        rp_log_info("--resume: no checkpoint %s, starting from scratch", p);
        return RP_OK;
    }
    RP_CALL(rp_h5_open(comm, p, &f));
    twotower_config_string(o, want, sizeof want);
    RP_CALL(rp_h5_attr_read_str(f, "/", "config", got, sizeof got));
    if (strcmp(want, got) != 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "%s: checkpoint made with other options (%s); delete it or "
                      "rerun with them", p, got);
    RP_CALL(rp_h5_attr_read_str(f, "/", "inputs", got, sizeof got));
    if (strcmp(d->inputs, got) != 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "%s: checkpoint made from other input files (%s); delete it",
                      p, got);
    RP_CALL(rp_h5_attr_read(f, "/", "counters", RP_I64, 6, ctr));
    RP_CALL(rp_h5_attr_read(f, "/", "accumulators", RP_F64, 5, acc));
    if (ctr[5] > o->epochs || ctr[5] < 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "%s: checkpoint already ran %lld epochs > --epochs %d", p,
                      (long long)ctr[5], o->epochs);
    int64_t ne = m->n_rows * m->E;
    RP_CALL(get(f, p, "/dense", RP_F32, m->n_dense, m->dense));
    RP_CALL(get(f, p, "/emb", RP_F32, ne, m->emb));
    RP_CALL(get(f, p, "/adam/m_dense", RP_F32, m->n_dense, tr->m_dense));
    RP_CALL(get(f, p, "/adam/v_dense", RP_F32, m->n_dense, tr->v_dense));
    RP_CALL(get(f, p, "/adam/m_emb", RP_F32, ne, tr->m_emb));
    RP_CALL(get(f, p, "/adam/v_emb", RP_F32, ne, tr->v_emb));
    RP_CALL(get(f, p, "/best/dense", RP_F32, m->n_dense, tr->best_dense));
    RP_CALL(get(f, p, "/best/emb", RP_F32, ne, tr->best_emb));
    RP_CALL(read_hist(f, p, &tr->hist, ctr[5]));
    tr->t = ctr[0];
    tr->epoch = ctr[1];
    tr->step = ctr[2];
    tr->best_epoch = ctr[3];
    tr->bad_epochs = ctr[4];
    tr->hist.n = ctr[5];
    tr->best_mae = acc[0];
    tr->ep_sse = acc[1];
    tr->ep_sae = acc[2];
    tr->ep_n = acc[3];
    tr->ep_seconds = acc[4];
    rp_log_info("resumed from %s at epoch %lld step %lld", p, (long long)tr->epoch,
                (long long)tr->step);
cleanup:
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

/* Tower outputs of every row of side t as /score/<side> (normalised for the cosine head) and
 * /<side>_embedding (raw). Every rank computes all rows (cheap: one forward per row, fixed
 * chunks, so the bits do not depend on the rank count); rank 0 writes. */
static int write_side_scores(MPI_Comm comm, hid_t f, const tt_model *m, int t, int64_t n,
                             const char *side)
{
    int rc = RP_OK;
    float *score = NULL, *raw = NULL;
    char name[64];
    RP_ALLOC(score = malloc((size_t)(n > 0 ? n : 1) * m->D * sizeof(float)));
    RP_ALLOC(raw = malloc((size_t)(n > 0 ? n : 1) * m->D * sizeof(float)));
    rc = twotower_embed_all(m, t, score, raw);
    RP_AGREE(comm, rc);
    snprintf(name, sizeof name, "/score/%s", side);
    RP_CALL(put(comm, f, name, RP_F32, n, m->D, score));
    snprintf(name, sizeof name, "/%s_embedding", side);
    RP_CALL(put(comm, f, name, RP_F32, n, m->D, raw));
cleanup:
    free(score);
    free(raw);
    return rc;
}

/* Embedding tables of one tower under /weights/<side>/emb/<column>, MLP layers, numeric
 * standardisation, and the tower's input layout as an attribute. */
static int write_tower(MPI_Comm comm, hid_t f, const tt_model *m, int t, const char *side)
{
    int rc = RP_OK;
    const tt_tower *tw = &m->tw[t];
    const tt_side *s = tw->f;
    char name[512], layout[4096] = "";
    size_t used = 0;
    for (int k = 0; k < tw->nslots; k++) {
        int j = k - tw->use_id;
        const char *col = k < tw->use_id ? "id" : j < s->ncat ? s->cat_names[j] : "tags";
        char clean[256];
        snprintf(clean, sizeof clean, "%s", col);
        for (char *c = clean; *c; c++)
            if (*c == '/' || *c == '.') *c = '_';
        snprintf(name, sizeof name, "/weights/%s/emb/%s", side, clean);
        if (rp_h5_exists(f, name)) snprintf(name, sizeof name, "/weights/%s/emb/slot%d", side, k);
        int64_t next = k + 1 < tw->nslots ? tw->slot_base[k + 1]
                       : t == TT_USER && m->tw[TT_ITEM].nslots > 0 ? m->tw[TT_ITEM].slot_base[0]
                       : m->n_rows;
        RP_CALL(put(comm, f, name, RP_F32, next - tw->slot_base[k], m->E,
                    m->emb + tw->slot_base[k] * m->E));
        used += (size_t)snprintf(layout + used, sizeof layout - used, "%s%s", k ? "," : "",
                                 strrchr(name, '/') + 1);
        if (used >= sizeof layout) used = sizeof layout - 1;
    }
    for (int l = 0; l < tw->nlayers; l++) {
        snprintf(name, sizeof name, "/weights/%s/layer%d/W", side, l);
        RP_CALL(put(comm, f, name, RP_F32, tw->dims[l], tw->dims[l + 1], m->dense + tw->w_off[l]));
        snprintf(name, sizeof name, "/weights/%s/layer%d/b", side, l);
        RP_CALL(put(comm, f, name, RP_F32, tw->dims[l + 1], 0, m->dense + tw->b_off[l]));
    }
    snprintf(name, sizeof name, "/weights/%s", side);
    if (s->nnum > 0) {
        char nm[64];
        snprintf(nm, sizeof nm, "/weights/%s/num_mean", side);
        RP_CALL(put(comm, f, nm, RP_F32, s->nnum, 0, s->num_mean));
        snprintf(nm, sizeof nm, "/weights/%s/num_std", side);
        RP_CALL(put(comm, f, nm, RP_F32, s->nnum, 0, s->num_std));
        RP_CALL(rp_h5_attr_write_strs(f, name, "num_columns", s->nnum,
                                      (const char *const *)s->num_names));
    }
    RP_CALL(rp_h5_attr_write_str(f, name, "emb_slots", layout));
    int64_t nl = tw->nlayers;
    RP_CALL(rp_h5_attr_write(f, name, "n_layers", RP_I64, 1, &nl));
cleanup:
    return rc;
}

int twotower_write_output(const rp_stage *st, const tt_opts *o, const tt_data *d,
                          const tt_train *tr)
{
    int rc = RP_OK;
    MPI_Comm comm = st->comm;
    hid_t f = H5I_INVALID_HID;
    const tt_model *m = &tr->m;
    double scale = m->dense[m->head_off], shift = m->dense[m->head_off + 1];
    int64_t best = tr->best_epoch;
    RP_CALL(rp_h5_create(comm, o->out, &f));
    RP_CALL(rp_stage_stamp(st, f, RP_SCHEMA_TWOTOWER, RP_SCHEMA_VERSION, d->inputs));
    RP_CALL(write_side_scores(comm, f, m, TT_USER, d->n_users, "user"));
    RP_CALL(write_side_scores(comm, f, m, TT_ITEM, d->n_items, "item"));
    RP_CALL(rp_h5_attr_write_str(f, RP_GRP_SCORE, "post", m->cosine ? "identity" : "sigmoid"));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "scale", RP_F64, 1, &scale));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "shift", RP_F64, 1, &shift));
    RP_CALL(write_tower(comm, f, m, TT_USER, "user"));
    RP_CALL(write_tower(comm, f, m, TT_ITEM, "item"));
    RP_CALL(put(comm, f, "/weights/head", RP_F32, 2, 0, m->dense + m->head_off));
    RP_CALL(write_hist(comm, f, &tr->hist, tr->hist.n));
    RP_CALL(rp_h5_attr_write_str(f, "/", "output", o->output));
    RP_CALL(rp_h5_attr_write_str(f, "/", "loss", o->loss));
    RP_CALL(rp_h5_attr_write(f, "/", "best_epoch", RP_I64, 1, &best));
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &d->n_users));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &d->n_items));
cleanup:
    return rp_h5_commit(comm, &f, o->out, rc);
}
