/* hybrid_ckpt.c - atomic checkpoints of the concat MLP training (weights, Adam moments, best
 * weights, learning curve) so a SIGTERM'd rp-hybrid resumes to the same bits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hybrid.h"
#include "rp_err.h"
#include "rp_h5.h"
#include "rp_mpi.h"

#define CKPT_SCHEMA "recpipe.hybrid.checkpoint"

void hyb_ckpt_clear(hyb_ckpt *c)
{
    free(c->params);
    free(c->m1);
    free(c->m2);
    free(c->best);
    free(c->hist_train);
    free(c->hist_valid);
    memset(c, 0, sizeof *c);
}

static const char *const vec_names[4] = {"/params", "/adam_m1", "/adam_m2", "/best"};

int hyb_ckpt_write(MPI_Comm comm, const char *path, const hyb_ckpt *c)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    const float *vecs[4] = {c->params, c->m1, c->m2, c->best};
    int64_t ints[4] = {c->epoch, c->step, c->bad, c->best_epoch};
    RP_CALL(rp_h5_create(comm, path, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", CKPT_SCHEMA));
    RP_CALL(rp_h5_attr_write_str(f, "/", "fingerprint", c->fingerprint));
    RP_CALL(rp_h5_attr_write(f, "/", "state", RP_I64, 4, ints));
    RP_CALL(rp_h5_attr_write(f, "/", "best_rmse", RP_F64, 1, &c->best_rmse));
    for (int v = 0; v < 4; v++)
        RP_CALL(rp_h5_write_replicated(comm, f, vec_names[v], RP_F32, 1, &c->n_params, vecs[v]));
    RP_CALL(rp_h5_write_replicated(comm, f, "/hist_train", RP_F64, 1, &c->epoch, c->hist_train));
    RP_CALL(rp_h5_write_replicated(comm, f, "/hist_valid", RP_F64, 1, &c->epoch, c->hist_valid));
cleanup:
    return rp_h5_commit(comm, &f, path, rc);
}

int hyb_ckpt_read(MPI_Comm comm, const char *path, const char *want, hyb_ckpt *c, int *found)
{
    int rc = RP_OK, nd = 0;
    hid_t f = H5I_INVALID_HID;
    int64_t ints[4], d[2];
    float **vecs[4] = {&c->params, &c->m1, &c->m2, &c->best};
    memset(c, 0, sizeof *c);
    *found = access(path, R_OK) == 0;
    RP_MPI(MPI_Bcast(found, 1, MPI_INT, 0, comm));
    if (!*found) goto cleanup;
    RP_CALL(rp_h5_open(comm, path, &f));
    RP_CALL(rp_h5_check_schema(f, path, CKPT_SCHEMA));
    RP_CALL(rp_h5_attr_read_str(f, "/", "fingerprint", c->fingerprint, sizeof c->fingerprint));
    if (strcmp(c->fingerprint, want) != 0)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: checkpoint written with other parameters or inputs "
                      "(%s; now %s): delete it or drop --resume", path, c->fingerprint, want);
    RP_CALL(rp_h5_attr_read(f, "/", "state", RP_I64, 4, ints));
    RP_CALL(rp_h5_attr_read(f, "/", "best_rmse", RP_F64, 1, &c->best_rmse));
    c->epoch = ints[0];
    c->step = ints[1];
    c->bad = ints[2];
    c->best_epoch = ints[3];
    for (int v = 0; v < 4; v++) {
        RP_CALL(rp_h5_read_all(f, vec_names[v], RP_F32, (void **)vecs[v], &nd, d));
        if (v > 0 && d[0] != c->n_params)
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld values, expected %lld", path,
                          vec_names[v], (long long)d[0], (long long)c->n_params);
        c->n_params = d[0];
    }
    RP_CALL(rp_h5_read_all(f, "/hist_train", RP_F64, (void **)&c->hist_train, &nd, d));
    RP_CALL(rp_h5_read_all(f, "/hist_valid", RP_F64, (void **)&c->hist_valid, &nd, d));
    if (d[0] != c->epoch)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: history of %lld epochs, state says %lld", path,
                      (long long)d[0], (long long)c->epoch);
cleanup:
    rp_h5_close(&f);
    rc = rp_mpi_agree(comm, rc);
    if (rc != RP_OK) hyb_ckpt_clear(c);
    return rc;
}
