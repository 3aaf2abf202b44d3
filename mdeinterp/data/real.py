"""Loaders for the paper's real datasets, read from paths the user gives (nothing is downloaded).

- NYUv2 labeled (``nyu_depth_v2_labeled.mat``, MATLAB v7.3 = HDF5) with the standard 795/654
  split from ``splits.mat`` (``trainNdxs``/``testNdxs``, 1-based) or a text file of 1-based indices;
- MFF/DenseDepth-style CSV of ``rgb_path,depth_path`` rows with PNG depth;
- KITTI Eigen split lists of ``rgb_path depth_path focal`` lines with 16-bit PNG depth / 256.

Every dataset yields the sample dict of :mod:`mdeinterp.data.transforms`; every malformed input
raises :class:`DataError` naming the file (and row) and what was expected.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from ..errors import DataError
from .render import KITTI_INTRINSICS, NYU_INTRINSICS

NYU_FOCAL = NYU_INTRINSICS[0]  # pixels at 640x480
KITTI_FOCAL = KITTI_INTRINSICS[0]  # pixels at 1242x375
KITTI_DEPTH_SCALE = 1 / 256  # KITTI depth PNGs store metres x 256
MFF_DEPTH_SCALE_16BIT = 1 / 1000  # 16-bit PNG: millimetres
MFF_DEPTH_SCALE_8BIT = 10 / 255  # 8-bit PNG: 0..255 spans 0..10 m
#: Depth beyond this many metres is no plausible measurement of an indoor or driving scene: a wrong scale.
PLAUSIBLE_MAX_DEPTH = 1000.0
#: An image with a smaller share of valid depth pixels (0 < d <= d_max) is warned about; one with none is refused.
MIN_VALID_SHARE = 0.01
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff")


# ------------------------------------------------------------------------------ shared readers


def read_rgb(path: Path, source: str) -> np.ndarray:
    """Return the image at ``path`` as (H, W, 3) uint8 RGB; ``source`` names the list row for errors."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{source}: cannot read image {path} ({exc})") from None


def read_depth_png(path: Path, source: str, scale: float | None) -> np.ndarray:
    """Return the PNG (or TIFF) depth map at ``path`` as (H, W) float32 metres (0 = invalid).

    ``scale`` multiplies the stored values; None picks it from the bit depth: 16-bit images hold
    millimetres (x 1/1000), 8-bit ones span 0..10 m (x 10/255). Float images (a TIFF in metres) are
    refused unless ``scale`` declares their unit, and 1-bit images always; so are values that, scaled,
    exceed :data:`PLAUSIBLE_MAX_DEPTH` metres.
    """
    try:
        with Image.open(path) as img:
            mode = img.mode
            raw = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise DataError(f"{source}: cannot read depth PNG {path} ({exc})") from None
    if raw.ndim != 2:
        raise DataError(f"{source}: depth PNG {path} has shape {raw.shape}; expected a single-channel (H, W) image")
    if mode == "1" or raw.dtype == np.bool_:
        raise DataError(f"{source}: depth image {path} is 1-bit (a mask?); expected 16-bit millimetres or 8-bit depth")
    if np.issubdtype(raw.dtype, np.floating) and scale is None:
        raise DataError(f"{source}: depth image {path} holds {raw.dtype} values (max {np.nanmax(raw):.4g}); a depth "
                        "list expects 16-bit millimetres or 8-bit PNGs, so declare the unit of float depth with "
                        "depth_scale (--depth-scale 1 for metres)")
    if scale is None:
        scale = MFF_DEPTH_SCALE_8BIT if raw.dtype == np.uint8 else MFF_DEPTH_SCALE_16BIT
    depth = raw.astype(np.float32) * np.float32(scale)
    finite = depth[np.isfinite(depth)]
    if finite.size and finite.max() > PLAUSIBLE_MAX_DEPTH:
        raise DataError(f"{source}: depth image {path} reaches {finite.max():.4g} m at {scale:g} m per unit, beyond "
                        f"any plausible depth ({PLAUSIBLE_MAX_DEPTH:g} m); set depth_scale to the file's unit")
    return depth


