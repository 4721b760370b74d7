/* twotower_model.c - parameter layout, initialisation, forward and backward passes of the
 * two-tower model on float32 (each tower's MLP on the library engine, rp_mlp). Used by
 * rp-twotower and its tests. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_rng.h"
#include "twotower.h"

#define TT_COS_EPS 1e-8
/* The per-row loops below take E as an argument and are instantiated for E = 8 (the default)
 * as well: with a constant width a row is one or two vector moves instead of a call to memcpy or
 * a loop with a runtime trip count. The arithmetic is the same either way. */
#define TT_INLINE static inline __attribute__((always_inline))

/* Parse "64,32" into dims[1..]; "" means no hidden layer. Returns the number of hidden layers
 * or -1 on a malformed list. */
static int parse_hidden(const char *s, int *dims)
{
    int n = 0;
    const char *p = s;
    while (*p != '\0') {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 65536 || n >= TT_MAX_LAYERS - 1) return -1;
        dims[++n] = (int)v;
        p = end;
        if (*p == ',') p++;
        else if (*p != '\0') return -1;
    }
    return n;
}

/* Lay out one tower's slots (embedding tables), id block and MLP; advances the row and dense
 * cursors. */
static int tower_layout(tt_tower *tw, const tt_side *f, int use_id, const tt_opts *o, int E,
                        int64_t *row, int64_t *dense)
{
    int nh = parse_hidden(o->hidden, tw->dims);
    if (nh < 0) return RP_ERR_USAGE;
    tw->f = f;
    tw->id_add = use_id && strcmp(o->id_path, "add") == 0;
    tw->use_id = use_id && !tw->id_add; /* the id as an MLP input slot */
    tw->has_bias = o->bias;
    tw->nslots = 0;
    if (tw->use_id) {
        tw->slot_base[tw->nslots++] = *row;
        *row += f->n;
    }
    for (int j = 0; j < f->ncat; j++) {
        if (tw->nslots >= 63) return RP_ERR_USAGE;
        tw->slot_base[tw->nslots++] = *row;
        *row += f->card[j];
    }
    if (f->tag_len > 0) {
        tw->slot_base[tw->nslots++] = *row;
        *row += f->tag_rows;
    }
    /* The id vector and the bias share E-wide rows, so the sparse exchange keeps one width. */
    int id_width = (tw->id_add ? o->dim : 0) + tw->has_bias;
    tw->id_span = (id_width + E - 1) / E;
    tw->id_base = *row;
    *row += f->n * tw->id_span;
    tw->dims[0] = tw->nslots * E + f->nnum;
    if (tw->dims[0] == 0) return RP_ERR_USAGE;
    tw->nlayers = nh + 1;
    tw->dims[tw->nlayers] = o->dim;
    for (int l = 0; l < tw->nlayers; l++) {
        tw->w_off[l] = *dense;
        *dense += (int64_t)tw->dims[l] * tw->dims[l + 1];
        tw->b_off[l] = *dense;
        *dense += tw->dims[l + 1];
    }
    return RP_OK;
}

/* The id block of row r of tower tw: [id vector (D if id_add) | bias | padding]. */
static inline float *id_block(const tt_model *m, const tt_tower *tw, int64_t r)
{
    return m->emb + (tw->id_base + r * tw->id_span) * m->E;
}

static inline float row_bias(const tt_model *m, const tt_tower *tw, int64_t r)
{
    return tw->has_bias ? id_block(m, tw, r)[tw->id_add ? m->D : 0] : 0.0f;
}

/* Glorot-normal weights, zero biases; embeddings uniform(-0.05, 0.05) like Keras, bias terms and
 * id-block padding 0. Each value is keyed by its flat index, so the initial model is the same
 * for any rank count. */
