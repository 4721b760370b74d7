#!/usr/bin/python3
"""als_ref.py - numpy reference of rp-als (explicit ALS with biases on shards.h5's /train) for
trying factor-penalty families before changing the C code, scored the way rp-eval and rp-als do.

  als_ref.py [--target clipped|log] [--log-min WR] [--weights none|item|user-item] [--n0 N]
             [--retrain] SHARDS.h5 EVAL.h5 SPEC [SPEC ...]
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
rp-als would write): only validation chooses, the test columns are read, never used.

--weights (default none) fits weighted least squares, the MAP estimate under heteroscedastic
Gaussian noise: every training pair weighs 1/sigma^2(u, i), sigma^2 estimated from the training
residuals of the bias baseline (reg 10, as rp-eval's bias row) and shrunk toward the global
residual variance s^2 with --n0 pseudo-pairs (default 20): item: sigma_i^2 =
(sum r^2 + n0 s^2) / (n_i + n0); user-item: sigma_u^2 sigma_i^2 / s^2, sigma_u^2 the same
shrunk mean of r^2 / (sigma_i^2 / s^2) over the user's pairs. Weights are scaled to mean 1 over
the training pairs so lambda keeps its scale. Validation and test RMSE stay unweighted.
--retrain fits on train + valid (information only: the validation columns are then in-sample).

--target (default clipped) is what the factors fit, as rp-als --target (docs/stages/als.md,
"The log target"): clipped = the normalised value of /train (this script's old behaviour; rp-als
defaults to log); log = log(watch ratio) of the train pairs with --log-min (default 0.4) <=
watch ratio < norm_max (and value < 1), the watch ratio read back as norm_min + value *
(norm_max - norm_min) with shards.h5's root attributes; mu is the mean of the kept log values.
Validation and test stay on the normalised scale: pred = clamp01(c + c_u + c_i + gamma g_ui),
g_ui = exp(b_u + b_i) (p_u . q_i) from the fit, c, c_u, c_i the bias baseline (rp_baseline_bias,
reg 10: item biases first, then users, one pass, on the unfiltered values) and gamma = sum g r /
sum g^2 over the validation pairs, r = y - c - c_u - c_i (0 when not positive), refitted every
iteration and printed with it. --weights then weighs the log-scale pairs."""
import sys, time
import h5py, numpy as np
from quality_ref import yardstick

def csr(f, split, side, other):
    g = f[f"{split}/by_{side}"]
    return g["offsets"][:], g[other][:].astype(np.int64), g["value"][:].astype(np.float64)

def load(path):
    with h5py.File(path) as f:
        d = {"tu": csr(f, "train", "user", "item"), "ti": csr(f, "train", "item", "user"),
             "norm": (float(f.attrs["norm_min"]), float(f.attrs["norm_max"]))}
        for s in ("valid", "test"):
            off, col, val = csr(f, s, "user", "item")
            d[s] = (np.repeat(np.arange(len(off) - 1), np.diff(off)), col, val)
    return d

def baseline(d, reg=10.0):
    """rp_baseline_bias on the training values: c, c_u, c_i (items first, then users, once)."""
    (uo, ui, uv), (io, _, iv) = d["tu"], d["ti"]
    nu, ni = len(uo) - 1, len(io) - 1
    c = float(np.mean(uv))
    irow = np.repeat(np.arange(ni), np.diff(io))
    ci = np.bincount(irow, iv - c, minlength=ni) / (reg + np.diff(io))
    urow = np.repeat(np.arange(nu), np.diff(uo))
    cu = np.bincount(urow, uv - c - ci[ui], minlength=nu) / (reg + np.diff(uo))
    return c, cu, ci

def log_filter(d, lo):
    """Keep the train pairs with lo <= wr < norm_max (value < 1) as log(wr), both CSR orders."""
    nmin, nmax = d["norm"]
    for key in ("tu", "ti"):
        off, col, val = d[key]
        wr = nmin + val * (nmax - nmin)
        keep = (val < 1.0) & (wr >= lo) & (wr < nmax) & (wr > 0.0)
        row = np.repeat(np.arange(len(off) - 1), np.diff(off))[keep]
        d[key] = (np.concatenate([[0], np.cumsum(np.bincount(row, minlength=len(off) - 1))]),
                  col[keep], np.log(wr[keep]))
    print(f"log target: {len(d['tu'][2])} train pairs with {lo:g} <= watch_ratio < {nmax:g}",
          flush=True)

