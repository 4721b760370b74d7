# tests/env.sh - environment for running MPI programs in tests and benchmarks (sourced).
# Open MPI refuses root without these; tests oversubscribe 4 ranks on small machines; BLAS
# threads would fight the ranks for cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export HDF5_USE_FILE_LOCKING=FALSE
: "${MPIEXEC:=mpiexec}"
# rp_mpirun NP cmd... : run cmd under NP ranks.
rp_mpirun() { local np=$1; shift; $MPIEXEC -n "$np" "$@"; }
# fail MSG...: an e2e check failed: print "FAIL: MSG" and exit 1, or, in a script that checks on
# (FAIL_GO_ON=1), count it in $fails and let the script end with [ $fails = 0 ].
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); [ "${FAIL_GO_ON:-0}" = 1 ] || exit 1; }
# rp_expect_exit CODE OUT NP PROG ARGS...: run PROG on NP ranks (stderr in err.txt); fail unless
# it exits CODE and, when CODE is not 0, printed an error and left neither OUT nor OUT.partial.
rp_expect_exit() {
    local want=$1 out=$2 np=$3
    shift 3
    rm -f "$out"
    rp_mpirun "$np" "$@" > /dev/null 2> err.txt
    local st=$?
    [ "$st" = "$want" ] || fail "exit $st, want $want for: $* ($(head -n 2 err.txt))"
    [ "$want" = 0 ] || [ ! -e "$out" ] || fail "output $out left after failure"
    [ ! -e "$out.partial" ] || fail "partial $out.partial left"
    [ "$want" = 0 ] || [ -s err.txt ] || fail "no error message for: $*"
}