static void init_weights(tt_model *m, uint64_t seed, double mean_target)
{
    uint64_t sd = rp_rng_stream("twotower.init.dense"), se = rp_rng_stream("twotower.init.emb");
    memset(m->dense, 0, (size_t)m->n_dense * sizeof *m->dense);
    for (int t = 0; t < 2; t++) {
        const tt_tower *tw = &m->tw[t];
        for (int l = 0; l < tw->nlayers; l++) {
            int64_t nw = (int64_t)tw->dims[l] * tw->dims[l + 1];
            double sdv = sqrt(2.0 / (tw->dims[l] + tw->dims[l + 1]));
            /* A small output layer for the dot heads: u.v of two Glorot outputs is O(1), which
             * would start the model far from the bias model it is initialised at. (The cosine
             * head does not see the scale.) */
            if (l == tw->nlayers - 1 && m->head != TT_HEAD_COSINE) sdv *= 0.1;
            for (int64_t k = 0; k < nw; k++)
                m->dense[tw->w_off[l] + k] =
                    (float)(sdv * rp_rng_normal(seed, sd, (uint64_t)(tw->w_off[l] + k)));
        }
    }
    /* the sigmoid's logit needs a mean inside (0, 1); the log target's mean is negative */
    double mu = fmin(fmax(mean_target, 1e-3), 1.0 - 1e-3);
    /* Start at the bias-only prediction so early steps fit structure, not the mean. */
    m->dense[m->head_off] = m->head == TT_HEAD_COSINE ? 0.25f : 1.0f;
    m->dense[m->head_off + 1] = m->head == TT_HEAD_SIGMOID ? (float)log(mu / (1.0 - mu))
                                                          : (float)mean_target;
    for (int64_t k = 0; k < m->n_rows * m->E; k++)
        m->emb[k] = (float)(0.1 * rp_rng_uniform(seed, se, (uint64_t)k) - 0.05);
    for (int t = 0; t < 2; t++) {
        const tt_tower *tw = &m->tw[t];
        int used = tw->id_add ? m->D : 0, span = tw->id_span * m->E;
        for (int64_t r = 0; tw->id_span > 0 && r < tw->f->n; r++)
            memset(id_block(m, tw, r) + used, 0, (size_t)(span - used) * sizeof(float));
    }
}

int twotower_model_init(tt_model *m, const tt_opts *o, const tt_data *d)
{
    int rc = RP_OK;
    memset(m, 0, sizeof *m);
    m->E = o->emb_dim;
    m->D = o->dim;
    m->head = strcmp(o->head, "cosine") == 0    ? TT_HEAD_COSINE
              : strcmp(o->head, "sigmoid") == 0 ? TT_HEAD_SIGMOID
                                                : TT_HEAD_DOT;
    m->huber = strcmp(o->loss, "huber") == 0;
    m->log_target = d->log_target;
    m->delta = (float)o->huber_delta;
    RP_REQUIRE(m->E >= 1 && m->D >= 1, RP_ERR_USAGE, "--emb-dim and --dim must be >= 1");
    int64_t row = 0, dense = 0;
    if (tower_layout(&m->tw[TT_USER], &d->side[TT_USER], o->user_id, o, m->E, &row, &dense) ||
        tower_layout(&m->tw[TT_ITEM], &d->side[TT_ITEM], o->item_id, o, m->E, &row, &dense))
        RP_FAIL_USER0(RP_ERR_USAGE, "bad --hidden '%s' or a tower without any input "
                      "(at most %d hidden layers, 63 categorical columns)", o->hidden,
                      TT_MAX_LAYERS - 1);
    for (int t = 0; t < 2; t++) { /* the shape the MLP engine will be asked to run */
        rp_mlp shape;
        RP_CALL(rp_mlp_view(&shape, m->tw[t].nlayers, m->tw[t].dims, NULL));
    }
    m->head_off = dense;
    m->n_dense = dense + 2;
    m->S = m->D + (o->bias ? 2 : 0);
    m->n_rows = row;
    RP_ALLOC(m->dense = malloc((size_t)m->n_dense * sizeof *m->dense));
    RP_ALLOC(m->emb = malloc((size_t)(m->n_rows > 0 ? m->n_rows : 1) * m->E * sizeof *m->emb));
    init_weights(m, (uint64_t)o->seed, d->train_mean);
cleanup:
    if (rc != RP_OK) twotower_model_clear(m);
    return rc;
}

