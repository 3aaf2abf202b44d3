import json
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference facts not found at {REFERENCE}")
    return REFERENCE


@pytest.fixture(scope="session")
def selectivity_vectors(reference_dir):
    return json.loads((reference_dir / "selectivity_vectors.json").read_text())
