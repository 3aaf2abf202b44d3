"""One writer per run folder: an operating-system file lock beside the folder, with a record naming its holder.

Training into a run folder and caching a dissection in it both hold the folder's lock (:func:`run_lock`). The
lock is ``filelock``'s ``flock``-based lock on a file named by the folder's absolute path in the machine's
temporary folder (``mdeinterp-locks/``), so a command refused before it starts writes nothing beside the run,
and two writers on one machine always find the same lock (writers on different machines sharing a network
folder are not seen: train one run on one machine). The operating system releases it when its holder
dies, so a killed writer never blocks the next one; the holder record (``out/.NAME.lock.json``: pid, host, start
time, beside the lock) only names the writer in the error a second writer gets. Readers ask :func:`writer_of` and never reuse a
folder that is being written.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .errors import RunLockedError
from .io import atomic_write_text


def lock_path(run_dir: str | os.PathLike) -> Path:
    """Return the lock file of ``run_dir``: ``<tmp>/mdeinterp-locks/<name>-<hash of its absolute path>.lock``."""
    resolved = Path(run_dir).resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "mdeinterp-locks" / f"{resolved.name}-{digest}.lock"


def _holder_path(run_dir: Path) -> Path:
    return lock_path(run_dir).with_suffix(".json")


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process (its holder record is missing)"
    return f"pid {holder.get('pid')} on {holder.get('host')}, {holder.get('what', 'writing')} since {holder.get('since')}"


def _read_holder(run_dir: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads(_holder_path(run_dir).read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


@contextmanager
def run_lock(run_dir: str | os.PathLike, what: str = "training") -> Iterator[None]:
    """Hold ``run_dir``'s writer lock for the body; raise :class:`RunLockedError` naming the holder when it is taken.

    ``what`` names the work in the holder record ("training", "dissecting"). The lock is not re-entrant
    across calls: a process that already holds it must not ask again.
    """
    run_dir = Path(run_dir)
    lock_path(run_dir).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path(run_dir), timeout=0, is_singleton=False, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise RunLockedError(f"run directory {run_dir} is being written by {_describe(_read_holder(run_dir))}; "
                             "wait for it to finish or choose another --name") from None
    try:
        since = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())
        atomic_write_text(_holder_path(run_dir), json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                             "since": since, "what": what}))
        yield
    finally:
        _holder_path(run_dir).unlink(missing_ok=True)
        lock.release()


def writer_of(run_dir: str | os.PathLike) -> str | None:
    """Return who is writing ``run_dir`` ("pid 123 on host, training since ..."), or None when nobody holds its lock."""
    run_dir = Path(run_dir)
    path = lock_path(run_dir)
    if not path.exists():
        return None
    probe = FileLock(path, timeout=0, is_singleton=False, thread_local=False)
    try:
        probe.acquire()
    except Timeout:
        return _describe(_read_holder(run_dir))
    probe.release()
    return None


def check_not_being_written(run_dir: str | os.PathLike) -> None:
    """Raise :class:`RunLockedError` when a writer holds ``run_dir``'s lock: its files may be half-way changed."""
    writer = writer_of(run_dir)
    if writer is not None:
        raise RunLockedError(f"run directory {run_dir} is being written by {writer}; "
                             "wait for it to finish before reading it")
