/* test_features.c - rp-features readers: the real user_features.csv and item_categories.csv
 * (../shared/data/kuairec-real, skipped with a message when absent) parse to the published
 * counts; list fields and caption quirks parse exactly. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "features_stage.h"
#include "rp_err.h"
#include "rp_test.h"

int test_features_register(void);

/* Path of a real KuaiRec side file, or NULL (after saying so) when the copy is absent. */
static const char *real_file(const char *name)
{
    static char p[2048];
    const char *shared = getenv("SHARED");
    snprintf(p, sizeof p, "%s/data/kuairec-real/%s", shared && *shared ? shared : "../shared",
             name);
    if (access(p, R_OK) != 0) {
        printf("\n    SKIPPED: %s not present (real-data checks need ../shared)\n", p);
        return NULL;
    }
    return p;
}

static void features_real_users(void)
{
    static const int card[FEAT_N_ONEHOT] = {2, 8, 30, 1076, 12, 10, 3, 47, 340,
                                            7, 5,  3,  2,    2,  2,  2, 2,  2};
    static const int missing[FEAT_N_ONEHOT] = {0, 0, 0, 0, 201, 0, 0, 0, 0,
                                               0, 0, 0, 77, 75, 75, 74, 74, 74};
    const char *path = real_file("user_features.csv");
    if (path == NULL) return;
    feat_user_rec *u = NULL;
    int64_t n = 0;
    CU_ASSERT_EQUAL_FATAL(features_read_users(MPI_COMM_WORLD, path, &u, &n), RP_OK);
    CU_ASSERT_EQUAL(n, 7176);
    int ids_ok = 1;
    for (int64_t i = 0; i < n; i++) ids_ok &= u[i].id == i;
    CU_ASSERT(ids_ok);
    char *seen = malloc(100000);
    for (int k = 0; k < FEAT_N_ONEHOT; k++) {
        int distinct = 0, miss = 0;
        memset(seen, 0, 100000);
        for (int64_t i = 0; i < n; i++) {
            int32_t v = u[i].onehot[k];
            if (v < 0) miss++;
            else if (v < 100000 && !seen[v]) seen[v] = 1, distinct++;
        }
        CU_ASSERT_EQUAL(distinct, card[k]);
        CU_ASSERT_EQUAL(miss, missing[k]);
    }
    free(seen);
    int full = 0, high = 0, unknown = 0, middle = 0, quoted_range = 0;
    for (int64_t i = 0; i < n; i++) {
        full += strcmp(u[i].degree, "full_active") == 0;
        high += strcmp(u[i].degree, "high_active") == 0;
        unknown += strcmp(u[i].degree, "UNKNOWN") == 0;
        middle += strcmp(u[i].degree, "middle_active") == 0;
        quoted_range += strcmp(u[i].ranges[0], "(250,500]") == 0;
    }
    CU_ASSERT_EQUAL(full, 6092);
    CU_ASSERT_EQUAL(high, 938);
    CU_ASSERT_EQUAL(unknown, 118);
    CU_ASSERT_EQUAL(middle, 28);
    CU_ASSERT(quoted_range > 0); /* the quoted "(250,500]" kept whole, comma and all */
    /* Row 1 as printed in the official notebook: 386 follows, 4 fans, 327 register days. */
    CU_ASSERT(u[1].counts[0] == 386 && u[1].counts[1] == 4 && u[1].counts[3] == 327);
    CU_ASSERT_STRING_EQUAL(u[1].ranges[1], "[1,10)");
    free(u);
}