void twotower_model_clear(tt_model *m)
{
    free(m->dense);
    free(m->emb);
    m->dense = m->emb = NULL;
}

/* Tower t's MLP as a view over dense (the model's parameters, or a gradient of their shape). */
static int tower_mlp(const tt_model *m, int t, float *dense, rp_mlp *mlp)
{
    const tt_tower *tw = &m->tw[t];
    return rp_mlp_view(mlp, tw->nlayers, tw->dims, dense + tw->w_off[0]);
}

int twotower_ws_init(tt_ws *ws, const tt_model *m, int cap)
{
    int rc = RP_OK;
    memset(ws, 0, sizeof *ws);
    ws->cap = cap;
    size_t c = (size_t)cap, nscratch = 1, in_max = 1;
    for (int t = 0; t < 2; t++) {
        rp_mlp mlp;
        RP_CALL(tower_mlp(m, t, m->dense, &mlp));
        int64_t ns = rp_mlp_scratch_size(&mlp, cap);
        nscratch = (size_t)ns > nscratch ? (size_t)ns : nscratch;
        in_max = (size_t)mlp.dims[0] > in_max ? (size_t)mlp.dims[0] : in_max;
        RP_ALLOC(ws->x[t] = malloc(c * (size_t)m->tw[t].dims[0] * sizeof(float)));
        RP_ALLOC(ws->work[t] = malloc((size_t)rp_mlp_work_size(&mlp, cap) * sizeof(float)));
        RP_ALLOC(ws->nrm[t] = malloc(c * (size_t)m->D * sizeof(float)));
        RP_ALLOC(ws->dout[t] = malloc(c * (size_t)m->D * sizeof(float)));
        RP_ALLOC(ws->out[t] = malloc(c * (size_t)m->D * sizeof(float)));
        RP_ALLOC(ws->dbias[t] = malloc(c * sizeof(float)));
        RP_ALLOC(ws->uniq[t] = malloc(c * sizeof(int32_t)));
        RP_ALLOC(ws->map[t] = malloc(c * sizeof(int32_t)));
        RP_ALLOC(ws->seen[t] = malloc((size_t)(m->tw[t].f->n > 0 ? m->tw[t].f->n : 1) *
                                      sizeof(int32_t)));
        for (int64_t r = 0; r < m->tw[t].f->n; r++) ws->seen[t][r] = -1;
    }
    RP_ALLOC(ws->idg = calloc((size_t)(m->D / m->E + 2) * m->E, sizeof(float)));
    RP_ALLOC(ws->scratch = malloc(nscratch * sizeof(float)));
    RP_ALLOC(ws->dx = malloc(c * in_max * sizeof(float)));
    RP_ALLOC(ws->pred = malloc(c * sizeof(double)));
    RP_ALLOC(ws->s = malloc(c * sizeof(double)));
cleanup:
    if (rc != RP_OK) twotower_ws_clear(ws);
    return rc;
}

void twotower_ws_clear(tt_ws *ws)
{
    for (int t = 0; t < 2; t++) {
        free(ws->x[t]);
        free(ws->work[t]);
        free(ws->nrm[t]);
        free(ws->dout[t]);
        free(ws->out[t]);
        free(ws->dbias[t]);
        free(ws->uniq[t]);
        free(ws->map[t]);
        free(ws->seen[t]);
    }
    free(ws->idg);
    free(ws->scratch);
    free(ws->dx);
    free(ws->pred);
    free(ws->s);
    memset(ws, 0, sizeof *ws);
}

int64_t twotower_rows_per_pair(const tt_model *m)
{
    int64_t per = 0;
    for (int t = 0; t < 2; t++) per += m->tw[t].nslots + m->tw[t].f->tag_len + m->tw[t].id_span;
    return per;
}

