import json
from pathlib import Path

import pytest
import torch

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference facts not found at {REFERENCE}")
    return REFERENCE


@pytest.fixture(scope="session")
def selectivity_vectors(reference_dir):
    return json.loads((reference_dir / "selectivity_vectors.json").read_text())


@pytest.fixture(autouse=True)
def one_thread():
    """Run torch single-threaded: on a shared 2-core machine, 2 threads can make a step ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
