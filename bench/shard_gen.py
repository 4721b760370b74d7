#!/usr/bin/env python3
"""shard_gen.py - KuaiRec-shaped big_matrix.csv / small_matrix.csv for benchmarking rp-shard when
no generated dataset is at hand. Not a faithful model of the data (rp-synth is): only the format,
the sizes and the features rp-shard's cost depends on (duplicates, repeat views, empty times).

usage: shard_gen.py OUTDIR [--scale 1.0] [--seed 1]
"""
import argparse
import os
import random
import time

HEADER = "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n"
T0 = 1593878400  # 2020-07-05 00:00:00 +08:00 as epoch seconds (UTC+8 local time below)
WINDOWS = [(0, 8), (27, 37), (53, 63)]  # day offsets: Jul 5-12, Aug 1-10, Aug 27-Sep 5


def fmt_row(u, v, dur, ts, wr_target, rnd):
    play = int(dur * wr_target)
    wr = play / dur
    ms = int(round(ts * 1000))
    sec, frac = divmod(ms, 1000)
    lt = time.gmtime(sec + 8 * 3600)
    fs = ("%03d" % frac).rstrip("0")
    tstr = time.strftime("%Y-%m-%d %H:%M:%S", lt) + ("." + fs if fs else "")
    date = time.strftime("%Y%m%d", lt)
    return "%d,%d,%d,%d,%s,%s,%d.%03d,%s\n" % (
        u, v, play, dur, tstr, date, sec, frac, ("%.6f" % wr).rstrip("0").rstrip(".") or "0")


def gen_big(path, n_rows, n_users, n_items, small_users, small_items, rnd):
    durs = [int(140 + rnd.expovariate(1 / 12000)) for _ in range(n_items)]
    per_user = n_rows // n_users
    written = 0
    with open(path, "w", buffering=1 << 24) as f:
        f.write(HEADER)
        for u in range(n_users):
            n = per_user if u < n_users - 1 else n_rows - written
            lines = []
            prev = None
            for _ in range(n):
                r = rnd.random()
                if prev is not None and r < 0.077:
                    lines.append(prev)  # exact duplicate
                    continue
                v = rnd.randrange(n_items)
                if u < small_users and v < small_items:
                    v = small_items + rnd.randrange(n_items - small_items)
                w0, w1 = WINDOWS[rnd.randrange(3)]
                ts = T0 + rnd.uniform(w0, w1) * 86400
                wr = rnd.lognormvariate(-0.35, 0.9)
                prev = fmt_row(u, v, durs[v], ts, wr, rnd)
                lines.append(prev)
            f.write("".join(lines))
            written += n


def gen_small(path, n_users, n_items, rnd):
    durs = [int(140 + rnd.expovariate(1 / 12000)) for _ in range(n_items)]
    with open(path, "w", buffering=1 << 24) as f:
        f.write(HEADER)
        for u in range(n_users):
            lines = []
            for v in range(n_items):
                if rnd.random() < 0.004:
                    continue  # the few missing cells
                wr = rnd.lognormvariate(-0.3, 0.8)
                if rnd.random() < 0.039:
                    play = int(durs[v] * wr)
                    s = ("%.6f" % (play / durs[v])).rstrip("0").rstrip(".") or "0"
                    lines.append("%d,%d,%d,%d,,,,%s\n" % (u, v, play, durs[v], s))
                else:
                    ts = T0 + rnd.uniform(58, 63) * 86400
                    lines.append(fmt_row(u, v, durs[v], ts, wr, rnd))
            f.write("".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the real row counts")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    rnd = random.Random(a.seed)
    s = a.scale
    gen_big(os.path.join(a.outdir, "big_matrix.csv"), int(12530806 * s), max(10, int(7176 * s)),
            10728, max(2, int(1411 * s)), 3327, rnd)
    gen_small(os.path.join(a.outdir, "small_matrix.csv"), max(2, int(1411 * s)), 3327, rnd)


if __name__ == "__main__":
    main()
