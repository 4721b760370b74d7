/* hybrid_write.c - hybrid.h5: both variants, their validation scores and the default, with the
 * component dot-form models copied in so scoring needs nothing else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hybrid.h"
#include "rp_err.h"
#include "rp_fault.h"
#include "rp_h5.h"
#include "rp_model_hybrid.h"
#include "rp_mpi.h"
#include "rp_schema.h"

static int write_component(MPI_Comm comm, hid_t f, const char *name, const rp_model *m)
{
    int rc = RP_OK;
    int64_t d = 0;
    const double *U = NULL, *V = NULL;
    rp_post post;
    double scale = 1.0, shift = 0.0;
    char ds[256], grp[256];
    RP_CALL(rp_model_dot_parts(m, &d, &U, &V, &post, &scale, &shift));
    int64_t ud[2] = {m->n_users, d}, id[2] = {m->n_items, d};
    snprintf(ds, sizeof ds, "%s/%s%s", RP_HYB_COMPONENTS, name, RP_DS_SCORE_USER);
    RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_F64, 2, ud, U));
    snprintf(ds, sizeof ds, "%s/%s%s", RP_HYB_COMPONENTS, name, RP_DS_SCORE_ITEM);
    RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_F64, 2, id, V));
    snprintf(grp, sizeof grp, "%s/%s%s", RP_HYB_COMPONENTS, name, RP_GRP_SCORE);
    RP_CALL(rp_h5_attr_write_str(f, grp, "post", post == RP_POST_SIGMOID ? "sigmoid" : "identity"));
    RP_CALL(rp_h5_attr_write(f, grp, "scale", RP_F64, 1, &scale));
    RP_CALL(rp_h5_attr_write(f, grp, "shift", RP_F64, 1, &shift));
cleanup:
    return rc;
}

/* The contract attributes (docs/SCHEMA.md) of one variant, on its group or the root. */
static int write_contract(hid_t f, const char *obj, double rmse, double bias_rmse,
                          const char *fallback)
{
    int rc = RP_OK;
    int32_t beats = rmse <= bias_rmse;
    RP_CALL(rp_h5_attr_write(f, obj, "valid_rmse", RP_F64, 1, &rmse));
    RP_CALL(rp_h5_attr_write(f, obj, "bias_valid_rmse", RP_F64, 1, &bias_rmse));
    RP_CALL(rp_h5_attr_write(f, obj, "beats_bias", RP_I32, 1, &beats));
    RP_CALL(rp_h5_attr_write_str(f, obj, "fallback", fallback));
cleanup:
    return rc;
}

static const char *fallback_name(const hyb_state *st, int c)
{
    return c >= 0 ? st->names[c] : "";
}

static int write_blend(MPI_Comm comm, hid_t f, const hyb_state *st)
{
    int rc = RP_OK;
    const hyb_blend *b = &st->blend;
    int64_t n = st->n_comp + 1, nc = st->n_comp, ng = b->n_grid;
    double bias = b->input_rmse[st->n_comp - 1];
    RP_CALL(rp_h5_write_replicated(comm, f, RP_HYB_BLEND_WEIGHTS, RP_F64, 1, &n, b->w));
    RP_CALL(rp_h5_attr_write_strs(f, RP_HYB_BLEND, "components", nc, st->names));
    RP_CALL(write_contract(f, RP_HYB_BLEND, b->rmse, bias, fallback_name(st, b->fallback)));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_BLEND, "heldout_rmse", RP_F64, 1, &b->cv_rmse));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_BLEND, "bias_heldout_rmse", RP_F64, 1, &bias));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_BLEND, "fold0_rmse", RP_F64, 1, &b->fold0_rmse));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_BLEND, "input_valid_rmse", RP_F64, nc, b->input_rmse));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_BLEND, "ridge", RP_F64, 1, &b->ridge));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_BLEND, "ridge_grid", RP_F64, ng, b->grid));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_BLEND, "ridge_cv_rmse", RP_F64, ng, b->grid_cv_rmse));
cleanup:
    return rc;
}

