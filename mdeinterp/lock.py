"""One writer per run folder: an operating-system file lock beside the folder, with a record naming its holder.

Training into a run folder and caching a dissection in it both hold the folder's lock (:func:`run_lock`). The
lock is ``filelock``'s ``flock``-based lock on a file named by the folder's absolute path in the machine's
temporary folder (``mdeinterp-locks/``), so a command refused before it starts writes nothing beside the run,
and two writers on one machine always find the same lock (writers on different machines sharing a network
folder are not seen: train one run on one machine). The operating system releases it when its holder
dies, so a killed writer never blocks the next one; the holder record (``out/.NAME.lock.json``: pid, host, start
time, beside the lock) only names the writer in the error a second writer gets. Readers ask :func:`writer_of` and never reuse a
folder that is being written. A process that needs a folder's dissection waits while another process is
dissecting it (``wait_for=("dissecting",)``), then reads the cache that process wrote: notebooks run side by
side (``reproduce --jobs``) share one dissection of each run. A folder being trained is refused at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
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


#: Seconds between two looks at a lock that is waited for, and how long a holder without a record (one that has
#: just taken the lock and not yet written it) is waited for.
POLL_SECONDS, RECORD_GRACE_SECONDS = 0.2, 5.0


def _wait_while(run_dir: Path, try_lock: Callable[[], bool], wait_for: Collection[str]) -> dict[str, Any] | None:
    """Call ``try_lock`` until it succeeds (return None) while the holder's work is one of ``wait_for``; return
    the holder record (None: unknown) of a holder that is not waited for."""
    start = time.monotonic()
    while not try_lock():
        holder = _read_holder(run_dir)
        waiting = holder.get("what") in wait_for if holder else (
            bool(wait_for) and time.monotonic() - start < RECORD_GRACE_SECONDS)
        if not waiting:
            return holder or {}
        time.sleep(POLL_SECONDS)
    return None


def _acquired(lock: FileLock) -> Callable[[], bool]:
    def attempt() -> bool:
        try:
            lock.acquire()
        except Timeout:
            return False
        return True
    return attempt


@contextmanager
def run_lock(run_dir: str | os.PathLike, what: str = "training", wait_for: Collection[str] = ()) -> Iterator[None]:
    """Hold ``run_dir``'s writer lock for the body; raise :class:`RunLockedError` naming the holder when it is taken.

    ``what`` names the work in the holder record ("training", "dissecting"); while the holder's work is one of
    ``wait_for``, wait for it instead of raising (a killed holder releases the lock). The lock is not re-entrant
    across calls: a process that already holds it must not ask again.
    """
    run_dir = Path(run_dir)
    lock_path(run_dir).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path(run_dir), timeout=0, is_singleton=False, thread_local=False)
    holder = _wait_while(run_dir, _acquired(lock), wait_for)
    if holder is not None:
        raise RunLockedError(f"run directory {run_dir} is being written by {_describe(holder)}; "
                             "wait for it to finish or choose another --name")
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


def check_not_being_written(run_dir: str | os.PathLike, wait_for: Collection[str] = ()) -> None:
    """Raise :class:`RunLockedError` when a writer holds ``run_dir``'s lock: its files may be half-way changed.

    While the writer's work is one of ``wait_for`` ("dissecting"), wait for it to finish instead.
    """
    run_dir = Path(run_dir)
    holder = _wait_while(run_dir, lambda: writer_of(run_dir) is None, wait_for)
    if holder is not None:
        raise RunLockedError(f"run directory {run_dir} is being written by {_describe(holder)}; "
                             "wait for it to finish before reading it")
