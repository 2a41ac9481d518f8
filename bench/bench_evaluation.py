"""Benchmark: all ranking and catalogue metrics at K=10 and K=100 for 100,000 users x top-100 lists
(target: < 2 s on a 2-core machine).

Timed (vectorized): the relevance lookup (relevance_matrix), precision/recall/NDCG/MAP/hit rate/MRR at K=10 and K=100
(ranking_metrics), coverage, Gini, average popularity, novelty and intra-list diversity (d=32 embeddings) at both K
(catalogue_metrics). Inputs are built before timing.
Baseline, measured in the same run: a straightforward per-user Python loop (sets for relevance, list arithmetic for the
metrics, numpy only for each list's embedding block) over a subset of users, scaled linearly to all users (it is
linear in users). Both paths are checked to give the same numbers on that subset.
Off-policy evaluation (second part): naive/IPS/SNIPS/DR point estimates, 1,000 Poisson-bootstrap replicates and the
diagnostics for a top-10 policy over the same users, with ~30 logged exposures per user. Baseline: the point estimates
by a per-user Python loop (sets for the lists) on a subset of users, scaled linearly, checked to agree.
Run: .venv/bin/python bench/bench_evaluation.py [n_users] [loop_users]
"""
import math
import sys
import time
import warnings

import numpy as np
import pandas as pd

from causalrec.metrics import catalogue_metrics, ranking_metrics, relevance_matrix
from causalrec.ope import OPEWarning, off_policy_estimates

N_USERS, LOOP_USERS = (int(a) for a in (sys.argv[1:3] if len(sys.argv) > 2 else (100_000, 2_000)))
N_ITEMS, K, KS, N_REL, DIM = 20_000, 100, (10, 100), 20, 32


def make_inputs(seed=0):
    "Zipf-like popular items in both the lists and the relevant sets; ~20 relevant items per user."
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, N_ITEMS + 1) ** 0.8; p /= p.sum()
    draws = np.sort(rng.choice(N_ITEMS, size=(N_USERS, 3 * K), p=p), axis=1)  # distinct items per list:
    draws[:, 1:][draws[:, 1:] == draws[:, :-1]] = N_ITEMS                    # mark repeats, push them last
    topk = np.sort(draws, axis=1)[:, :K]
    assert (topk < N_ITEMS).all(), "a list got fewer than K distinct items; draw more"
    topk = rng.permuted(topk, axis=1)
    n = rng.poisson(N_REL, N_USERS).clip(1)
    rel = pd.DataFrame({"user_id": np.repeat(np.arange(N_USERS), n), "item_id": rng.choice(N_ITEMS, n.sum(), p=p)})
    rel = rel.drop_duplicates(ignore_index=True)
    counts = pd.Series(np.bincount(rng.choice(N_ITEMS, 2_000_000, p=p), minlength=N_ITEMS), index=np.arange(N_ITEMS))
    users_per_item = counts.clip(upper=N_USERS)
    emb = rng.normal(size=(N_ITEMS, DIM)).astype(np.float32)
    return topk, rel, counts, users_per_item, emb


def vectorized(topk, rel, counts, users_per_item, emb):
    gains, n_rel, ideal = relevance_matrix(topk, np.arange(len(topk)), rel)
    res = pd.concat([ranking_metrics(gains, n_rel, ideal, KS),
                     catalogue_metrics(topk, np.arange(N_ITEMS), KS, popularity=counts, user_counts=users_per_item,
                                       n_users=N_USERS, embeddings=emb)])
    return {(r.metric, r.k): r.value for r in res.itertuples()}


def loop(topk, rel, counts, users_per_item, emb, n_users):
    "The per-user reference: one Python iteration per user."
    relsets = rel[rel.user_id < n_users].groupby("user_id").item_id.apply(set).to_dict()
    cnt, upi = counts.to_numpy(), users_per_item.to_numpy()
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    acc = {}
    rec_count = {k: np.zeros(N_ITEMS) for k in KS}
    for u in range(n_users):
        items, rs = topk[u].tolist(), relsets.get(u, set())
        for k in KS:
            hits = [1 if i in rs else 0 for i in items[:k]]
            nh, R = sum(hits), len(rs)
            dcg = sum(h / math.log2(j + 2) for j, h in enumerate(hits))
            idcg = sum(1 / math.log2(j + 2) for j in range(min(R, k)))
            ap, seen = 0.0, 0
            for j, h in enumerate(hits):
                if h: seen += 1; ap += seen / (j + 1)
            first = next((j for j, h in enumerate(hits) if h), None)
            e = unit[items[:k]]
            s = e.sum(0)
            vals = {"precision": nh / k, "recall": nh / R, "ndcg": dcg / idcg, "map": ap / min(R, k),
                    "hit_rate": float(nh > 0), "mrr": 0.0 if first is None else 1 / (first + 1),
                    "avg_popularity": sum(cnt[i] for i in items[:k]) / k,
                    "novelty": sum(-math.log2((upi[i] + 1) / (N_USERS + 1)) for i in items[:k]) / k,
                    "ild": 1 - (float(s @ s) - k) / (k * (k - 1))}
            for m, v in vals.items(): acc[(m, k)] = acc.get((m, k), 0.0) + v
            for i in items[:k]: rec_count[k][i] += 1
    out = {key: v / n_users for key, v in acc.items()}
    for k in KS:
        c = np.sort(rec_count[k]); n = len(c)
        out[("coverage", k)] = float((c > 0).mean())
        out[("gini", k)] = float(((2 * np.arange(1, n + 1) - n - 1) * c).sum() / (n * c.sum()))
    return out


