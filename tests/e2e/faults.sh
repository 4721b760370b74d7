#!/usr/bin/env bash
# faults.sh - the bad-input corpus: every reader, every class of damage, each with
# its exit code, a one-line message naming the file (and line), no output file, and a previous
# good output left untouched. Also a full disk (tmpfs) -> exit 74 and no partial final file.
source "$RP_TOP/tests/env.sh"
set -u
for p in synth shard features als; do
    [ -x "$RP_BIN/rp-$p" ] || { echo "skipped: bin/rp-$p not built yet"; exit 77; }
done
W=$TMPDIR/faults
mkdir -p "$W"
cd "$W" || exit 1
fails=0 cases=0

rp_mpirun 2 "$RP_BIN/rp-synth" --out raw --scale 0.02 --seed 5 > /dev/null 2> synth.err || {
    cat synth.err; exit 1; }
rp_mpirun 2 "$RP_BIN/rp-shard" --big raw/big_matrix.csv --small raw/small_matrix.csv \
    --out good_shards.h5 > /dev/null 2> shard.err || { cat shard.err; exit 1; }
rp_mpirun 2 "$RP_BIN/rp-features" --data raw --shards good_shards.h5 --out good_features.h5 \
    > /dev/null 2> features.err || { cat features.err; exit 1; }

# expect NAME CODE REGEX OUT -- CMD...: CMD must exit CODE, print REGEX on stderr in one line,
# leave OUT exactly as it was (a previous good output) and no OUT.partial.
expect() {
    local name=$1 code=$2 re=$3 out=$4
    shift 5
    cases=$((cases + 1))
    printf 'previous good output\n' > "$out"
    "$@" > case.out 2> case.err
    local st=$? bad=""
    [ "$st" = "$code" ] || bad="exit $st, want $code"
    [ -z "$bad" ] && ! grep -Eq -- "$re" case.err && bad="stderr lacks /$re/"
    [ -z "$bad" ] && [ "$(cat "$out")" != "previous good output" ] && bad="previous output changed"
    [ -z "$bad" ] && [ -e "$out.partial" ] && bad="left $out.partial"
    if [ -n "$bad" ]; then
        echo "FAIL $name: $bad"; sed 's/^/    /' case.err | head -n 5; fails=$((fails + 1))
    else
        echo "ok   $name: exit $st: $(grep -E -- "$re" case.err | head -n 1)"
    fi
    rm -f "$out"
}

shard() { rp_mpirun 2 "$RP_BIN/rp-shard" --big "$1" --small raw/small_matrix.csv --out out.h5; }
# mutate NAME SED_EXPR: a copy of the big matrix with one edit (line numbers are file lines).
mutate() { sed "$2" raw/big_matrix.csv > "$1.csv"; }
hdr=$(head -n 1 raw/big_matrix.csv)

head -c -7 raw/big_matrix.csv > trunc.csv
n=$(wc -l < trunc.csv); n=$((n + 1))
expect truncated-last-line 65 "trunc.csv:$n:" out.h5 -- shard trunc.csv
mutate wrong-header '1s/watch_ratio/ratio/';          expect wrong-header 65 'wrong-header.csv:1:.*header' out.h5 -- shard wrong-header.csv
mutate no-header '1d';                                expect missing-header 65 'no-header.csv:1:' out.h5 -- shard no-header.csv
mutate extra-col '5s/$/,7/';                          expect extra-column 65 'extra-col.csv:5:' out.h5 -- shard extra-col.csv
mutate missing-col '5s/,[^,]*$//';                    expect missing-column 65 'missing-col.csv:5:' out.h5 -- shard missing-col.csv
mutate non-numeric '5s/^[0-9]*,/abc,/';               expect non-numeric 65 'non-numeric.csv:5:' out.h5 -- shard non-numeric.csv
mutate overflow '5s/^[0-9]*,/99999999999999999999999,/'; expect overflow 65 'overflow.csv:5:' out.h5 -- shard overflow.csv
mutate nan '5s/,[^,]*$/,nan/';                        expect nan 65 'nan.csv:5:' out.h5 -- shard nan.csv
mutate inf '6s/,[^,]*$/,inf/';                        expect inf 65 'inf.csv:6:' out.h5 -- shard inf.csv
mutate negative-id '5s/^[0-9]*,/-3,/';                expect negative-id 65 'negative-id.csv:5:' out.h5 -- shard negative-id.csv
mutate negative-duration '5s/^\([^,]*,[^,]*,[^,]*\),[0-9]*,/\1,-5,/'
expect negative-duration 65 'negative-duration.csv:5:' out.h5 -- shard negative-duration.csv
mutate repeated-header "5i$hdr";                      expect repeated-header 65 'repeated-header.csv:5:' out.h5 -- shard repeated-header.csv
mutate open-quote '5s/^/"/';                          expect unterminated-quote 65 'open-quote.csv:5:' out.h5 -- shard open-quote.csv
: > empty.csv;                                        expect empty-file 66 'empty.csv' out.h5 -- shard empty.csv
expect missing-file 66 'nowhere.csv' out.h5 -- shard nowhere.csv
{ printf '\x7fELF\x02\x01\x01'; head -c 3000 /dev/zero | tr '\0' '\377'; } > garbage.csv
expect binary-garbage 65 'garbage.csv:1:' out.h5 -- shard garbage.csv

