# mk/dag.mk - the pipeline DAG (included at the end of the Makefile). Stage outputs are the
# targets; every variable below is documented in README.md ("Make variables").
#
#   data (rp-synth, or a link to DATA) -> shards.h5 -> features.h5 -> als.h5 + twotower.h5
#     -> hybrid.h5 -> eval.h5 + report/ ; recs.h5 (+ recs.csv)
#   features.h5 + als.h5 (SEQ_INIT=als) -> seqrec.h5 (make seqrec; an input of eval.h5 only with
#     SEQREC=1)
#
# A stage reruns when an input, its program (bin/rp-*) or its parameters change. Parameters are
# kept in $(RUN)/.params/<stage>, rewritten only when the option string changes, so make's own
# time stamps do the rest. Each recipe deletes the old output first and removes everything it
# wrote when the program fails: a failed stage leaves no output. The whole make holds a lock on
# $(RUN)/.lock (tools/dag-lock.sh) so two runs cannot write the same folder.

# ---- configuration: CONFIG=file (make syntax, "VAR = value" lines) overrides the defaults
# below; the command line overrides both.
ifneq ($(strip $(CONFIG)),)
ifeq ($(wildcard $(CONFIG)),)
$(error CONFIG=$(CONFIG): no such file)
endif
include $(CONFIG)
endif

# Run folder, input data, programs, ranks and launcher.
RUN ?= runs/default
DATA ?=
BIN ?= bin
NP ?= 2
LAUNCH ?= mpirun
LAUNCH_FLAGS ?=
LOCK ?= 1
# parallel compile jobs of the build `make run` (and every stage goal) does first
BUILD_JOBS ?= $(NCORES)
# Resume an interrupted or killed training stage from its checkpoint (only a checkpoint newer
# than every input and parameter of the stage is used); RESUME=0 always starts afresh.
RESUME ?= 1
SEED ?= 42
# rp-synth (ignored when DATA is set). Empty = the program's default (full KuaiRec size).
SCALE ?=
SYNTH_USERS ?=
SYNTH_ITEMS ?=
SYNTH_SMALL_USERS ?=
SYNTH_SMALL_ITEMS ?=
SIDE ?=
SYNTH_ARGS ?=
# 1: plant the sequential effects (fatigue, drift) that rp-seqrec exists for
SYNTH_SEQ ?= 1
# rp-shard
VALID_FRAC ?= 0.1
# clip (not the seed's drop): training keeps the most-watched pairs, capped like the test target
OUTLIER ?= clip
OUTLIER_MAX ?= 3
DEDUP ?= 1
REPEAT ?= mean
MAX_BAD_ROWS ?= 0
SHARD_ARGS ?=
# rp-features
TAG_LEN ?= 4
MIN_AUTHOR_COUNT ?= 5
SMOOTHING ?= 20
POPULARITY ?= 0
FEATURES_ARGS ?=
# rp-als
ALS_K ?=
ALS_LAMBDA ?=
ALS_LAMBDA_BIAS ?=
ALS_PENALTY ?=
ALS_GRID_K ?=
ALS_GRID_LAMBDA ?=
ALS_ITERS ?=
ALS_PRECISION ?=
ALS_CHECKPOINT_EVERY ?=
ALS_EARLY_STOP ?=
ALS_EXCHANGE ?=
ALS_VALID_WEIGHT ?=
# the target the factors fit: log (default: log watch ratio of views in [ALS_LOG_MIN, cap)) or
# clipped (the normalised value); docs/stages/als.md, "The log target"
ALS_TARGET ?=
ALS_LOG_MIN ?=
ALS_ARGS ?=
# rp-twotower
TT_EPOCHS ?=
TT_BATCH ?=
TT_LR ?=
TT_DIM ?=
TT_HIDDEN ?=
TT_OUTPUT ?=
TT_LOSS ?=
TT_WEIGHT_DECAY ?=
TT_ROW_L2 ?=
TT_EARLY_STOP ?=
# log (default) or clipped, as ALS_TARGET; docs/stages/twotower.md, "The log target"
TT_TARGET ?=
TT_LOG_MIN ?=
TT_ARGS ?=
# rp-seqrec (make seqrec; SEQREC=1 also adds it to make run's evaluation)
SEQREC ?= 0
SEQ_EPOCHS ?=
SEQ_WINDOWS ?=
SEQ_BATCH ?=
SEQ_LR ?=
SEQ_DIM ?=
SEQ_HEADS ?=
SEQ_BLOCKS ?=
SEQ_FFN ?=
SEQ_WINDOW ?=
SEQ_DROPOUT ?=
SEQ_EARLY_STOP ?=
# als (default): start the static part (user vectors, video embeddings, biases) at rp-als's
# fit (--init als.h5; seqrec then runs after als); none: learn everything from scratch
SEQ_INIT ?= als
SEQ_ARGS ?=
# rp-hybrid, rp-eval, rp-recommend
HYBRID_DEFAULT ?=
HYBRID_ARGS ?=
EVAL_HYBRID_VARIANTS ?= blend concat
EVAL_ARGS ?=
RECS_MODEL ?= hybrid
RECS_K ?= 50
RECS_CSV ?= 1
RECS_ARGS ?=