int twotower_grad_init(tt_grad *g, const tt_model *m, int cap)
{
    int rc = RP_OK;
    memset(g, 0, sizeof *g);
    g->cap_rows = (int64_t)cap * twotower_rows_per_pair(m);
    if (g->cap_rows > m->n_rows) g->cap_rows = m->n_rows;
    RP_ALLOC(g->dense = calloc((size_t)m->n_dense, sizeof *g->dense));
    RP_ALLOC(g->slot = malloc((size_t)(m->n_rows > 0 ? m->n_rows : 1) * sizeof *g->slot));
    RP_ALLOC(g->rows = malloc((size_t)(g->cap_rows > 0 ? g->cap_rows : 1) * sizeof *g->rows));
    RP_ALLOC(g->vals = malloc((size_t)(g->cap_rows > 0 ? g->cap_rows : 1) * m->E * sizeof(float)));
    for (int64_t r = 0; r < m->n_rows; r++) g->slot[r] = -1;
cleanup:
    if (rc != RP_OK) twotower_grad_clear(g);
    return rc;
}

void twotower_grad_clear(tt_grad *g)
{
    free(g->dense);
    free(g->slot);
    free(g->rows);
    free(g->vals);
    memset(g, 0, sizeof *g);
}

void twotower_grad_reset(tt_grad *g, const tt_model *m)
{
    memset(g->dense, 0, (size_t)m->n_dense * sizeof *g->dense);
    for (int64_t k = 0; k < g->nrows; k++) g->slot[g->rows[k]] = -1;
    g->nrows = 0;
}

/* Add scale * v (E floats) to the gradient of embedding row `row`. */
TT_INLINE void grad_add_row(tt_grad *g, int E, int32_t row, const float *v, float scale)
{
    int32_t s = g->slot[row];
    float *dst;
    if (s < 0) {
        s = (int32_t)g->nrows++;
        g->slot[row] = s;
        g->rows[s] = row;
        dst = g->vals + (size_t)s * E;
        for (int k = 0; k < E; k++) dst[k] = scale * v[k];
        return;
    }
    dst = g->vals + (size_t)s * E;
    for (int k = 0; k < E; k++) dst[k] += scale * v[k];
}

/* Build the input rows: one E-wide segment per slot (tags: mean of the present tags), then the
 * numeric features. */
TT_INLINE void gather_inputs_e(const tt_model *m, int t, const int32_t *rows, int n, float *x,
                               int E)
{
    const tt_tower *tw = &m->tw[t];
    const tt_side *f = tw->f;
    int in = tw->dims[0];
    size_t rowb = (size_t)E * sizeof(float);
    for (int i = 0; i < n; i++) {
        int64_t r = rows[i];
        float *xi = x + (size_t)i * in;
        int s = 0;
        if (tw->use_id) memcpy(xi + (s++) * E, m->emb + (tw->slot_base[0] + r) * E, rowb);
        for (int j = 0; j < f->ncat; j++, s++)
            memcpy(xi + s * E, m->emb + (tw->slot_base[s] + f->cat[r * f->ncat + j]) * E, rowb);
        if (f->tag_len > 0) {
            float *seg = xi + s * E;
            int cnt = 0;
            memset(seg, 0, rowb);
            for (int k = 0; k < f->tag_len; k++) {
                int32_t tg = f->tags[r * f->tag_len + k];
                if (tg == 0) continue;
                const float *e = m->emb + (tw->slot_base[s] + tg) * E;
                for (int q = 0; q < E; q++) seg[q] += e[q];
                cnt++;
            }
            for (int q = 0; cnt > 1 && q < E; q++) seg[q] /= (float)cnt;
            s++;
        }
        if (f->nnum > 0) memcpy(xi + s * E, f->num + r * f->nnum, (size_t)f->nnum * sizeof(float));
    }
}

static void gather_inputs(const tt_model *m, int t, const int32_t *rows, int n, float *x)
{
    if (m->E == 8) gather_inputs_e(m, t, rows, n, x, 8);
    else gather_inputs_e(m, t, rows, n, x, m->E);
}

