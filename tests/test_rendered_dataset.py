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
