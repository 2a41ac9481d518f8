"Acceptance, bad-input and property tests of causalrec.sem (lavaan descriptions, ML fits, effects, comparison)."
import re
import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from semopy.examples import political_democracy

from causalrec.sem import HeywoodWarning, SEMConvergenceWarning, SEMResult, compare, fit_sem, path_effects, plot_paths, simulate_linear, to_lavaan

STRUCTURAL = [("dem60", "ind60"), ("dem65", "ind60"), ("dem65", "dem60")]  # (lval, rval) of the structural paths
TOY = nx.DiGraph()
TOY.add_weighted_edges_from([("a", "b", 0.8), ("a", "c", 0.3), ("b", "c", 0.5), ("c", "d", -0.6)])


def structural(result):
    return result.estimates.set_index(["lval", "rval"]).estimate.loc[STRUCTURAL].to_numpy()


@pytest.mark.parametrize("drop,expected", [
    ("y4 ~~ y8\n", [1.4816, 0.5673, 0.8409]),  # issue's figures = semopy's bundled table, estimated without y4 ~~ y8
    ("", [1.483, 0.572, 0.837]),  # lavaan tutorial output for the bundled description (with y4 ~~ y8)
])
def test_political_democracy_matches_lavaan(drop, expected):
    res = fit_sem(political_democracy.get_model().replace(drop, ""), political_democracy.get_data())
    assert isinstance(res, SEMResult) and res.converged and res.heywood.empty
    np.testing.assert_allclose(structural(res), expected, atol=5e-4)


def test_political_democracy_from_graph_and_plot():
    graph = nx.DiGraph([("ind60", "dem60"), ("ind60", "dem65"), ("dem60", "dem65")])
    latent = {"ind60": ["x1", "x2", "x3"], "dem60": ["y1", "y2", "y3", "y4"], "dem65": ["y5", "y6", "y7", "y8"]}
    cov = [("y1", "y5"), ("y2", "y4"), ("y2", "y6"), ("y3", "y7"), ("y4", "y8"), ("y6", "y8")]
    res = fit_sem(graph, political_democracy.get_data(), latent=latent, covariances=cov)
    np.testing.assert_allclose(structural(res), [1.483, 0.572, 0.837], atol=5e-4)
    assert (res.fit.dof, round(res.fit.chi2, 3)) == (35, 38.125)
    labels = {t.get_text() for t in plot_paths(res).texts}
    assert {"ind60", "dem65", "1.48"} <= labels


@pytest.fixture(scope="module")
def sim():
    from causalrec.data import behavior_features
    from causalrec.simulator import simulate
    data = simulate(seed=0)
    log = behavior_features(data, level="event")[data.truth.variables]
    return data, log, fit_sem(data.truth.graph, log.iloc[:5000])


def identified_pairs(truth):
    "Pairs joined by a directed path of the true graph, except quality -> rating (rating is rounded: not linear)."
    g = truth.graph
    return [(s, t) for s in truth.variables for t in truth.variables if t in nx.descendants(g, s) and t != "rating"]


def test_simulator_total_effects_between_outcomes(sim):
    "Acceptance: n = 5,000, true graph, every pair of SCM outcomes joined by a path is within 0.05 of the truth."
    data, _, fit = sim
    pairs = [(s, t) for s, t in identified_pairs(data.truth) if s not in data.truth.tiers[0]]
    assert len(pairs) == 10
    errors = {p: fit.effect(*p) - data.truth.total_effect(*p) for p in pairs}
    assert max(map(abs, errors.values())) < 0.05, errors


def test_simulator_total_effects_consistent_on_full_log(sim):
    "All 28 identified pairs, context sources included, are within 0.025 of the truth on the whole log."
    data, log, _ = sim
    eff = fit_sem(data.truth.graph, log).effects(identified_pairs(data.truth))
    truth = [data.truth.total_effect(s, t) for s, t in zip(eff.source, eff.target)]
    assert len(eff) == 28 and np.abs(eff.total - truth).max() < 0.025


def test_simulator_wrong_graph_fits_worse(sim):
    data, log, fit = sim
    wrong = nx.DiGraph(data.truth.graph)
    wrong.remove_edges_from([("dwell", "cart"), ("discount", "purchase"), ("price_sensitivity", "purchase")])
    wrong.add_edge("cart", "dwell")
    cmp = compare(fit, fit_sem(wrong, log.iloc[:5000]), names=("true", "wrong"))
    t = cmp.table
    assert cmp.preferred == "true" and not cmp.nested
    assert t.cfi["wrong"] < t.cfi["true"] and t.rmsea["wrong"] > t.rmsea["true"] and t.aic["wrong"] > t.aic["true"] + 10


def toy_frame(n=2000):
    return simulate_linear(TOY, n=n, seed=0)


