#!/usr/bin/env bash
# fault_inject.sh - a rank that fails alone must not hang the job. Every stage runs at np 2 and
# 3 on tiny data with RP_FAULT making one operation of the last rank fail: the middle allocation,
# the middle HDF5 read (else an early allocation) and the last HDF5 write (else a late
# allocation), counted by a clean run of the same stage. Each case must end within seconds with
# a non-zero exit, one error line naming the failure, and neither the output nor a .partial.
# The trainers (rp-twotower, rp-seqrec, rp-hybrid) also fail the first allocation after each
# "RP_FAULT mark" their clean run logs (optimiser state, step buffers) and one inside the step
# buffers; rp-twotower also fails its first training step on that rank (tiny data: one step
# per epoch).
# The ranks must agree on the failure (RP_AGREE_LOCAL), not be ended by the RP_FAIL_WAIT
# watchdog, which would only fire after its timeout.
source "$RP_TOP/tests/env.sh"
set -u
stages="synth shard features als twotower seqrec hybrid eval recommend"
for s in $stages; do
    [ -x "$RP_BIN/rp-$s" ] || { echo "skipped: bin/rp-$s not built yet"; exit 77; }
done
LIMIT=${FAULT_LIMIT:-40} # seconds a failing case may take, start-up of the tiny run included
export RP_FAIL_WAIT=${FAULT_WATCHDOG:-25}
cases=0 fails=0

# args STAGE DIR OUT: the stage's command line on the inputs of DIR, writing OUT.
args() {
    local d=$2 o=$3
    case $1 in
    synth) echo "--out $o --scale 0.02 --seed 5" ;;
    shard) echo "--big $d/raw/big_matrix.csv --small $d/raw/small_matrix.csv --out $o" ;;
    features) echo "--data $d/raw --shards $d/shards.h5 --out $o" ;;
    als) echo "--shards $d/shards.h5 --out $o --iters 2 --k 4 --checkpoint $o.ckpt" ;;
    twotower|seqrec) echo "--shards $d/shards.h5 --features $d/features.h5 --out $o" \
                          "--epochs 1 --checkpoint $o.ckpt" ;;
    hybrid) echo "--shards $d/shards.h5 --als $d/als.h5 --twotower $d/twotower.h5" \
                 "--features $d/features.h5 --out $o --epochs 1 --checkpoint $o.ckpt" ;;
    eval) echo "--shards $d/shards.h5 --features $d/features.h5 --als $d/als.h5" \
               "--twotower $d/twotower.h5 --hybrid $d/hybrid.h5 --truth $d/raw/truth.h5" \
               "--out $o --report-dir $o.report --no-plots" ;;
    recommend) echo "--shards $d/shards.h5 --model-file $d/hybrid.h5 --out $o" ;;
    esac
}
# out STAGE: the output name a clean run writes in its run folder.
out() { case $1 in synth) echo raw ;; shard) echo shards.h5 ;; recommend) echo recs.h5 ;;
        *) echo "$1.h5" ;; esac; }

# expect_fail NP STAGE KIND N: run with RP_FAULT=KIND:N@(NP-1) and check the outcome.
expect_fail() {
    local np=$1 st=$2 kind=$3 n=$4 r=$(($1 - 1)) w=$TMPDIR/f-$1-$2-$3-$4 bad=""
    mkdir -p "$w"
    cases=$((cases + 1))
    local t0=$(date +%s)
    RP_FAULT=$kind:$n@$r timeout $((LIMIT + 20)) $MPIEXEC -n "$np" "$RP_BIN/rp-$st" \
        $(args "$st" "$run" "$w/out") > "$w/stdout" 2> "$w/stderr"
    local code=$? dt=$(($(date +%s) - t0))
    local want
    case $kind in alloc) want="out of memory" ;; h5read) want="cannot read" ;;
                  h5write) want="cannot write" ;; step) want="training step failed" ;; esac
    local named=$(grep -c "error: .*$want" "$w/stderr")
    if [ "$code" = 0 ]; then bad="exit 0"
    elif [ "$code" = 124 ]; then bad="hung (killed after $((LIMIT + 20)) s)"
    elif [ "$dt" -gt "$LIMIT" ]; then bad="took $dt s"
    elif ! grep -q "RP_FAULT: failing $kind number $n" "$w/stderr"; then bad="fault not reached"
    elif grep -q "RP_FAIL_WAIT" "$w/stderr"; then bad="ranks did not agree: ended by the watchdog"
    elif [ "$named" != 1 ]; then bad="$named error lines name '$want'"
    elif [ -f "$w/out" ] || [ -n "$(find "$w/out" -type f 2> /dev/null)" ]; then
        bad="output $w/out left"
    elif [ -n "$(find "$w" -name '*.partial')" ]; then bad="partial left: $(find "$w" -name '*.partial')"
    fi
    if [ -n "$bad" ]; then
        echo "FAIL np=$np $st $kind:$n@$r: $bad"
        grep -v "^rp-[a-z]*: [a-z]" "$w/stderr" | grep -v "^ *$" | head -n 6 | sed 's/^/    /'
        fails=$((fails + 1))
    else
        echo "ok   np=$np $st $kind:$n@$r: exit $code in $dt s: $(grep -m1 "error: .*$want" "$w/stderr" | cut -c1-120)"
    fi
}

