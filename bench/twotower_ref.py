#!/usr/bin/python3
"""twotower_ref.py - PyTorch reference of rp-twotower's model and training, scored as rp-eval does.

The model and schedule are bench/twotower_torch.py's (the rp-twotower architecture), plus what
the C program does around them, so the reference can stand in for it when choosing defaults:
- the bias terms and the shift start at the bias model's (rp_baseline_bias with --bias-reg:
  b_i = sum(y - mu) / (reg + n_i), then b_u = sum(y - mu - b_i) / (reg + n_u)), as
  rp-twotower --bias-init;
- the per-row penalty of rp-twotower --row-l2 L: a touched embedding row r (id vectors, and with
  --row-l2-features the feature tables; never the bias terms) gets L / (N q_r) * w_r added to
  its gradient once per step, q_r = 1 - (1 - n_r / N)^B the chance a batch of B out of N
  training pairs touches it (n_r = training pairs whose forward pass reads row r). In
  expectation every row gets L / N * w_r per step whatever its count, i.e. the objective is
  mean squared error + L / (2N) * sum_r |w_r|^2: a Gaussian prior per row, not per occurrence;
- the output is the epoch of the lowest validation RMSE, then scored on /test against the
  truth (truth.h5 /expected_clipped, normalised with shards.h5's norm_min/norm_max and clipped
  to [0, 1] as rp-eval does): gap share = (MSE_bias - MSE_model) / (MSE_bias - MSE_truth), the
  bias model's MSE measured here on the same pairs.
- --target log|clipped (default clipped, the reference's earlier runs; rp-twotower defaults to
  log) as rp-twotower --target (docs/stages/twotower.md, "The log target"): with log the
  towers fit log(watch ratio) of the train pairs with --log-min (default 0.4) <= wr < norm_max
  (and value < 1), wr = norm_min + value * (norm_max - norm_min) from shards.h5's root
  attributes; the bias terms start at 0 and the shift at the mean of the kept log values (no
  --bias-init); the row counts and N of --row-l2 are the kept pairs'. Validation, the best
  epoch and the test scores use clamp01(c + c_u + c_i + gamma g), g = exp(b_u + b_i) (u . v),
  c, c_u, c_i the bias model above (on the unfiltered values) and gamma = sum g r / sum g^2
  over the validation pairs, r = y - c - c_u - c_i (0 when not positive), refitted every epoch
  and printed with it. Needs --head dot and --bias 1.
Prints per epoch and one JSON line at the end.
--score FILE instead scores an rp-twotower output (twotower.h5 /score) on the same test pairs,
so the C program and the reference are measured by the same code.
"""
import argparse
import json
import os
import sys
import time

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from twotower_torch import TwoTower, lr_at, read_side, read_split  # noqa: E402
from quality_ref import score  # noqa: E402


def bias_model(nu, ni, tu, ti, ty, reg):
    """rp_baseline_bias: item biases first (they need only mu), then users."""
    y = ty.numpy().astype(np.float64)
    u, i = tu.numpy(), ti.numpy()
    mu = y.mean()
    n_i = np.bincount(i, minlength=ni)
    b_i = np.bincount(i, y - mu, minlength=ni) / np.maximum(reg + n_i, 1e-300)
    n_u = np.bincount(u, minlength=nu)
    b_u = np.bincount(u, y - mu - b_i[i], minlength=nu) / np.maximum(reg + n_u, 1e-300)
    return mu, b_u, b_i


def read_test(shards, truth):
    """Test pairs (dense ids, normalised clipped value) and the truth on the same scale."""
    with h5py.File(shards, "r") as f:
        tu, ti, ty = read_split(f, "/test")
        lo, hi = float(f.attrs["norm_min"]), float(f.attrs["norm_max"])
        uraw, iraw = f["/ids/user_raw"][...], f["/ids/item_raw"][...]
    with h5py.File(truth, "r") as f:
        ec = f["/expected_clipped"][...].astype(np.float64)
        ur, ir = f["/user_raw"][...], f["/item_raw"][...]
    uo, io = np.argsort(uraw), np.argsort(iraw)
    du = uo[np.searchsorted(uraw[uo], ur)]
    di = io[np.searchsorted(iraw[io], ir)]
    nu = len(uraw)
    key = du.astype(np.int64) * len(iraw) + di
    tkey = tu.numpy() * len(iraw) + ti.numpy()
    order = np.argsort(key)
    pos = order[np.searchsorted(key[order], tkey)]
    assert np.array_equal(key[pos], tkey), "test pairs missing from truth.h5"
    assert nu == int(tu.max()) + 1 or nu > int(tu.max())
    truth = np.clip((ec[pos] - lo) / (hi - lo), 0.0, 1.0)
    return tu, ti, ty.numpy().astype(np.float64), truth


