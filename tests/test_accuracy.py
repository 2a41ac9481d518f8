"Accuracy acceptance: the default MFRanker against simple and strong baselines on the category shop and MovieLens."
from dataclasses import replace

import pytest
from shop import CategoryCountRanker, category_shop

from causalrec.mf import MFRanker
from causalrec.protocols import evaluate
from causalrec.ranking import PopularityRanker
from causalrec.tuning import holdout

pytestmark = pytest.mark.filterwarnings("ignore:.*(clipped at 1|were below clip):UserWarning")


def _ndcg10(ranker, train, test, label="click", threshold=1):
    "NDCG@10 of the full ranking of unseen items (the `train` rows are excluded), the ranker already fitted."
    res = evaluate(ranker, train, test, protocol="full", ks=(10,), label=label, threshold=threshold, fit=False, verbose=False)
    return float(res.loc[(res["metric"] == "ndcg") & (res["k"] == 10), "value"].iloc[0])


@pytest.fixture(scope="module")
def shop_runs():
    "Per seed: NDCG@10 of the default MFRanker and the category-count rankers, with impressions and with clicks only."
    rows = []
    for seed in range(3):
        inter, items = category_shop(seed)
        train, test = holdout(inter, outcome="click", seed=seed)
        clicks = train[train["click"] > 0]
        for setting, log in (("impressions", train), ("clicks only", clicks)):
            mf = MFRanker(seed=seed, verbose=False).fit(log)
            cc = {t: CategoryCountRanker(items["category"].tolist(), ties=t, seed=seed).fit(clicks) for t in ("random", "popularity")}
            rows.append({"setting": setting, "seed": seed, "mf": _ndcg10(mf, log, test),
                         **{f"category count ({t} ties)": _ndcg10(r, log, test) for t, r in cc.items()}})
    import pandas as pd
    return pd.DataFrame(rows).groupby("setting").mean()


@pytest.mark.parametrize("setting", ["impressions", "clicks only"])
def test_default_mf_beats_category_count_on_the_shop(shop_runs, setting):
    "Users click mostly in 1-2 categories: counting their clicks per category is a strong rule; default MF beats it (3 seeds)."
    m = shop_runs.loc[setting]
    assert m["mf"] > m["category count (random ties)"], m


def test_default_mf_beats_popularity_on_movielens():
    "MovieLens latest-small, positive = rating >= 4, a random 20% of each user's positives held out: MF >= 1.5x popularity."
    from conftest import shared_dataset

    from causalrec.loaders import load_movielens
    data = load_movielens(shared_dataset("ml-latest-small"))
    train, test = holdout(data, outcome="rating", threshold=4, seed=0)
    pos = replace(train, interactions=train.interactions[train.interactions["rating"] >= 4])
    mf = MFRanker(outcome="rating", threshold=4, verbose=False).fit(pos)
    pop = PopularityRanker(None).fit(pos)
    ndcg_mf, ndcg_pop = _ndcg10(mf, pos, test, "rating", 4), _ndcg10(pop, pos, test, "rating", 4)
    assert ndcg_mf >= 1.5 * ndcg_pop, (ndcg_mf, ndcg_pop)
