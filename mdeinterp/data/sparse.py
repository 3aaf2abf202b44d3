"""Sparse depth input for depth completion: N valid ground-truth pixels drawn per image (CSPN's NYUv2 setting).

:class:`SparseDepthDataset` wraps any dataset of this package (rendered, NYUv2 ``.mat``, CSV lists) and adds
to each sample

* ``sparse_depth`` (1, H, W) metres: the ground truth at the drawn pixels, 0 elsewhere;
* ``sparse_count``: how many pixels were drawn; fewer than asked when the image has fewer valid pixels
  (then all of them are used), which ``sparse_short`` (True/False) flags and
  :func:`mdeinterp.inference.evaluate` counts.

The draw depends only on (seed, split, image index), never on the order images are read in, so every
evaluation and dissection of the test (or training) images sees the same sparse pixels. Invalid pixels
(depth <= 0) are never drawn. Without sparse input (``points=0``) a sample's ``sparse_depth`` is all 0. The paper draws 500 pixels per 228x304 image; :func:`paper_share_points`
gives the same share of pixels at another size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError

#: The paper's NYUv2 setting: 500 sparse points per 228x304 image.
PAPER_SPARSE_POINTS = 500
PAPER_SIZE = (228, 304)
_SPLIT_CODES = {"train": 0, "test": 1}


def paper_share_points(height: int, width: int) -> int:
    """Return the number of sparse points for a ``height`` x ``width`` image at the paper's share (500 per 228x304)."""
    return max(1, round(PAPER_SPARSE_POINTS * height * width / (PAPER_SIZE[0] * PAPER_SIZE[1])))


def draw_seed(seed: int, split: str, index: int) -> int:
    """Return the generator seed of image ``index`` of ``split``: a hash of (seed, split, index), order-free."""
    if split not in _SPLIT_CODES:
        raise DataError(f"split {split!r} is unknown; expected one of {', '.join(_SPLIT_CODES)}")
    return int(np.random.SeedSequence([int(seed), _SPLIT_CODES[split], int(index)]).generate_state(1)[0])


def sample_sparse(depth: torch.Tensor, points: int, generator: torch.Generator) -> tuple[torch.Tensor, int]:
    """Return (sparse depth like ``depth``, 0 where not drawn; number drawn) for ``depth`` (1, H, W) metres.

    ``points`` valid pixels (depth > 0) are drawn uniformly without replacement; all valid pixels when
    there are fewer.
    """
    if points < 1:
        raise DataError(f"sparse points={points}; expected a positive number of pixels to draw")
    flat = depth.reshape(-1)
    valid = flat > 0
    count = min(points, int(valid.sum()))
    # Uniform keys for valid pixels, +inf for invalid ones: the `count` smallest are a uniform draw of valid pixels.
    keys = torch.rand(flat.shape, generator=generator).masked_fill_(~valid, float("inf"))
    chosen = torch.topk(keys, count, largest=False).indices
    sparse = torch.zeros_like(flat)
    sparse[chosen] = flat[chosen]
    return sparse.reshape(depth.shape), count


@dataclass
class SparseDepthDataset(Dataset):
    """``dataset`` whose samples also hold ``sparse_depth`` (1, H, W), ``sparse_count`` and ``sparse_short``.

    ``points=0`` gives no sparse input (``sparse_depth`` all 0): a completion model evaluated so shows what
    the sparse depth buys it.
    """

    dataset: Dataset
    points: int
    split: str
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.points, bool) or not isinstance(self.points, int) or self.points < 0:
            raise DataError(f"sparse points={self.points!r}; expected a non-negative integer")
        draw_seed(self.seed, self.split, 0)  # an unknown split fails here

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        sample = dict(self.dataset[index])
        if self.points == 0:
            sample.update(sparse_depth=torch.zeros_like(sample["depth"]), sparse_count=0, sparse_short=False)
            return sample
        generator = torch.Generator().manual_seed(draw_seed(self.seed, self.split, index))
        sparse, count = sample_sparse(sample["depth"], self.points, generator)
        sample.update(sparse_depth=sparse, sparse_count=count, sparse_short=count < self.points)
        return sample

    def __getattr__(self, name: str):
        # Attributes of the wrapped dataset (e.g. a cache path) stay reachable.
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


__all__ = ["PAPER_SPARSE_POINTS", "SparseDepthDataset", "draw_seed", "paper_share_points", "sample_sparse"]
