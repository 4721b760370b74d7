#!/usr/bin/env python3
"""scale_model.py - the projection of docs/SCALING.md: time and memory per rank of each stage at
100x and 1000x KuaiRec's interactions on N Slurm nodes, from the rates measured by
`make bench-scale` and the message sizes derived from the code (docs/SCALING.md explains each
term). Usage: bench/scale_model.py SCALE.md [SCALE.md ...] [--cores 32] [--node-gb 256]
[--net-gbs 12.5] [--lat-us 2] [--fs-gbs 10] [--h5-gbs 2]

Each SCALE.md is a table written by bench-scale.sh; the per-unit costs are taken from the
largest scale whose summary line is present (a later file wins on a tie). Costs are CPU
seconds summed over the ranks (the `CPU s` columns), divided by the stage's unit of work, so
a rank's time on P ranks is cost x work / P (perfect balance assumed: the projections are lower
bounds of compute, stated with the communication and I/O floors added on top)."""
import argparse
import math
import re
import sys

# KuaiRec's size (rp-synth --scale 1, the default run: shards.h5 attributes, file sizes).
ONE = dict(users=7176, items=10728, train=9253019, valid=1028503, test=4676682,
           csv_gb=1.319, h5_gb=0.419, rows=9253019 / 0.72)  # rows: big+small CSV rows ~17.2M


def sizes(x):
    """Data at x times the interactions: rp-synth scales users and videos by sqrt(x)."""
    r = math.sqrt(x)
    d = {k: v * x for k, v in ONE.items()}
    d["users"], d["items"] = ONE["users"] * r, ONE["items"] * r
    return d


def fields(line):
    """name=value fields of a summary line."""
    return dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)