int twotower_tower_forward(const tt_model *m, int t, const int32_t *rows, int n, tt_ws *ws)
{
    int rc = RP_OK;
    const tt_tower *tw = &m->tw[t];
    int D = m->D;
    rp_mlp mlp;
    gather_inputs(m, t, rows, n, ws->x[t]);
    RP_CALL(tower_mlp(m, t, m->dense, &mlp));
    RP_CALL(rp_mlp_forward(&mlp, ws->x[t], n, ws->work[t], ws->out[t]));
    /* The id vector bypasses the MLP: nothing squeezes it through a ReLU. */
    for (int i = 0; tw->id_add && i < n; i++) {
        const float *e = id_block(m, tw, rows[i]);
        float *o = ws->out[t] + (size_t)i * D;
        for (int k = 0; k < D; k++) o[k] += e[k];
    }
cleanup:
    return rc;
}

/* Cosine variant: unit-normalise tower outputs in float, as written to /score (so the scoring
 * convention reproduces the prediction); nrm_inv[i] = 1/|u_i| for the backward pass. */
static void normalise(const float *u, int n, int D, float *un, double *nrm_inv)
{
    for (int i = 0; i < n; i++) {
        double ss = TT_COS_EPS;
        for (int k = 0; k < D; k++) ss += (double)u[i * D + k] * u[i * D + k];
        double inv = 1.0 / sqrt(ss);
        for (int k = 0; k < D; k++) un[i * D + k] = (float)(u[i * D + k] * inv);
        if (nrm_inv) nrm_inv[i] = inv;
    }
}

/* Distinct rows of side t among rows[0..n) in first-seen order into ws->uniq[t], each sample's
 * position into ws->map[t]. */
static void dedup(tt_ws *ws, int t, const int32_t *rows, int n)
{
    int nu = 0;
    int32_t *seen = ws->seen[t];
    for (int i = 0; i < n; i++) {
        if (seen[rows[i]] < 0) {
            seen[rows[i]] = nu;
            ws->uniq[t][nu++] = rows[i];
        }
        ws->map[t][i] = seen[rows[i]];
    }
    for (int k = 0; k < nu; k++) seen[ws->uniq[t][k]] = -1;
    ws->nu[t] = nu;
}

/* Head: s = dot or cosine; pred = post(a*s + c + b_u + b_i). Dot products in double. */
static void head_forward(const tt_model *m, int n, tt_ws *ws)
{
    int D = m->D;
    const float *u = ws->out[TT_USER], *v = ws->out[TT_ITEM];
    if (m->head == TT_HEAD_COSINE) {
        normalise(u, ws->nu[TT_USER], D, ws->nrm[TT_USER], NULL);
        normalise(v, ws->nu[TT_ITEM], D, ws->nrm[TT_ITEM], NULL);
        u = ws->nrm[TT_USER];
        v = ws->nrm[TT_ITEM];
    }
    const tt_tower *tu = &m->tw[TT_USER], *ti = &m->tw[TT_ITEM];
    double a = m->dense[m->head_off], c = m->dense[m->head_off + 1];
    for (int i = 0; i < n; i++) {
        int ju = ws->map[TT_USER][i], ji = ws->map[TT_ITEM][i];
        const float *ui = u + (size_t)ju * D, *vi = v + (size_t)ji * D;
        double s = 0.0;
        for (int k = 0; k < D; k++) s += (double)ui[k] * vi[k];
        double z = a * s + c + (double)row_bias(m, tu, ws->uniq[TT_USER][ju]) +
                   (double)row_bias(m, ti, ws->uniq[TT_ITEM][ji]);
        ws->s[i] = s;
        ws->pred[i] = m->head == TT_HEAD_SIGMOID ? 1.0 / (1.0 + exp(-z)) : z;
    }
}