def check_valid_share(depth: np.ndarray, d_max: float | None, source: str) -> None:
    """Refuse a depth map (metres) with no valid pixel (0 < d <= d_max); warn when under :data:`MIN_VALID_SHARE`."""
    valid = depth > 0 if d_max is None else (depth > 0) & (depth <= d_max)
    share = float(valid.mean()) if valid.size else 0.0
    in_range = f" in (0, {d_max:g}] m" if d_max is not None else " > 0"
    if share == 0:
        top = float(np.nanmax(depth)) if depth.size else float("nan")
        raise DataError(f"{source}: no valid depth pixel{in_range} (max {top:.4g}); wrong unit (millimetres?) or "
                        "a depth map of invalid values")
    if share < MIN_VALID_SHARE:
        warnings.warn(f"{source}: only {share:.2%} of depth pixels are valid{in_range}", stacklevel=3)


def sanitize(depth: np.ndarray, source: str) -> np.ndarray:
    """Return ``depth`` with NaN/Inf and negative values set to 0 (invalid), warning with the NaN/Inf count."""
    bad = ~np.isfinite(depth)
    if bad.any():
        warnings.warn(f"{source}: {int(bad.sum())} NaN/Inf depth values set to 0 (invalid)", stacklevel=3)
        depth = np.where(bad, 0, depth)
    return np.maximum(depth, 0).astype(np.float32, copy=False)


def _check_sizes(rgb: np.ndarray, depth: np.ndarray, source: str) -> None:
    if rgb.shape[:2] != depth.shape:
        raise DataError(f"{source}: image is {rgb.shape[0]}x{rgb.shape[1]} but depth is "
                        f"{depth.shape[0]}x{depth.shape[1]}; expected the same size")


def _resolve(entry: str, bases: tuple[Path, ...], source: str, what: str) -> Path:
    """Return the existing file ``entry`` names: absolute, or relative to one of ``bases`` in order."""
    candidate = Path(entry)
    if candidate.is_absolute():
        if candidate.is_file():
            return candidate
    else:
        for base in bases:
            if (base / candidate).is_file():
                return base / candidate
    looked = ", ".join(str(b) for b in bases) if not candidate.is_absolute() else "as given"
    raise DataError(f"{source}: {what} {entry!r} not found (looked relative to {looked})")


# ------------------------------------------------------------------------------ list datasets


@dataclass(frozen=True)
class PairEntry:
    """One listed sample: image and depth files, focal length in pixels and the list row it came from."""

    rgb: Path
    depth: Path
    focal: float
    source: str


class PairListDataset(Dataset):
    """Samples from (image file, depth PNG) pairs; items are sample dicts made by ``transform``."""

    def __init__(self, entries: list[PairEntry], transform: Callable[..., dict], depth_scale: float | None,
                 d_max: float | None = None) -> None:
        self.entries = entries
        self.transform = transform
        self.depth_scale = depth_scale
        self.d_max = d_max  # valid depth is 0 < d <= d_max metres (None: d > 0)

    def __len__(self) -> int:
        """Return the number of listed samples."""
        return len(self.entries)

    def __getitem__(self, index: int) -> dict:
        """Return the transformed sample ``index``: {"image", "depth", "focal"}."""
        entry = self.entries[index]
        rgb = read_rgb(entry.rgb, entry.source)
        depth = sanitize(read_depth_png(entry.depth, entry.source, self.depth_scale), entry.source)
        _check_sizes(rgb, depth, entry.source)
        check_valid_share(depth, self.d_max, entry.source)
        return self.transform(rgb, depth, entry.focal)


def _looks_like_header(row: list[str]) -> bool:
    return not any(cell.strip().lower().endswith(_IMAGE_SUFFIXES) for cell in row)


