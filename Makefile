# recpipe - build, tests, benchmarks and the pipeline DAG (one non-recursive Makefile).
# Build: `make`; pipeline: `make run`; tests: `make test`. See README.md for every variable.

.DELETE_ON_ERROR:
.SUFFIXES:
SHELL := /bin/bash

# ---- toolchain (all overridable: module-loaded MPI/HDF5 users set these) ----
MPICC ?= mpicc
CFLAGS ?= -O2 -g
LDFLAGS ?=
HDF5_PC ?= hdf5-openmpi
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
ifeq ($(origin CUNIT_LIBS),undefined)
CUNIT_LIBS := $(shell pkg-config --libs cunit 2>/dev/null || echo -lcunit)
endif
MPIEXEC ?= mpiexec
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) -Iinclude $(HDF5_CFLAGS) $(BLAS_CFLAGS) $(CFLAGS)
LIBS = $(HDF5_LIBS) $(LAPACK_LIBS) $(BLAS_LIBS) -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

# ---- sources: the shared library, one program per stages/<name>/, auto-discovered tests ----
LIB_SRCS := $(wildcard pipeline/*.c)
LIB := build/librecpipe.a
STAGES := $(notdir $(patsubst %/,%,$(dir $(wildcard stages/*/main.c))))
PROGS := $(addprefix bin/rp-,$(STAGES))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
MPI_SRCS := $(wildcard tests/mpi/test_*_mpi.c)
ALL_SRCS := $(LIB_SRCS) $(wildcard stages/*/*.c) $(UNIT_SRCS) $(MPI_SRCS) \
            tests/unit/runner.c tests/mpi/runner.c tests/rp_test.c $(wildcard tests/fuzz/*.c)
OBJS_OF = $(patsubst %.c,build/%.o,$(1))

.PHONY: all
all: $(PROGS) bin/test-unit bin/test-mpi

build/%.o: %.c | build
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(MPICC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

build bin:
	$(Q)mkdir -p $@

$(LIB): $(call OBJS_OF,$(LIB_SRCS))
	$(Q)rm -f $@ && ar rcs $@ $^

# Each stage: its modules (all but main.c) form build/libstage_<s>.a so tests can link them.
define STAGE_template
STAGE_$(1)_MODS := $$(filter-out stages/$(1)/main.c,$$(wildcard stages/$(1)/*.c))
build/libstage_$(1).a: $$(call OBJS_OF,$$(STAGE_$(1)_MODS)) build/empty.o | build
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
bin/rp-$(1): build/stages/$(1)/main.o build/libstage_$(1).a $(LIB) | bin
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(MPICC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach s,$(STAGES),$(eval $(call STAGE_template,$(s))))
STAGE_LIBS := $(addprefix build/libstage_,$(addsuffix .a,$(STAGES)))

build/empty.o: | build
	$(Q)echo 'typedef int rp_empty_unit;' | $(MPICC) -x c -c -o $@ -

# Unit and MPI test runners: one CUnit binary each, suites registered from the file names.
build/tests/unit_suites.inc: $(UNIT_SRCS) Makefile | build
	@mkdir -p $(dir $@)
	$(Q)printf '%s\n' $(foreach f,$(UNIT_SRCS),'RP_SUITE($(basename $(notdir $(f))))') > $@.tmp && mv $@.tmp $@
build/tests/mpi_suites.inc: $(MPI_SRCS) Makefile | build
	@mkdir -p $(dir $@)
	$(Q)printf '%s\n' $(foreach f,$(MPI_SRCS),'RP_SUITE($(basename $(notdir $(f))))') > $@.tmp && mv $@.tmp $@
build/tests/unit/runner.o: build/tests/unit_suites.inc
build/tests/mpi/runner.o: build/tests/mpi_suites.inc
build/tests/%.o: ALL_CFLAGS += -Ibuild/tests -Itests

bin/test-unit: $(call OBJS_OF,tests/unit/runner.c tests/rp_test.c $(UNIT_SRCS)) $(STAGE_LIBS) $(LIB) | bin
	$(Q)$(MPICC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CUNIT_LIBS)
bin/test-mpi: $(call OBJS_OF,tests/mpi/runner.c tests/rp_test.c $(MPI_SRCS)) $(STAGE_LIBS) $(LIB) | bin
	$(Q)$(MPICC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CUNIT_LIBS)


-include $(patsubst %.c,build/%.d,$(ALL_SRCS))

# ---- dependencies ----
DEB_PACKAGES := libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools libopenblas-dev \
                liblapacke-dev libcunit1-dev pkg-config
.PHONY: deps check-deps
deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEB_PACKAGES); \
	else \
	  echo "run as root:  sudo apt-get install -y $(DEB_PACKAGES)"; \
	fi
check-deps:
	@tools/check-deps.sh "$(MPICC)" "$(HDF5_PC)" "$(DEB_PACKAGES)"

# ---- tests ----
TEST_NPS ?= 1 2 3 4
SHARED ?= $(abspath ../shared)
.PHONY: test check test-unit test-mpi test-e2e
test check: check-deps all
	@MPIEXEC="$(MPIEXEC)" TEST_NPS="$(TEST_NPS)" SHARED="$(SHARED)" tests/run-all.sh
test-unit: bin/test-unit
	@TEST_ONLY=unit tests/run-all.sh
test-mpi: bin/test-mpi
	@MPIEXEC="$(MPIEXEC)" TEST_NPS="$(TEST_NPS)" TEST_ONLY=mpi tests/run-all.sh
test-e2e: all
	@MPIEXEC="$(MPIEXEC)" SHARED="$(SHARED)" TEST_ONLY=e2e tests/run-all.sh

.PHONY: clean
clean:
	rm -rf build bin

include mk/dag.mk
