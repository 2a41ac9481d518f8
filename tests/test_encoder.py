"Integration, bad-input and property tests of causalrec.encoder (TextEncoder, cache, pooling, user vectors, TwoTower)."
import shutil, tempfile, warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from causalrec.simulator import simulate
from causalrec.data import split
from causalrec.encoder import EmbeddingCache, TextEncoder, item_embeddings, model_fingerprint, pool, resolve_model, user_embeddings
from causalrec.twotower import TwoTower

MINILM = resolve_model()
WORDS = ("warm waterproof wool coat jacket parka running shoes linen shirt navy grey olive camel red blue the a for "
         "with and of winter summer hike city light heavy hooded insulated classic slim fit cotton recycled nylon "
         "down leather premium everyday budget durable soft breathable stretch zip pocket").split()
PROPERTY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def save_bert(folder, seed=0):
    "A tiny random BERT (2 layers, 32-d) with MiniLM's WordPiece tokenizer, built from a config: no download."
    from transformers import BertConfig, BertModel
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(folder)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(MINILM / f, folder / f)
    return folder


def save_gpt(folder, eos=True, seed=0):
    "A tiny random GPT-2 with a word-level tokenizer that has an eos but no pad token (or neither)."
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast
    folder = Path(folder)
    vocab = {w: i for i, w in enumerate(["<unk>", "<eos>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", **(dict(eos_token="<eos>") if eos else {})).save_pretrained(folder)
    torch.manual_seed(seed)
    GPT2Model(GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=2, n_head=2, n_positions=64)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return SimpleNamespace(bert=save_bert(root / "bert"), gpt=save_gpt(root / "gpt"))


@pytest.fixture(scope="module")
def minilm():
    return TextEncoder(MINILM, device="cpu", verbose=False)


@pytest.fixture(scope="module")
def tiny(models):
    return TextEncoder(models.bert, device="cpu", verbose=False)


def varied_texts(n=1000, seed=0):
    "Item descriptions from the simulator plus synthetic sentences of 1-25 words, a few past the 256-token limit, and edge cases."
    rng = np.random.default_rng(seed)
    items = simulate(n_users=20, n_items=400, seed=seed).items.text.tolist()
    special = ["", "   ", "Ünïcödé façade — naïve café ☕", "東京の冬のコート", "🧥🧣❄️", "A" * 300, "$1,299.99!!! (50% off)",
               "https://example.com/item?id=42&colour=navy", "ALL CAPS WINTER PARKA", "tab\tand\nnewline"]
    n_long = 4
    long = [" ".join(rng.choice(WORDS, int(rng.integers(250, 400)))) for _ in range(n_long)]
    short = set()
    while len(short) < n - len(items) - len(special) - n_long:
        short.add(" ".join(rng.choice(WORDS, int(rng.integers(1, 25)))).capitalize() + ".")
    return items + special + long + sorted(short)


# --- integration: equal to sentence-transformers ---------------------------------------------------------------

def test_same_vectors_as_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer
    texts = varied_texts()
    assert len(texts) == len(set(texts)) == 1000
    st_model = SentenceTransformer(str(MINILM), device="cpu")
    assert st_model.max_seq_length == minilm.max_length == 256
    ours = minilm.encode(texts)
    theirs = st_model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    cos = (ours * theirs).sum(1)
    assert cos.min() >= 0.9999, f"lowest cosine {cos.min():.6f} for {texts[int(cos.argmin())][:60]!r}"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)


def test_deterministic_across_instances_and_batch_sizes(minilm, models):
    texts = varied_texts(200, seed=1)[:120]
    again = TextEncoder(MINILM, device="cpu", verbose=False)
    assert np.array_equal(minilm.encode(texts), again.encode(texts))
    small_batches = TextEncoder(models.bert, device="cpu", batch_size=3, verbose=False)
    np.testing.assert_allclose(small_batches.encode(texts), TextEncoder(models.bert, verbose=False).encode(texts), atol=1e-5)


# --- tiny architectures built from a config ---------------------------------------------------------------------

def reference(enc, text, method):
    "Pooled vector of one text run alone (no padding), computed directly from the model."
    ids = torch.tensor([enc.tokenize([text])[0]])
    with torch.inference_mode():
        h = enc.model(input_ids=ids).last_hidden_state[0]
    v = {"mean": h.mean(0), "cls": h[0], "last": h[-1]}[method]
    return (v / v.norm()).numpy()


@pytest.mark.parametrize("arch,method", [("bert", "mean"), ("bert", "cls"), ("gpt", "last")])
def test_tiny_models_pool_like_unpadded_runs(models, arch, method):
    enc = TextEncoder(getattr(models, arch), device="cpu", pooling=method, batch_size=4, verbose=False)
    texts = ["warm coat", "a heavy winter parka with a hood for the city", "shoes", "soft navy linen shirt for summer",
             "running shoes with recycled nylon and a zip pocket for the hike"]
    X = enc.encode(texts)
    assert X.shape == (5, 32) and X.dtype == np.float32
    for text, row in zip(texts, X):
        np.testing.assert_allclose(row, reference(enc, text, method), atol=1e-5)


def test_tiny_gpt_uses_eos_as_pad_and_config_limits(models):
    enc = TextEncoder(models.gpt, pooling="last", verbose=False)
    assert enc.tokenizer.pad_token == "<eos>"
    assert enc.max_length == 64      # n_positions: the folder has no sentence_bert_config.json
    assert TextEncoder(models.bert, verbose=False).max_length == 128
    long = " ".join(["coat"] * 200)
    assert len(enc.tokenize([long])[0]) == 64 and np.isfinite(enc.encode([long])).all()


def test_tokenizer_without_pad_or_eos_is_refused(tmp_path):
    with pytest.raises(ValueError, match="has neither a pad nor an eos token"):
        TextEncoder(save_gpt(tmp_path / "noeos", eos=False), verbose=False)


# --- cache ---------------------------------------------------------------------------------------------------------

TEXTS = ["navy wool coat", "grey running shoes", "olive linen shirt", "navy wool coat", "red parka"]


def test_cache_warm_hits_are_identical_and_skip_the_model(models, tmp_path, monkeypatch):
    enc = TextEncoder(models.bert, cache_dir=tmp_path, verbose=False)
    cold = enc.encode(TEXTS)
    assert len(enc.cache) == 4 and np.array_equal(cold[0], cold[3])     # duplicates are encoded once
    monkeypatch.setattr(enc, "_embed", lambda *a, **k: pytest.fail("warm lookup ran the model"))
    assert np.array_equal(enc.encode(TEXTS), cold)
    fresh = TextEncoder(models.bert, cache_dir=tmp_path, verbose=False)  # a new process reading the same folder
    monkeypatch.setattr(fresh, "_embed", lambda *a, **k: pytest.fail("warm lookup ran the model"))
    assert np.array_equal(fresh.encode(TEXTS[::-1]), cold[::-1])


def overwrite_tail(path):
    with open(path, "r+b") as f:
        f.seek(-8, 2); f.write(b"\x00garbage")


@pytest.mark.parametrize("damage,reason", [
    (lambda d, n: overwrite_tail(d / f"{n}.vecs.npy"), "checksum mismatch"),
    (lambda d, n: (d / f"{n}.json").write_text('{"format": 1, '), "JSONDecodeError"),
    (lambda d, n: (d / f"{n}.keys.npy").unlink(), "missing file"),
    (lambda d, n: (d / f"{n}.vecs.npy").write_bytes((d / f"{n}.vecs.npy").read_bytes()[:-64]), "ValueError"),
])
def test_corrupt_shard_is_detected_dropped_and_recomputed(models, tmp_path, damage, reason):
    enc = TextEncoder(models.bert, cache_dir=tmp_path, verbose=False)
    clean = enc.encode(TEXTS)
    (name,) = enc.cache.names()
    damage(enc.cache.dir, name)
    with pytest.warns(UserWarning, match=reason):
        again = enc.encode(TEXTS)
    np.testing.assert_allclose(again, clean, atol=1e-6)
    assert len(enc.cache) == 4        # recomputed vectors were stored again in a valid shard
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(enc.encode(TEXTS), again)


def test_cache_never_serves_another_models_vectors(tmp_path):
    folder, cache_dir = save_bert(tmp_path / "m", seed=0), tmp_path / "cache"
    old, fp_old = TextEncoder(folder, cache_dir=cache_dir, verbose=False), model_fingerprint(folder)
    v_old = old.encode(TEXTS)
    save_bert(folder, seed=1)                                  # same folder, retrained weights
    new = TextEncoder(folder, cache_dir=cache_dir, verbose=False)
    assert model_fingerprint(folder) != fp_old and new.cache_key != old.cache_key
    v_new = new.encode(TEXTS)
    np.testing.assert_allclose(v_new, TextEncoder(folder, verbose=False).encode(TEXTS), atol=1e-6)
    assert not np.allclose(v_new, v_old, atol=1e-3)
    # a shard copied under the new encoder's folder still carries the old key: refused, not served
    new.cache.clear()
    for p in old.cache.dir.glob("shard-*"): shutil.copy(p, new.cache.dir / p.name)
    with pytest.warns(UserWarning, match="encoder key or dim differs"):
        np.testing.assert_allclose(new.encode(TEXTS), v_new, atol=1e-6)


def test_cache_key_tracks_pooling_and_length(models):
    keys = {TextEncoder(models.bert, pooling=p, max_length=m, verbose=False).cache_key
            for p in ("mean", "cls") for m in (16, 32)}
    assert len(keys) == 4


# --- bad input -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("texts,err,msg", [
    ([], ValueError, "texts is empty"),
    ("one text", TypeError, "wrap it as encode([text])"),
    (b"bytes", TypeError, "wrap it as encode([text])"),
    (42, TypeError, "got int"),
    (["ok", None, 3.5], TypeError, "2 of 3 are not, e.g. texts[1] = None"),
    (pd.Series(["ok", np.nan]), TypeError, "Series.fillna('')"),
])
def test_encode_bad_input(tiny, texts, err, msg):
    with pytest.raises(err) as e:
        tiny.encode(texts)
    assert msg in str(e.value)


