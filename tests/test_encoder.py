"""Tests of causalrec.encoder and causalrec.twotower that notebooks cannot hold: agreement with sentence-transformers,
tiny architectures built from configs, cache corruption and concurrency, hypothesis properties, fine-tuned checkpoints.
(Bad-input checks live in the notebooks, next to the functions they test.)"""
import hashlib
import multiprocessing
import shutil
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalrec import Ranker, TwoTower
from causalrec.data import split
from causalrec.encoder import EmbeddingCache, TextEncoder, model_fingerprint, pool, resolve_model
from causalrec.simulator import simulate

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


def varied_texts(n=250, seed=0):
    """n texts: item descriptions from the simulator (2 in 5), edge cases, 4 texts past the 256-token limit and
    synthetic sentences of 1-25 words."""
    rng = np.random.default_rng(seed)
    items = simulate(n_users=20, n_items=2 * n // 5, exposures_per_user=10, seed=seed).items.text.tolist()
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
    texts = varied_texts()  # every kind of text; 250 (min cosine 0.9999998), as 1,000 did (0.9999998, 4x the time)
    assert len(texts) == len(set(texts)) == 250
    st_model = SentenceTransformer(str(MINILM), device="cpu")
    assert st_model.max_seq_length == minilm.max_length == 256
    ours = minilm.encode(texts)
    theirs = st_model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    cos = (ours * theirs).sum(1)
    assert cos.min() >= 0.9999, f"lowest cosine {cos.min():.6f} for {texts[int(cos.argmin())][:60]!r}"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)


def test_deterministic_across_instances_and_batch_sizes(minilm, models):
    texts = varied_texts(300, seed=1)[:120]  # item texts only, as before
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


def break_header(path):
    raw = path.read_bytes()
    path.write_bytes(raw[:28] + b"{{{" + raw[31:])       # the JSON header starts after 28 bytes of magic and length


