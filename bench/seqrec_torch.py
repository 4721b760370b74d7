#!/usr/bin/python3
"""seqrec_torch.py - rp-seqrec's transformer in PyTorch, for tests and bench/bench-seqrec.sh.

  check --shards S --features F --model seqrec.h5
      Rebuild the model from seqrec.h5's /weights, run it (evaluation mode) on every user's last
      window of history (train then valid views) and compare with /final_state; when the model
      did not fall back to the bias model, also recompute the time-aware test predictions and
      compare with /test_pred. Exit 0 when they agree within --tol, 1 otherwise.
  train --shards S --features F [--epochs N ...]
      Train the same architecture (same windows per user, MSE, Adam) and print one JSON line
      with samples (predicted positions) per second and seconds per epoch.

Model (docs/stages/seqrec.md): x_t = content(item_t) + pos_t + bucket(value_t), content(i) =
item_i + author_{a(i)} + mean of the tag rows of i; pre-LayerNorm blocks: x += drop(MHA(LN1 x)),
x += drop(FFN(LN2 x)) with causal attention and ReLU; o = LNf(x) + user_u (/weights/user, when
written); the prediction of the next view
j is o_t . content(j) + user_bias + item_bias_j + mu.
"""
import argparse
import json
import math
import resource
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn


def read_inputs(shards, features, buckets):
    with h5py.File(shards, "r") as f:
        def split(name):
            return (f[name + "/by_user/offsets"][...], f[name + "/by_user/item"][...],
                    f[name + "/by_user/value"][...], f[name + "/by_user/timestamp"][...])
        tr, va, te = split("train"), split("valid"), split("test")
        n_items = int(f.attrs["n_items"])
    U = len(tr[0]) - 1
    hist = []
    for u in range(U):
        parts = [(s[1][s[0][u]:s[0][u + 1]], s[2][s[0][u]:s[0][u + 1]], s[3][s[0][u]:s[0][u + 1]])
                 for s in (tr, va)]
        items = np.concatenate([p[0] for p in parts]).astype(np.int64)
        vals = np.concatenate([p[1] for p in parts]).astype(np.float32)
        times = np.concatenate([p[2] for p in parts])
        ntrain = int(tr[0][u + 1] - tr[0][u])
        hist.append((items, vals, times, ntrain))
    side = {"author": None, "n_authors": 0, "tags": None, "tag_rows": 0}
    with h5py.File(features, "r") as f:
        if "item/cat" in f and "columns" in f["item/cat"].attrs:
            cols = [c.decode() if isinstance(c, bytes) else c for c in f["item/cat"].attrs["columns"]]
            for name in ("author_id", "author"):
                if name in cols:
                    j = cols.index(name)
                    side["author"] = torch.from_numpy(f["item/cat"][:, j].astype(np.int64))
                    side["n_authors"] = int(f["item/cat_cardinality"][j])
                    break
        if "item/tags" in f and f["item/tags"].shape[1] > 0:
            side["tags"] = torch.from_numpy(f["item/tags"][...].astype(np.int64))
            side["tag_rows"] = int(f["item/tags"].attrs["cardinality"]) + 1
    mu = float(np.mean(tr[2].astype(np.float64))) if len(tr[2]) else 0.0
    return hist, te, n_items, side, mu


def bucket_of(v, nb):
    return np.clip((v.astype(np.float32) * np.float32(nb)).astype(np.int64), 0, nb - 1)


