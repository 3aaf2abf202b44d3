"""Old names kept working: a module ``__getattr__`` that hands out a moved name and warns naming the new one."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Collection, Mapping
from typing import Any

#: Old names that resolve without a warning. Empty since the notebooks call only current names (a name listed here
#: would hide a notebook's use of a moved name: its executed copy must show nothing on stderr).
QUIET: frozenset[str] = frozenset()


def moved(module: str, names: Mapping[str, str], quiet: Collection[str] = QUIET) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` for ``module`` resolving each old name to its new ``"package.module:name"``.

    Each access warns (:class:`DeprecationWarning`, one line naming the new name) unless ``module.name`` is in
    ``quiet``; an unknown name raises :class:`AttributeError` as a module would.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        home, _, attribute = names[name].partition(":")
        value = importlib.import_module(home)
        for part in attribute.split("."):
            value = getattr(value, part)
        if f"{module}.{name}" not in quiet:
            warnings.warn(f"{module}.{name} is deprecated; use {home}.{attribute}", DeprecationWarning, stacklevel=2)
        return value

    return __getattr__


def warn(old: str, new: str) -> None:
    """Warn (:class:`DeprecationWarning`) that ``old`` is deprecated in favour of ``new``, unless ``old`` is quiet."""
    if old not in QUIET:
        warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)


__all__ = ["QUIET", "moved", "warn"]
