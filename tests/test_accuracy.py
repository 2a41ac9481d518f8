"Accuracy acceptance: the default MFRanker against simple and strong baselines on the category shop and MovieLens\n(Coat: tests/test_coat.py)."
from dataclasses import replace

import pandas as pd
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


SHOP_SEEDS = range(3)
COUNT_TIES = ("random", "popularity")


@pytest.fixture(scope="module")
def shop_runs():
    """Mean over 3 shops (seeds) of NDCG@10: the default MFRanker against the category-count ranker with random ties and
    with popularity ties, with impressions (the log the learner sees; its items are not candidates) and with clicks only."""
    rows = []
    for seed in SHOP_SEEDS:
        inter, items = category_shop(seed)
        train, test = holdout(inter, outcome="click", seed=seed)
        clicks = train[train["click"] > 0]
        counts = {t: CategoryCountRanker(items["category"].tolist(), ties=t, seed=seed).fit(clicks) for t in COUNT_TIES}
        for setting, log in (("impressions", train), ("clicks only", clicks)):
            mf = MFRanker(seed=seed, verbose=False).fit(log)
            rows.append({"setting": setting, "seed": seed, "mf": _ndcg10(mf, log, test),
                         **{t: _ndcg10(r, log, test) for t, r in counts.items()}})
    return pd.DataFrame(rows).groupby("setting")[["mf", *COUNT_TIES]].mean()


def test_popularity_ties_make_the_stronger_count_rule(shop_runs):
    "Appeal drives clicks inside a category, so breaking count ties by popularity beats random ties: the bar is the former."
    assert (shop_runs["popularity"] > shop_runs["random"]).all(), shop_runs


@pytest.mark.parametrize("ties", COUNT_TIES)
@pytest.mark.parametrize("setting", ["impressions", "clicks only"])
def test_default_mf_beats_category_count_on_the_shop(shop_runs, setting, ties):
    """Users click mostly in 1-2 categories, and inside a category by item appeal: counting a user's clicks per category
    and breaking ties by popularity is a strong rule; the default MF beats it (mean of 3 seeds)."""
    m = shop_runs.loc[setting]
    assert m["mf"] > m[ties], m


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

