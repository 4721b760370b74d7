/* twotower_io.c - what rp-twotower's checkpoint holds (model, Adam moments, best copy; the loop
 * state is rp_trainer's) and the twotower.h5 output (scores, tower outputs, weights, history). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "twotower.h"

void twotower_config_string(const tt_opts *o, char *buf, size_t cap)
{
    /* The cosine schedule spans all epochs, so --epochs fixes its bits too. */
    const rp_train_opts *t = &o->train;
    int fixed_epochs = strcmp(t->schedule, "cosine") == 0 ? t->epochs : 0;
    snprintf(buf, cap, "dim=%d emb_dim=%d hidden=%s head=%s id_path=%s bias=%d loss=%s "
             "huber_delta=%.17g user_id=%d item_id=%d seed=%lld batch=%d micro_batch=%d "
             "lr=%.17g schedule=%s warmup=%lld lr_final=%.17g epochs=%d weight_decay=%.17g "
             "emb_weight_decay=%.17g select=%s bias_init=%d row_l2=%.17g row_l2_features=%d "
             "target=%s log_min=%.17g log_max=%.17g units=user_class", o->dim, o->emb_dim, o->hidden,
             o->head, o->id_path, o->bias, o->loss, o->huber_delta, o->user_id, o->item_id,
             (long long)o->seed, t->batch, t->micro_batch, t->lr, t->schedule,
             (long long)t->warmup, t->lr_final, fixed_epochs, o->weight_decay,
             o->emb_weight_decay, o->select, o->bias_init, o->row_l2,
             o->row_l2_features, o->target, o->log_min, o->log_max);
}

void twotower_checkpoint(const tt_opts *o, const tt_data *d, tt_train *tr, char *cfg,
                         size_t cap, rp_train_ckpt *ck)
{
    tt_model *m = &tr->m;
    twotower_config_string(o, cfg, cap);
    /* checkpoint layout: model, Adam moments, best copy */
    *ck = (rp_train_ckpt){o->train.checkpoint, cfg, d->inputs, 8, {
        {"/dense", m->dense, m->n_dense, 0}, {"/emb", m->emb, m->n_rows, m->E},
        {"/adam/m_dense", tr->m_dense, m->n_dense, 0},
        {"/adam/v_dense", tr->v_dense, m->n_dense, 0},
        {"/adam/m_emb", tr->m_emb, m->n_rows, m->E}, {"/adam/v_emb", tr->v_emb, m->n_rows, m->E},
        {"/best/dense", tr->best_dense, m->n_dense, 0},
        {"/best/emb", tr->best_emb, m->n_rows, m->E}}};
}

/* /score (the model's rows, or the bias model's after a fallback) and the raw tower outputs
 * /<side>_embedding. Every rank computes all rows (cheap: one forward per row, fixed chunks, so
 * the bits do not depend on the rank count); rank 0 writes. */
static int write_scores(MPI_Comm comm, hid_t f, const tt_train *tr, const tt_data *d)
{
    int rc = RP_OK;
    const tt_model *m = &tr->m;
    float *su = NULL, *si = NULL, *raw = NULL;
    int64_t nmax = d->n_users > d->n_items ? d->n_users : d->n_items;
    tt_dot dot;
    rc = twotower_output_dot(tr, d, &su, &si, &dot);
    if (rc == RP_OK) rc = (raw = malloc((size_t)nmax * m->D * sizeof *raw)) ? RP_OK : RP_ERR_NOMEM;
    RP_AGREE(comm, rc);
    RP_CALL(rp_h5_put_replicated(comm, f, "/score/user", RP_F32, d->n_users, dot.S, su));
    RP_CALL(rp_h5_put_replicated(comm, f, "/score/item", RP_F32, d->n_items, dot.S, si));
    RP_CALL(rp_h5_attr_write_str(f, RP_GRP_SCORE, "post", dot.sigmoid ? "sigmoid" : "identity"));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "scale", RP_F64, 1, &dot.scale));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "shift", RP_F64, 1, &dot.shift));
    /* raw outputs: the tower vectors themselves (no bias columns, no normalisation) */
    for (int t = 0; t < 2; t++) {
        int64_t n = t == TT_USER ? d->n_users : d->n_items;
        float *tmp = NULL;
        rc = (tmp = malloc((size_t)(n > 0 ? n : 1) * m->S * sizeof *tmp)) ? RP_OK : RP_ERR_NOMEM;
        if (rc == RP_OK) rc = twotower_embed_all(m, t, tmp, raw);
        free(tmp);
        RP_AGREE(comm, rc);
        RP_CALL(rp_h5_put_replicated(comm, f, t == TT_USER ? "/user_embedding" : "/item_embedding",
                                     RP_F32, n, m->D, raw));
    }