def log_filter(shards, tu, ti, ty, lo):
    """The train pairs with lo <= wr < norm_max (value < 1), their values as log(wr)."""
    with h5py.File(shards, "r") as f:
        nmin, nmax = float(f.attrs["norm_min"]), float(f.attrs["norm_max"])
    wr = nmin + ty.double() * (nmax - nmin)
    keep = (ty < 1.0) & (wr >= lo) & (wr < nmax) & (wr > 0.0)
    print("log target: %d of %d train pairs with %g <= watch_ratio < %g"
          % (int(keep.sum()), len(ty), lo, nmax), file=sys.stderr, flush=True)
    return tu[keep], ti[keep], torch.log(wr[keep]).float()


def row_counts(nu, ni, tu, ti, us, its):
    """n_r of every id row and feature-table row: training pairs whose forward reads it."""
    n_u = np.bincount(tu.numpy(), minlength=nu).astype(np.float64)
    n_i = np.bincount(ti.numpy(), minlength=ni).astype(np.float64)
    out = {"user_id": n_u, "item_id": n_i}
    for name, side, n_e in (("user", us, n_u), ("item", its, n_i)):
        if side["cat"] is not None:
            cat = side["cat"].numpy()
            for j, card in enumerate(side["card"]):
                out["%s_cat%d" % (name, j)] = np.bincount(cat[:, j], n_e, minlength=card)
        if side["tags"] is not None:
            tags = side["tags"].numpy()
            rows = np.zeros(side["tag_rows"])
            for j in range(tags.shape[1]):
                col = tags[:, j]
                # a tag read twice by one item still counts once per pair
                dup = (tags[:, :j] == col[:, None]).any(axis=1) if j else np.zeros(len(col), bool)
                keep = (col > 0) & ~dup
                rows += np.bincount(col[keep], n_e[keep], minlength=side["tag_rows"])
            out[name + "_tags"] = rows
    return out


def penalty_weights(counts, n, batch, lam):
    """L / (N q_r) per row (0 for rows no training pair reads)."""
    q = 1.0 - np.power(1.0 - np.minimum(counts / n, 1.0), batch)
    w = np.where(q > 0, lam / (n * np.maximum(q, 1e-300)), 0.0)
    return torch.from_numpy(w.astype(np.float32))


def penalised_tables(model, a, counts, n):
    """(embedding table, per-row weight, function giving the rows a batch reads) triples."""
    out = []
    if a.row_l2 <= 0:
        return out
    for name, tw, key in (("user", model.user, "user_id"), ("item", model.item, "item_id")):
        if tw.idvec is not None:
            out.append((tw.idvec.weight, penalty_weights(counts[key], n, a.batch, a.row_l2),
                        lambda u, i, s=name: u if s == "user" else i))
        if not a.row_l2_features:
            continue
        side = tw.side
        k = 1 if tw.id_mlp else 0
        if tw.id_mlp:
            out.append((tw.embs[0].weight, penalty_weights(counts[key], n, a.batch, a.row_l2),
                        lambda u, i, s=name: u if s == "user" else i))
        if side["cat"] is not None:
            for j in range(side["cat"].shape[1]):
                w = penalty_weights(counts["%s_cat%d" % (name, j)], n, a.batch, a.row_l2)
                out.append((tw.embs[k + j].weight, w,
                            lambda u, i, s=name, j=j, c=side["cat"]:
                            c[u if s == "user" else i, j]))
        if tw.bag is not None:
            w = penalty_weights(counts[name + "_tags"], n, a.batch, a.row_l2)
            out.append((tw.bag.weight, w,
                        lambda u, i, s=name, t=side["tags"]: t[u if s == "user" else i].reshape(-1)))
    return out


def predict(model, nu, ni, u, i):
    with torch.no_grad():
        su, si = model.score(model.user(torch.arange(nu)), model.item(torch.arange(ni)))
        out = np.empty(len(u))
        for s in range(0, len(u), 1 << 20):
            uu, ii = u[s:s + (1 << 20)], i[s:s + (1 << 20)]
            p = model.link((su[uu] * si[ii]).sum(1), model.user.row_bias(uu),
                           model.item.row_bias(ii)).clamp(0, 1)
            out[s:s + len(uu)] = p.double().numpy()
        return out


