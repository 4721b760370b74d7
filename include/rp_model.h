/* rp_model.h - score any trained model the same way: rp-eval, rp-hybrid and rp-recommend load a
 * model file (als.h5, twotower.h5, hybrid.h5) or build one in memory (baselines) and ask for
 * normalised predictions of (user, item) pairs or of user blocks against every item.
 * Models are replicated on every rank (embeddings are small next to the interactions). */
#ifndef RP_MODEL_H
#define RP_MODEL_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rp_model rp_model;

/* A model kind: how to score. Kinds other than the dot form (rp_model.c) live in their own
 * files and are listed in rp_model.c's loader table. */
typedef struct rp_model_ops {
    const char *kind;
    /* out[p] = prediction for (users[p], items[p]), p < n. Local, deterministic per pair. */
    int (*score_pairs)(const rp_model *m, const int32_t *users, const int32_t *items, int64_t n,
                       float *out);
    /* out[r * n_items + i] for users u0 .. u0+nu-1 and every item i. Local. */
    int (*score_block)(const rp_model *m, int64_t u0, int64_t nu, float *out);
    void (*destroy)(void *impl);
} rp_model_ops;

struct rp_model {
    char name[64];     /* "als", "twotower", "hybrid", "bias", ... */
    int64_t n_users;
    int64_t n_items;
    const rp_model_ops *ops;
    void *impl;
};

/* Post-processing of the dot form. */
typedef enum { RP_POST_IDENTITY = 0, RP_POST_SIGMOID = 1 } rp_post;

/* rp_model_split_variant - "hybrid.h5#concat" -> file "hybrid.h5", variant "concat"; without a
 * '#' suffix variant is "". Local. */
void rp_model_split_variant(const char *path, char *file, size_t fcap, char *variant,
                            size_t vcap);

/* rp_model_load - open path collectively and load the model it holds (dispatch on the "schema"
 * root attribute and the presence of /score). n_users/n_items must match the file.
 * Out: *m (rp_model_destroy). Returns RP_OK, RP_ERR_NOINPUT, RP_ERR_DATA (one-line message
 * naming the file: wrong schema, missing dataset, dimension mismatch). Collective. */
int rp_model_load(MPI_Comm comm, const char *path, int64_t n_users, int64_t n_items,
                  rp_model **m);

/* rp_model_from_dot - an in-memory dot-form model; copies U [n_users, d] and V [n_items, d]
 * (row-major doubles). pred = clamp01(post(scale * U[u].V[i] + shift)). Local. */
int rp_model_from_dot(const char *name, int64_t n_users, int64_t n_items, int64_t d,
                      const double *U, const double *V, rp_post post, double scale, double shift,
                      rp_model **m);

/* rp_model_load_dot - read /score/user, /score/item and their attributes from an open file
 * (helper for kinds that embed dot-form components under a group prefix, "" for the root).
 * Collective. */
int rp_model_load_dot(MPI_Comm comm, int64_t file, const char *path, const char *prefix,
                      const char *name, int64_t n_users, int64_t n_items, rp_model **m);

/* rp_model_dot_parts - borrow the factors of a dot-form model (from rp_model_from_dot or
 * rp_model_load_dot) so it can be copied into another file (rp-hybrid). Local.
 * Returns RP_OK, or RP_ERR_INTERNAL if m is not of the dot kind. */
int rp_model_dot_parts(const rp_model *m, int64_t *d, const double **U, const double **V,
                       rp_post *post, double *scale, double *shift);

/* rp_model_dot_monotone - for callers that finish only some products (rp-recommend's top-K):
 * +1 if m is of the dot kind and its score is a non-decreasing function of the raw float
 * product U[u].V[i] (identity post, scale >= 0), -1 if non-increasing (identity, scale < 0), 0
 * otherwise (other kinds, sigmoid). Local. */
int rp_model_dot_monotone(const rp_model *m);

/* rp_model_dot_raw_block - the raw float products of rp_model_score_block (same GEMM, same
 * bits) before the post transform and clamp; rp_model_dot_finish(m, out[x]) gives the very
 * score rp_model_score_block would have written. Dot kind only (else RP_ERR_INTERNAL). Local. */
int rp_model_dot_raw_block(const rp_model *m, int64_t u0, int64_t nu, float *out);
/* rp_model_dot_raw_tile - rp_model_dot_raw_block restricted to items i0 .. i0+ni-1: out[r * ni +
 * j] is the product of user u0 + r and item i0 + j (one GEMM of nu x ni; i0 = 0, ni = n_items is
 * the very call of rp_model_dot_raw_block). Dot kind only. Local. */
int rp_model_dot_raw_tile(const rp_model *m, int64_t u0, int64_t nu, int64_t i0, int64_t ni,
                          float *out);
float rp_model_dot_finish(const rp_model *m, float raw);
/* rp_model_dot_floats - borrow the float factors the dot kind's GEMMs multiply (the float casts
 * of U [n_users, d] and V [n_items, d]). Local. Returns RP_OK, RP_ERR_INTERNAL (not the dot
 * kind). */
int rp_model_dot_floats(const rp_model *m, const float **Uf, const float **Vf);

/* rp_model_score_pairs - out[p] = normalised prediction in [0, 1] of the dense pair
 * (users[p], items[p]) for p < n (indices in range). Local; a pair's value does not depend on
 * the other pairs, so any split over ranks gives the same bits. Returns RP_OK, RP_ERR_NOMEM. */
/* rp_model_set - fill a model's identity (name, sizes) and its kind (ops, impl taken over).
 * For the files that implement kinds. Local. */
void rp_model_set(rp_model *m, const char *name, int64_t n_users, int64_t n_items,
                  const rp_model_ops *ops, void *impl);

int rp_model_score_pairs(const rp_model *m, const int32_t *users, const int32_t *items,
                         int64_t n, float *out);
/* rp_model_score_block - out[r * n_items + i] = prediction of user u0 + r and item i for
 * r < nu and every item (blocked single-precision products: may differ in the last bits from
 * rp_model_score_pairs; keep blocks aligned to RP_MODEL_USER_BLOCK for rank-count independent
 * bits). out holds nu * n_items floats. Local. Returns RP_OK, RP_ERR_NOMEM, RP_ERR_INTERNAL
 * (users outside the model). */
int rp_model_score_block(const rp_model *m, int64_t u0, int64_t nu, float *out);
/* rp_model_destroy - free *m (NULL and *m == NULL accepted) and set *m = NULL. */
void rp_model_destroy(rp_model **m);

/* Rows per user block in rp_model_score_block callers that must be rank-count independent:
 * partition users in multiples of this so the same GEMM shapes occur for any N. */
#define RP_MODEL_USER_BLOCK 256

#endif
