# bench/eval_gen.sh - sourced by tests/e2e/eval.sh and bench/bench-eval.sh: the generator of
# synthetic rp-eval inputs is tests/tools/eval_gen.c, built by `make` as bin/test-eval_gen.
# eval_gen_build OUT_BINARY: link OUT_BINARY to it (fails when it is not built).
eval_gen_build() {
    local bin=${RP_BIN:-${RP_TOP:-.}/bin}
    [ -x "$bin/test-eval_gen" ] || { echo "$bin/test-eval_gen: not built (make all)" >&2; return 1; }
    ln -sf "$bin/test-eval_gen" "$1"
}
