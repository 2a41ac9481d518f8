"""Benchmark: every causalrec learner next to popularity, EASE and implicit's ALS/BPR on the same splits.

Protocols (stated once):
- MovieLens latest-small: positive = rating >= 4; for every user a random ceil(20%) of their positives is held out
  (`causalrec.tuning.holdout`, seed = run seed); rankers learn from the training positives (the rated-pairs learners
  IPS/SNIPS/DR from all training ratings with label rating >= 4 and popularity-estimated propensities); each user's
  training positives are excluded and every other item of the catalogue is a candidate. NDCG@10, Recall@10
  (hits / held-out positives). Peers with a grid (EASE, item-kNN, ALS, BPR, tuned MF) are tuned with
  `causalrec.tuning.tune` on a per-user validation split carved from seed 0's training positives only; the chosen
  settings are reused for the other seeds. Baseline of the ratios: popularity, same run.
- Coat: rating >= 3 is positive; train = the 6,960 self-selected (MNAR) ratings, test = the 4,640 random (MAR) ones;
  each user's own test items are ranked (`test_items` protocol), NDCG@5 with users without a positive test item both
  counted as 1 (the reference code's convention) and skipped, AUC over all test pairs. Propensity sources, and the data
  each one touches:
  * "shipped": Coat's propensities.ascii (a logistic model of the dataset's authors on user/item features; it rates
    pairs, not ratings) — training data only. A public reimplementation of Schnabel et al.'s PropensityMF runs Coat
    with these ('LR') and Yahoo with naive Bayes.
  * "NB, IPS prior": `estimate_propensities(method='naive_bayes_ips')`: P(O=1 | Y=y) by naive Bayes with P(Y=y) the
    shipped-propensity-weighted rating distribution of the training log — training data only.
  * "NB, 5% MAR": naive Bayes with P(Y=y) from one random MAR rating per user (`holdout(test, 0.05)`, per seed):
    Schnabel et al.'s naive Bayes protocol; it touches 5% of the test, so its learners are scored on the rest only.
  Ranking learners are scored on the full MAR test (columns without "rest"; not for the learners that saw the MAR
  sample) and on the MAR test less that sample ("rest"). The debiasing learners are tuned per seed with
  `tune(validation='mnar')` on a per-user 20% of the MNAR training ratings (validation log-loss of the label, weighted
  by the learner's own inverse propensities: an estimate of the log-loss on all pairs); the MAR test is never touched
  before the final scoring. SNIPS normalises by the mean weight of the whole log, a constant: with Adagrad (a step
  invariant to the loss scale) SNIPS at reg r is IPS at reg r * mean(w) (tests/test_coat.py), so it is run only with
  the shipped propensities (mean w != 1); the naive Bayes weights average exactly 1. Rating prediction: MSE/MAE of
  `predict` on the MAR test (full and rest). Every rating learner follows one rule, on training data only: reg and the
  epochs (early stopping) by `tune(validation='mnar')` on the validation MSE weighted by 1 / the propensity column of the
  data it is fitted on (none: unweighted), then a global intercept added to every prediction: the constant minimising
  that same validation MSE (the weighted mean residual on the held-out ratings), averaged over 5 carvings
  (`causalrec.tuning.validation_intercept`). Why: the IPS loss makes the *weighted* mean prediction on the logged pairs
  equal the weighted mean rating, but the fitted biases and factors extrapolate to the unlogged pairs with a mean about
  0.08 higher (MF-IPS, naive Bayes: 2.40-2.42 over all pairs against 2.33, a one-off diagnosis this bench does not print); the held-out residual corrects part of it
  (MF-IPS: -0.03 to -0.05, 5 seeds). Columns without "unshifted": with the intercept. "MF (naive fit, weighted
  validation)" is fitted without weights but, as `tune` does with any propensity column, validated with the shipped
  ones; its intercept (-0.20 to -0.26) is then itself a debiasing step, which makes it the stronger baseline.
  "MF (naive)" never sees a propensity. Baselines of the ratios: MF (naive), same run.
- fit s: wall seconds of `fit` (refit only, tuning excluded); top-10 s: `recommend` for every test user.
Run: .venv/bin/python bench/bench_accuracy.py [--seeds 3] [--coat-seeds 5] [--only movielens|coat] [--no-twotower]
Needs implicit==0.7.3 (the `implicit` extra, for `causalrec.implicit_ranker.ImplicitRanker`) and ../shared/data (coat, ml-latest-small).
"""
import argparse
import time
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from causalrec.data import split
from causalrec.implicit_ranker import ImplicitRanker
from causalrec.loaders import load_coat, load_movielens, shared_data
from causalrec.mf import DRRanker, IPSRanker, MFRanker, PDRanker, SNIPSRanker
from causalrec.propensity import estimate_propensities
from causalrec.protocols import evaluate
from causalrec.ranking import (
    EASERanker,
    ItemKNNRanker,
    PopularityRanker,
    RandomRanker,
)
from causalrec.tuning import holdout, tune, validation_intercept

