"""Causal ranking (issue 10): acceptance on the simulator and fit/scoring time at scale.

    python bench/bench_causal.py --acceptance --seeds 5     # 2,000 users x 1,000 items, 5 seeds (about 15 min on 2 cores)
    python bench/bench_causal.py --scale                    # 100,000 users x 10,000 items: fit and top-10 times vs MF

Acceptance, per seed, on the biased log alone: true incremental purchases per user of the top 10 (`truth.policy_uplift`)
for the CausalRanker (graph learned by `effect_graph`), purchase-MF and click-MF, the tau- and p1-oracles and random;
NDCG@10 on the randomized log (clicks) of the response rankers and popularity; cold start (20% of items held out of
training entirely, added from their text, ranked among themselves) against random; and the negative control (treatment
shuffled across pairs). Figures are means with 95% t-intervals over seeds.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from causalrec.causal import CausalRanker, shuffled_treatment
from causalrec.data import split
from causalrec.encoder import TextEncoder
from causalrec.mf import MFRanker
from causalrec.protocols import evaluate
from causalrec.ranking import PopularityRanker, RandomRanker
from causalrec.simulator import simulate


def _top10(score: np.ndarray) -> np.ndarray:
    return np.argpartition(-score, 10, axis=1)[:, :10]


def acceptance_seed(seed: int, n_users: int = 2000, n_items: int = 1000, encoder=None, verbose: bool = False) -> dict:
    "Every acceptance figure of one simulated world."
    data = simulate(n_users=n_users, n_items=n_items, exposures_per_user=50, n_random=10, seed=seed)
    truth, users = data.truth, np.arange(n_users)
    train, test = split(data, method="mnar_mar")
    log = train.interactions
    caused = lambda topk: float(truth.policy_uplift(users, topk).mean())
    U, I = np.repeat(users, n_items), np.tile(np.arange(n_items), n_users)
    eff = truth.effects(U, I)
    out = {"seed": seed}
    t0 = time.time()
    causal = CausalRanker(encoder=encoder, verbose=verbose).fit(train)
    out["causal fit s"] = time.time() - t0
    out["covariates"] = ",".join(causal.covariates_)
    rankers = {"causal": causal, "purchase MF": MFRanker(outcome="purchase", verbose=False).fit(log),
               "click MF": MFRanker(outcome="click", verbose=False).fit(log)}
    for name, r in rankers.items(): out[name] = caused(r.recommend(users, 10))
    out["tau oracle"] = caused(_top10(eff.tau.to_numpy().reshape(n_users, n_items)))
    out["p1 oracle"] = caused(_top10(eff.p1.to_numpy().reshape(n_users, n_items)))
    out["random"] = 10 * float(eff.tau.mean())
    ndcg = evaluate({"click MF": rankers["click MF"], "purchase MF": rankers["purchase MF"],
                     "popularity": PopularityRanker("click").fit(log), "random": RandomRanker(seed).fit(train)},
                    train, test, ks=(10,), fit=False, verbose=False).query("metric == 'ndcg'").set_index("ranker")["value"]
    out.update({f"ndcg {k}": float(v) for k, v in ndcg.items()})
    held = np.sort(np.random.default_rng(seed).choice(n_items, n_items // 5, replace=False))
    warm = replace(train, interactions=log[~log.item_id.isin(held)], items=data.items[~data.items.item_id.isin(held)])
    cold = CausalRanker(encoder=encoder, verbose=verbose).fit(warm).add_items(data.items[data.items.item_id.isin(held)])
    s = cold.score(np.repeat(users, len(held)), np.tile(held, n_users)).reshape(n_users, len(held))
    out["cold causal"] = caused(held[_top10(s)])
    out["cold random"] = 10 * float(truth.uplift(np.repeat(users, len(held)), np.tile(held, n_users)).mean())
    control = CausalRanker(graph=causal.graph_edges_, encoder=encoder, verbose=verbose).fit(shuffled_treatment(train, seed=seed))
    out["shuffled causal"] = caused(control.recommend(users, 10))
    out["shuffled ate"], out["ate"], out["true ate"] = control.ate_, causal.ate_, float(eff.tau.mean())
    return out


def _ci(x) -> tuple:
    x = np.asarray(x, dtype=float)
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan
    return x.mean(), x.mean() - half, x.mean() + half


def acceptance(seeds=range(5), **kw) -> pd.DataFrame:
    "Per-seed figures of `acceptance_seed`, printed with the acceptance checks."
    enc = kw.pop("encoder", None) or TextEncoder(verbose=False)
    runs = []
    for s in seeds:
        runs.append(acceptance_seed(s, encoder=enc, **kw))
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in runs[-1].items()}, flush=True)
    runs = pd.DataFrame(runs)
    rows = ["causal", "purchase MF", "click MF", "tau oracle", "p1 oracle", "random", "cold causal", "cold random",
            "shuffled causal", "ndcg click MF", "ndcg purchase MF", "ndcg popularity", "ate", "true ate", "shuffled ate"]
    summary = pd.DataFrame([_ci(runs[r]) for r in rows], index=rows, columns=["mean", "ci95 low", "ci95 high"])
    print(runs.round(4).to_string(index=False))
    print(summary.round(4).to_string())
    best_ndcg = runs[["ndcg click MF", "ndcg purchase MF"]].mean().max()
    checks = {
        "causal >= 60% of tau oracle": summary.loc["causal", "mean"] / summary.loc["tau oracle", "mean"],
        "causal CI above purchase MF CI": summary.loc["causal", "ci95 low"] > summary.loc["purchase MF", "ci95 high"],
        "causal CI above click MF CI": summary.loc["causal", "ci95 low"] > summary.loc["click MF", "ci95 high"],
        "p1 oracle / tau oracle": summary.loc["p1 oracle", "mean"] / summary.loc["tau oracle", "mean"],
        "best response NDCG@10 / popularity": best_ndcg / summary.loc["ndcg popularity", "mean"],
        "cold start / random": summary.loc["cold causal", "mean"] / summary.loc["cold random", "mean"],
        "shuffled causal / purchase MF": summary.loc["shuffled causal", "mean"] / summary.loc["purchase MF", "mean"],
    }
    for k, v in checks.items(): print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    return runs


def scale(n_users: int = 100_000, n_items: int = 10_000, exposures: float = 50, seed: int = 0, epochs: int = 2,
          batch_size: int = 8192, n_negatives: int = 30, verbose: bool = True) -> dict:
    "Fit time of the CausalRanker and of purchase-MF on the same log, and the time of top-10 lists for every user."
    t0 = time.time()
    data = simulate(n_users=n_users, n_items=n_items, exposures_per_user=exposures, n_random=1, seed=seed)
    train = replace(data, interactions=data.interactions.query("log == 'mnar'"))
    out = {"simulate s": time.time() - t0, "logged rows": len(train.interactions)}
    print(out, flush=True)
    t0 = time.time()
    causal = CausalRanker(epochs=epochs, batch_size=batch_size, n_negatives=n_negatives, verbose=verbose).fit(train)
    out["causal fit s"] = time.time() - t0
    t0 = time.time()
    MFRanker(outcome="purchase", verbose=False).fit(train.interactions)
    out["purchase MF fit s"] = time.time() - t0
    t0 = time.time()
    top = causal.recommend(np.arange(n_users), 10, batch_size=2**23)
    out["causal top-10 all users s"] = time.time() - t0
    out["causal top-10 incremental purchases per user"] = float(data.truth.policy_uplift(np.arange(n_users), top).mean())
    out["fit time ratio causal / MF"] = out["causal fit s"] / out["purchase MF fit s"]
    for k, v in out.items(): print(f"{k}: {v:,.3f}" if isinstance(v, float) else f"{k}: {v:,}")
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--acceptance", action="store_true", help="the 2,000 x 1,000 acceptance runs")
    p.add_argument("--seeds", type=int, default=5, help="acceptance seeds")
    p.add_argument("--scale", action="store_true", help="fit and top-10 time at 100,000 users x 10,000 items")
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--items", type=int, default=10_000)
    a = p.parse_args()
    if a.acceptance: acceptance(range(a.seeds))
    if a.scale: scale(a.users, a.items)
    if not (a.acceptance or a.scale): p.print_help()
