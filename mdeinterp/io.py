"""Atomic file writes, run metadata and the repository root: a file is either the old one or the complete new one."""

from __future__ import annotations

import errno
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import MdeinterpError, StorageError

#: The folder holding the package: the repository root of a source checkout (it has ``pyproject.toml``).
#: Notebooks, the study's relative folders and the scene cache are resolved against it.
ROOT = Path(__file__).resolve().parents[1]


def in_checkout() -> bool:
    """Return whether the package runs from a source checkout (:data:`ROOT` holds ``pyproject.toml``)."""
    return (ROOT / "pyproject.toml").is_file()


#: Temporaries are named ``.<target>.<pid>.<random>.tmp``: the pid tells a live writer's file from a killed one's.
_TMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On every exit path the temporary file is gone: renamed onto ``path``, or removed when the body
    raises (``path`` is then left untouched). Temporaries left in the folder by killed processes are
    removed first (:func:`remove_stale_temporaries`). A full disk raises :class:`StorageError`.
    """
    target = Path(path)
    ensure_writable_dir(target.parent)
    remove_stale_temporaries(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=_TMP_SUFFIX, dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the result ordinary permissions
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        if disk_full(exc):
            raise StorageError(f"no space left on the device while writing {target}; free some space or "
                               "choose another output folder") from None
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def disk_full(exc: BaseException) -> bool:
    """Return whether ``exc`` reports a full disk or quota (also HDF5's errors, which carry the errno in the text)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "errno = 28" in text or "Disk quota exceeded" in text


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Return the temporaries of :func:`atomic_path` in ``folder`` whose writing process is gone, after deleting them."""
    removed = []
    for candidate in Path(folder).glob(f".*{_TMP_SUFFIX}"):
        parts = candidate.name[:-len(_TMP_SUFFIX)].rsplit(".", 2)  # ["", target, pid, random] without the dot
        pid = parts[-2] if len(parts) == 3 else ""
        if pid.isdigit() and not _alive(int(pid)) or not pid.isdigit() and _older_than(candidate, 24 * 3600):
            try:
                candidate.unlink()
                removed.append(candidate)
            except OSError:  # another process cleans up at the same time, or no permission: not ours to force
                pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _older_than(path: Path, seconds: float) -> bool:
    import time

    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


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


def cpu_model() -> str:
    """Return the CPU's model name ("AMD EPYC ...") from /proc/cpuinfo, else :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


#: Environment variables that choose torch's CPU kernels: ATen's vector level and oneDNN's instruction set (each
#: changes a 100-step run's loss on one machine, docs/errors.md), and MKL's reproducibility mode.
KERNEL_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR")


def run_metadata() -> dict[str, Any]:
    """Return library versions, platform, CPU and git commit, for recording in a run directory.

    The CPU's model, torch's CPU kernel level (``cpu_capability``: AVX2, AVX512, ...) and the variables that
    choose the kernels (``kernel_env``: :data:`KERNEL_ENV` where set) are recorded because CPU kernels can round
    differently: a run retrained on another CPU, or at another kernel level, need not match bit for bit.
    """
    import numpy
    import torch

    meta: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "kernel_env": {name: os.environ[name] for name in KERNEL_ENV if name in os.environ},
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


def available_memory() -> int:
    """Return the bytes of memory this process can still allocate (``MemAvailable``, else the free pages)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63  # unknown: never refuse


def check_memory(needed: float, what: str, hint: str = "") -> None:
    """Raise :class:`StorageError` when ``needed`` bytes (an estimate for ``what``) exceed the available memory."""
    free = available_memory()
    if needed > free:
        raise StorageError(f"{what} needs about {_size(needed)} of memory, but {_size(free)} is available"
                           + (f"; {hint}" if hint else ""))


def check_space(folder: str | os.PathLike, needed: float, what: str) -> None:
    """Raise :class:`StorageError` when ``needed`` bytes (an estimate for ``what``) exceed the free space of ``folder``."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    free = _free_bytes(existing)
    if needed > free:
        raise StorageError(f"{what} needs up to {_size(needed)} in {folder}, but {_size(free)} is free")


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} PiB"  # pragma: no cover
