/* synth_side.c - rp-synth --side: the real user_features.csv and item_categories.csv feed the
 * planted model (ids, activity degree, features, tags). Read with rp_csv, every rank its line
 * range, then gathered in file order. */
#include <stdlib.h>
#include <string.h>

#include "rp_csv.h"
#include "rp_err.h"
#include "rp_mpi.h"
#include "rp_records.h"
#include "synth.h"
#include "synth_model.h"

typedef struct side_user { int64_t id; int32_t degree, author, feat1, feat6; } side_user;
typedef struct side_item { int64_t id; uint8_t ntags, tags[4]; uint8_t pad[3]; } side_item;

static int field_i64(const rp_csv_chunk *ck, int64_t line, const rp_csv_field *f, int col,
                     int64_t *v, int empty_ok)
{
    int rc = RP_OK;
    if (f[col].len == 0 && empty_ok) {
        *v = 0;
        return RP_OK;
    }
    if (rp_parse_i64(f[col].p, f[col].len, v) != 0) {
        char s[64];
        rp_csv_sanitize(f[col].p, f[col].len, s, sizeof s);
        RP_FAIL_USER(RP_ERR_DATA, "%s:%lld: column %d: '%s' is not an integer", ck->path,
                     (long long)line, col + 1, s);
    }
cleanup:
    return rc;
}

/* Parses one row's fields into the record rec (zeroed). Returns RP_OK or an error (logged). */
typedef int (*side_row_fn)(const rp_csv_chunk *ck, int64_t line, const rp_csv_field *f,
                           void *rec);

/* Read one side table: every rank its line range, nfields per row, one rec_size record per
 * row, gathered to every rank in file order. Collective. Out: *out (caller frees), *n. */
static int read_side(MPI_Comm comm, const char *path, const char *header, int nfields,
                     size_t rec_size, side_row_fn row, void **out, int64_t *n)
{
    int rc = RP_OK;
    rp_csv_chunk ck = {0};
    char *mine = NULL;
    size_t cap = 1024, cnt = 0, pos = 0;
    const char *s, *e;
    int64_t line = 0;
    int trunc = 0;
    rp_csv_field f[32];
    RP_CALL(rp_csv_read_chunk(comm, path, header, &ck));
    RP_ALLOC(mine = malloc(cap * rec_size));
    while (rp_csv_next_line(&ck, &pos, &s, &e, &line, &trunc)) {
        if (s == e) continue;
        int nf = rp_csv_split(s, e, f, 32);
        if (nf != nfields)
            RP_FAIL_USER(RP_ERR_DATA, "%s:%lld: %d fields, expected %d", path, (long long)line, nf,
                         nfields);
        if (cnt == cap) {
            char *p = NULL;
            RP_ALLOC(p = realloc(mine, (cap *= 2) * rec_size));
            mine = p;
        }
        void *rec = mine + cnt++ * rec_size;
        memset(rec, 0, rec_size);
        RP_CALL(row(&ck, line, f, rec));
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK)
        rc = rp_mpi_agree(comm, rp_records_allgather(comm, mine, (int64_t)cnt, rec_size, out, n));
    rp_csv_chunk_clear(&ck);
    free(mine);
    return rc;
}

static int user_row(const rp_csv_chunk *ck, int64_t line, const rp_csv_field *f, void *rec)
{
    int rc = RP_OK;
    side_user *r = rec;
    int64_t a = 0, f1 = 0, f6 = 0;
    static const char *const deg[4] = {"full_active", "high_active", "middle_active", "UNKNOWN"};
    RP_CALL(field_i64(ck, line, f, 0, &r->id, 0));
    RP_CALL(field_i64(ck, line, f, 4, &a, 1));
    RP_CALL(field_i64(ck, line, f, 14, &f1, 1));
    RP_CALL(field_i64(ck, line, f, 19, &f6, 1));
    r->degree = 3;
    for (int k = 0; k < 4; k++)
        if (f[1].len == strlen(deg[k]) && memcmp(f[1].p, deg[k], f[1].len) == 0) r->degree = k;
    r->author = (int32_t)a;
    r->feat1 = (int32_t)f1;
    r->feat6 = (int32_t)f6;
cleanup:
    return rc;
}

/* feat: [8] or "[27, 9]": 1..4 tag ids 0..30 */
static int parse_tags(const rp_csv_field *f, side_item *r)
{
    const char *p = f->p, *e = f->p + f->len;
    if (f->len < 3 || *p != '[' || e[-1] != ']') return -1;
    p++;
    e--;
    r->ntags = 0;
    while (p < e) {
        while (p < e && (*p == ' ' || *p == ',')) p++;
        const char *q = p;
        while (q < e && *q != ',') q++;
        int64_t v;
        if (q == p || rp_parse_i64(p, (size_t)(q - p), &v) != 0 || v < 0 || v > 255) return -1;
        if (r->ntags < 4) r->tags[r->ntags++] = (uint8_t)v;
        p = q;
    }
    return r->ntags > 0 ? 0 : -1;
}

static int item_row(const rp_csv_chunk *ck, int64_t line, const rp_csv_field *f, void *rec)
{
    int rc = RP_OK;
    side_item *r = rec;
    RP_CALL(field_i64(ck, line, f, 0, &r->id, 0));
    if (parse_tags(&f[1], r) != 0) {
        char t[64];
        rp_csv_sanitize(f[1].p, f[1].len, t, sizeof t);
        RP_FAIL_USER(RP_ERR_DATA, "%s:%lld: feat '%s' is not a tag list like [8] or \"[27, 9]\"",
                     ck->path, (long long)line, t);
    }
cleanup:
    return rc;
}

int synth_side_read(MPI_Comm comm, const char *dir, synth_model *m)
{
    int rc = RP_OK;
    char path[4096];
    side_user *us = NULL;
    side_item *is = NULL;
    int64_t nu = 0, ni = 0;
    snprintf(path, sizeof path, "%s/user_features.csv", dir);
    RP_CALL(read_side(comm, path, SYNTH_HDR_USERS, 31, sizeof *us, user_row, (void **)&us,
                      &nu));
    snprintf(path, sizeof path, "%s/item_categories.csv", dir);
    RP_CALL(read_side(comm, path, SYNTH_HDR_ITEMS, 2, sizeof *is, item_row, (void **)&is,
                      &ni));
    if (nu < 2 || ni < 2)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: too few users (%lld) or videos (%lld)", dir, (long long)nu,
                      (long long)ni);
    m->n_users = nu;
    m->n_items = ni;
    RP_ALLOC(m->u_raw = malloc((size_t)nu * sizeof *m->u_raw));
    RP_ALLOC(m->u_degree = malloc((size_t)nu));
    RP_ALLOC(m->u_feff = malloc((size_t)nu * sizeof *m->u_feff));
    for (int64_t u = 0; u < nu; u++) {
        m->u_raw[u] = us[u].id;
        m->u_degree[u] = (int8_t)us[u].degree;
        m->u_feff[u] =
            (float)synth_user_feat_effect(us[u].degree, us[u].author, us[u].feat1, us[u].feat6);
    }
    RP_ALLOC(m->i_raw = malloc((size_t)ni * sizeof *m->i_raw));
    RP_ALLOC(m->i_ntags = malloc((size_t)ni));
    RP_ALLOC(m->i_tags = malloc((size_t)ni * 4));
    for (int64_t i = 0; i < ni; i++) {
        m->i_raw[i] = is[i].id;
        m->i_ntags[i] = is[i].ntags;
        memcpy(&m->i_tags[i * 4], is[i].tags, 4);
    }
cleanup:
    free(us);
    free(is);
    return rc;
}