int twotower_predict(const tt_model *m, const int32_t *users, const int32_t *items, int n,
                     tt_ws *ws)
{
    int rc = RP_OK;
    dedup(ws, TT_USER, users, n);
    dedup(ws, TT_ITEM, items, n);
    RP_CALL(twotower_tower_forward(m, TT_USER, ws->uniq[TT_USER], ws->nu[TT_USER], ws));
    RP_CALL(twotower_tower_forward(m, TT_ITEM, ws->uniq[TT_ITEM], ws->nu[TT_ITEM], ws));
    head_forward(m, n, ws);
cleanup:
    return rc;
}

/* Loss derivative dL/dp for residual r; returns the loss. */
static double loss_of(const tt_model *m, double r, double *dldp)
{
    if (!m->huber) {
        *dldp = 2.0 * r;
        return r * r;
    }
    double d = m->delta, ar = fabs(r);
    if (ar <= d) {
        *dldp = r;
        return 0.5 * r * r;
    }
    *dldp = r > 0 ? d : -d;
    return d * (ar - 0.5 * d);
}

/* Backward of the head into ws->dout[*] and ws->dbias[*] (per distinct row) and the head
 * gradient; returns the loss sum. */
static double head_backward(const tt_model *m, const float *y, int n, float inv_b, tt_ws *ws,
                            tt_grad *g, double *sse, double *sae)
{
    int D = m->D, cosine = m->head == TT_HEAD_COSINE;
    const float *u = ws->out[TT_USER], *v = ws->out[TT_ITEM];
    double a = m->dense[m->head_off], loss = 0.0, ga = 0.0, gc = 0.0;
    for (int t = 0; t < 2; t++) {
        memset(ws->dout[t], 0, (size_t)ws->nu[t] * D * sizeof(float));
        memset(ws->dbias[t], 0, (size_t)ws->nu[t] * sizeof(float));
    }
    for (int i = 0; i < n; i++) {
        double p = ws->pred[i], r = p - y[i], dldp;
        double pc = m->log_target ? p : fmin(fmax(p, 0.0), 1.0);
        loss += loss_of(m, r, &dldp);
        *sse += (pc - y[i]) * (pc - y[i]);
        *sae += fabs(pc - y[i]);
        double dz = dldp * inv_b * (m->head == TT_HEAD_SIGMOID ? p * (1.0 - p) : 1.0);
        int ju = ws->map[TT_USER][i], ji = ws->map[TT_ITEM][i];
        ga += dz * ws->s[i];
        gc += dz;
        ws->dbias[TT_USER][ju] += (float)dz;
        ws->dbias[TT_ITEM][ji] += (float)dz;
        double ds = dz * a;
        const float *ui = u + (size_t)ju * D, *vi = v + (size_t)ji * D;
        float *du = ws->dout[TT_USER] + (size_t)ju * D, *dv = ws->dout[TT_ITEM] + (size_t)ji * D;
        if (!cosine) {
            for (int k = 0; k < D; k++) {
                du[k] += (float)(ds * vi[k]);
                dv[k] += (float)(ds * ui[k]);
            }
            continue;
        }
        /* un = u/|u|: du = ds * (vn - s*un) / |u| (and symmetrically for v). */
        const float *un = ws->nrm[TT_USER] + (size_t)ju * D;
        const float *vn = ws->nrm[TT_ITEM] + (size_t)ji * D;
        double su = TT_COS_EPS, sv = TT_COS_EPS;
        for (int k = 0; k < D; k++) {
            su += (double)ui[k] * ui[k];
            sv += (double)vi[k] * vi[k];
        }
        double iu = 1.0 / sqrt(su), iv = 1.0 / sqrt(sv), s = ws->s[i];
        for (int k = 0; k < D; k++) {
            du[k] += (float)(ds * (vn[k] - s * un[k]) * iu);
            dv[k] += (float)(ds * (un[k] - s * vn[k]) * iv);
        }
    }
    /* The dot head's scale is fixed at 1: the vectors carry the scale. */
    if (m->head != TT_HEAD_DOT) g->dense[m->head_off] += (float)ga;
    g->dense[m->head_off + 1] += (float)gc;
    return loss;
}

