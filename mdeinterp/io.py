"""Atomic file writes, run metadata and the repository root: a file is either the old one or the complete new one."""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import MdeinterpError

#: The folder holding the package: the repository root of a source checkout (it has ``pyproject.toml``).
#: Notebooks, the study's relative folders and the scene cache are resolved against it.
ROOT = Path(__file__).resolve().parents[1]


def in_checkout() -> bool:
    """Return whether the package runs from a source checkout (:data:`ROOT` holds ``pyproject.toml``)."""
    return (ROOT / "pyproject.toml").is_file()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    If the body raises, the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    ensure_writable_dir(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the result ordinary permissions
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_save(path: str | os.PathLike, writer: Callable[[Path], Any]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def ensure_writable_dir(path: str | os.PathLike, min_free_bytes: int = 50 * 2**20) -> Path:
    """Create ``path`` if needed and return it; raise if it is not writable or nearly full."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MdeinterpError(f"cannot create output folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise MdeinterpError(f"output folder {folder} is not writable")
    free = _free_bytes(folder)
    if free < min_free_bytes:
        raise MdeinterpError(
            f"output folder {folder} has only {free / 2**20:.1f} MiB free; need at least {min_free_bytes / 2**20:.0f} MiB"
        )
    return folder


def _free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def run_metadata() -> dict[str, Any]:
    """Return library versions, platform and git commit, for recording in a run directory."""
    import numpy
    import torch

    meta: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "git_commit": None,
    }
    try:
        import torchvision

        meta["torchvision"] = torchvision.__version__
    except Exception:  # torchvision is optional for the core
        pass
    try:
        here = Path(__file__).resolve().parent
        meta["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except Exception:
        pass
    return meta
