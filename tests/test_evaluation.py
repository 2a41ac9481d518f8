"Evaluation stage: metrics against scikit-learn and loop references, properties, protocols on the simulator and Coat (bad input: in the notebooks)."
import numpy as np
import pandas as pd
import pytest
from conftest import shared_dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from causalrec.metrics import (
    accuracy,
    auc,
    average_precision_at_k,
    coverage,
    f1,
    gauc,
    gini,
    gini_index,
    hit_rate_at_k,
    intra_list_diversity,
    log_loss,
    mae,
    mrr_at_k,
    mse,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall,
    recall_at_k,
    relevance_matrix,
    rmse,
)
from causalrec.protocols import evaluate, feedback_loop, simulate_ab
from causalrec.ranking import OracleRanker, PopularityRanker, RandomRanker, Ranker
from causalrec.report import Report, plot_feedback, plot_metrics, plot_ope

pytestmark = pytest.mark.filterwarnings("ignore:.*clipped at 1:UserWarning")


def _dense_to_ranked(y_true, y_score, k):
    "Top-k by score and the matching gains/ideal matrices, through the public relevance lookup."
    n_users, n_items = y_true.shape
    topk = np.argsort(-y_score, axis=1, kind="stable")[:, :k]
    u, i = np.nonzero(y_true)
    rel = pd.DataFrame({"user_id": u, "item_id": i, "g": y_true[u, i]})
    return relevance_matrix(topk, np.arange(n_users), rel, gain="g")