# fail_mark NP STAGE: a trainer's clean run logged no "RP_FAULT mark step buffers".
fail_mark() {
    echo "FAIL np=$1 $2: no 'RP_FAULT mark step buffers' in the clean run's log"
    cases=$((cases + 1))
    fails=$((fails + 1))
}

# counts ERR NP: "alloc h5read h5write", the operations the last rank made in a clean run.
counts() {
    sed -n "s/.*\[$(($2 - 1))\/$2\]: debug: RP_FAULT counts: alloc=\([0-9]*\) h5read=\([0-9]*\) h5write=\([0-9]*\).*/\1 \2 \3/p" "$1" | head -n 1
}

for np in 2 3; do
    run=$TMPDIR/run$np
    mkdir -p "$run"
    for st in $stages; do
        # The clean run: makes the next stage's input and counts the last rank's operations
        # (a fault beyond every count names that rank but never fires).
        RP_LOG=2 RP_FAULT=alloc:999999999@$((np - 1)) $MPIEXEC -n "$np" "$RP_BIN/rp-$st" \
            $(args "$st" "$run" "$run/$(out "$st")") > "$run/$st.out" 2> "$run/$st.err" ||
            { echo "FAIL: clean np=$np $st run failed"; tail -n 5 "$run/$st.err"; exit 1; }
        read -r a rd wr <<< "$(counts "$run/$st.err" "$np")"
        [ -n "$a" ] && [ "$a" -gt 0 ] || { echo "FAIL: np=$np $st: no allocation counted"; exit 1; }
        expect_fail "$np" "$st" alloc $(((a + 1) / 2))
        if [ "${rd:-0}" -gt 0 ]; then expect_fail "$np" "$st" h5read $(((rd + 1) / 2))
        else expect_fail "$np" "$st" alloc 1; fi
        if [ "${wr:-0}" -gt 0 ]; then expect_fail "$np" "$st" h5write "$wr"
        else expect_fail "$np" "$st" alloc $(((3 * a + 3) / 4)); fi
        # marks: "<alloc count> <where>" of the last rank
        sed -n "s/.*\[$((np - 1))\/$np\]: debug: RP_FAULT mark \(.*\): alloc=\([0-9]*\) .*/\2 \1/p" \
            "$run/$st.err" > "$run/$st.marks"
        case $st in twotower|seqrec|hybrid)
            grep -q " step buffers$" "$run/$st.marks" || { fail_mark "$np" "$st"; continue; } ;;
        esac
        # rp-twotower's steps carry a rank's failure in the dense allreduce (no agreement of
        # their own): the others must leave after that step, not hang in the next one
        [ "$st" = twotower ] && expect_fail "$np" "$st" step 1
        mapfile -t marks < "$run/$st.marks" # (not a read loop: mpirun would eat its stdin)
        for m in "${marks[@]}"; do
            expect_fail "$np" "$st" alloc $((${m%% *} + 1))
            [ "${m#* }" = "step buffers" ] && expect_fail "$np" "$st" alloc $((${m%% *} + 6))
        done
    done
done
echo "fault injection cases: $cases, failures: $fails"
[ $fails = 0 ]
