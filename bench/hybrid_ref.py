#!/usr/bin/python3
"""hybrid_ref.py - numpy reference for rp-hybrid's blend weighting: a least-squares blend
pred = clamp01(w0 + sum_c w_c p_c) of model files' predictions fitted on the validation split
with every pair alike ("pair") or every video's pairs weighing 1 in total ("item", as the test
split weighs videos), scored on the test split as a share of the bias-to-truth MSE gap (rp-eval's
bias and truth rows of EVAL.h5). Only validation fits; the test columns are read, never used.

  hybrid_ref.py SHARDS.h5 EVAL.h5 MODEL.h5 [MODEL.h5 ...]"""
import sys
import h5py, numpy as np
from quality_ref import score
from quality_valid import split

def main():
    shards, ev, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    with h5py.File(ev) as f:
        dec = lambda a: [x.decode() if isinstance(x, bytes) else str(x) for x in a]
        names, cols, m = dec(f["metrics"].attrs["models"]), dec(f["metrics"].attrs["metrics"]), f["metrics"][:]
    r = cols.index("rmse")
    mb, mt = m[names.index("bias"), r] ** 2, m[names.index("truth"), r] ** 2
    with h5py.File(shards) as f:
        vu, vi, vv = split(f, "valid")
        tu, ti, tv = split(f, "test")
        n_items = int(f.attrs["n_items"])
    cnt = np.bincount(vi, minlength=n_items).astype(np.float64)
    weights = {"pair": np.ones(len(vv)), "item": 1.0 / np.maximum(cnt[vi], 1)}
    P = np.stack([np.ones(len(vv))] + [score(p, vu, vi)[0] for p in models], 1)
    T = np.stack([np.ones(len(tv))] + [score(p, tu, ti)[0] for p in models], 1)
    share = lambda p: (mb - np.mean((p - tv) ** 2)) / (mb - mt)
    for c, path in enumerate(models):
        print(f"input {path}: test share {share(T[:, c + 1]):.4f}")
    for name, w in weights.items():
        A = P.T @ (P * w[:, None])
        coef = np.linalg.solve(A + 1e-9 * np.eye(len(A)), P.T @ (w * vv))
        pv = np.clip(P @ coef, 0, 1)
        print(f"blend fitted on {name}: weights {np.round(coef, 4)} valid_pair="
              f"{np.sqrt(np.mean((pv - vv) ** 2)):.6f} valid_item="
              f"{np.sqrt(np.sum(weights['item'] * (pv - vv) ** 2) / weights['item'].sum()):.6f} "
              f"test share {share(np.clip(T @ coef, 0, 1)):.4f}")

if __name__ == "__main__":
    main()
