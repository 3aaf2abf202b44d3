"""Rendered datasets: an HDF5 cache of procedural scenes and the Dataset that reads it.

A cache file holds ``rgb`` (N, H, W, 3) uint8 and ``depth`` (N, H, W) float32 metres (0 = invalid)
with attributes kind/split/n/height/width/seed/renderer_version/focal. Image ``i`` of a split is
rendered from its own seed ``SeedSequence([seed, split_id, i])``, so it does not depend on ``n``
or on batching, and the test split never shares a seed with the training split.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..errors import DataError
from ..io import atomic_path, check_memory, check_space
from .render import RENDERER_VERSION, SCENE_KINDS, camera_intrinsics, check_version, render_scene

SPLIT_IDS = {"train": 0, "test": 1}
CACHE_ATTRS = ("kind", "split", "n", "height", "width", "seed", "renderer_version")


def synthetic_path(kind: str, split: str, n: int, height: int, width: int, seed: int, root: str | os.PathLike = "data",
                   version: int = RENDERER_VERSION) -> Path:
    """Return the cache file name for these rendering settings under ``root``."""
    return Path(root) / f"synthetic_{kind}_{split}_n{n}_{height}x{width}_s{seed}_r{version}.h5"


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Return the generator that renders image ``index`` of ``split`` (independent of the split size)."""
    return np.random.default_rng(np.random.SeedSequence([seed, SPLIT_IDS[split], index]))