# --- agreement with scikit-learn on random inputs ---------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_ndcg_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 4, size=(50, 30)).astype(float)
    y_true[:, 0] = np.maximum(y_true[:, 0], 1)  # every user has a relevant item (sklearn scores all-zero rows 0)
    y_score = rng.random((50, 30))
    for k in (1, 5, 10, 30):
        gains, n_rel, ideal = _dense_to_ranked(y_true, y_score, 30)
        np.testing.assert_allclose(ndcg_at_k(gains, ideal, k).mean(), skm.ndcg_score(y_true, y_score, k=k), rtol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_gauc_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    s = rng.integers(0, 20, 500) / 20  # many ties
    np.testing.assert_allclose(auc(y, s), skm.roc_auc_score(y, s), rtol=1e-12)
    users = rng.integers(0, 30, 500)
    per = [(skm.roc_auc_score(y[users == u], s[users == u]), (users == u).sum())
           for u in np.unique(users) if 0 < y[users == u].sum() < (users == u).sum()]
    a, w = np.array(per).T
    np.testing.assert_allclose(gauc(users, y, s), (a * w).sum() / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(gauc(users, y, s, weight="uniform"), a.mean(), rtol=1e-12)


def test_ap_and_pointwise_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y_true = (rng.random((40, 25)) < 0.3).astype(float)
    y_true[:, 0] = 1
    y_score = rng.random((40, 25))
    gains, n_rel, ideal = _dense_to_ranked(y_true, y_score, 25)
    ap = average_precision_at_k(gains, n_rel, 25)
    np.testing.assert_allclose(ap, [skm.average_precision_score(t, s) for t, s in zip(y_true, y_score)], rtol=1e-10)
    y, p = rng.integers(0, 2, 300), rng.random(300)
    r = rng.normal(size=300)
    np.testing.assert_allclose(mse(r, p), skm.mean_squared_error(r, p))
    np.testing.assert_allclose(rmse(r, p), np.sqrt(skm.mean_squared_error(r, p)))
    np.testing.assert_allclose(mae(r, p), skm.mean_absolute_error(r, p))
    np.testing.assert_allclose(log_loss(y, p), skm.log_loss(y, p))
    for t in (0.3, 0.5, 0.8):
        assert accuracy(y, p, t) == pytest.approx(skm.accuracy_score(y, p >= t))
        assert recall(y, p, t) == pytest.approx(skm.recall_score(y, p >= t))
        assert f1(y, p, t) == pytest.approx(skm.f1_score(y, p >= t))


def test_loop_reference_agrees_with_vectorized():
    "Straightforward per-user definitions (sets and Python loops) give the same numbers."
    rng = np.random.default_rng(1)
    topk = np.stack([rng.permutation(40)[:10] for _ in range(60)])
    rel = {u: set(rng.choice(40, rng.integers(1, 8), replace=False).tolist()) for u in range(60)}
    frame = pd.DataFrame([(u, i) for u, s in rel.items() for i in s], columns=["user_id", "item_id"])
    gains, n_rel, ideal = relevance_matrix(topk, np.arange(60), frame)
    for u in range(60):
        hits = [int(i in rel[u]) for i in topk[u, :5]]
        assert precision_at_k(gains, 5)[u] == pytest.approx(sum(hits) / 5)
        assert recall_at_k(gains, n_rel, 5)[u] == pytest.approx(sum(hits) / len(rel[u]))
        assert hit_rate_at_k(gains, 5)[u] == float(any(hits))
        assert mrr_at_k(gains, 5)[u] == pytest.approx(next((1 / (j + 1) for j, h in enumerate(hits) if h), 0.0))
        dcg = sum(h / np.log2(j + 2) for j, h in enumerate(hits))
        idcg = sum(1 / np.log2(j + 2) for j in range(min(5, len(rel[u]))))
        assert ndcg_at_k(gains, ideal, 5)[u] == pytest.approx(dcg / idcg)


# --- properties ------------------------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(arrays(np.int8, st.tuples(st.integers(1, 12), st.integers(1, 15)), elements=st.integers(0, 3)),
       st.integers(1, 15), st.integers(0, 2**31))
def test_ranking_metrics_in_unit_interval_and_ideal_is_one(rel, k, seed):
    n_users, n_items = rel.shape
    k = min(k, n_items)
    score = np.random.default_rng(seed).random(rel.shape)
    gains, n_rel, ideal = _dense_to_ranked(rel.astype(float), score, n_items)
    res = ranking_metrics(gains, n_rel, ideal, ks=(k,), per_user=True)
    vals = res.to_numpy()
    assert np.all((vals[np.isfinite(vals)] >= 0) & (vals[np.isfinite(vals)] <= 1 + 1e-12))
    has = n_rel > 0
    ideal_gains, *_ = _dense_to_ranked(rel.astype(float), rel + score * 1e-3, n_items)  # ranked by true relevance
    np.testing.assert_allclose(ndcg_at_k(ideal_gains, ideal, k)[has], 1.0)
    assert np.isnan(ndcg_at_k(gains, ideal, k)[~has]).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(-5, 5, allow_nan=False)), min_size=2, max_size=60))
def test_auc_symmetry_and_range(pairs):
    y, s = map(np.array, zip(*pairs))
    if y.min() == y.max():
        with pytest.raises(ValueError, match="needs both classes"): auc(y, s)
        return
    a = auc(y, s)
    assert 0 <= a <= 1 and a + auc(y, -s) == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(1, 20), st.integers(1, 6)), elements=st.integers(0, 9)))
def test_catalogue_metrics_in_unit_interval(topk):
    cat = np.arange(10)
    assert 0 < coverage(topk, cat) <= 1 and 0 <= gini(topk, cat) < 1
    emb = np.random.default_rng(0).normal(size=(10, 4))
    if topk.shape[1] > 1:
        ild = intra_list_diversity(topk, emb, per_user=True)
        assert np.all((ild > -1e-5) & (ild < 2 + 1e-5))


# --- rankers and protocols --------------------------------------------------------------------------------------------

class _Table(Ranker):
    def __init__(self, s): self.s = s
    def score(self, users, items): return self.s[np.asarray(users), np.asarray(items)]


