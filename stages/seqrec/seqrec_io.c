/* seqrec_io.c - what rp-seqrec's checkpoint holds (weights, Adam moments, best copy; the loop
 * state is rp_trainer's), the comparison with the bias model (contract 1) and seqrec.h5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_baseline.h"
#include "rp_h5.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "seqrec.h"

void seqrec_checkpoint(const sr_opts *o, const sr_data *d, sr_train *tr, char *cfg, size_t cap,
                       rp_train_ckpt *ck)
{
    int64_t n = tr->m.l.n;
    seqrec_config_string(o, cfg, cap);
    *ck = (rp_train_ckpt){o->train.checkpoint, cfg, d->inputs, 4, {
        {"/w", tr->m.w, n, 0}, {"/adam_m", tr->am, n, 0}, {"/adam_v", tr->av, n, 0},
        {"/best", tr->best, n, 0}}};
}

/* Bias-model predictions (clamped) of pairs (u, item[k]) for the users' rows of a CSR. */
static int bias_pairs(const rp_model *bm, const int64_t *off, const int32_t *item, int64_t U,
                      int64_t first, int64_t (*row)(const sr_data *, int64_t, int64_t),
                      const sr_data *d, float *out, int64_t n)
{
    int rc = RP_OK;
    int32_t *users = NULL, *items = NULL;
    RP_ALLOC(users = malloc((size_t)(n > 0 ? n : 1) * sizeof *users));
    RP_ALLOC(items = malloc((size_t)(n > 0 ? n : 1) * sizeof *items));
    int64_t k = 0;
    for (int64_t u = 0; u < U; u++)
        for (int64_t r = row(d, u, first); r < off[u + 1]; r++, k++) {
            users[k] = (int32_t)u;
            items[k] = item[r];
        }
    RP_REQUIRE(k == n, RP_ERR_INTERNAL, "bias_pairs: %lld pairs, expected %lld", (long long)k,
               (long long)n);
    RP_CALL(rp_model_score_pairs(bm, users, items, n, out));
cleanup:
    free(users);
    free(items);
    return rc;
}

static int64_t valid_first(const sr_data *d, int64_t u, int64_t first)
{
    (void)first;
    return d->hoff[u] + d->ntrain[u];
}

static int64_t test_first(const sr_data *d, int64_t u, int64_t first)
{
    (void)first;
    return d->toff[u];
}

/* Replace the scores with the bias model's (bm, its terms U, V, mu from
 * rp_baseline_bias_terms): user [0.., b_u, 1], item [0.., 1, b_i]. */
static int use_bias(const rp_model *bm, const double *U, const double *V, double mu,
                    const sr_data *d, int D, sr_scores *sc)
{
    int rc = RP_OK;
    int W = D + 2;
    for (int64_t u = 0; u < d->n_users; u++) {
        float *row = sc->user + u * W;
        memset(row, 0, (size_t)W * sizeof *row);
        row[D] = (float)U[u * 2];
        row[D + 1] = (float)U[u * 2 + 1];
    }
    for (int64_t i = 0; i < d->n_items; i++) {
        float *row = sc->item + i * W;
        memset(row, 0, (size_t)W * sizeof *row);
        row[D] = (float)V[i * 2];
        row[D + 1] = (float)V[i * 2 + 1];
    }
    sc->shift = mu;
    RP_CALL(bias_pairs(bm, d->toff, d->titem, d->n_users, 0, test_first, d, sc->test_pred,
                       d->n_test));
cleanup:
    return rc;
}

