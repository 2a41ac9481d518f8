"A category-preference shop for accuracy tests: users click mostly in 1-2 favourite categories; a log with impressions."
import numpy as np
import pandas as pd

from causalrec.ranking import Ranker, id_rows, user_table


def category_shop(seed:int=0, # seed of preferences, appeal, clicks and impressions
                  n_users:int=300, # users
                  n_items:int=200, # items, split evenly into `n_categories`
                  n_categories:int=10, # categories
                  clicks_per_user:float=15, # mean clicks per user (Poisson, at least 3)
                  impressions_per_click:int=3, # logged non-click impressions per click
                  focus:float=0.85, # share of a user's click probability inside their 1-2 favourite categories
                 ) -> tuple:
    "(interactions: user_id, item_id, click; items: item_id, category) of a shop where tastes are categories."
    rng = np.random.default_rng(seed)
    cat = np.arange(n_items) % n_categories
    appeal = rng.lognormal(0, 1, n_items)  # item appeal inside its category (skewed, like real shops)
    fav = np.stack([rng.choice(n_categories, 2, replace=False) for _ in range(n_users)])
    two = rng.random(n_users) < 0.5  # half the users have a second favourite category
    pref = np.full((n_users, n_categories), (1 - focus) / n_categories)
    pref[np.arange(n_users), fav[:, 0]] += np.where(two, focus / 2, focus)
    pref[np.arange(n_users), fav[:, 1]] += np.where(two, focus / 2, 0)
    w = pref[:, cat] * appeal  # P(click item) ∝ category preference × item appeal
    w /= w.sum(1, keepdims=True)
    rows = []
    for u in range(n_users):
        n = min(max(3, rng.poisson(clicks_per_user)), n_items // 4)
        clicked = rng.choice(n_items, n, replace=False, p=w[u])
        shown = np.setdiff1d(rng.choice(n_items, min(n_items - n, 3 * n_items // 4), replace=False, p=appeal / appeal.sum()), clicked)
        shown = rng.permutation(shown)[:impressions_per_click * n]  # impressions follow the shop's popularity-driven exposure
        rows.append(pd.DataFrame({"user_id": u, "item_id": np.r_[clicked, shown],
                                  "click": np.r_[np.ones(n), np.zeros(len(shown))].astype(np.int64)}))
    return pd.concat(rows, ignore_index=True), pd.DataFrame({"item_id": np.arange(n_items), "category": cat})


class CategoryCountRanker(Ranker):
    "Score = number of the user's training clicks in the item's category; ties by a seeded random order or by popularity."
    def __init__(self, category:list, # category of each item id 0..n-1
                 ties:str="random", # 'random': a fixed random item order; 'popularity': more clicked items first
                 seed:int=0, # seed of the random order
                ): self.category, self.ties, self.seed = category, ties, seed

    def fit(self, data):
        super().fit(data)
        df = data[data["click"] > 0]
        self.users_ = user_table(data)
        cat = np.asarray(self.category)
        u = id_rows(df["user_id"], self.users_, "user", "CategoryCountRanker")
        self.counts_ = np.zeros((len(self.users_), cat.max() + 1))
        np.add.at(self.counts_, (u, cat[df["item_id"].to_numpy()]), 1)
        pop = np.bincount(df["item_id"], minlength=len(cat)).astype(float)
        self.tie_ = pop / (pop.max() + 1) if self.ties == "popularity" else np.random.default_rng(self.seed).random(len(cat))
        return self

    def score(self, users, items):
        users, items = np.asarray(users), np.asarray(items)
        u = id_rows(users, self.users_, "user", "CategoryCountRanker")
        return self.counts_[u, np.asarray(self.category)[items]] + self.tie_[items]
