#!/usr/bin/python3
"""quality_ref.py - numpy reference scorer for model quality: test RMSE of an
als.h5 (dot form) on shards.h5's /test, and its share of the bias-to-truth MSE gap, with the
bias and truth MSEs taken from an eval.h5 of the same data (rp-eval's rows), so models trained
on differently split shards are measured against one yardstick.

  quality_ref.py SHARDS.h5 EVAL.h5 MODEL.h5 [MODEL.h5 ...]
Prints one line per model: test rmse, gap share, and the file's k/lambda/valid_rmse."""
import sys
import h5py, numpy as np

def test_pairs(shards):
    with h5py.File(shards) as f:
        off = f["test/by_user/offsets"][:]
        item = f["test/by_user/item"][:].astype(np.int64)
        val = f["test/by_user/value"][:].astype(np.float64)
    user = np.repeat(np.arange(len(off) - 1), np.diff(off))
    return user, item, val

def score(path, user, item):
    with h5py.File(path) as f:
        U, V, g = f["score/user"][:], f["score/item"][:], dict(f["score"].attrs)
        post = g["post"].decode() if isinstance(g["post"], bytes) else str(g["post"])
        a = dict(f.attrs)
    p = np.empty(len(user))
    for s in range(0, len(user), 1 << 20):       # chunks: bounded memory
        u, i = user[s:s + (1 << 20)], item[s:s + (1 << 20)]
        x = g["scale"] * np.einsum("ij,ij->i", U[u], V[i]) + g["shift"]
        p[s:s + len(u)] = 1 / (1 + np.exp(-x)) if post == "sigmoid" else x
    return np.clip(p, 0, 1), a

def yardstick(ev):
    """Test MSE of the bias and truth rows of an eval.h5: the ends of the gap share."""
    with h5py.File(ev) as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["metrics"].attrs["models"]]
        cols = [n.decode() if isinstance(n, bytes) else str(n) for n in f["metrics"].attrs["metrics"]]
        m = f["metrics"][:]
    r = cols.index("rmse")
    return m[names.index("bias"), r] ** 2, m[names.index("truth"), r] ** 2

def main():
    shards, ev, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    mb, mt = yardstick(ev)
    user, item, val = test_pairs(shards)
    for path in models:
        p, a = score(path, user, item)
        mse = float(np.mean((p - val) ** 2))
        print(f"{path}: test_rmse={mse ** 0.5:.6f} gap_share={(mb - mse) / (mb - mt):.4f} "
              f"k={a.get('k')} lambda={a.get('lambda')} valid_rmse={a.get('valid_rmse')}")

if __name__ == "__main__":
    main()
