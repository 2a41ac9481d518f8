"Off-policy evaluation: numpy references, policies against brute force, coverage over simulated worlds (acceptance)."
import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrec.ope import (
    ESTIMATORS,
    EpsilonGreedy,
    OPEWarning,
    PlackettLuce,
    dr,
    ips,
    item_mean_reward,
    off_policy_estimates,
    ope_study,
    ope_summary,
    simulate_slate_log,
    snips,
    split_log,
)
from causalrec.protocols import TopK, policy_value, simulate_ab
from causalrec.ranking import OracleRanker, PopularityRanker, RandomRanker

pytestmark = pytest.mark.filterwarnings("ignore:.*clipped at 1:UserWarning")


def test_ope_point_estimates_match_definitions(small_world):
    "Deterministic top-K: IPS, SNIPS and DR equal a plain numpy computation; intervals are deterministic by seed."
    inter = small_world.interactions
    logged = inter[inter.log == "mnar"]
    p = small_world.truth.propensity.loc[logged.index].to_numpy()
    users = np.arange(small_world.n_users)
    topk = OracleRanker().fit(small_world).recommend(users, 5)
    in_pol = np.array([i in set(topk[u]) for u, i in zip(logged.user_id, logged.item_id)])
    r = logged.click.to_numpy()
    assert ips(logged, topk, users, p, n_boot=0).value == pytest.approx((r / p)[in_pol].sum() / len(users))
    assert snips(logged, topk, users, p, n_boot=0).value == pytest.approx(5 * (r / p)[in_pol].sum() / (1 / p)[in_pol].sum())
    model = item_mean_reward(logged)
    direct = model(np.repeat(users, 5), topk.ravel()).sum()
    corr = ((r - model(logged.user_id.to_numpy(), logged.item_id.to_numpy())) / p)[in_pol].sum()
    assert dr(logged, topk, users, p, reward_model=model, n_boot=0).value == pytest.approx((direct + corr) / len(users))
    w = (1 / p)[in_pol]
    e = ips(logged, topk, users, p, n_boot=0)
    assert e.ess == pytest.approx(w.sum() ** 2 / (w ** 2).sum()) and e.max_weight == pytest.approx(w.max())
    truth = small_world.truth.expected(np.repeat(users, 5), topk.ravel()).click.sum() / len(users)
    assert policy_value(small_world.truth, users, topk, "click") == pytest.approx(truth)
    est = off_policy_estimates(logged, topk, users, p, reward_model=model, n_boot=300, seed=3)
    assert all(e.ci_low <= e.value <= e.ci_high for e in est)
    assert est == off_policy_estimates(logged, topk, users, p, reward_model=model, n_boot=300, seed=3)
    assert est[1] == off_policy_estimates(logged, TopK(users, topk), users, p, reward_model=model, n_boot=300, seed=3)[1]


def test_on_policy_weights_are_one(small_world):
    "Judging the logger itself: every weight is 1, so IPS is the mean logged reward per user and ESS the row count."
    cat, users = np.arange(small_world.n_items), np.arange(small_world.n_users)
    logger = PlackettLuce(lambda u, i: small_world.truth.relevance(u, i) * 3, cat, k=4)
    log = simulate_slate_log(small_world, logger, seed=0)
    e = ips(log, logger, users, "propensity", n_boot=200)
    assert e.value == pytest.approx(log.click.sum() / len(users)) and e.ess == pytest.approx(len(log))
    assert e.max_weight == pytest.approx(1.0) and e.unsupported < 0.01 and e.warning == ""  # a few items never drawn
    per_slot = ips(log, logger, users, "slot_propensity", position="position", n_boot=200)
    assert per_slot.value == pytest.approx(e.value)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 5), st.integers(1, 3), st.lists(st.floats(-3, 3), min_size=5, max_size=5), st.floats(0.3, 3))
def test_plackett_luce_marginals_equal_enumeration(n, k, scores, temperature):
    "Slot marginals from the exponential race equal the sum over every ordered list of its Plackett-Luce probability."
    k = min(k, n)
    s = np.array(scores[:n]) / temperature
    w = np.exp(s - s.max())
    exact = np.zeros((n, k))
    for lst in itertools.permutations(range(n), k):
        left, prob = w.sum(), 1.0
        for i in lst: prob *= w[i] / left; left -= w[i]
        exact[list(lst), range(k)] += prob
    got = PlackettLuce(lambda u, i: np.array(scores)[i], np.arange(n), k=k, temperature=temperature).slot_probabilities(
        np.zeros(n, int), np.arange(n))
    np.testing.assert_allclose(got, exact, atol=1e-6)