def interaction(model, nu, ni, u, i):
    """exp(b_u + b_i) (u . v) of every pair (u, i): the log target's interaction."""
    with torch.no_grad():
        su, si = model.score(model.user(torch.arange(nu)), model.item(torch.arange(ni)))
        bu, bi = model.user.bias.weight[:, 0].double(), model.item.bias.weight[:, 0].double()
        out = np.empty(len(u))
        for s in range(0, len(u), 1 << 20):
            uu, ii = u[s:s + (1 << 20)], i[s:s + (1 << 20)]
            out[s:s + len(uu)] = (torch.exp(bu[uu] + bi[ii])
                                  * (su[uu] * si[ii]).sum(1).double()).numpy()
        return out


def calibrated(model, nu, ni, u, i, base, y=None, gamma=None):
    """clamp01(c + c_u + c_i + gamma g) and gamma, fitted on (u, i, y) when gamma is None."""
    mu, b_u, b_i = base
    g = interaction(model, nu, ni, u, i)
    p0 = mu + b_u[u.numpy()] + b_i[i.numpy()]
    if gamma is None:
        gr, gg = float(np.sum(g * (y - p0))), float(np.sum(g * g))
        gamma = gr / gg if gr > 0 and gg > 0 else 0.0
    return np.clip(p0 + gamma * g, 0.0, 1.0), gamma


def evaluate(model, nu, ni, valid, test, base):
    """Predictions on the validation and test pairs and the gain (1: clipped target)."""
    if base is None:
        return predict(model, nu, ni, *valid[:2]), predict(model, nu, ni, *test[:2]), 1.0
    pv, gamma = calibrated(model, nu, ni, valid[0], valid[1], base, valid[2].numpy())
    px, _ = calibrated(model, nu, ni, test[0], test[1], base, gamma=gamma)
    return pv, px, gamma


