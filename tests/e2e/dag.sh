#!/usr/bin/env bash
# dag.sh - the Makefile DAG end to end on tiny generated data: `make run` writes every output
# (valid HDF5 with its schema attribute); an unchanged second run reruns nothing; changing an ALS
# parameter reruns exactly als, hybrid, eval and recommend; CONFIG=file; `make -j2` gives the
# same bits while a second concurrent `make run` is refused by the lock; a failing stage leaves
# no output; a real-data-style DATA= folder (name with a space) through a link; clean-run; the
# launcher choice.
set -u
. "$RP_TOP/tests/env.sh"
# Isolate from a calling make (make test) and from the user's pipeline variables.
rp_need_pipeline
for t in h5dump flock; do
    command -v $t >/dev/null || { echo "skip: $t not installed"; exit 77; }
done

fails=0
FAIL_GO_ON=1 # fail (tests/env.sh) counts; the script ends with the total
ok() { echo "ok: $*"; }
mk() { make -C "$RP_TOP" --no-print-directory BIN="$RP_BIN" SCALE=0.02 NP=2 "$@"; }
# schema FILE: the root "schema" attribute of an HDF5 file (empty if unreadable).
schema() { h5dump -a /schema "$1" 2>/dev/null | sed -n 's/.*(0): "\(.*\)".*/\1/p'; }
# stages LOG: the stages a make run started, in order.
stages() { sed -n 's/^recpipe: \[\([a-z]*\)\].*/\1/p' "$1" | sort | tr '\n' ' '; }
# mtimes RUN: modification times of every output (not the parameter stamps or the lock).
mtimes() { find "$1" -path "$1/.params" -prune -o -type f ! -name .lock -printf '%P %T@\n' | sort; }
# dataset FILE NAME: a dataset's values as h5dump prints them (without the file name line).
dataset() { h5dump -d "$2" "$1" 2>/dev/null | sed 1d; }

run=$TMPDIR/run
declare -A want=([data/truth.h5]=recpipe.truth [shards.h5]=recpipe.shards
    [features.h5]=recpipe.features [als.h5]=recpipe.als [twotower.h5]=recpipe.twotower
    [hybrid.h5]=recpipe.hybrid [eval.h5]=recpipe.eval [recs.h5]=recpipe.recs)
check_outputs() { # RUN
    local f got bad=0
    for f in "${!want[@]}"; do
        got=$(schema "$1/$f")
        [ "$got" = "${want[$f]}" ] || { fail "$1/$f: schema '$got', want '${want[$f]}'"; bad=1; }
    done
    for f in report/report.md report/report.json recs.csv data/big_matrix.csv data/small_matrix.csv \
             data/user_features.csv data/item_categories.csv; do
        [ -s "$1/$f" ] || { fail "$1/$f missing or empty"; bad=1; }
    done
    [ -z "$(find "$1" -name '*.partial')" ] || { fail "partial files left in $1"; bad=1; }
    return $bad
}

# 1. the whole pipeline
t0=$(date +%s)
if mk run RUN="$run" > "$TMPDIR/run1.log" 2>&1; then
    ok "make run ($(( $(date +%s) - t0 )) s)"
else
    tail -n 30 "$TMPDIR/run1.log"; fail "make run failed"; exit 1
fi
got=$(stages "$TMPDIR/run1.log")
[ "$got" = "als eval features hybrid recommend shard synth twotower " ] || fail "stages run: $got"
check_outputs "$run" && ok "every output present with its schema"

# 2. nothing changed: nothing reruns, nothing is rewritten
before=$(mtimes "$run")
mk run RUN="$run" > "$TMPDIR/run2.log" 2>&1 || fail "second make run failed"
got=$(stages "$TMPDIR/run2.log")
[ -z "$got" ] || fail "an unchanged run reran: $got"
[ "$before" = "$(mtimes "$run")" ] || fail "an unchanged run rewrote files"
[ -z "$got" ] && ok "unchanged run reruns nothing"