/* Gradient of the id blocks of the distinct rows of tower t: [dout (id_add) | dbias | 0]. */
TT_INLINE void scatter_id_e(const tt_model *m, int t, tt_ws *ws, tt_grad *g, int E)
{
    const tt_tower *tw = &m->tw[t];
    int D = m->D, bpos = tw->id_add ? D : 0;
    if (tw->id_span == 0) return;
    for (int j = 0; j < ws->nu[t]; j++) {
        if (tw->id_add) memcpy(ws->idg, ws->dout[t] + (size_t)j * D, (size_t)D * sizeof(float));
        if (tw->has_bias) ws->idg[bpos] = ws->dbias[t][j];
        int64_t r0 = tw->id_base + (int64_t)ws->uniq[t][j] * tw->id_span;
        for (int q = 0; q < tw->id_span; q++)
            grad_add_row(g, E, (int32_t)(r0 + q), ws->idg + q * E, 1.0f);
    }
}

static void scatter_id(const tt_model *m, int t, tt_ws *ws, tt_grad *g)
{
    if (m->E == 8) scatter_id_e(m, t, ws, g, 8);
    else scatter_id_e(m, t, ws, g, m->E);
}

/* Scatter the input gradient dx [n, in] of tower t into the embedding rows it came from. */
TT_INLINE void scatter_inputs_e(const tt_model *m, int t, const int32_t *rows, int n,
                                const float *dx, tt_grad *g, int E)
{
    const tt_tower *tw = &m->tw[t];
    const tt_side *f = tw->f;
    int in = tw->dims[0];
    for (int i = 0; i < n; i++) {
        int64_t r = rows[i];
        const float *di = dx + (size_t)i * in;
        int s = 0;
        if (tw->use_id) {
            grad_add_row(g, E, (int32_t)(tw->slot_base[0] + r), di, 1.0f);
            s++;
        }
        for (int j = 0; j < f->ncat; j++, s++)
            grad_add_row(g, E, (int32_t)(tw->slot_base[s] + f->cat[r * f->ncat + j]), di + s * E,
                         1.0f);
        if (f->tag_len == 0) continue;
        int cnt = 0;
        for (int k = 0; k < f->tag_len; k++) cnt += f->tags[r * f->tag_len + k] != 0;
        for (int k = 0; k < f->tag_len; k++) {
            int32_t tg = f->tags[r * f->tag_len + k];
            if (tg != 0)
                grad_add_row(g, E, (int32_t)(tw->slot_base[s] + tg), di + s * E, 1.0f / (float)cnt);
        }
    }
}

static void scatter_inputs(const tt_model *m, int t, const int32_t *rows, int n, const float *dx,
                           tt_grad *g)
{
    if (m->E == 8) scatter_inputs_e(m, t, rows, n, dx, g, 8);
    else scatter_inputs_e(m, t, rows, n, dx, g, m->E);
}

/* Backward through tower t from ws->dout[t] over its distinct rows (after its forward pass):
 * the engine adds dW, db into g's slice of the tower; the input rows' gradient goes to the
 * embedding rows, the output's to the id blocks. */
static int tower_backward(const tt_model *m, int t, tt_ws *ws, tt_grad *g)
{
    int rc = RP_OK, n = ws->nu[t];
    rp_mlp mlp;
    rp_mlp_grads grads = {.params = g->dense + m->tw[t].w_off[0], .accumulate = 1, .dX = ws->dx};
    scatter_id(m, t, ws, g);
    RP_CALL(tower_mlp(m, t, m->dense, &mlp));
    RP_CALL(rp_mlp_backward(&mlp, ws->x[t], n, ws->work[t], ws->dout[t], &grads, ws->scratch));
    scatter_inputs(m, t, ws->uniq[t], n, ws->dx, g);
cleanup:
    return rc;
}

