"""One object a notebook sets up once: the study's run grid, runs folder, figure folder and device.

``study = Study.from_parameters(scale=SCALE, runs=RUNS, figures=FIGURES, device=DEVICE)`` resolves
relative folders against the repository root (never the notebook's working directory, so a notebook
opened from ``notebooks/`` and one executed by :mod:`mdeinterp.reproduce` read the same runs). Runs are
named by role, never by position: ``study.run("main", method="baseline", seed=0)`` is the
:class:`~mdeinterp.run.Run` of the first seed's baseline, ``study.run("layers", layers="R.conv0")`` the
single-layer run. The jobs behind it have modules of their own: :mod:`mdeinterp.grid` (the plan),
:mod:`mdeinterp.run` (one run and its caches), :mod:`mdeinterp.results` (tables of many runs),
:mod:`mdeinterp.tables` (result tables), :mod:`mdeinterp.dissection` (units).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import grid
from .config import build_config
from .errors import ConfigError, DataError
from .io import ROOT
from .run import Run


def repo_path(path: str | Path) -> Path:
    """Return ``path`` as an absolute path: relative paths are taken from the repository root :data:`ROOT`."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else ROOT / path


def check_parameters(**given: Any) -> None:
    """Raise :class:`ConfigError` naming the parameter when a notebook parameter has the wrong type.

    Papermill passes ``-p NAME VALUE`` values as parsed by YAML, so ``-p FIGURES 7`` arrives as the integer 7
    and ``-p OVERRIDES abc`` as a string: checked here, where they enter, with the expected type in words.
    """
    expected: dict[str, tuple[tuple[type, ...], str]] = {
        "scale": ((str,), "a scale name"), "runs": ((str, Path), "a folder path"),
        "figures": ((str, Path), "a folder path"), "device": ((str,), "a device name"),
        "data": ((str, Path, type(None)), "a data path or None"), "preset": ((str, type(None)), "a preset name or None"),
        "sweeps": ((bool, type(None)), "True, False or None"),
        "overrides": ((Mapping, type(None)), "a dict of config fields, e.g. {\"num_workers\": 2}"),
    }
    for name, value in given.items():
        types, words = expected[name]
        if not isinstance(value, types) or (isinstance(value, str) and not value and name in ("runs", "figures")):
            raise ConfigError(f"notebook parameter {name.upper()}={value!r} ({type(value).__name__}); expected {words}")
    if given.get("overrides"):
        build_config("tiny", **dict(given["overrides"]))  # unknown fields and bad values named by the config