def make_log(topk, seed=1, per_user=30):
    "Logged exposures: per user ~`per_user` items, a third of them from the policy's list; propensities and clicks."
    rng = np.random.default_rng(seed)
    n = rng.poisson(per_user, len(topk)).clip(1)
    u = np.repeat(np.arange(len(topk)), n)
    i = np.where(rng.random(len(u)) < 1 / 3, topk[u, rng.integers(0, 10, len(u))], rng.integers(0, N_ITEMS, len(u)))
    log = pd.DataFrame({"user_id": u, "item_id": i}).drop_duplicates(ignore_index=True)
    log["p"] = rng.uniform(0.01, 1, len(log))
    log["click"] = (rng.random(len(log)) < 0.3).astype(np.int8)
    return log, lambda users, items: np.full(len(users), 0.3)


def ope_loop(log, topk, model, n_users):
    "Per-user reference: naive, IPS, SNIPS, DR point estimates with sets and Python arithmetic."
    sub = log[log.user_id < n_users]
    S, n, r, wr, w, dr = 0, 0, 0.0, 0.0, 0.0, 0.0
    by_user = {u: g for u, g in sub.groupby("user_id")}
    for u in range(n_users):
        lst = set(topk[u, :10].tolist()); S += len(lst); dr += 0.3 * len(lst)
        g = by_user.get(u)
        if g is None: continue
        for i, p, c in zip(g.item_id, g.p, g.click):
            if i in lst: n += 1; r += c; wr += c / p; w += 1 / p; dr += (c - 0.3) / p
    return {"naive": S / n_users * r / n, "ips": wr / n_users, "snips": S / n_users * wr / w, "dr": dr / n_users}


if __name__ == "__main__":
    t = time.perf_counter(); inputs = make_inputs(); print(f"(inputs built in {time.perf_counter() - t:.1f} s)")
    topk, rel = inputs[:2]
    vectorized(*inputs)  # warm-up (imports, allocations)
    times = []
    for _ in range(3):
        t = time.perf_counter(); res = vectorized(*inputs); times.append(time.perf_counter() - t)
    vec_s = min(times)
    t = time.perf_counter(); ref = loop(*inputs, LOOP_USERS); loop_s = (time.perf_counter() - t) * N_USERS / LOOP_USERS
    sub = (topk[:LOOP_USERS], rel[rel.user_id < LOOP_USERS], *inputs[2:])
    small = vectorized(*sub)  # same subset, vectorized: must agree with the loop (coverage/gini use the subset's lists)
    worst = max(abs(small[key] - ref[key]) / max(abs(ref[key]), 1e-12) for key in ref)
    print(f"{N_USERS:,} users x top-{K} lists, {N_ITEMS:,} items, {len(rel):,} relevant pairs, {DIM}-d embeddings")
    print(f"  metrics: precision recall ndcg map hit_rate mrr coverage gini avg_popularity novelty ild  at K={KS}")
    print(f"  vectorized      {vec_s:6.2f} s   (best of 3; target < 2 s)")
    print(f"  per-user loop   {loop_s:6.1f} s   (timed on {LOOP_USERS:,} users, scaled x{N_USERS / LOOP_USERS:g})")
    print(f"  speed-up        {loop_s / vec_s:6.0f}x   max relative difference loop vs vectorized on the subset: {worst:.1e}")
    print(f"  ndcg@10 {res[('ndcg', 10)]:.4f}  recall@100 {res[('recall', 100)]:.4f}  gini@100 {res[('gini', 100)]:.3f}  "
          f"ild@10 {res[('ild', 10)]:.3f}")

    top10 = np.ascontiguousarray(topk[:, :10])
    log, model = make_log(top10)
    users = np.arange(N_USERS)
    warnings.simplefilter("ignore", OPEWarning)  # a synthetic log: its support is not the point here
    ope = lambda lg, tk, us, n_boot: off_policy_estimates(lg, tk, us, "p", reward_model=model, n_boot=n_boot)
    ope(log.head(1000), top10, users, 10)  # warm-up
    t = time.perf_counter(); point = ope(log, top10, users, 0); point_s = time.perf_counter() - t
    t = time.perf_counter(); ope(log, top10, users, 1000); boot_s = time.perf_counter() - t
    t = time.perf_counter(); ref = ope_loop(log, top10, model, LOOP_USERS); oloop_s = (time.perf_counter() - t) * N_USERS / LOOP_USERS
    small = {e.estimator: e.value for e in ope(log[log.user_id < LOOP_USERS], top10[:LOOP_USERS], users[:LOOP_USERS], 0)}
    worst = max(abs(small[k] - ref[k]) / abs(ref[k]) for k in ref)
    print(f"off-policy: {N_USERS:,} users x top-10, {len(log):,} logged rows, naive/IPS/SNIPS/DR + diagnostics")
    print(f"  vectorized point estimates               {point_s:6.2f} s")
    print(f"  vectorized, 1,000 bootstrap replicates   {boot_s:6.2f} s")
    print(f"  per-user loop, point estimates           {oloop_s:6.1f} s   (timed on {LOOP_USERS:,} users, scaled)")
    print(f"  speed-up (point estimates)               {oloop_s / point_s:6.0f}x   "
          f"max relative difference loop vs vectorized on the subset: {worst:.1e}")
