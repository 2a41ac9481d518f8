"Malformed inputs to the data stage: each raises an error whose message names the place (table.column or file, row) and the fix."
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from causalrec.data import RecData, behavior_features, clean, from_frames, split
from causalrec.loaders import load_coat, load_movielens, load_table, load_yahoo_r3
from causalrec.propensity import estimate_propensities
from causalrec.simulator import simulate

ITEMS = pd.DataFrame({"item_id": [1, 2, 3], "text": ["red coat", "blue coat", "green coat"]})
USERS = pd.DataFrame({"user_id": [10, 11]})


def frames(**columns):
    base = {"user_id": [10, 10, 11], "item_id": [1, 2, 3]}
    base.update(columns)
    return pd.DataFrame(base)


REPAIR = r"Fix: pass clean=True to from_frames / load_table \(CLI: --clean\)"
# (label, interactions, items, message): from_frames(interactions, items, USERS, rating_scale=(1, 5)) must raise
BAD_FRAMES = [
    ("missing user_id column", pd.DataFrame({"item_id": [1]}), ITEMS, r"missing required column\(s\) \['user_id'\].*Fix: rename"),
    ("missing text column", frames(), ITEMS[["item_id"]], r"items: missing required column\(s\) \['text'\].*item_text_from_features"),
    ("no rows", frames().iloc[:0], ITEMS, r"interactions: no rows"),
    ("NaN user id", frames(user_id=[10, None, 11]), ITEMS, r"interactions.user_id: 1 row\(s\) need repair \(1 missing user id\) \(e.g. row 1, missing user id\). " + REPAIR),
    ("blank string id", frames(item_id=["1", " ", "3"]), ITEMS.astype({"item_id": str}), r"interactions.item_id: 1 row\(s\) need repair \(1 missing item id\)"),
    ("fractional ids", frames(item_id=[1.5, 2.0, 3.0]), ITEMS, r"interactions.item_id: 1 row\(s\) are not whole numbers \(e.g. 1.5\)"),
    ("bool ids", frames(item_id=[True, False, True]), ITEMS, r"have dtype bool, not integer or string ids"),
    ("mixed id types", frames(item_id=[1, "2", 3]), ITEMS, r"interactions.item_id: 3 row\(s\) mix id types"),
    ("string vs integer ids", frames(item_id=["1", "2", "3"]), ITEMS, r"are string ids but items.item_id holds integer ids"),
    ("unknown item", frames(item_id=[1, 2, 99]), ITEMS, r"interactions.item_id: 1 row\(s\) need repair \(1 unknown item id\) \(e.g. row 2: 99"),
    ("unknown user", frames(user_id=[10, 10, 12]), ITEMS, r"\(1 unknown user id\) \(e.g. row 2: 12, unknown user id\)"),
    ("duplicate event", frames(item_id=[1, 1, 3]), ITEMS, r"interactions.user_id\+item_id: 1 row\(s\) need repair \(1 duplicate event\) \(e.g. row 1: '10/1'"),
    ("NaN click", frames(click=[1, np.nan, 0]), ITEMS, r"interactions.click: 1 row\(s\) need repair \(1 missing outcome\)"),
    ("inf rating", frames(rating=[1, np.inf, 3]), ITEMS, r"interactions.rating: 1 row\(s\) need repair \(1 infinite outcome\) \(e.g. row 1: inf"),
    ("inf dwell", frames(dwell=[1.0, 2.0, np.inf]), ITEMS, r"interactions.dwell: 1 row\(s\) need repair \(1 infinite outcome\)"),
    ("-inf dwell", frames(dwell=[-np.inf, 2.0, 1.0]), ITEMS, r"interactions.dwell: 1 row\(s\) need repair \(1 infinite outcome\)"),
    ("rating 99 off scale", frames(rating=[1, 99, 3]), ITEMS, r"\(1 outside rating scale \(1, 5\)\) \(e.g. row 1: 99"),
    ("rating -3 off scale", frames(rating=[-3, 2, 3]), ITEMS, r"\(1 outside rating scale \(1, 5\)\) \(e.g. row 0: -3"),
    ("negative dwell", frames(dwell=[1.0, -3.0, 2.0]), ITEMS, r"interactions.dwell: 1 row\(s\) need repair \(1 negative dwell time\)"),
    ("NaN timestamp", frames(timestamp=[1.0, np.nan, 3.0]), ITEMS, r"\(1 missing or unreadable timestamp\) \(e.g. row 1,"),
    ("unreadable timestamp", frames(timestamp=["2024-01-01", "yesterday", "2024-01-02"]), ITEMS,
     r"interactions.timestamp: 1 row\(s\) need repair \(1 missing or unreadable timestamp\) \(e.g. row 1: 'yesterday'"),
    ("bool timestamps", frames(timestamp=[True, False, True]), ITEMS, r"interactions.timestamp: 3 row\(s\) are booleans, not times"),
    ("non-binary click", frames(click=[1, 2, 0]), ITEMS, r"interactions.click: 1 row\(s\) are not 0/1 \(e.g. 2\)"),
    ("text outcome", frames(purchase=["yes", "no", "no"]), ITEMS, r"interactions.purchase: 3 row\(s\) are not numeric"),
    ("propensity zero", frames(propensity=[0.5, 0.0, 0.2]), ITEMS, r"interactions.propensity: 1 row\(s\) are not in \(0, 1\]"),
    ("unknown log", frames(log=["mnar", "random", "mar"]), ITEMS, r"interactions.log: 1 row\(s\) are not one of"),
    ("empty text, no features", frames(), ITEMS.assign(text=["red coat", "  ", None]), r"items.text: 2 row\(s\) have empty or non-string text"),
    ("empty text with features", frames(), ITEMS.assign(text=["red coat", "", "x"], colour=["red", "blue", "green"]),
     r"items.text: 1 row\(s\) need repair \(1 empty text\) \(e.g. row 1: '', empty text\). " + REPAIR),
    ("duplicate item rows", frames(), pd.concat([ITEMS, ITEMS.iloc[:1]]), r"items.item_id: 2 row\(s\) share a duplicate id.*drop_duplicates"),
    ("missing item id in items", frames(), ITEMS.assign(item_id=[1.0, 2.0, np.nan]), r"items.item_id: 1 row\(s\) have a missing id \(row shown\) \(e.g. 2\)"),
]


