"Ranking stage: fit/score/recommend/save/load for every ranker, determinism, bad input, properties of recommend."
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrec.mf import DRRanker, IPSRanker, MFRanker, PDRanker, SNIPSRanker, UpliftRanker
from causalrec.ranking import EASERanker, ItemKNNRanker, OracleRanker, PopularityRanker, RandomRanker, Ranker
from causalrec.simulator import simulate_uplift_log

pytestmark = pytest.mark.filterwarnings("ignore:.*(clipped at 1|were below clip):UserWarning")
FAST = dict(dim=4, epochs=3, verbose=False)


@pytest.fixture(scope="module")
def world():
    from causalrec.data import split
    from causalrec.simulator import simulate
    sim = simulate(n_users=120, n_items=60, exposures_per_user=10, n_random=5, seed=0)
    train, test = split(sim, method="mnar_mar")
    return sim, train, test


def _rankers():
    return {"random": lambda: RandomRanker(3), "popularity": lambda: PopularityRanker(), "mf": lambda: MFRanker(**FAST),
            "ips": lambda: IPSRanker(**FAST), "snips": lambda: SNIPSRanker(**FAST), "dr": lambda: DRRanker(**FAST),
            "pd": lambda: PDRanker(adjust=0.1, **FAST), "mf_es": lambda: MFRanker(patience=1, **FAST),
            "uplift": lambda: UpliftRanker(**FAST), "mf_bpr": lambda: MFRanker(loss="bpr", alpha=0.0, **FAST),
            "mf_logged": lambda: MFRanker(negatives="logged", loss="bce", patience=1, **FAST),
            "pd_logged": lambda: PDRanker(negatives="logged", loss="bce", **FAST),
            "dr_mse": lambda: DRRanker(outcome="rating", loss="mse", **FAST),
            "ease": lambda: EASERanker(lam=10.0), "knn": lambda: ItemKNNRanker(k=10)}


def _data(name, world):
    sim, train, _ = world
    return simulate_uplift_log(sim, pairs_per_user=10) if name == "uplift" else train


@pytest.mark.parametrize("name", list(_rankers()))
def test_fit_score_recommend_save_load(name, world, tmp_path):
    sim, train, _ = world
    data = _data(name, world)
    r = _rankers()[name]().fit(data)
    users = np.arange(20)
    topk = r.recommend(users, 5, exclude=data)
    assert topk.shape == (20, 5) and (topk >= 0).all()
    s = r.score(users, topk[:, 0])
    assert s.shape == (20,) and np.isfinite(s).all()
    back = Ranker.load(r.save(tmp_path / f"{name}.safetensors"))
    assert type(back) is type(r)
    np.testing.assert_array_equal(back.recommend(users, 5, exclude=data), topk)
    np.testing.assert_allclose(back.score(users, topk[:, 0]), s)
    again = _rankers()[name]().fit(data)  # same seed, same model
    np.testing.assert_allclose(again.score(users, topk[:, 0]), s)


def test_seed_changes_model(world):
    _, train, _ = world
    a, b = MFRanker(seed=0, **FAST).fit(train), MFRanker(seed=1, **FAST).fit(train)
    assert not np.allclose(a.score([0, 1, 2], [0, 1, 2]), b.score([0, 1, 2], [0, 1, 2]))


def test_oracle_is_not_saved(world, tmp_path):
    sim, _, _ = world
    with pytest.raises(TypeError, match="OracleRanker.truth_ is a SimTruth, which save\\(\\) cannot store without pickle"):
        OracleRanker().fit(sim).save(tmp_path / "o.safetensors")


def test_learned_rankers_beat_random_on_true_value(world):
    from causalrec.ope import policy_value
    sim, train, _ = world
    users = np.arange(sim.n_users)
    value = lambda r: policy_value(sim.truth, users, r.fit(train).recommend(users, 10, exclude=train))
    assert value(MFRanker(dim=8, epochs=5, verbose=False)) > value(RandomRanker(0))


# --- bad input ----------------------------------------------------------------------------------------------------

def test_unknown_ids(world):
    _, train, _ = world
    mf = MFRanker(**FAST).fit(train)
    with pytest.raises(ValueError, match=r"2 user id\(s\) are unknown to the fitted MFRanker \(e.g. 999\)"):
        mf.score([999, 1000], [0, 1])
    with pytest.raises(ValueError, match=r"1 item id\(s\) are unknown to the fitted MFRanker \(e.g. -5\)"):
        mf.score([0], [-5])
    with pytest.raises(ValueError, match="users has 2 ids but items has 1"): mf.score([0, 1], [0])
    with pytest.raises(ValueError, match="not fitted; call .fit\\(data\\) before .score"): MFRanker().score([0], [0])


