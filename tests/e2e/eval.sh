#!/usr/bin/env bash
# tests/e2e/eval.sh - bin/rp-eval end to end on synthetic inputs (bench/eval_gen.sh): np 1 and 3
# give identical /metrics and /counts; a missing model is skipped; a model with the wrong
# n_items exits 65 with one line naming it and leaves no output; reports and plots exist.
set -u
source "$RP_TOP/tests/env.sh"
source "$RP_TOP/bench/eval_gen.sh"
cd "$TMPDIR"
eval_gen_build ./eval_gen || fail "cannot build the generator"
mkdir -p data r1 r3 bad
./eval_gen data 60 45 20 25 40 6 7 || fail "generator"
common=(--shards data/shards.h5 --features data/features.h5 --als data/als.h5
        --twotower data/twotower.h5 --hybrid data/no_hybrid.h5 --truth data/truth.h5)
rp_mpirun 1 "$RP_BIN/rp-eval" "${common[@]}" --out r1/eval.h5 > out1.txt 2> err1.txt \
    || { cat err1.txt; fail "np 1 run"; }
rp_mpirun 3 "$RP_BIN/rp-eval" "${common[@]}" --out r3/eval.h5 --no-plots > out3.txt 2> err3.txt \
    || { cat err3.txt; fail "np 3 run"; }
grep -q "no_hybrid.h5 does not exist" err1.txt || fail "no notice for the missing hybrid"
[ "$(wc -l < out1.txt)" = 1 ] && grep -q "^rp-eval: ok models=8 " out1.txt \
    || fail "summary: $(cat out1.txt)"
for ds in /metrics /counts; do
    h5dump -d "$ds" r1/eval.h5 | sed 1d > a.txt
    h5dump -d "$ds" r3/eval.h5 | sed 1d > b.txt
    cmp -s a.txt b.txt || { diff a.txt b.txt | head; fail "$ds differs between np 1 and np 3"; }
done
h5dump -a /metrics/models r1/eval.h5 | grep -q '"hybrid"' && fail "missing hybrid has a row"
for m in global_mean user_mean video_mean bias linreg als twotower truth; do
    h5dump -a /metrics/models r1/eval.h5 | grep -q "\"$m\"" || fail "no row for $m"
done
for f in r1/report.json r1/report.md r1/plots/metrics.png r1/plots/learning_als.png \
         r1/plots/learning_twotower.png r1/plots/learning_twotower_extra.png r3/report.json; do
    [ -s "$f" ] || fail "$f missing"
done
[ -e r3/plots/metrics.png ] && fail "--no-plots drew plots"
grep -q '"ndcg@50"' r1/report.json && grep -q '"ndcg_raw@50"' r1/report.json &&
    grep -q '"gap_share"' r1/report.json && grep -q '^| truth |' r1/report.md &&
    grep -q '^## Headline' r1/report.md || fail "report content"
if command -v python3 > /dev/null; then
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert len(d["models"]) == 8' \
        r1/report.json || fail "report.json is not valid JSON with 8 models"
fi
# Model options take comma lists of FILE[#variant]: one row each, names made unique, a missing
# file (variant suffix stripped) skipped.
mkdir -p rl
rp_mpirun 2 "$RP_BIN/rp-eval" --shards data/shards.h5 --als data/als.h5 \
    --hybrid "data/als.h5,data/none.h5#concat" --out rl/eval.h5 --no-plots > lout.txt 2> lerr.txt \
    || { cat lerr.txt; fail "list run"; }
grep -q "data/none.h5 does not exist" lerr.txt || fail "no notice for none.h5#concat"
h5dump -a /metrics/models rl/eval.h5 | grep -q '"als-2"' || fail "second als row not named als-2"
# Without gnuplot: a notice, every other output, exit 0.
mkdir -p ng
rp_mpirun 1 "$RP_BIN/rp-eval" --shards data/shards.h5 --als data/als.h5 --out ng/eval.h5 \
    --gnuplot "$TMPDIR/no/gnuplot" > /dev/null 2> ngerr.txt || fail "run without gnuplot"
grep -q "no/gnuplot not found: plots skipped" ngerr.txt || fail "no notice without gnuplot"
[ -s ng/eval.h5 ] && [ -s ng/report.md ] && [ ! -e ng/plots/metrics.png ] \
    || fail "outputs without gnuplot"
# A model from another dataset: exit 65, one line naming it, no eval.h5, no partial file.
rp_mpirun 2 "$RP_BIN/rp-eval" --shards data/shards.h5 --twotower data/bad_twotower.h5 \
    --out bad/eval.h5 > badout.txt 2> baderr.txt
st=$?
[ $st = 65 ] || { cat baderr.txt; fail "mismatched model: exit $st, want 65"; }
[ "$(grep -c 'error' baderr.txt)" = 1 ] && grep -q 'bad_twotower.h5' baderr.txt || \
    { cat baderr.txt; fail "error message"; }
[ -e bad/eval.h5 ] || [ -e bad/eval.h5.partial ] || [ -e bad/report.json ] && fail "partial output"
# rp-eval reports both hybrid variants of one hybrid.h5, one row each.
mkdir -p hv
"$RP_BIN/rp-hybrid" --shards data/shards.h5 --als data/als.h5 --twotower data/twotower.h5 \
    --out data/hybrid.h5 --epochs 2 --hidden 8 > /dev/null 2> hyberr.txt \
    || { cat hyberr.txt; fail "rp-hybrid on the eval inputs"; }
rp_mpirun 2 "$RP_BIN/rp-eval" --shards data/shards.h5 \
    --hybrid "data/hybrid.h5#blend,data/hybrid.h5#concat" --out hv/eval.h5 --no-plots \
    > hvout.txt 2> hverr.txt || { cat hverr.txt; fail "eval of both hybrid variants"; }
for m in hybrid-blend hybrid-concat; do
    h5dump -a /metrics/models hv/eval.h5 | grep -q "\"$m\"" || fail "no row for $m"
    grep -q "\"$m\"" hv/report.json && grep -q "^| $m |" hv/report.md || fail "$m not reported"
done
[ "$(grep -c 'sha256=' <(h5dump -a /inputs hv/eval.h5))" = 2 ] \
    || fail "lineage: hybrid.h5 must be listed (and hashed) once next to shards.h5"
"$RP_BIN/rp-eval" --help > help.txt || fail "--help"
grep -q -- "--k-list" help.txt || fail "help text"
"$RP_BIN/rp-eval" --shards data/shards.h5 > /dev/null 2>&1; [ $? = 64 ] || fail "usage exit"
echo "eval e2e ok"
