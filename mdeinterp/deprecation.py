"""Old names kept working: a module ``__getattr__`` that hands out a moved name and warns naming the new one."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Collection, Mapping
from typing import Any

#: Names that committed notebooks 00–06 still call (also ``evaluate.range_accuracy`` and
#: ``unit_ablation.run_ablation_by_size``, kept as functions in their deprecated modules). They resolve without a warning until those notebooks are
#: executed again with the next grid retrain: their executed copies must match their sources, and a warning
#: would write to a cell's stderr.
QUIET = frozenset({
    "mdeinterp.analysis.top_units", "mdeinterp.analysis.activation_maps", "mdeinterp.plots.position_control",
    "mdeinterp.plots.range_accuracy", "mdeinterp.claims.interpret_occupancy",
})


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


__all__ = ["QUIET", "moved"]