# 3. an ALS parameter reruns als and what depends on it, nothing upstream
before_up=$(mtimes "$run" | grep -E '^(data/|shards.h5|features.h5|twotower.h5)')
mk run RUN="$run" ALS_K=8 > "$TMPDIR/run3.log" 2>&1 || fail "make run ALS_K=8 failed"
got=$(stages "$TMPDIR/run3.log")
[ "$got" = "als eval hybrid recommend " ] || fail "ALS_K=8 reran: '$got'"
[ "$before_up" = "$(mtimes "$run" | grep -E '^(data/|shards.h5|features.h5|twotower.h5)')" ] ||
    fail "ALS_K=8 rewrote an upstream output"
h5dump -H -d /user_factors "$run/als.h5" | grep -q 'DATASPACE  SIMPLE { ( [0-9]*, 8 )' ||
    fail "als.h5 /user_factors does not have k=8 columns"
check_outputs "$run" && [ "$got" = "als eval hybrid recommend " ] && ok "ALS_K=8 reruns only als, hybrid, eval, recommend"

# 4. CONFIG=file, overridden by the command line
printf 'ALS_K = 4\n# a comment\nALS_ITERS = 3\n' > "$TMPDIR/cfg.mk"
mk als RUN="$run" CONFIG="$TMPDIR/cfg.mk" > "$TMPDIR/run4.log" 2>&1 || fail "make als CONFIG= failed"
h5dump -H -d /user_factors "$run/als.h5" | grep -q 'SIMPLE { ( [0-9]*, 4 )' || fail "CONFIG ALS_K=4 not applied"
grep -q -- "--iters '3'" "$TMPDIR/run4.log" || fail "CONFIG ALS_ITERS=3 not applied"
mk als RUN="$run" CONFIG="$TMPDIR/cfg.mk" ALS_K=8 > "$TMPDIR/run4b.log" 2>&1 || fail "make als CONFIG= ALS_K=8 failed"
grep -q -- "--k '8'" "$TMPDIR/run4b.log" || fail "the command line does not override CONFIG"
mk als RUN="$run" CONFIG="$TMPDIR/nonexistent.mk" > "$TMPDIR/run4c.log" 2>&1 && fail "a missing CONFIG file was accepted"
grep -q 'no such file' "$TMPDIR/run4c.log" || fail "missing CONFIG: no clear message"
ok "CONFIG=file"

# 5. the lock and make -j2: a -j2 run from scratch (als and twotower side by side) holds the lock;
# a second make on the same RUN meanwhile is refused; the -j2 outputs equal the serial run's
runj=$TMPDIR/runj
mk -j2 run RUN="$runj" > "$TMPDIR/run5a.log" 2>&1 &
first=$!
held=0
for _ in $(seq 1 400); do
    # Read-only probe (/proc/locks): a probing flock could itself hold the lock at the moment
    # the first make takes it, and that make would then be the one refused.
    if [ -s "$runj/.lock" ] && grep -q ":$(stat -c %i "$runj/.lock") " /proc/locks; then
        held=1; break
    fi
    sleep 0.05
done
if [ $held = 1 ]; then
    mk run RUN="$runj" > "$TMPDIR/run5b.log" 2>&1 && fail "a concurrent make run was not refused"
    grep -q 'is in use by another make' "$TMPDIR/run5b.log" || fail "refusal message missing: $(cat "$TMPDIR/run5b.log")"
else
    fail "the first make run never took the lock"
fi
wait $first || { tail -n 20 "$TMPDIR/run5a.log"; fail "make -j2 run failed (while a second make was refused)"; }
check_outputs "$runj" || fail "make -j2 outputs"
[ -z "$(stages "$TMPDIR/run5b.log")" ] || fail "the refused make ran stages"
for d in /train/by_user/item /train/by_user/value /test/by_item/user; do
    [ "$(dataset "$run/shards.h5" $d)" = "$(dataset "$runj/shards.h5" $d)" ] || fail "-j2 run: shards.h5 $d differs"
done
for d in /user/cat /item/num; do
    [ "$(dataset "$run/features.h5" $d)" = "$(dataset "$runj/features.h5" $d)" ] || fail "-j2 run: features.h5 $d differs"