class SeqRec(nn.Module):
    def __init__(self, U, I, side, d, heads, blocks, ffn, T, nb, dropout):
        super().__init__()
        self.d, self.H, self.T, self.side = d, heads, T, side
        self.item = nn.Embedding(I, d)
        self.author = nn.Embedding(side["n_authors"], d) if side["author"] is not None else None
        self.tag = nn.Embedding(side["tag_rows"], d) if side["tags"] is not None else None
        self.bucket = nn.Embedding(nb, d)
        self.pos = nn.Embedding(T, d)
        self.ub = nn.Parameter(torch.zeros(U))
        self.ib = nn.Parameter(torch.zeros(I))
        self.blocks = nn.ModuleList()
        for _ in range(blocks):
            self.blocks.append(nn.ModuleDict({
                "ln1": nn.LayerNorm(d), "qkv": nn.Linear(d, 3 * d), "wo": nn.Linear(d, d),
                "ln2": nn.LayerNorm(d), "w1": nn.Linear(d, ffn), "w2": nn.Linear(ffn, d)}))
        self.lnf = nn.LayerNorm(d)
        self.user = nn.Embedding(U, d)  # per-user vector added to every state (--user-vec)
        nn.init.uniform_(self.user.weight, -0.05, 0.05)  # as rp-seqrec's embeddings
        self.drop = nn.Dropout(dropout)
        self.mu = 0.0

    def content(self, items):
        v = self.item(items)
        if self.author is not None:
            v = v + self.author(self.side["author"][items])
        if self.tag is not None:
            t = self.side["tags"][items]
            mask = (t > 0).to(v.dtype).unsqueeze(-1)
            n = mask.sum(dim=-2).clamp(min=1.0)
            v = v + (self.tag(t) * mask).sum(dim=-2) / n
        return v

    def attention(self, blk, a):
        B, L, d = a.shape
        H, dh = self.H, d // self.H
        q, k, v = blk["qkv"](a).split(d, dim=-1)
        q = q.view(B, L, H, dh).transpose(1, 2)
        k = k.view(B, L, H, dh).transpose(1, 2)
        v = v.view(B, L, H, dh).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(dh)
        causal = torch.ones(L, L, dtype=torch.bool).triu(1)
        p = torch.softmax(s.masked_fill(causal, float("-inf")), dim=-1)
        return blk["wo"]((p @ v).transpose(1, 2).reshape(B, L, d))

    def forward(self, items, buckets, users=None):
        L = items.shape[1]
        x = self.content(items) + self.pos.weight[:L].unsqueeze(0) + self.bucket(buckets)
        x = self.drop(x)
        for blk in self.blocks:
            x = x + self.drop(self.attention(blk, blk["ln1"](x)))
            x = x + self.drop(blk["w2"](torch.relu(blk["w1"](blk["ln2"](x)))))
        o = self.lnf(x)
        return o if users is None else o + self.user(users)

    def predict(self, o, users, targets):
        return (o * self.content(targets)).sum(-1) + self.ub[users] + self.ib[targets] + self.mu


def load_weights(model, f):
    w = f["weights"]
    t = lambda name: torch.from_numpy(w[name][...].astype(np.float32))
    with torch.no_grad():
        model.item.weight.copy_(t("item"))
        if model.author is not None:
            model.author.weight.copy_(t("author"))
        if model.tag is not None:
            model.tag.weight.copy_(t("tag"))
        model.bucket.weight.copy_(t("bucket"))
        model.pos.weight.copy_(t("position"))
        model.ub.copy_(t("user_bias"))
        model.ib.copy_(t("item_bias"))
        for b, blk in enumerate(model.blocks):
            g = lambda n: t("block%d/%s" % (b, n))
            blk["ln1"].weight.copy_(g("ln1_g")); blk["ln1"].bias.copy_(g("ln1_b"))
            blk["ln2"].weight.copy_(g("ln2_g")); blk["ln2"].bias.copy_(g("ln2_b"))
            blk["qkv"].weight.copy_(g("wqkv").T); blk["qkv"].bias.copy_(g("bqkv"))
            blk["wo"].weight.copy_(g("wo").T); blk["wo"].bias.copy_(g("bo"))
            blk["w1"].weight.copy_(g("w1").T); blk["w1"].bias.copy_(g("b1"))
            blk["w2"].weight.copy_(g("w2").T); blk["w2"].bias.copy_(g("b2"))
        model.lnf.weight.copy_(t("lnf_g")); model.lnf.bias.copy_(t("lnf_b"))
        if "user" in w:
            model.user.weight.copy_(t("user"))
        else:
            model.user.weight.zero_()
    model.mu = float(w.attrs["mu"])


