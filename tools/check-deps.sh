#!/usr/bin/env bash
# check-deps.sh MPICC HDF5_PC "PACKAGES" - make sure the toolchain and tools are there before
# `make run` or `make test` builds anything (the Makefile calls it while it parses, so nothing
# has started yet). When something is missing on a Debian machine: as root, install the missing
# Debian packages (printing the apt-get lines it runs); otherwise stop with the one command to
# run. Everything it prints goes to stderr. Exit 0 ok, 1 missing.
#
# The probes test what the build needs, not package names, so a cluster with module-loaded MPI
# and HDF5 (HDF5_CFLAGS, LAPACK_LIBS, CUNIT_LIBS set) passes without any Debian package.
# RP_DEPS_ASSUME_MISSING="package ..." (tests only) treats those Debian packages as absent.
set -u
mpicc=$1 pc=$2 pkgs=$3
exec 1>&2

missing=()
# probe NAME PACKAGE CHECK...: run the check; on failure remember "NAME (PACKAGE)".
probe() {
    local name=$1 pkg=$2
    shift 2
    if [[ " ${RP_DEPS_ASSUME_MISSING:-} " != *" $pkg "* ]] && "$@" > /dev/null 2>&1; then
        return 0
    fi
    missing+=("$name ($pkg)")
}
has() { command -v "$1"; }
probe "$mpicc" libopenmpi-dev has "$mpicc"
probe mpiexec openmpi-bin has mpiexec
if [ -z "${HDF5_CFLAGS+x}" ]; then
    probe "parallel HDF5" libhdf5-openmpi-dev pkg-config --exists "$pc"
fi
probe h5dump hdf5-tools has h5dump
[ -n "${BLAS_LIBS+x}" ] || probe OpenBLAS libopenblas-dev pkg-config --exists openblas
[ -n "${LAPACK_LIBS+x}" ] || probe LAPACKE liblapacke-dev test -e /usr/include/lapacke.h
[ -n "${CUNIT_LIBS+x}" ] || probe CUnit libcunit1-dev test -e /usr/include/CUnit/CUnit.h
[ -n "${CRYPTO_LIBS+x}" ] || probe "OpenSSL libcrypto" libssl-dev test -e /usr/include/openssl/evp.h
probe "gnuplot (report plots)" gnuplot-nox has gnuplot
[ ${#missing[@]} = 0 ] && exit 0

# What to install: on Debian, the listed packages dpkg does not have (all of them when dpkg
# cannot tell, e.g. on another distribution).
echo "recpipe: missing: ${missing[*]}"
need=()
if has dpkg-query > /dev/null; then
    for p in $pkgs; do
        if [[ " ${RP_DEPS_ASSUME_MISSING:-} " == *" $p "* ]] ||
           ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            need+=("$p")
        fi
    done
    if [ ${#need[@]} = 0 ]; then
        echo "recpipe: every Debian package is installed: check MPICC=$mpicc, HDF5_PC=$pc and PATH"
        exit 1
    fi
else
    need=($pkgs)
fi
if [ "$(id -u)" = 0 ] && has apt-get > /dev/null; then
    echo "recpipe: installing them: apt-get update && apt-get install -y ${need[*]}"
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" || {
        echo "recpipe: apt-get failed (exit $?); install the packages above and rerun"
        exit 1
    }
    echo "recpipe: dependencies installed"
    exit 0
fi
echo "recpipe: run this (as root), then the same make command again:"
echo
echo "    sudo apt-get update && sudo apt-get install -y ${need[*]}"
echo
exit 1
