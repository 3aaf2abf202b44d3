"""Deprecated module: ablation of unit sets and its curve over group sizes are in :mod:`mdeinterp.interventions`
(the experiments) and :meth:`mdeinterp.run.Run.ablation_by_size` (a trained run's). Old names still resolve."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import deprecation
from .deprecation import moved

if TYPE_CHECKING:
    import pandas as pd

__getattr__ = moved(__name__, {
    **{name: f"mdeinterp.interventions:{name}" for name in
       ("range_groups", "unit_range", "ablation_sizes", "ablate_units", "ablation_by_size")},
})


def run_ablation_by_size(run_dir: str | Path, layer: str, *, eval_images: int | None = None,
                         dissect_images: int | None = None, random_draws: int = 3, num_ranges: int = 4) -> pd.DataFrame:
    """Return :meth:`mdeinterp.run.Run.ablation_by_size` of the run in ``run_dir`` (deprecated spelling)."""
    from .run import Run

    deprecation.warn("mdeinterp.unit_ablation.run_ablation_by_size", "mdeinterp.run.Run.ablation_by_size")
    return Run.of(run_dir).ablation_by_size(layer, eval_images=eval_images, dissect_images=dissect_images,
                                            random_draws=random_draws, num_ranges=num_ranges)