# ---- the launcher -------------------------------------------------------------------------
# Physical cores available to us: Open MPI gives one slot per core, so --oversubscribe is added
# only when NP exceeds them. (nproc obeys OMP_NUM_THREADS, which tests set to 1.)
ifeq ($(origin NCORES),undefined)
NCORES := $(shell c=$$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 1); \
                  p=$$(lscpu -p=core,socket 2>/dev/null | grep -v '^\#' | sort -u | wc -l); \
                  [ "$${p:-0}" -gt 0 ] && [ "$$p" -lt "$$c" ] && c=$$p; echo $$c)
endif
rp_over = $(shell [ "$(NP)" -gt "$(NCORES)" ] 2>/dev/null && \
                  $(LAUNCH) --version 2>&1 | grep -q 'Open MPI' && echo --oversubscribe)
ifeq ($(LAUNCH),srun)
LAUNCHER = srun --mpi=pmix -n $(NP) $(LAUNCH_FLAGS)
else ifeq ($(LAUNCH),none)
LAUNCHER =
else
LAUNCHER = $(LAUNCH) $(rp_over) -n $(NP) $(LAUNCH_FLAGS)
endif
# BLAS threads would fight the ranks for the cores; containers often forbid the single-copy
# (CMA) path; HDF5 file locks fail on many parallel file systems. Open MPI refuses root
# without its two confirmations.
export OPENBLAS_NUM_THREADS := 1
export OMPI_MCA_btl_vader_single_copy_mechanism ?= none
export HDF5_USE_FILE_LOCKING ?= FALSE
ifeq ($(shell id -u),0)
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
endif

# ---- option strings (the parameter stamps hold exactly these) --------------------------------
rp_sq = '$(subst ','\'',$(1))'
# $(call rp_opt,--flag,value): "--flag 'value'", or nothing when value is empty.
rp_opt = $(if $(strip $(2)),$(1) $(call rp_sq,$(strip $(2))))
# $(call rp_bool,value,--on,--off): 1/yes -> --on, 0/no -> --off, empty -> nothing.
rp_bool = $(if $(filter 1 yes on true,$(1)),$(2),$(if $(filter 0 no off false,$(1)),$(3)))

PARAMS_synth = $(call rp_opt,--scale,$(SCALE)) $(call rp_opt,--users,$(SYNTH_USERS)) \
  $(call rp_opt,--items,$(SYNTH_ITEMS)) $(call rp_opt,--small-users,$(SYNTH_SMALL_USERS)) \
  $(call rp_opt,--small-items,$(SYNTH_SMALL_ITEMS)) $(call rp_opt,--seed,$(SEED)) \
  $(call rp_opt,--side,$(SIDE)) $(call rp_opt,--clip-max,$(OUTLIER_MAX)) \
  $(if $(filter 1 yes on true,$(SYNTH_SEQ)),--fatigue --drift,--no-fatigue --no-drift) $(SYNTH_ARGS)
