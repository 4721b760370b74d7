# mk/bench.mk - benchmarks (included by the Makefile). Not tests: full-size runs, minutes each.
#   make bench            every bench/bench-*.sh, then one summary table
#   make bench-<stage>    one of them (bench/bench-<stage>.sh); the summary is rewritten too
# Each script prints its own table on stdout; tools/bench-run.sh keeps every script's output in
# $(BENCH_OUT)/<name>.out (+ .log with stderr) and writes $(BENCH_OUT)/summary.md: one row per
# benchmark (status, wall time, when) followed by each benchmark's own table. Timings are noisy
# on a shared machine.
BENCH_OUT ?= runs/bench
BENCH_SCRIPTS := $(sort $(wildcard bench/bench-*.sh))
BENCH_NAMES := $(patsubst bench/bench-%.sh,%,$(BENCH_SCRIPTS))

.PHONY: bench $(addprefix bench-,$(BENCH_NAMES))
bench: all
	@tools/bench-run.sh "$(BENCH_OUT)" $(BENCH_NAMES)
$(addprefix bench-,$(BENCH_NAMES)): bench-%: all
	@tools/bench-run.sh "$(BENCH_OUT)" $*
