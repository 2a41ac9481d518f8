"Properties of the simulated shop: the treatment, its propensity, the potential outcomes and the linear SCM of the log."
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from causalrec.simulator import SimTruth, simulate, simulate_uplift_log


@pytest.fixture(scope="module")
def world():
    return simulate(n_users=1500, n_items=300, exposures_per_user=30, n_random=5, seed=4)


def test_same_seed_same_world_and_treatment_columns(world):
    again = simulate(n_users=1500, n_items=300, exposures_per_user=30, n_random=5, seed=4)
    assert world.interactions.equals(again.interactions)
    inter = world.interactions
    assert {"recommended", "rec_propensity"} <= set(inter.columns)
    log, mar = inter[inter.log == "mnar"], inter[inter.log == "mar"]
    assert set(log.recommended.unique()) == {0, 1}
    assert (mar.recommended == 1).all() and np.allclose(mar.rec_propensity, world.truth.random_rate)
    assert np.allclose(log.rec_propensity, world.truth.policy_propensity(log.user_id, log.item_id))
    assert ((log.recommended == 0) & (log.purchase == 1)).sum() > 100  # organic purchases are in the log


def test_potential_outcomes(world):
    t = world.truth
    u, i = np.repeat(np.arange(200), 300), np.tile(np.arange(300), 200)
    eff = t.effects(u, i)
    assert (eff.p1 >= eff.p0).all() and np.allclose(eff.tau, eff.p1 - eff.p0)
    d = t.discovery(u, i)
    assert ((d >= 0) & (d <= 1)).all()
    v, e = t.propensity_of(u, i), t.policy_propensity(u, i)
    assert np.allclose(e + (1 - e) * d, v)  # recommended or found = seen
    rel, pop = t.relevance(u, i), t.items.popularity.to_numpy()[i]
    niche, head = (rel > 0.8) & (pop < 0.3), (rel > 0.8) & (pop > 0.9)
    assert eff.tau[niche].mean() > 2 * eff.tau[head].mean()  # the effect is largest where users would not find the item
    assert np.allclose(t.organic(u, i), eff.p0) and np.allclose(t.uplift(u, i), eff.tau)


def test_log_follows_the_linear_scm(world):
    "Among logged views the treatment is linear in popularity, and least squares on the observed parents recovers the click equation."
    log = world.interactions.query("log == 'mnar'")
    users, items = world.truth.users, world.truth.items
    pop = items.popularity.to_numpy()[log.item_id]
    slope, intercept = np.polyfit(pop, log.recommended, 1)
    assert abs(slope + 0.4) < 0.05 and abs(intercept - 0.7) < 0.03
    X = np.c_[np.ones(len(log)), pop, items.quality.to_numpy()[log.item_id], log.discount,
              users.activity.to_numpy()[log.user_id], log.recommended]
    y = log.click.to_numpy(float) - 0.87 * world.truth.relevance(log.user_id, log.item_id)  # relevance is latent: known here
    coef, res, *_ = np.linalg.lstsq(X, y, rcond=None)
    se = np.sqrt(res[0] / (len(y) - X.shape[1]) * np.diag(np.linalg.inv(X.T @ X)))
    assert (np.abs(coef[1:] - [0.05, 0.02, 0.01, 0.01, 0.04]) < 4 * se[1:]).all(), (coef, se)
    assert se[-1] < 0.01  # the treatment's coefficient is pinned down


def test_graph_and_total_effects(world):
    g = world.truth.graph
    assert g.number_of_edges() == 15 and nx.is_directed_acyclic_graph(g)
    assert set(g.predecessors("recommended")) == {"popularity"} and "recommended" in world.truth.variables
    assert np.isclose(world.truth.total_effect("recommended", "purchase"), 0.04 * 0.85 * (0.3 + 0.12 * 2.0))


def test_policy_uplift_and_bad_input(world):
    t = world.truth
    top = np.array([[1, 2, -1], [3, -1, -1]])
    assert np.allclose(t.policy_uplift([0, 5], top), [t.uplift([0, 0], [1, 2]).sum(), t.uplift([5], [3])[0]])
    with pytest.raises(ValueError, match="one row per user"): t.policy_uplift([0], top)
    with pytest.raises(ValueError, match="one value or one per pair"): t.expected([0, 1], [0, 1], do={"recommended": [1, 0, 1]})
    dense = simulate(n_users=300, n_items=100, exposures_per_user=24, seed=0)  # users see a quarter of the catalogue
    assert dense.truth.seen_floor > t.seen_floor == 0.05
    assert abs((dense.interactions.log == "mnar").sum() / 300 - 24) < 2.5
    with pytest.raises(ValueError, match="n_items/4"): simulate(n_items=100, exposures_per_user=30)
    assert isinstance(t, SimTruth)


def test_uplift_experiment_arms(world):
    exp = simulate_uplift_log(world, pairs_per_user=50, seed=1).interactions
    eff = world.truth.effects(exp.user_id, exp.item_id)
    for arm, col in ((0, "p0"), (1, "p1")):
        rows = exp.treatment.to_numpy() == arm
        assert abs(exp.purchase[rows].mean() - eff[col][rows].mean()) < 0.01


def test_uplift_experiment_in_user_blocks(world, monkeypatch):
    "Many small user blocks (the path 100k x 10k takes) give the same kind of log: distinct uniform items, both arms right."
    import causalrec.simulator as simulator
    monkeypatch.setattr(simulator, "CHUNK_PAIRS", 7 * world.n_items)  # 7 users per block, the last one partial
    assert len(simulator.user_blocks(world.n_users, world.n_items, simulator.CHUNK_PAIRS)) > 200
    exp = simulate_uplift_log(world, pairs_per_user=40, seed=2).interactions
    assert len(exp) == world.n_users * 40 and (exp.groupby("user_id").item_id.nunique() == 40).all()
    pd.testing.assert_frame_equal(exp, simulate_uplift_log(world, pairs_per_user=40, seed=2).interactions)
    counts = exp.item_id.value_counts().reindex(range(world.n_items), fill_value=0)
    expected = world.n_users * 40 / world.n_items  # uniform subsets: each item Binomial(n_users, 40 / n_items)
    assert counts.std() < 1.5 * np.sqrt(expected)
    eff = world.truth.effects(exp.user_id, exp.item_id)
    for arm, col in ((0, "p0"), (1, "p1")):
        rows = exp.treatment.to_numpy() == arm
        assert abs(exp.purchase[rows].mean() - eff[col][rows].mean()) < 0.01
