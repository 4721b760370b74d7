#!/usr/bin/python3
"""quality_als_prior.py - issue 13 research: a numpy reference of rp-als's ALS (biases, the
weighted-lambda factor ridge lambda * n, a fixed bias ridge) with one variant: a prior count
n0, ridge lambda * (n + n0), which shrinks the factors of rows with few training pairs (rare
videos) more than weighted-lambda does (whose shrinkage does not depend on n). Selects the
iterate on item-balanced validation RMSE (rp-als --valid-weight item) and scores it on the
test split against an eval.h5's bias and truth rows.

  quality_als_prior.py SHARDS.h5 EVAL.h5 K LAMBDA N0 [ITERS] [LAMBDA_BIAS]"""
import sys, time
import h5py, numpy as np

def csr(f, split, side):
    g = f[f"{split}/{side}"]
    other = "item" if side == "by_user" else "user"
    return g["offsets"][:], g[other][:].astype(np.int64), g["value"][:].astype(np.float64)

def solve_side(off, col, val, Y, ybias, mu, lam, lamb, n0):
    """Rows' [x, b] given the other side's factors Y [n, K] and biases ybias: per row, the
    normal equations of [y_j, 1] against t_j = r_j - mu - c_j plus the ridge, as rp-als."""
    nrows, K = len(off) - 1, Y.shape[1]
    Yt = np.hstack([Y, np.ones((len(Y), 1))])
    t_all = val - mu - ybias[col]
    X = np.zeros((nrows, K + 1))
    ridge = np.zeros(K + 1)
    for r in range(nrows):
        a, b = off[r], off[r + 1]
        if b == a:
            continue
        y = Yt[col[a:b]]
        A = y.T @ y
        ridge[:K] = lam * ((b - a) + n0); ridge[K] = lamb
        A[np.diag_indices(K + 1)] += ridge
        X[r] = np.linalg.solve(A, y.T @ t_all[a:b])
    return X[:, :K], X[:, K]

def predict(P, bu, Q, bi, mu, u, i):
    out = np.empty(len(u))
    for s in range(0, len(u), 1 << 20):
        uu, ii = u[s:s + (1 << 20)], i[s:s + (1 << 20)]
        out[s:s + len(uu)] = mu + bu[uu] + bi[ii] + np.einsum("ij,ij->i", P[uu], Q[ii])
    return np.clip(out, 0, 1)

def main():
    shards, ev, K, lam, n0 = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    iters = int(sys.argv[6]) if len(sys.argv) > 6 else 10
    lamb = float(sys.argv[7]) if len(sys.argv) > 7 else 1.0
    with h5py.File(shards) as f:
        uo, uc, uv = csr(f, "train", "by_user"); io, ic, iv = csr(f, "train", "by_item")
        vo, vi_u, vv = csr(f, "valid", "by_item")
        to, tu_i, tv = csr(f, "test", "by_user")
    nu, ni = len(uo) - 1, len(io) - 1
    vitem = np.repeat(np.arange(ni), np.diff(vo)); vuser = vi_u
    tuser = np.repeat(np.arange(nu), np.diff(to)); titem = tu_i
    with h5py.File(ev) as f:
        names = [x.decode() if isinstance(x, bytes) else x for x in f["metrics"].attrs["models"]]
        m = f["metrics"][:]
    mb, mt = m[names.index("bias"), 1] ** 2, m[names.index("truth"), 1] ** 2
    mu = float(np.sum([uv[uo[u]:uo[u + 1]].sum() for u in range(nu)]) / len(uv))
    rng = np.random.default_rng(42)
    Q = rng.normal(0, 0.1 / np.sqrt(K), (ni, K)); bi = np.zeros(ni)
    P = np.zeros((nu, K)); bu = np.zeros(nu)
    cnt = np.diff(vo).astype(np.float64)
    best = (np.inf, 0, None)
    for it in range(1, iters + 1):
        t0 = time.time()
        P, bu = solve_side(uo, uc, uv, Q, bi, mu, lam, lamb, n0)
        Q, bi = solve_side(io, ic, iv, P, bu, mu, lam, lamb, n0)
        e2 = (predict(P, bu, Q, bi, mu, vuser, vitem) - vv) ** 2
        per = np.zeros(ni); ne = cnt > 0
        per[ne] = np.add.reduceat(e2, vo[:-1][ne]) / cnt[ne]
        v_item = np.sqrt(per[ne].mean()); v_plain = np.sqrt(e2.mean())
        mse = np.mean((predict(P, bu, Q, bi, mu, tuser, titem) - tv) ** 2)
        g = (mb - mse) / (mb - mt)
        print(f"K={K} lambda={lam} n0={n0} iter {it}: valid_item={v_item:.6f} valid={v_plain:.6f} "
              f"test_rmse={np.sqrt(mse):.6f} gap_share={g:.4f} ({time.time() - t0:.1f}s)", flush=True)
        if v_item < best[0]: best = (v_item, it, g)
    print(f"K={K} lambda={lam} n0={n0}: best item-balanced valid {best[0]:.6f} at iter {best[1]}: gap_share={best[2]:.4f}")

if __name__ == "__main__":
    main()