@pytest.mark.parametrize("kwargs,err,msg", [
    (dict(model="/no/such/model"), FileNotFoundError, "does not exist"),
    (dict(model="org/not-cached-model"), OSError, "HF_HUB_OFFLINE=1"),
    (dict(pooling="max"), ValueError, "'last' for decoder LLMs"),
    (dict(batch_size=0), ValueError, "batch_size must be a positive int"),
    (dict(batch_size=2.5), ValueError, "batch_size must be a positive int"),
])
def test_encoder_bad_arguments(kwargs, err, msg):
    with pytest.raises(err) as e:
        TextEncoder(**kwargs)
    assert msg in str(e.value)


def test_model_folder_without_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        resolve_model(tmp_path)


def test_embedding_bad_input(tiny):
    items = pd.DataFrame(dict(item_id=[1, 2], text=["coat", "shoes"]))
    inter = pd.DataFrame(dict(user_id=[1, 1], item_id=[1, 2]))
    data = SimpleNamespace(items=items, interactions=inter, users=pd.DataFrame(dict(user_id=[1])))
    X = item_embeddings(data, tiny)
    cases = [
        (lambda: item_embeddings(SimpleNamespace(items=items[["text"]]), tiny), ValueError, "has no 'item_id' column"),
        (lambda: item_embeddings(SimpleNamespace(items=items.iloc[:0]), tiny), ValueError, "data.items is empty"),
        (lambda: user_embeddings(data, X, method="mean"), ValueError, "method must be 'pool' or 'text'"),
        (lambda: user_embeddings(data, X, method="text"), ValueError, "needs an encoder"),
        (lambda: user_embeddings(data, X[:1]), ValueError, "pass item_embeddings(data, encoder)"),
        (lambda: user_embeddings(data, X, positive=3), TypeError, "got int"),
        (lambda: user_embeddings(data, X, positive=lambda d: [True]), ValueError, "returned 1 flags for 2 interactions"),
        (lambda: user_embeddings(data, X, positive=lambda d: d.user_id < 0), ValueError, "no user has a positive interaction"),
    ]
    for f, err, msg in cases:
        with pytest.raises(err) as e:
            f()
        assert msg in str(e.value), (msg, str(e.value))


