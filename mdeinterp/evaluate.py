"""Deprecated module: running a model and its accuracy on a dataset are :mod:`mdeinterp.inference`, a run's
accuracy per depth range :meth:`mdeinterp.run.Run.range_accuracy`. Old names still resolve."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import deprecation
from .deprecation import moved

if TYPE_CHECKING:
    import pandas as pd

__getattr__ = moved(__name__, {
    **{name: f"mdeinterp.inference:{name}" for name in
       ("predict", "input_keys", "batch_input", "loader_options", "accepts_focal", "evaluate")},
})


def range_accuracy(run_dir: str | os.PathLike, num_ranges: int = 4, device: str = "cpu") -> pd.DataFrame:
    """Return :meth:`mdeinterp.run.Run.range_accuracy` of the run in ``run_dir`` (deprecated spelling)."""
    from .run import Run

    deprecation.warn("mdeinterp.evaluate.range_accuracy", "mdeinterp.run.Run.range_accuracy")
    return Run.of(run_dir).range_accuracy(num_ranges, device=device)
