#!/usr/bin/python3
"""twotower_torch.py - the rp-twotower architecture in PyTorch, for bench/bench-twotower.sh only.

Same inputs (shards.h5 /train, /valid; features.h5), same model: user tower = embeddings of
every categorical column + standardised numerics -> MLP (ReLU) -> D, plus the user's id vector
(--id-path add, the default) or with the id embedding as one more MLP input (--id-path mlp);
video tower = categoricals, mean-pooled tag bag, numerics, id likewise; per-user and per-video
biases (--bias 1); head u.v+c+b_u+b_i (dot), sigmoid(a*u.v+c+b_u+b_i) or a*cos(u,v)+c+b_u+b_i;
MSE; Adam on dense weights, SparseAdam on embeddings, id vectors and biases (lazy, like
rp-twotower); the learning-rate schedule of rp-twotower (linear warm-up, cosine decay to
lr*lr_final over all epochs, per step); Glorot-normal weights, uniform(-0.05, 0.05) embeddings
and id vectors, zero biases; batch B, reshuffled each epoch. No weight decay (SparseAdam has
none): compare with rp-twotower --weight-decay 0 --emb-weight-decay 0.
Prints one JSON line with samples/s, seconds per epoch and validation MAE/RMSE per epoch.
"""
import argparse
import json
import math
import resource
import time

import h5py
import numpy as np
import torch
import torch.nn as nn


def read_split(f, name):
    off = f[name + "/by_user/offsets"][...]
    item = f[name + "/by_user/item"][...].astype(np.int64)
    value = f[name + "/by_user/value"][...].astype(np.float32)
    user = np.repeat(np.arange(len(off) - 1, dtype=np.int64), np.diff(off))
    return torch.from_numpy(user), torch.from_numpy(item), torch.from_numpy(value)


def read_side(f, side):
    out = {"cat": None, "card": [], "num": None, "tags": None, "tag_rows": 0}
    if side + "/cat" in f and f[side + "/cat"].shape[1] > 0:
        out["cat"] = torch.from_numpy(f[side + "/cat"][...].astype(np.int64))
        out["card"] = [int(c) for c in f[side + "/cat_cardinality"][...]]
    if side + "/num" in f and f[side + "/num"].shape[1] > 0:
        num = f[side + "/num"][...].astype(np.float64)
        mean = num.mean(axis=0)
        var = (num * num).mean(axis=0) - mean * mean
        sd = np.where(var > 1e-12, np.sqrt(np.maximum(var, 1e-300)), 1.0)
        out["num"] = torch.from_numpy(((num - mean) / sd).astype(np.float32))
    if side == "/item" and "/item/tags" in f and f["/item/tags"].shape[1] > 0:
        out["tags"] = torch.from_numpy(f["/item/tags"][...].astype(np.int64))
        out["tag_rows"] = int(f["/item/tags"].attrs["cardinality"]) + 1
    return out


class Tower(nn.Module):
    def __init__(self, n, side, E, hidden, D, id_path, bias):
        super().__init__()
        self.side = side
        self.id_mlp = id_path == "mlp"
        tables = ([n] if self.id_mlp else []) + side["card"]
        self.embs = nn.ModuleList(nn.Embedding(c, E, sparse=True) for c in tables)
        self.bag = None
        if side["tags"] is not None:
            self.bag = nn.EmbeddingBag(side["tag_rows"], E, mode="mean", sparse=True,
                                       padding_idx=0)
        nnum = 0 if side["num"] is None else side["num"].shape[1]
        width = (len(tables) + (self.bag is not None)) * E + nnum
        layers = []
        for h in hidden + [D]:
            lin = nn.Linear(width, h)
            nn.init.xavier_normal_(lin.weight)
            nn.init.zeros_(lin.bias)
            layers += [lin, nn.ReLU()]
            width = h
        self.mlp = nn.Sequential(*layers[:-1])
        for e in list(self.embs) + ([self.bag] if self.bag is not None else []):
            nn.init.uniform_(e.weight, -0.05, 0.05)
        self.idvec = None if self.id_mlp else nn.Embedding(n, D, sparse=True)
        if self.idvec is not None:
            nn.init.uniform_(self.idvec.weight, -0.05, 0.05)
        self.bias = nn.Embedding(n, 1, sparse=True) if bias else None
        if self.bias is not None:
            nn.init.zeros_(self.bias.weight)

    def forward(self, rows):
        parts = []
        k = 0
        if self.id_mlp:
            parts.append(self.embs[0](rows))
            k = 1
        if self.side["cat"] is not None:
            cat = self.side["cat"][rows]
            for j in range(cat.shape[1]):
                parts.append(self.embs[k + j](cat[:, j]))
        if self.bag is not None:
            bag = self.bag(self.side["tags"][rows])
            parts.append(bag)
        if self.side["num"] is not None:
            parts.append(self.side["num"][rows])
        out = self.mlp(torch.cat(parts, dim=1))
        if self.idvec is not None:
            out = out + self.idvec(rows)
        return out

    def row_bias(self, rows):
        return 0.0 if self.bias is None else self.bias(rows)[:, 0]


