/* rp_shards.c - shards.h5's header: open, schema, catalogue sizes (see rp_shards.h). */
#include "rp_shards.h"

#include <math.h>

#include "rp_err.h"
#include "rp_h5.h"
#include "rp_schema.h"

/* Rows of the raw-id dataset ds, if it exists, must equal n. */
static int check_ids(hid_t f, const char *path, const char *ds, const char *attr, int64_t n)
{
    int rc = RP_OK, nd = 0;
    int64_t d[2] = {0, 0};
    if (!rp_h5_exists(f, ds)) goto cleanup;
    RP_CALL(rp_h5_dims(f, ds, &nd, d));
    if (d[0] != n)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld rows, %s is %lld", path, ds, (long long)d[0],
                      attr, (long long)n);
cleanup:
    return rc;
}

int rp_shards_read_header(hid_t f, const char *path, int64_t *n_users, int64_t *n_items)
{
    int rc = RP_OK;
    int64_t n[2] = {0, 0};
    RP_CALL(rp_h5_check_schema(f, path, RP_SCHEMA_SHARDS));
    if (!rp_h5_attr_exists(f, "/", "n_users") || !rp_h5_attr_exists(f, "/", "n_items"))
        RP_FAIL_USER0(RP_ERR_DATA, "%s: root attributes n_users/n_items missing", path);
    RP_CALL(rp_h5_attr_read(f, "/", "n_users", RP_I64, 1, &n[0]));
    RP_CALL(rp_h5_attr_read(f, "/", "n_items", RP_I64, 1, &n[1]));
    if (n[0] < 1 || n[1] < 1 || n[0] > INT32_MAX || n[1] > INT32_MAX)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: n_users=%lld n_items=%lld out of range", path,
                      (long long)n[0], (long long)n[1]);
    RP_CALL(check_ids(f, path, RP_DS_USER_RAW, "n_users", n[0]));
    RP_CALL(check_ids(f, path, RP_DS_ITEM_RAW, "n_items", n[1]));
    *n_users = n[0];
    *n_items = n[1];
cleanup:
    return rc;
}

int rp_shards_open(MPI_Comm comm, const char *path, hid_t *f, int64_t *n_users,
                   int64_t *n_items)
{
    int rc = RP_OK;
    hid_t file = H5I_INVALID_HID;
    RP_CALL(rp_h5_open(comm, path, &file));
    RP_CALL(rp_shards_read_header(file, path, n_users, n_items));
    *f = file;
    file = H5I_INVALID_HID;
cleanup:
    rp_h5_close(&file);
    return rc;
}

int rp_shards_log_range(MPI_Comm comm, const char *path, double log_min, double log_max,
                        rp_log_range *r)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    int64_t n[2] = {0, 0};
    RP_CALL(rp_shards_open(comm, path, &f, &n[0], &n[1]));
    RP_CALL(rp_h5_attr_read(f, "/", "norm_min", RP_F64, 1, &r->norm_min));
    RP_CALL(rp_h5_attr_read(f, "/", "norm_max", RP_F64, 1, &r->norm_max));
    if (!(r->norm_max > r->norm_min))
        RP_FAIL_USER0(RP_ERR_DATA, "%s: bad root attributes norm_min/norm_max", path);
    r->lo = log_min;
    r->hi = log_max > 0.0 && log_max < r->norm_max ? log_max : r->norm_max;
    if (!(r->hi > r->lo))
        RP_FAIL_USER0(RP_ERR_USAGE, "--log-min %g: must be below the clip point %g", log_min,
                      r->hi);
cleanup:
    rp_h5_close(&f);
    return rc;
}

double rp_log_gain(double sum_gr, double sum_gg)
{
    if (!(sum_gg > 0.0) || !(sum_gr > 0.0)) return 0.0;
    return sum_gr / sum_gg;
}

int rp_log_keep(const rp_log_range *r, float v, double *log_wr)
{
    double wr = r->norm_min + (double)v * (r->norm_max - r->norm_min);
    if (!(v < 1.0f) || !(wr >= r->lo) || !(wr < r->hi) || !(wr > 0.0)) return 0;
    *log_wr = log(wr);
    return 1;
}
