#!/usr/bin/env bash
# progress.sh - progress lines people can read: rank 0 prints "what: done/total unit
# (pct%), rate unit/s, T left" lines; plain lines when stderr is a file (Slurm logs), one line
# rewritten with \r when it is a terminal (`script` gives a pseudo-terminal); the final line
# has the total time. RP_PROGRESS_SECONDS shortens the interval so tiny data shows lines.
set -u
source "$RP_TOP/tests/env.sh"
cd "$TMPDIR"
for p in synth shard; do
    [ -x "$RP_BIN/rp-$p" ] || { echo "skipped: bin/rp-$p not built yet"; exit 77; }
done
num='[0-9.]+[kMG]?'
RP_PROGRESS_SECONDS=0.001 rp_mpirun 2 "$RP_BIN/rp-synth" --out d --scale 0.05 > /dev/null 2> synth.err ||
    { cat synth.err; fail "rp-synth"; }
grep -qE "^rp-synth\[0/2\]: writing big_matrix.csv: $num/$num users \([0-9]+%\), $num users/s, $num (s|min [0-9]+ s) left$" synth.err ||
    { cat synth.err; fail "no periodic progress line for big_matrix.csv"; }
grep -qE "^rp-synth\[0/2\]: writing big_matrix.csv: ($num)/\1 users \(100%\), $num users/s in $num s$" synth.err ||
    fail "no final progress line with the total time"
grep -q '^rp-synth\[1/2\]: writing' synth.err && fail "rank 1 printed progress"
grep -q $'\r' synth.err && fail "carriage returns in a log file"

RP_PROGRESS_SECONDS=0.001 rp_mpirun 2 "$RP_BIN/rp-shard" --big d/big_matrix.csv --small d/small_matrix.csv \
    --out s.h5 --read-kb 16 > /dev/null 2> shard.err || { cat shard.err; fail "rp-shard"; }
grep -qE "^rp-shard\[0/2\]: parsing d/big_matrix.csv: $num/$num bytes \([0-9]+%\), $num bytes/s" shard.err ||
    { cat shard.err; fail "no rp-shard progress line"; }

# Without RP_PROGRESS_SECONDS, a log file gets a line at most every 5 s: none for tiny data.
rp_mpirun 1 "$RP_BIN/rp-synth" --out d1 --scale 0.02 > /dev/null 2> quiet.err || fail "rp-synth np 1"
grep -q ' users/s' quiet.err && fail "progress lines more often than every 5 s: $(grep -c users/s quiet.err)"

# A terminal: one line rewritten in place.
if command -v script > /dev/null; then
    RP_PROGRESS_SECONDS=0.001 script -qfec "'$RP_BIN/rp-synth' --out d2 --scale 0.05" /dev/null > tty.out 2>&1 ||
        { cat tty.out; fail "rp-synth under script"; }
    grep -q $'\rrp-synth: writing big_matrix.csv: ' tty.out || fail "no \\r progress line on a terminal"
    grep -q $'\e\[K' tty.out || fail "progress line not cleared to the end of line"
fi
echo "progress lines ok: $(grep -c '/s' synth.err) in synth.err"
