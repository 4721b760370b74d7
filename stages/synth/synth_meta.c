/* synth_meta.c - rp-synth's side tables: user_features, item_categories, item_daily_features,
 * kuairec_caption_category and social_network, each row drawn from keyed random numbers of its
 * user or video (formats as in ../shared/KUAIREC.md). */
#include <math.h>
#include <string.h>

#include "rp_err.h"
#include "rp_rng.h"
#include "synth.h"
#include "synth_meta.h"
#include "synth_model.h"

static const char *const DEGREE[4] = {"full_active", "high_active", "middle_active", "UNKNOWN"};

static const char *follow_range(int64_t v)
{
    return v == 0     ? "0"
           : v <= 10  ? "\"(0,10]\""
           : v <= 50  ? "\"(10,50]\""
           : v <= 100 ? "\"(50,100]\""
           : v <= 150 ? "\"(100,150]\""
           : v <= 250 ? "\"(150,250]\""
           : v <= 500 ? "\"(250,500]\""
                      : "500+";
}

static const char *fans_range(int64_t v)
{
    return v == 0      ? "0"
           : v < 10    ? "\"[1,10)\""
           : v < 100   ? "\"[10,100)\""
           : v < 1000  ? "\"[100,1k)\""
           : v < 5000  ? "\"[1k,5k)\""
           : v < 10000 ? "\"[5k,1w)\""
                       : "\"[1w,10w)\"";
}

static const char *friend_range(int64_t v)
{
    return v == 0 ? "0" : v < 5 ? "\"[1,5)\"" : v < 30 ? "\"[5,30)\"" : v < 60 ? "\"[30,60)\""
         : v < 120 ? "\"[60,120)\"" : v < 250 ? "\"[120,250)\"" : "250+";
}

static const char *register_range(int64_t v)
{
    return v <= 30 ? "15-30" : v <= 60 ? "31-60" : v <= 90 ? "61-90" : v <= 180 ? "91-180"
         : v <= 365 ? "181-365" : v <= 730 ? "366-730" : "730+";
}

int synth_users_unit(const synth_model *m, int64_t u, synth_buf *b, void *ctx)
{
    synth_user_feat f;
    (void)ctx;
    if (synth_buf_reserve(b, 512) != RP_OK) return RP_ERR_NOMEM;
    synth_user_gen(m, u, &f);
    int64_t v[] = {f.lowactive, f.streamer, f.author};
    synth_put_i64(b, m->u_raw[u]);
    synth_put_ch(b, ',');
    synth_put_str(b, DEGREE[f.degree]);
    for (int k = 0; k < 3; k++) {
        synth_put_ch(b, ',');
        synth_put_i64(b, v[k]);
    }
    int64_t nums[4] = {f.follow, f.fans, f.friends, f.register_days};
    const char *ranges[4] = {follow_range(f.follow), fans_range(f.fans), friend_range(f.friends),
                             register_range(f.register_days)};
    for (int k = 0; k < 4; k++) {
        synth_put_ch(b, ',');
        synth_put_i64(b, nums[k]);
        synth_put_ch(b, ',');
        synth_put_str(b, ranges[k]);
    }
    for (int k = 0; k < 18; k++) {
        synth_put_ch(b, ',');
        if (!f.missing[k]) synth_put_i64(b, f.onehot[k]);
    }
    synth_put_ch(b, '\n');
    return RP_OK;
}

int synth_items_unit(const synth_model *m, int64_t i, synth_buf *b, void *ctx)
{
    (void)ctx;
    if (synth_buf_reserve(b, 64) != RP_OK) return RP_ERR_NOMEM;
    int n = m->i_ntags[i];
    synth_put_i64(b, m->i_raw[i]);
    synth_put_str(b, n > 1 ? ",\"[" : ",[");
    for (int k = 0; k < n; k++) {
        if (k) synth_put_str(b, ", ");
        synth_put_i64(b, m->i_tags[i * 4 + k]);
    }
    synth_put_str(b, n > 1 ? "]\"\n" : "]\n");
    return RP_OK;
}

