"""Benchmark: simulate() at 100,000 users x 10,000 items (target: < 60 s, < 4 GB peak on a 2-core machine).

Baseline, measured in the same run: drawing one float32 uniform number per (user, item) pair, the irreducible work
of Bernoulli exposure sampling over all 10^9 pairs. The ratio says how much the simulator costs on top of that.
Each measurement runs in a fresh subprocess so its peak resident memory (ru_maxrss) is its own.
Run: .venv/bin/python bench/bench_data.py [n_users] [n_items]
"""
import json
import subprocess
import sys

N_USERS, N_ITEMS = (int(a) for a in (sys.argv[1:3] if len(sys.argv) > 2 else (100_000, 10_000)))

SIMULATE = f"""
import time, resource, json
from causalrec.simulator import simulate
t = time.perf_counter()
data = simulate(n_users={N_USERS}, n_items={N_ITEMS}, seed=0)
print(json.dumps({{"seconds": time.perf_counter() - t, "rows": len(data.interactions),
                   "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}))
"""

BASELINE = f"""
import time, resource, json
import numpy as np
rng = np.random.default_rng(0)
t = time.perf_counter()
step = max(1, 4_000_000 // {N_ITEMS})
for start in range(0, {N_USERS}, step):
    rng.random((min(step, {N_USERS} - start)) * {N_ITEMS}, dtype=np.float32)
print(json.dumps({{"seconds": time.perf_counter() - t, "rows": 0,
                   "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}))
"""


def measure(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    base, sim = measure(BASELINE), measure(SIMULATE)
    print(f"simulate(n_users={N_USERS:,}, n_items={N_ITEMS:,}): {sim['rows']:,} interactions")
    print(f"  time      {sim['seconds']:7.1f} s   (target < 60 s)   baseline uniform draws {base['seconds']:.1f} s  "
          f"ratio {sim['seconds'] / base['seconds']:.2f}x")
    print(f"  peak RSS  {sim['peak_gb']:7.2f} GB  (target < 4 GB)    baseline {base['peak_gb']:.2f} GB")