class _text:
    """Open a list file as UTF-8 text; a byte that is not UTF-8 becomes a :class:`DataError` naming the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self):
        self.fh = open(self.path, newline="", encoding="utf-8")
        return self

    def __iter__(self):
        try:
            yield from self.fh
        except UnicodeDecodeError as exc:
            raise DataError(f"list {self.path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                            f"{exc.start}); save it as UTF-8") from None

    def __exit__(self, *exc_info) -> None:
        self.fh.close()


def read_mff_csv(path: str | os.PathLike) -> list[PairEntry]:
    """Return the (rgb, depth) pairs of an MFF/DenseDepth CSV; relative paths resolve against its folder, then its parent.

    DenseDepth's ``data/nyu2_train.csv`` lists ``data/nyu2_train/...`` paths, relative to the
    folder above the CSV; hence the parent is tried second. A header row is skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV list {path} does not exist; expected a file of rgb_path,depth_path rows")
    bases = (path.parent, path.parent.parent)
    entries = []
    with _text(path) as fh:
        for row_number, row in enumerate(csv.reader(fh), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if row_number == 1 and _looks_like_header(row):
                continue
            source = f"{path.name} row {row_number}"
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                raise DataError(f"{source}: expected 2 columns rgb_path,depth_path, got {len(row)}: {','.join(row)!r}")
            rgb = _resolve(row[0].strip(), bases, source, "image")
            depth = _resolve(row[1].strip(), bases, source, "depth PNG")
            entries.append(PairEntry(rgb, depth, NYU_FOCAL, source))
    if not entries:
        raise DataError(f"CSV list {path} has no rgb_path,depth_path rows")
    return entries


def read_kitti_list(path: str | os.PathLike) -> tuple[list[PairEntry], int]:
    """Return the pairs of a KITTI Eigen list (``rgb depth focal`` lines) and how many lines had no depth ("None")."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"KITTI list {path} does not exist; expected a text file of 'rgb_path depth_path focal' lines")
    bases = (path.parent, path.parent.parent)
    entries, skipped = [], 0
    with _text(path) as fh:
        for line_number, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            source = f"{path.name} line {line_number}"
            if len(fields) < 2:
                raise DataError(f"{source}: expected 'rgb_path depth_path focal', got {line.strip()!r}")
            if fields[1] == "None":  # frames without projected lidar ground truth
                skipped += 1
                continue
            try:
                focal = float(fields[2]) if len(fields) > 2 else KITTI_FOCAL
            except ValueError:
                raise DataError(f"{source}: focal {fields[2]!r} is not a number") from None
            rgb = _resolve(fields[0], bases, source, "image")
            depth = _resolve(fields[1], bases, source, "depth PNG")
            entries.append(PairEntry(rgb, depth, focal, source))
    if not entries:
        raise DataError(f"KITTI list {path} has no lines with depth ({skipped} skipped as 'None')")
    return entries, skipped


def mff_csv_dataset(path: str | os.PathLike, transform: Callable[..., dict], depth_scale: float | None = None,
                    d_max: float | None = None) -> PairListDataset:
    """Return the dataset of an MFF/DenseDepth CSV; ``depth_scale`` None picks metres per unit from the PNG bit depth."""
    return PairListDataset(read_mff_csv(path), transform, depth_scale, d_max)


def kitti_eigen_dataset(path: str | os.PathLike, transform: Callable[..., dict],
                        depth_scale: float | None = KITTI_DEPTH_SCALE, d_max: float | None = None) -> PairListDataset:
    """Return the dataset of a KITTI Eigen list; lines whose depth is "None" are left out."""
    entries, _ = read_kitti_list(path)
    return PairListDataset(entries, transform, KITTI_DEPTH_SCALE if depth_scale is None else depth_scale, d_max)


# ---------------------------------------------------------------------------------- NYUv2 .mat


def read_split_indices(path: str | os.PathLike, split: str) -> np.ndarray:
    """Return the 0-based image indices of ``split`` from ``splits.mat`` (HDF5) or a text file of 1-based indices."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"NYUv2 split file {path} does not exist; expected splits.mat or a text file of 1-based indices")
    if path.suffix.lower() == ".mat":
        key = {"train": "trainNdxs", "test": "testNdxs"}[split]
        try:
            with h5py.File(path, "r") as fh:
                if key not in fh:
                    raise DataError(f"{path}: expected a dataset {key!r}, found {', '.join(sorted(fh.keys())) or 'nothing'}")
                one_based = np.asarray(fh[key][()]).ravel()
        except OSError:
            raise DataError(f"{path} is not an HDF5 (MATLAB v7.3) file; save the split as v7.3 or as a text file of "
                            "1-based indices") from None
    else:
        try:
            one_based = np.loadtxt(path, dtype=np.float64, ndmin=1).ravel()
        except ValueError as exc:
            raise DataError(f"{path}: expected whitespace-separated 1-based integer indices ({exc})") from None
    if one_based.size == 0 or np.any(one_based != np.round(one_based)) or one_based.min() < 1:
        raise DataError(f"{path}: {split} indices must be integers >= 1 (MATLAB's 1-based numbering)")
    return one_based.astype(np.int64) - 1


def default_nyu_splits(mat_path: Path, split: str) -> Path:
    """Return the split file beside ``mat_path``: ``splits.mat``, else ``{split}_indices.txt``."""
    for name in ("splits.mat", f"{split}_indices.txt"):
        if (mat_path.parent / name).is_file():
            return mat_path.parent / name
    raise DataError(f"no NYUv2 split file next to {mat_path}; expected splits.mat or {split}_indices.txt in {mat_path.parent}")


class NyuLabeledDataset(Dataset):
    """NYUv2's 1449 labeled images from ``nyu_depth_v2_labeled.mat``, one split of them, read lazily.

    MATLAB writes arrays column-major, so h5py sees ``images`` as (N, 3, W, H) uint8 and ``depths``
    as (N, W, H) metres; samples are transposed back to (H, W, 3) and (H, W).
    """

    def __init__(self, path: str | os.PathLike, split: str, transform: Callable[..., dict],
                 splits: str | os.PathLike | None = None, d_max: float | None = None) -> None:
        self.path = Path(path)
        self.d_max = d_max  # valid depth is 0 < d <= d_max metres (None: d > 0)
        if split not in ("train", "test"):
            raise DataError(f"split {split!r} is unknown; expected 'train' or 'test'")
        if not self.path.is_file():
            raise DataError(f"NYUv2 file {self.path} does not exist; expected nyu_depth_v2_labeled.mat")
        self.num_images = self._check_layout()
        split_file = Path(splits) if splits is not None else default_nyu_splits(self.path, split)
        self.indices = read_split_indices(split_file, split)
        if self.indices.max() >= self.num_images:
            raise DataError(f"{split_file}: index {self.indices.max() + 1} exceeds the {self.num_images} images of {self.path.name}")
        self.transform = transform
        self._file: h5py.File | None = None

    def _check_layout(self) -> int:
        try:
            with h5py.File(self.path, "r") as fh:
                missing = [name for name in ("images", "depths") if name not in fh]
                if missing:
                    found = ", ".join(sorted(fh.keys())) or "nothing"
                    raise DataError(f"{self.path}: expected datasets 'images' and 'depths', found {found}")
                images, depths = fh["images"].shape, fh["depths"].shape
                kinds = {name: fh[name].dtype for name in ("images", "depths")}
        except OSError:
            raise DataError(f"{self.path} is not an HDF5 (MATLAB v7.3) file; expected nyu_depth_v2_labeled.mat") from None
        if len(images) != 4 or images[1] != 3 or len(depths) != 3 or images[0] != depths[0] or images[2:] != depths[1:]:
            raise DataError(f"{self.path}: expected 'images' (N, 3, W, H) and 'depths' (N, W, H), "
                            f"got {images} and {depths}")
        for name, dtype in kinds.items():
            if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
                raise DataError(f"{self.path}: {name!r} holds {dtype} values (strings?); expected numbers "
                                "(images uint8, depths metres)")
        return int(images[0])

    def __len__(self) -> int:
        """Return the number of images in the split."""
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        """Return the transformed sample ``index`` of the split: {"image", "depth", "focal"}."""
        if self._file is None:  # opened per process: h5py handles do not survive fork/pickle
            self._file = h5py.File(self.path, "r")
        i = int(self.indices[index])
        rgb = np.ascontiguousarray(self._file["images"][i].transpose(2, 1, 0))  # (3, W, H) -> (H, W, 3)
        depth = np.ascontiguousarray(self._file["depths"][i].T).astype(np.float32)  # (W, H) -> (H, W)
        source = f"{self.path.name} image {i + 1}"
        depth = sanitize(depth, source)
        check_valid_share(depth, self.d_max, source)
        return self.transform(rgb, depth, NYU_FOCAL * rgb.shape[1] / NYU_INTRINSICS[4])

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"] = None
        return state
