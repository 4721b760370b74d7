#!/usr/bin/env bash
# dag-lock.sh RUN cmd... - run cmd (the pipeline's make) holding an exclusive lock on RUN/.lock
# for its whole life, so two `make run` on one run folder cannot interleave their writes. A
# second run refuses at once, naming the holder, instead of waiting. The lock is an flock(2) on
# an open file: it is released when the holder exits, however it exits (no stale locks).
set -u
run=${1:?usage: dag-lock.sh RUN cmd...}
shift
mkdir -p "$run" || exit 74
lock=$run/.lock
exec 9>>"$lock" || { echo "recpipe: cannot open $lock" >&2; exit 74; }
if ! flock -n 9; then
    holder=$(head -n 1 "$lock" 2>/dev/null)
    echo "recpipe: RUN=$run is in use by another make (${holder:-unknown holder});" \
         "wait for it to finish or use another RUN=" >&2
    exit 1
fi
# Record the holder for the message above (the file is ours while we hold the lock).
: > "$lock"
echo "pid $$ on $(hostname) since $(date -u +%Y-%m-%dT%H:%M:%SZ)" >&9
exec "$@"
