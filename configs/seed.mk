# configs/seed.mk - the seed project's recipe, kept one variable file away so a run with it can be
# set against the defaults (README, "The seed recipe"):  make run CONFIG=configs/seed.mk
# Every line below is a choice the defaults changed; the rest is shared.

# Outliers: drop train/validation pairs with watch ratio > 3. The default clips them at 3
# instead: dropping removes exactly the most-watched pairs, which the test split keeps.
OUTLIER = drop
OUTLIER_MAX = 3
# Scaling: min-max of the training target (rp-shard's norm_min/norm_max). The default does the
# same, so there is no variable for it.

# ALS: rank 32 and lambda 0.01 given by hand (no validation grid, which runs only when one of
# them is left empty), with the weighted-lambda ridge lambda x n (the default is a constant
# ridge per row).
ALS_K = 32
ALS_LAMBDA = 0.01
ALS_PENALTY = wr
# ... fitted to the normalised value itself (the default fits log watch ratio); an rp-als from
# before --target has only this target. The source says which.
ALS_TARGET = $(if $(shell grep -qs '"target"' stages/als/als_train.c && echo y),clipped)

# Two-tower: 32-d towers, 16-d embeddings, a 64-unit ReLU layer, batch 1024, 10 epochs at lr 0.002,
# weight decay 1e-6, patience 3.
TT_DIM = 32
TT_HIDDEN = 64
TT_BATCH = 1024
TT_EPOCHS = 10
TT_LR = 0.002
TT_WEIGHT_DECAY = 1e-6
TT_EARLY_STOP = 3
# ... fitted to the normalised value (the default fits log watch ratio; the seed's cosine head
# cannot carry the calibrated form anyway); an rp-twotower from before --target has no option.
TT_TARGET = $(if $(shell grep -qs '"target"' stages/twotower/twotower_opts.c && echo y),clipped)
# no prior per row (an rp-twotower from before --row-l2 has none)
TT_ROW_L2 = $(if $(shell grep -qs '"row-l2"' stages/twotower/twotower_opts.c && echo y),0)
# ... and the seed's shape (docs/stages/twotower.md, "The seed's shape"): a cosine head without
# bias terms, the id embedding as an input of the hidden layer, a constant learning rate, the
# best epoch chosen by validation MAE. An rp-twotower from before the redesign has exactly this
# shape and none of these options; one from after it needs them (its defaults are the dot head
# with bias terms). The source says which.
TT_ARGS = --emb-dim 16 $(if $(shell grep -qs '"id-path"' stages/twotower/twotower_opts.c && echo y),\
  --head cosine --id-path mlp --no-bias --select mae --schedule constant --emb-weight-decay 1e-6)
