#!/usr/bin/env bash
# synth_verify.sh - tools/verify-data.sh against data-manifest.txt: a generated folder passes
# --headers-only and fails the full check (row counts), a changed header, a missing file and a
# changed byte in a file with a known SHA-256 are reported with the documented exit codes.
set -u
source "$RP_TOP/tests/env.sh"
cd "$TMPDIR"
verify="$RP_TOP/tools/verify-data.sh"
rp_mpirun 2 "$RP_BIN/rp-synth" --out gen --scale 0.02 > /dev/null 2>&1 || fail "rp-synth"
"$verify" --headers-only gen > v1.txt; st=$?
cat v1.txt
[ $st = 0 ] || fail "--headers-only on a generated folder: exit $st"
grep -q "sizes differ" v1.txt || fail "--headers-only does not say the sizes differ"
"$verify" gen > v2.txt; st=$?
[ $st = 65 ] || fail "full check of a generated folder: exit $st, want 65"
grep -q "BAD      big_matrix.csv: .* data rows, expected 12530806" v2.txt || fail "no row-count message"
sed -i '1s/watch_ratio/watch_ratio2/' gen/small_matrix.csv
"$verify" --headers-only gen > v3.txt; st=$?
[ $st = 65 ] && grep -q "BAD      small_matrix.csv: header differs" v3.txt || fail "changed header: exit $st"
rm gen/social_network.csv
"$verify" --headers-only gen > v4.txt; st=$?
[ $st = 66 ] && grep -q "MISSING  social_network.csv" v4.txt || fail "missing file: exit $st"
"$verify" 2> /dev/null; [ $? = 64 ] || fail "no DIR: want 64"
"$verify" --nope gen 2> /dev/null; [ $? = 64 ] || fail "bad option: want 64"
real="${SHARED:-}/data/kuairec-real"
if [ -r "$real/user_features.csv" ]; then
    mkdir r && cp "$real/user_features.csv" "$real/item_categories.csv" r/
    "$verify" r > v5.txt
    grep -q "OK       user_features.csv: header, 7176 rows, sha256 ok" v5.txt || { cat v5.txt; fail "real file not verified"; }
    # same size, one byte changed: the hash catches it
    sed -i '2s/^0,high_active/0,full_active/' r/user_features.csv
    sed -i '2s/full_active,0,0,0,5,/full_active,0,0,0,6,/' r/user_features.csv
    "$verify" r > v6.txt
    grep -q "BAD      user_features.csv: sha256" v6.txt || { cat v6.txt; fail "changed byte not caught"; }
    echo "real side files: sha256 verified, a changed byte is caught"
else
    echo "real side files absent under $real: sha256 checks skipped"
fi
echo "verify-data e2e: ok"