double twotower_loss_grad(const tt_model *m, const int32_t *users, const int32_t *items,
                          const float *y, int n, float inv_b, tt_ws *ws, tt_grad *g,
                          double *sse, double *sae)
{
    if (n <= 0) return 0.0;
    if (twotower_predict(m, users, items, n, ws) != RP_OK) return NAN;
    double loss = head_backward(m, y, n, inv_b, ws, g, sse, sae);
    if (tower_backward(m, TT_USER, ws, g) != RP_OK || tower_backward(m, TT_ITEM, ws, g) != RP_OK)
        return NAN;
    return loss;
}

int twotower_embed_all(const tt_model *m, int t, float *score, float *raw)
{
    return twotower_embed_rows(m, t, 0, m->tw[t].f->n, score, raw);
}

void twotower_score_attrs(const tt_model *m, int *sigmoid, double *scale, double *shift)
{
    *sigmoid = m->head == TT_HEAD_SIGMOID;
    /* With bias columns the scale a is folded into the user rows. */
    *scale = m->S > m->D ? 1.0 : (double)m->dense[m->head_off];
    *shift = m->dense[m->head_off + 1];
}

void twotower_dot_of(const tt_model *m, const float *su, const float *si, tt_dot *dot)
{
    dot->S = m->S;
    dot->user = su;
    dot->item = si;
    twotower_score_attrs(m, &dot->sigmoid, &dot->scale, &dot->shift);
}

double twotower_dot_pred(const tt_dot *dot, const float *su, const float *si)
{
    double s = 0.0;
    for (int k = 0; k < dot->S; k++) s += (double)su[k] * si[k];
    double z = dot->scale * s + dot->shift, p = dot->sigmoid ? 1.0 / (1.0 + exp(-z)) : z;
    return fmin(fmax(p, 0.0), 1.0);
}

double twotower_pair_pred(const tt_model *m, const float *su, const float *si)
{
    tt_dot dot;
    twotower_dot_of(m, su, si, &dot);
    return twotower_dot_pred(&dot, su, si);
}

/* /score rows of n tower outputs u [n, D] of rows r0.. of side t (see twotower_embed_rows). */
static void score_rows(const tt_model *m, int t, int64_t r0, int n, const float *u, float *nrm,
                       float *score)
{
    int D = m->D, S = m->S;
    if (m->head == TT_HEAD_COSINE) {
        normalise(u, n, D, nrm, NULL);
        u = nrm;
    }
    if (S == D) {
        memcpy(score, u, (size_t)n * D * sizeof(float));
        return;
    }
    float a = m->dense[m->head_off];
    for (int i = 0; i < n; i++) {
        float *o = score + (size_t)i * S, b = row_bias(m, &m->tw[t], r0 + i);
        for (int k = 0; k < D; k++) o[k] = t == TT_USER ? a * u[(size_t)i * D + k]
                                                        : u[(size_t)i * D + k];
        o[D] = t == TT_USER ? b : 1.0f;
        o[D + 1] = t == TT_USER ? 1.0f : b;
    }
}

int twotower_embed_rows(const tt_model *m, int t, int64_t r0, int64_t n, float *score,
                        float *raw)
{
    int rc = RP_OK;
    tt_ws ws;
    int32_t *rows = NULL;
    const int chunk = TT_EMBED_CHUNK;
    int D = m->D;
    RP_CALL(twotower_ws_init(&ws, m, chunk));
    RP_ALLOC(rows = malloc(chunk * sizeof *rows));
    for (int64_t done = 0; done < n; done += chunk) {
        int c = (int)(n - done < chunk ? n - done : chunk);
        for (int i = 0; i < c; i++) rows[i] = (int32_t)(r0 + done + i);
        RP_CALL(twotower_tower_forward(m, t, rows, c, &ws));
        if (raw) memcpy(raw + done * D, ws.out[t], (size_t)c * D * sizeof(float));
        score_rows(m, t, r0 + done, c, ws.out[t], ws.nrm[t], score + done * m->S);
    }
cleanup:
    free(rows);
    twotower_ws_clear(&ws);
    return rc;
}