warnings.filterwarnings("ignore", message=".*(clipped at 1|were below clip)")


def seeded(cls, params:dict, seed:int) -> dict:
    "`params` with `seed` added when the class takes one."
    return {**params, "seed": seed} if hasattr(cls(**params), "seed") else dict(params)


def summary(res:pd.DataFrame, metrics:list, base:str, ratio_of:str) -> str:
    "Mean ± std per learner over seeds, and `ratio_of` as a ratio to `base`'s mean."
    g = res.groupby("learner", sort=False)[metrics]
    mean, std = g.mean(), g.std().fillna(0)
    table = (mean.map(lambda x: f"{x:.4f}") + " ± " + std.map(lambda x: f"{x:.4f}")).where(mean.notna(), "—")  # — : not scored there
    table[f"{ratio_of} / {base}"] = (mean[ratio_of] / mean.loc[base, ratio_of]).round(2)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        return table.to_string()


# --- MovieLens ----------------------------------------------------------------------------------------------------

ML_POS = dict(outcome="rating", threshold=4)
ML_GRIDS = {  # learner -> (class, fixed parameters, grid tuned on seed 0's validation split, data: 'pos' or 'all')
    "random": (RandomRanker, {}, None, "pos"),
    "popularity": (PopularityRanker, {"outcome": None}, None, "pos"),
    "MF softmax (defaults)": (MFRanker, {**ML_POS, "verbose": False}, None, "pos"),
    "MF bpr (defaults)": (MFRanker, {**ML_POS, "loss": "bpr", "verbose": False}, None, "pos"),
    "MF bce (defaults)": (MFRanker, {**ML_POS, "loss": "bce", "verbose": False}, None, "pos"),
    "MF softmax (tuned)": (MFRanker, {**ML_POS, "epochs": 60, "verbose": False}, {"dim": [64, 128], "reg": [0.3, 0.5]}, "pos"),
    "PD (defaults)": (PDRanker, {**ML_POS, "verbose": False}, None, "pos"),
    "MF logged bce (rated pairs)": (MFRanker, {**ML_POS, "negatives": "logged", "loss": "bce", "verbose": False}, None, "all"),
    "IPS (rated pairs)": (IPSRanker, {**ML_POS, "verbose": False}, None, "all"),
    "SNIPS (rated pairs)": (SNIPSRanker, {**ML_POS, "verbose": False}, None, "all"),
    "DR (rated pairs)": (DRRanker, {**ML_POS, "verbose": False}, None, "all"),
    "EASE": (EASERanker, {"outcome": None}, {"lam": [100.0, 300.0, 1000.0]}, "pos"),
    "item-kNN": (ItemKNNRanker, {"outcome": None}, {"k": [50, 200]}, "pos"),
    "implicit ALS": (ImplicitRanker, {"model": "als"},
                     [{"factors": f, "regularization": r, "alpha": a} for f in (64, 128) for r, a in ((0.1, 1.0), (1.0, 5.0))], "pos"),
    "implicit BPR": (ImplicitRanker, {"model": "bpr", "iterations": 100}, [{"learning_rate": lr} for lr in (0.01, 0.05)], "pos"),
}