@pytest.mark.parametrize("frame,err,parts", [
    (toy_frame().drop(columns="d"), ValueError, ["1 variable(s) of the model are missing from the data: ['d']"]),
    (toy_frame().assign(b=lambda f: f.b.astype(str).where(f.index % 2 == 0, "n/a")), TypeError,
     ["column 'b' is not numeric", "1000 of 2000 rows are not numbers, e.g. 'n/a'", "encode it as numbers"]),
    (toy_frame().head(5), ValueError, ["too few rows: df has 5 rows but the model has 7 free parameters",
                                       "at least 8"]),
    (toy_frame().assign(c=lambda f: f.c.where(f.index >= 3)), ValueError, ["3 missing values in 1 column(s), e.g. 'c'"]),
    (toy_frame().assign(a=1.0), ValueError, ["1 column(s) are constant, e.g. 'a'"]),
    (toy_frame().to_numpy(), TypeError, ["df must be a pandas DataFrame, got ndarray"]),
])
def test_bad_data(frame, err, parts):
    with pytest.raises(err) as e:
        fit_sem(TOY, frame)
    assert all(p in str(e.value) for p in parts), str(e.value)


@pytest.mark.parametrize("call,err,msg", [
    (lambda: to_lavaan(nx.DiGraph([("a", "b"), ("b", "a")])), ValueError, "directed cycle"),
    (lambda: to_lavaan(nx.DiGraph([("price ($)", "cart")])), ValueError, "'price ($)'"),
    (lambda: to_lavaan(TOY, latent={"f": "a"}), ValueError, "non-empty list of indicator names"),
    (lambda: fit_sem(3, toy_frame()), TypeError, "got int"),
    (lambda: fit_sem("b ~ a", toy_frame(), latent={"f": ["a"]}), ValueError, "apply to a graph"),
    (lambda: fit_sem(TOY, toy_frame(), variances="positive"), ValueError, "variances must be 'free' or 'nonnegative'"),
    (lambda: fit_sem(TOY, toy_frame()).effect("a", "zz"), ValueError, "unknown variable(s) ['zz']"),
    (lambda: compare(fit_sem(TOY, toy_frame()), fit_sem(TOY, toy_frame(500))), ValueError, "same variables and rows"),
])
def test_bad_calls(call, err, msg):
    with pytest.raises(err, match=re.escape(msg)):
        call()


@st.composite
def weighted_dags(draw, max_nodes=6):
    "A random DAG (edges only from lower to higher index) with nonzero weights in [-1.5, 1.5] and at least one edge."
    n = draw(st.integers(2, max_nodes))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    keep = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)).filter(any))
    weights = draw(st.lists(st.floats(0.2, 1.5), min_size=len(pairs), max_size=len(pairs)))
    signs = draw(st.lists(st.sampled_from([-1, 1]), min_size=len(pairs), max_size=len(pairs)))
    g = nx.DiGraph()
    g.add_nodes_from(f"v{i}" for i in range(n))
    g.add_weighted_edges_from((f"v{i}", f"v{j}", s * w) for (i, j), k, w, s in zip(pairs, keep, weights, signs) if k)
    return g


@settings(max_examples=40, deadline=None)
@given(g=weighted_dags())
def test_effects_are_sums_over_paths(g):
    B = nx.to_pandas_adjacency(g, weight="weight").T  # B.loc[target, source]
    eff = path_effects(B)
    np.testing.assert_allclose(eff["total"], eff["direct"] + eff["indirect"], atol=1e-12)
    for s in g:
        for t in g:
            paths = nx.all_simple_paths(g, s, t) if s != t else []
            expected = sum(np.prod([g.edges[u, v]["weight"] for u, v in zip(p, p[1:])]) for p in paths)
            assert eff["total"].loc[t, s] == pytest.approx(expected, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(g=weighted_dags(), data=st.data())
def test_to_lavaan_is_stable_and_complete(g, data):
    shuffled = nx.DiGraph()
    shuffled.add_nodes_from(data.draw(st.permutations(list(g.nodes))))
    shuffled.add_edges_from(data.draw(st.permutations(list(g.edges))))
    text = to_lavaan(g)
    assert to_lavaan(shuffled) == text
    regs = [l.split(" ~ ") for l in text.splitlines() if " ~ " in l]
    assert sorted((s, t) for t, rhs in regs for s in rhs.split(" + ")) == sorted(g.edges)


@settings(max_examples=8, deadline=None)
@given(g=weighted_dags(max_nodes=5), seed=st.integers(0, 10_000))
def test_fit_recovers_linear_scm(g, seed):
    df = simulate_linear(g, n=4000, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SEMConvergenceWarning)  # a correct model converges
        warnings.simplefilter("error", HeywoodWarning)  # and has proper variances
        res = fit_sem(g, df)
    assert res.converged and res.heywood.empty
    truth = path_effects(nx.to_pandas_adjacency(g, weight="weight").T)["total"]
    eff = res.effects()
    assert set(zip(eff.source, eff.target)) == {(s, t) for s in g for t in nx.descendants(g, s)}
    for s, t, est in zip(eff.source, eff.target, eff.total):
        assert est == pytest.approx(truth.loc[t, s], abs=0.15 + 0.05 * abs(truth.loc[t, s]))
