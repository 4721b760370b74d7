# recpipe - build, tests, benchmarks and the pipeline DAG (one non-recursive Makefile).
# Build: `make`; pipeline: `make run`; tests: `make test`. See README.md for every variable.

.DELETE_ON_ERROR:
.SUFFIXES:
SHELL := /bin/bash

# toolchain (all overridable: module-loaded MPI/HDF5 users set these)
MPICC ?= mpicc
CFLAGS ?= -O2 -g
LDFLAGS ?=
HDF5_PC ?= hdf5-openmpi

# make -n / make -q: only look, never write (mk/dag.mk then compares parameter stamps instead
# of rewriting them, and nothing is checked or installed).
RP_DRY := $(if $(findstring n,$(firstword -$(MAKEFLAGS)))$(findstring q,$(firstword -$(MAKEFLAGS))),1)

# ---- dependencies: `make run` and `make test` check them first, while make parses (before the
# flags below ask pkg-config, before anything is built, even under -j). As root, the missing
# Debian packages are installed (the apt-get line is printed); otherwise make stops with the
# one command to run. CHECK_DEPS=0 skips this (module-loaded toolchains on clusters).
DEB_PACKAGES := libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools libopenblas-dev \
                liblapacke-dev libcunit1-dev libssl-dev pkg-config gcc gnuplot-nox
CHECK_DEPS ?= 1
ifneq ($(filter run test check,$(MAKECMDGOALS)),)
ifeq ($(if $(filter 1 yes,$(CHECK_DEPS)),$(if $(RP_DRY)$(RP_LOCK_HELD),,1)),1)
ifneq ($(shell tools/check-deps.sh "$(MPICC)" "$(HDF5_PC)" "$(DEB_PACKAGES)" || echo missing),)
$(error recpipe: dependencies missing (see above))
endif
endif
endif
ifeq ($(origin HDF5_CFLAGS),undefined)
HDF5_CFLAGS := $(shell pkg-config --cflags $(HDF5_PC) 2>/dev/null)
endif
ifeq ($(origin HDF5_LIBS),undefined)
HDF5_LIBS := $(shell pkg-config --libs $(HDF5_PC) 2>/dev/null || echo -lhdf5)
endif
ifeq ($(origin BLAS_CFLAGS),undefined)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
endif
ifeq ($(origin BLAS_LIBS),undefined)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
endif
LAPACK_LIBS ?= -llapacke
ifeq ($(origin CRYPTO_LIBS),undefined)
CRYPTO_LIBS := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
endif
ifeq ($(origin CUNIT_LIBS),undefined)
CUNIT_LIBS := $(shell pkg-config --libs cunit 2>/dev/null || echo -lcunit)
endif
MPIEXEC ?= mpiexec
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) -Iinclude $(HDF5_CFLAGS) $(BLAS_CFLAGS) $(CFLAGS)
LIBS = $(HDF5_LIBS) $(LAPACK_LIBS) $(BLAS_LIBS) $(CRYPTO_LIBS) -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Output folders: a sanitizer build uses its own (make sanitize).
B ?= build
BIN ?= bin