class TwoTower(nn.Module):
    def __init__(self, nu, ni, us, its, a):
        super().__init__()
        hidden = [int(h) for h in a.hidden.split(",") if h]
        self.user = Tower(nu, us, a.emb_dim, hidden, a.dim, a.id_path, a.bias)
        self.item = Tower(ni, its, a.emb_dim, hidden, a.dim, a.id_path, a.bias)
        self.kind = a.head
        mu = min(max(a.mean, 1e-3), 1 - 1e-3)
        init = {"cosine": [0.25, mu], "sigmoid": [1.0, math.log(mu / (1 - mu))],
                "dot": [1.0, mu]}[a.head]
        self.head = nn.Parameter(torch.tensor(init))
        self.head.requires_grad_(True)

    def score(self, u, v):
        if self.kind == "cosine":
            u = u / torch.sqrt((u * u).sum(1, keepdim=True) + 1e-8)
            v = v / torch.sqrt((v * v).sum(1, keepdim=True) + 1e-8)
        return u, v

    def link(self, s, bu, bi):
        # the dot head's scale is fixed at 1 (rp-twotower does not learn it)
        a = 1.0 if self.kind == "dot" else self.head[0]
        z = a * s + self.head[1] + bu + bi
        return torch.sigmoid(z) if self.kind == "sigmoid" else z

    def forward(self, users, items):
        u, v = self.score(self.user(users), self.item(items))
        return self.link((u * v).sum(1), self.user.row_bias(users), self.item.row_bias(items))


def evaluate(model, nu, ni, vu, vi, vy):
    with torch.no_grad():
        su, si = model.score(model.user(torch.arange(nu)), model.item(torch.arange(ni)))
        p = model.link((su[vu] * si[vi]).sum(1), model.user.row_bias(vu),
                       model.item.row_bias(vi)).clamp(0, 1)
        r = (p - vy).double()
        return float(r.pow(2).mean().sqrt()), float(r.abs().mean())


def lr_at(a, t, total):
    """rp-twotower's twotower_lr_at: step t (1-based) of total."""
    if a.schedule == "constant":
        return a.lr
    if t <= a.warmup:
        return a.lr * t / (a.warmup + 1)
    span = total - a.warmup
    x = min(1.0, (t - a.warmup) / span) if span > 0 else 1.0
    lo = a.lr * a.lr_final
    return lo + 0.5 * (a.lr - lo) * (1 + math.cos(math.pi * x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--emb-dim", type=int, default=8)
    ap.add_argument("--hidden", default="")
    ap.add_argument("--head", default="dot", choices=["dot", "sigmoid", "cosine"])
    ap.add_argument("--id-path", default="add", choices=["add", "mlp"])
    ap.add_argument("--bias", type=int, default=1)
    ap.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--lr-final", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with h5py.File(a.shards, "r") as f:
        nu, ni = int(f.attrs["n_users"]), int(f.attrs["n_items"])
        tu, ti, ty = read_split(f, "/train")
        vu, vi, vy = read_split(f, "/valid")
    with h5py.File(a.features, "r") as f:
        us, its = read_side(f, "/user"), read_side(f, "/item")
    a.mean = float(ty.double().mean())
    model = TwoTower(nu, ni, us, its, a)
    is_sparse = lambda n: any(k in n for k in (".embs.", ".bag.", ".idvec.", ".bias."))
    sparse = [p for n, p in model.named_parameters() if is_sparse(n)]
    dense = [p for n, p in model.named_parameters() if not is_sparse(n)]
    opt_d = torch.optim.Adam(dense, lr=a.lr)
    opt_s = torch.optim.SparseAdam(sparse, lr=a.lr)
    n = len(ty)
    hist = []
    train_s = 0.0
    total = (n + a.batch - 1) // a.batch * a.epochs
    t = 0
    for ep in range(a.epochs):
        perm = torch.randperm(n)
        t0 = time.time()
        for s in range(0, n, a.batch):
            idx = perm[s:s + a.batch]
            t += 1
            for o in (opt_d, opt_s):
                for g in o.param_groups:
                    g["lr"] = lr_at(a, t, total)
            pred = model(tu[idx], ti[idx])
            loss = (pred - ty[idx]).pow(2).mean()
            opt_d.zero_grad(set_to_none=True)
            opt_s.zero_grad(set_to_none=True)
            loss.backward()
            if model.kind == "dot":
                model.head.grad[0] = 0.0
            opt_d.step()
            opt_s.step()
        dt = time.time() - t0
        train_s += dt
        rmse, mae = evaluate(model, nu, ni, vu, vi, vy)
        hist.append({"epoch": ep + 1, "seconds": dt, "valid_rmse": rmse, "valid_mae": mae})
    print(json.dumps({"threads": a.threads, "train": n, "samples_per_s": n * a.epochs / train_s,
                      "seconds_per_epoch": train_s / a.epochs,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "history": hist}))


if __name__ == "__main__":
    main()