PARAMS_data = $(DATA)
PARAMS_shard = $(call rp_opt,--valid-frac,$(VALID_FRAC)) $(call rp_opt,--outlier,$(OUTLIER)) \
  $(call rp_opt,--outlier-max,$(OUTLIER_MAX)) $(call rp_bool,$(DEDUP),--dedup,--no-dedup) \
  $(call rp_opt,--repeat,$(REPEAT)) $(call rp_opt,--max-bad-rows,$(MAX_BAD_ROWS)) $(SHARD_ARGS)
PARAMS_features = $(call rp_opt,--tag-len,$(TAG_LEN)) \
  $(call rp_opt,--min-author-count,$(MIN_AUTHOR_COUNT)) $(call rp_opt,--smoothing,$(SMOOTHING)) \
  $(call rp_bool,$(POPULARITY),--popularity,--no-popularity) $(FEATURES_ARGS)
PARAMS_als = $(call rp_opt,--k,$(ALS_K)) $(call rp_opt,--lambda,$(ALS_LAMBDA)) \
  $(call rp_opt,--penalty,$(ALS_PENALTY)) \
  $(call rp_opt,--lambda-bias,$(ALS_LAMBDA_BIAS)) $(call rp_opt,--grid-k,$(ALS_GRID_K)) \
  $(call rp_opt,--grid-lambda,$(ALS_GRID_LAMBDA)) \
  $(call rp_opt,--iters,$(ALS_ITERS)) $(call rp_opt,--precision,$(ALS_PRECISION)) \
  $(call rp_opt,--seed,$(SEED)) $(call rp_opt,--checkpoint-every,$(ALS_CHECKPOINT_EVERY)) \
  $(call rp_opt,--early-stop,$(ALS_EARLY_STOP)) $(call rp_opt,--exchange,$(ALS_EXCHANGE)) \
  $(call rp_opt,--valid-weight,$(ALS_VALID_WEIGHT)) $(call rp_opt,--target,$(ALS_TARGET)) \
  $(call rp_opt,--log-min,$(ALS_LOG_MIN)) $(ALS_ARGS)
PARAMS_twotower = $(call rp_opt,--epochs,$(TT_EPOCHS)) $(call rp_opt,--batch,$(TT_BATCH)) \
  $(call rp_opt,--lr,$(TT_LR)) $(call rp_opt,--dim,$(TT_DIM)) $(call rp_opt,--hidden,$(TT_HIDDEN)) \
  $(call rp_opt,--output,$(TT_OUTPUT)) $(call rp_opt,--loss,$(TT_LOSS)) \
  $(call rp_opt,--weight-decay,$(TT_WEIGHT_DECAY)) $(call rp_opt,--row-l2,$(TT_ROW_L2)) \
  $(call rp_opt,--seed,$(SEED)) \
  $(call rp_opt,--early-stop,$(TT_EARLY_STOP)) $(call rp_opt,--target,$(TT_TARGET)) \
  $(call rp_opt,--log-min,$(TT_LOG_MIN)) $(TT_ARGS)
PARAMS_seqrec = $(if $(SEQREC_INIT),--init $(SEQREC_INIT)) $(call rp_opt,--epochs,$(SEQ_EPOCHS)) \
  $(call rp_opt,--windows-per-user,$(SEQ_WINDOWS)) $(call rp_opt,--batch,$(SEQ_BATCH)) \
  $(call rp_opt,--lr,$(SEQ_LR)) $(call rp_opt,--dim,$(SEQ_DIM)) $(call rp_opt,--heads,$(SEQ_HEADS)) \
  $(call rp_opt,--blocks,$(SEQ_BLOCKS)) $(call rp_opt,--ffn,$(SEQ_FFN)) \
  $(call rp_opt,--window,$(SEQ_WINDOW)) $(call rp_opt,--dropout,$(SEQ_DROPOUT)) \
  $(call rp_opt,--seed,$(SEED)) $(call rp_opt,--early-stop,$(SEQ_EARLY_STOP)) $(SEQ_ARGS)