def test_epsilon_greedy_draws_match_marginals():
    eg = EpsilonGreedy([0, 1], [[3, 1], [0, 2]], items=np.arange(5), epsilon=0.3)
    draws = np.stack([eg.sample([0, 1], seed=s) for s in range(3000)])  # [draws, users, k]
    freq = np.stack([[(draws[:, u, j] == i).mean() for j in range(2)] for u in (0, 1) for i in range(5)])
    expect = eg.slot_probabilities(np.repeat([0, 1], 5), np.tile(np.arange(5), 2))
    np.testing.assert_allclose(freq, expect, atol=4 * np.sqrt(0.25 / 3000))


def test_ope_unbiased_over_20_seeds():
    "|mean bias| of SNIPS and DR < 20% of naive's, and their 95% intervals cover the truth in >= 85% of worlds."
    from causalrec.simulator import simulate
    study = ope_study(lambda s: simulate(n_users=300, n_items=200, exposures_per_user=20, n_random=5, seed=s),
                      lambda d: RandomRanker(seed=1).fit(d), seeds=range(20), k=10, n_boot=200, verbose=False)
    s = ope_summary(study).set_index("estimator")
    assert s.loc["naive", "bias"] > 0.1 * s.loc["naive", "truth"] and s.loc["naive", "coverage"] < 0.5
    for e in ("snips", "dr"):
        assert abs(s.loc[e, "bias"]) < 0.2 * abs(s.loc["naive", "bias"]), s
        assert s.loc[e, "coverage"] >= 0.85, s
    assert s.loc["ips", "coverage"] >= 0.8


def _slate_world(seed):
    from causalrec.simulator import simulate
    return simulate(n_users=300, n_items=50, exposures_per_user=10, n_random=2, seed=seed)


def _production_slates(data, seed):
    """One list of 3 per user from a Plackett-Luce logger over popularity and relevance (a production model: its log
    is biased towards clicked items), and a second, independent log of the same logger to fit the reward model on."""
    pop = data.items.popularity.to_numpy()
    logger = PlackettLuce(lambda u, i: 2 * pop[i] + 2 * data.truth.relevance(u, i), np.arange(50), k=3)
    log = simulate_slate_log(data, logger, seed=seed)
    return log, log["propensity"].to_numpy(), simulate_slate_log(data, logger, seed=seed + 10_000)


def test_stochastic_target_coverage_50_worlds():
    """Acceptance (issue 12): a softmax target over fixed scores, a Plackett-Luce logging policy, 50 worlds:
    IPS, SNIPS and DR 95% intervals cover the true value in >= 90% of them (the MF version is in the ope notebook)."""
    softmax = lambda d: {"softmax": PlackettLuce(lambda u, i: 4 * d.truth.relevance(u, i), np.arange(50), k=3)}
    study = ope_study(_slate_world, softmax, seeds=range(50), n_boot=200, make_log=_production_slates, verbose=False)
    s = ope_summary(study).set_index("estimator")
    assert (s.loc[["ips", "snips", "dr"], "coverage"] >= 0.9).all(), s
    assert s.loc["naive", "coverage"] < 0.5 and s.loc["naive", "bias"] > 0.1 * s.loc["naive", "truth"], s  # the log's bias


def test_unsupported_target_is_flagged():
    "A logger that never shows half the catalogue cannot judge a target that does: the diagnostics say so."
    data = _slate_world(0)
    pop = data.items.popularity.to_numpy()
    blind = PlackettLuce(lambda u, i: np.where(pop[i] < np.median(pop), -np.inf, 2 * pop[i]), np.arange(50), k=3)
    log = simulate_slate_log(data, blind, seed=0)
    target = PlackettLuce(lambda u, i: 4 * data.truth.relevance(u, i), np.arange(50), k=3)
    with pytest.warns(OPEWarning, match="log cannot support this policy"):
        est = off_policy_estimates(log, target, np.arange(300), "propensity", reward_model=item_mean_reward(log),
                                   estimators=ESTIMATORS, n_boot=200)
    assert all(e.unsupported > 0.3 and "log cannot support" in e.warning for e in est)
    supported = PlackettLuce(lambda u, i: np.where(pop[i] < np.median(pop), -np.inf, 4 * data.truth.relevance(u, i)),
                             np.arange(50), k=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OPEWarning)
        ok = snips(log, supported, np.arange(300), "propensity", n_boot=200)
    assert ok.unsupported == 0 and ok.warning == "" and ok.covers(policy_value(data.truth, np.arange(300), supported))


