#!/usr/bin/env bash
# real_formats.sh - the real KuaiRec 2.0 files write integer columns with missing values as
# floats (small_matrix.csv's date is "20200705.0"). Generated data rewritten that way (every
# integer column of small_matrix.csv, and user_features.csv's one-hot columns, as "N.0") gives
# the same shards.h5 and features.h5 datasets as the integer form; "20200705.5" is rejected
# with "file:line: ..." and exit 65, leaving no output.
set -u
source "$RP_TOP/tests/env.sh"
cd "$TMPDIR"
for p in synth shard features; do
    [ -x "$RP_BIN/rp-$p" ] || { echo "skipped: bin/rp-$p not built yet"; exit 77; }
done

rp_mpirun 2 "$RP_BIN/rp-synth" --out int --scale 0.02 --seed 7 > /dev/null 2>&1 || fail "rp-synth"
mkdir -p flt
cp int/*.csv flt/
# small_matrix: user_id, video_id, play_duration, video_duration and a non-empty date as N.0.
awk -F, -v OFS=, 'NR > 1 { for (c = 1; c <= 4; c++) $c = $c ".0"; if ($6 != "") $6 = $6 ".0" }
    { print }' int/small_matrix.csv > flt/small_matrix.csv
grep -q '^[0-9]*\.0,[0-9]*\.0,.*,20[0-9]*\.0,' flt/small_matrix.csv || fail "rewrite made no float dates"
# user_features: the one-hot columns (the last 18) as N.0 where not empty.
awk -F, -v OFS=, 'NR > 1 { for (c = NF - 17; c <= NF; c++) if ($c != "") $c = $c ".0" } { print }' \
    int/user_features.csv > flt/user_features.csv
cmp -s int/user_features.csv flt/user_features.csv && fail "user_features rewrite changed nothing"

for v in int flt; do
    rp_mpirun 2 "$RP_BIN/rp-shard" --big $v/big_matrix.csv --small $v/small_matrix.csv \
        --out $v-shards.h5 > /dev/null 2> $v-shard.err || { cat $v-shard.err; fail "rp-shard on $v"; }
    rp_mpirun 2 "$RP_BIN/rp-features" --data $v --shards $v-shards.h5 --out $v-features.h5 \
        > /dev/null 2> $v-features.err || { cat $v-features.err; fail "rp-features on $v"; }
done
same_datasets() { # same_datasets A B: every dataset of A equal in B
    local d n=0
    for d in $(h5ls -r "$1" | awk '$2 == "Dataset" {print $1}'); do
        h5diff -q "$1" "$2" "$d" "$d" || fail "$2: $d differs from the integer form"
        n=$((n + 1))
    done
    [ $n -gt 5 ] || fail "$1: only $n datasets"
}
same_datasets int-shards.h5 flt-shards.h5
same_datasets int-features.h5 flt-features.h5

# A real fraction in an integer column: one line "file:line: ...", exit 65, no output.
mkdir -p bad && cp flt/*.csv bad/
awk -F, -v OFS=, 'NR == 3 { $6 = "20200705.5" } { print }' flt/small_matrix.csv > bad/small_matrix.csv
rp_mpirun 2 "$RP_BIN/rp-shard" --big bad/big_matrix.csv --small bad/small_matrix.csv \
    --out bad-shards.h5 > /dev/null 2> bad.err
st=$?
[ $st = 65 ] || { cat bad.err; fail "a date of 20200705.5 exited $st, want 65"; }
grep -q "bad/small_matrix.csv:3: date '20200705.5' is not an integer" bad.err ||
    { cat bad.err; fail "no file:line message for 20200705.5"; }
[ ! -e bad-shards.h5 ] && [ ! -e bad-shards.h5.partial ] || fail "bad input left output"
echo "float-written integer columns read alike; 20200705.5 rejected"