# --- properties ----------------------------------------------------------------------------------------------------

texts_st = st.lists(st.text(max_size=40) | st.sampled_from(WORDS), min_size=1, max_size=10)


@PROPERTY
@given(texts=texts_st)
def test_encode_properties(tiny, texts):
    X = tiny.encode(texts)
    assert X.shape == (len(texts), tiny.dim) and np.isfinite(X).all()
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    for i, t in enumerate(texts):                           # equal texts get bit-identical rows
        assert np.array_equal(X[i], X[texts.index(t)])
    np.testing.assert_allclose(tiny.encode(texts[::-1])[::-1], X, atol=1e-5)
    np.testing.assert_allclose(tiny.encode(texts[:1]), X[:1], atol=1e-5)


@PROPERTY
@given(texts=texts_st)
def test_cache_round_trip_property(models, texts):
    with tempfile.TemporaryDirectory() as d:
        enc = TextEncoder(models.bert, cache_dir=d, verbose=False)
        cold = enc.encode(texts)
        assert len(enc.cache) == len(set(texts))
        assert np.array_equal(enc.encode(texts), cold)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_pool_ignores_padding(seed, lengths):
    g = torch.Generator().manual_seed(seed)
    n, T = len(lengths), max(lengths) + 2
    h = torch.randn(n, T, 8, generator=g)
    right = (torch.arange(T) < torch.tensor(lengths)[:, None]).long()
    noisy = h + 100 * torch.randn(n, T, 8, generator=g) * (1 - right)[..., None]    # garbage at padded positions
    for method in ("mean", "cls", "last"):
        torch.testing.assert_close(pool(noisy, right, method), pool(h, right, method))
    left_h = torch.stack([torch.roll(h[i], T - lengths[i], 0) for i in range(n)])   # same tokens, left-padded
    left = torch.stack([torch.roll(right[i], T - lengths[i], 0) for i in range(n)])
    torch.testing.assert_close(pool(left_h, left, "last"), pool(h, right, "last"))
    torch.testing.assert_close(pool(left_h, left, "mean"), pool(h, right, "mean"))