def test_missing_columns(world):
    sim, train, _ = world
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['rating2'\]"): MFRanker(outcome="rating2", **FAST).fit(train)
    with pytest.raises(TypeError, match="must be a RecData or a pandas DataFrame"): MFRanker(**FAST).fit([1, 2, 3])
    with pytest.raises(ValueError, match="needs a 'treatment' column .* simulate_uplift_log"): UpliftRanker(**FAST).fit(train)
    log = simulate_uplift_log(sim, pairs_per_user=5)
    bad = replace(log, interactions=log.interactions.assign(treatment=2))
    with pytest.raises(ValueError, match=r"treatment: 600 row\(s\) are not 0/1"): UpliftRanker(**FAST).fit(bad)
    with pytest.raises(ValueError, match="needs simulated data with .truth"):
        simulate_uplift_log(replace(sim, truth=None))
    with pytest.raises(ValueError, match="pairs_per_user=0 must be in 1..60"): simulate_uplift_log(sim, pairs_per_user=0)


def test_bad_propensities(world):
    _, train, _ = world
    inter = train.interactions
    n = len(inter)
    for p, count in ((np.zeros(n), n), (np.r_[np.full(n - 3, 0.5), [np.nan, 1.5, -1]], 3)):
        with pytest.raises(ValueError, match=rf"propensity: {count} row\(s\) are not in \(0, 1\]"):
            IPSRanker(**FAST).fit(inter.assign(propensity=p))
    with pytest.raises(ValueError, match="bare frame cannot be used to estimate"): IPSRanker(**FAST).fit(inter)
    with pytest.raises(ValueError, match="clip must be in \\(0, 1\\]"): IPSRanker(clip=0, **FAST).fit(train)
    with pytest.raises(ValueError, match="estimate_propensities covers only the biased"): DRRanker(**FAST).fit(world[0])


def test_one_class_and_corrupt_file(world, tmp_path):
    _, train, _ = world
    with pytest.raises(ValueError, match=r"rows have click >= 1; negatives='logged' needs both positive and negative"):
        MFRanker(negatives="logged", loss="bce", **FAST).fit(train.interactions.assign(click=1))
    assert MFRanker(**FAST).fit(train.interactions.assign(click=1)).recommend([0], 3).shape == (1, 3)  # positives only
    (tmp_path / "x.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="not a readable causalrec checkpoint"): Ranker.load(tmp_path / "x.safetensors")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"): Ranker.load(tmp_path / "none.safetensors")
    p = PopularityRanker().fit(train).save(tmp_path / "p.safetensors")
    with pytest.raises(TypeError, match="holds a PopularityRanker, not a MFRanker"): MFRanker.load(p)


# --- properties of recommend -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted(world):
    _, train, _ = world
    return {"mf": MFRanker(**FAST).fit(train), "pop": PopularityRanker().fit(train), "random": RandomRanker(1).fit(train)}


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["mf", "pop", "random"]), k=st.integers(1, 60),
       seen=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 59)), max_size=200))
def test_recommend_properties(fitted, name, k, seen):
    r = fitted[name]
    users = np.arange(10)
    ex = pd.DataFrame(seen, columns=["user_id", "item_id"]) if seen else None
    topk = r.recommend(users, k, exclude=ex)
    assert topk.shape == (10, k)
    seen_by = {u: {i for uu, i in seen if uu == u} for u in users}
    for u, row in zip(users, topk):
        valid = row[row >= 0]
        assert len(set(valid)) == len(valid)  # distinct items
        assert not set(valid) & seen_by[u]  # never a seen item
        assert len(valid) == min(k, 60 - len(seen_by[u]))  # -1 only when candidates run out
        assert (row[len(valid):] == -1).all()  # padding at the end


TOY = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [0, 1, 0, 1], "click": [1, 0, 0, 1]})


@pytest.mark.parametrize("frame,err,message", [
    (TOY.assign(click=[1, np.nan, 0, 1]), ValueError, "data.click: 1 row(s) are missing"),
    (TOY.assign(user_id=[0, np.nan, 1, 1]), ValueError, "data.user_id: 1 row(s) are missing"),
    (TOY.assign(item_id=["a", "b", "a", "b"]), TypeError, "ids; models need integer ids"),
])
def test_bad_frames_are_refused_not_misread(frame, err, message):
    for ranker in (MFRanker(**FAST), PopularityRanker()):
        with pytest.raises(err, match=re.escape(message)): ranker.fit(frame)


