#!/usr/bin/env bash
# features.sh - rp-features as a program: --help, usage errors (64), missing inputs (66) with
# no output left behind, and every option of --help documented in docs/stages/features.md.
# (Feature values, real files and rank independence are checked in tests/mpi/test_features_mpi.c.)
set -u
source "$RP_TOP/tests/env.sh"
cd "$TMPDIR"
expect() { # expect CODE cmd... : run, compare the exit status
    local want=$1; shift
    "$@" > out.txt 2> err.txt; local st=$?
    [ "$st" = "$want" ] || { cat err.txt; fail "$* exited $st, want $want"; }
}
F=$RP_BIN/rp-features
expect 0 "$F" --help
grep -q -- "--popularity" out.txt || fail "--help lacks --popularity"
for opt in $(grep -oE -- '^  --[a-z][a-z-]*' out.txt | sort -u); do
    case $opt in --no-*|--help|--version) continue;; esac
    grep -q -- "$opt" "$RP_TOP/docs/stages/features.md" || fail "$opt not documented"
done
expect 64 "$F" --bogus
expect 64 "$F" --data . --shards s.h5
expect 64 "$F" --data . --shards s.h5 --out o.h5 --tag-len 0
expect 64 "$F" --data . --shards s.h5 --out o.h5 --smoothing -1
expect 66 rp_mpirun 2 "$F" --data . --shards missing.h5 --out o.h5
grep -q "missing.h5: cannot open" err.txt || fail "no message naming missing.h5"
[ ! -e o.h5 ] && [ ! -e o.h5.partial ] || fail "output left behind"
echo "not an hdf5 file" > bad.h5
expect 65 rp_mpirun 2 "$F" --data . --shards bad.h5 --out o.h5
[ ! -e o.h5 ] || fail "output left behind"
echo "features e2e ok"
