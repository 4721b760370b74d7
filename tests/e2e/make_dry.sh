#!/usr/bin/env bash
# make_dry.sh - honest make: after a finished run, `make -n run` lists no stage and
# `make -q run` exits 0; after changing one parameter of one stage, `make -n run` and
# `make -n <stage>` list exactly the stages the real `make` then executes, `make -q` exits 1,
# and neither -n nor -q writes anything in the run folder.
set -u
. "$RP_TOP/tests/env.sh"
rp_need_pipeline
FAIL_GO_ON=1 # check everything, report each failure (fail: tests/env.sh)
run=$TMPDIR/run
mk() { make -C "$RP_TOP" --no-print-directory BIN="$RP_BIN" RUN="$run" SCALE=0.02 NP=2 \
          TT_EPOCHS=1 "$@"; }
# stages FILE: the stages a make log started (or a make -n printed), in DAG order.
stages() { grep -o 'recpipe: \[[a-z]*\]' "$1" | sed 's/recpipe: \[\(.*\)\]/\1/' | tr '\n' ' '; }
# state: every file of the run folder with its time stamp and size (the lock excluded).
state() { find "$run" -type f ! -name .lock -printf '%P %T@ %s\n' | sort; }

mk run > "$TMPDIR/first.log" 2>&1 || { tail -n 20 "$TMPDIR/first.log"; fail "first make run"; exit 1; }
[ "$(stages "$TMPDIR/first.log")" = "synth shard features als twotower hybrid eval recommend " ] ||
    fail "first run stages: $(stages "$TMPDIR/first.log")"

# check_dry GOAL WANT [VAR=value...]: -n and -q before the real make; then the real make.
check_dry() {
    local goal=$1 want=$2 tag=$3
    shift 3
    local before
    before=$(state)
    mk -n "$goal" "$@" > "$TMPDIR/n-$tag.log" 2>&1 || fail "$tag: make -n $goal exited $?"
    local listed
    listed=$(stages "$TMPDIR/n-$tag.log")
    [ "$listed" = "$want" ] || fail "$tag: make -n $goal $* listed '$listed', want '$want'"
    mk -q "$goal" "$@" > /dev/null 2>&1
    local q=$?
    if [ -z "$want" ]; then [ $q = 0 ] || fail "$tag: make -q $goal $* exited $q on an up-to-date run";
    else [ $q = 1 ] || fail "$tag: make -q $goal $* exited $q with stages to run"; fi
    [ "$(state)" = "$before" ] || fail "$tag: make -n/-q $goal changed the run folder"
    mk "$goal" "$@" > "$TMPDIR/real-$tag.log" 2>&1 || { tail -n 10 "$TMPDIR/real-$tag.log"; fail "$tag: make $goal"; }
    local ran
    ran=$(stages "$TMPDIR/real-$tag.log")
    [ "$ran" = "$listed" ] || fail "$tag: make -n listed '$listed' but make $goal ran '$ran'"
    echo "ok: $tag: make -n $goal $* -> '$listed'"
}

check_dry run "" unchanged
check_dry als "als " als-k ALS_K=6
# als.h5 is now ALS_K=6: `make run` with the default rebuilds als and everything after it.
check_dry run "als hybrid eval recommend " run-after-als
check_dry run "recommend " recs-k RECS_K=7
check_dry run "features twotower hybrid eval recommend " tag-len RECS_K=7 TAG_LEN=3
check_dry eval "" eval-unchanged RECS_K=7 TAG_LEN=3
check_dry run "" all-done RECS_K=7 TAG_LEN=3
[ $fails = 0 ] || exit 1
echo "make -n / make -q agree with what make runs"
