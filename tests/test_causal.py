"The causal ranker at small sizes: DR pseudo-outcomes, covariates from the graph, ranking by the effect, negative control, cold start."
import warnings
from dataclasses import replace

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from causalrec.causal import (
    CausalRanker,
    adjustment_covariates,
    dr_pseudo_outcomes,
    effect_graph,
    overlap_diagnostic,
    population_events,
    shuffled_treatment,
)
from causalrec.encoder import TextEncoder
from causalrec.mf import MFRanker
from causalrec.simulator import simulate

N_USERS, N_ITEMS = 400, 200


@pytest.fixture(scope="module")
def shop():
    return simulate(n_users=N_USERS, n_items=N_ITEMS, exposures_per_user=25, seed=0)


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder(verbose=False)


@pytest.fixture(scope="module")
def fitted(shop, encoder):
    return CausalRanker(encoder=encoder, epochs=10, verbose=False).fit(shop)


def caused(shop, topk):
    return shop.truth.policy_uplift(np.arange(N_USERS), topk).mean()


def test_pseudo_outcomes_are_doubly_robust():
    rng = np.random.default_rng(0)
    x = rng.random(300_000)
    e, mu0 = 0.1 + 0.8 * x, 0.2 * x
    mu1 = mu0 + 0.1 + 0.2 * x
    t = rng.random(len(x)) < e
    y = (rng.random(len(x)) < np.where(t, mu1, mu0)).astype(float)
    assert abs(dr_pseudo_outcomes(y, t, np.full_like(x, 0.3), np.full_like(x, 0.3), e).mean() - 0.2) < 0.01
    assert abs(dr_pseudo_outcomes(y, t, mu0, mu1, np.full_like(x, 0.5)).mean() - 0.2) < 0.01
    assert y[t].mean() - y[~t].mean() > 0.25  # the naive contrast is biased
    ov = overlap_diagnostic(e, t, clip=0.2)
    assert ov["clipped_low"] > 0.1 and ov["n_treated"] == t.sum() and ov["ess_treated"] < t.sum()


def test_population_events_are_population_proportions(shop):
    pop = population_events(shop, n_negatives=40)
    logged = (shop.interactions.log == "mnar").sum()
    assert abs(pop.seen.mean() - logged / (N_USERS * N_ITEMS)) < 0.01
    assert (pop.loc[pop.seen == 0, ["recommended", "click", "purchase"]] == 0).all().all()
    assert "rating" not in pop.columns and "seen" in pop.columns


def test_explain_sem_fits_the_default_runs_half_log():
    """The causal stage fits a CausalRanker on a random half of the default world's biased log (`incremental_table`); the SEM
    behind its explain() stopped at a non-positive-definite covariance there (rare 0/1 events next to popularity: SLSQP in
    raw units), so the run's explain had no paths. The SEM of the graph that run learns must fit those 99,861 events."""
    from causalrec.sem import HeywoodWarning, SEMConvergenceWarning, fit_sem
    world = simulate(n_users=2000, n_items=1000, seed=0)  # `causalrec run`'s defaults
    log = world.interactions[world.interactions.log == "mnar"]
    half = replace(world, interactions=log[np.random.default_rng(0).random(len(log)) < 0.5])
    events = population_events(half, seed=0)
    model = nx.DiGraph([("popularity", "recommended"), ("popularity", "seen"), ("recommended", "seen"), ("seen", "click"),
                        ("click", "dwell"), ("click", "cart"), ("dwell", "cart"), ("cart", "purchase")])  # summary.json's graph, on these paths
    with warnings.catch_warnings():
        for w in (SEMConvergenceWarning, HeywoodWarning): warnings.simplefilter("error", w)
        sem = fit_sem(model, events[list(model)])
    assert sem.converged
    assert all(sem.paths.loc[a, b] > 0 for a, b in model.edges if a != "popularity")  # each step raises the next event


def test_changing_the_graph_changes_the_covariates(shop):
    g = effect_graph(shop)
    targeted = nx.DiGraph(g)
    targeted.add_edges_from([("activity", "recommended"), ("activity", "seen")])
    quick = dict(text=False, epochs=1, n_negatives=10, verbose=False)
    a = CausalRanker(graph=g, **quick).fit(shop)
    b = CausalRanker(graph=targeted, **quick).fit(shop)
    available = ["activity", "price_sensitivity", "quality", "popularity", "price"]
    assert a.covariates_ == adjustment_covariates(g, "recommended", "purchase", available)
    assert "activity" not in a.covariates_ and "activity" in b.covariates_
    for r in (a, b): assert r.wc_.shape[1] == len(r.dr_coef_) - 1 == len(r.covariates_)  # the fit uses them
    assert CausalRanker(**quick).fit(shop).covariates_ == a.covariates_  # graph=None learns the same graph