static int write_concat(MPI_Comm comm, hid_t f, const hyb_opts *o, const hyb_state *st)
{
    int rc = RP_OK;
    const hyb_concat_result *r = &st->concat;
    const hyb_blend *b = &st->blend;
    int64_t nc = st->n_comp, nemb = st->n_embed;
    int64_t dims[RP_MLP_MAX_LAYERS + 1], nl = r->mlp.n_layers + 1, np = r->mlp.n_params;
    int64_t ne = r->epochs_run, *epochs = NULL, best = r->best_epoch;
    for (int64_t l = 0; l < nl; l++) dims[l] = r->mlp.dims[l];
    RP_CALL(rp_h5_write_replicated(comm, f, RP_HYB_CONCAT_DIMS, RP_I64, 1, &nl, dims));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_HYB_CONCAT_PARAMS, RP_F32, 1, &np, r->mlp.params));
    int64_t nw = st->n_comp + 1;
    RP_CALL(rp_h5_write_replicated(comm, f, RP_HYB_CONCAT_OFFSET, RP_F64, 1, &nw, r->offset_w));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_HYB_CONCAT_USER_MEAN, RP_F32, 1, &r->du, r->umean));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_HYB_CONCAT_USER_SCALE, RP_F32, 1, &r->du,
                                   r->uscale));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_HYB_CONCAT_ITEM_MEAN, RP_F32, 1, &r->di, r->imean));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_HYB_CONCAT_ITEM_SCALE, RP_F32, 1, &r->di,
                                   r->iscale));
    epochs = rp_malloc((size_t)(ne > 0 ? ne : 1) * sizeof *epochs);
    RP_AGREE_LOCAL(comm, epochs == NULL);
    for (int64_t e = 0; e < ne; e++) epochs[e] = e + 1;
    RP_CALL(rp_h5_write_replicated(comm, f, "/concat/history/epoch", RP_I64, 1, &ne, epochs));
    RP_CALL(rp_h5_write_replicated(comm, f, "/concat/history/train_rmse", RP_F64, 1, &ne,
                                   r->hist_train));
    RP_CALL(rp_h5_write_replicated(comm, f, "/concat/history/valid_rmse", RP_F64, 1, &ne,
                                   r->hist_valid));
    RP_CALL(write_contract(f, RP_HYB_CONCAT, st->concat_rmse, b->input_rmse[st->n_comp - 1],
                           fallback_name(st, st->concat_fallback)));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_CONCAT, "heldout_rmse", RP_F64, 1, &r->valid_rmse));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_CONCAT, "bias_heldout_rmse", RP_F64, 1,
                             &b->input_fold0_rmse[st->n_comp - 1]));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_CONCAT, "best_epoch", RP_I64, 1, &best));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_CONCAT, "train_rows", RP_I64, 1, &r->train_rows));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_CONCAT, "heldout_rows", RP_I64, 1, &r->heldout_rows));
    RP_CALL(rp_h5_attr_write_str(f, RP_HYB_CONCAT, "hidden", o->hidden));
    RP_CALL(rp_h5_attr_write_strs(f, RP_HYB_CONCAT, "components", nc, st->names));
    RP_CALL(rp_h5_attr_write_strs(f, RP_HYB_CONCAT, "embeddings", nemb, st->names));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_CONCAT, "lr", RP_F64, 1, &o->lr));
    RP_CALL(rp_h5_attr_write(f, RP_HYB_CONCAT, "seed", RP_I64, 1, &o->seed));
cleanup:
    free(epochs);
    return rc;
}

int hyb_write(const rp_stage *stg, const hyb_opts *o, const hyb_state *st)
{
    int rc = RP_OK;
    MPI_Comm comm = stg->comm;
    hid_t f = H5I_INVALID_HID;
    RP_CALL(rp_h5_create(comm, o->out, &f));
    RP_CALL(rp_stage_stamp(stg, f, RP_SCHEMA_HYBRID, RP_SCHEMA_VERSION, st->inputs));
    for (int c = 0; c < st->n_comp; c++)
        RP_CALL(write_component(comm, f, st->names[c], st->comp[c]));
    RP_CALL(write_blend(comm, f, st));
    RP_CALL(write_concat(comm, f, o, st));
    RP_CALL(rp_h5_attr_write_str(f, "/", "default", st->deflt));
    int blend = strcmp(st->deflt, "blend") == 0;
    RP_CALL(write_contract(f, "/", blend ? st->blend.rmse : st->concat_rmse,
                           st->blend.input_rmse[st->n_comp - 1],
                           fallback_name(st, blend ? st->blend.fallback : st->concat_fallback)));
    RP_CALL(rp_h5_attr_write(f, "/", "valid_rmse_blend", RP_F64, 1, &st->blend.rmse));
    RP_CALL(rp_h5_attr_write(f, "/", "valid_rmse_concat", RP_F64, 1, &st->concat_rmse));
    RP_CALL(rp_h5_attr_write(f, "/", "n_valid", RP_I64, 1, &st->n_valid_global));
cleanup:
    if (f >= 0 || rc != RP_OK) rc = rp_h5_commit(comm, &f, o->out, rc);
    /* The checkpoint has served: a later --resume must not pick it up. */
    if (rc == RP_OK && o->checkpoint != NULL && stg->rank == 0) unlink(o->checkpoint);
    return rc;
}
