#!/usr/bin/python3
"""quality_valid.py - model-quality research: validation scores of model files under weightings
that make the validation pairs look like the test split (which weights every small-matrix
video alike, whatever its popularity), to see which one orders models as the test does.

  quality_valid.py SHARDS.h5 MODEL.h5 [MODEL.h5 ...]
Columns: plain validation RMSE; item-balanced (every video's validation pairs weigh 1 in
total); the same restricted to the test split's videos; the test RMSE."""
import sys
import h5py, numpy as np
from quality_ref import score

def split(f, name):
    off = f[name + "/by_user/offsets"][:]
    user = np.repeat(np.arange(len(off) - 1), np.diff(off))
    return user, f[name + "/by_user/item"][:].astype(np.int64), f[name + "/by_user/value"][:].astype(np.float64)

def wrmse(e2, w):
    return float(np.sqrt(np.sum(w * e2) / np.sum(w)))

def main():
    with h5py.File(sys.argv[1]) as f:
        vu, vi, vv = split(f, "valid")
        tu, ti, tv = split(f, "test")
        n_items = int(f.attrs["n_items"])
    cnt = np.bincount(vi, minlength=n_items).astype(np.float64)
    wi = 1.0 / np.maximum(cnt[vi], 1)
    in_test = np.zeros(n_items, bool); in_test[np.unique(ti)] = True
    wt = wi * in_test[vi]
    print(f"valid pairs {len(vv)}, on test videos {int(in_test[vi].sum())}")
    for path in sys.argv[2:]:
        p, a = score(path, vu, vi)
        e2 = (p - vv) ** 2
        pt, _ = score(path, tu, ti)
        print(f"{path}: k={a.get('k')} lambda={a.get('lambda')} valid={np.sqrt(e2.mean()):.6f} "
              f"item_balanced={wrmse(e2, wi):.6f} test_items_balanced={wrmse(e2, wt):.6f} "
              f"test_items={wrmse(e2, in_test[vi] * 1.0):.6f} "
              + " ".join(f"cap{m}={wrmse(e2, np.minimum(cnt[vi], m) / np.maximum(cnt[vi], 1)):.6f}" for m in (10, 30, 100))
              + f" test={np.sqrt(np.mean((pt - tv) ** 2)):.6f}")

if __name__ == "__main__":
    main()
