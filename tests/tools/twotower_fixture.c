/* twotower_fixture.c - bin/test-twotower_fixture: a planted synthetic shards.h5 + features.h5
 * with twotower_fixture_write() (tests/lib); run by bench/twotower_fixture.sh.
 * Usage: test-twotower_fixture SHARDS FEATURES [key=value ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_h5.h"
#include "twotower_fixture.h"
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rp_h5_init();
    tt_fixture fx;
    twotower_fixture_default(&fx);
    for (int k = 3; k < argc; k++) {
        char *eq = strchr(argv[k], '=');
        if (eq == NULL) return 64;
        *eq = '\0';
        double v = atof(eq + 1);
        const char *n = argv[k];
        if (!strcmp(n, "users")) fx.n_users = (int64_t)v;
        else if (!strcmp(n, "items")) fx.n_items = (int64_t)v;
        else if (!strcmp(n, "train")) fx.train_per_user = (int64_t)v;
        else if (!strcmp(n, "valid")) fx.valid_per_user = (int64_t)v;
        else if (!strcmp(n, "ucat")) fx.n_ucat = (int)v;
        else if (!strcmp(n, "unum")) fx.n_unum = (int)v;
        else if (!strcmp(n, "icat")) fx.n_icat = (int)v;
        else if (!strcmp(n, "inum")) fx.n_inum = (int)v;
        else if (!strcmp(n, "taglen")) fx.tag_len = (int)v;
        else if (!strcmp(n, "ucard")) fx.ucard = (int32_t)v;
        else if (!strcmp(n, "icard")) fx.icard = (int32_t)v;
        else if (!strcmp(n, "tagcard")) fx.tag_card = (int32_t)v;
        else if (!strcmp(n, "seed")) fx.seed = (uint64_t)v;
        else if (!strcmp(n, "noise")) fx.noise = v;
        else { fprintf(stderr, "ttfix: unknown key %s\n", n); return 64; }
    }
    int rc = twotower_fixture_write(MPI_COMM_WORLD, &fx, argv[1], argv[2]);
    MPI_Finalize();
    return rc;
}