cleanup:
    free(su);
    free(si);
    free(raw);
    return rc;
}

/* The id block as /weights/<side>/id_vector [n, D] (id path add) and /weights/<side>/bias [n]. */
static int write_id_block(MPI_Comm comm, hid_t f, const tt_model *m, int t, const char *side)
{
    int rc = RP_OK;
    const tt_tower *tw = &m->tw[t];
    int64_t n = tw->f->n, D = m->D, w = (int64_t)tw->id_span * m->E;
    float *vec = NULL, *bias = NULL;
    char name[128];
    if (tw->id_span == 0) return RP_OK;
    RP_ALLOC(vec = malloc((size_t)(n > 0 ? n : 1) * D * sizeof *vec));
    RP_ALLOC(bias = malloc((size_t)(n > 0 ? n : 1) * sizeof *bias));
    for (int64_t r = 0; r < n; r++) {
        const float *b = m->emb + tw->id_base * m->E + r * w;
        if (tw->id_add) memcpy(vec + r * D, b, (size_t)D * sizeof *vec);
        bias[r] = tw->has_bias ? b[tw->id_add ? D : 0] : 0.0f;
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK && tw->id_add) {
        snprintf(name, sizeof name, "/weights/%s/id_vector", side);
        rc = rp_h5_put_replicated(comm, f, name, RP_F32, n, D, vec);
    }
    if (rc == RP_OK && tw->has_bias) {
        snprintf(name, sizeof name, "/weights/%s/bias", side);
        rc = rp_h5_put_replicated(comm, f, name, RP_F32, n, 0, bias);
    }
    free(vec);
    free(bias);
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
        int64_t next = k + 1 < tw->nslots ? tw->slot_base[k + 1] : tw->id_base;
        RP_CALL(rp_h5_put_replicated(comm, f, name, RP_F32, next - tw->slot_base[k], m->E,
                                     m->emb + tw->slot_base[k] * m->E));
        used += (size_t)snprintf(layout + used, sizeof layout - used, "%s%s", k ? "," : "",
                                 strrchr(name, '/') + 1);
        if (used >= sizeof layout) used = sizeof layout - 1;
    }
    for (int l = 0; l < tw->nlayers; l++) {
        snprintf(name, sizeof name, "/weights/%s/layer%d/W", side, l);
        RP_CALL(rp_h5_put_replicated(comm, f, name, RP_F32, tw->dims[l], tw->dims[l + 1],
                                     m->dense + tw->w_off[l]));
        snprintf(name, sizeof name, "/weights/%s/layer%d/b", side, l);
        RP_CALL(rp_h5_put_replicated(comm, f, name, RP_F32, tw->dims[l + 1], 0,
                                     m->dense + tw->b_off[l]));
    }
    RP_CALL(write_id_block(comm, f, m, t, side));
    snprintf(name, sizeof name, "/weights/%s", side);
    if (s->nnum > 0) {
        char nm[64];
        snprintf(nm, sizeof nm, "/weights/%s/num_mean", side);
        RP_CALL(rp_h5_put_replicated(comm, f, nm, RP_F32, s->nnum, 0, s->num_mean));
        snprintf(nm, sizeof nm, "/weights/%s/num_std", side);
        RP_CALL(rp_h5_put_replicated(comm, f, nm, RP_F32, s->nnum, 0, s->num_std));
        RP_CALL(rp_h5_attr_write_strs(f, name, "num_columns", s->nnum,
                                      (const char *const *)s->num_names));
    }
    RP_CALL(rp_h5_attr_write_str(f, name, "emb_slots", layout));
    int64_t nl = tw->nlayers;
    RP_CALL(rp_h5_attr_write(f, name, "n_layers", RP_I64, 1, &nl));
cleanup:
    return rc;
}

