/* seqrec_init.c - rp-seqrec --init als.h5: the static part of the head starts at (and may keep)
 * rp-als's log-target fit, so the transformer learns what a static model cannot; the first
 * predictions are exactly ALS's (docs/stages/seqrec.md, "Starting from rp-als"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_h5.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_schema.h"
#include "seqrec.h"

typedef struct als_fit {
    double *p, *q, *bu, *bi, mu;
    int64_t k;
} als_fit;

static void als_fit_clear(als_fit *a)
{
    free(a->p);
    free(a->q);
    free(a->bu);
    free(a->bi);
    memset(a, 0, sizeof *a);
}

/* read_mat - a [rows] (k NULL) or [rows, k] float dataset as double, checking its shape. */
static int read_mat(hid_t f, const char *path, const char *name, int64_t rows, int64_t *k,
                    double **out)
{
    int rc = RP_OK, nd = 0;
    int64_t dims[2] = {0, 0};
    RP_CALL(rp_h5_read_all(f, name, RP_F64, (void **)out, &nd, dims));
    if (dims[0] != rows || (k != NULL && (nd != 2 || dims[1] < 1)) || (k == NULL && nd != 1))
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has shape [%lld, %lld], expected %lld rows%s", path,
                      name, (long long)dims[0], (long long)(nd == 2 ? dims[1] : 0),
                      (long long)rows, k != NULL ? " x k" : "");
    if (k != NULL) *k = dims[1];
cleanup:
    return rc;
}

static int read_als(MPI_Comm comm, const char *path, const sr_data *d, als_fit *a)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    char target[32] = "";
    int64_t ku = 0, nu = 0, ni = 0;
    double range[2] = {0.0, 0.0};
    RP_CALL(rp_h5_open(comm, path, &f));
    RP_CALL(rp_h5_check_schema(f, path, RP_SCHEMA_ALS));
    RP_CALL(rp_h5_attr_read(f, "/", "n_users", RP_I64, 1, &nu));
    RP_CALL(rp_h5_attr_read(f, "/", "n_items", RP_I64, 1, &ni));
    if (nu != d->n_users || ni != d->n_items)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %lld users x %lld videos, the shards have %lld x %lld "
                      "(--init needs rp-als's output for the same shards.h5)", path,
                      (long long)nu, (long long)ni, (long long)d->n_users,
                      (long long)d->n_items);
    if (rp_h5_attr_exists(f, "/", "target"))
        RP_CALL(rp_h5_attr_read_str(f, "/", "target", target, sizeof target));
    if (strcmp(target, "log") != 0 || !rp_h5_attr_exists(f, "/", "log_global_mean"))
        RP_FAIL_USER0(RP_ERR_DATA, "%s: --init needs rp-als --target log (file has target "
                      "'%s')", path, target);
    RP_CALL(rp_h5_attr_read(f, "/", "log_global_mean", RP_F64, 1, &a->mu));
    /* the factors live on the log scale of the views they were fitted on: the same range only */
    RP_CALL(rp_h5_attr_read(f, "/", "log_range", RP_F64, 2, range));
    if (fabs(range[0] - d->lr.lo) > 1e-12 || fabs(range[1] - d->lr.hi) > 1e-12)
        RP_FAIL_USER0(RP_ERR_USAGE, "%s: fitted on %g <= watch_ratio < %g, rp-seqrec's log target "
                      "keeps %g .. %g (--log-min/--log-max must match rp-als's)", path, range[0],
                      range[1], d->lr.lo, d->lr.hi);
    RP_CALL(read_mat(f, path, "/user_factors", nu, &ku, &a->p));
    RP_CALL(read_mat(f, path, "/item_factors", ni, &a->k, &a->q));
    RP_CALL(read_mat(f, path, "/user_bias", nu, NULL, &a->bu));
    RP_CALL(read_mat(f, path, "/item_bias", ni, NULL, &a->bi));
    if (ku != a->k)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: user factors k=%lld, item factors k=%lld", path,
                      (long long)ku, (long long)a->k);
cleanup:
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

/* copy_rows - rows x k doubles into the first k columns of a rows x d table; the other
 * columns keep their value (zero: set) */
static void copy_rows(float *dst, int d, const double *src, int64_t rows, int64_t k, int zero)
{
    for (int64_t r = 0; r < rows; r++) {
        float *t = dst + r * d;
        if (zero) memset(t, 0, (size_t)d * sizeof *t);
        for (int64_t j = 0; j < k; j++) t[j] = (float)src[r * k + j];
    }
}