@pytest.mark.parametrize("damage,reason", [
    (overwrite_tail, "checksum mismatch"),
    (break_header, "JSONDecodeError"),
    (lambda p: p.write_bytes(p.read_bytes()[:-64]), "file size differs from its header"),
    (lambda p: p.write_bytes(b"not a shard" * 10), "not a cache shard file"),
])
def test_corrupt_shard_is_detected_dropped_and_recomputed(models, tmp_path, damage, reason):
    enc = TextEncoder(models.bert, cache_dir=tmp_path, verbose=False)
    clean = enc.encode(TEXTS)
    (name,) = enc.cache.names()
    damage(enc.cache.dir / f"{name}.bin")
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
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=40), seed=st.integers(0, 9))
def test_embedding_cache_geometric_merges(sizes, seed):
    "Any sequence of puts: every vector retrievable, shard sizes more than double down the list (<= log2(n) + 1 shards)."
    keys = [hashlib.blake2b(str(i).encode(), digest_size=16).digest() for i in range(sum(sizes) + 1)]
    vecs = np.random.default_rng(seed).standard_normal((len(keys), 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        cache, start = EmbeddingCache(d, "k" * 32, 3), 0
        for n in sizes:
            cache.put(keys[start:start + n], vecs[start:start + n]); start += n
        got, found = cache.get(keys)
        assert found[:-1].all() and not found[-1] and np.array_equal(got[:-1], vecs[:-1])
        shard_sizes = sorted((len(cache._open(n)[2]) for n in cache.names()), reverse=True)
        assert all(s > sum(shard_sizes[i + 1:]) for i, s in enumerate(shard_sizes))
        assert len(shard_sizes) <= np.log2(sum(sizes)) + 1 and len(cache) == sum(sizes)


def shard_vectors(keys):
    "Vectors that can be checked from their keys alone."
    return np.frombuffer(b"".join(keys), np.uint8).reshape(-1, 16)[:, :8].astype(np.float32)


def cache_writer(root, worker, n_puts, queue):
    "Put 3 new vectors n_puts times into a shared cache, reading everything back every 10 puts; report warnings and misses."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = EmbeddingCache(root, "k" * 32, 8)
        keys = [hashlib.blake2b(f"{worker}-{i}".encode(), digest_size=16).digest() for i in range(3 * n_puts)]
        missing = 0
        for p in range(n_puts):
            cache.put(keys[3 * p:3 * p + 3], shard_vectors(keys[3 * p:3 * p + 3]))
            if p % 10 == 9:
                got, found = cache.get(keys[:3 * p + 3])
                missing += int((~found).sum()) + int((got != shard_vectors(keys[:3 * p + 3])).any(1).sum())
    queue.put((worker, [str(w.message) for w in caught], missing))


def test_two_processes_share_a_cache_without_false_corruption(tmp_path):
    "Two writers merging each other's shards: no 'corrupt' warning, nothing missing, every vector retrievable after."
    ctx, n_puts = multiprocessing.get_context("fork"), 150
    queue = ctx.Queue()
    procs = [ctx.Process(target=cache_writer, args=(tmp_path, w, n_puts, queue)) for w in range(2)]
    for p in procs: p.start()
    results = sorted(queue.get(timeout=300) for _ in procs)
    for p in procs: p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert results == [(0, [], 0), (1, [], 0)]
    keys = [hashlib.blake2b(f"{w}-{i}".encode(), digest_size=16).digest() for w in range(2) for i in range(3 * n_puts)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got, found = EmbeddingCache(tmp_path, "k" * 32, 8).get(keys)
    assert found.all() and np.array_equal(got, shard_vectors(keys))


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
    loaded = Ranker.load(path)                     # the base class reads a TwoTower checkpoint; no language model loaded
    assert type(loaded) is TwoTower and loaded.encoder is None
    assert np.array_equal(loaded.score(clicks.user_id, clicks.item_id), tt.score(clicks.user_id, clicks.item_id))
    users = data.users.user_id.to_numpy()
    assert np.array_equal(loaded.recommend(users, 10, exclude=train), tt.recommend(users, 10, exclude=train))
    assert loaded.history_ == tt.history_ and loaded._params() == tt._params()
    loaded.encoder = cached_minilm                 # reuse an encoder in memory (checked against encoder_spec_)
    texts = ["a rain jacket for wet weather", "classic denim jeans"]
    assert np.array_equal(loaded.recommend_for_text(texts, 10), tt.recommend_for_text(texts, 10))
    new = pd.DataFrame(dict(item_id=[10_000], text=["premium navy wool coat by Northfold, $180"]))
    loaded.add_items(new); tt.add_items(new)
    np.testing.assert_allclose(loaded.score([0, 1], [10_000, 10_000]), tt.score([0, 1], [10_000, 10_000]), atol=1e-6)
    assert np.array_equal(loaded.recommend(users[:20], 10), tt.recommend(users[:20], 10))


def test_two_tower_unfrozen_layers_round_trip(world, models, tmp_path):
    data, train, test = world
    enc = TextEncoder(models.bert, device="cpu", verbose=False)
    before = {k: v.clone() for k, v in enc.model.state_dict().items()}
    tt = TwoTower(enc, unfreeze_layers=1, encoder_lr=1e-3, epochs=2, batch_size=256, seed=0, verbose=False).fit(train)
    assert all(torch.equal(v, enc.model.state_dict()[k]) for k, v in before.items())   # shared model untouched
    assert not np.allclose(tt.item_inputs_[:5], enc.encode(data.items.text[:5].tolist()), atol=1e-4)  # tuned vectors
    pairs = test.interactions.iloc[:200]
    path = tt.save(tmp_path / "ft.safetensors")
    loaded = Ranker.load(path)
    assert np.array_equal(loaded.score(pairs.user_id, pairs.item_id), tt.score(pairs.user_id, pairs.item_id))
    new = pd.DataFrame(dict(item_id=[10_000, 10_001], text=["warm wool coat", "grey running shoes"]))
    loaded.add_items(new); tt.add_items(new)       # rebuilds the encoder from its folder, with the tuned blocks
    np.testing.assert_allclose(loaded.item_inputs_[-2:], tt.item_inputs_[-2:], atol=1e-6)
    other = Ranker.load(path)
    other.encoder = TextEncoder(models.gpt, pooling="last", verbose=False)
    with pytest.raises(ValueError, match="differs from the one this model was fitted with"):
        other.add_items(new)


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
