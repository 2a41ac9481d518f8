"A new user described only by text gets a list about that text (issue 11): `TwoTower.recommend_for_text` on the simulator's catalogue."
import pytest

from causalrec.data import split
from causalrec.encoder import TextEncoder
from causalrec.simulator import simulate
from causalrec.twotower import TwoTower

ASK, CATEGORY = "waterproof trail running gear", "trail running shoes"


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder(verbose=False)


@pytest.mark.parametrize("shop,split_seed", [(1, 1), (3, 0)])  # shop 0 split 0 is checked in nbs/05b_twotower.ipynb
def test_waterproof_trail_running_gear_gets_trail_running_shoes(encoder, shop, split_seed):
    sim = simulate(n_users=300, n_items=120, exposures_per_user=12, n_random=5, seed=shop)
    category = sim.items.set_index("item_id")["category"]
    assert (category == CATEGORY).sum() >= 10, "the catalogue must hold 10 items of the category for the test to mean anything"
    train, _ = split(sim, "random", test_size=0.2, seed=split_seed)
    tt = TwoTower(encoder, epochs=15, verbose=False).fit(train)
    top = tt.recommend_for_text([ASK, "a rain jacket for wet weather"], k=10)
    got = category.reindex(top[0]).tolist()
    assert got.count(CATEGORY) >= 7, got
    assert category.reindex(top[1]).tolist().count("rain jacket") >= 7
    tower = tt.recommend_for_text([ASK], k=10, text_weight=0)[0]  # the user tower alone: popular items crowd in
    assert category.reindex(tower).tolist().count(CATEGORY) < got.count(CATEGORY)
