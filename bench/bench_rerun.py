"""Benchmark: `causalrec run` on MovieLens latest-small, cold (empty encoder cache) against warm (cache filled).

Issue 11's targets on a 2-core CPU: end to end in < 180 s cold and < 60 s warm. Both runs are the same command, each in
a fresh interpreter as a user types it (`causalrec run --source movielens --path ... --cache-dir C --out O --quiet`),
timed by wall clock from start to exit, so they include importing torch and loading the language model:

- cold: the first run with a new, empty `--cache-dir`: every title is encoded by all-MiniLM-L6-v2;
- warm: the same command again with the cache the cold run filled: titles are looked up by hash (the baseline the ratio
  divides by is this warm run).

It prints both times (wall clock, and the CPU seconds the run used, which other jobs on a shared machine inflate much
less), the ratios cold / warm, the load average, and two checks: the warm run added nothing to the cache (no text
encoded again) and wrote the same recommendations.csv.
Any further arguments are passed to both runs (e.g. `--stages data encoder` to time the encoder stage alone).

Run: .venv/bin/python bench/bench_rerun.py [--data ../shared/data/ml-latest-small] [extra causalrec run flags]
     (minutes; the data folder defaults to the project's shared test copy)
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from causalrec.loaders import shared_data

CLI = "import sys; from causalrec.cli import main; sys.exit(main())"


def cpu_children() -> float:
    "CPU seconds (user + system) used so far by this process's finished children."
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(data:Path, cache:Path, out:Path, extra:list) -> tuple:
    "Wall-clock and CPU seconds of one `causalrec run` on MovieLens in a fresh interpreter (fails loudly with its stderr)."
    cmd = [sys.executable, "-c", CLI, "run", "--source", "movielens", "--path", str(data), "--cache-dir", str(cache),
           "--out", str(out), "--quiet", *extra]
    t, c = time.perf_counter(), cpu_children()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t, cpu_children() - c
    if r.returncode: sys.exit(f"causalrec run failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    return seconds, cpu


def cache_files(cache:Path) -> dict:
    "Every file of the cache folder with its size: a warm run that encodes nothing leaves it unchanged."
    return {p.relative_to(cache): p.stat().st_size for p in cache.rglob("*") if p.is_file()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=shared_data("ml-latest-small"),
                    help="MovieLens latest-small folder (ratings.csv, movies.csv); default: the shared test copy")
    args, extra = ap.parse_known_args()
    if args.data is None or not Path(args.data).is_dir():
        sys.exit("no MovieLens latest-small folder: pass --data <folder with ratings.csv and movies.csv> "
                 "(the project's copy lives in ../shared/data/ml-latest-small)")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        cache = d / "cache"
        print(f"data {args.data}, extra flags {extra or 'none'}, load average before {os.getloadavg()[0]:.2f}", flush=True)
        (cold, cold_cpu) = run(args.data, cache, d / "cold", extra)
        filled = cache_files(cache)
        print(f"cold (empty cache, {len(filled)} cache files written): {cold:7.1f} s wall, {cold_cpu:7.1f} s CPU  "
              f"(target < 180 s wall)", flush=True)
        (warm, warm_cpu) = run(args.data, cache, d / "warm", extra)
        print(f"warm (cache filled)                  : {warm:7.1f} s wall, {warm_cpu:7.1f} s CPU  (target < 60 s wall)")
        print(f"ratio cold / warm                    : {cold / warm:7.2f}x wall, {cold_cpu / warm_cpu:5.2f}x CPU  "
              f"(load average now {os.getloadavg()[0]:.2f})")
        print(f"checks: warm run left the cache unchanged: {cache_files(cache) == filled}; {compare(d / 'cold', d / 'warm')}")


def compare(a:Path, b:Path) -> str:
    "Whether two runs wrote the same recommendations.csv, and how they differ when not (served model, items, scores)."
    if not (a / "recommendations.csv").exists(): return "no recommendations.csv (stages)"
    if (a / "recommendations.csv").read_bytes() == (b / "recommendations.csv").read_bytes(): return "same recommendations.csv"
    ra, rb = (pd.read_csv(p / "recommendations.csv") for p in (a, b))
    ma, mb = (json.loads((p / "summary.json").read_text())["recommend"]["model"] for p in (a, b))
    if len(ra) != len(rb) or ma != mb: return f"different recommendations.csv: served {ma} then {mb}, {len(ra)} vs {len(rb)} rows"
    return (f"different recommendations.csv (both served {ma}): {(ra['item'] != rb['item']).mean():.1%} of (user, rank) "
            f"rows name another item; largest score difference {(ra['score'] - rb['score']).abs().max():.2e}")


if __name__ == "__main__":
    main()