def ridge(pen, lam, n):
    n = n.astype(np.float64)
    if pen == "wr": return lam * n
    if pen == "const": return np.full_like(n, lam)
    if pen.startswith("n0="): return lam * (n + float(pen[3:]))
    if pen.startswith("pow="): return lam * n ** float(pen[4:])
    raise SystemExit(f"als_ref.py: unknown penalty {pen}")

def merge(d):
    """Train + valid as one training set (both CSR orders), for --retrain."""
    off, col, val = d["tu"]
    u = np.concatenate([np.repeat(np.arange(len(off) - 1), np.diff(off)), d["valid"][0]])
    i = np.concatenate([col, d["valid"][1]]); v = np.concatenate([val, d["valid"][2]])
    nu, ni = len(off) - 1, len(d["ti"][0]) - 1
    for key, r, c, n in (("tu", u, i, nu), ("ti", i, u, ni)):
        o = np.lexsort((c, r))
        d[key] = (np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n))]), c[o], v[o])

def bias_fit(d, mu, reg=10.0, sweeps=10):
    """Per-user and per-video biases, alternating ridge means (rp_baseline's form)."""
    (uo, ui, uv), (io, iu, iv) = d["tu"], d["ti"]
    nu, ni = len(uo) - 1, len(io) - 1
    un = np.diff(uo).astype(np.float64); inn = np.diff(io).astype(np.float64)
    bu = np.zeros(nu); bi = np.zeros(ni)
    urow = np.repeat(np.arange(nu), np.diff(uo)); irow = np.repeat(np.arange(ni), np.diff(io))
    for _ in range(sweeps):
        bi = np.bincount(irow, iv - mu - bu[iu], minlength=ni) / (inn + reg)
        bu = np.bincount(urow, uv - mu - bi[ui], minlength=nu) / (un + reg)
    return bu, bi

def noise_weights(d, mu, kind, n0):
    """Per-row variance factors a (users), b (videos): pair weight 1 / (a_u b_i) / mean."""
    (uo, ui, uv), io = d["tu"], d["ti"][0]
    nu, ni = len(uo) - 1, len(io) - 1
    a, b = np.ones(nu), np.ones(ni)
    if kind == "none":
        return a, b
    bu, bi = bias_fit(d, mu)
    urow = np.repeat(np.arange(nu), np.diff(uo))
    r2 = (uv - mu - bu[urow] - bi[ui]) ** 2
    s2 = r2.mean()
    b = (np.bincount(ui, r2, minlength=ni) + n0 * s2) / (np.bincount(ui, minlength=ni) + n0) / s2
    if kind == "user-item":
        a = (np.bincount(urow, r2 / b[ui], minlength=nu) + n0 * s2) / (np.diff(uo) + n0) / s2
    elif kind != "item":
        raise SystemExit(f"als_ref.py: unknown --weights {kind}")
    c = np.mean(1.0 / (a[urow] * b[ui]))
    a *= c                                       # mean pair weight 1
    w = 1.0 / (a[urow] * b[ui])
    print(f"weights {kind} n0={n0}: s2={s2:.6g} pair weight min {w.min():.4f} "
          f"p10 {np.percentile(w, 10):.4f} p90 {np.percentile(w, 90):.4f} max {w.max():.4f}",
          flush=True)
    return a, b

def half(block, other, k, mu, pen, lam, lam_b, rowf, colf):
    """Solve every row [x, b] of one side from the other side's rows [y, c]: the rp-als solve,
    weighted by 1 / (rowf[row] * colf[col]) per pair (all ones: plain least squares)."""
    off, col, val = block
    n = np.diff(off)
    y1 = np.concatenate([other[:, :k], np.ones((len(other), 1))], axis=1)
    t = val - mu - other[col, k]
    wc = 1.0 / colf[col]
    G = np.zeros((len(n), k + 1, k + 1)); B = np.zeros((len(n), k + 1))
    for r in np.nonzero(n)[0]:
        Y = y1[col[off[r]:off[r + 1]]]
        w = wc[off[r]:off[r + 1]] / rowf[r]
        G[r] = Y.T @ (w[:, None] * Y)
        B[r] = Y.T @ (w * t[off[r]:off[r + 1]])
    idx = np.arange(k)
    G[:, idx, idx] += ridge(pen, lam, n)[:, None]
    G[:, k, k] += lam_b
    G[n == 0] = np.eye(k + 1)                    # rows without data: zero factors and bias
    return np.linalg.solve(G, B[..., None])[..., 0]

