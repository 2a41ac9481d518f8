"Integration, bad-input and property tests of causalrec.graph (structure learning, SHD, CausalBN)."
import re

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from causalrec.bn import CausalBN
from causalrec.graph import CausalGraph, edge_metrics, learn_structure, plot_graph, shd


def toy(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    a, d = rng.normal(size=n), rng.normal(size=n)
    b = 1.5 * a + rng.normal(size=n)
    c = -1.0 * b + 0.8 * d + rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": b, "c": c, "d": d})


@pytest.fixture(scope="module")
def sim():
    from causalrec.data import behavior_features
    from causalrec.simulator import simulate
    data = simulate(seed=0)
    events = behavior_features(data, level="event")[data.truth.variables].iloc[:5000]
    return data, events


def test_simulator_graph_recovered(sim):
    data, events = sim
    g = learn_structure(events, tiers=data.truth.tiers, w_threshold=0.05, standardize=True)
    assert isinstance(g, CausalGraph) and nx.is_directed_acyclic_graph(g)
    assert shd(g, data.truth.graph) <= 2


def test_do_discount_matches_truth_and_differs_from_conditioning(sim):
    data, events = sim
    g = learn_structure(events, tiers=data.truth.tiers, w_threshold=0.05, standardize=True)
    bn = CausalBN(g, n_bins=4, bins={"discount": [0.5]}, labels={"discount": ["low", "high"]}).fit(events)
    logged = data.interactions[data.interactions.log == "mnar"].iloc[:5000]
    truth = data.truth.expected(logged.user_id.to_numpy(), logged.item_id.to_numpy(), do={"discount": 1})["purchase"].mean()
    p_do = bn.do({"discount": "high"})["purchase"][1]
    p_obs = bn.query({"discount": "high"})["purchase"][1]
    assert abs(p_do - truth) <= 0.03
    assert abs(p_obs - truth) > abs(p_do - truth)


def test_methods_agree_and_stability():
    truth = nx.DiGraph([("a", "b"), ("b", "c"), ("d", "c")])
    g = learn_structure(toy(), n_bootstrap=5, verbose=False)
    assert shd(g, truth) == 0 and edge_metrics(g, truth)["f1"] == 1.0
    assert shd(learn_structure(toy(), method="causalnex"), truth) == 0
    assert all(g.edges[e]["stability"] == 1.0 for e in g.edges)
    assert plot_graph(g) is not None


@pytest.mark.parametrize("frame,err,msg", [
    (toy().assign(a=lambda f: f.a.astype(str)), TypeError, "column 'a' is not numeric"),
    (toy().assign(b=lambda f: f.b.where(f.index > 4)), ValueError, "'b' has 5 NaN"),
    (toy().assign(c=2.0), ValueError, "constant column"),
    (toy().head(3), ValueError, "3 row(s) but 4 variables"),
])
def test_bad_frames(frame, err, msg):
    with pytest.raises(err, match=re.escape(msg)):
        learn_structure(frame)


def test_contradictory_knowledge():
    with pytest.raises(ValueError, match="both required and forbidden"):
        learn_structure(toy(), required=[("a", "b")], forbidden=[("a", "b")])
    with pytest.raises(ValueError, match="back to tier"):
        learn_structure(toy(), required=[("c", "a")], tiers=[["a"], ["c"]])
    with pytest.raises(ValueError, match="unknown variable"):
        learn_structure(toy(), forbidden=[("a", "zz")])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(1, 4), n_forbid=st.integers(0, 3))
def test_output_is_dag_respecting_knowledge(seed, cut, n_forbid):
    rng = np.random.default_rng(seed)
    cols = list("abcde")
    df = pd.DataFrame(rng.normal(size=(300, 5)) @ np.triu(rng.normal(size=(5, 5))), columns=cols)
    perm = list(rng.permutation(cols))
    tiers = [perm[:cut], perm[cut:]]
    forbidden = [tuple(rng.choice(cols, 2, replace=False)) for _ in range(n_forbid)]
    g = learn_structure(df, tiers=tiers, forbidden=forbidden, w_threshold=0.1, max_parents=2)
    assert nx.is_directed_acyclic_graph(g)
    assert not any(u in tiers[1] and v in tiers[0] for u, v in g.edges)
    assert not any(e in g.edges for e in forbidden)
    assert max((deg for _, deg in g.in_degree), default=0) <= 2