static void features_real_tags(void)
{
    const char *path = real_file("item_categories.csv");
    if (path == NULL) return;
    feat_tag_rec *t = NULL;
    int64_t n = 0, hist[6] = {0}, maxtag = -1, ids_ok = 1;
    CU_ASSERT_EQUAL_FATAL(features_read_tags(MPI_COMM_WORLD, path, &t, &n), RP_OK);
    CU_ASSERT_EQUAL(n, 10728);
    for (int64_t i = 0; i < n; i++) {
        ids_ok &= t[i].id == i;
        hist[t[i].ntags < 5 ? t[i].ntags : 5]++;
        for (int j = 0; j < t[i].ntags; j++)
            if (t[i].tags[j] > maxtag) maxtag = t[i].tags[j];
    }
    CU_ASSERT(ids_ok);
    CU_ASSERT_EQUAL(hist[0], 0);
    CU_ASSERT_EQUAL(hist[1], 8970);
    CU_ASSERT_EQUAL(hist[2], 1562);
    CU_ASSERT_EQUAL(hist[3], 185);
    CU_ASSERT_EQUAL(hist[4], 11);
    CU_ASSERT_EQUAL(hist[5], 0);
    CU_ASSERT_EQUAL(maxtag, 30);
    /* Video 1 is "[27, 9]": file order kept. */
    CU_ASSERT(t[1].ntags == 2 && t[1].tags[0] == 27 && t[1].tags[1] == 9);
    free(t);
}

static void features_list_field(void)
{
    int32_t v[4] = {0};
    CU_ASSERT_EQUAL(features_parse_list("[8]", 3, v, 4), 1);
    CU_ASSERT_EQUAL(v[0], 8);
    CU_ASSERT_EQUAL(features_parse_list("[27, 9]", 7, v, 4), 2);
    CU_ASSERT(v[0] == 27 && v[1] == 9);
    CU_ASSERT_EQUAL(features_parse_list("[]", 2, v, 4), 0);
    CU_ASSERT_EQUAL(features_parse_list("[1,2,3,4,5]", 11, v, 4), 5); /* counted, 4 stored */
    CU_ASSERT_EQUAL(v[3], 4);
    CU_ASSERT_EQUAL(features_parse_list("[1, x]", 6, v, 4), -1);
    CU_ASSERT_EQUAL(features_parse_list("[1,]", 4, v, 4), -1);
    CU_ASSERT_EQUAL(features_parse_list("8", 1, v, 4), -1);
    CU_ASSERT_EQUAL(features_parse_list("[-1]", 4, v, 4), -1);
}

/* Caption records: quoted commas and doubled quotes, a bare \r inside an unquoted field, UTF-8,
 * -124 / UNKNOWN as missing. */
static void features_caption_quirks(void)
{
    const char *path = rp_test_path("cap.csv");
    char text[4096];
    snprintf(text, sizeof text,
             "%s\n"
             "7,\"a, b\",\"say \"\"hi\"\", ok\",[t],5,Food,-124,UNKNOWN,-124,UNKNOWN\n"
             "8,x\ry,cap\rtion,[],8,Games,77,UNKNOWN,2676,Deep\n"
             "9,\xe4\xb8\xad,\xe5\xad\x97\xef\xbc\x8c,[],-124,UNKNOWN,3,Three,4,Four\n",
             feat_caption_header);
    rp_test_write_file(path, text);
    feat_caption_rec *c = NULL;
    int64_t n = 0;
    CU_ASSERT_EQUAL_FATAL(features_read_captions(MPI_COMM_WORLD, path, &c, &n), RP_OK);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT(c[0].id == 7 && c[0].cat[0] == 5 && c[0].cat[1] == -1 && c[0].cat[2] == -1);
    CU_ASSERT(c[1].id == 8 && c[1].cat[0] == 8 && c[1].cat[1] == -1 && c[1].cat[2] == 2676);
    CU_ASSERT(c[2].id == 9 && c[2].cat[0] == -1 && c[2].cat[1] == 3 && c[2].cat[2] == 4);
    CU_ASSERT_EQUAL(c[1].line, 3);
    free(c);
}

int test_features_register(void)
{
    RP_ADD_SUITE("features", RP_T(features_real_users), RP_T(features_real_tags),
                 RP_T(features_list_field), RP_T(features_caption_quirks));
    return 0;
}
