"Loaders on the shared real datasets and on small files in each supported layout."
import numpy as np
import pandas as pd
import pytest

from causalrec.data import load_coat, load_movielens, load_table, load_yahoo_r3, split
from causalrec.simulator import simulate
from conftest import shared_dataset


def test_coat_reference_counts():
    coat = load_coat(shared_dataset("coat"))
    counts = coat.interactions.log.value_counts()
    assert (counts["mnar"], counts["mar"], coat.n_users, coat.n_items) == (6960, 4640, 290, 300)
    assert coat.items.text.str.strip().str.len().gt(0).all()
    assert coat.interactions.groupby(["log", "user_id"]).size().unstack(0).eq(pd.Series({"mar": 16, "mnar": 24})).all().all()
    train, test = split(coat, "mnar_mar")
    assert len(train.interactions) == 6960 and len(test.interactions) == 4640


def test_movielens_reference_counts():
    ml = load_movielens(shared_dataset("ml-latest-small"))
    assert (len(ml.interactions), ml.n_users, ml.n_items) == (100_836, 610, 9_742)
    assert ml.items.text.str.strip().str.len().gt(0).all()
    toy_story = ml.items.set_index("item_id").loc[1]
    assert toy_story.year == 1995 and "Animation" in toy_story.text and "Tags:" in toy_story.text


def test_movielens_100k_layout(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t4\t881250949\n2\t10\t5\t881250950\n2\t20\t1\t881250951\n")
    flags = "|".join(["0"] * 19)
    (tmp_path / "u.item").write_text(f"10|Heat (1995)|01-Jan-1995||http://x|{flags[:-1]}1\n20|Up (2009)|01-Jan-2009||http://x|{flags}\n",
                                      encoding="latin-1")
    ml = load_movielens(tmp_path)
    assert ml.rating_scale == (1, 5) and ml.n_items == 2
    assert ml.items.set_index("item_id").loc[10, "text"] == "Heat (1995). Genres: Western"


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