PARAMS_hybrid = $(call rp_opt,--default,$(HYBRID_DEFAULT)) $(call rp_opt,--seed,$(SEED)) $(HYBRID_ARGS)
# rp-eval reports each hybrid variant as a row (hybrid.h5#blend,...); none listed: the default.
rp_comma := ,
rp_empty :=
rp_space := $(rp_empty) $(rp_empty)
rp_hash := \#
EVAL_HYBRID_SPEC = $(if $(strip $(EVAL_HYBRID_VARIANTS)),$(subst $(rp_space),$(rp_comma),$(strip \
  $(foreach v,$(EVAL_HYBRID_VARIANTS),$(HYBRID)$(rp_hash)$(v)))),$(HYBRID))
PARAMS_eval = --hybrid $(EVAL_HYBRID_SPEC) $(if $(filter 1 yes,$(SEQREC)),--seqrec $(SEQREC_OUT)) \
  $(EVAL_ARGS)
PARAMS_recommend = $(call rp_opt,--model,$(RECS_MODEL)) $(call rp_opt,--k,$(RECS_K)) \
  $(if $(filter 1 yes on true,$(RECS_CSV)),--csv $(RUN)/recs.csv) $(RECS_ARGS)

# ---- files -------------------------------------------------------------------------------
D := $(RUN)/data
P := $(RUN)/.params
CKPT := $(RUN)/ckpt
SHARDS := $(RUN)/shards.h5
FEATURES := $(RUN)/features.h5
ALS := $(RUN)/als.h5
TWOTOWER := $(RUN)/twotower.h5
HYBRID := $(RUN)/hybrid.h5
SEQREC_OUT := $(RUN)/seqrec.h5
SEQREC_INIT := $(if $(filter als,$(SEQ_INIT)),$(ALS))
EVAL_SEQREC := $(if $(filter 1 yes,$(SEQREC)),$(SEQREC_OUT))
EVAL := $(RUN)/eval.h5
REPORT := $(RUN)/report
RECS := $(RUN)/recs.h5
# What rp-features reads (the first two are required, the others optional).
RAW_SIDE := user_features.csv item_categories.csv item_daily_features.csv \
            kuairec_caption_category.csv
# The model file rp-recommend scores (the bias model is fitted from shards.h5: no file).
RECS_FILE = $(if $(filter bias,$(RECS_MODEL)),,$(RUN)/$(RECS_MODEL).h5)

ifeq ($(strip $(DATA)),)
# Generated data: the folder is written whole (data.partial, then renamed); truth.h5 stands for
# the whole folder.
SHARD_IN := $(D)/truth.h5
FEATURES_IN := $(D)/truth.h5
EVAL_IN := $(D)/truth.h5
TRUTH_OPT = --truth $(D)/truth.h5
else
# Real data: $(RUN)/data is a symbolic link to DATA (the KuaiRec folder name has a space, which
# make prerequisites cannot hold); the CSVs' own time stamps are the inputs.
# The side files are optional to rp-features: only those DATA holds are inputs.
SHARD_IN := $(D)/big_matrix.csv $(D)/small_matrix.csv
FEATURES_IN := $(shell for f in $(RAW_SIDE); do [ -e "$(DATA)/$$f" ] && echo $(D)/$$f; done)
EVAL_IN :=
TRUTH_OPT =
endif