def test_recommend_matches_brute_force_with_exclusions():
    rng = np.random.default_rng(0)
    s = rng.random((30, 50))
    data = pd.DataFrame({"user_id": np.repeat(np.arange(30), 50), "item_id": np.tile(np.arange(50), 30)})
    seen = data.sample(400, random_state=0)
    r = _Table(s).fit(data)
    got = r.recommend(np.arange(30), 7, exclude=seen, batch_size=200)  # several batches
    masked = s.copy(); masked[seen.user_id, seen.item_id] = -np.inf
    np.testing.assert_array_equal(got, np.argsort(-masked, axis=1)[:, :7])


def test_evaluate_full_protocol_on_simulator(small_world):
    from causalrec.data import split
    train, test = split(small_world, "mnar_mar")
    rankers = {"random": RandomRanker(0), "pop": PopularityRanker(), "oracle": OracleRanker()}
    emb = np.random.default_rng(0).normal(size=(small_world.n_items, 8))
    res = evaluate(rankers, train, test, ks=(5, 10), item_embeddings=emb, verbose=False)
    assert list(res.columns) == ["ranker", "protocol", "metric", "k", "value", "n_users", "convention"]
    t = res[res.k == 10].pivot_table(index="metric", columns="ranker", values="value")
    assert t.loc["ndcg", "oracle"] > t.loc["ndcg", "random"] and t.loc["recall", "oracle"] > t.loc["recall", "random"]
    assert t.loc["gini", "pop"] > t.loc["gini", "random"] and t.loc["coverage", "random"] > t.loc["coverage", "pop"]
    assert t.loc["avg_popularity", "pop"] > t.loc["avg_popularity", "random"] and "ild" in t.index
    assert res.convention.str.contains("training items excluded").all()
    # no recommended item was seen in training
    users = np.unique(test.interactions.user_id)
    topk = rankers["pop"].recommend(users, 10, exclude=train)
    seen = set(zip(train.interactions.user_id, train.interactions.item_id))
    assert not any((u, i) in seen for u, row in zip(users, topk) for i in row)
    sampled = evaluate(rankers, train, test, protocol="sampled", ks=(10,), n_negatives=50, verbose=False)
    assert set(sampled.metric) == {"sampled_hit_rate", "sampled_ndcg"} and sampled.convention.str.contains("biased").all()


def test_test_items_protocol_on_coat_both_conventions():
    from causalrec.data import split
    from causalrec.loaders import load_coat
    coat = load_coat(shared_dataset("coat"))
    train, test = split(coat, "mnar_mar")
    out = {c: evaluate({"pop": PopularityRanker(outcome=None)}, train, test, protocol="test_items", ks=(5,),
                       label="rating", threshold=3, no_positive=c, verbose=False).set_index("metric") for c in ("skip", "one")}
    n_empty = int((test.interactions.assign(p=test.interactions.rating >= 3).groupby("user_id").p.sum() == 0).sum())
    assert f"{n_empty} of 290 users without a positive: skipped" in out["skip"].convention.iloc[0]
    assert "reference-code convention" in out["one"].convention.iloc[0]
    assert out["skip"].loc["ndcg", "n_users"] == 290 - n_empty and out["one"].loc["ndcg", "n_users"] == 290
    if n_empty: assert out["one"].loc["ndcg", "value"] > out["skip"].loc["ndcg", "value"]
    assert 0.4 < out["skip"].loc["auc", "value"] < 0.8


# --- A/B test, feedback loop, report (off-policy evaluation: test_ope.py) -------------------------------------------------------------------

def test_simulate_ab_lift_and_interval(small_world):
    res = simulate_ab(small_world, RandomRanker(0), OracleRanker("click"), k=10, outcome="click", seed=0)
    assert set(res.arms.arm) == {"A", "B"} and res.arms.n_users.sum() == small_world.n_users
    assert res.lift > 0 and res.ci_low <= res.true_lift <= res.ci_high and res.p_value < 0.05
    same = simulate_ab(small_world, RandomRanker(0), RandomRanker(0), k=10, outcome="purchase", seed=1)
    assert same.true_lift == 0 and same.ci_low <= 0 <= same.ci_high