@pytest.mark.parametrize("label,inter,items,match", BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
def test_bad_frames(label, inter, items, match):
    with pytest.raises((ValueError, TypeError), match=match):
        from_frames(inter, items, USERS, rating_scale=(1, 5))


REPAIRABLE = [b for b in BAD_FRAMES if "need repair" in b[3]]


@pytest.mark.parametrize("label,inter,items,match", REPAIRABLE, ids=[b[0] for b in REPAIRABLE])
def test_clean_repairs_what_it_refuses(label, inter, items, match):
    "Each case refused as 'need repair' is accepted with clean=True, and data.repairs accounts for every row."
    data = from_frames(inter, items, USERS, rating_scale=(1, 5), clean=True)
    events = data.repairs[data.repairs.table == "interactions"]
    assert len(data.repairs) >= 1 and len(data.interactions) + (events.action == "dropped").sum() == len(inter)
    assert set(events.row).isdisjoint(data.interactions.index)


def test_everything_dropped():
    with pytest.raises(ValueError, match=r"interactions: cleaning dropped every row \(3 negative dwell time\)"):
        from_frames(frames(dwell=[-1.0, -2.0, -3.0]), ITEMS, USERS, clean=True)


def test_direct_recdata_refuses_negative_and_string_ids():
    neg = RecData(frames(user_id=[-1, -1, 11]), ITEMS, pd.DataFrame({"user_id": [-1, 11]}))
    with pytest.raises(ValueError, match=r"interactions.user_id: 2 row\(s\) are negative ids, which collide with the -1 padding"):
        neg.validate()
    text = RecData(frames(user_id=["a", "a", "b"]), ITEMS, pd.DataFrame({"user_id": ["a", "b"]}))
    with pytest.raises(TypeError, match=r"are str ids, not dense integers.*Fix: build the data with from_frames"):
        text.validate()


def test_bad_rating_scale():
    with pytest.raises(ValueError, match=r"rating_scale must be \(low, high\) with low < high, got \(5, 1\)"):
        from_frames(frames(rating=[1, 2, 3]), ITEMS, USERS, rating_scale=(5, 1))


def test_repeated_index_refused():
    data = RecData(pd.concat([frames(), frames(item_id=[3, 2, 1])]), ITEMS, USERS)
    with pytest.raises(ValueError, match=r"interactions: the index repeats labels.*reset_index"):
        data.validate()


def test_interactions_not_a_frame():
    with pytest.raises(TypeError, match="interactions must be a pandas DataFrame, got dict"):
        from_frames({"user_id": [1], "item_id": [2]})


def test_id_maps_refuse_unknown_labels_and_ids():
    data = from_frames(frames(user_id=["ann", "ann", "bob"]), ITEMS, pd.DataFrame({"user_id": ["ann", "bob"]}))
    with pytest.raises(ValueError, match=r"1 user id\(s\) are not in this data \(e.g. 'eve'\)"):
        data.dense_users(["ann", "eve"])
    with pytest.raises(ValueError, match=r"1 item id\(s\) lie outside 0..2 \(e.g. 3\)"):
        data.original_items([0, 3])


# ---- files -------------------------------------------------------------------------------------------------------

def test_empty_file(tmp_path):
    (tmp_path / "events.csv").write_text("")
    with pytest.raises(ValueError, match=r"events.csv: the file is empty. Fix: write a header row"):
        load_table(tmp_path / "events.csv")


def test_header_only_file(tmp_path):
    (tmp_path / "events.csv").write_text("user_id,item_id,click\n")
    with pytest.raises(ValueError, match=r"events.csv: interactions: no rows"):
        load_table(tmp_path / "events.csv")


def test_ragged_rows(tmp_path):
    (tmp_path / "events.csv").write_text("user_id,item_id\nu1,i1\nu2,i2,1,extra\n")
    with pytest.raises(ValueError, match=r"events.csv: rows do not match the header \(.*line 3.*\). Fix: give every row"):
        load_table(tmp_path / "events.csv")


@pytest.mark.filterwarnings("ignore:no items table given")
def test_short_row_is_reported_by_row(tmp_path):
    (tmp_path / "events.csv").write_text("user_id,item_id,click\nu1,i1,1\nu2,i2\n")
    with pytest.raises(ValueError, match=r"events.csv: interactions.click: 1 row\(s\) need repair \(1 missing outcome\) \(e.g. row 1,.*line r \+ 2"):
        load_table(tmp_path / "events.csv")


def test_not_utf8(tmp_path):
    (tmp_path / "events.csv").write_bytes("user_id,item_id\nJosé,i1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"events.csv: not utf-8 text \(.*\). Fix: save it as UTF-8, or pass encoding='latin-1'"):
        load_table(tmp_path / "events.csv")


def test_not_parquet(tmp_path):
    (tmp_path / "events.parquet").write_text("user_id,item_id\n")
    with pytest.raises(ValueError, match=r"events.parquet: not a readable .parquet file"):
        load_table(tmp_path / "events.parquet")


def test_items_file_named_in_error(tmp_path):
    (tmp_path / "events.csv").write_text("user_id,item_id\nu1,i1\n")
    (tmp_path / "items.csv").write_text("item_id,title\ni1,Red coat\n")
    with pytest.raises(ValueError, match=r"items.csv: items: missing required column\(s\) \['text'\]"):
        load_table(tmp_path / "events.csv", tmp_path / "items.csv")


def test_unknown_table_format(tmp_path):
    path = tmp_path / "log.xlsx"
    path.write_text("x")
    with pytest.raises(ValueError, match=r"unknown table format '.xlsx'; expected .csv, .tsv or .parquet"):
        load_table(path)


def test_missing_table_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"log.csv: file not found"):
        load_table(tmp_path / "log.csv")


@pytest.mark.filterwarnings("ignore:no items table given")
def test_table_rating_scale(tmp_path):
    (tmp_path / "events.csv").write_text("user_id,item_id,rating\nu1,i1,4\nu1,i2,99\nu2,i1,-3\n")
    with pytest.raises(ValueError, match=r"events.csv: interactions.rating: 2 row\(s\) need repair \(2 outside rating scale \(1, 5\)\) \(e.g. row 1: 99"):
        load_table(tmp_path / "events.csv", rating_scale=(1, 5))


def coat_folder(path, train="0 1\n2 0\n", test="0 3\n4 0\n"):
    "A 2x2 Coat folder."
    (path / "user_item_features").mkdir(exist_ok=True)
    (path / "train.ascii").write_text(train)
    (path / "test.ascii").write_text(test)
    (path / "propensities.ascii").write_text("0.5 0.5\n0.5 0.5\n")
    (path / "user_item_features" / "item_features.ascii").write_text("1 0 1 0 0 1 0 1\n0 1 0 1 1 0 1 0\n")
    (path / "user_item_features" / "item_features_map.txt").write_text(
        "gender:men gender:women jackettype:bomber jackettype:other color:black color:blue onfrontpage:yes onfrontpage:no\n")
    (path / "user_item_features" / "user_features.ascii").write_text("1 0\n0 1\n")
    (path / "user_item_features" / "user_features_map.txt").write_text("gender:men\ngender:women\n")
    return path


def test_coat_small_folder_loads(tmp_path):
    coat = load_coat(coat_folder(tmp_path))
    assert coat.interactions.rating.tolist() == [1, 2, 3, 4]


def test_coat_fractional_rating(tmp_path):
    coat_folder(tmp_path, train="0 2.5\n2 0\n")
    with pytest.raises(ValueError, match=r"train.ascii: 1 rating\(s\) are not whole stars \(e.g. row 0, column 1: 2.5\)"):
        load_coat(tmp_path)


def test_coat_nan_cell(tmp_path):
    coat_folder(tmp_path, test="0 nan\n4 0\n")
    with pytest.raises(ValueError, match=r"test.ascii: 1 rating\(s\) are not whole stars \(e.g. row 0, column 1: nan\)"):
        load_coat(tmp_path)


def test_coat_rating_off_scale(tmp_path):
    coat_folder(tmp_path, train="0 7\n2 0\n")
    with pytest.raises(ValueError, match=r"train.ascii \+ test.ascii: interactions.rating: 1 row\(s\) need repair \(1 outside rating scale"):
        load_coat(tmp_path)


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


def test_movielens_reordered_header_is_read_by_name(tmp_path):
    (tmp_path / "ratings.csv").write_text("rating,timestamp,movieId,userId\n4.0,964982703,10,1\n3.5,964982704,20,2\n")
    (tmp_path / "movies.csv").write_text("genres,movieId,title\nAction,10,Heat (1995)\nAnimation,20,Up (2009)\n")
    ml = load_movielens(tmp_path)
    assert ml.original_users(ml.interactions.user_id).tolist() == [1, 2]
    assert ml.original_items(ml.interactions.item_id).tolist() == [10, 20]
    assert ml.interactions.rating.tolist() == [4.0, 3.5]


def test_movielens_ratings_without_movie_column(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,itemId,rating,timestamp\n1,10,4.0,964982703\n")
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n10,Heat (1995),Action\n")
    with pytest.raises(ValueError, match=r"ratings.csv: missing column\(s\) \['movieId'\]; its header is \['userId', 'itemId', 'rating', 'timestamp'\]"):
        load_movielens(tmp_path)


def test_movielens_without_genres(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.0,964982703\n")
    (tmp_path / "movies.csv").write_text("movieId,title\n10,Heat (1995)\n")
    with pytest.raises(ValueError, match=r"movies.csv: missing column\(s\) \['genres'\].*Fix: this file needs the columns"):
        load_movielens(tmp_path)


def test_movielens_rating_off_scale(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.0,964982703\n1,20,9.0,964982704\n")
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n10,Heat (1995),Action\n20,Up (2009),Animation\n")
    with pytest.raises(ValueError, match=r"ratings.csv: interactions.rating: 1 row\(s\) need repair \(1 outside rating scale \(0.5, 5.0\)\) \(e.g. row 1: 9.0"):
        load_movielens(tmp_path)


def test_movielens_100k_fractional_rating(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t4\t881250949\n2\t10\t3.5\t881250950\n")
    with pytest.raises(ValueError, match=r"u.data: 1 rating\(s\) are not whole stars \(e.g. row 1: 3.5\)"):
        load_movielens(tmp_path)


def test_movielens_1m_wrong_fields(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::10::4\n")
    with pytest.raises(ValueError, match=r"ratings.dat: expected 4 fields per row, got 3"):
        load_movielens(tmp_path)


def test_yahoo_missing_random_log(tmp_path):
    (tmp_path / "train.txt").write_text("1 1 5\n")
    with pytest.raises(FileNotFoundError, match=r"missing ydata-ymusic-rating-study-v1-r.txt or test.txt"):
        load_yahoo_r3(tmp_path)


@pytest.mark.parametrize("value", ["3.5", "4.9"])
def test_yahoo_fractional_rating(tmp_path, value):
    (tmp_path / "train.txt").write_text("1\t1\t5\n")
    (tmp_path / "test.txt").write_text(f"1\t2\t4\n2\t1\t{value}\n")
    with pytest.raises(ValueError, match=rf"test.txt: 1 rating\(s\) are not whole stars \(e.g. line 2: {value}\)"):
        load_yahoo_r3(tmp_path)


def test_yahoo_wrong_columns(tmp_path):
    (tmp_path / "train.txt").write_text("1\t1\n")
    (tmp_path / "test.txt").write_text("1\t2\t4\n")
    with pytest.raises(ValueError, match=r"train.txt: expected 3 numeric columns 'user item rating', got 2 columns"):
        load_yahoo_r3(tmp_path)


# ---- other stages of the data module -----------------------------------------------------------------------------

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
    with pytest.raises(ValueError, match=r"missing must be 'drop' or 'impute'"):
        from_frames(frames(), ITEMS, USERS, missing="zero")


def test_propensity_clip_warns(small_world):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = estimate_propensities(small_world, "popularity", clip=0.9)
    assert (p >= 0.9).all()
    assert any("were below clip=0.9" in str(w.message) for w in caught)