int seqrec_fallback(MPI_Comm comm, const sr_opts *o, const sr_data *d, const sr_train *tr,
                    sr_scores *sc)
{
    const sr_model *m = &tr->m;
    int rc = RP_OK;
    rp_model *bm = NULL;
    const double *U = NULL, *V = NULL;
    double mu = 0.0;
    float *pv = NULL;
    int64_t acc = 0;
    /* the written model is the best epoch's: its validation numbers are in the history */
    const rp_train_hist *h = &tr->loop.hist;
    int64_t b = tr->loop.best_epoch - 1;
    if (b >= 0 && b < h->n) {
        sc->valid_rmse = h->valid_rmse[b];
        sc->valid_mae = h->valid_mae[b];
    } else {
        RP_CALL(seqrec_eval_valid(comm, m, d, &sc->valid_rmse, &sc->valid_mae));
    }
    RP_CALL(rp_baseline_bias_terms(comm, o->train.shards, o->train.bias_reg, &bm, &U, &V, &mu));
    RP_ALLOC(pv = malloc((size_t)(d->n_valid > 0 ? d->n_valid : 1) * sizeof *pv));
    RP_CALL(bias_pairs(bm, d->hoff, d->hitem, d->n_users, 0, valid_first, d, pv, d->n_valid));
    int64_t k = 0;
    for (int64_t u = 0; u < d->n_users; u++)
        for (int64_t v = d->hoff[u] + d->ntrain[u]; v < d->hoff[u + 1]; v++, k++) {
            double r = (double)pv[k] - d->hval[v];
            acc += llrint(r * r * 4294967296.0);
        }
    sc->bias_valid_rmse = d->n_valid > 0 ? sqrt((double)acc / 4294967296.0 / d->n_valid) : NAN;
    sc->beats_bias = !(sc->valid_rmse > sc->bias_valid_rmse);
    sc->fallback[0] = '\0';
    if (!sc->beats_bias && o->fallback) {
        snprintf(sc->fallback, sizeof sc->fallback, "bias model: seqrec valid_rmse %.6f > bias "
                 "%.6f", sc->valid_rmse, sc->bias_valid_rmse);
        rp_log_info("falling back to the %s", sc->fallback);
        RP_CALL(use_bias(bm, U, V, mu, d, m->c.d, sc));
        sc->valid_rmse = sc->bias_valid_rmse;
    }
cleanup:
    free(pv);
    rp_model_destroy(&bm);
    return rp_mpi_agree(comm, rc);
}

static int write_block(MPI_Comm comm, hid_t f, const sr_model *m, int b)
{
    int rc = RP_OK;
    int64_t d = m->c.d, fw = m->c.ffn;
    const float *W = m->w + m->l.block[b];
    const sr_boff *o = &m->bo;
    struct { const char *name; int64_t off, rows, cols; } t[] = {
        {"ln1_g", o->ln1_g, d, 0}, {"ln1_b", o->ln1_b, d, 0}, {"wqkv", o->wqkv, d, 3 * d},
        {"bqkv", o->bqkv, 3 * d, 0}, {"wo", o->wo, d, d}, {"bo", o->bo, d, 0},
        {"ln2_g", o->ln2_g, d, 0}, {"ln2_b", o->ln2_b, d, 0}, {"w1", o->w1, d, fw},
        {"b1", o->b1, fw, 0}, {"w2", o->w2, fw, d}, {"b2", o->b2, d, 0}};
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        char name[128];
        snprintf(name, sizeof name, "/weights/block%d/%s", b, t[k].name);
        RP_CALL(rp_h5_put_replicated(comm, f, name, RP_F32, t[k].rows, t[k].cols, W + t[k].off));
    }
cleanup:
    return rc;
}

static int write_weights(MPI_Comm comm, hid_t f, const sr_data *dd, const sr_model *m)
{
    int rc = RP_OK;
    const sr_config *c = &m->c;
    const sr_layout *l = &m->l;
    int64_t d = c->d;
    RP_CALL(rp_h5_put_replicated(comm, f, "/weights/item", RP_F32, c->n_items, d, m->w + l->item));
    if (c->n_authors > 0) {
        RP_CALL(rp_h5_put_replicated(comm, f, "/weights/author", RP_F32, c->n_authors, d,
                                     m->w + l->author));
        RP_CALL(rp_h5_put_replicated(comm, f, "/weights/item_author", RP_I32, c->n_items, 0,
                                     dd->author));
    }
    if (c->tag_rows > 0) {
        RP_CALL(rp_h5_put_replicated(comm, f, "/weights/tag", RP_F32, c->tag_rows, d,
                                     m->w + l->tag));
        RP_CALL(rp_h5_put_replicated(comm, f, "/weights/item_tags", RP_I32, c->n_items, c->tag_len,
                                     dd->tags));
    }
    RP_CALL(rp_h5_put_replicated(comm, f, "/weights/bucket", RP_F32, c->buckets, d,
                                 m->w + l->bucket));
    RP_CALL(rp_h5_put_replicated(comm, f, "/weights/position", RP_F32, c->T, d, m->w + l->pos));
    if (c->user_vec)
        RP_CALL(rp_h5_put_replicated(comm, f, "/weights/user", RP_F32, c->n_users, d,
                                     m->w + l->user));
    RP_CALL(rp_h5_put_replicated(comm, f, "/weights/user_bias", RP_F32, c->n_users, 0,
                                 m->w + l->user_bias));
    RP_CALL(rp_h5_put_replicated(comm, f, "/weights/item_bias", RP_F32, c->n_items, 0,
                                 m->w + l->item_bias));
    for (int b = 0; b < c->blocks; b++) RP_CALL(write_block(comm, f, m, b));
    RP_CALL(rp_h5_put_replicated(comm, f, "/weights/lnf_g", RP_F32, d, 0, m->w + l->lnf_g));
    RP_CALL(rp_h5_put_replicated(comm, f, "/weights/lnf_b", RP_F32, d, 0, m->w + l->lnf_b));
    int64_t ints[7] = {c->d, c->heads, c->blocks, c->ffn, c->T, c->buckets, c->tag_len};
    const char *names[7] = {"dim", "heads", "blocks", "ffn", "window", "buckets", "tag_len"};
    for (int k = 0; k < 7; k++) RP_CALL(rp_h5_attr_write(f, "/weights", names[k], RP_I64, 1,
                                                         &ints[k]));
    double mu = m->mu, drop = c->dropout;
    RP_CALL(rp_h5_attr_write(f, "/weights", "mu", RP_F64, 1, &mu));
    RP_CALL(rp_h5_attr_write(f, "/weights", "dropout", RP_F64, 1, &drop));
cleanup:
    return rc;
}