def state_window(j, n, T):
    """rp-seqrec's canonical window for the state after view j (seqrec_state_window)."""
    S = max(T // 2, 1)
    if j >= n - 1:
        s = max(n - T, 0)
    else:
        s = 0 if j < T else ((j - T) // S + 1) * S
    return s, min(T, n - s)


def run_window(model, items, vals, nb, s, L, u):
    it = torch.from_numpy(items[s:s + L]).unsqueeze(0)
    bk = torch.from_numpy(bucket_of(vals[s:s + L], nb)).unsqueeze(0)
    return model(it, bk, torch.full((1, L), u, dtype=torch.int64))[0]


def check(a):
    with h5py.File(a.model, "r") as f:
        w = f["weights"].attrs
        d, H, B, F, T, nb = (int(w[k]) for k in ("dim", "heads", "blocks", "ffn", "window",
                                                  "buckets"))
        final = f["final_state"][...]
        test_pred = f["test_pred"][...]
        fb = f.attrs["fallback"]
        fallback = (fb.decode() if isinstance(fb, bytes) else str(fb)) != ""
        hist, te, I, side, _ = read_inputs(a.shards, a.features, nb)
        model = SeqRec(len(hist), I, side, d, H, B, F, T, nb, 0.0)
        load_weights(model, f)
    model.eval()
    worst, worst_pred, npred = 0.0, 0.0, 0
    with torch.no_grad():
        for u, (items, vals, times, _) in enumerate(hist):
            n = len(items)
            if n == 0:
                worst = max(worst, float(np.abs(final[u] - model.user.weight[u].numpy()).max()))
                continue
            s, L = state_window(n - 1, n, T)
            o = run_window(model, items, vals, nb, s, L, u)[n - 1 - s].numpy()
            worst = max(worst, float(np.abs(o - final[u]).max()))
        if not fallback:
            off, titem, _, ttime = te
            for u in range(0, len(hist), max(1, len(hist) // a.users)):
                items, vals, times, _ = hist[u]
                n = len(items)
                for r in range(off[u], off[u + 1]):
                    k = n if np.isnan(ttime[r]) else int(np.sum(~np.isnan(times) & (times < ttime[r])))
                    if k == 0:
                        o = model.user.weight[u].clone()
                    else:
                        s, L = state_window(k - 1, n, T)
                        o = run_window(model, items, vals, nb, s, L, u)[k - 1 - s]
                    p = model.predict(o.unsqueeze(0), torch.tensor([u]),
                                      torch.tensor([int(titem[r])]))
                    p = float(p.clamp(0, 1))
                    worst_pred = max(worst_pred, abs(p - float(test_pred[r])))
                    npred += 1
    ok = worst <= a.tol and worst_pred <= a.tol
    print(json.dumps({"ok": ok, "users": len(hist), "max_abs_diff_final_state": worst,
                      "test_pairs_checked": npred, "max_abs_diff_test_pred": worst_pred,
                      "fallback": fallback}))
    return 0 if ok else 1


def train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    hist, _, I, side, mu = read_inputs(a.shards, a.features, a.buckets)
    U = len(hist)
    model = SeqRec(U, I, side, a.dim, a.heads, a.blocks, a.ffn, a.window, a.buckets, a.dropout)
    model.mu = mu
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    rng = np.random.default_rng(a.seed)
    users = [u for u in range(U) if hist[u][3] >= 2]
    T = a.window
    out = {"epochs": [], "threads": a.threads}
    total_samples, total_time = 0, 0.0
    for ep in range(a.epochs):
        wins = []
        for u in users:
            items, vals, _, nt = hist[u]
            L = min(T, nt - 1)
            for _ in range(a.windows_per_user):
                s = int(rng.integers(0, nt - L))
                wins.append((u, s, L))
        rng.shuffle(wins)
        model.train()
        t0 = time.time()
        samples = 0
        for b0 in range(0, len(wins), a.batch):
            batch = wins[b0:b0 + a.batch]
            n = len(batch)
            it = np.zeros((n, T), np.int64)
            bk = np.zeros((n, T), np.int64)
            tg = np.zeros((n, T), np.int64)
            y = np.zeros((n, T), np.float32)
            m = np.zeros((n, T), np.float32)
            us = np.zeros((n, 1), np.int64)
            for k, (u, s, L) in enumerate(batch):
                items, vals, _, _ = hist[u]
                it[k, :L] = items[s:s + L]
                bk[k, :L] = bucket_of(vals[s:s + L], a.buckets)
                tg[k, :L] = items[s + 1:s + L + 1]
                y[k, :L] = vals[s + 1:s + L + 1]
                m[k, :L] = 1.0
                us[k, 0] = u
            it, bk, tg, y, m, us = map(torch.from_numpy, (it, bk, tg, y, m, us))
            o = model(it, bk, us.expand(-1, T))
            p = model.predict(o, us.expand(-1, T), tg)
            loss = (((p - y) ** 2) * m).sum() / m.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            samples += int(m.sum())
        dt = time.time() - t0
        total_samples += samples
        total_time += dt
        out["epochs"].append({"seconds": dt, "samples": samples, "loss": float(loss)})
    out["samples_per_s"] = total_samples / total_time if total_time > 0 else 0.0
    out["seconds_per_epoch"] = total_time / max(1, a.epochs)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--shards", required=True)
    c.add_argument("--features", required=True)
    c.add_argument("--model", required=True)
    c.add_argument("--tol", type=float, default=1e-4)
    c.add_argument("--users", type=int, default=50, help="users whose test pairs are checked")
    t = sub.add_parser("train")
    t.add_argument("--shards", required=True)
    t.add_argument("--features", required=True)
    for name, typ, dflt in (("epochs", int, 1), ("batch", int, 32), ("dim", int, 32),
                            ("heads", int, 2), ("blocks", int, 2), ("ffn", int, 64),
                            ("window", int, 64), ("buckets", int, 16), ("dropout", float, 0.0),
                            ("lr", float, 2e-3), ("windows-per-user", int, 2),
                            ("threads", int, 1), ("seed", int, 42)):
        t.add_argument("--" + name, type=typ, default=dflt)
    a = ap.parse_args()
    return check(a) if a.cmd == "check" else train(a)


if __name__ == "__main__":
    sys.exit(main())
