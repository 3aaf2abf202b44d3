"""The experiment grid as data, running it, and the tidy result tables the notebooks plot.

:func:`plan` lists every training run the notebooks need as :class:`RunSpec` values (a preset plus
flat overrides, the same names as the CLI flags); :func:`run_all` trains them (finished runs are
reused by :func:`mdeinterp.train.train`). The table builders read run directories and return one row
per run (:func:`collect_metrics`), per run x layer (:func:`selectivity_table`) or per unit
(:func:`unit_table`); :func:`summarise` turns them into "mean ± std over seeds" tables.

Scales: "full" is the default reproduction on the embedded synthetic data (tiny presets, seeds 0-2);
"quick" has the same structure but a few optimiser steps on a few images (a smoke run of every
notebook in minutes); "paper" maps the grid onto the paper presets and needs a data path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import TrainConfig, build_config, load_config
from .errors import ConfigError, DataError
from .io import atomic_path

SCALES = ("full", "quick", "paper")
#: alpha of the interpretable runs (the paper's) and of the sensitivity sweep (0 and 0.1 come from the main runs).
ALPHA = 0.1
ALPHA_SWEEP = (0.3, 1.0)
#: Number of bins of the K sweep, for layers whose default K (min(units, 64)) is larger. mff_tiny's D and MFF
#: have 32 units, so their default run is the K = 32 point; at paper scale (64 units) 64 is the default.
BIN_SWEEP = (8, 16, 32, 64)
ASSIGNED_MFF = ("D", "MFF")
#: Layers assigned one at a time (claim C5, "other layers"): the refinement layers the paper also studies;
#: D and MFF are assigned together in the main runs.
SINGLE_LAYERS = ("R.conv0", "R.conv1")
BTS_LAYERS = ("decoder.upconv2", "decoder.iconv2")

# Overrides that make a "quick" run: a few steps on a few small images.
_QUICK = dict(n_train=8, n_test=8, height=64, width=96, epochs=2, batch_size=4, max_steps=4, eval_every=2)
_QUICK_OUTDOOR = dict(_QUICK, width=192)
_QUICK_BTS = dict(_QUICK, height=64, width=96)


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid: ``build_config(preset, **overrides)`` trained into ``out/name``.

    ``tags`` name the analyses the run feeds: "main" (baseline vs interpretable over seeds), "layers"
    (single assigned layers), "bts", "outdoor", "alpha" and "bins" (sensitivity sweeps).
    """

    name: str
    preset: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def config(self, **extra: Any) -> TrainConfig:
        """Return the run's config, with ``extra`` overrides (e.g. ``device``) applied last."""
        return build_config(self.preset, **{**dict(self.overrides), **extra})