@PROPERTY
@given(keys=st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=30, unique=True), seed=st.integers(0, 9))
def test_embedding_cache_put_get_property(keys, seed):
    vecs = np.random.default_rng(seed).standard_normal((len(keys), 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        cache = EmbeddingCache(d, "k" * 32, 3, max_shards=2)
        half = len(keys) // 2
        cache.put(keys[:half], vecs[:half]); cache.put(keys[half:], vecs[half:]); cache.put(keys[:1], vecs[:1])
        got, found = cache.get(keys + [b"\xff" * 16])
        assert found[:-1].all() and not found[-1]
        assert np.array_equal(got[:-1], vecs) and len(cache.names()) <= cache.max_shards   # extra shards were merged


# --- TwoTower on a small simulated world ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world():
    data = simulate(n_users=200, n_items=120, exposures_per_user=20, n_random=5, seed=0)
    return (data, *split(data, "random", test_size=0.2, seed=0))


@pytest.fixture(scope="module")
def cached_minilm(tmp_path_factory):
    return TextEncoder(MINILM, device="cpu", cache_dir=tmp_path_factory.mktemp("cache"), verbose=False)


def test_two_tower_fit_score_save_load(world, cached_minilm, tmp_path):
    data, train, test = world
    tt = TwoTower(cached_minilm, epochs=8, seed=0, verbose=False).fit(train)
    clicks = test.interactions.query("click == 1")
    rnd = np.random.default_rng(0).choice(data.items.item_id, len(clicks))
    assert (tt.score(clicks.user_id, clicks.item_id) > tt.score(clicks.user_id, rnd)).mean() > 0.6
    again = TwoTower(cached_minilm, epochs=8, seed=0, verbose=False).fit(train)
    assert np.array_equal(again.score(clicks.user_id, clicks.item_id), tt.score(clicks.user_id, clicks.item_id))
    other = TwoTower(cached_minilm, epochs=8, seed=1, verbose=False).fit(train)
    assert not np.allclose(other.score(clicks.user_id, clicks.item_id), tt.score(clicks.user_id, clicks.item_id))

    path = tt.save(tmp_path / "sub" / "tt.safetensors")
    loaded = TwoTower.load(path, encoder=cached_minilm)
    assert np.array_equal(loaded.score(clicks.user_id, clicks.item_id), tt.score(clicks.user_id, clicks.item_id))
    users = data.users.user_id[:20]
    assert np.array_equal(loaded.recommend(users, 10, exclude="seen"), tt.recommend(users, 10, exclude="seen"))
    assert loaded.history == tt.history and loaded.config == tt.config
    new = pd.DataFrame(dict(item_id=[10_000], text=["premium navy wool coat by Northfold, $180"]))
    loaded.add_items(new); tt.add_items(new)
    np.testing.assert_allclose(loaded.score([0, 1], [10_000, 10_000]), tt.score([0, 1], [10_000, 10_000]), atol=1e-6)


def test_two_tower_unfrozen_layers_round_trip(world, models, tmp_path):
    data, train, test = world
    enc = TextEncoder(models.bert, device="cpu", verbose=False)
    before = {k: v.clone() for k, v in enc.model.state_dict().items()}
    tt = TwoTower(enc, unfreeze_layers=1, epochs=2, batch_size=256, seed=0, verbose=False).fit(train)
    assert all(torch.equal(v, enc.model.state_dict()[k]) for k, v in before.items())   # shared model untouched
    pairs = test.interactions.iloc[:200]
    path = tt.save(tmp_path / "ft.safetensors")
    loaded = TwoTower.load(path)                  # rebuilds the encoder from the recorded folder
    np.testing.assert_allclose(loaded.score(pairs.user_id, pairs.item_id), tt.score(pairs.user_id, pairs.item_id), atol=1e-6)
    with pytest.raises(ValueError, match="differs from the one this checkpoint fine-tuned"):
        TwoTower.load(path, encoder=TextEncoder(models.gpt, pooling="last", verbose=False))


def test_two_tower_bad_input(world, tiny, tmp_path):
    data, train, _ = world
    cases = [
        (lambda: TwoTower(loss="hinge"), "loss must be 'bpr' or 'bce'"),
        (lambda: TwoTower(val_frac=1.0), "val_frac must be in (0, 1)"),
        (lambda: TwoTower(unfreeze_layers=-1), "unfreeze_layers must be >= 0"),
        (lambda: TwoTower(tiny).score([0], [0]), "not fitted: call fit(data)"),
        (lambda: TwoTower(tiny, positive=lambda d: np.arange(len(d)) < 5, verbose=False).fit(train), "TwoTower needs at least 10"),
    ]
    for f, msg in cases:
        with pytest.raises(ValueError) as e:
            f()
        assert msg in str(e.value), (msg, str(e.value))
    with pytest.raises(FileNotFoundError, match="pass the file written by TwoTower.save"):
        TwoTower.load(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="not a readable TwoTower checkpoint"):
        TwoTower.load(tmp_path / "other.safetensors")
    save_file({"x": torch.zeros(2)}, tmp_path / "future.safetensors", metadata={"causalrec": '{"format": "causalrec.TwoTower/9"}'})
    with pytest.raises(ValueError, match="expected 'causalrec.TwoTower/1'"):
        TwoTower.load(tmp_path / "future.safetensors")


def test_model_folder_changing_during_load_is_refused(tmp_path, monkeypatch):
    "A folder rewritten while its weights load would key the cache to files that are not the ones in memory."
    import transformers
    folder = save_bert(tmp_path / "bert")
    real = transformers.AutoModel.from_pretrained.__func__
    def load_then_overwrite(cls, path, **kw):
        model = real(cls, path, **kw)
        save_bert(folder, seed=1)
        return model
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", classmethod(load_then_overwrite))
    with pytest.raises(RuntimeError, match="changed while it was being loaded"):
        TextEncoder(folder, device="cpu", verbose=False)
