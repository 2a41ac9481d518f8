"Property tests (hypothesis) for splits, the simulator, cleaning and the id mapping."
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalrec.data import SPLITS, RecData, clean, from_frames, split
from causalrec.simulator import simulate

WORLD = simulate(n_users=120, n_items=100, exposures_per_user=12, n_random=5, seed=3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(SPLITS), test_size=st.floats(0.05, 0.95), seed=st.integers(0, 2**31 - 1))
def test_split_partitions_and_is_deterministic(method, test_size, seed):
    train, test = split(WORLD, method, test_size=test_size, seed=seed)
    idx = WORLD.interactions.index
    assert len(train.interactions.index.intersection(test.interactions.index)) == 0
    assert train.interactions.index.union(test.interactions.index).sort_values().equals(idx)
    again_train, again_test = split(WORLD, method, test_size=test_size, seed=seed)
    assert again_test.interactions.index.equals(test.interactions.index)
    assert train.items is WORLD.items and test.truth is WORLD.truth


@settings(max_examples=10, deadline=None)
@given(test_size=st.floats(0.1, 0.9), seed=st.integers(0, 1000))
def test_ratio_split_keeps_every_user_in_train(test_size, seed):
    train, test = split(WORLD, "ratio", test_size=test_size, seed=seed)
    assert set(test.interactions.user_id) <= set(train.interactions.user_id)
    per_user = test.interactions.groupby("user_id").size()
    sizes = WORLD.interactions.groupby("user_id").size()
    assert (per_user == np.floor(test_size * sizes.loc[per_user.index])).all()


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_simulate_is_deterministic_and_valid(seed):
    a = simulate(n_users=60, n_items=80, exposures_per_user=8, n_random=4, seed=seed)
    b = simulate(n_users=60, n_items=80, exposures_per_user=8, n_random=4, seed=seed)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_series_equal(a.truth.propensity, b.truth.propensity)
    a.validate()
    assert a.truth.propensity.between(0, 1, inclusive="right").all()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.sampled_from([0.0, 1.0, np.nan]),
                          st.floats(-2, 5)), min_size=1, max_size=40))
def test_clean_accounts_for_every_row(rows):
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "click", "dwell"])
    data = RecData(inter, pd.DataFrame({"item_id": range(4), "text": list("abcd")}), pd.DataFrame({"user_id": range(4)}))
    cleaned, report = clean(data)
    assert len(cleaned.interactions) + len(report) == len(inter)
    assert set(report.row).isdisjoint(cleaned.interactions.index)


def labels():
    "Unique ids of one kind, as users' systems have them: integers (negative and huge too) or strings."
    ints = st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=8, unique=True)
    strs = st.lists(st.text("abcu-_0123456789", min_size=1, max_size=6).filter(str.strip), min_size=1, max_size=8, unique=True)
    return st.one_of(ints, strs)


@settings(max_examples=40, deadline=None)
@given(users=labels(), items=labels(), picks=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), min_size=1, max_size=30))
def test_ids_map_to_dense_and_back(users, items, picks):
    rows = list(dict.fromkeys((users[u % len(users)], items[i % len(items)]) for u, i in picks))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"], dtype=object)
    got = from_frames(inter, pd.DataFrame({"item_id": pd.Series(items, dtype=object), "text": "x"}),
                      pd.DataFrame({"user_id": pd.Series(users, dtype=object)}))
    for col, n, back in (("user_id", len(users), got.original_users), ("item_id", len(items), got.original_items)):
        ids = got.interactions[col].to_numpy()
        assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < n  # dense: never the -1 padding
        assert back(ids).tolist() == inter[col].tolist()
    assert got.dense_users(inter.user_id).tolist() == got.interactions.user_id.tolist()
    assert got.items.item_id.tolist() == list(range(len(items)))  # row i holds item i
