import torch

from mdeinterp.data.synthetic import RenderedDataset, SyntheticDataset, ensure_synthetic
from mdeinterp.data.transforms import split_transform


def test_rendered_on_demand_equals_cached(tmp_path):
    transform = split_transform(32, 32, "test", augment=False)
    path = ensure_synthetic("indoor", "test", 3, 32, 32, seed=5, root=tmp_path, progress=False)
    cached = SyntheticDataset(path, transform)
    rendered = RenderedDataset("indoor", "test", 3, 32, 32, seed=5, split_transform=transform)
    assert len(rendered) == 3
    for i in range(3):
        assert torch.equal(cached[i]["depth"], rendered[i]["depth"])
        assert torch.equal(cached[i]["image"], rendered[i]["image"])


def test_default_cache_is_the_checkouts_data_folder_wherever_python_runs(tmp_path, monkeypatch):
    from pathlib import Path

    import mdeinterp
    from mdeinterp.data import default_cache_root

    monkeypatch.chdir(tmp_path)  # e.g. a notebook opened from notebooks/
    assert default_cache_root() == Path(mdeinterp.__file__).resolve().parents[1] / "data"
