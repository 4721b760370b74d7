#!/usr/bin/python3
"""als_buckets.py - model-quality research: test-split MSE (against the observed targets) of
model files, by how many training pairs the video has, to see where a change helps.

  als_buckets.py SHARDS.h5 MODEL.h5 [MODEL.h5 ...]"""
import sys
import h5py, numpy as np
from quality_ref import score, test_pairs

def main():
    shards, models = sys.argv[1], sys.argv[2:]
    u, i, v = test_pairs(shards)
    with h5py.File(shards) as f:
        ni = np.diff(f["train/by_item/offsets"][:])[i]
    preds = [score(p, u, i)[0] for p in models]
    for lo, hi in [(0, 50), (50, 200), (200, 800), (800, 3000), (3000, 1 << 40)]:
        m = (ni >= lo) & (ni < hi)
        mse = " ".join(f"{np.mean((p[m] - v[m]) ** 2):.6f}" for p in preds)
        print(f"train pairs [{lo}, {hi}): test pairs {m.sum()}, videos "
              f"{len(np.unique(i[m]))}, MSE per model: {mse}")

if __name__ == "__main__":
    main()