def parts(U, V, k, pairs):
    """b_u + b_i and p_u . q_i of every pair."""
    u, i, _ = pairs
    b, x = np.empty(len(u)), np.empty(len(u))
    for s in range(0, len(u), 1 << 20):
        uu, ii = u[s:s + (1 << 20)], i[s:s + (1 << 20)]
        b[s:s + len(uu)] = U[uu, k] + V[ii, k]
        x[s:s + len(uu)] = np.einsum("ij,ij->i", U[uu, :k], V[ii, :k])
    return b, x

def predict(U, V, k, mu, pairs):
    b, x = parts(U, V, k, pairs)
    return np.clip(mu + b + x, 0.0, 1.0)

def calibrated(U, V, k, base, pairs, gamma=None):
    """Log target: clamp01(c + c_u + c_i + gamma g); gamma fitted on these pairs when None."""
    c, cu, ci = base
    u, i, y = pairs
    b, x = parts(U, V, k, pairs)
    g = np.exp(b) * x
    p0 = c + cu[u] + ci[i]
    if gamma is None:
        gr, gg = float(np.sum(g * (y - p0))), float(np.sum(g * g))
        gamma = gr / gg if gr > 0 and gg > 0 else 0.0
    return np.clip(p0 + gamma * g, 0.0, 1.0), gamma

def run(d, spec, mb, mt, a, b, base):
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
        U = half(d["tu"], V, k, mu, pen, lam, lam_b, a, b)
        V = half(d["ti"], U, k, mu, pen, lam, lam_b, b, a)
        if base is None:
            pv, px, gamma = predict(U, V, k, mu, d["valid"]), predict(U, V, k, mu, d["test"]), 1.0
        else:
            pv, gamma = calibrated(U, V, k, base, d["valid"])
            px, _ = calibrated(U, V, k, base, d["test"], gamma)
        e2 = (pv - d["valid"][2]) ** 2
        mse = float(np.mean((px - d["test"][2]) ** 2))
        r = (it, np.sqrt(e2.mean()), np.sqrt(np.sum(w * e2) / np.sum(w)), np.sqrt(mse),
             (mb - mse) / (mb - mt), gamma)
        rows.append(r)
        print(f"{spec} iter {it} valid_pair={r[1]:.6f} valid_item={r[2]:.6f} "
              f"test_rmse={r[3]:.6f} share={r[4]:.4f} gamma={gamma:.4f} "
              f"({time.time() - t0:.1f}s)", flush=True)
    for name, c in (("pair", 1), ("item", 2)):
        b = min(rows, key=lambda r: r[c])
        print(f"SEL {name} {pen} K={k} lambda={lam} lambda_bias={lam_b} iter={b[0]} "
              f"valid_pair={b[1]:.6f} valid_item={b[2]:.6f} test_rmse={b[3]:.6f} "
              f"share={b[4]:.4f} gamma={b[5]:.4f}", flush=True)

def main():
    argv, kind, n0, retrain, target, log_min = sys.argv[1:], "none", 20.0, False, "clipped", 0.4
    while argv and argv[0].startswith("--"):
        o = argv.pop(0)
        if o in ("--help", "-h"): print(__doc__); return
        if o == "--retrain": retrain = True
        elif o == "--weights" and argv: kind = argv.pop(0)
        elif o == "--n0" and argv: n0 = float(argv.pop(0))
        elif o == "--target" and argv and argv[0] in ("clipped", "log"): target = argv.pop(0)
        elif o == "--log-min" and argv: log_min = float(argv.pop(0))
        else: raise SystemExit(__doc__)
    if len(argv) < 3:
        raise SystemExit(__doc__)
    mb, mt = yardstick(argv[1])
    d = load(argv[0])
    if retrain:
        merge(d)
    base = None
    if target == "log":
        base = baseline(d)
        log_filter(d, log_min)
    a, b = noise_weights(d, float(np.mean(d["tu"][2])), kind, n0)
    for spec in argv[2:]:
        run(d, spec, mb, mt, a, b, base)

if __name__ == "__main__":
    main()
