"Determinism of a run: the same input gives the same recommendations.csv, whether the embedding cache is cold or warm."
from pathlib import Path

import numpy as np
import pytest

from causalrec.cache import EmbeddingCache, text_hash
from causalrec.encoder import TextEncoder, item_texts
from causalrec.pipeline import RunConfig, run
from causalrec.simulator import simulate

pytestmark = pytest.mark.filterwarnings("ignore:.*clipped at 1", "ignore:pkg_resources is deprecated")


def test_cached_embeddings_are_the_computed_ones_bit_for_bit(tmp_path):
    "A warm run can only equal a cold one if the vectors read back from the cache (a fresh handle on its files) are the float32 vectors computed."
    texts = item_texts(simulate(n_users=20, n_items=60, exposures_per_user=10, seed=0).items).tolist()
    encoder = TextEncoder(cache_dir=tmp_path, verbose=False)
    computed = encoder.encode(texts)
    stored, found = EmbeddingCache(tmp_path, encoder.cache_key, encoder.dim).get([text_hash(t) for t in texts])
    assert found.all() and stored.dtype == computed.dtype == np.float32 and np.array_equal(stored, computed)


def test_cold_and_warm_cache_runs_write_the_same_recommendations(tmp_path):
    """The stages whose lists depend on the text (the causal ranker serves on the simulator) run twice on one input: first
    with an empty embedding cache, then with the cache the first run filled; recommendations.csv must match byte for byte."""
    cache, outs = tmp_path / "cache", []
    for name in ("cold", "warm"):
        summary = run(RunConfig(n_users=80, n_items=60, exposures_per_user=12, stages=("data", "encoder", "causal", "recommend"),
                                feedback_rounds=0, out=str(tmp_path / name), cache_dir=str(cache), verbose=False))
        outs.append(Path(tmp_path / name / "recommendations.csv").read_bytes())
        assert summary["encoder"]["encoded"] == (60 if name == "cold" else 0)
    assert summary["recommend"]["model"] == "causal"  # the embedding-dependent ranker is the one compared
    assert outs[0] == outs[1]
