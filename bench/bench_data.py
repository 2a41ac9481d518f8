"""Benchmark: simulate() at 100,000 users x 10,000 items (target: < 60 s, < 4 GB peak on a 2-core machine).

Baseline, measured in the same run: drawing one float32 uniform number per (user, item) pair, the irreducible work
of Bernoulli exposure sampling over all 10^9 pairs. The ratio says how much the simulator costs on top of that.
Each measurement runs in a fresh subprocess so its peak resident memory (ru_maxrss) is its own.
Run: .venv/bin/python bench/bench_data.py [n_users] [n_items]

`uplift` mode (issue 12: `simulate_uplift_log` at 100,000 users x 10,000 items with peak memory < 2 GB): simulate the
world, reset the process's peak RSS (writing 5 to /proc/self/clear_refs), run `simulate_uplift_log(pairs_per_user=50)`
and read the process's peak RSS during that call (VmHWM: the world in memory plus what the call needs), and the peak
of the memory the call itself allocates (tracemalloc, which numpy reports its arrays to).
Baseline, measured in the same run: the same at 2,000 users x 1,000 items.
Run: .venv/bin/python bench/bench_data.py uplift [n_users] [n_items]
"""
import json
import subprocess
import sys

UPLIFT = sys.argv[1:2] == ["uplift"]
ARGS = sys.argv[2:] if UPLIFT else sys.argv[1:]
N_USERS, N_ITEMS = (int(a) for a in (ARGS[:2] if len(ARGS) > 1 else (100_000, 10_000)))
UPLIFT_BASELINE = (2_000, 1_000)

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


UPLIFT_CODE = """
import time, json, tracemalloc
from causalrec.simulator import simulate, simulate_uplift_log
def status(key): return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)) / 2**20
data = simulate(n_users={n_users}, n_items={n_items}, seed=0)
with open("/proc/self/clear_refs", "w") as f: f.write("5")  # peak RSS := current RSS
tracemalloc.start()
t = time.perf_counter()
exp = simulate_uplift_log(data, pairs_per_user=50, seed=0)
seconds, call_gb = time.perf_counter() - t, tracemalloc.get_traced_memory()[1] / 2**30
print(json.dumps({{"seconds": seconds, "rows": len(exp.interactions), "call_gb": call_gb, "peak_gb": status("VmHWM")}}))
"""


def measure(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def uplift():
    "Peak RSS of simulate_uplift_log at N_USERS x N_ITEMS next to the small baseline, each in a fresh process."
    runs = {size: measure(UPLIFT_CODE.format(n_users=size[0], n_items=size[1])) for size in (UPLIFT_BASELINE, (N_USERS, N_ITEMS))}
    (base, big) = runs.values()
    print(f"simulate_uplift_log(pairs_per_user=50) at {N_USERS:,} users x {N_ITEMS:,} items: {big['rows']:,} rows")
    print(f"  peak RSS during the call {big['peak_gb']:6.2f} GB (target < 2 GB)   baseline {UPLIFT_BASELINE[0]:,} x "
          f"{UPLIFT_BASELINE[1]:,}: {base['peak_gb']:.2f} GB   ratio {big['peak_gb'] / base['peak_gb']:.2f}x")
    print(f"  allocated by the call at its peak {big['call_gb']:6.2f} GB   baseline {base['call_gb']:.3f} GB   "
          f"(a users x items float32 matrix would be {N_USERS * N_ITEMS * 4 / 2**30:.1f} GB)")
    print(f"  time {big['seconds']:.1f} s   baseline {base['seconds']:.2f} s")


if __name__ == "__main__" and UPLIFT:
    uplift()
elif __name__ == "__main__":
    base, sim = measure(BASELINE), measure(SIMULATE)
    print(f"simulate(n_users={N_USERS:,}, n_items={N_ITEMS:,}): {sim['rows']:,} interactions")
    print(f"  time      {sim['seconds']:7.1f} s   (target < 60 s)   baseline uniform draws {base['seconds']:.1f} s  "
          f"ratio {sim['seconds'] / base['seconds']:.2f}x")
    print(f"  peak RSS  {sim['peak_gb']:7.2f} GB  (target < 4 GB)    baseline {base['peak_gb']:.2f} GB")
