"Ranking stage: fit/score/recommend/save/load for every ranker, determinism, bad input, properties of recommend."
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from causalrec.ranking import Ranker, RandomRanker, PopularityRanker, OracleRanker
from causalrec.mf import MFRanker, IPSRanker, SNIPSRanker, DRRanker, PDRanker, UpliftRanker
from causalrec.simulator import simulate_uplift_log

pytestmark = pytest.mark.filterwarnings("ignore:.*(clipped at 1|were below clip):UserWarning")
FAST = dict(dim=4, epochs=3, verbose=False)


@pytest.fixture(scope="module")
def world():
    from causalrec.simulator import simulate
    from causalrec.data import split
    sim = simulate(n_users=120, n_items=60, exposures_per_user=10, n_random=5, seed=0)
    train, test = split(sim, method="mnar_mar")
    return sim, train, test


def _rankers():
    return {"random": lambda: RandomRanker(3), "popularity": lambda: PopularityRanker(), "mf": lambda: MFRanker(**FAST),
            "ips": lambda: IPSRanker(**FAST), "snips": lambda: SNIPSRanker(**FAST), "dr": lambda: DRRanker(**FAST),
            "pd": lambda: PDRanker(adjust=0.1, **FAST), "mf_es": lambda: MFRanker(patience=1, **FAST),
            "uplift": lambda: UpliftRanker(**FAST)}


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
    with pytest.raises(ValueError, match=r"rows have click >= 1; the model needs both positive and negative"):
        MFRanker(**FAST).fit(train.interactions.assign(click=1))
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


def test_doubly_robust_beats_naive_mf_on_coat():
    "On Coat's random test ratings (real MNAR data with its shipped propensities), DR's AUC beats naive MF's at seeds 0 and 1."
    from causalrec.data import split
    from causalrec.loaders import load_coat
    from causalrec.protocols import evaluate
    from conftest import shared_dataset
    train, test = split(load_coat(shared_dataset("coat")), "mnar_mar")
    for seed in range(2):
        kw = dict(outcome="rating", threshold=4, seed=seed, verbose=False)
        res = evaluate({"MF": MFRanker(**kw), "DR": DRRanker(**kw)}, train, test, protocol="test_items", ks=(5,),
                       label="rating", threshold=4, verbose=False)
        auc = res[res.metric == "auc"].set_index("ranker")["value"]
        assert auc["DR"] > auc["MF"] + 0.02, auc


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


def test_snips_and_dr_losses_match_their_formulas():
    "The batch losses against the estimators written out in numpy on one fixed batch (Wang et al. 2019 for DR)."
    import torch
    from causalrec.mf import _Factors
    bce = lambda z, y: -(y * np.log(1 / (1 + np.exp(-z))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-z))))
    sig = lambda z: 1 / (1 + np.exp(-z))
    b = {"u": torch.tensor([0, 1, 2, 1]), "i": torch.tensor([1, 0, 2, 2]), "y": torch.tensor([1., 0., 1., 0.]),
         "w": torch.tensor([0.5, 2.0, 1.0, 0.5])}
    y, w = b["y"].numpy(), b["w"].numpy()
    snips, dr = SNIPSRanker(**FAST), DRRanker(**FAST)
    snips.users_ = dr.users_ = np.arange(3); snips.items_ = dr.items_ = np.arange(3)
    net1 = _Factors(3, 3, 4, 1, torch.Generator().manual_seed(0))
    z = net1(b["u"], b["i"])[0][0].detach().numpy()
    np.testing.assert_allclose(snips._loss(net1, b, torch.Generator())[0].item(), (w * bce(z, y)).sum() / w.sum(), rtol=1e-5)

    net2 = _Factors(3, 3, 4, 2, torch.Generator().manual_seed(0))
    h = net2(b["u"], b["i"])[0].detach().numpy()
    g = torch.Generator().manual_seed(7)
    ua, ia = torch.randint(3, (4,), generator=g), torch.randint(3, (4,), generator=g)
    ha = net2(ua, ia)[0].detach().numpy()
    e, e_hat = bce(h[0], y), bce(h[0], sig(h[1]))
    expected = bce(ha[0], sig(ha[1])).mean() + (w * (e - e_hat)).mean() + (w * (e_hat - e) ** 2).mean()
    np.testing.assert_allclose(dr._loss(net2, b, torch.Generator().manual_seed(7))[0].item(), expected, rtol=1e-5)