# $(call rp_stage,name,command,extra outputs): run one stage program under the launcher.
# Deletes the old outputs first, records "name exit-code" in $RP_STATUS_FILE when set (the
# Slurm scripts use it to tell an interruption, exit 75, from a failure) and removes every
# output on failure.
define rp_stage
@mkdir -p $(RUN); rm -rf $@ $@.partial $(3); \
echo "recpipe: [$(1)] $(strip $(LAUNCHER) $(2))" >&2; \
$(LAUNCHER) $(2); rc=$$?; \
if [ -n "$$RP_STATUS_FILE" ]; then echo "$(1) $$rc" >> "$$RP_STATUS_FILE"; fi; \
if [ $$rc != 0 ]; then rm -rf $@ $@.partial $(3); \
  hint=; [ $$rc = 75 ] && hint='; interrupted after a checkpoint: make continues from it next time'; \
  echo "recpipe: stage $(1) failed (exit $$rc)$$hint" >&2; \
  exit $$rc; fi
endef
# $(call rp_resume,checkpoint): --resume when RESUME is set and the checkpoint is newer than
# every prerequisite (a checkpoint of other inputs or parameters is never resumed).
rp_resume = $$(ok=$(if $(filter 1 yes,$(RESUME)),1,0); \
              for p in $^; do [ $(1) -nt $$p ] || ok=0; done; [ $$ok = 1 ] && echo --resume)

FORCE:
.PHONY: FORCE

# ---- parameter stamps, compared while make parses -----------------------------------------
# A stamp that were a target with a recipe would look rewritten to `make -n`, which would then
# list every later stage. So the stamps of the stages the goals lead to are compared with the
# option strings now, before any rule runs: a real make rewrites the ones that changed (unique
# temporary name: Slurm stage jobs may do this at once); under -n/-q nothing is written and a
# stage whose stamp differs is made out of date (FORCE). `make -n <goal>` therefore lists, and
# `make -q <goal>` tests, exactly the stages a real run would execute.
RP_SRC := $(if $(strip $(DATA)),data,synth)
UP_synth = $(RP_SRC)
UP_shard = $(RP_SRC) shard
UP_features = $(UP_shard) features
UP_als = $(UP_shard) als
UP_twotower = $(UP_features) twotower
UP_hybrid = $(UP_als) $(UP_twotower) hybrid
UP_seqrec = $(UP_features) $(if $(filter als,$(SEQ_INIT)),als) seqrec
UP_eval = $(UP_hybrid) $(if $(filter 1 yes,$(SEQREC)),$(UP_seqrec)) eval
UP_recommend = $(UP_shard) $(if $(RECS_FILE),$(UP_$(RECS_MODEL))) recommend
UP_run = $(UP_eval) $(UP_recommend)
OUT_synth = $(D)/truth.h5
OUT_data = $(RUN)/.data-link
OUT_shard = $(SHARDS)
OUT_features = $(FEATURES)
OUT_als = $(ALS)
OUT_twotower = $(TWOTOWER)
OUT_hybrid = $(HYBRID)
OUT_seqrec = $(SEQREC_OUT)
OUT_eval = $(EVAL)
OUT_recommend = $(RECS)
# The make that runs the stages: the one under the run-folder lock (or LOCK=0), or a dry run.
RP_RUNS_STAGES := $(if $(RP_DRY)$(RP_LOCK_HELD)$(filter-out 1 yes,$(LOCK)),1)
RP_STAMPED := $(if $(RP_RUNS_STAGES),$(sort $(foreach g,$(MAKECMDGOALS),$(UP_$(g)))))
rp_params_line = printf '%s\n' $(call rp_sq,$(strip $(PARAMS_$(1))))
rp_write_stamp = t=$$(mktemp $(P)/.$(1).XXXXXX) && $(call rp_params_line,$(1)) > $$t && \
  { cmp -s $$t $(P)/$(1) && rm -f $$t || mv -f $$t $(P)/$(1); };
