#!/usr/bin/env bash
# check-deps.sh MPICC HDF5_PC "PACKAGES" - fail early, with the command that fixes it, when the
# toolchain is missing (used by `make run` and `make test`).
mpicc=$1 pc=$2 pkgs=$3
missing=()
command -v "$mpicc" >/dev/null 2>&1 || missing+=("$mpicc (MPI compiler)")
command -v mpiexec >/dev/null 2>&1 || missing+=("mpiexec")
if [ -z "${HDF5_CFLAGS+x}" ]; then
    pkg-config --exists "$pc" 2>/dev/null || missing+=("pkg-config $pc (parallel HDF5)")
fi
[ -e /usr/include/lapacke.h ] || [ -n "${LAPACK_LIBS+x}" ] || missing+=("lapacke.h (LAPACKE)")
[ -e /usr/include/openssl/evp.h ] || [ -n "${CRYPTO_LIBS+x}" ] || missing+=("openssl/evp.h (libssl-dev)")
[ -e /usr/include/CUnit/CUnit.h ] || [ -n "${CUNIT_LIBS+x}" ] || missing+=("CUnit")
if [ ${#missing[@]} -gt 0 ]; then
    echo "recpipe: missing dependencies: ${missing[*]}" >&2
    echo "recpipe: install them with 'make deps' (as root) or: sudo apt-get install -y $pkgs" >&2
    exit 1
fi