def _check_request(kind: str, split: str, n: int, height: int, width: int) -> None:
    if kind not in SCENE_KINDS:
        raise DataError(f"synthetic kind {kind!r} is unknown; expected one of {', '.join(SCENE_KINDS)}")
    if split not in SPLIT_IDS:
        raise DataError(f"split {split!r} is unknown; expected one of {', '.join(SPLIT_IDS)}")
    for name, value in (("n", n), ("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise DataError(f"synthetic {name} must be a positive integer, got {value!r}")


def _expected_attrs(kind: str, split: str, n: int, height: int, width: int, seed: int, version: int) -> dict[str, Any]:
    return dict(kind=kind, split=split, n=int(n), height=int(height), width=int(width), seed=int(seed),
                renderer_version=check_version(version))


def cache_is_current(path: str | os.PathLike, expected: dict[str, Any]) -> bool:
    """Return True if ``path`` is a readable, complete cache file whose attributes equal ``expected``."""
    try:
        with h5py.File(path, "r") as fh:
            attrs = {key: fh.attrs[key] for key in CACHE_ATTRS if key in fh.attrs}
            if any(_plain(attrs.get(key)) != value for key, value in expected.items()):
                return False
            n, h, w = expected["n"], expected["height"], expected["width"]
            return fh["rgb"].shape == (n, h, w, 3) and fh["depth"].shape == (n, h, w)
    except (OSError, KeyError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """Return an HDF5 attribute as a plain Python str/int for comparison."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_synthetic(kind: str, n: int, seed: int, out: str | os.PathLike, height: int, width: int,
                    split: str = "train", progress: bool = True, version: int = RENDERER_VERSION) -> Path:
    """Render ``n`` scenes of ``kind`` (renderer ``version``) into an HDF5 cache file at ``out`` atomically; return ``out``."""
    _check_request(kind, split, n, height, width)
    expected = _expected_attrs(kind, split, n, height, width, seed, version)
    out = Path(out)
    nbytes = n * height * width * 7  # uint8 RGB + float32 depth, held in memory while rendering
    check_memory(nbytes, f"rendering {n} scenes of {height}x{width}", "lower the number of images or their size")
    # gzip shrinks rendered scenes about 1.3x (measured at 64x96): half the raw size is a safe lower bound of the file
    check_space(out.parent, nbytes / 2, f"the cache file of {n} scenes of {height}x{width}")
    rgb = np.empty((n, height, width, 3), np.uint8)
    depth = np.empty((n, height, width), np.float32)
    for i in tqdm(range(n), desc=f"rendering {kind} {split}", unit="img", disable=not progress):
        rgb[i], depth[i] = render_scene(kind, image_rng(seed, split, i), height, width, version=version)
    with atomic_path(out) as tmp:
        with h5py.File(tmp, "w") as fh:
            fh.create_dataset("rgb", data=rgb, chunks=(1, height, width, 3), compression="gzip", compression_opts=1)
            fh.create_dataset("depth", data=depth, chunks=(1, height, width), compression="gzip", compression_opts=1)
            for key, value in expected.items():
                fh.attrs[key] = value
            fh.attrs["focal"] = camera_intrinsics(kind, height, width)[0]
    return out


def ensure_synthetic(kind: str, split: str, n: int, height: int, width: int, seed: int,
                     root: str | os.PathLike = "data", progress: bool = True, version: int = RENDERER_VERSION) -> Path:
    """Return the path of an up-to-date cache file, rendering it first if missing, stale or unreadable."""
    _check_request(kind, split, n, height, width)
    path = synthetic_path(kind, split, n, height, width, seed, root, version)
    if not cache_is_current(path, _expected_attrs(kind, split, n, height, width, seed, version)):
        write_synthetic(kind, n, seed, path, height, width, split=split, progress=progress, version=version)
    return path


def read_cache_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """Return the rendering attributes (kind, split, n, height, width, seed, ...) of a cache file."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as fh:
            attrs = {key: _plain(value) for key, value in fh.attrs.items()}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable HDF5 file ({type(exc).__name__})") from None
    missing = [key for key in CACHE_ATTRS if key not in attrs]
    if missing:
        raise DataError(f"{path}: not a synthetic cache file; attributes {', '.join(missing)} are missing")
    return attrs


def read_synthetic(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Return (rgb (N, H, W, 3) uint8, depth (N, H, W) float32 metres, attrs) from a cache file.

    Raises DataError for a missing, unreadable or malformed file, and when every depth map is
    all-invalid; NaN/Inf depths become 0 (invalid) with a warning that counts them.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"synthetic data file {path} does not exist; render one with `python -m mdeinterp make-data`")
    try:
        with h5py.File(path, "r") as fh:
            missing = [name for name in ("rgb", "depth") if name not in fh]
            if missing:
                found = ", ".join(sorted(fh.keys())) or "nothing"
                raise DataError(f"{path}: expected HDF5 datasets 'rgb' and 'depth', found {found}")
            rgb, depth = fh["rgb"][()], fh["depth"][()]
            attrs = {key: _plain(value) for key, value in fh.attrs.items()}
    except DataError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a readable HDF5 file ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if rgb.ndim != 4 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise DataError(f"{path}: 'rgb' must be (N, H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if depth.shape != rgb.shape[:3]:
        raise DataError(f"{path}: 'depth' has shape {depth.shape} but 'rgb' needs {rgb.shape[:3]} (N, H, W)")
    if len(rgb) == 0:
        raise DataError(f"{path} holds no samples")
    depth = sanitize_depth(depth.astype(np.float32, copy=False), str(path))
    valid_per_sample = (depth > 0).reshape(len(depth), -1).any(axis=1)
    if not valid_per_sample.any():
        raise DataError(f"{path}: every depth map is all-invalid (sample 0 onwards has no depth > 0)")
    return rgb, depth, attrs


def sanitize_depth(depth: np.ndarray, source: str) -> np.ndarray:
    """Return ``depth`` (metres) with NaN/Inf and negative values set to 0 (invalid), warning with their count."""
    bad = ~np.isfinite(depth)
    count = int(bad.sum())
    if count:
        warnings.warn(f"{source}: {count} NaN/Inf depth values set to 0 (invalid)", stacklevel=3)
        depth = np.where(bad, 0, depth).astype(np.float32)
    return np.maximum(depth, 0, dtype=np.float32) if (depth < 0).any() else depth


class SyntheticDataset(Dataset):
    """Rendered images and depth held in memory; items are sample dicts made by ``split_transform``.

    ``split_transform(rgb (H, W, 3) uint8, depth (H, W) metres, focal) -> dict`` is the split's
    preprocessing (see :mod:`mdeinterp.data.transforms`).
    """

    def __init__(self, path: str | os.PathLike, split_transform: Callable[..., dict]) -> None:
        self.path = Path(path)
        self.rgb, self.depth, self.attrs = read_synthetic(self.path)
        height, width = self.rgb.shape[1:3]
        kind = self.attrs.get("kind", "indoor")
        self.focal = float(self.attrs.get("focal", camera_intrinsics(kind if kind in SCENE_KINDS else "indoor", height, width)[0]))
        self.transform = split_transform

    def __len__(self) -> int:
        """Return the number of samples."""
        return len(self.rgb)

    def __getitem__(self, index: int) -> dict:
        """Return the transformed sample ``index``: {"image", "depth", "focal"}."""
        return self.transform(self.rgb[index], self.depth[index], self.focal)


class RenderedDataset(Dataset):
    """Synthetic scenes rendered on demand (nothing cached): constant memory for any ``n``.

    Item ``i`` is the same image :func:`ensure_synthetic` would store at index ``i`` for the same
    ``kind``, ``split`` and ``seed``; use it for very large synthetic sets (load tests, streaming dissection).
    """

    def __init__(self, kind: str, split: str, n: int, height: int, width: int, seed: int,
                 split_transform: Callable[..., dict], version: int = RENDERER_VERSION) -> None:
        _check_request(kind, split, n, height, width)
        self.kind, self.split, self.n, self.height, self.width, self.seed = kind, split, n, height, width, seed
        self.version = check_version(version)
        self.focal = float(camera_intrinsics(kind, height, width)[0])
        self.transform = split_transform

    def __len__(self) -> int:
        """Return the number of samples."""
        return self.n

    def __getitem__(self, index: int) -> dict:
        """Return the rendered, transformed sample ``index``: {"image", "depth", "focal"}."""
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} rendered samples")
        rgb, depth = render_scene(self.kind, image_rng(self.seed, self.split, index), self.height, self.width,
                                  version=self.version)
        return self.transform(rgb, depth, self.focal)