static const char *const TAG_NAME[SYNTH_NTAGS] = {
    "颜值", "舞蹈", "音乐", "游戏", "美妆", "时尚", "明星娱乐", "运动", "生活", "喜剧",
    "旅游", "情感", "美食", "三农", "教育", "艺术", "健康", "宠物", "汽车", "摄影",
    "二次元", "人文", "财经", "科技", "亲子", "民生资讯", "短剧", "健身", "自拍", "影视综",
    "其他"};
static const char *const UPLOAD[5] = {"ShortImport", "LongImport", "ShortCamera", "LongCamera",
                                      "Web"};

/* One day of one video: platform counters drawn around the video's popularity. */
static void put_daily_row(const synth_model *m, int64_t i, int day, const rp_rng *ir,
                          synth_buf *b)
{
    rp_rng r;
    rp_rng_init(&r, m->seed, rp_rng_stream("synth.daily"), ((uint64_t)i << 7) | (uint64_t)day);
    rp_rng it = *ir; /* per-video constants: same stream on every day */
    int y, mo, d;
    synth_day_ymd(day, &y, &mo, &d);
    int start = (int)rp_rng_next_below(&it, SYNTH_NDAYS);
    int up = start - (int)rp_rng_next_below(&it, 40);
    int is_ad = rp_rng_next_uniform(&it) < 0.03, no_dur = rp_rng_next_uniform(&it) < 0.01;
    int shape = (int)rp_rng_next_below(&it, 10);
    uint64_t music = 1000000 + rp_rng_next(&it) % 3999000000ULL;
    int tag = m->i_tags[i * 4];
    synth_put_i64(b, m->i_raw[i]);
    synth_put_ch(b, ',');
    synth_put_i64(b, (int64_t)y * 10000 + mo * 100 + d);
    synth_put_ch(b, ',');
    synth_put_i64(b, m->i_author[i]);
    synth_put_str(b, is_ad ? ",AD," : ",NORMAL,");
    synth_day_ymd(up, &y, &mo, &d);
    synth_put_i64(b, y);
    synth_put_str(b, mo < 10 ? "-0" : "-");
    synth_put_i64(b, mo);
    synth_put_str(b, d < 10 ? "-0" : "-");
    synth_put_i64(b, d);
    synth_put_ch(b, ',');
    synth_put_str(b, UPLOAD[shape % 5]);
    synth_put_str(b, ",public,");
    if (!no_dur) {
        synth_put_i64(b, m->i_dur[i]);
        synth_put_str(b, ".0");
    }
    synth_put_str(b, shape < 6   ? ",720,1280,"
                     : shape < 8 ? ",1080,1920,"
                     : shape < 9 ? ",576,1024,"
                                 : ",1280,720,");
    synth_put_i64(b, (int64_t)music);
    synth_put_ch(b, ',');
    synth_put_i64(b, tag);
    synth_put_ch(b, ',');
    synth_put_str(b, TAG_NAME[tag % SYNTH_NTAGS]);
    /* counters: shows from popularity, the rest as fractions of plays */
    double show = exp(log(1 + 3e6 * m->i_weight[i] * (double)m->n_items / SYNTH_REAL_ITEMS) +
                      0.6 * rp_rng_next_normal(&r) - 0.05 * (day - start));
    int64_t sh = (int64_t)show, play = (int64_t)(show * 0.85);
    static const double frac[] = {0.30, 0.28, 0.70, 0.66, 0.35, 0.33, 0.20, 0.19};
    int64_t head[] = {sh, (int64_t)(sh * 0.93), play, (int64_t)(play * 0.92),
                      (int64_t)(play * (double)m->i_dur[i] * 0.6)};
    for (int k = 0; k < 5; k++) {
        synth_put_ch(b, ',');
        synth_put_i64(b, head[k]);
    }
    for (int k = 0; k < 8; k++) {
        synth_put_ch(b, ',');
        synth_put_i64(b, (int64_t)(play * frac[k] * (0.9 + 0.2 * rp_rng_next_uniform(&r))));
    }
    synth_put_ch(b, ',');
    synth_put_micro(b, (int64_t)(1e6 * (0.2 + 0.7 * rp_rng_next_uniform(&r))));
    /* comment_stay_duration .. reduce_similar_user_num: 27 small counters */
    for (int k = 0; k < 27; k++) {
        double f = k == 0 ? 30.0 : k < 5 ? 0.03 : 0.004 / (1 + k % 7);
        synth_put_ch(b, ',');
        synth_put_i64(b, (int64_t)(play * f * rp_rng_next_uniform(&r)));
    }
    /* collect_* were not logged before August (empty), then floats */
    int early = day < 27;
    for (int k = 0; k < 4; k++) {
        synth_put_ch(b, ',');
        if (!early) {
            synth_put_i64(b, (int64_t)(play * 0.0005 * rp_rng_next_uniform(&r)));
            synth_put_str(b, ".0");
        }
    }
    synth_put_ch(b, '\n');
}

