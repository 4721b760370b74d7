/* features_run.c - rp-features program logic: options, validation, the stage frame. main.c and
 * the MPI tests call features_run. */
#include <stdio.h>
#include <string.h>

#include "features_stage.h"
#include "rp_args.h"
#include "rp_mpi.h"
#include "rp_stage.h"

void features_opts_default(feat_opts *o)
{
    memset(o, 0, sizeof *o);
    o->data = NULL;
    o->shards = NULL;
    o->out = NULL;
    o->tag_len = 4;
    o->min_author_count = 5;
    o->smoothing = 20.0;
    o->user_onehot = o->user_activity = o->user_ranges = o->user_counts = o->user_register = 1;
    o->author = o->video_type = o->caption_cats = o->duration = o->watch_ratio = 1;
    o->popularity = 0;
    o->popularity_until = 0;
}

static const rp_cmd feat_cmd = {
    "rp-features",
    "user and video feature tables (features.h5) from the KuaiRec side files and shards.h5",
    "Inputs in --data: user_features.csv and item_categories.csv (required, exit 66 when\n"
    "missing); item_daily_features.csv and kuairec_caption_category.csv (optional: when absent\n"
    "their features are dropped with a notice). Rows follow the dense indices of --shards; the\n"
    "watch-ratio average uses the train split only. See docs/stages/features.md.\n"};

static int parse_opts(int argc, char **argv, feat_opts *o)
{
    rp_arg args[] = {
        {"data", RP_ARG_STR, &o->data, "DIR", "folder with the KuaiRec side CSV files", NULL},
        {"shards", RP_ARG_STR, &o->shards, "FILE", "shards.h5 from rp-shard", NULL},
        {"out", RP_ARG_STR, &o->out, "FILE", "output features.h5", NULL},
        {"tag-len", RP_ARG_INT, &o->tag_len, "N", "tags kept per video (1..64; padded with 0)",
         NULL},
        {"min-author-count", RP_ARG_INT, &o->min_author_count, "N",
         "authors with fewer videos share one 'rare' code", NULL},
        {"smoothing", RP_ARG_DBL, &o->smoothing, "M",
         "pseudo-counts of the global mean in the watch-ratio average", NULL},
        {"user-onehot", RP_ARG_FLAG, &o->user_onehot, NULL, "onehot_feat0..17", NULL},
        {"user-activity", RP_ARG_FLAG, &o->user_activity, NULL,
         "user_active_degree and the is_* flags", NULL},
        {"user-ranges", RP_ARG_FLAG, &o->user_ranges, NULL, "the four *_range categoricals", NULL},
        {"user-counts", RP_ARG_FLAG, &o->user_counts, NULL,
         "follow/fans/friend counts (log1p, min-max)", NULL},
        {"user-register", RP_ARG_FLAG, &o->user_register, NULL, "register_days (log1p, min-max)",
         NULL},
        {"author", RP_ARG_FLAG, &o->author, NULL, "video author id (daily file)", NULL},
        {"video-type", RP_ARG_FLAG, &o->video_type, NULL, "video_type and upload_type (daily file)",
         NULL},
        {"caption-categories", RP_ARG_FLAG, &o->caption_cats, NULL,
         "first/second/third level categories (caption file)", NULL},
        {"duration", RP_ARG_FLAG, &o->duration, NULL, "video duration (log1p, min-max)", NULL},
        {"watch-ratio", RP_ARG_FLAG, &o->watch_ratio, NULL,
         "smoothed train average of the normalised watch ratio", NULL},
        {"popularity", RP_ARG_FLAG, &o->popularity, NULL,
         "popularity counts from the daily file (log1p, min-max)", NULL},
        {"popularity-until", RP_ARG_I64, &o->popularity_until, "YYYYMMDD",
         "sum popularity only over dates up to this one (0 = all)", NULL},
    };
    int rc = rp_args_parse(argc, argv, &feat_cmd, args, (int)(sizeof args / sizeof args[0]));
    if (rc != RP_OK) return rc;
    if (o->data == NULL || o->shards == NULL || o->out == NULL) {
        rp_log_user_error0("--data, --shards and --out are required (see --help)");
        return RP_ERR_USAGE;
    }
    if (o->tag_len < 1 || o->tag_len > FEAT_MAX_TAGS) {
        rp_log_user_error0("--tag-len %d: must be 1..%d", o->tag_len, FEAT_MAX_TAGS);
        return RP_ERR_USAGE;
    }
    if (o->min_author_count < 1 || !(o->smoothing >= 0)) {
        rp_log_user_error0("--min-author-count must be >= 1 and --smoothing >= 0");
        return RP_ERR_USAGE;
    }
    return RP_OK;
}

int features_run(MPI_Comm comm, int argc, char **argv)
{
    rp_stage st;
    feat_opts opt;
    features_opts_default(&opt);
    int rc = rp_stage_begin(comm, "rp-features", argc, argv, &st);
    if (rc == RP_OK) rc = parse_opts(argc, argv, &opt);
    if (rc == RP_OK) rc = features_build(&st, &opt);
    return rp_stage_end(&st, rc);
}