def score_file(a):
    """Gap share of an rp-twotower output on the test split (its /score dot form)."""
    with h5py.File(a.shards, "r") as f:
        nu, ni = int(f.attrs["n_users"]), int(f.attrs["n_items"])
        tu, ti, ty = read_split(f, "/train")
    xu, xi, xy, truth = read_test(a.shards, a.truth)
    mu, b_u, b_i = bias_model(nu, ni, tu, ti, ty, a.bias_reg)
    mse_bias = float(np.mean((np.clip(mu + b_u[xu.numpy()] + b_i[xi.numpy()], 0, 1) - xy) ** 2))
    mse_truth = float(np.mean((truth - xy) ** 2))
    z, at = score(a.score, xu.numpy(), xi.numpy())
    valid = float(at["valid_rmse"])
    mse = float(np.mean((z - xy) ** 2))
    print(json.dumps({"file": a.score, "valid_rmse": valid, "test_rmse": mse ** 0.5,
                      "gap_share": (mse_bias - mse) / (mse_bias - mse_truth)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", required=True)
    ap.add_argument("--features")
    ap.add_argument("--score", help="score this twotower.h5 on the test split and exit")
    ap.add_argument("--truth", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--dim", type=int, default=8)
    ap.add_argument("--emb-dim", type=int, default=8)
    ap.add_argument("--hidden", default="")
    ap.add_argument("--head", default="dot", choices=["dot", "sigmoid", "cosine"])
    ap.add_argument("--id-path", default="add", choices=["add", "mlp"])
    ap.add_argument("--bias", type=int, default=1)
    ap.add_argument("--bias-init", type=int, default=1)
    ap.add_argument("--bias-reg", type=float, default=10.0)
    ap.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--lr-final", type=float, default=0.05)
    ap.add_argument("--row-l2", type=float, default=0.0)
    ap.add_argument("--row-l2-features", type=int, default=0)
    ap.add_argument("--target", default="clipped", choices=["clipped", "log"],
                    help="log: fit log(watch ratio), calibrated on validation (see above)")
    ap.add_argument("--log-min", type=float, default=0.4,
                    help="log target: the smallest watch ratio kept")
    ap.add_argument("--early-stop", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    if a.target == "log" and (a.head != "dot" or not a.bias):
        ap.error("--target log needs --head dot and --bias 1")
    if a.score:
        return score_file(a)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with h5py.File(a.shards, "r") as f:
        nu, ni = int(f.attrs["n_users"]), int(f.attrs["n_items"])
        tu, ti, ty = read_split(f, "/train")
        vu, vi, vy = read_split(f, "/valid")
    with h5py.File(a.features, "r") as f:
        us, its = read_side(f, "/user"), read_side(f, "/item")
    xu, xi, xy, truth = read_test(a.shards, a.truth)
    mu, b_u, b_i = bias_model(nu, ni, tu, ti, ty, a.bias_reg)
    base = None
    if a.target == "log":
        base = (mu, b_u, b_i)
        tu, ti, ty = log_filter(a.shards, tu, ti, ty, a.log_min)
    a.mean = float(ty.double().mean())
    model = TwoTower(nu, ni, us, its, a)
    if base is not None:
        with torch.no_grad():
            model.head[1] = a.mean     # TwoTower and rp-twotower clamp it to [1e-3, 1 - 1e-3]
    elif a.bias and a.bias_init:
        with torch.no_grad():
            model.user.bias.weight[:, 0] = torch.from_numpy(b_u.astype(np.float32))
            model.item.bias.weight[:, 0] = torch.from_numpy(b_i.astype(np.float32))
            model.head[1] = float(mu)
    bias_test = np.clip(mu + b_u[xu.numpy()] + b_i[xi.numpy()], 0, 1)
    mse_bias = float(np.mean((bias_test - xy) ** 2))
    mse_truth = float(np.mean((truth - xy) ** 2))
    bias_valid = np.clip(mu + b_u[vu.numpy()] + b_i[vi.numpy()], 0, 1)
    bias_valid_rmse = float(np.sqrt(np.mean((bias_valid - vy.numpy()) ** 2)))
    print("bias test rmse %.4f truth test rmse %.4f bias valid rmse %.5f"
          % (mse_bias ** 0.5, mse_truth ** 0.5, bias_valid_rmse), file=sys.stderr, flush=True)

    n = len(ty)
    counts = row_counts(nu, ni, tu, ti, us, its)
    pens = penalised_tables(model, a, counts, n)
    is_sparse = lambda nm: any(k in nm for k in (".embs.", ".bag.", ".idvec.", ".bias."))
    sparse = [p for nm, p in model.named_parameters() if is_sparse(nm)]
    dense = [p for nm, p in model.named_parameters() if not is_sparse(nm)]
    opt_d = torch.optim.Adam(dense, lr=a.lr)
    opt_s = torch.optim.SparseAdam(sparse, lr=a.lr)
    hist, best, best_state, bad, train_s, t = [], None, None, 0, 0.0, 0
    total = (n + a.batch - 1) // a.batch * a.epochs
    for ep in range(a.epochs):
        perm = torch.randperm(n)
        t0 = time.time()
        for s in range(0, n, a.batch):
            idx = perm[s:s + a.batch]
            t += 1
            for o in (opt_d, opt_s):
                for g in o.param_groups:
                    g["lr"] = lr_at(a, t, total)
            bu, bi = tu[idx], ti[idx]
            pred = model(bu, bi)
            loss = (pred - ty[idx]).pow(2).mean()
            for table, w, rows_of in pens:
                r = torch.unique(rows_of(bu, bi))
                rows = torch.nn.functional.embedding(r, table, sparse=True)  # sparse grad
                loss = loss + 0.5 * (w[r] * rows.pow(2).sum(1)).sum()
            opt_d.zero_grad(set_to_none=True)
            opt_s.zero_grad(set_to_none=True)
            loss.backward()
            if model.kind == "dot":
                model.head.grad[0] = 0.0
            opt_d.step()
            opt_s.step()
        dt = time.time() - t0
        train_s += dt
        pv, px, gamma = evaluate(model, nu, ni, (vu, vi, vy), (xu, xi), base)
        rmse = float(np.sqrt(np.mean((pv - vy.numpy()) ** 2)))
        mse = float(np.mean((px - xy) ** 2))
        share = (mse_bias - mse) / (mse_bias - mse_truth)
        hist.append({"epoch": ep + 1, "seconds": round(dt, 1), "valid_rmse": rmse,
                     "gamma": gamma, "test_rmse": mse ** 0.5, "gap_share": share})
        print(json.dumps(hist[-1]), file=sys.stderr, flush=True)
        if best is None or rmse < best["valid_rmse"]:
            best, bad = hist[-1], 0
        else:
            bad += 1
            if a.early_stop and bad >= a.early_stop:
                break
    print(json.dumps({"args": {k: v for k, v in vars(a).items() if k != "mean"},
                      "bias_valid_rmse": bias_valid_rmse, "bias_test_rmse": mse_bias ** 0.5,
                      "truth_test_rmse": mse_truth ** 0.5, "best": best,
                      "samples_per_s": n * len(hist) / train_s, "history": hist}), flush=True)


if __name__ == "__main__":
    main()
