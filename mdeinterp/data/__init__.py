"""Datasets: rendered scenes (default) and the paper's real data, behind one ``make_dataset`` call.

Every dataset yields {"image": 3xHxW float normalised with ImageNet mean/std, "depth": 1xHxW
float metres (0 = invalid), "focal": float pixels}, plus "sparse_depth" when ``sparse_points`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import h5py
from torch.utils.data import Dataset

from ..config import DataConfig
from ..errors import ConfigError, DataError, unknown_name
from .real import NyuLabeledDataset, kitti_eigen_dataset, mff_csv_dataset
from .sparse import SparseDepthDataset, paper_share_points
from .synthetic import SyntheticDataset, ensure_synthetic, read_cache_attrs, write_synthetic
from .transforms import IMAGENET_MEAN, IMAGENET_STD, DepthTransform, denormalize, split_transform

SPLITS = ("train", "test")


#: Environment variable naming the folder of rendered scenes (default: ``data/`` in the working directory).
CACHE_ENV = "MDEINTERP_DATA"


def default_cache_root() -> Path:
    """Return where rendered scenes are cached by default: ``$MDEINTERP_DATA``, else ``data/`` in the working directory.

    Never the installed package's folder: a user's scenes belong to the user's project.
    """
    return Path(os.environ.get(CACHE_ENV) or Path.cwd() / "data")


def _synthetic(config: DataConfig, split: str, progress: bool = True) -> Dataset:
    """Return a rendered split: ``config.path`` is the cache folder, or one cache file made by ``make-data``.

    Given a file, its own attributes (kind, size, seed) decide; the other split is rendered beside it.
    """
    n = config.n_train if split == "train" else config.n_test
    kind, height, width, seed, version = config.kind, config.height, config.width, config.data_seed, config.renderer
    root = Path(config.path) if config.path else default_cache_root()
    if root.is_dir():
        refuse_real_data_folder(root)
    if root.suffix.lower() in (".h5", ".hdf5"):
        attrs = read_cache_attrs(root)
        if attrs.get("split", "train") == split:
            return SyntheticDataset(root, _transform(config, split))
        kind, height, width, seed = attrs["kind"], attrs["height"], attrs["width"], attrs["seed"]
        version = attrs["renderer_version"]
        root = root.parent
    path = ensure_synthetic(kind, split, n, height, width, seed, root=root, progress=progress, version=version)
    return SyntheticDataset(path, _transform(config, split))


def _need_path(config: DataConfig) -> str:
    if not config.path:
        raise DataError(f"data format {config.format!r} needs a data path (`--data PATH`)")
    return config.path


def _transform(config: DataConfig, split: str) -> DepthTransform:
    return split_transform(config.height, config.width, split, augment=config.augment)


# The registry owns the data-format names: builder(config, split, progress) -> Dataset; progress shows
# rendering bars (synthetic data only). A config's format "auto" is resolved by `resolve_format`.
DATASET_BUILDERS: dict[str, Callable[..., Dataset]] = {
    "synthetic": _synthetic,
    "nyu_labeled": lambda config, split, progress=True: NyuLabeledDataset(
        _need_path(config), split, _transform(config, split), d_max=config.d_max),
    "mff_csv": lambda config, split, progress=True: mff_csv_dataset(
        _need_path(config), _transform(config, split), config.depth_scale, d_max=config.d_max),
    "kitti_eigen": lambda config, split, progress=True: kitti_eigen_dataset(
        _need_path(config), _transform(config, split), config.depth_scale, d_max=config.d_max),
}
AUTO = "auto"


def resolve_format(config: DataConfig) -> DataConfig:
    """Return ``config`` with format ``"auto"`` replaced by the format of its path; raise for an unknown format."""
    if config.format == AUTO:
        if not config.path:
            raise ConfigError("data format 'auto' needs a data path (`--data PATH`) to infer the format from")
        return replace(config, format=infer_format(config.path))
    if config.format not in DATASET_BUILDERS:
        raise ConfigError(unknown_name("data format", config.format, [*DATASET_BUILDERS, AUTO]))
    return config


def make_dataset(config: DataConfig, split: str, progress: bool = True) -> Dataset:
    """Return the ``split`` ("train" or "test") dataset described by ``config`` (train augmented when config.augment).

    A format of ``"auto"`` is inferred from ``config.path`` (:func:`infer_format`). ``progress`` shows
    a bar while synthetic scenes are rendered into the cache (first use only). With ``config.sparse_points``
    the samples also hold ``sparse_depth``, drawn per image by (data_seed, split, index) (:mod:`.sparse`).
    """
    if split not in SPLITS:
        raise DataError(f"split {split!r} is unknown; expected one of {', '.join(SPLITS)}")
    config = resolve_format(config)
    dataset = DATASET_BUILDERS[config.format](config, split, progress=progress)
    if config.sparse_points:
        dataset = SparseDepthDataset(dataset, config.sparse_points, split, seed=config.data_seed)
    dataset.config = config  # declares the SID range (d_min, d_max) to dissection.dissect
    return dataset


_SUFFIX_FORMATS = {".mat": "nyu_labeled", ".csv": "mff_csv", ".txt": "kitti_eigen"}
_REAL_SUFFIXES = (".mat", ".csv", ".png", ".jpg", ".jpeg", ".tif", ".tiff")


def refuse_real_data_folder(folder: Path) -> None:
    """Raise :class:`DataError` when ``folder``, given as a synthetic cache, holds real data files (pass the file).

    A cache folder holds only ``synthetic_*.h5``; rendering scenes into a folder of NYUv2 or list files
    would train on the wrong data and litter the user's folder.
    """
    real = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _REAL_SUFFIXES)
    lists = [name for name in real if name.lower().endswith((".mat", ".csv"))]
    lists += sorted(p.name for p in folder.glob("*.txt") if "eigen" in p.name.lower() or "kitti" in p.name.lower())
    if lists:
        raise DataError(f"{folder} is a folder holding real data ({', '.join(lists[:3])}); pass the file, "
                        f"e.g. --data {folder / lists[0]}, not the folder (a folder is a synthetic scene cache)")
    if real and not any(folder.glob("synthetic_*.h5")):  # images beside existing caches are the user's business
        raise DataError(f"{folder} is a folder of images ({', '.join(real[:3])}); pass the list file (.csv or .txt) "
                        "that pairs them, not the folder (a folder is a synthetic scene cache)")


def infer_format(path: str | os.PathLike) -> str:
    """Return the data format of ``path``: a folder is a synthetic cache root; else decided by the file suffix."""
    path = Path(path)
    if path.is_dir():
        refuse_real_data_folder(path)
        return "synthetic"
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        if not path.is_file():
            raise DataError(f"data file {path} does not exist")
        try:
            with h5py.File(path, "r") as fh:
                ours = "renderer_version" in fh.attrs and "rgb" in fh and "depth" in fh
        except OSError:
            raise DataError(f"{path} cannot be read as HDF5 (empty or truncated file?); expected a synthetic "
                            "cache written by `python -m mdeinterp make-data`") from None
        if not ours:
            raise DataError(f"{path} is not a synthetic cache made by mdeinterp (expected 'rgb'/'depth' datasets "
                            "and a renderer_version attribute)")
        return "synthetic"
    if not path.exists():
        raise DataError(f"data path {path} does not exist (expected an existing folder for the synthetic cache, "
                        "or a data file)")
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    raise DataError(f"cannot tell the data format of {path}; expected a folder (synthetic cache), .h5/.hdf5 "
                    "(synthetic), .mat (NYUv2 labeled), .csv (MFF list) or .txt (KITTI Eigen list)")


__all__ = [
    "AUTO", "DATASET_BUILDERS", "IMAGENET_MEAN", "IMAGENET_STD", "DepthTransform", "SparseDepthDataset", "SyntheticDataset",
    "denormalize", "ensure_synthetic", "infer_format", "make_dataset", "paper_share_points", "resolve_format",
    "split_transform", "write_synthetic",
]
