#!/usr/bin/env bash
# als_resume.sh - rp-als robustness: a run whose rank is SIGKILLed (mpirun aborts the rest) and
# then resumed, and a run stopped by SIGTERM (checkpoint, exit 75) and resumed, both end with
# the same bits as an uninterrupted run (the grid search: the grid so far, the current point and
# the best point's factors are restored).
set -u
source "$RP_TOP/tests/env.sh"
cd "$TMPDIR"
[ -x "$RP_BIN/test-als_fixture" ] || fail "bin/test-als_fixture not built (make all)"
rp_mpirun 2 "$RP_BIN/test-als_fixture" shards.h5 160 120 0.1 4 0.02 || fail "fixture"
args="--shards shards.h5 --grid-k 4,6 --grid-lambda 0.01,0.03,0.1 --iters 6 --checkpoint-every 1 --valid-weight item"
rp_mpirun 2 "$RP_BIN/rp-als" $args --out ref.h5 > /dev/null 2>&1 || fail "reference run"
datasets="/user_factors /item_factors /user_bias /item_bias /score/user /score/item
          /history/train_rmse /history/valid_rmse /history/train_mae /history/valid_mae
          /grid/k /grid/lambda /grid/valid_rmse /grid/best_iter"
same() { for d in $datasets; do h5diff -q ref.h5 "$1" $d $d || fail "$2: $d differs"; done; }

# wait_ckpt PATH - until the checkpoint exists (the loop is running), at most 60 s
wait_ckpt() { for _ in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.1; done; fail "no $1"; }
# ranks PID - the rank processes mpirun PID started (mpirun is run directly, not through the
# rp_mpirun function, so $! is mpirun itself)
ranks() { pgrep -P "$1" -f rp-als; }

# 1. SIGKILL one rank mid-run
RP_ALS_TEST_DELAY_MS=150 $MPIEXEC -n 2 "$RP_BIN/rp-als" $args --out k.h5 > k1.txt 2> k1.err &
mpid=$!
wait_ckpt k.h5.ckpt
sleep 0.4
victim=$(ranks $mpid | tail -n 1)
[ -n "$victim" ] || fail "no rank process under mpirun $mpid"
kill -KILL "$victim"
wait $mpid; st=$?
[ $st != 0 ] || fail "killed run exited 0"
[ ! -e k.h5 ] || fail "killed run left an output"
rp_mpirun 2 "$RP_BIN/rp-als" $args --out k.h5 --resume > k2.txt 2> k2.err || fail "resume after kill: $(tail -n 2 k2.err)"
grep -q "resumed from k.h5.ckpt: .* after iteration" k2.err || fail "did not resume: $(head -n 3 k2.err)"
same k.h5 "SIGKILL+resume"

# 2. SIGTERM to one rank: checkpoint at the next iteration boundary, exit 75
RP_ALS_TEST_DELAY_MS=150 $MPIEXEC -n 3 "$RP_BIN/rp-als" $args --out t.h5 --checkpoint t.ck \
    > t1.txt 2> t1.err &
mpid=$!
wait_ckpt t.ck
victim=$(ranks $mpid | head -n 1)
[ -n "$victim" ] || fail "no rank process under mpirun $mpid"
kill -TERM "$victim"
wait $mpid; st=$?
[ $st = 75 ] || fail "SIGTERM run exited $st, want 75: $(tail -n 3 t1.err)"
[ ! -e t.h5 ] && [ -e t.ck ] || fail "SIGTERM: output present or checkpoint missing"
rp_mpirun 4 "$RP_BIN/rp-als" $args --out t.h5 --checkpoint t.ck --resume > t2.txt 2> t2.err \
    || fail "resume after SIGTERM"
grep -q "resumed from t.ck" t2.err || fail "did not resume after SIGTERM"
same t.h5 "SIGTERM+resume (np 3 -> 4)"
[ ! -e t.ck ] || fail "checkpoint not removed after success"
echo "als resume e2e ok"
