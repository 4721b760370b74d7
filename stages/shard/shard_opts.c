/* shard_opts.c - rp-shard's command line: option table, defaults, value checks. */
#include <stdio.h>
#include <string.h>

#include "rp_args.h"
#include "rp_err.h"
#include "rp_log.h"
#include "shard.h"

static const char *const outlier_choices[] = {"drop", "clip", "none", NULL};
static const char *const repeat_choices[] = {"mean", "last", NULL};

void shard_opts_defaults(shard_opts *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->big = NULL;
    opt->small = NULL;
    opt->out = NULL;
    opt->valid_frac = 0.1;
    /* clip, not drop: dropping the pairs above the threshold removes exactly the videos
     * watched most, while the test split keeps them */
    opt->outlier = "clip";
    opt->outlier_rule = SHARD_OUT_CLIP;
    opt->outlier_max = 3.0;
    opt->dedup = 1;
    opt->repeat = "mean";
    opt->max_bad_rows = 0;
    opt->read_kb = 1024; /* split between the lanes: their windows stay in L2 (shard.md) */
}

int shard_opts_check(shard_opts *opt)
{
    int rc = RP_OK;
    if (opt->big == NULL || opt->small == NULL || opt->out == NULL)
        RP_FAIL_USER0(RP_ERR_USAGE, "--big, --small and --out are required (try rp-shard --help)");
    if (!(opt->valid_frac >= 0.0 && opt->valid_frac < 1.0))
        RP_FAIL_USER0(RP_ERR_USAGE, "--valid-frac %g: must be in [0, 1)", opt->valid_frac);
    if (!(opt->outlier_max > 0.0))
        RP_FAIL_USER0(RP_ERR_USAGE, "--outlier-max %g: must be > 0", opt->outlier_max);
    if (opt->max_bad_rows < 0)
        RP_FAIL_USER0(RP_ERR_USAGE, "--max-bad-rows %lld: must be >= 0",
                      (long long)opt->max_bad_rows);
    opt->outlier_rule = strcmp(opt->outlier, "clip") == 0   ? SHARD_OUT_CLIP
                        : strcmp(opt->outlier, "none") == 0 ? SHARD_OUT_NONE
                                                            : SHARD_OUT_DROP;
    opt->repeat_rule = strcmp(opt->repeat, "last") == 0 ? SHARD_REP_LAST : SHARD_REP_MEAN;
    if (opt->read_kb < 1 || opt->read_kb > 4194304)
        RP_FAIL_USER0(RP_ERR_USAGE, "--read-kb %lld: must be in [1, 4194304]",
                      (long long)opt->read_kb);
cleanup:
    return rc;
}

int shard_parse_args(int argc, char **argv, shard_opts *opt)
{
    shard_opts_defaults(opt);
    const rp_arg args[] = {
        {"big", RP_ARG_STR, &opt->big, "PATH", "big_matrix.csv (train + validation)", NULL},
        {"small", RP_ARG_STR, &opt->small, "PATH", "small_matrix.csv (test)", NULL},
        {"out", RP_ARG_STR, &opt->out, "PATH", "output shards.h5 (written atomically)", NULL},
        {"valid-frac", RP_ARG_DBL, &opt->valid_frac, "F",
         "share of each user's big-matrix interactions, latest in time, held out for validation",
         NULL},
        {"outlier", RP_ARG_STR, &opt->outlier, "RULE",
         "train/valid pairs with watch_ratio above --outlier-max: drop, clip to it, or keep",
         outlier_choices},
        {"outlier-max", RP_ARG_DBL, &opt->outlier_max, "X", "outlier threshold on watch_ratio",
         NULL},
        {"dedup", RP_ARG_FLAG, &opt->dedup, NULL, "drop exact duplicate rows", NULL},
        {"repeat", RP_ARG_STR, &opt->repeat, "HOW",
         "watch_ratio of repeat views of one (user, video): mean of the views or the latest",
         repeat_choices},
        {"max-bad-rows", RP_ARG_I64, &opt->max_bad_rows, "N",
         "tolerate (skip and count) up to N malformed rows over both files", NULL},
        {"read-kb", RP_ARG_I64, &opt->read_kb, "KB",
         "read window per rank in KiB (memory holds parsed rows, not the CSV text)", NULL},
    };
    const rp_cmd cmd = {
        "rp-shard",
        "Distributed ingest of KuaiRec big_matrix.csv and small_matrix.csv into shards.h5:\n"
        "validated, deduplicated, aggregated, split (train/valid/test), min-max normalised on\n"
        "train, as global CSR-by-user and CSC-by-item arrays identical for any number of ranks.",
        "Inputs: --big and --small in KuaiRec 2.0 format (header\n  " SHARD_HEADER "),\n"
        "  CRLF and a UTF-8 BOM accepted; only --small may leave time,date,timestamp empty.\n"
        "Output: --out (schema recpipe.shards), see docs/stages/shard.md.\n"
        "Bad rows: the first 10 are printed as file:line: reason, then the total; exit 65\n"
        "  unless --max-bad-rows tolerates them. Missing or empty input: exit 66.\n",
    };
    int rc = rp_args_parse(argc, argv, &cmd, args, (int)(sizeof args / sizeof args[0]));
    if (rc != RP_OK) return rc;
    return shard_opts_check(opt);
}
