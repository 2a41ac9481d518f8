"Shared fixtures: small simulated worlds and the ../shared/data copies (skipped when absent)."
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_dataset(name):
    "Path to a dataset in ../shared/data, or skip the test saying why."
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the shared test data sits beside the checkout on developer machines and in CI")
    return path


@pytest.fixture(scope="session")
def small_world():
    from causalrec.simulator import simulate
    return simulate(n_users=300, n_items=200, exposures_per_user=20, n_random=8, seed=0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    "An embedding-cache folder shared by the runs of one test module (`--cache-dir`)."
    return str(tmp_path_factory.mktemp("embeddings"))