int seqrec_init_dim(MPI_Comm comm, sr_opts *o)
{
    int rc = RP_OK, nd = 0;
    int64_t dims[2] = {0, 0};
    hid_t f = H5I_INVALID_HID;
    if (o->init == NULL) return RP_OK;
    RP_CALL(rp_h5_open(comm, o->init, &f));
    if (!rp_h5_exists(f, "/user_factors")) goto cleanup; /* read_als names what is missing */
    RP_CALL(rp_h5_dims(f, "/user_factors", &nd, dims));
    if (nd == 2 && dims[1] > o->d && dims[1] <= 1024) {
        int wide = (int)((dims[1] + o->heads - 1) / o->heads * o->heads);
        rp_log_info("--init %s: k=%lld > --dim %d: width raised to %d (a multiple of --heads) "
                    "to hold rp-als's factors", o->init, (long long)dims[1], o->d, wide);
        o->d = wide;
    }
cleanup:
    rp_h5_close(&f);
    return rp_mpi_agree(comm, rc);
}

int seqrec_init_from_als(MPI_Comm comm, const sr_opts *o, const sr_data *d, sr_model *m,
                         int *k_init)
{
    int rc = RP_OK;
    als_fit a = {0};
    const sr_config *c = &m->c;
    const sr_layout *l = &m->l;
    if (o->init == NULL) return RP_OK;
    if (!d->log_target || !c->user_vec)
        RP_FAIL_USER0(RP_ERR_USAGE, "--init %s needs --target log and --user-vec", o->init);
    RP_CALL(read_als(comm, o->init, d, &a));
    if (a.k > c->d)
        RP_FAIL_USER0(RP_ERR_USAGE, "--init %s: its k=%lld exceeds the largest width, %d",
                      o->init, (long long)a.k, c->d);
    /* users: exactly p_u (other columns 0); videos: q_i in the first k columns, the rest keep
     * their random start (an identity the transformer's state may use); author and tag rows 0,
     * so content(i) starts as q_i */
    copy_rows(m->w + l->user, c->d, a.p, c->n_users, a.k, 1);
    copy_rows(m->w + l->item, c->d, a.q, c->n_items, a.k, 0);
    if (c->n_authors > 0)
        memset(m->w + l->author, 0, (size_t)(c->n_authors * c->d) * sizeof *m->w);
    if (c->tag_rows > 0) memset(m->w + l->tag, 0, (size_t)(c->tag_rows * c->d) * sizeof *m->w);
    for (int64_t u = 0; u < c->n_users; u++) m->w[l->user_bias + u] = (float)a.bu[u];
    for (int64_t i = 0; i < c->n_items; i++) m->w[l->item_bias + i] = (float)a.bi[i];
    m->mu = a.mu;
    *k_init = (int)a.k;
    rp_log_info("--init %s: user vectors, video embeddings (k=%lld of %d), biases and mu from "
                "rp-als%s", o->init, (long long)a.k, c->d,
                o->freeze_init ? ", frozen" : "");
cleanup:
    als_fit_clear(&a);
    return rp_mpi_agree(comm, rc);
}

void seqrec_frozen_fixup(const sr_opts *o, sr_model *m, int k)
{
    const sr_config *c = &m->c;
    if (o->init == NULL || !o->freeze_init) return;
    for (int64_t r = 0; r < c->n_authors; r++)
        memset(m->w + m->l.author + r * c->d, 0, (size_t)k * sizeof *m->w);
    for (int64_t r = 0; r < c->tag_rows; r++)
        memset(m->w + m->l.tag + r * c->d, 0, (size_t)k * sizeof *m->w);
}

void seqrec_frozen_ranges(const sr_opts *o, const sr_model *m, int64_t r[SR_FROZEN_MAX][2],
                          int *n)
{
    const sr_layout *l = &m->l;
    *n = 0;
    if (o->init == NULL || !o->freeze_init) return;
    r[0][0] = l->item;
    r[0][1] = l->item + m->c.n_items * m->c.d;
    r[1][0] = l->user;
    r[1][1] = l->user + m->c.n_users * m->c.d;
    r[2][0] = l->user_bias;
    r[2][1] = l->item_bias + m->c.n_items;
    *n = 3;
}
