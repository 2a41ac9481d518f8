"""Benchmark: training cost per row of MFRanker (sampled softmax, defaults) and DRRanker (logged pairs, defaults) on the
simulator's biased log with 10,000 items and 10,000 vs 100,000 users (~30 exposures per user: ~0.3M vs ~3M rows).

Sparse row updates make the work of a step independent of the table sizes, and tables on huge pages keep its random row
accesses as cheap on a large table as on a small one (`causalrec.mf.table_memory`), so the cost per training row should
be flat in the number of users: the 10k-user run is the baseline, measured in the same process, and the ratio 100k / 10k is
printed (target: within 1.5x). MF trains on the positives (clicks) of the log, DR on every logged row. Each learner
is fitted twice, with 0 epochs (the one-off cost: id lookups, propensities, tables) and with `--epochs` epochs (at
each `--threads` setting); the cost per row is (second - first) / (rows x epochs), and 30 epochs take the one-off cost plus
30 x rows x that cost (target on the 2-core machine: MF < 3 min, DR < 6 min at 100k users). Each learner runs with
each of `--threads` torch threads: 1 is the default (`threads=1`), 2 uses both cores, which pays only when nothing else
runs on them (05a). CPU seconds are printed too: on a shared machine they are the steadier measure (with 2 threads
they count both cores); the load average is printed at the start and the end.
Run: .venv/bin/python bench/bench_mf_speed.py [--epochs 2] [--users 10000 100000] [--threads 1 2]
"""
import argparse
import os
import time
from dataclasses import replace
from itertools import product

from causalrec.mf import DRRanker, MFRanker
from causalrec.simulator import simulate


def timed_fit(ranker, data) -> tuple:
    "Wall and CPU seconds of `ranker.fit(data)`."
    t, c = time.time(), time.process_time()
    ranker.fit(data)
    return time.time() - t, time.process_time() - c


def cost(make, data, rows:int, epochs:int) -> tuple:
    "One-off (wall, CPU) seconds of a fit, and (wall, CPU) microseconds per training row per epoch."
    fixed = timed_fit(make(0), data)
    total = timed_fit(make(epochs), data)
    return fixed, tuple(1e6 * (t - f) / (rows * epochs) for t, f in zip(total, fixed))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--users", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    print("load average (1, 5, 15 min): %.1f %.1f %.1f" % os.getloadavg(), flush=True)
    res = {}
    for n in a.users:
        t0 = time.time()
        sim = simulate(n_users=n, n_items=10_000, exposures_per_user=30, n_random=1, seed=0)
        train = replace(sim, interactions=sim.interactions[sim.interactions["log"] == "mnar"], truth=None)
        inter = train.interactions
        clicks = int((inter["click"] >= 1).sum())
        print(f"{n} users: {len(inter)} logged rows, {clicks} clicks (simulated in {time.time() - t0:.0f}s)", flush=True)
        for (name, cls, rows), t in product((("MF", MFRanker, clicks), ("DR", DRRanker, len(inter))), a.threads):
            (fw, fc), (wall, cpu) = cost(lambda e: cls(epochs=e, threads=t, verbose=False), train, rows, a.epochs)
            res[name, t, n] = wall, cpu
            print(f"  {name}, {t} thread(s): {wall:.2f} us/row wall, {cpu:.2f} us/row CPU over {rows} rows x {a.epochs} epochs (one-off "
                  f"{fw:.1f}s wall, {fc:.1f}s CPU); 30 epochs = {(fw + 30 * rows * wall / 1e6) / 60:.1f} min wall "
                  f"({(fc + 30 * rows * cpu / 1e6) / 60:.1f} min CPU)", flush=True)
    lo, hi = min(a.users), max(a.users)
    for name, t in product(("MF", "DR"), a.threads) if lo != hi else ():
        (w_hi, c_hi), (w_lo, c_lo) = res[name, t, hi], res[name, t, lo]
        print(f"{name}, {t} thread(s): cost per row {hi // 1000}k / {lo // 1000}k users = {w_hi / w_lo:.2f} wall, "
              f"{c_hi / c_lo:.2f} CPU (target <= 1.5)")
    print("load average (1, 5, 15 min): %.1f %.1f %.1f" % os.getloadavg())
