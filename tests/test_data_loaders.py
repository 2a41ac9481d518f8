"Loaders on the shared real datasets, on small files in each supported layout, and on the shipped messy shop export."
import runpy
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_dataset

from causalrec.data import split
from causalrec.loaders import load_coat, load_movielens, load_table, load_yahoo_r3
from causalrec.simulator import simulate

MESSY = Path(__file__).parent / "data"
RENAME = {"dwell_seconds": "dwell", "title": "text"}


def test_coat_reference_counts():
    coat = load_coat(shared_dataset("coat"))
    counts = coat.interactions.log.value_counts()
    assert (counts["mnar"], counts["mar"], coat.n_users, coat.n_items) == (6960, 4640, 290, 300)
    assert coat.items.text.str.strip().str.len().gt(0).all()
    assert coat.interactions.groupby(["log", "user_id"]).size().unstack(0).eq(pd.Series({"mar": 16, "mnar": 24})).all().all()
    assert coat.item_ids.tolist() == list(range(300))  # dense already: identity mapping
    train, test = split(coat, "mnar_mar")
    assert len(train.interactions) == 6960 and len(test.interactions) == 4640


def test_movielens_reference_counts():
    ml = load_movielens(shared_dataset("ml-latest-small"))
    assert (len(ml.interactions), ml.n_users, ml.n_items) == (100_836, 610, 9_742)
    assert ml.items.text.str.strip().str.len().gt(0).all()
    assert ml.interactions.item_id.max() == 9_741 and ml.interactions.user_id.max() == 609  # dense ids
    toy_story = ml.items.loc[ml.dense_items([1])[0]]
    assert toy_story.year == 1995 and "Animation" in toy_story.text and "Tags:" in toy_story.text
    assert ml.original_items([toy_story.item_id]).tolist() == [1]


def test_movielens_100k_layout(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t4\t881250949\n2\t10\t5\t881250950\n2\t20\t1\t881250951\n")
    flags = "|".join(["0"] * 19)
    (tmp_path / "u.item").write_text(f"10|Heat (1995)|01-Jan-1995||http://x|{flags[:-1]}1\n20|Up (2009)|01-Jan-2009||http://x|{flags}\n",
                                      encoding="latin-1")
    ml = load_movielens(tmp_path)
    assert ml.rating_scale == (1, 5) and ml.n_items == 2
    assert ml.items.loc[ml.dense_items([10])[0], "text"] == "Heat (1995). Genres: Western"


def test_movielens_1m_layout(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::10::4::978300760\n2::20::3::978300761\n")
    (tmp_path / "movies.dat").write_text("10::Heat (1995)::Action|Crime\n20::Up (2009)::Animation\n", encoding="latin-1")
    ml = load_movielens(tmp_path)
    assert list(ml.items.text) == ["Heat (1995). Genres: Action, Crime", "Up (2009). Genres: Animation"]


def test_yahoo_layout(tmp_path):
    (tmp_path / "ydata-ymusic-rating-study-v1-u.txt").write_text("1\t1\t5\n1\t2\t3\n2\t1\t1\n")
    (tmp_path / "ydata-ymusic-rating-study-v1-r.txt").write_text("1\t3\t2\n2\t2\t4\n")
    yahoo = load_yahoo_r3(tmp_path)
    assert yahoo.interactions.log.value_counts().to_dict() == {"mnar": 3, "mar": 2}
    assert list(yahoo.items.text) == ["song 1", "song 2", "song 3"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_round_trip(tmp_path, suffix):
    world = simulate(n_users=50, n_items=60, exposures_per_user=5, n_random=3, seed=1)
    paths = {}
    for name, df in (("inter", world.interactions), ("items", world.items), ("users", world.users)):
        paths[name] = tmp_path / f"{name}{suffix}"
        df.to_csv(paths[name], index=False) if suffix == ".csv" else df.to_parquet(paths[name])
    back = load_table(paths["inter"], paths["items"], paths["users"], rating_scale=(1, 5))
    pd.testing.assert_frame_equal(back.interactions, world.interactions, check_dtype=False)
    assert back.n_items == world.n_items and back.n_users == world.n_users


@pytest.mark.filterwarnings("ignore:no items table given")
def test_table_ids_keep_leading_zeros(tmp_path):
    (tmp_path / "events.csv").write_text("customer,sku,click\n007,0042,1\n7,42,0\n8,42,1\n")
    data = load_table(tmp_path / "events.csv", rename={"customer": "user_id", "sku": "item_id"})
    assert data.n_users == 3 and data.n_items == 2  # '007' is not '7', '0042' is not '42'
    assert data.original_users(data.interactions.user_id).tolist() == ["007", "7", "8"]
    (tmp_path / "plain.csv").write_text("user_id,item_id\n7,42\n8,42\n")
    assert load_table(tmp_path / "plain.csv").user_ids.tolist() == [7, 8]  # plain numbers stay numbers


# ---- the messy shop export (tests/data, written by make_messy.py) -------------------------------------------------

def test_messy_generator_is_reproducible(tmp_path):
    runpy.run_path(str(MESSY / "make_messy.py"))["main"](tmp_path)
    for name in ("events.csv", "items.csv", "expected_repairs.csv"):
        assert (tmp_path / name).read_bytes() == (MESSY / name).read_bytes(), f"{name} differs: rerun make_messy.py"


def test_messy_csv_fails_fast_with_row_and_flag():
    start = time.perf_counter()
    with pytest.raises(ValueError) as err:
        load_table(MESSY / "events.csv", MESSY / "items.csv", rename=RENAME)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert message.startswith(f"{MESSY / 'events.csv'}: interactions.user_id: 7 row(s) need repair")
    assert "(e.g. row 5, missing user id)" in message and "clean=True" in message and "--clean" in message


def test_messy_csv_cleaned():
    data = load_table(MESSY / "events.csv", MESSY / "items.csv", rename=RENAME, clean=True)
    expected = pd.read_csv(MESSY / "expected_repairs.csv")
    pd.testing.assert_frame_equal(data.repairs[list(expected.columns)].reset_index(drop=True), expected, check_dtype=False)
    events = pd.read_csv(MESSY / "events.csv")
    assert len(data.interactions) == len(events) - 4 and data.unused_columns == ["device"]
    assert data.outcomes == ["click", "cart", "purchase", "dwell"]
    kept = events.loc[data.interactions.index]  # the input row numbers survive, so every row maps back
    assert (data.original_users(data.interactions.user_id) == kept.user_id).all()
    assert (data.original_items(data.interactions.item_id) == kept.item_id).all()
    assert data.interactions.timestamp.iloc[0] == pd.Timestamp(kept.timestamp.iloc[0]).timestamp()
    filled = data.items.text[data.dense_items(["sku-005"])[0]]
    assert filled == "category: running; colour: red; price: 108.32"