int synth_daily_unit(const synth_model *m, int64_t i, synth_buf *b, void *ctx)
{
    rp_rng ir;
    (void)ctx;
    rp_rng_init(&ir, m->seed, rp_rng_stream("synth.dailyitem"), (uint64_t)i << 4);
    rp_rng probe = ir;
    int start = (int)rp_rng_next_below(&probe, SYNTH_NDAYS);
    if (synth_buf_reserve(b, (size_t)(SYNTH_NDAYS - start) * 512) != RP_OK) return RP_ERR_NOMEM;
    for (int day = start; day < SYNTH_NDAYS; day++) put_daily_row(m, i, day, &ir, b);
    return RP_OK;
}

static const char *const PHRASE[] = {
    "精神小伙路难走", "晚饭后，运动一下！", "记住我的名字还有我带给你的故事.", "今天天气真好",
    "感谢双击", "好久不见十分想念", "一起来跳舞吧", "这个味道绝了", "周末去哪儿玩",
    "第一次尝试，请多指教", "看到最后有惊喜😂", "农村生活真惬意", "我们的小日子",
    "练习了好久", "“可以往回看 但别往回走…”", "不开心的时候就出去走走", "新歌上线啦🔥",
    "宝宝今天一岁了", "教你三招", "下班路上"};
static const char *const HASHTAG[] = {"搞笑", "感谢快手我要上热门", "作品推广", "美食", "热门",
                                      "舞蹈", "情感", "二次元", "健身打卡", "今天拍点啥"};
static const char *const CAT1[] = {"颜值", "舞蹈", "音乐", "游戏", "美妆", "时尚", "明星娱乐",
                                   "运动", "颜值", "喜剧", "旅游", "生活", "美食", "三农",
                                   "教育", "艺术", "健康", "宠物", "汽车", "情感", "二次元",
                                   "人文", "财经", "科技", "高新数码", "亲子", "摄影", "短剧",
                                   "民生资讯", "自拍", "体育", "健身", "军事", "其他", "影视综",
                                   "读书", "园艺", "手工", "动漫"};
static const char *const SUB[] = {"日常", "随拍", "分享", "教程", "互动", "剪辑", "记录", "达人"};
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Returns RP_OK or RP_ERR_NOMEM: a silent early return would change the row and skip draws. */
static int put_caption(rp_rng *r, synth_buf *b, int *ntags, int tags[3])
{
    synth_buf t = {0};
    if (synth_buf_reserve(&t, 1024) != RP_OK) return RP_ERR_NOMEM;
    int np = 1 + (int)rp_rng_next_below(r, 3);
    for (int k = 0; k < np; k++) {
        if (k) synth_put_str(&t, rp_rng_next_uniform(r) < 0.3 ? ", " : "，");
        synth_put_str(&t, PHRASE[rp_rng_next_below(r, NELEM(PHRASE))]);
    }
    *ntags = rp_rng_next_uniform(r) < 0.45 ? 1 + (int)rp_rng_next_below(r, 3) : 0;
    for (int k = 0; k < *ntags; k++) {
        tags[k] = (int)rp_rng_next_below(r, NELEM(HASHTAG));
        synth_put_str(&t, " #");
        synth_put_str(&t, HASHTAG[tags[k]]);
    }
    if (rp_rng_next_uniform(r) < 0.02) synth_put_str(&t, " 他说\"好\"");
    if (rp_rng_next_uniform(r) < 0.0004) synth_put_str(&t, "\r下一行"); /* as in 4 real records */
    synth_put_csv_text(b, t.p, t.len);
    synth_buf_clear(&t);
    return RP_OK;
}

