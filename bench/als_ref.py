#!/usr/bin/python3
"""als_ref.py - numpy reference of rp-als (explicit ALS with biases on shards.h5's /train) for
trying factor-penalty families before changing the C code, scored the way rp-eval and rp-als do.

  als_ref.py SHARDS.h5 EVAL.h5 SPEC [SPEC ...]
SPEC = penalty:K:lambda[:lambda_bias[:iters]], penalty one of
  wr        ridge lambda * n on each factor of a row with n training entries (rp-als today)
  const     ridge lambda on each factor, whatever n (MAP under a Gaussian prior on the factors)
  n0=N0     ridge lambda * (n + N0)
  pow=A     ridge lambda * n^A
lambda_bias (default 1) is the constant ridge on each bias, iters (default 12) the iterations.
Every iteration prints the plain and item-balanced validation RMSE (every video's validation
pairs weigh 1, as the test split weighs videos) and the test RMSE and its share of the
bias-to-truth MSE gap, with rp-eval's bias and truth rows of EVAL.h5 as the yardstick. The last
two lines per SPEC are the iterates selected on plain and on item-balanced validation (what
rp-als would write): only validation chooses, the test columns are read, never used."""
import sys, time
import h5py, numpy as np

def csr(f, split, side, other):
    g = f[f"{split}/by_{side}"]
    return g["offsets"][:], g[other][:].astype(np.int64), g["value"][:].astype(np.float64)

def load(path):
    with h5py.File(path) as f:
        d = {"tu": csr(f, "train", "user", "item"), "ti": csr(f, "train", "item", "user")}
        for s in ("valid", "test"):
            off, col, val = csr(f, s, "user", "item")
            d[s] = (np.repeat(np.arange(len(off) - 1), np.diff(off)), col, val)
    return d

def ridge(pen, lam, n):
    n = n.astype(np.float64)
    if pen == "wr": return lam * n
    if pen == "const": return np.full_like(n, lam)
    if pen.startswith("n0="): return lam * (n + float(pen[3:]))
    if pen.startswith("pow="): return lam * n ** float(pen[4:])
    raise SystemExit(f"als_ref.py: unknown penalty {pen}")

def half(block, other, k, mu, pen, lam, lam_b):
    """Solve every row [x, b] of one side from the other side's rows [y, c]: the rp-als solve."""
    off, col, val = block
    n = np.diff(off)
    y1 = np.concatenate([other[:, :k], np.ones((len(other), 1))], axis=1)
    t = val - mu - other[col, k]
    G = np.zeros((len(n), k + 1, k + 1)); B = np.zeros((len(n), k + 1))
    for r in np.nonzero(n)[0]:
        Y = y1[col[off[r]:off[r + 1]]]
        G[r] = Y.T @ Y
        B[r] = Y.T @ t[off[r]:off[r + 1]]
    idx = np.arange(k)
    G[:, idx, idx] += ridge(pen, lam, n)[:, None]
    G[:, k, k] += lam_b
    G[n == 0] = np.eye(k + 1)                    # rows without data: zero factors and bias
    return np.linalg.solve(G, B[..., None])[..., 0]

def predict(U, V, k, mu, pairs):
    u, i, _ = pairs
    p = np.empty(len(u))
    for s in range(0, len(u), 1 << 20):
        uu, ii = u[s:s + (1 << 20)], i[s:s + (1 << 20)]
        p[s:s + len(uu)] = (mu + U[uu, k] + V[ii, k]
                            + np.einsum("ij,ij->i", U[uu, :k], V[ii, :k]))
    return np.clip(p, 0.0, 1.0)

def run(d, spec, mb, mt):
    f = spec.split(":")
    pen, k, lam = f[0], int(f[1]), float(f[2])
    lam_b = float(f[3]) if len(f) > 3 else 1.0
    iters = int(f[4]) if len(f) > 4 else 12
    off = d["tu"][0]
    nu, ni = len(off) - 1, len(d["ti"][0]) - 1
    mu = float(np.mean(d["tu"][2]))
    rng = np.random.default_rng(42)
    V = np.zeros((ni, k + 1)); V[:, :k] = rng.normal(0, 0.1 / np.sqrt(k), (ni, k))
    U = np.zeros((nu, k + 1))
    vi = d["valid"][1]
    cnt = np.bincount(vi, minlength=ni).astype(np.float64)
    w = 1.0 / np.maximum(cnt[vi], 1)
    rows = []
    for it in range(1, iters + 1):
        t0 = time.time()
        U = half(d["tu"], V, k, mu, pen, lam, lam_b)
        V = half(d["ti"], U, k, mu, pen, lam, lam_b)
        e2 = (predict(U, V, k, mu, d["valid"]) - d["valid"][2]) ** 2
        mse = float(np.mean((predict(U, V, k, mu, d["test"]) - d["test"][2]) ** 2))
        r = (it, np.sqrt(e2.mean()), np.sqrt(np.sum(w * e2) / np.sum(w)), np.sqrt(mse),
             (mb - mse) / (mb - mt))
        rows.append(r)
        print(f"{spec} iter {it} valid_pair={r[1]:.6f} valid_item={r[2]:.6f} "
              f"test_rmse={r[3]:.6f} share={r[4]:.4f} ({time.time() - t0:.1f}s)", flush=True)
    for name, c in (("pair", 1), ("item", 2)):
        b = min(rows, key=lambda r: r[c])
        print(f"SEL {name} {pen} K={k} lambda={lam} lambda_bias={lam_b} iter={b[0]} "
              f"valid_pair={b[1]:.6f} valid_item={b[2]:.6f} test_rmse={b[3]:.6f} "
              f"share={b[4]:.4f}", flush=True)

def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    with h5py.File(sys.argv[2]) as f:
        dec = lambda a: [x.decode() if isinstance(x, bytes) else str(x) for x in a]
        names, cols, m = dec(f["metrics"].attrs["models"]), dec(f["metrics"].attrs["metrics"]), f["metrics"][:]
    r = cols.index("rmse")
    mb, mt = m[names.index("bias"), r] ** 2, m[names.index("truth"), r] ** 2
    d = load(sys.argv[1])
    for spec in sys.argv[3:]:
        run(d, spec, mb, mt)

if __name__ == "__main__":
    main()
