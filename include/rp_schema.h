/* rp_schema.h - the HDF5 contract between stages: schema names, versions, dataset paths and the
 * model scoring convention. Every stage includes it; docs/SCHEMA.md is the prose version. */
#ifndef RP_SCHEMA_H
#define RP_SCHEMA_H

/* Root attribute "schema" of each file, checked by readers (rp_h5_check_schema). */
#define RP_SCHEMA_SHARDS "recpipe.shards"
#define RP_SCHEMA_FEATURES "recpipe.features"
#define RP_SCHEMA_ALS "recpipe.als"
#define RP_SCHEMA_TWOTOWER "recpipe.twotower"
#define RP_SCHEMA_HYBRID "recpipe.hybrid"
#define RP_SCHEMA_EVAL "recpipe.eval"
#define RP_SCHEMA_RECS "recpipe.recs"
#define RP_SCHEMA_TRUTH "recpipe.truth"
#define RP_SCHEMA_SEQREC "recpipe.seqrec"
#define RP_SCHEMA_VERSION 1

/* shards.h5: dense index <-> KuaiRec id, shared by all splits (sorted by raw id). */
#define RP_DS_USER_RAW "/ids/user_raw"   /* int64 [n_users] */
#define RP_DS_ITEM_RAW "/ids/item_raw"   /* int64 [n_items] */
/* Splits: "/train", "/valid", "/test"; under each, CSR by user (rows sorted by time, then item)
 * and CSC by item (rows sorted by user). */
#define RP_SPLIT_TRAIN "/train"
#define RP_SPLIT_VALID "/valid"
#define RP_SPLIT_TEST "/test"
#define RP_DS_BY_USER_OFFSETS "by_user/offsets"       /* int64 [n_users + 1] */
#define RP_DS_BY_USER_ITEM "by_user/item"             /* int32 [nnz] dense item index */
#define RP_DS_BY_USER_VALUE "by_user/value"           /* float32 [nnz] normalised target */
#define RP_DS_BY_USER_WATCH "by_user/watch_ratio"     /* float32 [nnz] raw watch_ratio */
#define RP_DS_BY_USER_TIME "by_user/timestamp"        /* float64 [nnz] epoch s, NaN = missing */
#define RP_DS_BY_ITEM_OFFSETS "by_item/offsets"       /* int64 [n_items + 1] */
#define RP_DS_BY_ITEM_USER "by_item/user"             /* int32 [nnz] dense user index */
#define RP_DS_BY_ITEM_VALUE "by_item/value"           /* float32 [nnz] */
/* shards.h5 root attributes: n_users, n_items (int64), norm_min, norm_max (float64: value =
 * (clamp(watch_ratio) - norm_min) / (norm_max - norm_min)), outlier_rule ("drop"|"clip"|"none"),
 * outlier_threshold, and per split attributes nnz plus rows_read, rows_bad, rows_duplicate,
 * rows_outlier, rows_aggregated, rows_kept. */

/* features.h5: rows are dense indices of shards.h5. */
#define RP_DS_USER_CAT "/user/cat"                  /* int32 [n_users, n_ucat], 0 = missing */
#define RP_DS_USER_CAT_CARD "/user/cat_cardinality" /* int32 [n_ucat], includes the 0 slot */
#define RP_DS_USER_NUM "/user/num"                  /* float32 [n_users, n_unum] in [0,1] */
#define RP_DS_ITEM_CAT "/item/cat"                  /* int32 [n_items, n_icat] */
#define RP_DS_ITEM_CAT_CARD "/item/cat_cardinality" /* int32 [n_icat] */
#define RP_DS_ITEM_TAGS "/item/tags"                /* int32 [n_items, tag_len], tag+1, 0 = pad */
#define RP_DS_ITEM_NUM "/item/num"                  /* float32 [n_items, n_inum] */
/* Each of these datasets carries a "columns" string-array attribute; /item/tags has
 * "cardinality" (int64). */

/* Model files (als.h5, twotower.h5, hybrid.h5) that can be scored as a dot product expose
 * /score/user [n_users, d] and /score/item [n_items, d] (float32 or float64) with attributes on
 * /score: "post" ("identity"|"sigmoid"), "scale", "shift" (float64). The normalised prediction is
 *   pred(u, i) = clamp01(post(scale * dot(user[u], item[i]) + shift)).
 * Biases are folded in as extra columns (e.g. ALS: [p_u, b_u, 1] . [q_i, 1, b_i], shift = mu). */
#define RP_DS_SCORE_USER "/score/user"
#define RP_DS_SCORE_ITEM "/score/item"
#define RP_GRP_SCORE "/score"
/* Root attributes of every learned model file (als.h5, twotower.h5, hybrid.h5): the
 * validation RMSE (normalised scale) of the model as written, the bias baseline's
 * (rp_baseline_bias) on the same pairs computed the same way, beats_bias (int32: valid_rmse <=
 * bias_valid_rmse) and fallback (string, "" when none: what the model did instead of losing
 * to the bias baseline). */
#define RP_ATTR_VALID_RMSE "valid_rmse"
#define RP_ATTR_BIAS_VALID_RMSE "bias_valid_rmse"
#define RP_ATTR_BEATS_BIAS "beats_bias"
#define RP_ATTR_FALLBACK "fallback"
/* als.h5 model selection: one entry per grid point trained, in the order trained; root
 * attributes k, lambda, lambda_bias hold the chosen values and selected_by "grid"|"given". */
#define RP_ATTR_SELECTED_BY "selected_by"
#define RP_DS_ALS_GRID_K "/grid/k"                     /* int32 [n] */
#define RP_DS_ALS_GRID_LAMBDA "/grid/lambda"           /* float64 [n] */
#define RP_DS_ALS_GRID_LAMBDA_BIAS "/grid/lambda_bias" /* float64 [n] */
#define RP_DS_ALS_GRID_VALID_RMSE "/grid/valid_rmse"   /* float64 [n], best over iterations */
#define RP_DS_ALS_GRID_BEST_ITER "/grid/best_iter"     /* int32 [n] */
#define RP_DS_ALS_GRID_ITERATIONS "/grid/iterations"   /* int32 [n], iterations run */
/* Per-pair predictions of a model that is not only a dot product (seqrec.h5: time-aware, each
 * test pair scored from the user's history before its timestamp): float32 [nnz of /test],
 * normalised and clamped, aligned with shards.h5 /test/by_user rows. */
#define RP_DS_TEST_PRED "/test_pred"
/* Learning curves of iterative models: /history/{iteration, train_rmse, valid_rmse, train_mae,
 * valid_mae, seconds} (int64 / float64 [n_iter]). */
#define RP_GRP_HISTORY "/history"

/* truth.h5 (rp-synth): noise-free expected watch ratio of every small-matrix pair, in the
 * order of small_matrix.csv rows: /user_raw, /item_raw (int64), /expected_watch_ratio (float64),
 * /expected_clipped (float64, E[min(wr, clip_max)]; root attribute clip_max, float64),
 * /expected_clipped_train (float64, the same expectation under the big matrix's regime, the
 * one the models train on: what a perfect learner of the training target predicts). Files
 * made before /expected_clipped existed lack it and clip_max; before
 * /expected_clipped_train, that one. */
#define RP_TRUTH_EXPECTED "expected_watch_ratio"
#define RP_TRUTH_CLIPPED "expected_clipped"
#define RP_TRUTH_CLIPPED_TRAIN "expected_clipped_train"
#define RP_TRUTH_CLIP_MAX "clip_max"

#endif
