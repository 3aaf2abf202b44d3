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


def test_default_cache_is_the_working_directorys_data_folder_or_the_environment_variable(tmp_path, monkeypatch):
    from mdeinterp.data import default_cache_root

    monkeypatch.delenv("MDEINTERP_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # the user's project, never the installed package's folder (issue 19, item 3)
    assert default_cache_root() == tmp_path / "data"
    monkeypatch.setenv("MDEINTERP_DATA", str(tmp_path / "scenes"))
    assert default_cache_root() == tmp_path / "scenes"
