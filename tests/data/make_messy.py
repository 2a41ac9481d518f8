"""Write the messy shop export the end-to-end tests start from: events.csv, items.csv and expected_repairs.csv.

    python tests/data/make_messy.py [OUT_DIR]      # default: this folder; same seed, same bytes

A small outdoor-sports shop as a new user would export it: string ids (`u017`, `sku-042`), ISO 8601 timestamps, a
`dwell_seconds` column (causalrec calls it `dwell`), a `device` column no stage reads, and planted problems that
`clean=True` repairs, listed in `PLANTED` and written to expected_repairs.csv (table, row, column, reason; rows count
from 0 at the first line after the header): an event without a user id, an event on an item missing from items.csv,
an event with a missing outcome, an exact duplicate event, and items whose title is empty (described from their
category, colour and price instead). Behaviour follows a chain click -> dwell -> cart -> purchase: a cart needs a
click, a purchase needs a cart, and dwell (seconds on the product page) is 0 without a click.
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from causalrec._core import write_atomic

SEED = 11
N_USERS, N_ITEMS, EVENTS_PER_USER = 80, 60, 20
START = pd.Timestamp("2024-03-01T00:00:00Z")
CATEGORIES = {
    "running": ["trail running shoes", "running shorts", "GPS running watch", "lightweight running jacket"],
    "hiking": ["waterproof hiking boots", "trekking poles", "hiking backpack 30 l", "fleece mid-layer"],
    "swimming": ["swim goggles", "competition swimsuit", "swim cap", "pull buoy"],
    "cycling": ["road bike helmet", "padded cycling shorts", "bike lights set", "cycling gloves"],
    "camping": ["two-person tent", "down sleeping bag", "camping stove", "inflatable sleeping mat"],
}
COLOURS = ["black", "blue", "red", "green", "grey"]
EMPTY_TITLES = (4, 19, 37)  # items.csv rows whose title is left empty
PLANTED = [  # (table, row, column, reason) as clean=True reports them
    ("interactions", 5, "user_id", "missing user id"),
    ("interactions", 11, "item_id", "unknown item id"),
    ("interactions", 17, "purchase", "missing outcome"),
    ("interactions", 24, "user_id+item_id+timestamp", "duplicate event"),
] + [("items", r, "text", "empty text") for r in EMPTY_TITLES]


def items_table(rng):
    "The catalogue: id, title, category, colour, price; a few titles empty."
    cats = np.repeat(list(CATEGORIES), N_ITEMS // len(CATEGORIES))
    kinds = [CATEGORIES[c][i % len(CATEGORIES[c])] for i, c in enumerate(cats)]
    colours = rng.choice(COLOURS, N_ITEMS)
    titles = [f"{k[0].upper() + k[1:]}, {c}" for k, c in zip(kinds, colours)]
    for r in EMPTY_TITLES: titles[r] = ""
    return pd.DataFrame({"item_id": [f"sku-{i:03d}" for i in range(1, N_ITEMS + 1)], "title": titles,
                         "category": cats, "colour": colours, "price": rng.uniform(9, 240, N_ITEMS).round(2)})


def events_table(items, rng):
    "One row per product-page exposure, from the click -> dwell -> cart -> purchase chain."
    def sigmoid(x): return 1 / (1 + np.exp(-x))
    taste = rng.choice(list(CATEGORIES), N_USERS)
    users = np.repeat(np.arange(N_USERS), EVENTS_PER_USER)
    item = rng.integers(0, N_ITEMS, len(users))
    match = (items["category"].to_numpy()[item] == taste[users]).astype(float)
    price_z = (items["price"].to_numpy()[item] - items["price"].mean()) / items["price"].std()
    click = rng.random(len(users)) < sigmoid(-1.0 + 1.8 * match - 0.3 * price_z)
    dwell = np.where(click, rng.lognormal(3.0 + 0.6 * match, 0.5), 0.0).round(1)
    cart = click & (rng.random(len(users)) < sigmoid(-3.0 + 0.05 * dwell))
    purchase = cart & (rng.random(len(users)) < sigmoid(0.5 - 0.6 * price_z))
    seconds = rng.integers(0, 30 * 86_400, len(users))
    df = pd.DataFrame({"user_id": [f"u{u + 1:03d}" for u in users], "item_id": items["item_id"].to_numpy()[item],
                       "seconds": seconds, "click": click, "dwell_seconds": dwell, "cart": cart, "purchase": purchase,
                       "device": rng.choice(["ios", "android", "web"], len(users))})
    df = df.sort_values(["user_id", "seconds"], kind="stable", ignore_index=True)
    df.insert(2, "timestamp", (START + pd.to_timedelta(df.pop("seconds"), unit="s")).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return df.astype({c: "Int64" for c in ("click", "cart", "purchase")})


def plant(events):
    "Plant the problems of `PLANTED` (rows before the duplicate keep their numbers)."
    events = events.copy()
    events.loc[5, "user_id"] = None
    events.loc[11, "item_id"] = "sku-999"
    events.loc[17, "purchase"] = pd.NA
    return pd.concat([events.iloc[:24], events.iloc[[23]], events.iloc[24:]], ignore_index=True)


def main(out=Path(__file__).parent):
    "Write events.csv, items.csv and expected_repairs.csv into `out`."
    rng = np.random.default_rng(SEED)
    items = items_table(rng)
    events = plant(events_table(items, rng))
    expected = pd.DataFrame(PLANTED, columns=["table", "row", "column", "reason"])
    for name, df in (("events.csv", events), ("items.csv", items), ("expected_repairs.csv", expected)):
        write_atomic(Path(out) / name, df.to_csv(index=False, lineterminator="\n"))


if __name__ == "__main__":
    main(*sys.argv[1:])