int seqrec_write_output(const rp_stage *st, const sr_opts *o, const sr_data *d,
                        const sr_train *tr, const sr_scores *sc)
{
    int rc = RP_OK;
    MPI_Comm comm = st->comm;
    hid_t f = H5I_INVALID_HID;
    int64_t W = tr->m.c.d + 2, best = tr->loop.best_epoch, bb = sc->beats_bias;
    int32_t beats = (int32_t)bb;
    double one = 1.0;
    RP_CALL(rp_h5_create(comm, o->train.out, &f));
    RP_CALL(rp_stage_stamp(st, f, RP_SCHEMA_SEQREC, RP_SCHEMA_VERSION, d->inputs));
    RP_CALL(rp_h5_put_replicated(comm, f, RP_DS_SCORE_USER, RP_F32, d->n_users, W, sc->user));
    RP_CALL(rp_h5_put_replicated(comm, f, RP_DS_SCORE_ITEM, RP_F32, d->n_items, W, sc->item));
    RP_CALL(rp_h5_attr_write_str(f, RP_GRP_SCORE, "post", "identity"));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "scale", RP_F64, 1, &one));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "shift", RP_F64, 1, &sc->shift));
    RP_CALL(rp_h5_put_replicated(comm, f, "/final_state", RP_F32, d->n_users, tr->m.c.d,
                                 sc->state));
    RP_CALL(rp_h5_put_replicated(comm, f, RP_DS_TEST_PRED, RP_F32, d->n_test, 0, sc->test_pred));
    RP_CALL(rp_h5_attr_write_str(f, RP_DS_TEST_PRED, "aligned_with", "shards.h5:/test/by_user"));
    RP_CALL(write_weights(comm, f, d, &tr->m));
    RP_CALL(rp_trainer_hist_write(comm, f, &tr->loop, tr->loop.hist.n));
    RP_CALL(rp_h5_attr_write(f, "/", "best_epoch", RP_I64, 1, &best));
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &d->n_users));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &d->n_items));
    RP_CALL(rp_h5_attr_write(f, "/", "valid_rmse", RP_F64, 1, &sc->valid_rmse));
    RP_CALL(rp_h5_attr_write(f, "/", "bias_valid_rmse", RP_F64, 1, &sc->bias_valid_rmse));
    RP_CALL(rp_h5_attr_write(f, "/", "beats_bias", RP_I32, 1, &beats));
    RP_CALL(rp_h5_attr_write_str(f, "/", "fallback", sc->fallback));
    RP_CALL(rp_h5_attr_write_str(f, "/", "target", o->target));
    if (d->log_target) {
        double range[2] = {d->lr.lo, d->lr.hi};
        RP_CALL(rp_h5_attr_write(f, "/", "calib_gamma", RP_F64, 1, &sc->gamma));
        RP_CALL(rp_h5_attr_write(f, "/", "log_range", RP_F64, 2, range));
        RP_CALL(rp_h5_attr_write(f, "/", "log_global_mean", RP_F64, 1, &d->train_mean));
    }
cleanup:
    return rp_h5_commit(comm, &f, o->train.out, rc);
}