@dataclass(frozen=True)
class Study:
    """The run grid of one reproduction (:func:`mdeinterp.grid.plan`), where its runs and figures live, and its device."""

    specs: tuple[grid.RunSpec, ...]
    runs: Path
    figures: Path
    device: str = "auto"

    @classmethod
    def from_parameters(cls, scale: str = "full", *, runs: str | Path = "runs", figures: str | Path = "figures",
                        device: str = "auto", data: str | None = None, preset: str | None = None,
                        sweeps: bool | None = None, overrides: Mapping[str, Any] | None = None) -> Study:
        """Return the study of a notebook's parameters (the same names, lower case); folders are resolved by :func:`repo_path`.

        ``sweeps``: include the alpha and K sweep runs (:func:`mdeinterp.grid.plan`; default yes).
        ``overrides``: config fields set on every run (the notebooks' ``OVERRIDES``, reproduce's config flags).
        """
        check_parameters(scale=scale, runs=runs, figures=figures, device=device, data=data, preset=preset,
                         sweeps=sweeps, overrides=overrides)
        specs = grid.plan(scale, data=data, preset=preset, sweeps=sweeps, overrides=overrides)
        return cls(tuple(specs), repo_path(runs), repo_path(figures), device)

    # ---- runs by role -------------------------------------------------------------------------------

    def specs_of(self, role: str | None = None, **labels: Any) -> list[grid.RunSpec]:
        """Return the specs tagged ``role`` (all when None) whose :meth:`RunSpec.labels` match ``labels``."""
        chosen = grid.select(self.specs, role) if role else list(self.specs)
        return [s for s in chosen if all(s.labels()[k] == v for k, v in labels.items())]

    def spec(self, role: str, **labels: Any) -> grid.RunSpec:
        """Return the one spec of ``role`` matching ``labels`` (method, seed, alpha, layers, num_bins).

        Without ``seed``, the role's first seed is taken. Raises DataError naming the candidates when
        none or several match.
        """
        matches = self.specs_of(role, **labels)
        if "seed" not in labels and matches:
            first = matches[0].labels()["seed"]
            matches = [s for s in matches if s.labels()["seed"] == first]
        if len(matches) != 1:
            found = ", ".join(s.name for s in self.specs_of(role)) or "none"
            raise DataError(f"{len(matches)} runs of role {role!r} match {labels}; the role has: {found}")
        return matches[0]

    def run(self, role: str, **labels: Any) -> Run:
        """Return the :class:`~mdeinterp.run.Run` of the one run of ``role`` matching ``labels`` (see :meth:`spec`).

        A trained run's config is read from its directory; before training it is the plan's, so notebooks
        can name runs first. ``run.path`` is its directory.
        """
        spec = self.spec(role, **labels)
        path = self.runs / spec.name
        return Run.from_dir(path) if (path / "config.json").is_file() else Run(path, spec.config())

    def names(self, *roles: str, **labels: Any) -> list[str]:
        """Return the names of the runs of ``roles`` (each run once, in plan order) matching ``labels``."""
        chosen = [s.name for role in roles for s in self.specs_of(role, **labels)]
        return list(dict.fromkeys(chosen))

    def dirs(self, role: str | None = None, **labels: Any) -> list[Path]:
        """Return the finished run directories of ``role`` (all runs when None) matching ``labels``."""
        return grid.run_dirs(self.specs_of(role, **labels), self.runs)

    def assigned_layers(self, role: str, **labels: Any) -> tuple[str, ...]:
        """Return the layers the objective of the one run of ``role`` matching ``labels`` assigns bins to."""
        return tuple(self.spec(role, **labels).config().layers)

    @property
    def settings(self) -> dict[str, list[str]]:
        """Return setting -> run names (:func:`mdeinterp.grid.settings`): "main", "bts", "outdoor", "layer:<name>"."""
        return grid.settings(self.specs)

    def label_settings(self, table: pd.DataFrame) -> pd.DataFrame:
        """Return the rows of ``table`` (a ``name`` column) for each setting, labelled by a ``setting`` column."""
        return grid.by_setting(table, self.settings)

    @property
    def seeds(self) -> list[int]:
        """Return the seeds of the main runs."""
        return list(dict.fromkeys(s.labels()["seed"] for s in self.specs_of("main")))

    def figure(self, stem: str) -> Path:
        """Return the path stem of a figure or table in the figure folder."""
        return self.figures / stem

    # ---- training -----------------------------------------------------------------------------------

    def plan_table(self) -> pd.DataFrame:
        """Return one row per run: name, roles, preset, method, seed, alpha, assigned layers, K (0: per layer), steps."""
        return pd.DataFrame([{"name": s.name, "roles": ", ".join(s.tags), "preset": s.preset, **s.labels(),
                              "steps": s.steps()} for s in self.specs])

    def train(self, workers: int | None = None, progress: bool = True) -> pd.DataFrame:
        """Return :func:`mdeinterp.grid.run_all`'s table after training every run (finished runs are reused).

        ``workers``: runs trained side by side (None: one per usable CPU core, :func:`mdeinterp.grid.usable_cores`).

        ``progress`` prints one line per finished run, never a per-step bar (notebooks keep no half-drawn bars).
        Each run is dissected on all its training images right after training, in its worker.
        """
        return grid.run_all(list(self.specs), out=self.runs, progress=progress, device=self.device, workers=workers,
                            bars=False, dissect=True)


__all__ = ["ROOT", "repo_path", "Study"]