ifneq ($(RP_STAMPED),)
ifeq ($(RP_DRY),1)
RP_STALE := $(foreach s,$(RP_STAMPED),$(shell $(call rp_params_line,$(s)) | cmp -s - $(P)/$(s) || echo $(s)))
$(foreach s,$(RP_STALE),$(eval $(OUT_$(s)): FORCE))
else
RP_STAMP_ERR := $(shell mkdir -p $(P) && { $(foreach s,$(RP_STAMPED),$(call rp_write_stamp,$(s))) } 2>&1)
ifneq ($(strip $(RP_STAMP_ERR)),)
$(error recpipe: cannot write the parameter stamps in $(P): $(RP_STAMP_ERR))
endif
endif
endif
ifeq ($(RP_DRY),1)
$(P)/%: ;
else
# A stamp no goal above covered (an output file named directly as the goal): written if missing.
$(P)/%:
	@mkdir -p $(@D); $(call rp_write_stamp,$*)
endif

ifeq ($(strip $(DATA)),)
$(D)/truth.h5: $(BIN)/rp-synth $(P)/synth
	$(call rp_stage,synth,$(BIN)/rp-synth --out $(D).partial $(PARAMS_synth),$(D) $(D).partial)
	@mv $(D).partial $(D)
else
# Relink when DATA changes; the link stamp is what the CSVs hang on.
$(RUN)/.data-link: $(P)/data
	@mkdir -p $(RUN); abs=$$(cd "$(DATA)" 2>/dev/null && pwd) || \
	  { echo "recpipe: DATA=$(DATA): no such folder" >&2; exit 66; }; \
	if [ -L $(D) ] || [ ! -e $(D) ]; then rm -f $(D); else rm -rf $(D); fi; \
	ln -s "$$abs" $(D) && touch $@
$(D)/%.csv: | $(RUN)/.data-link
	@test -e $@ || { echo "recpipe: $(DATA)/$*.csv: missing (see make verify-data)" >&2; exit 66; }
endif

$(SHARDS): $(SHARD_IN) $(BIN)/rp-shard $(P)/shard
	$(call rp_stage,shard,$(BIN)/rp-shard --big $(D)/big_matrix.csv --small $(D)/small_matrix.csv \
	  --out $@ $(PARAMS_shard))

$(FEATURES): $(SHARDS) $(FEATURES_IN) $(BIN)/rp-features $(P)/features
	$(call rp_stage,features,$(BIN)/rp-features --data $(D) --shards $(SHARDS) --out $@ $(PARAMS_features))

$(ALS): $(SHARDS) $(BIN)/rp-als $(P)/als
	@mkdir -p $(CKPT)
	$(call rp_stage,als,$(BIN)/rp-als --shards $(SHARDS) --out $@ --checkpoint $(CKPT)/als.h5 \
	  $(call rp_resume,$(CKPT)/als.h5) $(PARAMS_als))

$(TWOTOWER): $(SHARDS) $(FEATURES) $(BIN)/rp-twotower $(P)/twotower
	@mkdir -p $(CKPT)
	$(call rp_stage,twotower,$(BIN)/rp-twotower --shards $(SHARDS) --features $(FEATURES) --out $@ \
	  --checkpoint $(CKPT)/twotower.h5 $(call rp_resume,$(CKPT)/twotower.h5) $(PARAMS_twotower))

$(SEQREC_OUT): $(SHARDS) $(FEATURES) $(SEQREC_INIT) $(BIN)/rp-seqrec $(P)/seqrec
	@mkdir -p $(CKPT)
	$(call rp_stage,seqrec,$(BIN)/rp-seqrec --shards $(SHARDS) --features $(FEATURES) --out $@ \
	  --checkpoint $(CKPT)/seqrec.h5 $(call rp_resume,$(CKPT)/seqrec.h5) $(PARAMS_seqrec))

$(HYBRID): $(SHARDS) $(FEATURES) $(ALS) $(TWOTOWER) $(BIN)/rp-hybrid $(P)/hybrid
	@mkdir -p $(CKPT)
	$(call rp_stage,hybrid,$(BIN)/rp-hybrid --shards $(SHARDS) --als $(ALS) --twotower $(TWOTOWER) \
	  --features $(FEATURES) --out $@ --checkpoint $(CKPT)/hybrid.h5 \
	  $(call rp_resume,$(CKPT)/hybrid.h5) $(PARAMS_hybrid))

