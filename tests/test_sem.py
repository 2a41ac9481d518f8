"""Properties of causalrec.sem that notebooks can't hold (hypothesis searches). The acceptance checks (lavaan's
Political Democracy figures, the simulator's true effects) and bad-input checks live in nbs/04_sem.ipynb."""
import warnings

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrec.sem import HeywoodWarning, SEMConvergenceWarning, fit_sem, path_effects, simulate_linear, to_lavaan


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
    B = nx.to_pandas_adjacency(g, weight="weight")  # rows = cause: B.loc[source, target]
    eff = path_effects(B)
    np.testing.assert_allclose(eff["total"], eff["direct"] + eff["indirect"], atol=1e-12)
    for s in g:
        for t in g:
            paths = nx.all_simple_paths(g, s, t) if s != t else []
            expected = sum(np.prod([g.edges[u, v]["weight"] for u, v in zip(p, p[1:])]) for p in paths)
            assert eff["total"].loc[s, t] == pytest.approx(expected, abs=1e-9)


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
    truth = path_effects(nx.to_pandas_adjacency(g, weight="weight"))["total"]
    eff = res.effects()
    assert set(zip(eff.source, eff.target)) == {(s, t) for s in g for t in nx.descendants(g, s)}
    for s, t, est in zip(eff.source, eff.target, eff.total):
        assert est == pytest.approx(truth.loc[s, t], abs=0.15 + 0.05 * abs(truth.loc[s, t]))