def test_bad_calls_name_the_problem():
    pop = PopularityRanker().fit(TOY)
    for ranker in (pop, RandomRanker(0).fit(TOY), MFRanker(**FAST).fit(TOY)):
        with pytest.raises(ValueError, match=re.escape("users has 2 ids but items has 1; pass aligned pairs")):
            ranker.score([0, 1], [0])
    with pytest.raises(ValueError, match=re.escape("k=2.0 must be an integer between 1 and the catalogue size 2")):
        pop.recommend([0], 2.0)
    assert pop.recommend(np.array([], int), 1, exclude=TOY).shape == (0, 1)
    with pytest.raises(ValueError, match=re.escape("early stopping (patience=1) needs validation rows")):
        MFRanker(patience=1, val_share=0.01, **FAST).fit(TOY)
    with pytest.raises(ValueError, match=re.escape("loss='softmax' does not go with negatives='logged'")):
        MFRanker(negatives="logged", **FAST).fit(TOY)
    with pytest.raises(ValueError, match="needs negatives='logged' and loss='bce'"): UpliftRanker(negatives="sampled", **FAST).fit(TOY)


def test_ips_snips_weights_and_dr_loss_match_their_formulas(world):
    "IPS weights |D| / (|U||I| p), SNIPS's self-normalised over the log; the DR batch loss against Wang et al. (2019) in numpy."
    import torch
    _, train, _ = world
    inter = train.interactions.assign(propensity=np.linspace(0.01, 0.9, len(train.interactions)))
    ips, snips = IPSRanker(**FAST).fit(inter), SNIPSRanker(**FAST).fit(inter)
    w = len(inter) / (len(ips.users_) * len(ips.items_) * np.maximum(inter["propensity"].to_numpy(), 0.02))
    np.testing.assert_allclose(ips._weights(None, inter), w, rtol=1e-5)
    np.testing.assert_allclose(snips._weights(None, inter), w / w.mean(), rtol=1e-5)
    assert abs(w.mean() - 1) > 0.1 and not np.allclose(ips.score([0, 1], [0, 1]), snips.score([0, 1], [0, 1]))

    sig, bce = lambda z: 1 / (1 + np.exp(-z)), lambda z, y: np.logaddexp(0, z) - y * z
    for loss, ell, label in (("bce", bce, sig), ("mse", lambda z, y: (z - y) ** 2, lambda z: z)):
        dr = DRRanker(loss=loss, **FAST)
        dr.offset_ = 0.3
        b = {"u": torch.tensor([0, 1, 2]), "y": torch.tensor([1.0, 0.0, 1.0]), "w": torch.tensor([0.5, 2.0, 1.0])}
        P = torch.randn(6, 2, generator=torch.Generator().manual_seed(3))
        h = 0.3 + P.numpy()
        y, wt = b["y"].numpy(), b["w"].numpy()
        e, e_hat = ell(h[:3, 0], y), ell(h[:3, 0], label(h[:3, 1]))
        expected = ell(h[3:, 0], label(h[3:, 1])).mean() + (wt * (e - e_hat)).mean() + (wt * (e_hat - e) ** 2).mean()
        np.testing.assert_allclose(dr._grads(P, torch.zeros(6, 0), b)[0].item(), expected, rtol=1e-5)


def test_sparse_steps_touch_only_the_batch_rows(world):
    "A training step changes only the user and item rows of its batch (and its sampled negatives)."
    import torch

    from causalrec.mf import FactorTables, autograd_grads
    t = FactorTables(1000, 50, 8, 1, torch.Generator().manual_seed(0))
    U0, I0 = t.U.clone(), t.I.clone()
    users, items = torch.tensor([3, 999, 3]), torch.tensor([7, 8, 9, 7])
    t.step(users, items, autograd_grads(lambda P, S: P[:, 0].sum() - S.sum()), 0.05, 0.1, 3)
    assert set(torch.nonzero((t.U != U0).flatten(1).any(1)).ravel().tolist()) == {3, 999}
    assert set(torch.nonzero((t.I != I0).flatten(1).any(1)).ravel().tolist()) == {7, 8, 9}


def test_rating_prediction_and_positives_only(world):
    sim, train, _ = world
    inter = train.interactions
    mse = MFRanker(outcome="rating", negatives="logged", loss="mse", **FAST).fit(inter)
    p = mse.predict(inter["user_id"], inter["item_id"])
    assert p.min() >= inter["rating"].min() and p.max() <= inter["rating"].max()
    clicks = inter.loc[inter["click"] > 0, ["user_id", "item_id"]]
    r = MFRanker(outcome=None, **FAST).fit(clicks)
    assert r.recommend([int(clicks["user_id"].iloc[0])], 5, exclude=clicks).shape == (1, 5)
    with pytest.raises(ValueError, match="outcome=None reads every row as a positive"):
        MFRanker(outcome=None, negatives="logged", loss="bce", **FAST).fit(clicks)
    with pytest.raises(ValueError, match="trained against sampled negatives"): r.predict([0], [0])
