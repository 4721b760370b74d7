/* test_rp_model.c - the dot-form scorer: pairs and blocks agree with a hand computation. */
#include <math.h>
#include <stdlib.h>

#include "rp_err.h"
#include "rp_model.h"
#include "rp_test.h"

int test_rp_model_register(void);

static void dot_pairs_and_block_agree(void)
{
    /* 3 users, 4 items, d = 2: ALS-like folding [p, 1] . [q, b]. */
    double U[6] = {0.1, 1, -0.2, 1, 0.3, 1};
    double V[8] = {0.5, 0.1, -0.5, 0.2, 1.0, 0.0, 2.0, -0.1};
    rp_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(rp_model_from_dot("t", 3, 4, 2, U, V, RP_POST_IDENTITY, 1.0, 0.4, &m),
                          RP_OK);
    float block[12], pair;
    CU_ASSERT_EQUAL(rp_model_score_block(m, 0, 3, block), RP_OK);
    for (int32_t u = 0; u < 3; u++) {
        for (int32_t i = 0; i < 4; i++) {
            double want = U[2 * u] * V[2 * i] + V[2 * i + 1] + 0.4;
            want = want < 0 ? 0 : (want > 1 ? 1 : want);
            CU_ASSERT_EQUAL(rp_model_score_pairs(m, &u, &i, 1, &pair), RP_OK);
            CU_ASSERT(fabs(pair - want) < 1e-6);
            CU_ASSERT(fabs(block[u * 4 + i] - want) < 1e-6);
        }
    }
    rp_model_destroy(&m);
    CU_ASSERT_PTR_NULL(m);
}

static void sigmoid_post(void)
{
    double U[1] = {2.0}, V[1] = {1.5};
    rp_model *m = NULL;
    CU_ASSERT_EQUAL_FATAL(rp_model_from_dot("s", 1, 1, 1, U, V, RP_POST_SIGMOID, 0.5, -1.0, &m),
                          RP_OK);
    int32_t z = 0;
    float p;
    rp_model_score_pairs(m, &z, &z, 1, &p);
    CU_ASSERT(fabs(p - 1.0 / (1.0 + exp(-(0.5 * 3.0 - 1.0)))) < 1e-6);
    rp_model_destroy(&m);
}

int test_rp_model_register(void)
{
    RP_ADD_SUITE("rp_model", RP_T(dot_pairs_and_block_agree), RP_T(sigmoid_post));
    return 0;
}