$(EVAL): $(SHARDS) $(FEATURES) $(ALS) $(TWOTOWER) $(HYBRID) $(EVAL_SEQREC) $(EVAL_IN) $(BIN)/rp-eval \
  $(P)/eval
	$(call rp_stage,eval,$(BIN)/rp-eval --shards $(SHARDS) --features $(FEATURES) --als $(ALS) \
	  --twotower $(TWOTOWER) $(TRUTH_OPT) --out $@ --report-dir $(REPORT) \
	  $(PARAMS_eval),$(REPORT))

$(RECS): $(SHARDS) $(RECS_FILE) $(BIN)/rp-recommend $(P)/recommend
	$(call rp_stage,recommend,$(BIN)/rp-recommend --shards $(SHARDS) \
	  $(call rp_opt,--model-file,$(RECS_FILE)) --out $@ $(PARAMS_recommend),$(RUN)/recs.csv)

# A program that is neither built by the Makefile nor present: say which stage is missing.
$(BIN)/rp-%:
	@echo "recpipe: $@ does not exist: stage '$*' is not built (no stages/$*/main.c?)" >&2; exit 66

# ---- named goals, under the lock ---------------------------------------------------------
DAG_GOALS := run synth shard features als twotower seqrec hybrid eval recommend clean-run
.PHONY: $(DAG_GOALS) rp-locked
LOCKED_GOALS := $(if $(filter 1 yes,$(LOCK)),$(if $(RP_LOCK_HELD)$(RP_DRY),,$(filter $(DAG_GOALS),$(MAKECMDGOALS))))
ifneq ($(LOCKED_GOALS),)
# Outer make: take $(RUN)/.lock (refuse if held) and run the same goals in a make under it.
$(LOCKED_GOALS): rp-locked
	@:
# The programs are built first, BUILD_JOBS at a time (a fresh clone compiles in about a third of
# the serial time on 2 cores); a make already given -j shares its own job slots instead.
rp-locked:
	@$(MAKE) --no-print-directory $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(BUILD_JOBS)) progs
	@tools/dag-lock.sh "$(RUN)" $(MAKE) --no-print-directory RP_LOCK_HELD=1 $(LOCKED_GOALS)
else
# (The dependencies were checked while the outer make parsed. No recipe under -n/-q: make -q
# run then exits 0 when every output is up to date.)
run: $(EVAL) $(RECS)
ifneq ($(RP_DRY),1)
	@echo "recpipe: run complete in $(RUN) (report: $(REPORT)/report.md, recommendations: $(RECS))"
endif
ifeq ($(strip $(DATA)),)
synth: $(D)/truth.h5
else
synth:
	@echo "recpipe: DATA=$(DATA) is set: nothing to generate"
endif
shard: $(SHARDS)
features: $(FEATURES)
als: $(ALS)
twotower: $(TWOTOWER)
seqrec: $(SEQREC_OUT)
hybrid: $(HYBRID)
eval: $(EVAL)
recommend: $(RECS)
# Everything in RUN but the lock (rm -rf removes a DATA link, never the folder it points to).
clean-run:
	@case "$(abspath $(RUN))" in /|$(abspath .)|$(abspath $(HOME))) \
	  echo "recpipe: refusing to clear RUN=$(RUN)" >&2; exit 64;; esac; \
	if [ -d $(RUN) ]; then find $(RUN) -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +; fi; \
	echo "recpipe: cleared $(RUN)"
endif

.PHONY: verify-data
verify-data:
	@if [ -z "$(DATA)" ]; then echo 'usage: make verify-data DATA=".../KuaiRec 2.0/data"' >&2; exit 64; fi
	@tools/verify-data.sh "$(DATA)"

# rp-print-VAR: print a variable's value as this make sees it (used by slurm/submit.sh).
rp-print-%:
	@printf '%s\n' "$($*)"