# Side files read by rp-features.
feats() { rp_mpirun 2 "$RP_BIN/rp-features" --data "$1" --shards good_shards.h5 --out out.h5; }
side() { rm -rf "$1"; cp -r raw "$1"; sed -i "$3" "$1/$2"; }
side uf-header user_features.csv '1s/user_id/uid/'
expect user-features-header 65 'user_features.csv:1:' out.h5 -- feats uf-header
side uf-quote user_features.csv '4s/"\([^"]*\)"/"\1/'
expect user-features-quote 65 'user_features.csv:4:' out.h5 -- feats uf-quote
side uf-num user_features.csv '6s/,[0-9]*$/,x/'
expect user-features-number 65 'user_features.csv:6:' out.h5 -- feats uf-num
side ic-list item_categories.csv '3s/\]//'
expect item-categories-list 65 'item_categories.csv:3:' out.h5 -- feats ic-list
rm -rf no-uf && cp -r raw no-uf && rm no-uf/user_features.csv
expect user-features-missing 66 'user_features.csv' out.h5 -- feats no-uf

# HDF5 inputs.
als() { rp_mpirun 2 "$RP_BIN/rp-als" --shards "$1" --out out.h5 --iters 1 --k 4; }
sz=$(stat -c %s good_shards.h5)
head -c $((sz / 2)) good_shards.h5 > truncated.h5
expect h5-truncated 65 'truncated.h5' out.h5 -- als truncated.h5
expect h5-wrong-stage 65 "good_features.h5.*schema" out.h5 -- als good_features.h5
cp good_shards.h5 nodset.h5 && "$RP_BIN/test-h5drop" nodset.h5 /train/by_user/value
expect h5-missing-dataset 65 'nodset.h5.*(missing|/train/by_user/value)' out.h5 -- als nodset.h5
expect h5-missing-file 66 'absent.h5' out.h5 -- als absent.h5
if [ -x "$RP_BIN/rp-twotower" ]; then
    rp_mpirun 1 "$RP_BIN/rp-synth" --out raw2 --scale 0.03 --seed 9 > /dev/null 2>&1
    rp_mpirun 1 "$RP_BIN/rp-shard" --big raw2/big_matrix.csv --small raw2/small_matrix.csv \
        --out other_shards.h5 > /dev/null 2>&1
    rp_mpirun 1 "$RP_BIN/rp-features" --data raw2 --shards other_shards.h5 \
        --out other_features.h5 > /dev/null 2>&1
    expect h5-dims-mismatch 65 'other_features.h5' out.h5 -- rp_mpirun 2 "$RP_BIN/rp-twotower" \
        --shards good_shards.h5 --features other_features.h5 --out out.h5 --epochs 1
fi

# A full disk: the output folder on a tiny tmpfs (needs root and mount; else skipped).
mkdir -p tiny
if mount -t tmpfs -o size=96k tmpfs tiny 2> /dev/null; then
    printf 'previous good output\n' > tiny/shards.h5
    cases=$((cases + 1))
    rp_mpirun 2 "$RP_BIN/rp-shard" --big raw/big_matrix.csv --small raw/small_matrix.csv \
        --out tiny/shards.h5 > /dev/null 2> disk.err
    st=$?
    if [ $st = 74 ] && [ "$(cat tiny/shards.h5)" = "previous good output" ] &&
        [ ! -e tiny/shards.h5.partial ] && grep -q "error: .*shards.h5" disk.err; then
        echo "ok   disk-full: exit 74: $(grep "error: .*shards.h5" disk.err | head -n 1)"
    else
        echo "FAIL disk-full: exit $st (want 74), files: $(ls tiny)"; cat disk.err
        fails=$((fails + 1))
    fi
    umount tiny
else
    echo "note: cannot mount a tmpfs here (not root?): disk-full case not run"
fi

echo "fault cases: $cases, failures: $fails"
[ $fails = 0 ]