def parse(paths):
    """stage -> figures at the largest scale any table has them for: x (interaction multiple of
    KuaiRec), cpu (CPU s of all ranks), mb (peak MB per rank), f (summary fields), np."""
    best = {}
    for path in paths:
        text = open(path).read()
        npm = re.search(r"np (\d+);", text)
        head = re.search(r"^\| stage \| s @([\d.]+) .*?\| s @([\d.]+) ", text, re.M)
        if not npm or not head or "Summary lines:" not in text:
            sys.exit(f"scale_model: {path}: not a table of bench-scale.sh")
        np_ = int(npm.group(1))
        scales = (float(head.group(1)), float(head.group(2)))
        rows = {}
        for l in text.splitlines():
            if l.startswith("| rp-"):
                c = [v.strip() for v in l.strip().strip("|").split("|")]
                rows[c[0]] = c[1:]
        # one line per stage and scale, base block first (empty lines for missing stages)
        raw = text.split("Summary lines:", 1)[1].split("```")[1]
        block = raw[1:-1].split("\n")
        half = len(block) // 2
        for i, line in enumerate(block):
            if not line.startswith("rp-"):
                continue
            stage, big = line.split(":")[0], i >= half
            c = rows.get(stage)
            cpu, mb = (c[4], c[5]) if big else (c[1], c[2])
            if cpu in ("", "-"):
                continue
            e = dict(x=scales[big] ** 2, cpu=float(cpu), mb=float(mb), f=fields(line), np=np_)
            if stage not in best or e["x"] >= best[stage]["x"]:
                best[stage] = e
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tables", nargs="+")
    ap.add_argument("--cores", type=int, default=32, help="ranks per node [32]")
    ap.add_argument("--node-gb", type=float, default=256, help="memory per node, GB [256]")
    ap.add_argument("--net-gbs", type=float, default=12.5, help="network GB/s per node [12.5]")
    ap.add_argument("--lat-us", type=float, default=2.0, help="message latency, us [2]")
    ap.add_argument("--fs-gbs", type=float, default=10.0, help="parallel FS GB/s, aggregate [10]")
    ap.add_argument("--h5-gbs", type=float, default=2.0,
                    help="one shared HDF5 file, independent writes, GB/s [2]")
    ap.add_argument("--k", type=int, default=32, help="ALS rank [32]")
    ap.add_argument("--iters", type=int, default=10, help="ALS iterations [10]")
    a = ap.parse_args()
    meas = parse(a.tables)
    need = ["rp-synth", "rp-shard", "rp-als", "rp-twotower"]
    missing = [s for s in need if s not in meas]
    if missing:
        sys.exit("scale_model: no figures for " + ", ".join(missing))
    B, lat, k = a.net_gbs * 1e9, a.lat_us * 1e-6, a.k

    def cost(stage, unit):
        """CPU seconds (all ranks) per unit of work at the measured scale."""
        m = meas[stage]
        return m["cpu"] / unit(sizes(m["x"]))

    out = []
    for x in (100, 1000):
        d = sizes(x)
        out.append(f"\n### {x}x KuaiRec: {d['users']:,.0f} users x {d['items']:,.0f} videos, "
                   f"{d['train'] / 1e9:.2f}B train interactions, {d['csv_gb']:,.0f} GB of CSV\n")
        out.append("| stage | " + " | ".join(f"N={n}: s | N={n}: GB/rank" for n in (1, 8, 64))
                   + " | at N=1: bound by |")
        out.append("|---|" + "---:|---:|" * 3 + "---|")
        rows = {}
        for n in (1, 8, 64):
            P = n * a.cores
            inter = (n - 1) / n  # share of a node's traffic that leaves the node
            t = {}
            # synth: CPU per CSV GB; the CSV goes to the FS
            c = cost("rp-synth", lambda s: s["csv_gb"])
            t["rp-synth"] = (max(c * d["csv_gb"] / P, d["csv_gb"] / a.fs_gbs),
                             meas["rp-synth"]["mb"] / 1e3, "CSV writes" if c * d["csv_gb"] / P
                             < d["csv_gb"] / a.fs_gbs else "CPU (text formatting)")
            # shard: parse + all-to-all of 32 B rows by user + one shared shards.h5 file
            c = cost("rp-shard", lambda s: s["csv_gb"])
            comp = c * d["csv_gb"] / P
            a2a = 32 * d["rows"] / n * inter / B
            io = d["csv_gb"] / a.fs_gbs + d["h5_gb"] / a.h5_gbs
            m1 = meas["rp-shard"]
            mem = (25 + (m1["mb"] - 25) * m1["np"] * x / m1["x"] / P) / 1e3
            t["rp-shard"] = (comp + a2a + io, mem,
                             "shards.h5 write" if d["h5_gb"] / a.h5_gbs > comp else "CPU (parse)")
            # ALS: flops per sweep 2 T (k+2)(k+3) + (U+V)((k+1)^3/3 + 2 (k+1)^2); allgather of
            # (U+V)(k+1) doubles per sweep
            f = meas["rp-als"]["f"]
            mx = meas["rp-als"]["x"]
            rate = float(f["gflop_per_sweep"]) / (meas["rp-als"]["np"] * float(f["sweep_cpu_s_best"]))
            flops = (2 * d["train"] * (k + 2) * (k + 3)
                     + (d["users"] + d["items"]) * ((k + 1) ** 3 / 3 + 2 * (k + 1) ** 2)) / 1e9
            table = (d["users"] + d["items"]) * (k + 1) * 8
            sweep = flops / (P * rate) + table * inter / B + 2 * math.log2(max(P, 2)) * lat
            rest = (meas["rp-als"]["cpu"]
                    - meas["rp-als"]["np"] * float(f["sweeps"]) * float(f["sweep_cpu_s_best"]))
            rest = max(rest, 0) / sizes(mx)["train"] * d["train"] / P
            m1 = meas["rp-als"]
            mem = (30 + (m1["mb"] - 30) * m1["np"] * x / mx / P + 3 * table / 1e6) / 1e3
            t["rp-als"] = (a.iters * sweep + rest, mem,
                           f"CPU: {a.iters} sweeps of {sweep:.1f} s; the allgather of "
                           f"{table / 1e6:.0f} MB per sweep takes {table / B:.3f} s between nodes")
            # two-tower, 1 epoch: at most batch/micro-batch = 8 ranks compute; one sparse
            # allgatherv + one dense allreduce per step of 8192 interactions
            ft = meas["rp-twotower"]["f"]
            c = cost("rp-twotower", lambda s: s["train"])
            steps = d["train"] / 8192
            # at least one record per id-block row of the batch (2 user + 2 video rows per
            # interaction, 72 B each): what larger data converge to (2.15 MB measured at 1x)
            sparse = max(float(ft.get("sparse_bytes_per_step", 0) or 0), 8192 * 4 * 72)
            comm = steps * ((sparse * inter + 17448) / B + 4 * math.log2(max(P, 2)) * lat)
            comp = c * d["train"] / min(P, 8)
            # receive buffer of the sparse exchange: a rank's row capacity (40 rows per
            # interaction x micro-batch 1024 x its micro-batches, at most the table) x P x 72 B
            n_rows = 2 * (d["users"] + d["items"]) + 2000
            cap = min(n_rows, 40 * 1024 * math.ceil(8 / P))
            # 22 B per train interaction: measured growth 249 -> 2,114 MB per rank, 1x -> 10x
            # (the train split, 16 B, and the validation pairs)
            mem = (70 + 22 * d["train"] / 1e6 + cap * P * 72 / 1e6) / 1e3
            comm64 = steps * ((sparse + 17448) / B + 4 * math.log2(64 * a.cores) * lat)
            t["rp-twotower"] = (comp + comm, mem,
                                f"CPU on <= 8 ranks ({steps:,.0f} steps; between nodes "
                                f"+{comm64:.0f} s of exchange); train split on every rank")
            # seqrec, 1 epoch, from its summary line's phases (rank 0's clock): every split read
            # on every rank (read_seconds, grows with the views, not divided by P); training,
            # windows per user on <= 8 ranks (train_seconds); validation, calibration and
            # scoring partitioned over all P (the rest of fit_seconds, and score_seconds)
            if "rp-seqrec" in meas:
                m1, f = meas["rp-seqrec"], meas["rp-seqrec"]["f"]
                s1, npm = sizes(m1["x"]), m1["np"]
                read = float(f.get("read_seconds", 0) or 0) * x / m1["x"]
                tr = float(f.get("train_seconds", 0) or 0)
                rest = float(f.get("fit_seconds", 0) or 0) - tr + float(f.get("score_seconds", 0)
                                                                       or 0)
                train = tr * npm / s1["users"] * d["users"] / min(P, 8)
                mem = (55 + (m1["mb"] - 55) * x / m1["x"]) / 1e3
                t["rp-seqrec"] = (read + train + rest * npm * x / m1["x"] / P, mem,
                                  f"the read of every split on every rank ({read:,.0f} s); "
                                  "windows on <= 8 ranks")
            # hybrid: the validation pairs and their component inputs on every rank: measured
            # 138 MB (1x) and 1,071 MB (10x) per rank at np 2, i.e. ~34 MB + 104 MB x X
            if "rp-hybrid" in meas:
                c = cost("rp-hybrid", lambda s: s["valid"])
                mem = (34 + 104 * x) / 1e3
                t["rp-hybrid"] = (c * d["valid"] / P, mem, "validation pairs on every rank")
            # eval: test pairs, partitioned by user; memory measured 546 MB (1x) and 1,986 MB
            # (10x) per rank at np 2: 386 MB + 160 MB x X, taken as replicated (the weak run grew
            # at a constant share per rank: the conservative reading)
            if "rp-eval" in meas:
                c = cost("rp-eval", lambda s: s["test"])
                mem = (386 + 160 * x) / 1e3
                t["rp-eval"] = (c * d["test"] / P, mem, "CPU; ~160 MB per 1x on every rank (fitted)")
            # recommend: every (user, video) pair scored
            if "rp-recommend" in meas:
                c = cost("rp-recommend", lambda s: s["users"] * s["items"])
                mem = (30 + 4 * d["train"] / P / 1e6 + 256 * d["items"] * 4 / 1e6
                       + (d["users"] + d["items"]) * (k + 2) * 4 / 1e6) / 1e3
                t["rp-recommend"] = (c * d["users"] * d["items"] / P, mem, "CPU (pair scoring)")
            for s, v in t.items():
                rows.setdefault(s, []).append(v)
        node_gb = a.node_gb / a.cores
        for s, vs in rows.items():
            cells = []
            for tt, mm, _ in vs:
                flag = " (!)" if mm > node_gb else ""
                cells.append(f"{tt:,.0f} | {mm:,.1f}{flag}")
            out.append(f"| {s} | " + " | ".join(cells) + f" | {vs[0][2]} |")
    print(f"Assumptions: {a.cores} ranks per node, {a.node_gb:.0f} GB per node "
          f"((!) = more than {a.node_gb / a.cores:.0f} GB per rank), network {a.net_gbs} GB/s "
          f"per node, latency {a.lat_us} us, parallel FS {a.fs_gbs} GB/s, one shared HDF5 file "
          f"{a.h5_gbs} GB/s, ALS K={k} x {a.iters} iterations, two-tower and seqrec 1 epoch.")
    print("Measured costs (CPU s of all ranks per unit, at the largest scale measured): " +
          "; ".join(f"{s} x{m['x']:.2f} cpu={m['cpu']}s mb/rank={m['mb']:.0f}"
                    for s, m in sorted(meas.items())))
    print("\n".join(out))


if __name__ == "__main__":
    main()
