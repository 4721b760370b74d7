/* synth_run.c - rp-synth's options and top-level flow: build the model, write the tables, or
 * (--stats) measure a folder. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "rp_args.h"
#include "rp_err.h"
#include "rp_file.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "synth.h"

int synth_parse_args(int argc, char **argv, synth_opts *o)
{
    int rc = RP_OK;
    *o = (synth_opts){.scale = 1.0, .seed = 42, .clip_max = 3.0, .fatigue = 1, .drift = 1};
    rp_arg args[] = {
        {"out", RP_ARG_STR, &o->out, "DIR", "output folder (created if missing)", NULL},
        {"scale", RP_ARG_DBL, &o->scale, "X",
         "multiply users, videos, small users and small videos of the real size", NULL},
        {"users", RP_ARG_I64, &o->users, "N", "users (0 = 7,176 x scale)", NULL},
        {"items", RP_ARG_I64, &o->items, "N", "videos (0 = 10,728 x scale)", NULL},
        {"small-users", RP_ARG_I64, &o->small_users, "N",
         "small-matrix users (0 = 1,411 x users/7,176)", NULL},
        {"small-items", RP_ARG_I64, &o->small_items, "N",
         "small-matrix videos (0 = 3,327 x videos/10,728)", NULL},
        {"seed", RP_ARG_I64, &o->seed, "S",
         "random seed: the same seed gives the same bytes for any rank count", NULL},
        {"side", RP_ARG_STR, &o->side, "DIR",
         "take user_features.csv and item_categories.csv from this KuaiRec folder", NULL},
        {"clip-max", RP_ARG_DBL, &o->clip_max, "X",
         "truth.h5's /expected_clipped = E[min(watch ratio, X)] (rp-shard's --outlier-max)",
         NULL},
        {"stats", RP_ARG_STR, &o->stats, "DIR",
         "measure DIR's big/small matrices against KuaiRec's statistics (no generation)", NULL},
        {"fatigue", RP_ARG_FLAG, &o->fatigue, NULL,
         "planted fatigue: recent views of the same tag or author lower the watch ratio "
         "(--no-fatigue: none)", NULL},
        {"drift", RP_ARG_FLAG, &o->drift, NULL,
         "planted interest drift: each user's taste moves over the two months (--no-drift: "
         "none)", NULL},
    };
    rp_cmd cmd = {"rp-synth", "write KuaiRec 2.0 format data of any size from a planted model",
                  "Outputs in --out: big_matrix.csv small_matrix.csv user_features.csv\n"
                  "item_categories.csv item_daily_features.csv kuairec_caption_category.csv\n"
                  "social_network.csv truth.h5 (expected watch ratio of every small row,\n"
                  "unclipped and clipped at --clip-max).\n"
                  "--stats DIR prints the statistics and exits 65 when they miss the targets.\n"};
    rc = rp_args_parse(argc, argv, &cmd, args, (int)(sizeof args / sizeof args[0]));
    if (rc != RP_OK) return rc;
    if (o->stats == NULL && (o->out == NULL || o->out[0] == '\0'))
        RP_FAIL_USER0(RP_ERR_USAGE, "--out DIR is required (see --help)");
    if (!(o->scale > 0 && o->scale <= 1000))
        RP_FAIL_USER0(RP_ERR_USAGE, "--scale must be in (0, 1000], got %g", o->scale);
    if (o->users < 0 || o->items < 0 || o->small_users < 0 || o->small_items < 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "sizes must not be negative");
    if (o->seed < 0) RP_FAIL_USER0(RP_ERR_USAGE, "--seed must be >= 0");
    if (!(o->clip_max > 0) || !isfinite(o->clip_max))
        RP_FAIL_USER0(RP_ERR_USAGE, "--clip-max must be a finite number > 0, got %g", o->clip_max);
    if (o->side && (o->users || o->items))
        RP_FAIL_USER0(RP_ERR_USAGE,
                      "--users/--items cannot be combined with --side (its files give the sizes)");
cleanup:
    return rc;
}

/* mkdir -p on rank 0: the output folder and any missing parents. Collective (agrees). */
static int make_dir(MPI_Comm comm, const char *dir)
{
    int rank = 0, rc = RP_OK;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) rc = rp_file_mkdirs(dir);
    return rp_mpi_agree(comm, rc);
}

static int run_stats(rp_stage *st, const synth_opts *o)
{
    int rc = RP_OK;
    synth_stats s;
    RP_CALL(synth_stats_compute(st->comm, o->stats, &s));
    double density = (double)s.big_items / SYNTH_REAL_ITEMS;
    if (st->rank == 0) synth_stats_print(&s, s.big_items);
    int bad = synth_stats_check(&s, density, 0.15, st->rank == 0);
    rp_stage_add(st, "checks_failed", "%d", bad);
    if (bad) rc = RP_ERR_DATA;
cleanup:
    return rc;
}

int synth_run(rp_stage *st, const synth_opts *o)
{
    int rc = RP_OK;
    synth_model m = {0};
    if (o->stats) return run_stats(st, o);
    RP_CALL(make_dir(st->comm, o->out));
    RP_CALL(synth_model_build(st->comm, o, &m));
    rp_stage_add(st, "users", "%lld", (long long)m.n_users);
    rp_stage_add(st, "videos", "%lld", (long long)m.n_items);
    RP_CALL(synth_write_all(st, o, &m));
cleanup:
    synth_model_clear(&m);
    return rc;
}
