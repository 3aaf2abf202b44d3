"""The run grid as data: every training run the notebooks need, and training them.

:func:`plan` lists the runs as :class:`RunSpec` values (a preset plus flat overrides, the same names as
the CLI flags), tagged with the analyses they feed; :func:`select`, :func:`settings` and
:func:`by_setting` pick runs by role; :func:`run_all` trains them (finished runs are reused by
:func:`mdeinterp.train.train`) and :func:`run_dirs` returns the finished run directories.

Scales: "full" is the default reproduction on the embedded synthetic data (tiny presets, seeds 0-2);
"quick" has the same structure but a few optimiser steps on a few images (a smoke run of every
notebook in minutes); "paper" maps the grid onto the paper presets and needs a data path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .config import TrainConfig, build_config
from .errors import ConfigError, DataError
from .rundir import read_done, run_info

SCALES = ("full", "quick", "paper")
#: alpha of the interpretable runs (the paper's).
ALPHA = 0.1
#: The alpha sweep (beyond the paper), D and MFF assigned, one seed.
ALPHA_SWEEP = (0.0, 0.03, 0.1, 0.3, 1.0)
#: Number of bins of the K sweep (at ALPHA), for layers whose default K (min(units, 64)) is at least as large.
#: mff_tiny's D and MFF have 32 units, so its default run is the K = 32 point; at paper scale (64 units) 64 is.
BIN_SWEEP = (8, 16, 32, 64)
#: The sweeps' schedule at "full" scale on CPU: every sweep point, alpha = 0 and 0.1 included, trains its own run
#: of this many epochs (1,000 steps of 8, a third of the main runs' 3,000), so the seven points fit the budget and
#: compare with each other (not with the main runs). At "paper" and "quick" scale the sweeps keep the main
#: runs' schedule and share their alpha = 0 / 0.1 / default-K points.
SWEEP_EPOCHS_FULL = 2
ASSIGNED_MFF = ("D", "MFF")
#: Layers assigned one at a time (claim C5, "other layers"): the refinement layers the paper also studies;
#: D and MFF are assigned together in the main runs.
SINGLE_LAYERS = ("R.conv0", "R.conv1")
BTS_LAYERS = ("decoder.upconv2", "decoder.iconv2")
#: CSPN's studied layers (depth completion), both assigned in the completion pair.
CSPN_LAYERS = ("layer3", "layer4")

#: Relative one-thread training seconds per pixel of a batch, by architecture (MFF = 1), measured on the
#: 2026-12-03 grid (benchmarks/bench_grid.RECORDED_RUN_SECONDS: MFF 5.6 us, BTS 6.5-6.9 us, CSPN 9.4 us per step,
#: image and pixel). Used only to start the longest runs first (:func:`schedule`); an unknown arch counts as 1.
STEP_COST = {"mff_tiny": 1.0, "bts_tiny": 1.2, "cspn_tiny": 1.65}

# Overrides that make a "quick" run: a few steps on a few small images.
_QUICK = dict(n_train=8, n_test=8, height=64, width=96, epochs=2, batch_size=4, max_steps=4, eval_every=2)
_QUICK_OUTDOOR = dict(_QUICK, width=192)


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid: ``build_config(preset, **overrides)`` trained into ``out/name``.

    ``tags`` name the analyses the run feeds: "main" (baseline vs interpretable over seeds), "layers"
    (single assigned layers), "bts", "outdoor", "completion" (CSPN), "alpha" and "bins" (sensitivity sweeps).
    """

    name: str
    preset: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def config(self, **extra: Any) -> TrainConfig:
        """Return the run's config, with ``extra`` overrides (e.g. ``device``) applied last."""
        return build_config(self.preset, **{**dict(self.overrides), **extra})

    def steps(self) -> int:
        """Return the optimiser steps the run trains: its epochs of ``n_train // batch_size`` batches, cut at ``max_steps``.

        Real data (whose size is known only once read) counts as one batch per epoch here.
        """
        config = self.config()
        per_epoch = max(1, config.data.n_train // config.batch_size) if config.data.format == "synthetic" else 1
        return min(config.epochs * per_epoch, config.max_steps or config.epochs * per_epoch)

    def cost(self) -> float:
        """Return the run's expected training cost, in MFF-pixel steps: steps x batch x pixels x :data:`STEP_COST`."""
        config = self.config()
        pixels = config.batch_size * config.data.height * config.data.width
        return self.steps() * pixels * STEP_COST.get(config.model.arch, 1.0)

    def labels(self) -> dict[str, Any]:
        """Return what names the run within its role: method, seed, alpha, assigned layers ("+"-joined), num_bins."""
        info = run_info(self.config())
        return {key: info[key] for key in ("method", "seed", "alpha", "layers", "num_bins")}


def plan(
    scale: str = "full",
    *,
    data: str | None = None,
    preset: str | None = None,
    bts_preset: str | None = None,
    outdoor_data: str | None = None,
    seeds: Sequence[int] | None = None,
    sweeps: bool | None = None,
    completion_data: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> list[RunSpec]:
    """Return the runs every notebook needs at ``scale`` ("full", "quick" or "paper").

    Args:
        data: a real data path (required for "paper"; with "full"/"quick" it replaces the synthetic data).
        preset: MFF preset of the main runs (default "tiny", or "paper_mff_resnet50" for "paper").
        bts_preset: BTS preset (default "tiny_bts", or "paper_bts_nyu" for "paper").
        outdoor_data: "paper" only: a KITTI path for the outdoor runs (skipped when None).
        completion_data: "paper" only: an NYUv2 path for the depth-completion (CSPN) pair (skipped when None);
            at "full"/"quick" the pair trains on the synthetic (or ``data``) scenes.
        overrides: config fields set on every run, last (names of :func:`mdeinterp.config.build_config`, as the
            ``train`` flags; e.g. ``{"num_workers": 2}``); a name that is no config field is a ConfigError.
        seeds: seeds of the main runs (default 0, 1, 2; "quick": 0, 1).
        sweeps: add the alpha and K sweeps (one seed each; default yes). At "full" scale they train on a
            shorter schedule of their own (:data:`SWEEP_EPOCHS_FULL`), every point included.
    """
    if scale not in SCALES:
        raise ConfigError(f"scale {scale!r} is unknown; expected one of {', '.join(SCALES)}")
    if scale == "paper" and data is None:
        raise ConfigError("scale 'paper' needs the real data: pass data=PATH (NYUv2 in MFF's csv or labeled .mat)")
    paper = scale == "paper"
    preset = preset or ("paper_mff_resnet50" if paper else "tiny")
    bts_preset = bts_preset or ("paper_bts_nyu" if paper else "tiny_bts")
    outdoor_preset = "paper_bts_kitti" if paper else "tiny_outdoor"
    seeds = tuple(seeds) if seeds is not None else ((0, 1) if scale == "quick" else (0, 1, 2))
    quick = scale == "quick"
    common = dict(_QUICK) if quick else {}
    if data is not None:
        common["data"] = data
    outdoor_common = dict(_QUICK_OUTDOOR) if quick else {}

    def spec(name: str, base: str, tags: tuple[str, ...], common_kw: Mapping[str, Any], **kw: Any) -> RunSpec:
        return RunSpec(name, base, {**common_kw, **kw, **(overrides or {})}, tags)

    interp = dict(alpha=ALPHA, layers=ASSIGNED_MFF)
    if sweeps is not None and not isinstance(sweeps, bool):
        raise ConfigError(f"sweeps must be True, False or None (default: yes), got {sweeps!r}")
    sweeps = True if sweeps is None else sweeps
    # at "full" scale every sweep point is its own shorter run; elsewhere the main runs are the shared points
    own_sweep = dict(epochs=SWEEP_EPOCHS_FULL) if scale == "full" and sweeps else {}
    specs: list[RunSpec] = []
    for seed in seeds:
        first = seed == seeds[0]
        extra = ("layers", *(("alpha", "bins") if sweeps and not own_sweep else ())) if first else ()
        specs.append(spec(f"base_s{seed}", preset, ("main", *extra), common, alpha=0.0, seed=seed))
        specs.append(spec(f"interp_s{seed}", preset, ("main", *extra), common, seed=seed, **interp))
    seed = seeds[0]
    for layer in SINGLE_LAYERS:
        specs.append(spec(f"layer_{layer}_s{seed}", preset, ("layers",), common, alpha=ALPHA, layers=(layer,), seed=seed))
    specs.append(spec(f"bts_base_s{seed}", bts_preset, ("bts",), common, alpha=0.0, seed=seed))
    specs.append(spec(f"bts_interp_s{seed}", bts_preset, ("bts",), common, alpha=ALPHA, layers=BTS_LAYERS, seed=seed))
    if not paper or outdoor_data is not None:
        outdoor_kw = dict(outdoor_common, **({"data": outdoor_data} if outdoor_data else {}))
        specs.append(spec(f"outdoor_base_s{seed}", outdoor_preset, ("outdoor",), outdoor_kw, alpha=0.0, seed=seed))
        specs.append(spec(f"outdoor_interp_s{seed}", outdoor_preset, ("outdoor",), outdoor_kw, alpha=ALPHA,
                          layers=BTS_LAYERS, seed=seed))
    if not paper or completion_data is not None:
        completion_kw = dict(common, **({"data": completion_data} if completion_data else {}))
        completion_preset = "paper_cspn_nyu" if paper else "tiny_cspn"
        specs.append(spec(f"completion_base_s{seed}", completion_preset, ("completion",), completion_kw, alpha=0.0,
                          seed=seed))
        specs.append(spec(f"completion_interp_s{seed}", completion_preset, ("completion",), completion_kw,
                          alpha=ALPHA, layers=CSPN_LAYERS, seed=seed))
    default_bins = 64 if paper else 32  # min(units, 64) of the assigned layers of the preset's model
    sweep_common = {**common, **own_sweep}
    for alpha in ALPHA_SWEEP if sweeps else ():
        if own_sweep or alpha not in (0.0, ALPHA):
            tags = ("alpha", "bins") if alpha == ALPHA else ("alpha",)
            specs.append(spec(f"sweep_a{alpha:g}_s{seed}", preset, tags, sweep_common, alpha=alpha,
                              layers=ASSIGNED_MFF, seed=seed))
    for bins in BIN_SWEEP if sweeps else ():
        if bins < default_bins:
            specs.append(spec(f"sweep_k{bins}_s{seed}", preset, ("bins",), sweep_common, num_bins=bins, seed=seed,
                              **interp))
    for checked in specs:  # a bad preset, data path or value fails here, before any work
        checked.config()
    return specs


def select(specs: Iterable[RunSpec], tag: str) -> list[RunSpec]:
    """Return the specs carrying ``tag``."""
    return [s for s in specs if tag in s.tags]


def schedule(specs: Sequence[RunSpec]) -> list[RunSpec]:
    """Return ``specs`` longest first (:meth:`RunSpec.cost`; ties keep plan order): the order in which
    :func:`run_all` hands runs to its workers, so that no long run starts last while the other workers idle."""
    return sorted(specs, key=lambda spec: -spec.cost())


def _train_one(spec: RunSpec, out: str, device: str | None, threads: int | None, progress: bool,
               dissect: bool = False) -> tuple[str, bool]:
    """Train one spec (in a worker process when run_all is parallel), optionally dissect it; return its run directory
    and whether it was finished before (reused, not trained)."""
    import torch

    from .train import resolve_device, train

    if threads is not None:
        torch.set_num_threads(threads)
    config = spec.config(device=device)
    reused = read_done(Path(out) / spec.name) is not None  # soundly finished before: train() reuses it
    run_dir = train(config, out=out, name=spec.name, resume=True, progress=progress)
    if dissect:  # cached in the run directory, where the notebooks' Run.dissection finds it
        from .run import Run

        Run.from_dir(run_dir).halves(device=str(resolve_device(config.device)))
    return str(run_dir), reused


def usable_cores() -> int:
    """Return how many CPU cores this process may run on: its affinity mask where the OS has one, else all cores."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def _one_gpu(device: str | None) -> bool:
    """Return whether runs would share one GPU (``device`` "cuda..." or "auto" with CUDA available)."""
    import torch

    return (device or "auto").startswith("cuda") or ((device or "auto") == "auto" and torch.cuda.is_available())


def run_all(
    specs: Sequence[RunSpec],
    out: str | Path = "runs",
    progress: bool = True,
    device: str | None = None,
    workers: int | None = None,
    bars: bool = True,
    dissect: bool = False,
) -> pd.DataFrame:
    """Return one row per spec (name, run_dir, tags, reused, seconds) after training every spec.

    With ``dissect``, each worker also dissects its run on all training images right after training
    (:meth:`mdeinterp.run.Run.halves`, cached in the run directory), so dissections run side by side too.
    ``workers``: runs trained side by side; None: as many as the process may use cores (:func:`usable_cores`),
    at most one per spec. On a GPU runs train one at a time whatever ``workers`` says.

    With ``progress``, one line is printed per finished run, in the order of ``specs`` (with parallel workers a
    run that finishes early waits for the runs before it); ``bars`` adds training's per-step progress bars
    when runs train one at a time (in a notebook they would stay half-drawn in the executed copy).

    Finished runs are reused and interrupted ones resume from their last checkpoint, so an interrupted
    reproduction restarts where it stopped. With ``workers > 1`` runs train side by side in separate
    processes of one torch thread each (on a small CPU this beats one process with several threads), handed out
    longest first (:func:`schedule`);
    synthetic data caches are rendered once beforehand so workers never race to write them.
    """
    import concurrent.futures
    import multiprocessing
    import time

    from .data import make_dataset

    def row(spec: RunSpec, result: tuple[str, bool], start: float) -> dict[str, Any]:
        run_dir, reused = result
        return {"name": spec.name, "run_dir": run_dir, "tags": ",".join(spec.tags), "reused": reused,
                "seconds": time.perf_counter() - start}

    def report(rows: list[dict[str, Any]], since: str) -> None:
        if progress:
            last = rows[-1]
            what = "reused (finished before)" if last["reused"] else f"done, {last['seconds']:.0f} s since {since}"
            print(f"run {last['name']}: {what} ({len(rows)}/{len(specs)})", flush=True)

    if workers is None:
        workers = min(usable_cores(), len(specs))
    if workers <= 1 or _one_gpu(device):
        rows = []
        for spec in specs:
            start = time.perf_counter()
            rows.append(row(spec, _train_one(spec, str(out), device, None, progress and bars, dissect), start))
            if not bars:
                report(rows, "started")
        return pd.DataFrame(rows)
    for data in dict.fromkeys(spec.config().data for spec in specs):
        for split in ("train", "test"):
            make_dataset(data, split, progress=progress and bars)
    rows = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        started = {pool.submit(_train_one, spec, str(out), device, 1, False, dissect): (spec, time.perf_counter())
                   for spec in schedule(specs)}

        def finished() -> Iterator[tuple[str, dict[str, Any]]]:
            for future in concurrent.futures.as_completed(started):
                spec, start = started[future]
                yield spec.name, row(spec, future.result(), start)

        # reported in plan order, so a re-run that reuses every run prints the same lines every time
        for finished_row in in_plan_order([spec.name for spec in specs], finished()):
            rows.append(finished_row)
            report(rows, "queued")
    return pd.DataFrame(rows)


def in_plan_order(names: Sequence[str], finished: Iterable[tuple[str, Any]]) -> Iterator[Any]:
    """Yield the items of ``finished`` ((name, item) pairs arriving in any order) in the order of ``names``, each as
    soon as it and every name before it have arrived."""
    waiting: dict[str, Any] = {}
    position = 0
    for name, item in finished:
        waiting[name] = item
        while position < len(names) and names[position] in waiting:
            yield waiting.pop(names[position])
            position += 1


def run_dirs(specs: Sequence[RunSpec], out: str | Path = "runs", tag: str | None = None) -> list[Path]:
    """Return the run directories of ``specs`` (optionally only those tagged ``tag``); they must be finished."""
    chosen = select(specs, tag) if tag else list(specs)
    dirs = [Path(out) / s.name for s in chosen]
    missing = [str(d) for d in dirs if not (d / "done").exists()]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DataError(f"runs not finished: {shown}; run notebook 01_train (or run_all) first")
    return dirs


def settings(specs: Sequence[RunSpec]) -> dict[str, list[str]]:
    """Return setting -> run names: "main", "bts", "outdoor", "completion" and "layer:<name>" (first baseline + that
    single-layer run)."""
    out = {tag: [s.name for s in select(specs, tag)] for tag in ("main", "bts", "outdoor", "completion")}
    base = [s.name for s in select(specs, "layers") if s.overrides.get("alpha", 0) == 0]
    for spec in select(specs, "layers"):
        layers = spec.overrides.get("layers", ())
        if spec.overrides.get("alpha", 0) and len(layers) == 1:
            out[f"layer:{layers[0]}"] = base + [spec.name]
    return {k: v for k, v in out.items() if v}


def by_setting(table: pd.DataFrame, groups: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Return the rows of ``table`` (with a ``name`` column) for each setting, labelled by a ``setting`` column."""
    parts = [table[table["name"].isin(names)].assign(setting=setting) for setting, names in groups.items()]
    return pd.concat(parts, ignore_index=True)


__all__ = ["SCALES", "ALPHA", "ALPHA_SWEEP", "BIN_SWEEP", "SWEEP_EPOCHS_FULL", "ASSIGNED_MFF", "SINGLE_LAYERS", "BTS_LAYERS", "CSPN_LAYERS",
           "STEP_COST", "RunSpec",
           "plan", "select", "schedule", "run_all", "in_plan_order", "run_dirs", "settings", "by_setting"]
