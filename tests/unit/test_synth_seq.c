/* test_synth_seq.c - rp-synth's planted sequential effects: fatigue lowers the expected watch
 * ratio of views preceded by related views, drift moves views by their time, views with empty
 * time are untouched, and switching both off gives the independent model back. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_test.h"
#include "synth.h"
#include "synth_model.h"

int test_synth_seq_register(void);

static int build(synth_model *m, int fatigue, int drift)
{
    synth_opts o;
    /* full density (all videos) so users have their real view rates, few users */
    char *argv[] = {"rp-synth", "--out", "x", "--users", "60", "--items", "10728",
                    "--small-users", "12", "--small-items", "400", fatigue ? "--fatigue" :
                    "--no-fatigue", drift ? "--drift" : "--no-drift", NULL};
    int rc = synth_parse_args(13, argv, &o);
    if (rc == RP_OK) rc = synth_model_build(MPI_COMM_WORLD, &o, m);
    return rc;
}

/* Related big-matrix views (same author or a shared tag) in the hour before ts. */
static int recent_related(const synth_model *m, const synth_row *big, size_t nb, int32_t item,
                          int64_t ts)
{
    int c = 0;
    for (size_t j = 0; j < nb; j++) {
        int64_t age = ts - big[j].ts_ms;
        if (age <= 0 || age > 3600 * 1000) continue;
        int rel = m->i_author[item] == m->i_author[big[j].item];
        for (int x = 0; x < m->i_ntags[item]; x++)
            for (int y = 0; y < m->i_ntags[big[j].item]; y++)
                rel |= m->i_tags[item * 4 + x] == m->i_tags[big[j].item * 4 + y];
        c += rel;
    }
    return c;
}

/* log(expect with the effects / expect without) of every small row, and the related counts. */
static void effects(int fatigue, int drift, double *lo_sum, double *hi_sum, int *lo_n, int *hi_n,
                    double *all_sq, int *all_n, int *empty_changed)
{
    synth_model on = {0}, off = {0};
    CU_ASSERT_FATAL(build(&on, fatigue, drift) == RP_OK);
    CU_ASSERT_FATAL(build(&off, 0, 0) == RP_OK);
    synth_row *a = NULL, *b = NULL, *big = NULL;
    size_t ca = 0, cb = 0, cg = 0, na = 0, nb = 0, ng = 0;
    *lo_sum = *hi_sum = *all_sq = 0.0;
    *lo_n = *hi_n = *all_n = *empty_changed = 0;
    for (int64_t su = 0; su < on.n_small_users; su++) {
        int64_t u = on.small_users[su];
        CU_ASSERT_FATAL(synth_user_small(&on, su, &a, &ca, &na) == RP_OK);
        CU_ASSERT_FATAL(synth_user_small(&off, su, &b, &cb, &nb) == RP_OK);
        CU_ASSERT_FATAL(synth_user_big(&on, u, &big, &cg, &ng) == RP_OK);
        CU_ASSERT_FATAL(na == nb);
        for (size_t k = 0; k < na; k++) {
            CU_ASSERT(a[k].item == b[k].item && a[k].ts_ms == b[k].ts_ms);
            double lr = log(a[k].expect / b[k].expect);
            if (a[k].ts_ms < 0) {
                *empty_changed += a[k].expect != b[k].expect;
                continue;
            }
            *all_sq += lr;
            ++*all_n;
            int c = recent_related(&on, big, ng, a[k].item, a[k].ts_ms);
            if (c == 0) { *lo_sum += lr; ++*lo_n; }
            if (c >= 2) { *hi_sum += lr; ++*hi_n; }
        }
    }
    free(a);
    free(b);
    free(big);
    synth_model_clear(&on);
    synth_model_clear(&off);
}

static void fatigue_lowers_related_views(void)
{
    double lo, hi, all;
    int nlo, nhi, nall, empty;
    effects(1, 0, &lo, &hi, &nlo, &nhi, &all, &nall, &empty);
    CU_ASSERT(nlo > 50 && nhi > 50);
    /* views after two or more related views in the last hour are clearly lower */
    CU_ASSERT(hi / nhi < lo / nlo - 0.15);
    CU_ASSERT(empty == 0);
}

static void drift_moves_views(void)
{
    double lo, hi, all;
    int nlo, nhi, nall, empty;
    effects(0, 1, &lo, &hi, &nlo, &nhi, &all, &nall, &empty);
    CU_ASSERT(nall > 100);
    /* symmetric in time: no systematic level change, but not zero either */
    CU_ASSERT(fabs(all / nall) < 0.05);
    CU_ASSERT(fabs((lo + hi) / (nlo + nhi)) < 0.1);
    CU_ASSERT(empty == 0);
}

/* Big rows: with the effects off, the plays are exactly the independent model's. */
static void off_is_independent(void)
{
    synth_model a = {0}, b = {0};
    CU_ASSERT_FATAL(build(&a, 0, 0) == RP_OK);
    CU_ASSERT_FATAL(build(&b, 1, 1) == RP_OK);
    synth_row *ra = NULL, *rb = NULL;
    size_t ca = 0, cb = 0, na = 0, nb = 0;
    int changed = 0, main = 0;
    CU_ASSERT_FATAL(synth_user_big(&a, 3, &ra, &ca, &na) == RP_OK);
    CU_ASSERT_FATAL(synth_user_big(&b, 3, &rb, &cb, &nb) == RP_OK);
    CU_ASSERT_FATAL(na == nb);
    for (size_t k = 0; k < na; k++) {
        CU_ASSERT(ra[k].item == rb[k].item && ra[k].ts_ms == rb[k].ts_ms);
        if (!ra[k].main_part) CU_ASSERT(ra[k].play == rb[k].play);
        main += ra[k].main_part;
        changed += ra[k].play != rb[k].play;
    }
    CU_ASSERT(main > 0 && changed > main / 2);
    free(ra);
    free(rb);
    synth_model_clear(&a);
    synth_model_clear(&b);
}

int test_synth_seq_register(void)
{
    RP_ADD_SUITE("synth_seq", RP_T(fatigue_lowers_related_views), RP_T(drift_moves_views),
                 RP_T(off_is_independent));
    return 0;
}
