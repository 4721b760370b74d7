#!/usr/bin/env bash
# synth.sh - rp-synth end to end: --help and bad options (exit 64), byte-identical output for
# np 1, 2, 3, headers identical to the real files, statistics at scale 0.1 (--stats, which must
# also catch an overlapping pair and a user below the row floor), and
# --side with rows of the real user_features.csv / item_categories.csv.
set -u
source "$RP_TOP/tests/env.sh"
cd "$TMPDIR"
synth="$RP_BIN/rp-synth"

"$synth" --help > help.txt || fail "--help exit $?"
grep -q -- "--scale" help.txt || fail "--help lacks --scale"
for bad in "--scale -1 --out x" "--scale abc --out x" "--bogus 1 --out x" "" "--users -5 --out x" \
           "--out x --small-items 500 --items 400" "--out x --users 1"; do
    "$synth" $bad > /dev/null 2> err.txt; st=$?
    [ $st = 64 ] || fail "'rp-synth $bad' exit $st, want 64"
    [ "$(wc -l < err.txt)" -ge 1 ] || fail "'rp-synth $bad' printed no error"
done
echo "bad options: exit 64"

# Same seed, same bytes for any number of ranks (CSV files and truth datasets).
for np in 1 2 3; do
    rp_mpirun $np "$synth" --out "np$np" --scale 0.02 --seed 7 > "np$np.log" 2>&1 || \
        { cat "np$np.log"; fail "np=$np exit $?"; }
    [ ! -e "np$np/big_matrix.csv.partial" ] || fail "partial file left"
    (cd "np$np" && sha256sum *.csv) > "np$np.sum"
    for d in user_raw item_raw expected_watch_ratio expected_clipped expected_clipped_train; do
        h5dump -d "/$d" -y -w 0 "np$np/truth.h5" | grep -v '^HDF5' >> "np$np.sum"
    done
done
[ "$(ls np1/*.csv | wc -l)" = 7 ] || fail "expected 7 CSV files"
cmp -s np1.sum np2.sum || fail "np 1 and 2 differ"
cmp -s np1.sum np3.sum || fail "np 1 and 3 differ"
echo "np 1/2/3: identical ($(head -c 16 np1.sum))"
rp_mpirun 1 "$synth" --out seed8 --scale 0.02 --seed 8 > /dev/null 2>&1 || fail "seed 8"
cmp -s np1/big_matrix.csv seed8/big_matrix.csv && fail "seed 7 and 8 give the same data"

# Headers: the real files where we have them, the documented strings otherwise.
declare -A hdr=(
  [big_matrix.csv]="user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio"
  [small_matrix.csv]="user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio"
  [social_network.csv]="user_id,friend_list"
  [kuairec_caption_category.csv]="video_id,manual_cover_text,caption,topic_tag,first_level_category_id,first_level_category_name,second_level_category_id,second_level_category_name,third_level_category_id,third_level_category_name"
  [item_categories.csv]="video_id,feat"
  [item_daily_features.csv]="video_id,date,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,video_width,video_height,music_id,video_tag_id,video_tag_name,show_cnt,show_user_num,play_cnt,play_user_num,play_duration,complete_play_cnt,complete_play_user_num,valid_play_cnt,valid_play_user_num,long_time_play_cnt,long_time_play_user_num,short_time_play_cnt,short_time_play_user_num,play_progress,comment_stay_duration,like_cnt,like_user_num,click_like_cnt,double_click_cnt,cancel_like_cnt,cancel_like_user_num,comment_cnt,comment_user_num,direct_comment_cnt,reply_comment_cnt,delete_comment_cnt,delete_comment_user_num,comment_like_cnt,comment_like_user_num,follow_cnt,follow_user_num,cancel_follow_cnt,cancel_follow_user_num,share_cnt,share_user_num,download_cnt,download_user_num,report_cnt,report_user_num,reduce_similar_cnt,reduce_similar_user_num,collect_cnt,collect_user_num,cancel_collect_cnt,cancel_collect_user_num"
)
real="${SHARED:-}/data/kuairec-real"
for f in user_features.csv item_categories.csv; do
    if [ -r "$real/$f" ]; then
        [ "$(head -n 1 np1/$f)" = "$(head -n 1 "$real/$f" | tr -d '\r')" ] || fail "$f header differs from the real file"
        echo "header $f: identical to $real/$f"
    else
        echo "header $f: real file absent, skipped"
    fi