int synth_caption_unit(const synth_model *m, int64_t i, synth_buf *b, void *ctx)
{
    rp_rng r;
    int ntags = 0, tags[3] = {0};
    (void)ctx;
    if (synth_buf_reserve(b, 2048) != RP_OK) return RP_ERR_NOMEM;
    rp_rng_init(&r, m->seed, rp_rng_stream("synth.caption"), (uint64_t)i << 6);
    synth_put_i64(b, m->i_raw[i]);
    synth_put_ch(b, ',');
    if (rp_rng_next_uniform(&r) < 0.7) synth_put_str(b, "UNKNOWN");
    else synth_put_str(b, PHRASE[rp_rng_next_below(&r, NELEM(PHRASE))]);
    synth_put_ch(b, ',');
    if (rp_rng_next_uniform(&r) < 0.85 && put_caption(&r, b, &ntags, tags) != RP_OK)
        return RP_ERR_NOMEM;
    synth_put_str(b, ntags > 1 ? ",\"[" : ",[");
    for (int k = 0; k < ntags; k++) {
        if (k) synth_put_ch(b, ',');
        synth_put_str(b, HASHTAG[tags[k]]);
    }
    synth_put_str(b, ntags > 1 ? "]\"," : "],");
    int c1 =
        rp_rng_next_uniform(&r) < 40.0 / 10728 ? -124 : 1 + (int)rp_rng_next_below(&r, NELEM(CAT1));
    int c2 =
        c1 < 0 || rp_rng_next_uniform(&r) < 0.334 ? -124 : 100 + (int)rp_rng_next_below(&r, 700);
    int c3 =
        c2 < 0 || rp_rng_next_uniform(&r) < 0.455 ? -124 : 1000 + (int)rp_rng_next_below(&r, 1677);
    int ids[3] = {c1, c2, c3};
    for (int k = 0; k < 3; k++) {
        if (k) synth_put_ch(b, ',');
        synth_put_i64(b, ids[k]);
        synth_put_ch(b, ',');
        if (ids[k] < 0) {
            synth_put_str(b, "UNKNOWN");
            continue;
        }
        synth_put_str(b, CAT1[(c1 - 1) % NELEM(CAT1)]);
        if (k > 0) synth_put_str(b, SUB[ids[k] % NELEM(SUB)]);
    }
    synth_put_ch(b, '\n');
    return RP_OK;
}

int synth_social_unit(const synth_model *m, int64_t k, synth_buf *b, void *ctx)
{
    rp_rng r;
    int64_t u = m->social_users[k], fr[5];
    (void)ctx;
    if (synth_buf_reserve(b, 128) != RP_OK) return RP_ERR_NOMEM;
    rp_rng_init(&r, m->seed, rp_rng_stream("synth.friends"), (uint64_t)u << 6);
    double x = rp_rng_next_uniform(&r);
    int n = x < 0.6 ? 1 : x < 0.8 ? 2 : x < 0.9 ? 3 : x < 0.96 ? 4 : 5, got = 0;
    if (n > m->n_users - 1) n = (int)(m->n_users - 1);
    while (got < n) {
        int64_t f = (int64_t)rp_rng_next_below(&r, (uint64_t)m->n_users), dup = f == u;
        for (int j = 0; j < got; j++) dup |= fr[j] == f;
        if (!dup) fr[got++] = f;
    }
    synth_put_i64(b, m->u_raw[u]);
    synth_put_str(b, n > 1 ? ",\"[" : ",[");
    for (int j = 0; j < n; j++) {
        if (j) synth_put_str(b, ", ");
        synth_put_i64(b, m->u_raw[fr[j]]);
    }
    synth_put_str(b, n > 1 ? "]\"\n" : "]\n");
    return RP_OK;
}