def test_feedback_loop_popularity_amplifies(small_world):
    pop = feedback_loop(PopularityRanker(), small_world, rounds=4, k=10, verbose=False)
    rnd = feedback_loop(RandomRanker(0), small_world, rounds=4, k=10, verbose=False)
    orc = feedback_loop(OracleRanker(), small_world, rounds=2, k=10, verbose=False)
    inter = small_world.interactions
    start = gini_index(np.bincount(inter[inter.click > 0].item_id, minlength=small_world.n_items))
    # clicks barely depend on popularity in this world (exposure does), so the loop concentrates the log moderately
    assert (pop.log_gini > start).all() and pop.log_gini.iloc[-1] > start + 0.08
    assert rnd.log_gini.is_monotonic_decreasing and (rnd.log_gini < start).all()
    repeat = feedback_loop(PopularityRanker(), small_world, rounds=4, k=10, exclude_seen=False, verbose=False)
    assert repeat.log_gini.is_monotonic_increasing and repeat.log_gini.iloc[-1] > pop.log_gini.iloc[-1]
    assert pop.gini.mean() > rnd.gini.mean() and orc.utility.iloc[0] > pop.utility.iloc[0] > 0
    assert list(pop.columns) == ["round", "utility", "gini", "coverage", "log_gini", "positives", "incremental", "tail_coverage",
                                 "tail_share", "ranker"]
    assert pop.tail_share.max() < rnd.tail_share.min() and pop.tail_coverage.max() < rnd.tail_coverage.min()


def test_feedback_loop_with_the_treatment_logs_the_lists_as_recommended(small_world):
    "With a treatment, the deployed lists go into the biased log as treated rows (propensity 1) that a causal ranker reads."
    seen = []

    class Spy(OracleRanker):
        def fit(self, data):
            seen.append(data.interactions.copy()); return super().fit(data)

    hist = feedback_loop(Spy("purchase"), small_world, rounds=2, k=5, outcome="purchase", treatment="recommended",
                         verbose=False)
    new = seen[1].iloc[len(seen[0]):]
    assert len(new) == 5 * small_world.n_users and (new.log == "mnar").all()
    assert (new.recommended == 1).all() and (new.rec_propensity == 1).all()
    users = np.arange(small_world.n_users)
    assert (hist.incremental > 0).all() and hist.incremental.iloc[0] == pytest.approx(
        small_world.truth.policy_uplift(users, Spy("purchase").fit(small_world).recommend(users, 5, exclude=small_world)).mean())


def test_report_writes_atomically(tmp_path, small_world):
    from causalrec.data import split
    train, test = split(small_world, "mnar_mar")
    res = evaluate([RandomRanker(0), PopularityRanker()], train, test, ks=(1, 5, 10), verbose=False)
    hist = feedback_loop(RandomRanker(0), small_world, rounds=2, verbose=False)
    study = pd.DataFrame({"seed": [0, 0], "estimator": ["ips", "naive"], "value": [1., 2.], "ci_low": [.5, 1.5],
                          "ci_high": [1.5, 2.5], "truth": [1.1, 1.1]})
    rep = (Report("t").add_text("## A <b>").add_table(res.head()).add_figure(plot_metrics(res))
           .add_figure(plot_ope(study)).add_figure(plot_feedback(hist)))
    paths = rep.write(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == \
        ["figure_0.png", "figure_1.png", "figure_2.png", "report.html", "report.md"]
    assert not list((tmp_path / "out").rglob("*.tmp"))
    html = paths["report.html"].read_text()
    assert "<h2>A &lt;b&gt;</h2>" in html and html.count("data:image/png;base64,") == 3
    assert (tmp_path / "out" / "figures" / "figure_0.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"): rep.write(tmp_path / "file")