# sources: the shared library, one program per stages/<name>/, auto-discovered tests
LIB_SRCS := $(wildcard pipeline/*.c)
LIB := $(B)/librecpipe.a
STAGES := $(notdir $(patsubst %/,%,$(dir $(wildcard stages/*/main.c))))
PROGS := $(addprefix $(BIN)/rp-,$(STAGES))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
MPI_SRCS := $(wildcard tests/mpi/test_*_mpi.c)
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB := $(B)/libtestfix.a
ALL_SRCS := $(LIB_SRCS) $(wildcard stages/*/*.c) $(UNIT_SRCS) $(MPI_SRCS) $(TESTLIB_SRCS) \
            tests/unit/runner.c tests/mpi/runner.c tests/rp_test.c $(wildcard tests/fuzz/*.c) \
            $(wildcard tests/tools/*.c) $(wildcard bench/tools/*.c)
OBJS_OF = $(patsubst %.c,$(B)/%.o,$(1))
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BIN)/test-%,$(wildcard tests/tools/*.c))
BENCH_TOOLS := $(patsubst bench/tools/%.c,$(BIN)/bench-%,$(wildcard bench/tools/*.c))

.PHONY: all progs
all: $(PROGS) $(BIN)/test-unit $(BIN)/test-mpi $(TEST_TOOLS) $(BENCH_TOOLS)
# progs: the stage programs only (what `make run` builds before it takes the run lock)
progs: $(PROGS)
	@:

# Objects depend on the flags they were compiled with (a stamp rewritten only when they change,
# as redis does): `make CFLAGS=-O0` after `make` rebuilds everything.
# after CFLAGS for rp-seqrec's objects (see below); `make SEQREC_CFLAGS=` builds them as the rest.
# SEQREC_ARCH: its kernels use 8-float vectors, built for AVX2 + FMA (x86-64-v3) when the build
# host has them (1.36x the training rate measured with vs without); `make SEQREC_ARCH=` builds
# portable code, for compute nodes older than the host that builds.
ifeq ($(origin SEQREC_ARCH),undefined)
SEQREC_ARCH := $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && \
                 $(MPICC) -march=x86-64-v3 -E -x c /dev/null > /dev/null 2>&1 && echo -march=x86-64-v3)
endif
SEQREC_CFLAGS ?= -O3 -fopenmp-simd -fno-math-errno $(SEQREC_ARCH)
TWOTOWER_CFLAGS ?= $(SEQREC_CFLAGS)
FLAGS_NOW := $(MPICC) $(ALL_CFLAGS) $(LDFLAGS) $(SEQREC_CFLAGS) $(TWOTOWER_CFLAGS)
FLAGS_OLD := $(shell cat $(B)/.flags 2>/dev/null)
ifneq ($(strip $(FLAGS_NOW)),$(strip $(FLAGS_OLD)))
$(shell mkdir -p $(B) && printf '%s\n' '$(subst ','"'"',$(strip $(FLAGS_NOW)))' > $(B)/.flags)
endif
$(B)/.flags: ;

$(B)/%.o: %.c $(B)/.flags | $(B)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(MPICC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(B) $(BIN):
	$(Q)mkdir -p $@

$(LIB): $(call OBJS_OF,$(LIB_SRCS))
	$(Q)rm -f $@ && ar rcs $@ $^

# Each stage: its modules (all but main.c) form $(B)/libstage_<s>.a so tests can link them.
define STAGE_template
STAGE_$(1)_MODS := $$(filter-out stages/$(1)/main.c,$$(wildcard stages/$(1)/*.c))
$(B)/libstage_$(1).a: $$(call OBJS_OF,$$(STAGE_$(1)_MODS)) $(B)/empty.o | $(B)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
$(BIN)/rp-$(1): $(B)/stages/$(1)/main.o $(B)/libstage_$(1).a $(LIB) | $(BIN)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(MPICC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach s,$(STAGES),$(eval $(call STAGE_template,$(s))))
STAGE_LIBS := $(addprefix $(B)/libstage_,$(addsuffix .a,$(STAGES)))
# Tests and tools include a stage's header by name ("hybrid.h"), not by relative path.
STAGE_INC := $(addprefix -Istages/,$(STAGES))

# Fixture generators (planted inputs in the project's schemas) used only by tests, test tools
# and benchmarks: tests/lib/*.c form $(TESTLIB), linked into those, never into the programs.
$(TESTLIB): $(call OBJS_OF,$(TESTLIB_SRCS)) $(B)/empty.o | $(B)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/empty.o: | $(B)
	$(Q)echo 'typedef int rp_empty_unit;' | $(MPICC) -x c -c -o $@ -

# Unit and MPI test runners: one CUnit binary each, suites registered from the file names.
$(B)/tests/unit_suites.inc: $(UNIT_SRCS) Makefile | $(B)
	@mkdir -p $(dir $@)
	$(Q)printf '%s\n' $(foreach f,$(UNIT_SRCS),'RP_SUITE($(basename $(notdir $(f))))') > $@.tmp && mv $@.tmp $@
$(B)/tests/mpi_suites.inc: $(MPI_SRCS) Makefile | $(B)
	@mkdir -p $(dir $@)
	$(Q)printf '%s\n' $(foreach f,$(MPI_SRCS),'RP_SUITE($(basename $(notdir $(f))))') > $@.tmp && mv $@.tmp $@
$(B)/tests/unit/runner.o: $(B)/tests/unit_suites.inc
$(B)/tests/mpi/runner.o: $(B)/tests/mpi_suites.inc
$(B)/tests/%.o: ALL_CFLAGS += -I$(B)/tests -Itests -Itests/lib $(STAGE_INC)
$(B)/bench/%.o: ALL_CFLAGS += -Itests/lib $(STAGE_INC)
# rp-seqrec's transformer loops (LayerNorm, softmax, embedding sums) run per element of every
# position: -O3 vectorises them (-fno-math-errno: sqrtf as one instruction; nothing reads errno),
# and `omp simd` reductions (-fopenmp-simd: no OpenMP runtime)
# mark the sums whose order may change; the same code on every rank, so bits stay rank-count
# independent.
$(B)/stages/seqrec/%.o: ALL_CFLAGS += $(SEQREC_CFLAGS)
$(B)/stages/twotower/%.o: ALL_CFLAGS += $(TWOTOWER_CFLAGS)
# The concat hybrid's fused scoring kernel (16 items per step, no sums across lanes, so no
# FMA contraction under -std=c17 and the same bits with or without it): 8-float vectors where
# the host has them, 1.3x the hybrid scoring rate of -O2's 4-float ones (-O3 was slower).
$(B)/pipeline/rp_model_hybrid.o: ALL_CFLAGS += $(SEQREC_ARCH)

$(BIN)/test-unit: $(call OBJS_OF,tests/unit/runner.c tests/rp_test.c $(UNIT_SRCS)) $(TESTLIB) $(STAGE_LIBS) $(LIB) | $(BIN)
	$(Q)$(MPICC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CUNIT_LIBS)
$(BIN)/test-mpi: $(call OBJS_OF,tests/mpi/runner.c tests/rp_test.c $(MPI_SRCS)) $(TESTLIB) $(STAGE_LIBS) $(LIB) | $(BIN)
	$(Q)$(MPICC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CUNIT_LIBS)


# Programs used only by tests (tests/tools/<x>.c -> bin/test-<x>) and benchmarks
# (bench/tools/<x>.c -> bin/bench-<x>): the same rules, warnings and libraries as the stages.
TOOL_SRCS := $(wildcard tests/tools/*.c) $(wildcard bench/tools/*.c)
.SECONDARY: $(call OBJS_OF,$(TOOL_SRCS))
$(BIN)/test-%: $(B)/tests/tools/%.o $(TESTLIB) $(STAGE_LIBS) $(LIB) | $(BIN)
	$(Q)$(MPICC) $(LDFLAGS) -o $@ $^ $(LIBS)
$(BIN)/bench-%: $(B)/bench/tools/%.o $(TESTLIB) $(STAGE_LIBS) $(LIB) | $(BIN)
	$(Q)$(MPICC) $(LDFLAGS) -o $@ $^ $(LIBS)

-include $(patsubst %.c,$(B)/%.d,$(ALL_SRCS))

# Dependencies (DEB_PACKAGES: see the top).
.PHONY: deps check-deps
deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "recpipe: apt-get update && apt-get install -y $(DEB_PACKAGES)"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEB_PACKAGES); \
	else \
	  echo "run as root:  sudo apt-get install -y $(DEB_PACKAGES)"; \
	fi
check-deps:
	@tools/check-deps.sh "$(MPICC)" "$(HDF5_PC)" "$(DEB_PACKAGES)"

# tests
TEST_NPS ?= 1 2 3 4
SHARED ?= $(abspath ../shared)
.PHONY: test check test-unit test-mpi test-e2e
test check: all
	@MPIEXEC="$(MPIEXEC)" TEST_NPS="$(TEST_NPS)" SHARED="$(SHARED)" tests/run-all.sh
test-unit: bin/test-unit
	@TEST_ONLY=unit tests/run-all.sh
test-mpi: bin/test-mpi
	@MPIEXEC="$(MPIEXEC)" TEST_NPS="$(TEST_NPS)" TEST_ONLY=mpi tests/run-all.sh
# The reliability suite: bad-input corpus, full disk, one failing rank, killed ranks, resumes.
FAULT_TESTS ?= faults fault_inject resume_make als_resume twotower hybrid
.PHONY: test-faults
test-faults: all
	@MPIEXEC="$(MPIEXEC)" TEST_ONLY=e2e TEST_E2E="$(FAULT_TESTS)" tests/run-all.sh
test-e2e: all
	@MPIEXEC="$(MPIEXEC)" SHARED="$(SHARED)" TEST_ONLY=e2e tests/run-all.sh

.PHONY: clean
clean:
	rm -rf build bin

include mk/dag.mk
-include mk/bench.mk

# reliability: sanitizers and fuzzing (see tests/e2e/faults*.sh for the fault suite)
# Leak checking stays off: Open MPI keeps allocations in dlopened components until exit,
# which LeakSanitizer cannot attribute or suppress.
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
.PHONY: sanitize
sanitize: check-deps
	$(MAKE) --no-print-directory B=build/san BIN=build/san/bin CFLAGS="$(SAN_FLAGS)" SEQREC_CFLAGS= \
	    LDFLAGS="$(SAN_FLAGS)" build/san/bin/test-unit build/san/bin/test-mpi
	@ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    TEST_BIN_DIR=build/san/bin TEST_ONLY=units tests/run-all.sh

# Two targets, FUZZ_SECONDS each: the shared CSV layer, and rp-shard's row parser.
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB := pipeline/rp_csv.c pipeline/rp_fault.c pipeline/rp_file.c pipeline/rp_log.c pipeline/rp_mem.c \
    pipeline/rp_mpi.c
.PHONY: fuzz
fuzz: check-deps
	@mkdir -p build/fuzz
	OMPI_CC=$(FUZZ_CC) $(MPICC) -std=c17 -D_GNU_SOURCE $(FUZZ_FLAGS) -Iinclude $(HDF5_CFLAGS) \
	    tests/fuzz/fuzz_csv.c $(FUZZ_LIB) -o build/fuzz/fuzz_csv -lm
	OMPI_CC=$(FUZZ_CC) $(MPICC) -std=c17 -D_GNU_SOURCE $(FUZZ_FLAGS) -Iinclude -Istages/shard \
	    $(HDF5_CFLAGS) $(BLAS_CFLAGS) tests/fuzz/fuzz_shard_row.c \
	    $(filter-out stages/shard/main.c,$(wildcard stages/shard/*.c)) $(LIB_SRCS) \
	    -o build/fuzz/fuzz_shard_row $(LIBS)
	for t in csv shard_row; do \
	    rm -rf build/fuzz/corpus_$$t && cp -r tests/fuzz/corpus_$$t build/fuzz/corpus_$$t && \
	    build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 build/fuzz/corpus_$$t \
	    || exit 1; done
