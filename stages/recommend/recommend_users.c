/* recommend_users.c - which users to recommend for: all, or raw ids from --users. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recommend.h"
#include "rp_err.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The whole text of "@file" or the list itself. */
static int spec_text(const char *spec, char **text)
{
    int rc = RP_OK;
    FILE *fp = NULL;
    char *buf = NULL;
    if (spec[0] != '@') {
        RP_ALLOC(*text = strdup(spec));
        goto cleanup;
    }
    fp = fopen(spec + 1, "rb");
    if (fp == NULL)
        RP_FAIL_USER0(RP_ERR_NOINPUT, "%s: cannot open --users file: %s", spec + 1,
                      strerror(errno));
    size_t cap = 4096, len = 0, n;
    RP_ALLOC(buf = malloc(cap));
    while ((n = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *nb = NULL;
            RP_ALLOC(nb = realloc(buf, cap *= 2));
            buf = nb;
        }
    }
    buf[len] = '\0';
    *text = buf;
    buf = NULL;
cleanup:
    if (fp) fclose(fp);
    free(buf);
    return rc;
}

/* Dense index of raw id r in the sorted user_raw, or -1. */
static int64_t find_raw(const int64_t *raw, int64_t n, int64_t r)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (raw[mid] < r) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && raw[lo] == r ? lo : -1;
}

int rec_select_users(const char *spec, const int64_t *user_raw, int64_t n_users, int64_t **sel,
                     int64_t *n)
{
    int rc = RP_OK;
    char *text = NULL;
    int64_t *s = NULL, cnt = 0;
    const char *what = spec && spec[0] == '@' ? spec + 1 : "--users";
    if (spec == NULL) {
        RP_ALLOC(s = malloc((size_t)(n_users > 0 ? n_users : 1) * sizeof *s));
        for (int64_t u = 0; u < n_users; u++) s[u] = u;
        cnt = n_users;
        goto done;
    }
    RP_CALL(spec_text(spec, &text));
    RP_ALLOC(s = malloc((strlen(text) / 2 + 1) * sizeof *s));
    for (char *p = text; *p != '\0';) {
        if (*p == ',' || isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        char *end = NULL;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        int sep = *end == '\0' || *end == ',' || isspace((unsigned char)*end);
        if (end == p || errno != 0 || !sep)
            RP_FAIL_USER0(RP_ERR_USAGE, "%s: '%.20s' is not a user id", what, p);
        int64_t d = find_raw(user_raw, n_users, (int64_t)v);
        if (d < 0) RP_FAIL_USER0(RP_ERR_USAGE, "%s: user %lld is not in the data", what, v);
        s[cnt++] = d;
        p = end;
    }
    if (cnt == 0) RP_FAIL_USER0(RP_ERR_USAGE, "%s: no user ids given", what);
    qsort(s, (size_t)cnt, sizeof *s, cmp_i64);
    int64_t w = 0;
    for (int64_t r = 0; r < cnt; r++)
        if (w == 0 || s[r] != s[w - 1]) s[w++] = s[r];
    cnt = w;
done:
    *sel = s;
    s = NULL;
    *n = cnt;
cleanup:
    free(text);
    free(s);
    return rc;
}
