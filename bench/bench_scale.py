"""Scale-out benchmark: causalrec's Ray engine against the in-process path, every figure measured in the same run.

1. Top-k: a `FactorRanker` with random float32 factors of USERS x ITEMS x DIM, saved to a
   checkpoint. In-process baseline: `Ranker.load(path).recommend(users, K)` in one process, once with the BLAS library's
   default threads and once with one (on a busy machine extra BLAS threads can slow it down); the ratio is taken against
   the faster. Ray: `recommend_all(path, users, K, out, engine="ray")` on a local Ray cluster of RAY_CPUS CPUs started by
   that process (`init_ray(num_cpus=...)`); the workers load the checkpoint, the driver holds only file names. Each run
   is a fresh subprocess, so its peak RSS (VmHWM) is its own. Prints users/s of both, the ratio (target >= 0.70),
   the driver's peak memory (target < 2 GB), whether the lists are identical, per-shard seconds, and the driver's peak
   memory at USERS/10 users (target: within +-20% of the peak at USERS).
2. Encoding: TEXTS distinct item texts of the simulator's catalogue. In process, each in a fresh process:
   `TextEncoder().encode(texts)` with the model already loaded and torch's default threads (the baseline: the strictest on
   an idle machine; under load one thread was faster, see 09_scale), and `encode_texts(texts, out)` (engine="local": the same function the Ray engine runs, timed cold: model load,
   hashing, Parquet shards). Ray: `encode_texts(texts, out, engine="ray")` on a cluster of RAY_CPUS CPUs started by a
   fresh process, in the default layout (one actor per CPU, one torch thread each). The baseline and the Ray default
   are each timed twice, alternating (baseline, Ray, baseline, Ray), so that a change in the shared machine's load falls
   on both; both raw figures are printed and the ratio (target >= 0.80) is taken between the best of each. The first
   Ray process also times one actor with RAY_CPUS threads (`concurrency=1`, once: context); the second a rerun with
   ADDED more texts, which must encode only those. (A one-thread in-process run, earlier context only, was dropped to
   keep the bench short.) Prints texts/s, wall and CPU seconds of each (CPU: the process, or for Ray every process of
   the cluster: driver, raylet, workers), where the Ray time went (slowest encoder start-up, seconds inside the blocks
   per actor, the rest: worker start, imports, scheduling, tail), and the ratios to the baseline and to the cold
   `encode_texts`.
   In each Ray process, before the timed jobs, a one-row Ray Data run with a one-actor pool starts Ray Data's own
   service actors (actor location tracker, autoscaling coordinator, stats actor: detached, one per cluster, so on a
   running cluster that has run any Ray Data job they exist already); its seconds are printed and excluded like the
   cluster start, and the ratio is also printed with them added (a first Ray Data job on a fresh cluster pays them,
   overlapped with its actors' start: so that ratio is a lower bound); that run also holds the driver's first Ray Data
   job (imports, planning, executor start). Before each timed job `at_rest` re-creates the idle workers Ray pre-starts at
   cluster start, with one short task per CPU (a best case: after a Ray Data job a running cluster keeps one), and waits
   for the cluster's CPU to go quiet; the seconds that took are printed and excluded, and a wait that hit its limit says so.
3. Evaluation on the simulator: ranking metrics and off-policy estimates (all six estimators: switch-DR and DR-OS tune
   their thresholds over the shards in two extra passes) of an MF policy's lists, from per-shard sums on Ray against
   `ranking_metrics` / `off_policy_estimates` in process: the largest absolute difference (target <= 1e-9).

The Ray cluster start (seconds) is printed separately; throughputs exclude it (a cluster normally runs already).
Run: .venv/bin/python bench/bench_scale.py [--users 1000000 --items 10000 --dim 64 --texts 20000]
     (35-45 minutes at the defaults on a busy 2-core machine, most of it the in-process baselines; --small: a few minutes;
      --parts encode alone: about 5 minutes)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def peak_mb() -> float:
    "This process's peak resident memory (VmHWM: unlike ru_maxrss it does not inherit the parent's peak across fork/exec)."
    return int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024


def child(args) -> dict:
    "One measurement in this (fresh) process; returns a JSON-able dict."
    import numpy as np

    from causalrec.scale import FactorRanker, encode_texts, init_ray, recommend_all
    t0 = time.perf_counter()
    if args.child == "make-ranker":
        FactorRanker.random(args.users, args.items, args.dim).save(args.path)
        return {}
    if args.child == "topk-local":
        from threadpoolctl import threadpool_info, threadpool_limits

        from causalrec.ranking import Ranker
        r = Ranker.load(args.path)
        with threadpool_limits(args.threads or None, "blas"):
            threads = max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
            t0 = time.perf_counter()
            top = r.recommend(np.arange(args.users), args.k)
            sec = time.perf_counter() - t0
        np.save(args.out, top)
        return dict(seconds=sec, threads=threads, peak_mb=peak_mb())
    if args.child == "topk-ray":
        init_ray(num_cpus=args.ray_cpus)
        start, base = time.perf_counter() - t0, peak_mb()
        t0 = time.perf_counter()
        recommend_all(args.path, np.arange(args.users), args.k, args.out, engine="ray", verbose=False)
        return dict(seconds=time.perf_counter() - t0, start=start, base_mb=base, peak_mb=peak_mb())
    if args.child == "eval":
        return evaluation(args)
    texts = json.loads(Path(args.path).read_text())
    if args.child == "encode-local":
        import torch

        from causalrec.encoder import TextEncoder
        enc = TextEncoder(verbose=False)
        t0, c0 = time.perf_counter(), time.process_time()
        enc.encode(texts[:args.texts], verbose=False)
        return dict(seconds=time.perf_counter() - t0, cpu=time.process_time() - c0, threads=torch.get_num_threads(),
                    peak_mb=peak_mb(), load=os.getloadavg()[0])
    if args.child == "encode-store":
        import torch
        t0, c0 = time.perf_counter(), time.process_time()
        r = encode_texts(texts[:args.texts], args.out, verbose=False)
        return dict(seconds=time.perf_counter() - t0, cpu=time.process_time() - c0, threads=torch.get_num_threads(),
                    startup=r["startup"], inside=r["seconds"], load=os.getloadavg()[0])
    if args.child == "encode-ray":
        ray = init_ray(num_cpus=args.ray_cpus)
        start, idle = time.perf_counter() - t0, idle_workers()
        t0 = time.perf_counter()
        ray.data.range(1).map_batches(Rows, compute=ray.data.ActorPoolStrategy(size=1)).take_all()
        service, runs, rests = time.perf_counter() - t0, {}, []
        layouts = (("default", None), ("one actor", 1)) if args.round == 1 else (("default", None),)
        for name, actors in layouts:
            rests.append(at_rest(ray, args.ray_cpus))
            c0, t0 = cluster_cpu(), time.perf_counter()
            r = encode_texts(texts[:args.texts], f"{args.out}-{name}", engine="ray", concurrency=actors)
            runs[name] = dict(seconds=time.perf_counter() - t0, cpu=cluster_cpu() - c0, encoded=r["encoded"],
                              startup=r["startup"], inside=r["seconds"], actors=actors or args.ray_cpus,
                              threads=args.ray_cpus // (actors or args.ray_cpus), load=os.getloadavg()[0])
        res = dict(runs=runs, start=start, service=service, idle=idle, rests=rests)
        if args.round == 2:
            rests.append(at_rest(ray, args.ray_cpus))
            t0 = time.perf_counter()
            again = encode_texts(texts, f"{args.out}-default", engine="ray")
            res.update(rerun_seconds=time.perf_counter() - t0, rerun_texts=again["texts"], rerun_encoded=again["encoded"])
        return res
    raise ValueError(args.child)


class Rows:
    "The identity, as a Ray Data actor class: its one-row run starts Ray Data's service actors."
    def __call__(self, batch): return batch


def process_tree() -> tuple:
    "This process and every process under it (a local Ray cluster: raylet, GCS, workers): their pids, and /proc's stat fields by pid."
    procs = {}
    for d in Path("/proc").iterdir():
        try: f = (d/"stat").read_text().rsplit(")", 1)[1].split() if d.name.isdigit() else None
        except OSError: continue
        if f: procs[int(d.name)] = f
    tree, todo = set(), [os.getpid()]
    while todo:
        tree.add(pid := todo.pop())
        todo += [c for c, f in procs.items() if int(f[1]) == pid and c not in tree]
    return tree & procs.keys(), procs


def cluster_cpu() -> float:
    "CPU seconds of this process and every process under it, reaped ones included (utime, stime, cutime, cstime)."
    tree, procs = process_tree()
    return sum(sum(map(int, procs[p][11:15])) for p in tree) / os.sysconf("SC_CLK_TCK")


def idle_workers() -> int:
    """Idle Ray workers of this process's own cluster (process title 'ray::IDLE'; other clusters on the machine are not
    counted). Ray's state API (`ray.util.state.list_workers`) would say it too, but it needs the dashboard, which
    `init_ray` leaves out."""
    titles = []
    for pid in process_tree()[0]:
        try: titles.append((Path("/proc")/str(pid)/"cmdline").read_bytes().split(b"\0")[0])
        except OSError: continue
    return titles.count(b"ray::IDLE")


def nap(): time.sleep(0.5)


def at_rest(ray, cpus:int, # the cluster's CPUs: one task each, and as many idle workers awaited
            quiet:float=0.2, # CPU-seconds per second under which the cluster counts as quiet
            limit:float=15.0, # give up after this many seconds (then `rested` is False)
           ) -> dict:
    """Re-create the idle workers of a freshly started cluster, then wait until it is quiet; returns the seconds and what
    was found. Ray pre-starts one idle worker per CPU when the cluster starts, and an actor pool's workers exit with the
    job; Ray then keeps fewer idle workers (one, measured here after the one-actor warm-up), so a timed job would pay the
    missing workers' start. One half-second task per CPU, all at once, leaves that many idle workers behind (Ray reuses
    task workers): a best case, since a running cluster after a Ray Data job keeps one. Then poll every half second
    until `cpus` idle workers exist and the cluster's processes used under `quiet` CPU-seconds per second over the last
    half second (at rest they use about 0.1, measured here; a worker start burns about one)."""
    t0 = time.perf_counter()
    task = ray.remote(num_cpus=1)(nap)
    ray.get([task.remote() for _ in range(cpus)])
    before = cluster_cpu()
    while True:
        time.sleep(0.5)
        now = cluster_cpu()
        rate, before = (now - before) / 0.5, now  # negative: a process left the tree (a worker exited), not at rest
        rested = idle_workers() >= cpus and 0 <= rate < quiet
        if rested or time.perf_counter() - t0 > limit: break
    return dict(seconds=time.perf_counter() - t0, idle=idle_workers(), rate=rate, rested=rested)


def evaluation(args) -> dict:
    "Metrics and OPE of an MF policy on the simulator: sharded on Ray vs in process."
    import numpy as np

    from causalrec.data import split
    from causalrec.metrics import ranking_metrics, relevance_matrix
    from causalrec.mf import MFRanker
    from causalrec.ope import ESTIMATORS, item_mean_reward, off_policy_estimates
    from causalrec.scale import init_ray, read_topk, recommend_all, sharded_metrics, sharded_ope
    from causalrec.simulator import simulate
    data = simulate(n_users=args.eval_users, n_items=1000, exposures_per_user=20, seed=0)
    train, test = split(data, "ratio", seed=0)
    mf = MFRanker(dim=16, epochs=2, verbose=False).fit(train)
    users = np.sort(data.users["user_id"].to_numpy())
    relevant = test.interactions.query("click > 0")[["user_id", "item_id"]].drop_duplicates()
    logged = data.interactions[data.interactions["log"] == "mnar"]
    prop, rm = data.truth.propensity.loc[logged.index].to_numpy(), item_mean_reward(logged)
    t0 = time.perf_counter()
    top = mf.recommend(users, 10, exclude=train)
    m0 = ranking_metrics(*relevance_matrix(top, users, relevant), ks=(5, 10))
    e0 = off_policy_estimates(logged, top, users, prop, reward_model=rm, estimators=ESTIMATORS, n_boot=200)
    local = time.perf_counter() - t0
    init_ray(num_cpus=args.ray_cpus)
    t0 = time.perf_counter()
    out = recommend_all(mf, users, 10, args.out, exclude=train, engine="ray", shard_users=5000, verbose=False)
    m1 = sharded_metrics(out, relevant, ks=(5, 10), engine="ray", verbose=False)
    e1 = sharded_ope(out, logged, prop, reward_model=rm, estimators=ESTIMATORS, n_boot=200, engine="ray", verbose=False)
    ray_sec = time.perf_counter() - t0
    return dict(users=len(users), local_seconds=local, ray_seconds=ray_sec,
                topk_identical=bool((read_topk(out)[1] == top).all()),
                metric_max_diff=float(np.nanmax(np.abs(m1["value"].to_numpy() - m0["value"].to_numpy()))),
                ope_max_diff=float(max(abs(a.value - b.value) for a, b in zip(e1, e0))),
                ope=[(a.estimator, a.value, b.value) for a, b in zip(e1, e0)])


def run_child(args, name:str, **kw) -> dict:
    cmd = [sys.executable, __file__, "--child", name] + [x for k, v in {**vars(args), **kw}.items()
                                                         if k not in ("child", "small", "keep") and v is not None
                                                         for x in (f"--{k.replace('_', '-')}", str(v))]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode: sys.exit(f"{name} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(args):
    import numpy as np

    from causalrec.encoder import item_texts
    from causalrec.scale import read_topk
    from causalrec.simulator import simulate
    tmp = Path(tempfile.mkdtemp(prefix="causalrec-bench-scale-"))
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, Ray cluster of {args.ray_cpus} CPUs; scratch {tmp}",
          flush=True)
    if "topk" in args.parts:
        path = tmp/"ranker.safetensors"
        run_child(args, "make-ranker", path=path)
        print(f"\n# top-{args.k} for {args.users:,} users x {args.items:,} items ({args.dim}-d factors; checkpoint "
              f"{path.stat().st_size / 1e6:.0f} MB)", flush=True)
        runs = [run_child(args, "topk-local", path=path, out=tmp/"local.npy", threads=n) for n in (0, 1)]
        for r in runs:
            print(f"in-process recommend : {args.users / r['seconds']:10,.0f} users/s ({r['seconds']:.1f} s) with {r['threads']} "
                  f"BLAS thread(s){' (default)' if r is runs[0] else ''}, peak memory {r['peak_mb']:,.0f} MB", flush=True)
        loc = min(runs, key=lambda r: r["seconds"])
        ray = run_child(args, "topk-ray", path=path, out=tmp/"topk")
        manifest = json.loads((tmp/"topk"/"_manifest.json").read_text())
        shard_s = [p["seconds"] for p in manifest["parts"]]
        identical = bool((read_topk(tmp/"topk")[1] == np.load(tmp/"local.npy")).all())
        print(f"Ray recommend_all    : {args.users / ray['seconds']:10,.0f} users/s ({ray['seconds']:.1f} s; cluster start "
              f"{ray['start']:.1f} s), driver peak memory {ray['peak_mb']:,.0f} MB (target < 2,048)")
        print(f"ratio Ray / the faster in-process run: {loc['seconds'] / ray['seconds']:.2f} (target >= 0.70); lists identical: "
              f"{identical}; {len(shard_s)} shards of {manifest['shard_users']:,} users, median {np.median(shard_s):.1f} s "
              f"per shard ({manifest['shard_users'] * args.items / np.median(shard_s):,.0f} pairs/s per worker)", flush=True)
        small = run_child(args, "topk-ray", path=path, out=tmp/"topk-small", users=args.users // 10)
        grow = lambda r: r["peak_mb"] - r["base_mb"]
        print(f"driver peak memory at {args.users // 10:,} users: {small['peak_mb']:,.0f} MB; at {args.users:,}: "
              f"{ray['peak_mb']:,.0f} MB; ratio {ray['peak_mb'] / small['peak_mb']:.2f} (target 0.8-1.2); of which "
              f"recommend_all added {grow(small):,.0f} MB and {grow(ray):,.0f} MB over the driver after init_ray "
              f"({small['base_mb']:,.0f} / {ray['base_mb']:,.0f} MB)", flush=True)
    if "encode" in args.parts:
        texts = list(dict.fromkeys(item_texts(simulate(n_users=100, n_items=int(1.1 * (args.texts + args.added)),
                                                       exposures_per_user=5, seed=0).items)))[:args.texts + args.added]
        (tmp/"texts.json").write_text(json.dumps(texts))
        print(f"\n# encoding {args.texts:,} distinct item texts, then a rerun with {args.added:,} more", flush=True)
        base, rays = [], []
        for i in (1, 2):  # alternating, so that a change in the machine's load falls on both paths
            base.append(run_child(args, "encode-local", path=tmp/"texts.json"))
            rays.append(run_child(args, "encode-ray", path=tmp/"texts.json", out=tmp/f"store{i}", round=i))
        cold = run_child(args, "encode-store", path=tmp/"texts.json", out=tmp/"store-local")
        rate = lambda r: (f"{args.texts / r['seconds']:7.1f} texts/s ({r['seconds']:.1f} s wall, {r['cpu']:.1f} s CPU, "
                          f"load {r['load']:.1f})")
        for i, r in enumerate(base, 1):
            print(f"in-process TextEncoder.encode (model loaded), run {i}: {rate(r)} with {r['threads']} torch threads (default)")
        print(f"in-process encode_texts (cold, engine=local)  : {rate(cold)} with {cold['threads']} torch threads: model "
              f"load {cold['startup']:.1f} s, inside the blocks {cold['inside']:.1f} s")
        for i, ray in enumerate(rays, 1):
            for name, r in ray["runs"].items():
                busy = r["inside"] / r["actors"]
                print(f"Ray Data encode_texts, {r['actors']} actor(s) x {r['threads']} thread(s) ({name}), run {i}: {rate(r)}; "
                      f"slowest encoder start-up {r['startup']:.1f} s, inside the blocks {busy:.1f} s per actor, the rest "
                      f"{r['seconds'] - r['startup'] - busy:.1f} s (worker start, imports, scheduling, tail); {r['encoded']:,} encoded")
        for i, ray in enumerate(rays, 1):
            print(f"cluster {i}: start {ray['start']:.1f} s ({ray['idle']} idle workers after it), Ray Data's service actors "
                  f"{ray['service']:.1f} s (the first Ray Data job: service actors and the driver's first run; both excluded); "
                  "idle workers re-created by one short task per CPU (a best case: after a Ray Data job Ray keeps one) and "
                  "the cluster quiet before each timed job, after " +
                  ", ".join(f"{r['seconds']:.1f} s ({r['idle']} idle workers, {r['rate']:.2f} CPU"
                            f"{'' if r['rested'] else ', NOT at rest: limit reached'})" for r in ray["rests"]))
        loc = min(base, key=lambda r: r["seconds"])
        best = min((ray["runs"]["default"] for ray in rays), key=lambda r: r["seconds"])
        service = max(ray["service"] for ray in rays)
        print(f"best of two: in process {loc['seconds']:.1f} s, Ray default layout {best['seconds']:.1f} s. Ratio Ray / in "
              f"process (model loaded): {loc['seconds'] / best['seconds']:.2f} (target >= 0.80); to the cold in-process "
              f"encode_texts: {cold['seconds'] / best['seconds']:.2f}; with the slower service actors' start ({service:.1f} s) "
              f"added (a first Ray Data job on a fresh cluster; a lower bound, as there they overlap the actors' start): "
              f"{loc['seconds'] / (best['seconds'] + service):.2f} and {cold['seconds'] / (best['seconds'] + service):.2f}")
        print(f"rerun over {rays[1]['rerun_texts']:,} texts: encoded {rays[1]['rerun_encoded']:,} (target {args.added:,}) in "
              f"{rays[1]['rerun_seconds']:.1f} s", flush=True)
    if "eval" in args.parts:
        ev = run_child(args, "eval", out=tmp/"eval")
        print(f"\n# evaluation on the simulator ({ev['users']:,} users, MF policy, top-10)")
        print(f"lists identical: {ev['topk_identical']}; largest |difference| Ray vs in process: ranking metrics "
              f"{ev['metric_max_diff']:.1e}, OPE point estimates {ev['ope_max_diff']:.1e} (target <= 1e-9)")
        print(f"seconds: in process {ev['local_seconds']:.1f}, Ray (top-k + metrics + OPE, 200 bootstrap replicates) "
              f"{ev['ray_seconds']:.1f}")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    if not args.keep: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--texts", type=int, default=20_000)
    p.add_argument("--added", type=int, default=1_000)
    p.add_argument("--eval-users", type=int, default=20_000)
    p.add_argument("--ray-cpus", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="child: threads of the in-process baseline (0: default)")
    p.add_argument("--parts", default="topk,encode,eval")
    p.add_argument("--small", action="store_true", help="smoke run: 20,000 users, 2,000 texts, 2,000 simulated users")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (checkpoint, parts, store)")
    p.add_argument("--round", type=int, default=None, help="child encode-ray: 1 times both layouts, 2 the default and the rerun")
    p.add_argument("--child", default=None)
    p.add_argument("--path", default=None)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    if a.small: a.users, a.texts, a.added, a.eval_users = 20_000, 2_000, 100, 2_000
    if a.child: print(json.dumps(child(a)))
    else: main(a)