def twotower():
    "TwoTower on the items' text (title, genres, tags) with the project's default encoder."
    from causalrec.twotower import TwoTower
    return TwoTower(verbose=False)


def movielens(seeds:int, with_twotower:bool) -> pd.DataFrame:
    data = load_movielens(shared_data("ml-latest-small"))
    rows, chosen = [], {}
    for seed in range(seeds):
        train, test = holdout(data, outcome="rating", threshold=4, seed=seed)
        pos = replace(train, interactions=train.interactions[train.interactions["rating"] >= 4])
        users = np.unique(test.interactions["user_id"])
        learners = dict(ML_GRIDS)
        if with_twotower: learners["TwoTower (text)"] = (None, {}, None, "pos")
        for name, (cls, fixed, grid, which) in learners.items():
            fit_data = pos if which == "pos" else train
            if grid is not None and name not in chosen:
                t = time.time()
                chosen[name] = tune(cls, pos, grid, metric="ndcg@10", validation="per_user", seed=seed, refit=False, **fixed).params
                print(f"  tuned {name} on seed {seed}'s validation in {time.time() - t:.0f}s: {chosen[name]}", flush=True)
            r = twotower() if cls is None else cls(**seeded(cls, {**fixed, **chosen.get(name, {})}, seed))
            t = time.time()
            try: r.fit(fit_data)
            except Exception as e:  # a learner that cannot run here (e.g. no text encoder) is reported, not fatal
                print(f"  seed {seed} {name}: not run ({type(e).__name__}: {e})", flush=True); continue
            fit_s = time.time() - t
            t = time.time(); r.recommend(users, 10, exclude=pos); top_s = time.time() - t
            ev = evaluate(r, pos, test, protocol="full", ks=(10,), label="rating", threshold=4, fit=False, verbose=False)
            v = ev[ev["k"] == 10].set_index("metric")["value"]
            rows.append({"learner": name, "seed": seed, "ndcg@10": v["ndcg"], "recall@10": v["recall"], "fit_s": fit_s,
                         "top10_s": top_s, "params": str(chosen.get(name, ""))})
            print(f"  seed {seed} {name:30s} ndcg@10 {v['ndcg']:.4f} recall@10 {v['recall']:.4f} fit {fit_s:.1f}s top-10 {top_s:.2f}s", flush=True)
    return pd.DataFrame(rows)


# --- Coat ---------------------------------------------------------------------------------------------------------

