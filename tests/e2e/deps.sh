#!/usr/bin/env bash
# deps.sh - `make run` / `make test` on a machine missing packages, with fake
# apt-get and id commands (nothing is installed): as root the missing Debian packages are
# installed with the apt-get line printed first; otherwise make stops before building, with
# the one command to run; nothing missing: silent.
set -u
source "$RP_TOP/tests/env.sh"
unset MAKEFLAGS MAKELEVEL MFLAGS
cd "$TMPDIR"
command -v dpkg-query > /dev/null || { echo "skip: not a Debian machine (no dpkg-query)"; exit 77; }
pkgs=$(make -s -C "$RP_TOP" --no-print-directory rp-print-DEB_PACKAGES)
for p in gnuplot-nox libssl-dev; do
    [[ " $pkgs " == *" $p "* ]] || fail "DEB_PACKAGES lacks $p: $pkgs"
done
mkdir -p fake
cat > fake/apt-get <<'SH'
#!/bin/sh
echo "apt-get $*" >> "$APT_LOG"
exit "${APT_RC:-0}"
SH
printf '#!/bin/sh\n[ "$1" = -u ] && echo "$FAKE_UID" && exit 0\nexec /usr/bin/id "$@"\n' > fake/id
chmod +x fake/apt-get fake/id
check() { PATH="$TMPDIR/fake:$PATH" APT_LOG="$TMPDIR/apt.log" "$RP_TOP/tools/check-deps.sh" mpicc hdf5-openmpi "$pkgs"; }

# Everything present: no output, no apt-get.
FAKE_UID=0 check > out0.txt 2>&1 || { cat out0.txt; fail "complete machine reported missing deps"; }
[ -s out0.txt ] && fail "output although nothing is missing: $(cat out0.txt)"
[ -e apt.log ] && fail "apt-get ran although nothing is missing"

# Root, two packages missing: the apt-get line is printed, then run.
export RP_DEPS_ASSUME_MISSING="gnuplot-nox libssl-dev"
FAKE_UID=0 check > out1.txt 2>&1 || { cat out1.txt; fail "root install failed"; }
grep -q "^recpipe: installing them: apt-get update && apt-get install -y libssl-dev gnuplot-nox$" out1.txt ||
    { cat out1.txt; fail "no printed apt-get line"; }
[ "$(cat apt.log)" = "apt-get update
apt-get install -y libssl-dev gnuplot-nox" ] || fail "apt-get calls: $(cat apt.log)"

# Root, apt-get fails: exit 1 with a message.
rm -f apt.log
APT_RC=100 FAKE_UID=0 check > out2.txt 2>&1 && fail "a failed apt-get passed"
grep -q "apt-get failed" out2.txt || fail "no message on apt-get failure"

# Not root: one command to run, no apt-get; through make, nothing is built or run.
rm -f apt.log
FAKE_UID=1000 check > out3.txt 2>&1 && fail "missing deps passed as non-root"
grep -qx "    sudo apt-get update && sudo apt-get install -y libssl-dev gnuplot-nox" out3.txt ||
    { cat out3.txt; fail "no single command to run"; }
[ -e apt.log ] && fail "apt-get ran as non-root"
FAKE_UID=1000 PATH="$TMPDIR/fake:$PATH" APT_LOG="$TMPDIR/apt.log" \
    make -C "$RP_TOP" --no-print-directory run RUN="$TMPDIR/run" > out4.txt 2>&1 && fail "make run passed"
grep -q "sudo apt-get update && sudo apt-get install -y libssl-dev gnuplot-nox" out4.txt ||
    { cat out4.txt; fail "make run did not print the command"; }
grep -q "recpipe: dependencies missing" out4.txt || fail "make did not stop on the check"
[ -e "$TMPDIR/run" ] && fail "make run started although dependencies are missing"
# CHECK_DEPS=0 and make -n skip the check.
FAKE_UID=1000 PATH="$TMPDIR/fake:$PATH" make -C "$RP_TOP" --no-print-directory -n run \
    RUN="$TMPDIR/run" > out5.txt 2>&1 || { cat out5.txt; fail "make -n run ran the dependency check"; }
echo "dependency check: silent when complete, installs as root, one command otherwise"
