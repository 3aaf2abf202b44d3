import json
from pathlib import Path

import pytest
import torch

# The reference implementation's test vectors, copied into the repository (docs/method.md says where
# they come from), so the pins run in every clone; a missing file is a failure, never a skip.
REFERENCE = Path(__file__).resolve().parent / "data"


def reference_file(name: str) -> Path:
    """Return the path of a reference fixture in tests/data; fail (not skip) when it is missing."""
    path = REFERENCE / name
    if not path.is_file():
        pytest.fail(f"reference fixture {path} is missing; it is part of the repository (tests/data)")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    reference_file("selectivity_vectors.json")
    return REFERENCE


@pytest.fixture(scope="session")
def selectivity_vectors(reference_dir):
    return json.loads(reference_file("selectivity_vectors.json").read_text())


@pytest.fixture(autouse=True)
def one_thread():
    """Run torch single-threaded: on a shared 2-core machine, 2 threads can make a step ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def new_config_field(monkeypatch):
    """Add a field ``warmup_steps`` (help "linear warm-up steps") to TrainConfig, as a later change would."""
    import dataclasses

    from mdeinterp import config as config_module

    @dataclasses.dataclass(frozen=True)
    class Extended(config_module.TrainConfig):
        warmup_steps: int = dataclasses.field(default=0, metadata={"help": "linear warm-up steps"})

    monkeypatch.setattr(config_module, "TrainConfig", Extended)
    return Extended
