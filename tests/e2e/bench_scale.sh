#!/usr/bin/env bash
# bench_scale.sh - the growth benchmarks' harness without running the pipeline (a real
# `make bench-scale` takes half an hour; SCALE_BASE=0.05 SCALE_BIG=0.1 checks it by hand):
# bench/scale_lib.sh reads summary lines, ratios and CPU seconds right, refuses a goal that ran
# more than one stage or failed, and keeps an outer make's variables away from the inner makes;
# bench/scale_model.py reproduces the figures docs/SCALING.md derives from the code (ALS
# allgather table size, two-tower replicated memory) from a canned bench-scale table.
set -u
source "$RP_TOP/tests/env.sh"
cd "$TMPDIR"
FAIL_GO_ON=1
export MAKEFLAGS="NP=7" # an outer make's command line: must not reach the inner makes
top=$RP_TOP
source "$RP_TOP/bench/scale_lib.sh"
[ -z "${MAKEFLAGS:-}" ] || fail "scale_lib.sh left MAKEFLAGS=$MAKEFLAGS for the inner makes"

line="rp-als: ok k=32 sweeps=5 sweep_s_mean=2.4494 seconds=25.01 peak_rss_mb_per_rank=50 nprocs=2"
[ "$(sl_field sweep_s_mean "$line")" = 2.4494 ] || fail "sl_field sweep_s_mean: '$(sl_field sweep_s_mean "$line")'"
[ "$(sl_field peak_rss_mb_per_rank "$line")" = 50 ] || fail "sl_field peak_rss_mb_per_rank"
[ -z "$(sl_field absent "$line")" ] || fail "sl_field of a missing field is not empty"
[ "$(sl_ratio 10 4)" = 2.50 ] || fail "sl_ratio 10 4 = $(sl_ratio 10 4)"
[ "$(sl_ratio 1 0)" = - ] || fail "sl_ratio by 0 = $(sl_ratio 1 0)"
[ "$(sl_ratio '' 2)" = - ] || fail "sl_ratio of a missing value = $(sl_ratio '' 2)"

# A stand-in make: FAKE=ok prints the stage's line and one "recpipe: [stage]" line; two: two
# stages ran; fail: exit 65. It records its arguments and spends a little CPU.
mkdir -p fakebin
cat > fakebin/make <<'EOF'
#!/usr/bin/env bash
goal=${!#}
printf '%s\n' "$*" > "$FAKE_ARGS"
i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done
case $FAKE in
ok) echo "recpipe: [$goal] mpirun ..." >&2
    echo "rp-$goal: ok rows=3 seconds=0.50 peak_rss_mb_per_rank=42 nprocs=2";;
two) echo "recpipe: [shard] mpirun ..." >&2; echo "recpipe: [$goal] mpirun ..." >&2
     echo "rp-$goal: ok seconds=0.50 peak_rss_mb_per_rank=42 nprocs=2";;
fail) echo "rp-$goal: error: boom" >&2; exit 65;;
esac
EOF
chmod +x fakebin/make
PATH=$TMPDIR/fakebin:$PATH
export FAKE_ARGS=$TMPDIR/args
FAKE=ok sl_make logs run1 3 als SCALE=0.5 ALS_K=8 2> err.txt || fail "sl_make ok: $(cat err.txt)"
[ "$(sl_field peak_rss_mb_per_rank "$SL_LINE")" = 42 ] || fail "SL_LINE: '$SL_LINE'"
[[ $SL_WALL =~ ^[0-9]+\.[0-9]$ ]] || fail "SL_WALL '$SL_WALL' is not seconds"
[[ $SL_CPU =~ ^[0-9]+\.[0-9]$ ]] || fail "SL_CPU '$SL_CPU' is not seconds"
grep -q -- "RUN=run1 NP=3 SCALE=0.5 ALS_K=8 als" args || fail "make got: $(cat args)"
[ -s logs/als.out ] && [ -s logs/als.time ] || fail "no logs/als.out or logs/als.time"
if FAKE=two sl_make logs run1 2 als 2> err.txt; then fail "a goal that ran 2 stages was accepted"; fi
grep -q "ran 2 stages, expected 1" err.txt || fail "two stages: $(cat err.txt)"
if FAKE=fail sl_make logs run1 2 eval 2> err.txt; then fail "a failed goal was accepted"; fi
grep -q "make eval (RUN=run1 NP=2) failed (exit 65)" err.txt || fail "failure: $(cat err.txt)"

# scale_model.py on a canned table (figures of the shape bench-scale.sh writes).
if ! command -v python3 > /dev/null; then
    echo "python3 missing: scale_model.py not checked" >&2
else
    {
    echo "vm, 2 cores (x), np 2; load average 1 at the start"
    echo "| stage | s @0.316 | CPU s @0.316 | MB/rank @0.316 | s @1 | CPU s @1 | MB/rank @1 | r |"
    echo "|---|---|---|---|---|---|---|---|"
    for s in synth shard als twotower; do echo "| rp-$s | 1 | 1.0 | 30 | 10 | 10.0 | 300 | 1 |"; done
    echo "| rp-seqrec | 1 | 1.0 | 30 | 10 | 10.0 | 455 | 1 |"
    echo "Summary lines:"
    echo '```'
    for s in synth shard als twotower seqrec; do echo; done
    echo "rp-synth: ok seconds=1 peak_rss_mb_per_rank=300 nprocs=2"
    echo "rp-shard: ok seconds=1 peak_rss_mb_per_rank=300 nprocs=2"
    echo "rp-als: ok sweeps=5 sweep_cpu_s_best=0.5 gflop_per_sweep=22 seconds=1 peak_rss_mb_per_rank=300 nprocs=2"
    echo "rp-twotower: ok sparse_bytes_per_step=2154815 seconds=1 peak_rss_mb_per_rank=300 nprocs=2"
    echo "rp-seqrec: ok train_seconds=4.0 read_seconds=2.0 fit_seconds=6.0 score_seconds=3.0 seconds=12 peak_rss_mb_per_rank=455 nprocs=2"
    echo '```'
    } > scale.md
    python3 "$RP_TOP/bench/scale_model.py" scale.md > model.txt 2> model.err ||
        fail "scale_model.py: $(cat model.err)"
    grep -q "^### 100x KuaiRec: 71,760 users x 107,280 videos" model.txt || fail "no 100x table"
    grep -q "^### 1000x KuaiRec" model.txt || fail "no 1000x table"
    # (U + V)(k + 1) x 8 B at 1000x: (226,925 + 339,249) x 33 x 8 = 149 MB (docs/SCALING.md)
    grep -q "allgather of 149 MB per sweep" model.txt || fail "ALS table at 1000x: $(grep rp-als model.txt)"
    # two-tower: 70 MB + 22 B x 9.25B train interactions = 203.6 GB per rank, whatever N
    grep "rp-twotower" model.txt | tail -n 1 | grep -q "| 203\.[0-9] (!) |" ||
        fail "two-tower memory at 1000x: $(grep rp-twotower model.txt | tail -n 1)"
    # seqrec: every split read on every rank, 2 s x 100 at 100x whatever N; 55 MB + 400 MB x 100
    grep "^| rp-seqrec" model.txt | head -n 1 | grep -q "| 40\.1 (!) |.*read of every split on every rank (200 s)" ||
        fail "seqrec at 100x: $(grep "^| rp-seqrec" model.txt | head -n 1)"
    python3 "$RP_TOP/bench/scale_model.py" /dev/null > /dev/null 2>&1 &&
        fail "scale_model.py accepted a file without a table"
fi
[ "$fails" = 0 ]