COAT = dict(outcome="rating", threshold=3, verbose=False)
COAT_TUNED = {**COAT, "epochs": 100}  # an upper bound: early stopping on the validation log-loss picks the epochs
COAT_GRID = {"reg": [0.01, 0.02, 0.03]}
COAT_RANKING = {  # learner -> (class, fixed, grid tuned per seed on the MNAR validation log-loss (IPS-weighted), or None,
    #                        propensity source: see COAT_SOURCES)
    "random": (RandomRanker, {}, None, "shipped"),
    "popularity": (PopularityRanker, {"outcome": None}, None, "shipped"),
    "MF (rated pairs, naive)": (MFRanker, {**COAT_TUNED, "negatives": "logged", "loss": "bce"}, COAT_GRID, "shipped"),
    "IPS": (IPSRanker, COAT_TUNED, COAT_GRID, "shipped"),
    "SNIPS": (SNIPSRanker, COAT_TUNED, COAT_GRID, "shipped"),
    "DR": (DRRanker, COAT_TUNED, COAT_GRID, "shipped"),
    "IPS (NB, IPS prior)": (IPSRanker, COAT_TUNED, COAT_GRID, "nb_ips"),
    "DR (NB, IPS prior)": (DRRanker, COAT_TUNED, COAT_GRID, "nb_ips"),
    "IPS (NB, 5% MAR)": (IPSRanker, COAT_TUNED, COAT_GRID, "nb_mar"),
    "DR (NB, 5% MAR)": (DRRanker, COAT_TUNED, COAT_GRID, "nb_mar"),
    "PD (rated pairs)": (PDRanker, {**COAT_TUNED, "negatives": "logged", "loss": "bce"}, COAT_GRID, "shipped"),
    "MF softmax (positives, defaults)": (MFRanker, COAT, None, "shipped"),
    "EASE (positives)": (EASERanker, {"outcome": "rating", "threshold": 3}, None, "shipped"),
    "implicit ALS (positives)": (ImplicitRanker, {"outcome": "rating", "threshold": 3}, None, "shipped"),
}
COAT_RATING = {  # learner -> (class, propensity source)
    "MF (naive)": (MFRanker, "none"), "MF (naive fit, weighted validation)": (MFRanker, "shipped"),
    "MF-IPS": (IPSRanker, "shipped"), "MF-SNIPS": (SNIPSRanker, "shipped"),
    "MF-DR": (DRRanker, "shipped"), "MF-IPS (NB, IPS prior)": (IPSRanker, "nb_ips"), "MF-DR (NB, IPS prior)": (DRRanker, "nb_ips"),
    "MF-IPS (NB, 5% MAR)": (IPSRanker, "nb_mar"), "MF-DR (NB, 5% MAR)": (DRRanker, "nb_mar"),
}
COAT_SOURCES = {"none": "no propensity column (unweighted validation)",
                "shipped": "Coat's shipped propensities (training data only)",
                "nb_ips": "naive Bayes, P(Y) by shipped-propensity IPS on the training log (training data only)",
                "nb_mar": "naive Bayes, P(Y) from one MAR rating per user (5% of the test; scored on the rest only)"}
COAT_MSE = dict(outcome="rating", negatives="logged", loss="mse", batch_size=1024, epochs=100, verbose=False)
COAT_MSE_GRID = {"reg": [0.1, 0.2, 0.3]}  # per-use penalty (reg_power 0); reg_power 1 with reg in 1-16 gave MF-IPS 1.098 vs 1.099 unshifted (5 seeds, an earlier grid of this bench)
def rating_errors(cls, # the rating learner's class
                  data, # its training data (RecData)
                  tests:dict, # column-name suffix -> test interactions (user_id, item_id, rating)
                  seed:int, # seed of the carvings and the fits
                 ) -> dict:
    "MSE/MAE on each test frame of `tests` (name suffix -> interactions), unshifted and with the validation intercept."
    tuned = tune(cls, data, COAT_MSE_GRID, metric="mse", validation="mnar", seed=seed, **COAT_MSE)
    shift = validation_intercept(cls, data, {**COAT_MSE, "seed": seed, **tuned.params}, seed=seed)
    r, row = tuned.ranker, {"params": str({**tuned.params, "intercept": round(shift, 4)})}
    for part, te in tests.items():
        pred = r.predict(te["user_id"], te["item_id"])
        for kind, p in (("", np.clip(pred + shift, *r.y_range_)), (" unshifted", pred)):
            e = p - te["rating"].to_numpy()
            row[f"mse{kind}{part}"], row[f"mae{kind}{part}"] = float(np.mean(e ** 2)), float(np.mean(np.abs(e)))
    return row