done
for f in "${!hdr[@]}"; do
    [ "$(head -n 1 np1/$f)" = "${hdr[$f]}" ] || fail "$f header: $(head -n 1 np1/$f)"
done
[ "$(head -n 1 np1/item_daily_features.csv | tr ',' '\n' | wc -l)" = 58 ] || fail "daily: not 58 columns"

# Statistics against KuaiRec's at scale 0.1 (counts scaled by density).
rp_mpirun 2 "$synth" --out s01 --scale 0.1 > /dev/null 2>&1 || fail "scale 0.1"
rp_mpirun 2 "$synth" --stats s01 > stats.txt 2>&1 || { cat stats.txt; fail "statistics off target"; }
cat stats.txt
# the checker can fail: a big-matrix row copied into the small matrix is an overlapping pair
mkdir s01bad && cp s01/big_matrix.csv s01bad/ && cp s01/small_matrix.csv s01bad/
sed -n 2p s01/big_matrix.csv >> s01bad/small_matrix.csv
rp_mpirun 2 "$synth" --stats s01bad > bad.txt 2>&1; st=$?
[ $st = 65 ] || { cat bad.txt; fail "--stats on an overlapping pair: exit $st, want 65"; }
grep -q "small/big overlapping pairs = 1" bad.txt || { cat bad.txt; fail "overlap not reported"; }
# ... and a user below the floor of 100 rows (10 at this scale) is a miss
grep -q "per-user min=10 " stats.txt || fail "per-user minimum is not the floor 10"
mkdir s01short && cp s01/small_matrix.csv s01short/
awk -F, 'NR == 1 || $1 != 0 || ++k <= 3' s01/big_matrix.csv > s01short/big_matrix.csv
rp_mpirun 2 "$synth" --stats s01short > short.txt 2>&1; st=$?
[ $st = 65 ] || { cat short.txt; fail "--stats with a 3-row user: exit $st, want 65"; }
grep -q "big per-user min = 3," short.txt || { cat short.txt; fail "short user not reported"; }

# --side: real rows (every 9th user, every 17th video: sparse ids, empty fields, quoted lists).
if [ -r "$real/user_features.csv" ] && [ -r "$real/item_categories.csv" ]; then
    mkdir side
    awk 'NR == 1 || NR % 9 == 2' "$real/user_features.csv" > side/user_features.csv
    awk 'NR == 1 || NR % 17 == 2' "$real/item_categories.csv" > side/item_categories.csv
    rp_mpirun 2 "$synth" --out sideout --side side > side.log 2>&1 || { cat side.log; fail "--side"; }
    cmp -s side/user_features.csv sideout/user_features.csv || fail "--side: user_features not copied"
    cmp -s side/item_categories.csv sideout/item_categories.csv || fail "--side: item_categories not copied"
    # interactions only on the side files' ids
    awk -F, 'NR > 1 {print $1}' side/user_features.csv | sort -u > uids
    awk -F, 'NR > 1 {print $1}' side/item_categories.csv | sort -u > iids
    awk -F, 'NR > 1 {print $1}' sideout/big_matrix.csv | sort -u | comm -23 - uids | head -1 > stray
    [ ! -s stray ] || fail "--side: big_matrix has user $(cat stray) not in user_features"
    awk -F, 'NR > 1 {print $2}' sideout/small_matrix.csv | sort -u | comm -23 - iids | head -1 > stray
    [ ! -s stray ] || fail "--side: small_matrix has video $(cat stray) not in item_categories"
    echo "--side: $(grep -o 'users=[0-9]* videos=[0-9]* big_rows=[0-9]*' side.log)"
    rp_mpirun 1 "$synth" --out sideout2 --side "$TMPDIR/nope" > /dev/null 2>&1; st=$?
    [ $st = 66 ] || fail "--side missing folder: exit $st, want 66"
else
    echo "--side: real files absent under $real, skipped"
fi
echo "synth e2e: ok"
