#!/usr/bin/env bash
# hybrid.sh - rp-hybrid and rp-recommend as programs: planted inputs (built by a tiny C program
# against the stage library), outputs byte-identical datasets at np 1 and 3, --help, and the
# documented exit codes with no output left behind on bad input.
set -euo pipefail
source "$RP_TOP/tests/env.sh"
cd "$TMPDIR"

# Planted inputs: shards.h5 + als.h5 + twotower.h5 (tests/lib/hybrid_fixture.c).
"$RP_BIN/test-hybrid_fixture" 300 200 0.4 2 4 7 || fail "fixture generator"

# --help and usage errors.
"$RP_BIN/rp-hybrid" --help > help1.txt || fail "rp-hybrid --help exit $?"
"$RP_BIN/rp-recommend" --help > help2.txt || fail "rp-recommend --help exit $?"
grep -q -- "--twotower" help1.txt && grep -q -- "--exclude-train" help2.txt || fail "--help text"
set +e
"$RP_BIN/rp-hybrid" --shards shards.h5 --out x.h5 2>/dev/null; st=$?
[ $st = 64 ] || fail "no component: exit $st, want 64"
"$RP_BIN/rp-hybrid" --shards shards.h5 --als nope.h5 --twotower twotower.h5 --out x.h5 2>err; st=$?
[ $st = 66 ] && grep -q "nope.h5" err || fail "missing als: exit $st, want 66 naming the file"
"$RP_BIN/rp-hybrid" --shards als.h5 --als als.h5 --twotower twotower.h5 --out x.h5 2>/dev/null; st=$?
[ $st = 65 ] || fail "als.h5 as shards: exit $st, want 65"
"$RP_BIN/rp-recommend" --shards shards.h5 --model-file als.h5 --model twotower --out x.h5 2>/dev/null; st=$?
[ $st = 65 ] || fail "wrong --model: exit $st, want 65"
"$RP_BIN/rp-recommend" --shards shards.h5 --model-file als.h5 --out x.h5 --k 0 2>/dev/null; st=$?
[ $st = 64 ] || fail "--k 0: exit $st, want 64"
set -e
[ ! -e x.h5 ] && [ ! -e x.h5.partial ] || fail "output left behind after a failure"

# np 1 and 3: the same datasets (only nprocs/params root attributes may differ).
for np in 1 3; do
    rp_mpirun $np "$RP_BIN/rp-hybrid" --shards shards.h5 --als als.h5 --twotower twotower.h5 \
        --out hybrid$np.h5 --epochs 3 --hidden 16 > sum$np.txt
    grep -q "^rp-hybrid: ok default=" sum$np.txt || fail "rp-hybrid summary line"
    for m in hybrid$np.h5 "hybrid$np.h5#concat"; do
        rp_mpirun $np "$RP_BIN/rp-recommend" --shards shards.h5 --model-file "$m" --model hybrid \
            --k 10 --out recs$np.h5 --csv recs$np.csv > /dev/null
    done
    rp_mpirun $np "$RP_BIN/rp-recommend" --shards shards.h5 --model bias --users 3,2993 \
        --out bias$np.h5 > /dev/null
done
for f in hybrid recs bias; do
    h5dump ${f}1.h5 | grep -v 'HDF5 "' > a.txt
    h5dump ${f}3.h5 | grep -v 'HDF5 "' > b.txt
    # Drop nprocs, params and the lineage (it names the np-specific model file), then compare everything else.
    awk '/ATTRIBUTE "(nprocs|params|inputs|model_file|elapsed_s|peak_rss_mb)"/{skip=1} skip&&/^   }/{skip=0; next} !skip' a.txt > a2.txt
    awk '/ATTRIBUTE "(nprocs|params|inputs|model_file|elapsed_s|peak_rss_mb)"/{skip=1} skip&&/^   }/{skip=0; next} !skip' b.txt > b2.txt
    cmp -s a2.txt b2.txt || { diff a2.txt b2.txt | head; fail "$f differs between np 1 and 3"; }
done
cmp recs1.csv recs3.csv || fail "CSV differs between np 1 and 3"
[ "$(head -1 recs1.csv)" = "user_id,rank,video_id,score" ] || fail "CSV header"
[ "$(wc -l < recs1.csv)" = 3001 ] || fail "CSV rows: $(wc -l < recs1.csv), want 3001"
h5dump -d /items bias1.h5 > items.txt
grep -q "( 2, 50 )" items.txt || fail "--users 3,2993 --k 50: want 2x50 items"
h5dump -A hybrid1.h5 > attrs.txt
grep -q "recpipe.hybrid" attrs.txt || fail "hybrid schema"
# SIGTERM during concat training: checkpoint at the epoch boundary, exit 75, no output; --resume
# (here at np 2) finishes with the same weights as an uninterrupted run, and drops the checkpoint.
long=(--shards shards.h5 --als als.h5 --twotower twotower.h5 --epochs 150 --early-stop 150
      --epoch-samples 4000 --hidden 16)
"$RP_BIN/rp-hybrid" "${long[@]}" --out full.h5 > /dev/null 2>&1
"$RP_BIN/rp-hybrid" "${long[@]}" --out sig.h5 > /dev/null 2> sig.log &
pid=$!
for _ in $(seq 1 600); do grep -q "concat epoch 2:" sig.log && break; sleep 0.05; done
kill -TERM $pid
set +e; wait $pid; st=$?; set -e
[ $st = 75 ] || fail "SIGTERM: exit $st, want 75"
[ -e sig.h5.ckpt ] && [ ! -e sig.h5 ] && [ ! -e sig.h5.partial ] || fail "checkpoint/output state after SIGTERM"
rp_mpirun 2 "$RP_BIN/rp-hybrid" "${long[@]}" --out sig.h5 --resume > /dev/null 2> resume.log
grep -q "resuming concat training after epoch" resume.log || fail "did not resume"
[ ! -e sig.h5.ckpt ] || fail "checkpoint left after success"
h5dump -d /concat/params -d /concat/history/valid_rmse full.h5 | tail -n +2 > p1.txt
h5dump -d /concat/params -d /concat/history/valid_rmse sig.h5 | tail -n +2 > p2.txt
cmp -s p1.txt p2.txt || fail "resumed weights differ from an uninterrupted run"
echo "ok"
