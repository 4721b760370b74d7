#!/usr/bin/env python3
"""features_gen.py DIR [SCALE] - full-size KuaiRec-format side files for bench-features.sh:
item_daily_features.csv (343,341 rows x 58 columns at SCALE 1, one row per video and date, with
empty durations/collect counts, 64-bit music ids, UTF-8 tag names) and
kuairec_caption_category.csv (10,728 records with quoted commas and a bare \\r). The real
user_features.csv / item_categories.csv are copied from ../shared when present, else generated."""
import os
import random
import shutil
import sys

HEADER = ("video_id,date,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,"
          "video_width,video_height,music_id,video_tag_id,video_tag_name,show_cnt,show_user_num,"
          "play_cnt,play_user_num,play_duration,complete_play_cnt,complete_play_user_num,"
          "valid_play_cnt,valid_play_user_num,long_time_play_cnt,long_time_play_user_num,"
          "short_time_play_cnt,short_time_play_user_num,play_progress,comment_stay_duration,like_cnt,"
          "like_user_num,click_like_cnt,double_click_cnt,cancel_like_cnt,cancel_like_user_num,"
          "comment_cnt,comment_user_num,direct_comment_cnt,reply_comment_cnt,delete_comment_cnt,"
          "delete_comment_user_num,comment_like_cnt,comment_like_user_num,follow_cnt,follow_user_num,"
          "cancel_follow_cnt,cancel_follow_user_num,share_cnt,share_user_num,download_cnt,"
          "download_user_num,report_cnt,report_user_num,reduce_similar_cnt,reduce_similar_user_num,"
          "collect_cnt,collect_user_num,cancel_collect_cnt,cancel_collect_user_num")
CAPTION = ("video_id,manual_cover_text,caption,topic_tag,first_level_category_id,"
           "first_level_category_name,second_level_category_id,second_level_category_name,"
           "third_level_category_id,third_level_category_name")


def dates():
    out = []
    for m, lo, hi in ((7, 5, 31), (8, 1, 31), (9, 1, 5)):
        out += ["2020%02d%02d" % (m, d) for d in range(lo, hi + 1)]
    return out


def main():
    out = sys.argv[1]
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    n_items = int(10728 * scale)
    rows_target = int(343341 * scale)
    rng = random.Random(7)
    os.makedirs(out, exist_ok=True)
    real = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                        "kuairec-real")
    for name in ("user_features.csv", "item_categories.csv"):
        src = os.path.join(real, name)
        if not os.path.exists(src):
            sys.exit("features_gen.py: %s missing (needs ../shared)" % src)
        shutil.copy(src, os.path.join(out, name))
    ds = dates()
    per = max(1, rows_target // max(1, n_items))
    with open(os.path.join(out, "item_daily_features.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(HEADER + "\n")
        for v in range(n_items):
            author = rng.randrange(7000)
            utype = rng.choice(["ShortImport", "LongImport", "ShortCamera", "Web"])
            vtype = "AD" if rng.random() < 0.05 else "NORMAL"
            dur = "%.1f" % rng.uniform(140, 315072)
            for d in sorted(rng.sample(ds, min(per, len(ds)))):
                cnt = [rng.randrange(100000) for _ in range(44)]
                collect = "" if d < "20200801" else "0.0"
                row = [str(v), d, str(author), vtype, "2020-06-30", utype, "public",
                       dur if rng.random() > 0.05 else "", "720", "1280",
                       str(rng.randrange(4000000000)), "28", "\u7f8e\u98df"]
                row += [str(c) for c in cnt[:13]] + ["%.4f" % rng.random()] + \
                    [str(c) for c in cnt[14:41]] + [collect] * 4
                f.write(",".join(row) + "\n")
    with open(os.path.join(out, "kuairec_caption_category.csv"), "w", encoding="utf-8",
              newline="") as f:
        f.write(CAPTION + "\n")
        for v in range(n_items):
            l1 = rng.choice([-124] + list(range(1, 40)))
            l2 = rng.choice([-124, -124] + list(range(40, 400)))
            f.write('%d,cover %d,"caption, with ""quotes"" %d",[],%d,%s,%d,%s,-124,UNKNOWN\n' %
                    (v, v, v, l1, "UNKNOWN" if l1 == -124 else "c1", l2,
                     "UNKNOWN" if l2 == -124 else "c2") if v % 2000 else
                    '%d,bare\rcr,x,[],5,c1,41,c2,-124,UNKNOWN\n' % v)


if __name__ == "__main__":
    main()
