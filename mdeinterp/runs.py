"""Deprecated module: run directories are :mod:`mdeinterp.rundir`, cached dissections
:func:`mdeinterp.dissection.load_cached_dissection`. Old names still resolve."""

from __future__ import annotations

from .deprecation import moved

_RUNDIR = (
    "CHECKPOINT", "DONE", "RUNTIME_FIELDS", "NAME_IGNORES", "TIMING_COLUMNS", "run_info", "run_name",
    "check_run_dir", "read_done", "start_run_dir", "check_finite_row", "finish_run_dir", "config_differences",
    "run_differences", "EpochStats", "save_checkpoint", "load_training_state", "restore_checkpoint",
    "write_metrics", "read_metrics_csv", "format_row", "seed_everything", "seed_worker", "rng_state",
    "set_rng_state",
)

__getattr__ = moved(__name__, {
    **{name: f"mdeinterp.rundir:{name}" for name in _RUNDIR},
    "Position": "mdeinterp.rundir:Progress",
    "load_cached_dissection": "mdeinterp.dissection:load_cached_dissection",
    "dissection_problem": "mdeinterp.dissection:dissection_problem",
})