done
[ "$(dataset "$run/twotower.h5" /user_embedding)" = "$(dataset "$runj/twotower.h5" /user_embedding)" ] ||
    fail "-j2 run: twotower.h5 /user_embedding differs"
ok "make -j2 run holds the lock, refuses a concurrent run, matches the serial run"
mk clean-run RUN="$runj" > /dev/null 2>&1 || fail "clean-run failed"
[ -z "$(ls -A "$runj" | grep -v '^\.lock$')" ] || fail "clean-run left: $(ls -A "$runj")"

# 6. a failing stage leaves no output and stops the stages after it
mk run RUN="$run" ALS_K=8 ALS_ARGS=--no-such-option > "$TMPDIR/run6.log" 2>&1 && fail "a failing stage did not fail make"
grep -q 'recpipe: stage als failed (exit 64)' "$TMPDIR/run6.log" || fail "no 'stage als failed (exit 64)' message"
[ ! -e "$run/als.h5" ] || fail "als.h5 left after als failed"
[ -z "$(find "$run" -name '*.partial')" ] || fail "partial file left after a failure"
got=$(stages "$TMPDIR/run6.log")
[ "$got" = "als " ] || fail "stages started despite the failure: $got"
[ -e "$run/shards.h5" ] && [ -e "$run/features.h5" ] || fail "a failing als removed upstream outputs"
ok "failing stage leaves no output"

# 7. DATA= a KuaiRec-style folder whose name has a space: linked, no truth, untouched by clean-run
real="$TMPDIR/KuaiRec 2.0/data"
mkdir -p "$real"
cp "$run"/data/*.csv "$real/"
runr=$TMPDIR/runr
mk run RUN="$runr" DATA="$real" > "$TMPDIR/run8.log" 2>&1 || { tail -n 20 "$TMPDIR/run8.log"; fail "make run DATA= failed"; }
[ -L "$runr/data" ] || fail "DATA= did not make $runr/data a link"
grep -q '\[synth\]' "$TMPDIR/run8.log" && fail "DATA= still ran rp-synth"
grep -q -- '--truth' "$TMPDIR/run8.log" && fail "DATA= passed --truth to rp-eval"
[ "$(schema "$runr/recs.h5")" = recpipe.recs ] || fail "DATA= run: recs.h5"
mk run RUN="$runr" DATA="$real" > "$TMPDIR/run8b.log" 2>&1 || fail "second DATA= run failed"
[ -z "$(stages "$TMPDIR/run8b.log")" ] || fail "unchanged DATA= run reran: $(stages "$TMPDIR/run8b.log")"
touch "$real/item_categories.csv"
mk run RUN="$runr" DATA="$real" > "$TMPDIR/run8c.log" 2>&1 || fail "DATA= run after touch failed"
got=$(stages "$TMPDIR/run8c.log")
[ "$got" = "eval features hybrid recommend twotower " ] || fail "touching a side file reran: '$got'"
mk clean-run RUN="$runr" > /dev/null 2>&1
[ -s "$real/big_matrix.csv" ] && [ -s "$real/user_features.csv" ] || fail "clean-run touched the DATA folder"
[ ! -e "$runr/data" ] || fail "clean-run left the data link"
ok "DATA= folder with a space in its name"

# 8. the launcher: --oversubscribe only when NP exceeds the cores; srun inside Slurm
cores=$(make -C "$RP_TOP" -s --no-print-directory rp-print-NCORES)
mk -n als RUN="$TMPDIR/dry" NP=$((cores + 1)) 2>&1 | grep -q -- "--oversubscribe -n $((cores + 1))" ||
    fail "NP=$((cores + 1)) > $cores cores: no --oversubscribe"
mk -n als RUN="$TMPDIR/dry" NP=1 2>&1 | grep -q -- "--oversubscribe" && fail "NP=1: --oversubscribe added"
mk -n als RUN="$TMPDIR/dry" LAUNCH=srun NP=3 2>&1 | grep -q "srun --mpi=pmix -n 3 $RP_BIN/rp-als" ||
    fail "LAUNCH=srun: no 'srun --mpi=pmix -n 3'"
ok "launcher selection"

[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "dag: all checks passed"
