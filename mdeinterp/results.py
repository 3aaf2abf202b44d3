"""Result tables of many runs, labelled with :func:`~mdeinterp.rundir.run_info` columns.

What one run holds (its config, model, data, cached dissections, interventions) is :class:`~mdeinterp.run.Run`,
and one run's questions are its methods (``run.dissection()``, ``run.interventions(...)``, ...). The functions
here stack runs into tidy pandas tables: one row per run (:func:`collect_metrics`), per run x epoch
(:func:`training_history`), per run x layer (:func:`selectivity_table`, :func:`chance_selectivity`), per run x
unit (:func:`unit_table`, :func:`chance_units`), per run x intervention row (:func:`intervention_tables`), per
run x input (:func:`completion_accuracy`) or per setting x run (:func:`plateau_table`). Every ``run_dir``
argument may be a path or a :class:`Run`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from .config import TrainConfig
from .errors import ConfigError
from .run import Run
from .rundir import run_info
from .selectivity import chance_near_fraction
from .stability import split_half_summary
from .train import plateau_epoch, plateau_step

RunLike = str | os.PathLike


def collect_metrics(dirs: Iterable[RunLike]) -> pd.DataFrame:
    """Return one row per run: name, :func:`run_info` columns and the final epoch's metrics (:meth:`Run.metrics`).

    Nothing machine-dependent goes in: the run is named by its folder and wall-clock seconds stay in the
    run's own ``metrics.csv``, so a re-run elsewhere gives the same table.
    """
    return pd.DataFrame([Run.of(d).metrics() for d in dirs])


def training_history(dirs: Iterable[RunLike]) -> pd.DataFrame:
    """Return the per-epoch metrics of every run (``metrics.csv``) with a ``name`` column."""
    tables = [Run.of(d).history() for d in dirs]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _label(table: pd.DataFrame, name: str, info: Mapping[str, Any]) -> None:
    """Insert ``name`` and the :func:`run_info` columns in front of ``table`` (in place)."""
    for key, value in reversed(list({"name": name, **info}.items())):
        table.insert(0, key, value)


def selectivity_table(dirs: Iterable[RunLike], **dissect_options: Any) -> pd.DataFrame:
    """Return one row per run x dissected layer: run labels, mean/median selectivity, near-assigned share
    (and, dissecting all images, the split-half columns of :meth:`Run.layer_summary`).

    ``assigned`` is True when the run's training objective assigned bins to that layer.
    """
    tables = []
    for run in map(Run.of, dirs):
        summary = run.layer_summary(**dissect_options)
        summary["assigned"] = summary["layer"].isin(run.config.layers) & (run.config.alpha != 0)
        summary["chance_near"] = [chance_near_fraction(int(k)) for k in summary["bins"]]
        _label(summary, run.name, run.info)
        tables.append(summary)
    return pd.concat(tables, ignore_index=True)


def _chance_info(config: TrainConfig, seed: int) -> dict[str, Any]:
    return {**run_info(config), "method": "random init", "alpha": 0.0, "layers": "", "seed": seed}


def chance_selectivity(run_dir: RunLike, seeds: Sequence[int] = (0, 1, 2), **options: Any) -> pd.DataFrame:
    """Return the selectivity of untrained networks (random initialisation) on a run's dissection data.

    One row per seed x layer, like :func:`selectivity_table` with method "random init": the chance level
    that trained selectivity is to be read against (a small network with K bins is far from 0 untrained).
    ``options``: max_images, batch_size, device.
    """
    run = Run.of(run_dir)
    rows = []
    for seed in seeds:
        summary = split_half_summary(*run.chance_halves(seed, **options))
        _label(summary, f"random_init_s{seed}", _chance_info(run.config, seed))
        rows.append(summary)
    return pd.concat(rows, ignore_index=True)


def chance_units(run_dir: RunLike, seeds: Sequence[int] = (0, 1, 2), **options: Any) -> pd.DataFrame:
    """Return one row per untrained seed x layer x unit (the chance level of claim C1), like :func:`unit_table`."""
    run = Run.of(run_dir)
    tables = []
    for seed in seeds:
        table = run.chance(seed, **options).table()
        _label(table, f"random_init_s{seed}", _chance_info(run.config, seed))
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def unit_table(dirs: Iterable[RunLike], **dissect_options: Any) -> pd.DataFrame:
    """Return one row per run x layer x unit (:meth:`Dissection.table` with run labels)."""
    tables = []
    for run in map(Run.of, dirs):
        table = run.dissection(**dissect_options).table()
        _label(table, run.name, run.info)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def intervention_tables(run_dirs: Sequence[RunLike], layers: Sequence[str], kind: str = "ablation",
                        **options: Any) -> pd.DataFrame:
    """Return :meth:`Run.interventions` of every run in ``run_dirs`` (e.g. one per seed), stacked; ``name`` tells them apart."""
    return pd.concat([Run.of(run).interventions(kind, layers, **options) for run in run_dirs], ignore_index=True)


def completion_accuracy(dirs: Iterable[RunLike], split: str = "test", **options: Any) -> pd.DataFrame:
    """Return one row per depth-completion run x input ("rgb+sparse", "rgb only"): :meth:`Run.completion_accuracy`.

    ``options``: batch_size, device.
    """
    tables = [Run.of(d).completion_accuracy(split, **options) for d in dirs]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def plateau_table(settings: Mapping[str, Sequence[RunLike]], tolerance: float = 0.01) -> pd.DataFrame:
    """Return one row per setting x run: labels, the layers checked, epochs and steps trained, and ``plateau_epoch`` /
    ``plateau_step``, where the layers' probe DS first rose by less than ``tolerance`` (:func:`~mdeinterp.train.plateau_epoch`).

    ``settings``: setting -> its runs (e.g. a baseline and an interpretable run). Every run of a setting is checked
    on the setting's assigned layers (those its interpretable runs assign), so a baseline is measured where the
    term acts. ``plateau_epoch`` and ``plateau_step`` are missing (NA) for a run whose DS was still rising.
    """
    rows = []
    for setting, members in settings.items():
        runs = [Run.of(d) for d in members]
        assigned = [tuple(r.config.layers) for r in runs if r.config.alpha]
        if not assigned:
            raise ConfigError(f"setting {setting!r} has no interpretable run ({', '.join(r.name for r in runs)}); "
                              "its assigned layers are those an interpretable run assigns")
        for run in runs:
            history = run.history()
            rows.append({"setting": setting, "name": run.name, "method": run.info["method"], "seed": run.config.seed,
                         "layers": "+".join(assigned[0]), "epochs": int(history["epoch"].max()),
                         "steps": int(history["step"].max()),
                         "plateau_epoch": plateau_epoch(history, assigned[0], tolerance),
                         "plateau_step": plateau_step(history, assigned[0], tolerance)})
    return pd.DataFrame(rows).astype({"plateau_epoch": "Int64", "plateau_step": "Int64"})


def describe_plateaus(table: pd.DataFrame) -> str:
    """Return one Markdown list item per setting of :func:`plateau_table`: the step from which each run's probe DS
    stopped rising, or "still rising", by method (with the seed when a method has several runs)."""

    def when(runs: pd.DataFrame) -> str:
        seeds = [f" (seed {seed})" if len(runs) > 1 else "" for seed in runs["seed"]]
        return ", ".join((f"step {int(step):,}" if pd.notna(step) else "still rising") + seed
                         for step, seed in zip(runs["plateau_step"], seeds))

    return "\n".join(
        f"- **{setting}** ({rows['layers'].iloc[0]}, {int(rows['steps'].max()):,} steps trained), probe DS flat from: "
        + "; ".join(f"{method} {when(runs)}" for method, runs in rows.groupby("method", sort=False)) + "."
        for setting, rows in table.groupby("setting", sort=False))


__all__ = [
    "collect_metrics", "training_history", "selectivity_table", "chance_selectivity", "chance_units", "unit_table",
    "intervention_tables", "completion_accuracy", "plateau_table", "describe_plateaus",
]
