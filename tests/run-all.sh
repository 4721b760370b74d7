#!/usr/bin/env bash
# run-all.sh - the test command behind `make test`: CUnit unit suites, the MPI suites under
# 1..4 ranks, then tests/e2e/*.sh; prints one CUnit-style summary and exits non-zero on failure.
# e2e scripts exit 0 (pass), 77 (skip, with a reason on stderr) or anything else (fail).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/env.sh
export RP_BIN="$top/bin" RP_TOP="$top" SHARED="${SHARED:-$(cd "$top/.." && pwd)/shared}"
only=${TEST_ONLY:-all}
bin=${TEST_BIN_DIR:-bin}
# "units" = unit + MPI suites (no e2e).
[ "$only" = units ] && only_units=1 || only_units=0
nps=${TEST_NPS:-1 2 3 4}
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/rp-tests.XXXXXX")
passed=0 failed=0 skipped=0 failures=()

# The tests must leave the source tree as they found it (they write only under a temporary
# folder or runs/): in a git checkout, `git status --porcelain` (plus the content of each listed
# file) is taken before and after. From a clean checkout that means: still clean at the end.
tree_state() {
    git -C "$top" status --porcelain --untracked-files=all 2>/dev/null | while IFS= read -r l; do
        f=$top/${l:3}
        if [ -f "$f" ]; then echo "$l $(git hash-object "$f")"; else echo "$l"; fi
    done
    # Ignored files count too (a stray *.log is still litter), but not the build and run folders.
    git -C "$top" status --porcelain --ignored 2>/dev/null | grep '^!! ' | grep -vxE '!! (build|bin|runs)/'
}
in_git=0
git -C "$top" rev-parse --is-inside-work-tree > /dev/null 2>&1 && in_git=1
[ $in_git = 1 ] && tree_before=$(tree_state)

# Add a CUnit run's "tests" summary row to the totals.
count_cunit() {
    local out=$1 name=$2 status=$3 row
    row=$(awk '$1 == "tests" && NF >= 5 {print $3, $4, $5}' "$out" | tail -n 1)
    if [ -z "$row" ]; then
        failed=$((failed + 1)); failures+=("$name (no CUnit summary, exit $status)"); return
    fi
    set -- $row
    passed=$((passed + $2)); failed=$((failed + $3))
    if [ "$3" != 0 ] || [ "$status" != 0 ]; then
        [ "$3" = 0 ] && failed=$((failed + 1))
        failures+=("$name")
    fi
}

if [ "$only" = all ] || [ "$only" = unit ] || [ $only_units = 1 ]; then
    echo "== unit suites"
    out=$log_dir/unit.log
    timeout 600 "$bin/test-unit" > "$out" 2>&1; st=$?
    grep -E "^(Suite|  Test|Run Summary|.*(suites|tests|asserts) )" "$out" | grep -v "passed$" | head -n 200
    count_cunit "$out" unit $st
    [ $st != 0 ] && cat "$out" | tail -n 60
fi
if [ "$only" = all ] || [ "$only" = mpi ] || [ $only_units = 1 ]; then
    for np in $nps; do
        echo "== MPI suites, np=$np"
        out=$log_dir/mpi-$np.log
        timeout 900 $MPIEXEC -n "$np" "$bin/test-mpi" > "$out" 2>&1; st=$?
        count_cunit "$out" "mpi np=$np" $st
        if [ $st != 0 ]; then tail -n 60 "$out"; fi
    done
fi
if [ "$only" = all ] || [ "$only" = e2e ]; then
    for t in tests/e2e/*.sh; do
        [ -e "$t" ] || continue
        name=$(basename "$t" .sh)
        if [ -n "${TEST_E2E:-}" ] && [[ " $TEST_E2E " != *" $name "* ]]; then continue; fi
        out=$log_dir/e2e-$name.log
        t0=$(date +%s)
        TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/rp-e2e.XXXXXX") timeout 1200 bash "$t" > "$out" 2>&1; st=$?
        dt=$(( $(date +%s) - t0 ))
        case $st in
        0) passed=$((passed + 1)); echo "  e2e $name ... passed (${dt}s)";;
        77) skipped=$((skipped + 1)); echo "  e2e $name ... SKIPPED: $(tail -n 1 "$out")";;
        *) failed=$((failed + 1)); failures+=("e2e $name"); echo "  e2e $name ... FAILED (exit $st, ${dt}s)"; tail -n 40 "$out" | sed 's/^/    | /';;
        esac
    done
fi
# Last test of the suite: the clean source tree.
if [ $in_git = 1 ]; then
    tree_after=$(tree_state)
    if [ "$tree_before" = "$tree_after" ]; then
        passed=$((passed + 1)); echo "  clean-tree ... passed (git status unchanged)"
    else
        failed=$((failed + 1)); failures+=("clean-tree (the tests changed files in $top)")
        echo "  clean-tree ... FAILED: the tests left these in the source tree (git status --porcelain):"
        diff <(printf '%s\n' "$tree_before") <(printf '%s\n' "$tree_after") | sed -n 's/^> /    | /p'
    fi
else
    skipped=$((skipped + 1)); echo "  clean-tree ... SKIPPED: $top is not a git checkout"
fi
echo
echo "Run Summary:    Type  Total    Ran Passed Failed Inactive"
printf "               tests %6d %6d %6d %6d %8d\n" $((passed + failed + skipped)) $((passed + failed)) $passed $failed $skipped
for f in "${failures[@]+"${failures[@]}"}"; do echo "FAILED: $f"; done
echo "logs: $log_dir"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
