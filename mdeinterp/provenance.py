"""Fingerprints of what a result was computed from: a run's data, a checkpoint file.

A run folder records its data's fingerprint when training starts (``data.json``); a finished run is reused only
while the data still has that fingerprint (:func:`mdeinterp.runs.reuse_problems`), and a cached dissection only
while the checkpoint it came from is unchanged (:func:`file_sha256`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .config import DataConfig

_CHUNK = 1 << 20
_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """Return the SHA-256 of a file's bytes (hex), streamed; memoised per (path, size, modification time)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _memo:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(chunk)
        _memo[key] = digest.hexdigest()
    return _memo[key]


def _tree_sha256(folder: Path) -> str:
    """Return a hash of a folder's file names and sizes (not contents: image folders are large)."""
    digest = hashlib.sha256()
    for entry in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{entry.relative_to(folder)}\0{entry.stat().st_size}\n".encode())
    return digest.hexdigest()


def data_fingerprint(data: DataConfig) -> dict[str, Any]:
    """Return what identifies a run's training and test data.

    Synthetic scenes rendered into a cache folder: the renderer version and the scene settings (kind, sizes,
    seed), which fix every pixel (the cache re-renders itself when they change). A data file, a rendered
    scene file (``make-data``) included (HDF5, ``.mat``, a CSV or list file): its SHA-256. A CSV or list of image files is hashed as the
    list itself, so re-encoded images behind an unchanged list are not seen. A folder: its file names and sizes.
    """
    if data.format == "synthetic" and not (data.path and Path(data.path).is_file()):  # a cache folder or none
        return {"source": "synthetic", "renderer_version": data.renderer, "kind": data.kind,
                "n_train": data.n_train, "n_test": data.n_test, "height": data.height, "width": data.width,
                "data_seed": data.data_seed}
    if data.path is None:
        return {"source": data.format, "path": None}
    path = Path(data.path)
    if path.is_dir():
        return {"source": data.format, "path": str(path), "tree_sha256": _tree_sha256(path)}
    if not path.is_file():
        return {"source": data.format, "path": str(path), "missing": True}
    return {"source": data.format, "path": str(path), "sha256": file_sha256(path)}


def fingerprint_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Return the keys whose values differ between a recorded and a current fingerprint (paths aside)."""
    keys = sorted((set(recorded) | set(current)) - {"path"})
    return [k for k in keys if recorded.get(k) != current.get(k)]