def test_ranking_by_the_effect_beats_ranking_by_purchases(shop, fitted):
    users = np.arange(N_USERS)
    effect = caused(shop, fitted.recommend(users, 10))
    treated = caused(shop, fitted.with_target("treated").recommend(users, 10))
    mf = caused(shop, MFRanker(outcome="purchase", verbose=False).fit(shop.interactions.query("log == 'mnar'")).recommend(users, 10))
    assert effect > 1.1 * treated and effect > 1.2 * mf, (effect, treated, mf)
    true_ate = shop.truth.uplift(np.repeat(users, N_ITEMS), np.tile(np.arange(N_ITEMS), N_USERS)).mean()
    assert abs(fitted.ate_ - true_ate) < 0.5 * true_ate
    ex = fitted.explain(0, int(fitted.recommend([0], 1)[0, 0]))
    assert ex.path.iloc[-1] == "total" and np.isclose(ex["effect for this pair"].iloc[:-1].sum(), ex["effect for this pair"].iloc[-1])


def test_negative_control_removes_the_advantage(shop, fitted, encoder):
    control = CausalRanker(graph=fitted.graph_edges_, encoder=encoder, epochs=10, verbose=False).fit(shuffled_treatment(shop))
    users = np.arange(N_USERS)
    mf = caused(shop, MFRanker(outcome="purchase", verbose=False).fit(shop.interactions.query("log == 'mnar'")).recommend(users, 10))
    causal, shuffled = caused(shop, fitted.recommend(users, 10)), caused(shop, control.recommend(users, 10))
    assert causal > mf and shuffled - mf < 0.25 * (causal - mf)  # less than a quarter of the advantage is left
    assert abs(control.ate_) < 3 * control.ate_se_ + 0.005


def test_cold_start_items_and_users(shop, encoder):
    held = np.arange(0, N_ITEMS, 5)
    warm = replace(shop, interactions=shop.interactions[~shop.interactions.item_id.isin(held)],
                   items=shop.items[~shop.items.item_id.isin(held)])
    r = CausalRanker(encoder=encoder, epochs=10, verbose=False).fit(warm).add_items(shop.items[shop.items.item_id.isin(held)])
    users = np.arange(N_USERS)
    s = r.score(np.repeat(users, len(held)), np.tile(held, N_USERS)).reshape(N_USERS, -1)
    tau = shop.truth.uplift(np.repeat(users, len(held)), np.tile(held, N_USERS)).reshape(N_USERS, -1)
    assert np.take_along_axis(tau, np.argsort(-s, 1)[:, :10], 1).sum(1).mean() > 1.3 * 10 * tau.mean()
    r.add_users(pd.DataFrame({"user_id": [99_999], "text": ["running shoes in technical mesh"]}))
    assert np.isfinite(r.score([99_999] * 3, [1, 2, 3])).all()
    with pytest.raises(ValueError, match="already known"): r.add_items(shop.items.iloc[:1])
    with pytest.raises(ValueError, match="'text'"): r.add_users(pd.DataFrame({"user_id": [5_000]}))


def test_save_load_and_bad_input(shop, fitted, tmp_path):
    back = CausalRanker.load(fitted.save(tmp_path / "causal.safetensors"))
    assert np.allclose(back.score([0, 1, 2], [3, 4, 5]), fitted.score([0, 1, 2], [3, 4, 5]), atol=1e-6)
    assert (back.recommend([0, 1], 5) == fitted.recommend([0, 1], 5)).all()
    log = shop.interactions.query("log == 'mnar'")
    with pytest.raises(ValueError, match="logged rows are treated"):
        CausalRanker(verbose=False).fit(replace(shop, interactions=log.assign(recommended=1)))
    with pytest.raises(ValueError, match="are not 0/1"):
        CausalRanker(verbose=False).fit(replace(shop, interactions=log.assign(purchase=3)))
    with pytest.raises(ValueError, match="no treatment node"):
        adjustment_covariates(shop.truth.graph, "shown", "purchase", ["popularity"])
    with pytest.raises(ValueError, match="unknown to the fitted CausalRanker"): fitted.score([0], [N_ITEMS + 7])
    with pytest.raises(ValueError, match="target must be one of"): CausalRanker(target="p2")