def coat(seeds:int) -> tuple:
    train, test = split(load_coat(shared_data("coat")), "mnar_mar")
    rank_rows, mse_rows = [], []
    for seed in range(seeds):
        test_rest, mar_sample = holdout(test, share=0.05, seed=seed)  # one MAR rating per user, only for P(Y = y)
        props = {"nb_ips": estimate_propensities(train, method="naive_bayes_ips", outcome="rating"),
                 "nb_mar": estimate_propensities(train, method="naive_bayes", mar=mar_sample.interactions, outcome="rating")}
        fit_on = {"shipped": train, "none": replace(train, interactions=train.interactions.drop(columns="propensity")),
                  **{k: replace(train, interactions=train.interactions.assign(propensity=p)) for k, p in props.items()}}
        for name, (cls, fixed, grid, source) in COAT_RANKING.items():
            params, chosen, data = seeded(cls, fixed, seed), {}, fit_on[source]
            if grid is not None:
                chosen = tune(cls, data, grid, metric="logloss", validation="mnar", seed=seed, refit=False, **fixed).params
            r = cls(**{**params, **chosen})
            t = time.time(); r.fit(data); fit_s = time.time() - t
            row = {"learner": name, "seed": seed, "fit_s": fit_s, "params": str(chosen)}
            # the full MAR test (the literature's protocol) unless the learner saw the MAR sample; always the rest
            for part, te in (("", test), (" rest", test_rest)):
                if part == "" and source == "nb_mar": continue
                for conv in ("one", "skip"):
                    ev = evaluate(r, data, te, protocol="test_items", ks=(5,), label="rating", threshold=3, no_positive=conv,
                                  fit=False, verbose=False).set_index("metric")["value"]
                    row[f"ndcg@5 ({conv}){part}"], row[f"auc{part}"] = ev["ndcg"], ev["auc"]
            rank_rows.append(row)
            print(f"  seed {seed} {name:34s} auc {row.get('auc', np.nan):.4f} ndcg@5 one/skip {row.get('ndcg@5 (one)', np.nan):.4f}/"
                  f"{row.get('ndcg@5 (skip)', np.nan):.4f}; on the rest {row['auc rest']:.4f} {row['ndcg@5 (one) rest']:.4f}/"
                  f"{row['ndcg@5 (skip) rest']:.4f} {chosen}", flush=True)
        for name, (cls, source) in COAT_RATING.items():
            tests = {**({} if source == "nb_mar" else {"": test.interactions}), " rest": test_rest.interactions}
            row = {"learner": name, "seed": seed, **rating_errors(cls, fit_on[source], tests, seed)}
            mse_rows.append(row)
            print(f"  seed {seed} {name:24s} MSE {row.get('mse', np.nan):.4f} (rest {row['mse rest']:.4f}; unshifted "
                  f"{row.get('mse unshifted', np.nan):.4f}) {row['params']}", flush=True)
    return pd.DataFrame(rank_rows), pd.DataFrame(mse_rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--coat-seeds", type=int, default=5)
    ap.add_argument("--only", choices=["movielens", "coat"])
    ap.add_argument("--no-twotower", action="store_true")
    a = ap.parse_args()
    t0 = time.time()
    with threadpool_limits(1):
        if a.only != "coat":
            ml = movielens(a.seeds, not a.no_twotower)
            print(f"\nMovieLens latest-small, {a.seeds} seed(s), mean ± std (chosen settings: {dict(ml.groupby('learner', sort=False)['params'].first())})")
            print(summary(ml, ["ndcg@10", "recall@10", "fit_s", "top10_s"], "popularity", "ndcg@10"))
        if a.only != "movielens":
            rank, mse = coat(a.coat_seeds)
            print("\nCoat propensity sources: " + "; ".join(f"{k} = {v}" for k, v in COAT_SOURCES.items()))
            print(f"Coat ranking (rating >= 3, each user's MAR test items), {a.coat_seeds} seed(s), mean ± std")
            print(summary(rank, ["auc", "ndcg@5 (one)", "ndcg@5 (skip)", "auc rest", "ndcg@5 (one) rest", "ndcg@5 (skip) rest",
                                 "fit_s"], "MF (rated pairs, naive)", "auc rest"))
            print(f"\nCoat rating prediction on the MAR test (full; rest = less one rating per user), {a.coat_seeds} seed(s), "
                  "mean ± std (published: MF 1.202, MF-IPS 1.093)")
            print(summary(mse, ["mse", "mae", "mse rest", "mae rest", "mse unshifted", "mse unshifted rest"], "MF (naive)", "mse rest"))
            print("chosen (reg, epochs, intercept) per seed: " + "; ".join(f"{k}: {' | '.join(v)}" for k, v in
                                                                          mse.groupby("learner", sort=False)["params"]))
    print(f"\ntotal {time.time() - t0:.0f}s")
