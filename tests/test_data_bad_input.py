"Malformed inputs to the data stage: each raises an error whose message names the problem and the fix."
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from causalrec.data import RecData, from_frames, load_coat, load_movielens, load_table, load_yahoo_r3, split, behavior_features, clean
from causalrec.simulator import simulate
from causalrec.propensity import estimate_propensities

ITEMS = pd.DataFrame({"item_id": [1, 2, 3], "text": ["red coat", "blue coat", "green coat"]})
USERS = pd.DataFrame({"user_id": [10, 11]})


def frames(**columns):
    base = {"user_id": [10, 10, 11], "item_id": [1, 2, 3]}
    base.update(columns)
    return pd.DataFrame(base)


def check(inter, match, items=ITEMS, users=USERS, rating_scale=(1, 5), exc=ValueError):
    with pytest.raises(exc, match=match):
        RecData(inter, items, users, rating_scale=rating_scale).validate()


BAD_INTERACTIONS = [
    ("missing user_id", pd.DataFrame({"item_id": [1]}), r"missing required column\(s\) \['user_id'\].*Fix: rename"),
    ("NaN id", frames(user_id=[10, None, 11]), r"interactions.user_id: 1 row\(s\) have a missing id"),
    ("float ids", frames(item_id=[1.5, 2.0, 3.0]), r"have dtype float64, not integer or string ids"),
    ("unknown item", frames(item_id=[1, 2, 99]), r"interactions.item_id: 1 row\(s\) refer to ids missing from items \(e.g. 99\)"),
    ("unknown user", frames(user_id=[10, 10, 12]), r"interactions.user_id: 1 row\(s\) refer to ids missing from users"),
    ("duplicate event", frames(item_id=[1, 1, 3]), r"interactions.user_id\+item_id: 2 row\(s\) share a duplicate key"),
    ("NaN click", frames(click=[1, np.nan, 0]), r"interactions.click: 1 row\(s\) are NaN.*clean\(data"),
    ("non-binary click", frames(click=[1, 2, 0]), r"interactions.click: 1 row\(s\) are not 0/1 \(e.g. 2\)"),
    ("text outcome", frames(purchase=["yes", "no", "no"]), r"interactions.purchase: 3 row\(s\) are not numeric"),
    ("rating off scale", frames(rating=[1, 6, 3]), r"interactions.rating: 1 row\(s\) lie outside the declared rating scale \(1, 5\)"),
    ("negative dwell", frames(dwell=[1.0, -3.0, 2.0]), r"interactions.dwell: 1 row\(s\) are negative dwell times"),
    ("propensity zero", frames(propensity=[0.5, 0.0, 0.2]), r"interactions.propensity: 1 row\(s\) are not in \(0, 1\]"),
    ("unknown log", frames(log=["mnar", "random", "mar"]), r"interactions.log: 1 row\(s\) are not one of"),
]


@pytest.mark.parametrize("label,inter,match", BAD_INTERACTIONS, ids=[b[0] for b in BAD_INTERACTIONS])
def test_bad_interactions(label, inter, match):
    check(inter, match)


def test_empty_item_text():
    items = ITEMS.assign(text=["red coat", "  ", None])
    check(frames(), r"items.text: 2 row\(s\) have empty or non-string text", items=items)


def test_duplicate_item_rows():
    check(frames(), r"items.item_id: 2 row\(s\) share a duplicate key.*drop_duplicates", items=pd.concat([ITEMS, ITEMS.iloc[:1]]))


def test_interactions_not_a_frame():
    with pytest.raises(TypeError, match="interactions must be a pandas DataFrame, got dict"):
        from_frames({"user_id": [1], "item_id": [2]})


def test_missing_coat_file(tmp_path):
    (tmp_path / "train.ascii").write_text("0 1\n2 0\n")
    with pytest.raises(FileNotFoundError, match=r"missing test.ascii. Expected the Coat layout"):
        load_coat(tmp_path)


def test_malformed_coat_matrix(tmp_path):
    (tmp_path / "train.ascii").write_text("0 1\n2 x\n")
    with pytest.raises(ValueError, match=r"train.ascii: not a whitespace-separated numeric matrix"):
        load_coat(tmp_path)


def test_coat_shape_mismatch(tmp_path):
    (tmp_path / "train.ascii").write_text("0 1\n2 0\n")
    (tmp_path / "test.ascii").write_text("0 1 3\n2 0 1\n")
    with pytest.raises(ValueError, match=r"test.ascii: expected a 2x2 matrix, got 2x3"):
        load_coat(tmp_path)


def test_movielens_wrong_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(FileNotFoundError, match=r"missing ratings.dat. Expected a MovieLens folder"):
        load_movielens(tmp_path)


def test_yahoo_missing_random_log(tmp_path):
    (tmp_path / "train.txt").write_text("1 1 5\n")
    with pytest.raises(FileNotFoundError, match=r"missing ydata-ymusic-rating-study-v1-r.txt or test.txt"):
        load_yahoo_r3(tmp_path)


def test_unknown_table_format(tmp_path):
    path = tmp_path / "log.xlsx"
    path.write_text("x")
    with pytest.raises(ValueError, match=r"unknown table format '.xlsx'; expected .csv, .tsv or .parquet"):
        load_table(path)


def test_missing_table_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"log.csv: file not found"):
        load_table(tmp_path / "log.csv")


def test_simulate_bad_sizes():
    with pytest.raises(ValueError, match=r"n_users must be a positive integer, got 0"):
        simulate(n_users=0)
    with pytest.raises(ValueError, match=r"exposures_per_user=300 must be in \(0, n_items/4"):
        simulate(n_items=100, exposures_per_user=300)


def test_split_needs_log_column(small_world):
    no_log = replace(small_world, interactions=small_world.interactions.drop(columns="log"))
    with pytest.raises(ValueError, match=r"split\(method='mnar_mar'\) needs an interactions column 'log'"):
        split(no_log, "mnar_mar")
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\), got 1.5"):
        split(small_world, "random", test_size=1.5)


def test_naive_bayes_needs_mar(small_world):
    biased = replace(small_world, interactions=small_world.interactions.query("log == 'mnar'"))
    with pytest.raises(ValueError, match=r"needs a randomized \(MAR\) sample"):
        estimate_propensities(biased, "naive_bayes")


def test_behavior_features_unknown_level(small_world):
    with pytest.raises(ValueError, match=r"level must be 'event' or 'user', got 'item'"):
        behavior_features(small_world, level="item")


def test_truth_queries_check_ids(small_world):
    with pytest.raises(ValueError, match=r"item id\(s\) outside this world's 0..199"):
        small_world.truth.expected([0], [500])
    with pytest.raises(ValueError, match=r"not outcomes of the SCM"):
        small_world.truth.expected([0], [1], do={"price": 1})


def test_clean_bad_missing_mode(small_world):
    with pytest.raises(ValueError, match=r"missing must be 'drop' or 'impute'"):
        clean(small_world, missing="zero")


def test_propensity_clip_warns(small_world):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = estimate_propensities(small_world, "popularity", clip=0.9)
    assert (p >= 0.9).all()
    assert any("were below clip=0.9" in str(w.message) for w in caught)