/* The training target and, with the log target, its calibration (docs/SCHEMA.md). */
static int write_target(hid_t f, const tt_opts *o, const tt_data *d, const tt_train *tr)
{
    int rc = RP_OK;
    double range[2] = {d->lr.lo, d->lr.hi};
    RP_CALL(rp_h5_attr_write_str(f, "/", "target", o->target));
    if (!d->log_target) return RP_OK;
    RP_CALL(rp_h5_attr_write(f, "/", "calib_gamma", RP_F64, 1, &tr->gamma));
    RP_CALL(rp_h5_attr_write(f, "/", "log_range", RP_F64, 2, range));
    RP_CALL(rp_h5_attr_write(f, "/", "log_train_pairs", RP_I64, 1, &d->train.n));
    RP_CALL(rp_h5_attr_write(f, "/", "log_global_mean", RP_F64, 1, &d->train_mean));
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
    int64_t best = tr->loop.best_epoch;
    int32_t beats = tr->valid_rmse <= tr->bias_valid_rmse;
    RP_CALL(rp_h5_create(comm, o->train.out, &f));
    RP_CALL(rp_stage_stamp(st, f, RP_SCHEMA_TWOTOWER, RP_SCHEMA_VERSION, d->inputs));
    RP_CALL(write_scores(comm, f, tr, d));
    RP_CALL(write_tower(comm, f, m, TT_USER, "user"));
    RP_CALL(write_tower(comm, f, m, TT_ITEM, "item"));
    RP_CALL(rp_h5_put_replicated(comm, f, "/weights/head", RP_F32, 2, 0, m->dense + m->head_off));
    RP_CALL(rp_trainer_hist_write(comm, f, &tr->loop, tr->loop.hist.n));
    RP_CALL(rp_h5_attr_write_str(f, "/", "output", o->head));
    RP_CALL(rp_h5_attr_write_str(f, "/", "head", o->head));
    RP_CALL(rp_h5_attr_write_str(f, "/", "id_path", o->id_path));
    RP_CALL(rp_h5_attr_write(f, "/", "valid_rmse", RP_F64, 1, &tr->valid_rmse));
    RP_CALL(rp_h5_attr_write(f, "/", "bias_valid_rmse", RP_F64, 1, &tr->bias_valid_rmse));
    RP_CALL(rp_h5_attr_write(f, "/", "beats_bias", RP_I32, 1, &beats));
    RP_CALL(rp_h5_attr_write_str(f, "/", "fallback", tr->fallback));
    RP_CALL(rp_h5_attr_write_str(f, "/", "loss", o->loss));
    RP_CALL(rp_h5_attr_write(f, "/", "best_epoch", RP_I64, 1, &best));
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &d->n_users));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &d->n_items));
    RP_CALL(write_target(f, o, d, tr));
cleanup:
    return rp_h5_commit(comm, &f, o->train.out, rc);
}

void twotower_report(rp_stage *st, const tt_train *tr)
{
    const rp_trainer *l = &tr->loop;
    int64_t k = l->hist.n - 1, b = l->best_epoch - 1 >= 0 ? l->best_epoch - 1 : k;
    rp_stage_add(st, "epochs", "%lld", (long long)l->hist.n);
    rp_stage_add(st, "best_epoch", "%lld", (long long)l->best_epoch);
    rp_stage_add(st, "valid_rmse", "%.5f", tr->valid_rmse);
    rp_stage_add(st, "valid_mae", "%.5f", l->hist.valid_mae[b]);
    rp_stage_add(st, "bias_valid_rmse", "%.5f", tr->bias_valid_rmse);
    rp_stage_add(st, "fallback", "%s", tr->fallback[0] ? "bias" : "none");
    rp_stage_add(st, "target", "%s", tr->m.log_target ? "log" : "clipped");
    if (tr->m.log_target) rp_stage_add(st, "calib_gamma", "%.4f", tr->gamma);
    rp_stage_add(st, "samples_per_s", "%.0f",
                 l->train_seconds > 0 ? l->samples_done / l->train_seconds : 0.0);
    rp_stage_add(st, "train_seconds", "%.1f", l->train_seconds);
    rp_stage_add(st, "train_cpu_seconds", "%.2f", l->train_cpu_seconds);
    rp_stage_add(st, "allreduce_bytes_per_step", "%.0f",
                 l->steps_done > 0 ? tr->bytes_dense / l->steps_done : 0.0);
    rp_stage_add(st, "sparse_bytes_per_step", "%.0f",
                 l->steps_done > 0 ? tr->bytes_sparse / l->steps_done : 0.0);
    rp_stage_add(st, "compute_seconds", "%.3f", tr->phase_s[TT_PH_COMPUTE]);
    rp_stage_add(st, "exchange_seconds", "%.3f", tr->phase_s[TT_PH_EXCHANGE_MIN]);
    rp_stage_add(st, "wait_seconds", "%.3f",
                 tr->phase_s[TT_PH_EXCHANGE] - tr->phase_s[TT_PH_EXCHANGE_MIN]);
    rp_stage_add(st, "update_seconds", "%.3f", tr->phase_s[TT_PH_UPDATE]);
}