def plan(
    scale: str = "full",
    *,
    data: str | None = None,
    preset: str | None = None,
    bts_preset: str | None = None,
    outdoor_data: str | None = None,
    seeds: Sequence[int] | None = None,
    sweeps: bool | None = None,
) -> list[RunSpec]:
    """Return the runs every notebook needs at ``scale`` ("full", "quick" or "paper").

    Args:
        data: a real data path (required for "paper"; with "full"/"quick" it replaces the synthetic data).
        preset: MFF preset of the main runs (default "tiny", or "paper_mff_resnet50" for "paper").
        bts_preset: BTS preset (default "tiny_bts", or "paper_bts_nyu" for "paper").
        outdoor_data: "paper" only: a KITTI path for the outdoor runs (skipped when None).
        seeds: seeds of the main runs (default 0, 1, 2; "quick": 0, 1).
        sweeps: add the alpha and K sweeps (one seed each). Default: yes, except at "full" scale, where
            their four 3,000-step runs would push ``make reproduce`` past its hour on a 2-core CPU.
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
    bts_common = dict(_QUICK_BTS) if quick else dict(common)
    if data is not None:
        bts_common["data"] = data
    outdoor_common = dict(_QUICK_OUTDOOR) if quick else {}

    def spec(name: str, base: str, tags: tuple[str, ...], common_kw: Mapping[str, Any], **kw: Any) -> RunSpec:
        return RunSpec(name, base, {**common_kw, **kw}, tags)

    interp = dict(alpha=ALPHA, layers=ASSIGNED_MFF)
    specs: list[RunSpec] = []
    for seed in seeds:
        first = seed == seeds[0]
        extra = ("layers", "alpha", "bins") if first else ()
        specs.append(spec(f"base_s{seed}", preset, ("main", *extra), common, alpha=0.0, seed=seed))
        specs.append(spec(f"interp_s{seed}", preset, ("main", *extra), common, seed=seed, **interp))
    seed = seeds[0]
    for layer in SINGLE_LAYERS:
        specs.append(spec(f"layer_{layer}_s{seed}", preset, ("layers",), common, alpha=ALPHA, layers=(layer,), seed=seed))
    specs.append(spec(f"bts_base_s{seed}", bts_preset, ("bts",), bts_common, alpha=0.0, seed=seed))
    specs.append(spec(f"bts_interp_s{seed}", bts_preset, ("bts",), bts_common, alpha=ALPHA, layers=BTS_LAYERS, seed=seed))
    if not paper or outdoor_data is not None:
        outdoor_kw = dict(outdoor_common, **({"data": outdoor_data} if outdoor_data else {}))
        outdoor_layers = BTS_LAYERS if paper else ASSIGNED_MFF
        specs.append(spec(f"outdoor_base_s{seed}", outdoor_preset, ("outdoor",), outdoor_kw, alpha=0.0, seed=seed))
        specs.append(spec(f"outdoor_interp_s{seed}", outdoor_preset, ("outdoor",), outdoor_kw, alpha=ALPHA,
                          layers=outdoor_layers, seed=seed))
    if sweeps is None:
        sweeps = scale != "full"
    for alpha in ALPHA_SWEEP if sweeps else ():
        specs.append(spec(f"alpha_{alpha:g}_s{seed}", preset, ("alpha",), common, alpha=alpha, layers=ASSIGNED_MFF, seed=seed))
    default_bins = 64 if paper else 32  # min(units, 64) of the assigned layers of the preset's model
    for bins in BIN_SWEEP if sweeps else ():
        if bins < default_bins:
            specs.append(spec(f"bins_{bins}_s{seed}", preset, ("bins",), common, num_bins=bins, seed=seed, **interp))
    for checked in specs:  # a bad preset, data path or value fails here, before any work
        checked.config()
    return specs


def select(specs: Iterable[RunSpec], tag: str) -> list[RunSpec]:
    """Return the specs carrying ``tag``."""
    return [s for s in specs if tag in s.tags]


def _train_one(spec: RunSpec, out: str, device: str | None, threads: int | None, progress: bool) -> str:
    """Train one spec (in a worker process when run_all is parallel); return its run directory."""
    import torch

    from .train import train

    if threads is not None:
        torch.set_num_threads(threads)
    return str(train(spec.config(device=device), out=out, name=spec.name, resume=True, progress=progress))


def run_all(
    specs: Sequence[RunSpec],
    out: str | Path = "runs",
    progress: bool = True,
    device: str | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """Return one row per spec (name, run_dir, tags, seconds) after training every spec.

    Finished runs are reused and interrupted ones resume from their last checkpoint, so an interrupted
    reproduction restarts where it stopped. With ``workers > 1`` runs train side by side in separate
    processes of one torch thread each (on a small CPU this beats one process with several threads);
    synthetic data caches are rendered once beforehand so workers never race to write them.
    """
    import concurrent.futures
    import multiprocessing
    import time

    from .data import make_dataset

    def row(spec: RunSpec, run_dir: str, start: float) -> dict[str, Any]:
        return {"name": spec.name, "run_dir": run_dir, "tags": ",".join(spec.tags),
                "seconds": time.perf_counter() - start}

    if workers <= 1:
        rows = []
        for spec in specs:
            start = time.perf_counter()
            rows.append(row(spec, _train_one(spec, str(out), device, None, progress), start))
        return pd.DataFrame(rows)
    for data in dict.fromkeys(spec.config().data for spec in specs):
        for split in ("train", "test"):
            make_dataset(data, split)
    rows = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        started = {pool.submit(_train_one, spec, str(out), device, 1, False): (spec, time.perf_counter())
                   for spec in specs}
        for future in concurrent.futures.as_completed(started):
            spec, start = started[future]
            rows.append(row(spec, future.result(), start))
            if progress:
                print(f"run {rows[-1]['name']}: done ({len(rows)}/{len(specs)}, "
                      f"{rows[-1]['seconds']:.0f} s since queued)", flush=True)
    order = {spec.name: i for i, spec in enumerate(specs)}
    return pd.DataFrame(sorted(rows, key=lambda r: order[r["name"]]))


def run_dirs(specs: Sequence[RunSpec], out: str | Path = "runs", tag: str | None = None) -> list[Path]:
    """Return the run directories of ``specs`` (optionally only those tagged ``tag``); they must be finished."""
    chosen = select(specs, tag) if tag else list(specs)
    dirs = [Path(out) / s.name for s in chosen]
    missing = [str(d) for d in dirs if not (d / "done").exists()]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DataError(f"runs not finished: {shown}; run notebook 01_train (or run_all) first")
    return dirs


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[Any, TrainConfig]:
    """Return (model in eval mode with the run's final weights, its TrainConfig) from a run directory."""
    from .models import create_model, load_checkpoint

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise DataError(f"{run_dir} is not a run directory (no config.json); expected a folder written by train")
    config = load_config(str(run_dir / "config.json"))
    model = create_model(config.model.arch, pretrained=None)
    load_checkpoint(run_dir / "checkpoint.pt", model)
    return model.to(device).eval(), config


def run_info(config: TrainConfig) -> dict[str, Any]:
    """Return the columns that label a run in result tables: model, data kind, method, alpha, layers, bins, seed."""
    source = config.data.kind if config.data.format == "synthetic" else config.data.format
    return {
        "model": config.model.arch,
        "data": source,
        "method": "interpretable" if config.alpha else "baseline",
        "alpha": float(config.alpha),
        "layers": "+".join(config.layers) if config.alpha else "",
        "num_bins": config.num_bins,
        "seed": config.seed,
    }


def collect_metrics(dirs: Iterable[str | Path]) -> pd.DataFrame:
    """Return one row per run: name, :func:`run_info` columns and the final epoch's metrics.

    Nothing machine-dependent goes in: the run is named by its folder (relative to the runs folder) and
    wall-clock seconds stay in the run's own ``metrics.csv``, so a re-run elsewhere gives the same table.
    """
    rows = []
    for run_dir in map(Path, dirs):
        config = load_config(str(run_dir / "config.json"))
        history = training_history([run_dir])
        last = history.iloc[-1].to_dict() if len(history) else {}
        for key in ("name", "seconds"):
            last.pop(key, None)
        rows.append({"name": run_dir.name, **run_info(config), **last})
    return pd.DataFrame(rows)


def training_history(dirs: Iterable[str | Path]) -> pd.DataFrame:
    """Return the per-epoch metrics of every run (``metrics.csv``) with a ``name`` column."""
    tables = []
    for run_dir in map(Path, dirs):
        path = run_dir / "metrics.csv"
        if not path.exists():
            raise DataError(f"{path} does not exist; is {run_dir} a finished run?")
        table = pd.read_csv(path)
        table.insert(0, "name", run_dir.name)
        tables.append(table)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


# ---- dissection of runs ------------------------------------------------------------------------------


def studied_layers(model: Any, config: TrainConfig) -> tuple[str, ...]:
    """Return the layers to dissect: the ``studied_layers`` the model declares, else the config's assigned layers."""
    return tuple(getattr(model, "studied_layers", ())) or tuple(config.layers)


def dissection_data(config: TrainConfig, split: str = "train") -> Any:
    """Return the dataset a run is dissected on: ``split`` of its data, without augmentation (paper: train)."""
    from .data import make_dataset

    return make_dataset(replace(config.data, augment=False), split)


def _cached_halves(folder: Path, stem: str, layers: Sequence[str], compute: Any) -> tuple[Any, Any]:
    """Return the two half dissections cached as ``folder/<stem>_half{0,1}.h5``, computing them when absent or stale."""
    from .analysis import Dissection

    paths = [folder / f"{stem}_half{i}.h5" for i in (0, 1)]
    if all(p.exists() for p in paths):
        cached = tuple(Dissection.load(p) for p in paths)
        if all(list(c) == list(layers) for c in cached):  # a cache of other layers (older code) is recomputed
            return cached
    halves = compute()
    for half, path in zip(halves, paths):
        half.save(path)
    return halves


def dissect_halves(
    run_dir: str | Path, *, split: str = "train", batch_size: int = 16, device: str = "cpu", progress: bool = False,
) -> tuple[Any, Any]:
    """Return the dissections of a run's studied layers on the two disjoint halves of its ``split`` data (cached).

    Their sum (:func:`mdeinterp.stability.combine`) is the dissection on all images; their difference
    measures sampling noise (:func:`mdeinterp.stability.split_half_summary`).
    """
    from .stability import dissect_halves as halves_of

    run_dir = Path(run_dir)
    model, config = load_run(run_dir, device)
    layers = studied_layers(model, config)
    return _cached_halves(run_dir, f"dissection_{split}", layers, lambda: halves_of(
        model, dissection_data(config, split), layers, **_dissect_options(config, batch_size, device, progress)))


def _dissect_options(config: TrainConfig, batch_size: int, device: str, progress: bool) -> dict[str, Any]:
    """Return :func:`~mdeinterp.analysis.dissect` keywords for a run: its K and SID range."""
    return dict(num_bins=config.num_bins, d_min=config.data.d_min, d_max=config.data.d_max, batch_size=batch_size,
                device=device, progress=progress)


def dissect_run(
    run_dir: str | Path, *, split: str = "train", max_images: int | None = None, batch_size: int = 16,
    device: str = "cpu", progress: bool = False,
) -> Any:
    """Return the :class:`~mdeinterp.analysis.Dissection` of a run's studied layers, cached in the run directory.

    K per layer is the run's ``num_bins`` or ``min(units, 64)``, over the SID range of its data. With
    ``max_images=None`` (the default) every image of ``split`` is dissected, as the sum of two halves
    (:func:`dissect_halves`); otherwise the first ``max_images`` images.
    """
    from .analysis import Dissection, dissect
    from .stability import combine

    if max_images is None:
        return combine(*dissect_halves(run_dir, split=split, batch_size=batch_size, device=device, progress=progress))
    run_dir = Path(run_dir)
    cache = run_dir / f"dissection_{split}_{max_images}.h5"
    model, config = load_run(run_dir, device)
    layers = studied_layers(model, config)
    if cache.exists():
        cached = Dissection.load(cache)
        if list(cached) == list(layers):  # a cache of other layers (older code) is recomputed
            return cached
    data = dissection_data(config, split)
    result = dissect(model, data, layers, max_images=max_images, **_dissect_options(config, batch_size, device, progress))
    result.save(cache)
    return result


def layer_summary(run_dir: str | Path, **dissect_options: Any) -> pd.DataFrame:
    """Return one row per dissected layer of a run: :meth:`Dissection.summary`, and with all images (the
    default) the split-half spread and unit stability of :func:`mdeinterp.stability.split_half_summary`."""
    from .stability import split_half_summary

    if dissect_options.get("max_images") is not None:
        return dissect_run(run_dir, **dissect_options).summary()
    options = {k: v for k, v in dissect_options.items() if k != "max_images"}
    return split_half_summary(*dissect_halves(run_dir, **options))


def selectivity_table(dirs: Iterable[str | Path], **dissect_options: Any) -> pd.DataFrame:
    """Return one row per run x dissected layer: run labels, mean/median selectivity, near-assigned share
    (and, dissecting all images, the split-half columns of :func:`layer_summary`).

    ``assigned`` is True when the run's training objective assigned bins to that layer.
    """
    from .selectivity import chance_near_fraction

    tables = []
    for run_dir in map(Path, dirs):
        config = load_config(str(run_dir / "config.json"))
        summary = layer_summary(run_dir, **dissect_options)
        summary["assigned"] = summary["layer"].isin(config.layers) & (config.alpha != 0)
        summary["chance_near"] = [chance_near_fraction(int(k)) for k in summary["bins"]]
        _label(summary, run_dir.name, run_info(config))
        tables.append(summary)
    return pd.concat(tables, ignore_index=True)


def _label(table: pd.DataFrame, name: str, info: Mapping[str, Any]) -> None:
    """Insert ``name`` and the :func:`run_info` columns in front of ``table`` (in place)."""
    for key, value in reversed(list({"name": name, **info}.items())):
        table.insert(0, key, value)


def chance_dissections(
    run_dir: str | Path, seeds: Sequence[int] = (0, 1, 2), *, max_images: int | None = None, batch_size: int = 16,
    device: str = "cpu",
) -> dict[int, tuple[Any, Any]]:
    """Return seed -> the two half dissections of an untrained (randomly initialised) network of a run's
    architecture, on the run's dissection data; cached in the run directory as ``chance_s<seed>_half*.h5``.

    With ``max_images`` only the first ``max_images`` images are used (not cached).
    """
    import torch
    from torch.utils.data import Subset

    from .models import create_model
    from .stability import dissect_halves as halves_of

    run_dir = Path(run_dir)
    config = load_config(str(run_dir / "config.json"))
    data = dissection_data(config, "train")
    if max_images is not None:
        data = Subset(data, range(min(max_images, len(data))))
    options = _dissect_options(config, batch_size, device, False)
    out = {}
    for seed in seeds:
        torch.manual_seed(seed)
        model = create_model(config.model.arch).to(device).eval()
        layers = studied_layers(model, config)
        compute = lambda model=model, layers=layers: halves_of(model, data, layers, **options)  # noqa: E731
        out[seed] = (compute() if max_images is not None
                     else _cached_halves(run_dir, f"chance_s{seed}", layers, compute))
    return out


def chance_selectivity(
    run_dir: str | Path, seeds: Sequence[int] = (0, 1, 2), *, max_images: int | None = None, batch_size: int = 16,
    device: str = "cpu",
) -> pd.DataFrame:
    """Return the selectivity of untrained networks (random initialisation) on a run's dissection data.

    One row per seed x layer, like :func:`selectivity_table` with method "random init": the chance level
    that trained selectivity is to be read against (a small network with K bins is far from 0 untrained).
    """
    from .stability import split_half_summary

    config = load_config(str(Path(run_dir) / "config.json"))
    rows = []
    for seed, halves in chance_dissections(run_dir, seeds, max_images=max_images, batch_size=batch_size,
                                           device=device).items():
        summary = split_half_summary(*halves)
        _label(summary, f"random_init_s{seed}", _chance_info(config, seed))
        rows.append(summary)
    return pd.concat(rows, ignore_index=True)


def chance_units(run_dir: str | Path, seeds: Sequence[int] = (0, 1, 2), **options: Any) -> pd.DataFrame:
    """Return one row per untrained seed x layer x unit (the chance level of claim C1), like :func:`unit_table`."""
    from .stability import combine

    config = load_config(str(Path(run_dir) / "config.json"))
    tables = []
    for seed, halves in chance_dissections(run_dir, seeds, **options).items():
        table = combine(*halves).table()
        _label(table, f"random_init_s{seed}", _chance_info(config, seed))
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _chance_info(config: TrainConfig, seed: int) -> dict[str, Any]:
    return {**run_info(config), "method": "random init", "alpha": 0.0, "layers": "", "seed": seed}


def unit_table(dirs: Iterable[str | Path], **dissect_options: Any) -> pd.DataFrame:
    """Return one row per run x layer x unit (:meth:`Dissection.table` with run labels)."""
    tables = []
    for run_dir in map(Path, dirs):
        config = load_config(str(run_dir / "config.json"))
        table = dissect_run(run_dir, **dissect_options).table()
        _label(table, run_dir.name, run_info(config))
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def settings(specs: Sequence[RunSpec]) -> dict[str, list[str]]:
    """Return setting -> run names: "main", "bts", "outdoor" and "layer:<name>" (first baseline + that single-layer run)."""
    out = {tag: [s.name for s in select(specs, tag)] for tag in ("main", "bts", "outdoor")}
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


# ---- single-run analyses -----------------------------------------------------------------------------


def top_units(response: Any, count: int, most: bool = True) -> list[int]:
    """Return the ``count`` most (or least) depth-selective units of a LayerResponse, most selective first."""
    order = np.argsort(-response.selectivity.numpy() if most else response.selectivity.numpy(), kind="stable")
    return [int(u) for u in order[:count]]


def unit_activations(model: Any, sample: Mapping, layer: str) -> Any:
    """Return the (C, h, w) activation of ``layer`` for one dataset sample (image (3, H, W) normalised)."""
    import torch

    from . import hooks
    from .evaluate import predict

    batch = {key: value[None] if torch.is_tensor(value) else [value] for key, value in sample.items()}
    with torch.no_grad(), hooks.capture(model, [layer], detach=True) as acts:
        predict(model.eval(), batch, "cpu")
    return acts[layer][0]


def intervention_table(
    run_dir: str | Path, layers: Sequence[str], kind: str = "ablation", *, split: str = "test",
    num_ranges: int = 4, random_draws: int = 3, max_images: int | None = None, dissect_images: int | None = None,
    batch_size: int = 16,
) -> pd.DataFrame:
    """Return ablation (or correction) rows of one run for each layer, with ``name`` and ``layer`` columns.

    Units are grouped by preferred depth range from the run's dissection (``dissect_images`` training images);
    errors are measured on ``split``.
    """
    from .analysis import ablation_experiment, correction_experiment

    experiment = {"ablation": ablation_experiment, "correction": correction_experiment}[kind]
    model, config = load_run(run_dir)
    dissection = dissect_run(run_dir, max_images=dissect_images)
    data = dissection_data(config, split)
    tables = []
    for layer in layers:
        rows = experiment(model, data, dissection[layer], num_ranges=num_ranges, random_draws=random_draws,
                          max_images=max_images, batch_size=batch_size)
        tables.append(rows.assign(name=Path(run_dir).name, layer=layer))
    return pd.concat(tables, ignore_index=True)


def correction_maps(run_dir: str | Path, layer: str, index: int = 0, *, split: str = "test",
                    dissect_images: int | None = None) -> dict[str, Any]:
    """Return image, depth, prediction before and after correcting every unit of ``layer`` for one test sample.

    Predictions and depth are (H, W) metres; the corrected units take their dissected mean response for the
    true depth bin at each pixel.
    """
    from torch.utils.data import Subset

    from .analysis import correction_intervention, predict

    model, config = load_run(run_dir)
    response = dissect_run(run_dir, max_images=dissect_images)[layer]
    sample_set = Subset(dissection_data(config, split), [index])
    (before, depth), = predict(model, sample_set)
    (after, _), = predict(model, sample_set, intervention=correction_intervention(model, response, range(response.num_units)))
    return {"image": sample_set[0]["image"], "depth": depth[0, 0], "pred_before": before[0, 0], "pred_after": after[0, 0]}


def sweep_table(metrics: pd.DataFrame, selectivity: pd.DataFrame) -> pd.DataFrame:
    """Return one row per run: accuracy, ``bins`` (effective K) and mean selectivity over the assigned layers (D, MFF)."""
    assigned = selectivity[selectivity["layer"].isin(ASSIGNED_MFF)]
    per_run = assigned.groupby("name").agg(mean_selectivity=("mean_selectivity", "mean"), bins=("bins", "max"),
                                           near_assigned=("near_assigned", "mean")).reset_index()
    return metrics.merge(per_run, on="name")


# ---- summary tables ----------------------------------------------------------------------------------

ACCURACY_COLUMNS = ("d1", "d2", "d3", "abs_rel", "rmse", "log10")


def summarise(table: pd.DataFrame, by: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """Return per group of ``by``: ``<value>_mean``, ``<value>_std`` (over seeds; 0 for one seed) and ``seeds``."""
    grouped = table.groupby(list(by), sort=False, dropna=False)
    out = grouped[list(values)].agg(["mean", "std"])
    out.columns = [f"{value}_{stat}" for value, stat in out.columns]
    out = out.fillna({c: 0.0 for c in out.columns if c.endswith("_std")})
    out["seeds"] = grouped.size().to_numpy()
    return out.reset_index()


def pivot_selectivity(selectivity: pd.DataFrame) -> pd.DataFrame:
    """Return one row per run with a ``DS_<layer>`` column of mean selectivity per dissected layer."""
    wide = selectivity.pivot_table(index="name", columns="layer", values="mean_selectivity", sort=False)
    wide.columns = [f"DS_{layer}" for layer in wide.columns]
    return wide.reset_index()


def bin_occupancy(config: TrainConfig, num_bins: int, split: str = "train") -> dict[str, Any]:
    """Return how a run's data fills its SID bins: per-bin shares of valid pixels and a one-line summary.

    Keys: ``shares`` (K,) numpy array; ``summary``: data kind, K, d_min, d_max, images, emptiest bin share,
    number of bins under :data:`mdeinterp.stability.MIN_SHARE`, and the share of depth pixels beyond
    ``d_max`` (invalid for dissection and evaluation).
    """
    from .selectivity import sid_edges
    from .stability import MIN_SHARE, bin_shares

    data = dissection_data(config, split)
    depths = [data[i]["depth"] for i in range(len(data))]
    shares = bin_shares(depths, sid_edges(num_bins, config.data.d_min, config.data.d_max)).numpy()
    positive = sum(int((d > 0).sum()) for d in depths)
    beyond = sum(int((d > config.data.d_max).sum()) for d in depths)
    summary = {
        "data": run_info(config)["data"], "bins": num_bins, "d_min": config.data.d_min, "d_max": config.data.d_max,
        "images": len(data), "emptiest_bin_share": float(shares.min()),
        "bins_under_min_share": int((shares < MIN_SHARE).sum()), "beyond_d_max_share": beyond / max(positive, 1),
    }
    return {"shares": shares, "summary": summary}


def noise_table(selectivity: pd.DataFrame, chance: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return per model x data x method x layer: mean DS over seeds with its seed std, the mean split-half
    spread, DS over well-filled bins, and preferred-bin agreement between halves (untrained rows from ``chance``).

    Both tables come from :func:`selectivity_table` / :func:`chance_selectivity` dissecting all images.
    """
    table = pd.concat([selectivity, chance]) if chance is not None else selectivity
    values = ["mean_selectivity", "selectivity_spread", "filled_selectivity", "preferred_agreement", "near_assigned"]
    return summarise(table, ["model", "data", "method", "layers", "layer", "bins"], values)


def main_table(metrics: pd.DataFrame, selectivity: pd.DataFrame) -> pd.DataFrame:
    """Return tab_main: per model x data x method, accuracy and mean selectivity ``DS_<layer>`` per layer, mean and std over seeds."""
    # metrics' own sel_<layer> columns are the training objective's batch terms, not the dissection
    wide = metrics.drop(columns=[c for c in metrics if c.startswith("sel_")]).merge(pivot_selectivity(selectivity), on="name")
    values = [c for c in ACCURACY_COLUMNS if c in wide] + [c for c in wide.columns if c.startswith("DS_")]
    values = [c for c in values if wide[c].notna().any()]
    return summarise(wide, ["model", "data", "method", "layers"], values)


def layer_table(metrics: pd.DataFrame, selectivity: pd.DataFrame) -> pd.DataFrame:
    """Return tab_layers: for each assigned layer set, baseline vs interpretable selectivity on those layers and accuracy.

    ``metrics``/``selectivity`` hold the baseline run(s) and single-layer runs of one model.
    """
    rows = []
    interp = metrics[metrics["method"] == "interpretable"]
    base = metrics[metrics["method"] == "baseline"]
    for _, run in interp.iterrows():
        layers = run["layers"].split("+")
        for method, runs in (("baseline", base), ("interpretable", interp[interp["name"] == run["name"]])):
            sel = selectivity[selectivity["name"].isin(runs["name"]) & selectivity["layer"].isin(layers)]
            rows.append({
                "assigned_layers": run["layers"], "method": method,
                **{c: runs[c].mean() for c in ACCURACY_COLUMNS if c in runs},
                "mean_selectivity": sel["mean_selectivity"].mean(),
                "near_assigned": sel["near_assigned"].mean(),
            })
    return pd.DataFrame(rows)


def models_data_table(accuracy: pd.DataFrame, selectivity: pd.DataFrame,
                      settings: Sequence[str] = ("main", "bts", "outdoor")) -> pd.DataFrame:
    """Return tab_models_datasets: per setting x method, accuracy and mean selectivity over the setting's assigned layers.

    ``accuracy``/``selectivity`` carry a ``setting`` column (:func:`by_setting`); means and stds are over seeds.
    """
    sel = selectivity[selectivity["setting"].isin(settings)]
    assigned = sel[sel["assigned"].astype(bool)].groupby("setting")["layer"].unique().to_dict()
    keep = [layer in assigned.get(setting, ()) for setting, layer in zip(sel["setting"], sel["layer"])]
    per_run = (sel[keep].groupby(["setting", "name"])["mean_selectivity"].mean()
               .rename("sel_assigned").reset_index())
    wide = accuracy[accuracy["setting"].isin(settings)].merge(per_run, on=["setting", "name"])
    values = [c for c in ACCURACY_COLUMNS if c in wide] + ["sel_assigned"]
    return summarise(wide, ["setting", "model", "data", "method"], values)


def format_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Return ``table`` with ``x_mean``/``x_std`` pairs merged into "mean ± std" strings (for Markdown)."""
    out = pd.DataFrame(index=table.index)
    for column in table.columns:
        if column.endswith("_std") and column[:-4] + "_mean" in table:
            continue
        if column.endswith("_mean") and column[:-5] + "_std" in table:
            mean, std = table[column], table[column[:-5] + "_std"]
            out[column[:-5]] = ["–" if pd.isna(m) else f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(mean, std)]
        elif pd.api.types.is_float_dtype(table[column]):
            out[column] = table[column].map(lambda v: f"{v:.{digits}f}")
        else:
            out[column] = table[column].astype(str)
    return out


def to_markdown(table: pd.DataFrame) -> str:
    """Return ``table`` as a GitHub Markdown table (all cells as given, no index)."""
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def write_table(table: pd.DataFrame, path_stem: str | Path, digits: int = 3) -> tuple[Path, Path]:
    """Write ``table`` to ``<stem>.csv`` (raw numbers) and ``<stem>.md`` ("mean ± std" cells) atomically."""
    stem = Path(path_stem)
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(md_path) as tmp:
        tmp.write_text(to_markdown(format_table(table, digits)))
    return csv_path, md_path


def write_result(table: pd.DataFrame, folder: str | Path, name: str) -> Path:
    """Write a tidy result table to ``folder/results/<name>.csv`` atomically (claims are computed from these)."""
    path = Path(folder) / "results" / f"{name}.csv"
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def read_result(folder: str | Path, name: str) -> pd.DataFrame:
    """Return the result table written by :func:`write_result`."""
    path = Path(folder) / "results" / f"{name}.csv"
    if not path.exists():
        raise DataError(f"result table {path} does not exist; run the notebook that writes {name!r} first")
    return pd.read_csv(path)


__all__ = [
    "SCALES", "ALPHA", "ALPHA_SWEEP", "BIN_SWEEP", "RunSpec", "plan", "select", "run_all", "run_dirs", "load_run",
    "run_info", "collect_metrics", "training_history", "studied_layers", "dissection_data", "dissect_halves",
    "dissect_run", "layer_summary", "chance_dissections", "chance_selectivity", "chance_units", "bin_occupancy",
    "noise_table",
    "selectivity_table", "unit_table", "summarise", "pivot_selectivity", "main_table", "layer_table", "models_data_table",
    "format_table", "to_markdown", "settings", "by_setting", "top_units", "unit_activations",
    "intervention_table", "correction_maps", "sweep_table", "write_table", "write_result", "read_result",
]
