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
# Left out of `make bench` (each has its own target): the growth benchmarks take an hour and
# ~20 GB of scratch. BENCH_SKIP= runs them too.
BENCH_SKIP ?= scale weak

.PHONY: bench $(addprefix bench-,$(BENCH_NAMES))
bench: all
	@tools/bench-run.sh "$(BENCH_OUT)" $(filter-out $(BENCH_SKIP),$(BENCH_NAMES))
$(addprefix bench-,$(BENCH_NAMES)): bench-%: all
	@tools/bench-run.sh "$(BENCH_OUT)" $*

# bench-scale (bench/bench-scale.sh) and bench-weak (bench/bench-weak.sh): run folders, logs and
# tables under SCALE_RUN / WEAK_RUN (put them outside the tree for real runs: the 10x run needs
# ~20 GB); SCALE_BIG=0.1 SCALE_BASE=0.05 makes a quick check of the script.
SCALE_RUN ?= runs/scale
SCALE_BASE ?= 1
SCALE_BIG ?= 3.16
SCALE_NP ?= 2
SCALE_KEEP ?= 0
SCALE_ALS_K ?= 32
SCALE_ALS_LAMBDA ?= 0.01
SCALE_ALS_ITERS ?= 5
SCALE_RECS_MODEL ?= als
SCALE_SEQREC ?= 1
SCALE_STAGES ?= synth shard features als twotower recommend hybrid eval
WEAK_RUN ?= runs/weak
WEAK_SCALE ?= 0.5
WEAK_NPS ?= 1 2 4
WEAK_KEEP ?= 0
export SCALE_RUN SCALE_BASE SCALE_BIG SCALE_NP SCALE_KEEP SCALE_ALS_K SCALE_ALS_LAMBDA \
  SCALE_ALS_ITERS SCALE_RECS_MODEL SCALE_SEQREC SCALE_STAGES WEAK_RUN WEAK_SCALE WEAK_NPS WEAK_KEEP