def test_target_unsupported_for_some_users_only_is_flagged():
    """A logger that hides the less popular half of the catalogue from even users only: every item is in the log, so an
    items-only check sees (almost) full support, but the target puts mass on pairs the logger cannot show; with the
    logger's per-user probabilities the diagnostics measure that mass exactly and flag the estimate."""
    data, users, cat = _slate_world(0), np.arange(300), np.arange(50)
    pop = data.items.popularity.to_numpy()
    hidden = lambda u, i: (np.asarray(u) % 2 == 0) & (pop[i] < np.median(pop))
    logger = PlackettLuce(lambda u, i: np.where(hidden(u, i), -np.inf, 2 * pop[i]), cat, k=3)
    log = simulate_slate_log(data, logger, seed=0)
    target = PlackettLuce(lambda u, i: 4 * data.truth.relevance(u, i), cat, k=3)
    u, i = np.repeat(users, 50), np.tile(cat, 300)
    mass = target.slot_probabilities(u, i).sum(1)
    share = mass[hidden(u, i)].sum() / mass.sum()  # the target's mass the logger cannot show
    assert 0.1 < share < 0.4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OPEWarning)
        blind = ips(log, target, users, "propensity", n_boot=200)  # items only
    assert blind.unsupported < share / 4
    with pytest.warns(OPEWarning, match="pairs the logger never shows.*log cannot support this policy"):
        est = off_policy_estimates(log, target, users, "propensity", reward_model=item_mean_reward(log),
                                   estimators=("ips", "snips", "dr"), n_boot=200, logger=logger)
    assert all(e.unsupported == pytest.approx(share) and "log cannot support" in e.warning for e in est)
    by_function = ips(log, target, users, "propensity", n_boot=200, logger=lambda u, i: (~hidden(u, i)).astype(float))
    assert by_function.unsupported == pytest.approx(share)
    supported = PlackettLuce(lambda u, i: np.where(hidden(u, i), -np.inf, 4 * data.truth.relevance(u, i)), cat, k=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OPEWarning)
        ok = snips(log, supported, users, "propensity", n_boot=200, logger=logger)
    assert ok.unsupported == 0 and ok.warning == ""


def test_demo_random_ranker_and_ab_cover_10_seeds():
    """Acceptance (issue 12): in the demo's configuration (2,000 users, 1,000 items; the random ranker fitted on one half
    of the biased log and judged on the other, DR's reward model fitted on the first half; popularity vs oracle A/B on
    purchases) the intervals cover the truth in >= 8 of 10 worlds."""
    from causalrec.simulator import simulate
    hits = {"ips": 0, "snips": 0, "dr": 0, "ab": 0}
    for seed in range(10):
        data = simulate(n_users=2000, n_items=1000, exposures_per_user=30, seed=seed)
        mnar = data.interactions[data.interactions.log == "mnar"]
        fit, held, prop = split_log(mnar, data.truth.propensity.loc[mnar.index].to_numpy(), fit_share=0.5, seed=seed)
        users = np.arange(2000)
        top = RandomRanker(seed).fit(data).recommend(users, 10, exclude=fit)
        true = policy_value(data.truth, users, top)
        for e in off_policy_estimates(held, top, users, prop, reward_model=item_mean_reward(fit),  # independent of `held`
                                      estimators=("ips", "snips", "dr"), n_boot=500, seed=seed):
            hits[e.estimator] += e.covers(true)
        hits["ab"] += simulate_ab(data, PopularityRanker("click"), OracleRanker("click"), k=10, outcome="purchase",
                                  seed=seed).covers()
    assert min(hits.values()) >= 8, hits
