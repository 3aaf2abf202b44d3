"""Run directories and what is cached in them: trained models, metrics, dissections, interventions.

Every function takes run directories written by :func:`mdeinterp.train.train` (or the run's config) and
returns tidy pandas tables labelled with :func:`run_info` columns: one row per run
(:func:`collect_metrics`), per run x layer (:func:`selectivity_table`, :func:`chance_selectivity`) or per
unit (:func:`unit_table`, :func:`chance_units`). Dissections are cached in the run directory
(``dissection_train_half{0,1}.h5``: all training images as two disjoint halves), so re-plotting never
re-dissects. Run-directory layout and checkpoint policy belong to :mod:`mdeinterp.runs`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from .config import TrainConfig, load_config
from .errors import DataError
from .runs import run_info


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[Any, TrainConfig]:
    """Return (model in eval mode with the run's final weights, its TrainConfig) from a run directory."""
    from .models import create_model, load_checkpoint

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise DataError(f"{run_dir} is not a run directory (no config.json); expected a folder written by train")
    config = load_config(str(run_dir / "config.json"))
    model = create_model(config.model.arch, **{**config.model.options(), "pretrained": None})  # e.g. max_depth
    load_checkpoint(run_dir / "checkpoint.pt", model)
    return model.to(device).eval(), config


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


def dissection_data(config: TrainConfig, split: str = "train", progress: bool = False) -> Any:
    """Return the dataset a run is dissected on: ``split`` of its data, without augmentation (paper: train).

    ``progress`` shows a bar while synthetic scenes are rendered (first use only; off in notebooks, where a
    bar would stay half-drawn in the executed copy).
    """
    from .data import make_dataset

    return make_dataset(replace(config.data, augment=False), split, progress=progress)


def _cached(paths: Sequence[Path], layers: Sequence[str], compute: Any) -> tuple[Any, ...]:
    """Return the dissections cached at ``paths`` (one per path), computing and saving them when absent or stale."""
    from .analysis import Dissection

    if all(p.exists() for p in paths):
        cached = tuple(Dissection.load(p) for p in paths)
        if all(list(c) == list(layers) for c in cached):  # a cache of other layers (older code) is recomputed
            return cached
    results = tuple(compute())
    for result, path in zip(results, paths):
        result.save(path)
    return results


def _cached_halves(folder: Path, stem: str, layers: Sequence[str], compute: Any) -> tuple[Any, Any]:
    """Return the two half dissections cached as ``folder/<stem>_half{0,1}.h5`` (see :func:`_cached`)."""
    return _cached([folder / f"{stem}_half{i}.h5" for i in (0, 1)], layers, compute)


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
    from .analysis import dissect
    from .stability import combine

    if max_images is None:
        return combine(*dissect_halves(run_dir, split=split, batch_size=batch_size, device=device, progress=progress))
    run_dir = Path(run_dir)
    model, config = load_run(run_dir, device)
    layers = studied_layers(model, config)
    options = _dissect_options(config, batch_size, device, progress)
    (result,) = _cached([run_dir / f"dissection_{split}_{max_images}.h5"], layers, lambda: (
        dissect(model, dissection_data(config, split), layers, max_images=max_images, **options),))
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


def intervention_tables(run_dirs: Sequence[str | Path], layers: Sequence[str], kind: str = "ablation",
                        **options: Any) -> pd.DataFrame:
    """Return :func:`intervention_table` of every run in ``run_dirs`` (e.g. one per seed), stacked; ``name`` tells them apart."""
    return pd.concat([intervention_table(run, layers, kind, **options) for run in run_dirs], ignore_index=True)


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


def depth_bins(config: TrainConfig) -> int:
    """Return the number of SID bins K a run of ``config`` is dissected with: its ``num_bins``, else
    ``min(units, 64)`` of the model's first studied layer (found by running one test image)."""
    from .analysis import activation_maps
    from .models import create_model
    from .selectivity import default_num_bins

    if config.num_bins is not None:
        return int(config.num_bins)
    model = create_model(config.model.arch, pretrained=None).eval()
    layer = studied_layers(model, config)[0]
    return default_num_bins(activation_maps(model, dissection_data(config, "test")[0], [layer])[layer].shape[1])


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


__all__ = [
    "load_run", "run_info", "collect_metrics", "training_history", "studied_layers", "dissection_data",
    "dissect_halves", "dissect_run", "layer_summary", "selectivity_table", "chance_dissections",
    "chance_selectivity", "chance_units", "unit_table", "intervention_table", "intervention_tables", "correction_maps",
    "depth_bins",
    "bin_occupancy",
]
