#!/usr/bin/env bash
# resume_make.sh - killed and resumed stages at the level users meet them: one rank of a training stage is killed
# with SIGKILL in the middle of `make`; make fails and leaves no output; the next plain `make`
# resumes from the checkpoint and ends with the same bits as an uninterrupted run.
source "$RP_TOP/tests/env.sh"
set -u
for p in synth shard features als; do
    [ -x "$RP_BIN/rp-$p" ] || { echo "skipped: bin/rp-$p not built yet"; exit 77; }
done
cd "$RP_TOP" || exit 1
A=$TMPDIR/a B=$TMPDIR/b
L=$TMPDIR  # logs: never in the source tree (make runs from $RP_TOP)
common=(SCALE=0.03 NP=2 ALS_K=6 ALS_ITERS=10 ALS_CHECKPOINT_EVERY=1)
make -s features RUN="$A" "${common[@]}" > /dev/null 2>&1 || fail "make features"
cp -a "$A" "$B"
make -s als RUN="$B" "${common[@]}" > /dev/null 2>&1 || fail "uninterrupted make als"

# kill_als: start `make als` (the test hook slows each iteration so the kill lands mid-run,
# after a checkpoint), SIGKILL one rank, check make failed cleanly and the checkpoint stayed.
kill_als() {
    RP_ALS_TEST_DELAY_MS=200 make -s als RUN="$A" "${common[@]}" > "$L/kill.log" 2>&1 &
    local mk=$! victim
    for _ in $(seq 600); do [ -e "$A/ckpt/als.h5" ] && break; sleep 0.1; done
    [ -e "$A/ckpt/als.h5" ] || fail "no checkpoint appeared"
    sleep 0.3
    victim=$(pgrep -f "rp-als --shards $A/" | tail -n 1)
    [ -n "$victim" ] || fail "no rp-als rank found"
    kill -KILL "$victim"
    wait $mk && fail "make als succeeded although a rank was killed"
    [ ! -e "$A/als.h5" ] && [ ! -e "$A/als.h5.partial" ] || fail "a killed run left output"
    [ -e "$A/ckpt/als.h5" ] || fail "the checkpoint is gone"
}

# A changed parameter never resumes the old checkpoint.
kill_als
make als RUN="$A" "${common[@]}" ALS_K=5 > "$L/k5.log" 2>&1 || fail "make als ALS_K=5"
grep -q -- "--resume" "$L/k5.log" && fail "a changed parameter resumed an old checkpoint"

# The same parameters resume and match the uninterrupted run bit for bit.
kill_als
make als RUN="$A" "${common[@]}" > "$L/resume.log" 2>&1 || fail "make after the kill: $(tail -n 3 "$L/resume.log")"
grep -q -- "--resume" "$L/resume.log" || fail "make did not resume: $(grep rp-als "$L/resume.log")"
grep -q "resumed from" "$L/resume.log" || fail "rp-als did not report a resume"
for d in /user_factors /item_factors /user_bias /item_bias /score/user /score/item \
         /history/train_rmse /history/valid_rmse; do
    h5diff -q "$A/als.h5" "$B/als.h5" $d $d || fail "$d differs from the uninterrupted run"
done

# The same for rp-twotower (checkpoint after every epoch): kill a rank after the first one.
if [ -x "$RP_BIN/rp-twotower" ]; then
    tt=(TT_EPOCHS=40 TT_EARLY_STOP=0)
    make -s twotower RUN="$B" "${common[@]}" "${tt[@]}" > /dev/null 2>&1 || fail "uninterrupted twotower"
    make -s twotower RUN="$A" "${common[@]}" "${tt[@]}" > "$L/ttkill.log" 2>&1 &
    mk=$!
    for _ in $(seq 600); do [ -e "$A/ckpt/twotower.h5" ] && break; sleep 0.05; done
    [ -e "$A/ckpt/twotower.h5" ] || fail "no two-tower checkpoint appeared"
    victim=$(pgrep -f "rp-twotower --shards $A/" | tail -n 1)
    [ -n "$victim" ] && kill -KILL "$victim"
    wait $mk && fail "make twotower finished before the kill (too fast to test)"
    [ ! -e "$A/twotower.h5" ] || fail "a killed two-tower run left output"
    make twotower RUN="$A" "${common[@]}" "${tt[@]}" > "$L/ttresume.log" 2>&1 ||
        fail "make twotower after the kill: $(tail -n 3 "$L/ttresume.log")"
    grep -q -- "--resume" "$L/ttresume.log" || fail "make did not resume rp-twotower"
    for d in /score/user /score/item /user_embedding /item_embedding /weights/head \
             /history/valid_rmse /history/train_rmse; do
        h5diff -q "$A/twotower.h5" "$B/twotower.h5" $d $d || fail "twotower $d differs"
    done
fi
echo "make-level kill and resume ok"
