"""Properties of causalrec.graph and causalrec.bn that notebooks can't hold: hypothesis searches against brute force,
and importing without the optional causalnex. Demonstrations and bad-input checks live in nbs/03_graph.ipynb and
nbs/03a_bn.ipynb (run by nbdev_test)."""
import subprocess
import sys

import networkx as nx
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrec.graph import learn_structure


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


# --- identification: properties against a brute-force reference (independent d-separation by path enumeration) ---

def _blocked(g, path, Z):
    "Whether `path` (a node list) is blocked by Z in DAG g."
    for u, v, w in zip(path, path[1:], path[2:]):
        collider = g.has_edge(u, v) and g.has_edge(w, v)
        if collider and v not in Z and not (nx.descendants(g, v) & Z): return True
        if not collider and v in Z: return True
    return False


def _backdoor_ok(g, t, y, Z):
    "Pearl's back-door criterion, by enumerating every path."
    if Z & (nx.descendants(g, t) | {t, y}): return False
    paths = nx.all_simple_paths(g.to_undirected(), t, y)
    return all(_blocked(g, p, Z) for p in paths if g.has_edge(p[1], t))


def _frontdoor_ok(g, t, y, M):
    "Pearl's front-door criterion by enumerating every path; (iii) read for the set M (in g with M's out-edges cut)."
    if any(not set(p[1:-1]) & M for p in nx.all_simple_paths(g, t, y)): return False
    cut = nx.DiGraph(g)
    cut.remove_edges_from([e for m in M for e in g.out_edges(m)])
    for m in M:
        if not all(_blocked(g, p, set()) for p in nx.all_simple_paths(g.to_undirected(), t, m) if g.has_edge(p[1], t)):
            return False
        if not all(_blocked(cut, p, {t}) for p in nx.all_simple_paths(cut.to_undirected(), m, y)): return False
    return True


def _subsets(nodes):
    from itertools import combinations
    nodes = sorted(nodes)
    return [set(c) for k in range(len(nodes) + 1) for c in combinations(nodes, k)]


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 100_000), d=st.integers(3, 7), p=st.floats(0.2, 0.6), n_latent=st.integers(0, 3),
       confounded=st.booleans())
def test_identification_matches_brute_force(seed, d, p, n_latent, confounded):
    "Random DAGs (with a latent confounder U of T and Y when `confounded`: the front-door cases) against brute force."
    from causalrec.adjustment import adjustment_set, check_adjustment, identify
    rng = np.random.default_rng(seed)
    A = np.triu(rng.random((d, d)) < p, 1)
    g = nx.relabel_nodes(nx.DiGraph(A), {i: f"v{i}" for i in range(d)})
    g.add_nodes_from(f"v{i}" for i in range(d))
    t, y = (f"v{i}" for i in sorted(rng.choice(d, 2, replace=False)))
    if confounded: g.add_edges_from([("U", t), ("U", y)])
    latent = set(rng.choice([v for v in g if v not in (t, y, "U")], min(n_latent, d - 2), replace=False))
    latent |= {"U"} & set(g)
    obs = set(g) - latent
    candidates = obs - {t, y}
    any_backdoor = any(_backdoor_ok(g, t, y, Z) for Z in _subsets(candidates))
    try:
        Z = set(adjustment_set(g, t, y, observed=obs))
        assert any_backdoor and _backdoor_ok(g, t, y, Z) and Z <= candidates
        assert all(not _backdoor_ok(g, t, y, Z - {v}) for v in Z)  # minimal
        Zmax = set(adjustment_set(g, t, y, observed=obs, minimal=False))
        assert _backdoor_ok(g, t, y, Zmax) and Z <= Zmax
        assert check_adjustment(g, t, y, Z) == [v for v in g if v in Z]
    except ValueError as e:
        assert not any_backdoor, e
        assert "stays open" in str(e)
    for Zs in _subsets(candidates)[:20]:  # check_adjustment agrees with the reference on arbitrary sets
        ok = _backdoor_ok(g, t, y, Zs)
        try: check_adjustment(g, t, y, Zs); assert ok
        except ValueError: assert not ok
    res = identify(g, t, y, observed=obs)
    if y not in nx.descendants(g, t): assert res.estimand == "zero"
    elif any_backdoor: assert res.estimand == "backdoor"
    else:
        any_front = any(M and _frontdoor_ok(g, t, y, M) for M in _subsets(candidates))
        assert res.estimand == ("frontdoor" if any_front else "unidentified")
        if any_front: assert _frontdoor_ok(g, t, y, set(res.mediators))


NO_CAUSALNEX = """
import sys
sys.modules["causalnex"] = sys.modules["pgmpy"] = None  # any import of them now raises ImportError
import networkx as nx, numpy as np, pandas as pd
import causalrec.graph, causalrec.bn, causalrec.sem
from causalrec._core import CAUSALNEX_RECIPE
df = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 2)), columns=["a", "b"])
assert causalrec.graph.learn_structure(df).number_of_nodes() == 2  # the own solver needs nothing optional
for call in (lambda: causalrec.bn.CausalBN(nx.DiGraph([("a", "b")])).fit(df),
             lambda: causalrec.graph.learn_structure(df, method="causalnex")):
    try: call()
    except ImportError as e: assert CAUSALNEX_RECIPE in str(e), str(e)
    else: raise AssertionError("no ImportError without causalnex")
print("ok")
"""


def test_causalnex_is_optional():
    "Without causalnex, graph and bn import and work; its features raise ImportError with the install recipe."
    out = subprocess.run([sys.executable, "-c", NO_CAUSALNEX], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
