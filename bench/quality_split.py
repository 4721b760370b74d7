#!/usr/bin/python3
"""quality_split.py - research tool (model quality): re-split /train + /valid of a shards.h5 with
another validation rule and write a new shards.h5 (everything else copied), so rp-als and
rp-eval can be run on it unchanged.

  quality_split.py IN.h5 OUT.h5 MODE [--frac 0.1] [--seed 42] [--pu 0.2] [--pi 0.31]
MODE: time (the pairs as they are), random (per user, the round(frac n) pairs with the
smallest keyed hash), block (pairs of a hashed user subset x a hashed item subset, like the
test split: users x videos those users never trained on)."""
import argparse, shutil
import h5py, numpy as np

def mix(x):
    """splitmix64 finaliser on uint64 arrays: a keyed hash of (seed, index)."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
        x = x ^ (x >> np.uint64(31))
    return x

def u01(seed, stream, idx):
    with np.errstate(over="ignore"):
        k = mix(np.uint64(seed) * np.uint64(0x9e3779b97f4a7c15) + np.uint64(stream)
                + idx.astype(np.uint64) * np.uint64(0xd1b54a32d192ed03))
    return (k >> np.uint64(11)).astype(np.float64) / float(1 << 53)

def load(f, split):
    g = f[split + "/by_user"]
    off = g["offsets"][:]
    n = np.diff(off)
    user = np.repeat(np.arange(len(n), dtype=np.int32), n)
    return dict(user=user, item=g["item"][:], value=g["value"][:],
                wr=g["watch_ratio"][:], ts=g["timestamp"][:])

def write_split(f, split, d, n_users, n_items):
    if split in f: del f[split]
    o = np.lexsort((d["item"], d["ts"], d["user"]))       # user, time, item (NaN last)
    g = f.create_group(split + "/by_user")
    g["offsets"] = np.concatenate([[0], np.cumsum(np.bincount(d["user"], minlength=n_users))]).astype(np.int64)
    g["item"] = d["item"][o]; g["value"] = d["value"][o]
    g["watch_ratio"] = d["wr"][o]; g["timestamp"] = d["ts"][o]
    o = np.lexsort((d["user"], d["item"]))
    g = f.create_group(split + "/by_item")
    g["offsets"] = np.concatenate([[0], np.cumsum(np.bincount(d["item"], minlength=n_items))]).astype(np.int64)
    g["user"] = d["user"][o]; g["value"] = d["value"][o]
    f[split].attrs["nnz"] = np.int64(len(o))
    f[split].attrs["rows_kept"] = np.int64(len(o))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp"); ap.add_argument("out"); ap.add_argument("mode")
    ap.add_argument("--frac", type=float, default=0.1); ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pu", type=float, default=0.2); ap.add_argument("--pi", type=float, default=0.31)
    a = ap.parse_args()
    with h5py.File(a.inp) as f:
        nu, ni = int(f.attrs["n_users"]), int(f.attrs["n_items"])
        tr, va = load(f, "train"), load(f, "valid")
    d = {k: np.concatenate([tr[k], va[k]]) for k in tr}
    if a.mode == "time":
        isv = np.concatenate([np.zeros(len(tr["user"]), bool), np.ones(len(va["user"]), bool)])
    elif a.mode == "random":
        h = u01(a.seed, 1, d["user"].astype(np.uint64) * np.uint64(ni) + d["item"].astype(np.uint64))
        o = np.lexsort((h, d["user"]))
        n = np.bincount(d["user"], minlength=nu)
        nv = np.floor(n * a.frac + 0.5 + 1e-9).astype(np.int64)
        start = np.concatenate([[0], np.cumsum(n)[:-1]])
        rank = np.arange(len(o)) - np.repeat(start, n)
        isv = np.zeros(len(o), bool)
        isv[o] = rank < np.repeat(nv, n)
    elif a.mode == "block":
        vu = u01(a.seed, 2, np.arange(nu)) < a.pu
        vi = u01(a.seed, 3, np.arange(ni)) < a.pi
        isv = vu[d["user"]] & vi[d["item"]]
    else:
        raise SystemExit("mode: time|random|block")
    shutil.copyfile(a.inp, a.out + ".partial")
    with h5py.File(a.out + ".partial", "r+") as f:
        write_split(f, "train", {k: v[~isv] for k, v in d.items()}, nu, ni)
        write_split(f, "valid", {k: v[isv] for k, v in d.items()}, nu, ni)
        f.attrs["valid_split"] = a.mode
    import os; os.rename(a.out + ".partial", a.out)
    print(f"{a.mode}: train {int((~isv).sum())} valid {int(isv.sum())} ({isv.mean():.4f})")

if __name__ == "__main__":
    main()
