# mk/dag.mk - the pipeline DAG (included by the Makefile). Stage outputs are the targets.
RUN ?= runs/default
NP ?= 2
SEED ?= 42
LAUNCH ?= mpirun
.PHONY: run
run: check-deps all
	@echo "recpipe: the DAG is being assembled; stages land one by one"
