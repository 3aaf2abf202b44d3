"""One trained run, as an object that owns what it reloads: config, model, data, cached dissections.

``run = Run.from_dir("runs/interp_s0")`` reads the run's ``config.json`` once. Everything else is built
on demand, and the expensive parts are cached twice: in memory, on the object, and on disk, in the run
directory (``dissection_train_half{0,1}.h5``, ``chance_s<seed>_half{0,1}.h5``), so re-plotting never
re-dissects::

    run.dissection()["D"].selectivity      # (C,) DS of every unit of D, all training images
    run.halves()                           # the two disjoint halves it is the sum of
    run.chance(seed=0)                     # an untrained network of the same architecture, same dissection
    run.interventions("ablation", ["D"])   # per-range errors with the units of each depth range zeroed
    run.completion_accuracy()              # a completion run with and without its sparse depth

The run directory's layout and checkpoint policy belong to :mod:`mdeinterp.rundir`; the definitions to
docs/method.md. :class:`~mdeinterp.experiments.Study` hands out runs by role (``study.run("main", ...)``).
A ``Run`` is also a path (``os.PathLike``), so the functions of :mod:`mdeinterp.results` take it too.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .config import TrainConfig, load_config
from .errors import DataError
from .io import atomic_write_text
from .lock import check_not_being_written, run_lock
from .rundir import read_metrics_csv, run_info
from .selectivity import CONTROL_BANDS

if TYPE_CHECKING:
    from torch import nn
    from torch.utils.data import Dataset

    from .dissection import Dissection

Halves = tuple["Dissection", "Dissection"]


@dataclass(frozen=True)
class Run:
    """A run directory written by :func:`mdeinterp.train.train` and the config it was trained with.

    Frozen: the path and config never change. The in-memory cache (``_cache``) holds what was computed
    (dissections by split and image count, untrained dissections by seed).
    """

    path: Path
    config: TrainConfig
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dir(cls, path: str | os.PathLike) -> Run:
        """Return the run stored in ``path`` (its ``config.json``); DataError when ``path`` is not a run directory."""
        path = Path(path)
        if not (path / "config.json").is_file():
            raise DataError(f"{path} is not a run directory (no config.json); expected a folder written by train")
        return cls(path, load_config(str(path / "config.json")))

    @classmethod
    def of(cls, run: str | os.PathLike) -> Run:
        """Return ``run`` itself when it is a Run, else the run stored in that directory (:meth:`from_dir`)."""
        return run if isinstance(run, Run) else cls.from_dir(run)

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        """Return the run's name: its folder's name."""
        return self.path.name

    @property
    def info(self) -> dict[str, Any]:
        """Return the :func:`~mdeinterp.rundir.run_info` labels of the run (model, data, method, alpha, ...)."""
        return run_info(self.config)

    @property
    def finished(self) -> bool:
        """Return True when the run has its final checkpoint and metrics."""
        return (self.path / "checkpoint.pt").is_file() and (self.path / "metrics.csv").is_file()

    # ---- model and data -----------------------------------------------------------------------------

    def model(self, device: str = "cpu") -> nn.Module:
        """Return the run's model in eval mode on ``device`` with its final weights (``checkpoint.pt``).

        Built with the run's model options (``init_depth``) as in training: a constant that is not in the
        checkpoint (CSPN's non-persistent depth offset, kept out so the public state dict loads strictly)
        is restored from the config, not lost.
        """
        from .models import create_model, load_checkpoint

        checkpoint = self.path / "checkpoint.pt"
        if not checkpoint.is_file():
            raise DataError(f"{checkpoint} does not exist; is {self.path} a finished run?")
        # the config's build options (e.g. BTS's max_depth) with no encoder download: the checkpoint has the weights
        model = create_model(self.config.model.arch, **{**self.config.model.options(), "pretrained": None})
        load_checkpoint(checkpoint, model)
        return model.to(device).eval()

    def untrained(self, seed: int, device: str = "cpu") -> nn.Module:
        """Return a randomly initialised network of the run's architecture (``torch.manual_seed(seed)``), eval mode."""
        import torch

        from .models import create_model

        torch.manual_seed(seed)
        return create_model(self.config.model.arch).to(device).eval()

    def data(self, split: str = "train", progress: bool = False) -> Dataset:
        """Return ``split`` of the run's data without augmentation (what it is dissected and evaluated on).

        ``progress`` shows a bar while synthetic scenes are rendered (first use only).
        """
        return dissection_data(self.config, split, progress)

    def layers(self) -> tuple[str, ...]:
        """Return the layers to dissect: the ``studied_layers`` the model declares, else the assigned layers."""
        if "layers" not in self._cache:
            from .models import create_model

            model = create_model(self.config.model.arch, pretrained=None)
            self._cache["layers"] = studied_layers(model, self.config)
        return self._cache["layers"]

    def num_bins(self) -> int:
        """Return the number of SID bins K the run is dissected with (:func:`bin_count` of its config)."""
        return bin_count(self.config)

    # ---- metrics ------------------------------------------------------------------------------------

    def history(self) -> pd.DataFrame:
        """Return the per-epoch metrics (``metrics.csv``) with a ``name`` column."""
        path = self.path / "metrics.csv"
        if not path.exists():
            raise DataError(f"{path} does not exist; is {self.path} a finished run?")
        table = read_metrics_csv(path)
        table.insert(0, "name", self.name)
        return table

    def metrics(self) -> dict[str, Any]:
        """Return name, the run's labels and its final epoch's metrics (no wall-clock seconds)."""
        history = self.history()
        last = history.iloc[-1].to_dict() if len(history) else {}
        for key in ("name", "seconds"):
            last.pop(key, None)
        return {"name": self.name, **self.info, **last}

    # ---- dissection ---------------------------------------------------------------------------------

    def _dissect_options(self, batch_size: int, device: str, progress: bool) -> dict[str, Any]:
        """Return :func:`~mdeinterp.dissection.dissect` keywords: the run's K and SID range.

        No empty-bin warning: a run's bin occupancy is reported by :meth:`bin_occupancy` (notebook 00).
        """
        return dict(num_bins=self.config.num_bins, d_min=self.config.data.d_min, d_max=self.config.data.d_max,
                    batch_size=batch_size, device=device, progress=progress, warn_empty=False, bands=CONTROL_BANDS)

    def _stamp(self, **what: Any) -> dict[str, Any]:
        """Return what a cached dissection of this run is computed from: checkpoint hash, layers, K, range, ``what``."""
        from .provenance import file_sha256

        checkpoint = self.path / "checkpoint.pt"
        if not checkpoint.is_file():
            raise DataError(f"{checkpoint} does not exist; is {self.path} a finished run?")
        options = self._dissect_options(16, "cpu", False)
        return {"checkpoint_sha256": file_sha256(checkpoint), "layers": list(self.layers()),
                **{k: options[k] for k in ("num_bins", "d_min", "d_max", "bands")}, **what}

    def halves(self, split: str = "train", *, batch_size: int = 16, device: str = "cpu",
               progress: bool = False) -> Halves:
        """Return the dissections of the studied layers on the two disjoint halves of ``split`` (cached).

        Their sum is :meth:`dissection`; their difference measures sampling noise
        (:func:`mdeinterp.stability.split_half_summary`).
        """
        key = ("halves", split)
        if key not in self._cache:
            from .stability import dissect_split

            def compute() -> Halves:
                return dissect_split(self.model(device), self.data(split), self.layers(),
                                     **self._dissect_options(batch_size, device, progress))

            self._cache[key] = _cached(self.path, [self.path / f"dissection_{split}_half{i}.h5" for i in (0, 1)],
                                       self.layers(), self._stamp(split=split, halves=True), compute)
        return self._cache[key]

    def dissection(self, max_images: int | None = None, *, split: str = "train", batch_size: int = 16,
                   device: str = "cpu", progress: bool = False) -> Dissection:
        """Return the :class:`~mdeinterp.dissection.Dissection` of the studied layers (cached in memory and on disk).

        K per layer is the run's ``num_bins`` or ``min(units, 64)``, over the SID range of its data. With
        ``max_images=None`` every image of ``split``, as the sum of the two :meth:`halves`; otherwise the
        first ``max_images`` images.
        """
        key = ("dissection", split, max_images)
        if key not in self._cache:
            if max_images is None:
                half_a, half_b = self.halves(split, batch_size=batch_size, device=device, progress=progress)
                self._cache[key] = half_a + half_b
            else:
                from .dissection import dissect

                def compute() -> tuple[Dissection]:
                    return (dissect(self.model(device), self.data(split), self.layers(), max_images=max_images,
                                    **self._dissect_options(batch_size, device, progress)),)

                (self._cache[key],) = _cached(self.path, [self.path / f"dissection_{split}_{max_images}.h5"],
                                              self.layers(), self._stamp(split=split, max_images=max_images), compute)
        return self._cache[key]

    def chance_halves(self, seed: int, *, max_images: int | None = None, batch_size: int = 16,
                      device: str = "cpu") -> Halves:
        """Return the two half dissections of an untrained network (seed ``seed``) on the run's training data.

        Cached as ``chance_s<seed>_half{0,1}.h5`` when all images are used; with ``max_images`` only the first
        ``max_images`` images (cached in memory only).
        """
        key = ("chance", seed, max_images)
        if key not in self._cache:
            from torch.utils.data import Subset

            from .stability import dissect_split

            data = self.data("train")
            if max_images is not None:
                data = Subset(data, range(min(max_images, len(data))))

            def compute() -> Halves:
                return dissect_split(self.untrained(seed, device), data, self.layers(),
                                     **self._dissect_options(batch_size, device, False))

            self._cache[key] = (compute() if max_images is not None else
                                _cached(self.path, [self.path / f"chance_s{seed}_half{i}.h5" for i in (0, 1)],
                                        self.layers(), self._stamp(split="train", halves=True, untrained_seed=seed),
                                        compute))
        return self._cache[key]

    def chance(self, seed: int, **options: Any) -> Dissection:
        """Return the dissection of an untrained network of the run's architecture (seed ``seed``): the chance level.

        ``options`` as :meth:`chance_halves` (max_images, batch_size, device).
        """
        half_a, half_b = self.chance_halves(seed, **options)
        return half_a + half_b

    def layer_summary(self, max_images: int | None = None, **options: Any) -> pd.DataFrame:
        """Return one row per dissected layer: :meth:`Dissection.summary`, and with all images (the default) the
        split-half spread and unit stability of :func:`mdeinterp.stability.split_half_summary`."""
        if max_images is not None:
            return self.dissection(max_images, **options).summary()
        from .stability import split_half_summary

        return split_half_summary(*self.halves(**options))

    # ---- interventions ------------------------------------------------------------------------------

    def interventions(self, kind: str, layers: Sequence[str], *, split: str = "test", num_ranges: int = 4,
                      random_draws: int = 3, max_images: int | None = None, dissect_images: int | None = None,
                      batch_size: int = 16, clean: bool = False) -> pd.DataFrame:
        """Return ablation (``kind="ablation"``) or correction rows for each layer, with ``name`` and ``layer`` columns.

        Units are grouped by preferred depth range from the run's dissection (``dissect_images`` training
        images); errors are measured on ``split``. All layers share one set of depth ranges in metres:
        ``num_ranges`` ranges of the first layer's SID bins (each layer's own when the layers share K).
        ``clean``: the controlled computation, on the clean units only (neither dead, near-silent nor
        position-coded: :meth:`~mdeinterp.selectivity.DepthResponse.clean`), selective and random alike.
        """
        from .errors import ConfigError
        from .interventions import ablation_experiment, correction_experiment
        from .metrics import depth_ranges

        experiments: dict[str, Callable[..., pd.DataFrame]] = {
            "ablation": ablation_experiment, "correction": correction_experiment}
        if kind not in experiments:
            raise ConfigError(f"unknown intervention kind {kind!r}; expected one of {', '.join(experiments)}")
        model = self.model()
        dissection = self.dissection(dissect_images)
        data = self.data(split)
        ranges = depth_ranges(dissection[layers[0]].edges, num_ranges) if layers else []
        keep = {layer: dissection[layer].clean() if clean else None for layer in layers}
        if clean and any(mask is None for mask in keep.values()):
            raise ConfigError(f"run {self.name}: its dissection has no position control (band sums), so clean units "
                              "cannot be told apart; dissect it again")
        tables = [experiments[kind](model, data, dissection[layer], ranges=ranges, random_draws=random_draws,
                                    max_images=max_images, batch_size=batch_size, keep=keep[layer])
                  .assign(name=self.name, layer=layer) for layer in layers]
        return pd.concat(tables, ignore_index=True)

    def ablation_by_size(self, layer: str, *, eval_images: int | None = None, dissect_images: int | None = None,
                         random_draws: int = 3, num_ranges: int = 4) -> pd.DataFrame:
        """Return :func:`mdeinterp.interventions.ablation_by_size` of ``layer`` on the run's test data, labelled with
        ``name`` and ``layer``.

        The units are grouped by the run's cached dissection (``dissect_images`` training images, None: all);
        errors are measured on the first ``eval_images`` test images (None: all).
        """
        from .interventions import ablation_by_size

        response = self.dissection(dissect_images)[layer]
        curve = ablation_by_size(self.model(), self.data("test"), response, num_ranges=num_ranges,
                                 random_draws=random_draws, seed=self.config.seed, max_images=eval_images)
        return curve.assign(name=self.name, layer=layer)

    def correction_maps(self, layer: str, index: int = 0, *, split: str = "test",
                        dissect_images: int | None = None) -> dict[str, Any]:
        """Return image, depth and the predictions before and after correcting every unit of ``layer`` for one sample.

        See :func:`mdeinterp.interventions.correction_maps`; the result goes into :func:`mdeinterp.plots.error_correction`.
        """
        from .interventions import correction_maps

        return correction_maps(self.model(), self.data(split)[index], self.dissection(dissect_images)[layer])

    def completion_accuracy(self, split: str = "test", *, batch_size: int = 16, device: str = "cpu") -> pd.DataFrame:
        """Return two rows, ``input`` "rgb+sparse" and "rgb only": the run's metrics on ``split`` with its sparse
        depth and with the sparse depth switched off (an all-zero map), labelled like :meth:`metrics`; metrics
        averaged as in training (``metric_averaging``).

        What the sparse depth buys a depth-completion model: the same weights, the same images, only the
        sparse input differs. ``sparse_points`` is the number of points per image each row was given.
        Raises :class:`DataError` for a run whose data has no sparse depth (``sparse_points`` 0).
        """
        from .data import make_dataset
        from .data.sparse import SparseDepthDataset
        from .inference import evaluate

        points = self.config.data.sparse_points
        if not points:
            raise DataError(f"run {self.name} has no sparse depth input (data sparse_points=0); completion accuracy "
                            "needs a depth-completion run (e.g. preset tiny_cspn)")
        with_sparse = self.data(split)
        without = SparseDepthDataset(make_dataset(replace(self.config.data, augment=False, sparse_points=0), split,
                                                  progress=False), 0, split, seed=self.config.data.data_seed)
        model = self.model(device)
        rows = [{"name": self.name, **self.info, "input": label, "sparse_points": count,
                 **evaluate(model, dataset, self.config.data.d_max, batch_size, device,
                            garg_crop=self.config.data.garg_crop, averaging=self.config.metric_averaging)}
                for label, count, dataset in (("rgb+sparse", points, with_sparse), ("rgb only", 0, without))]
        return pd.DataFrame(rows)

    def range_accuracy(self, num_ranges: int = 4, *, device: str = "cpu") -> pd.DataFrame:
        """Return the run's test accuracy per depth range: one row per range (range, range_lo, range_hi, share,
        n_pixels, metrics).

        The ranges are those of the ablation analysis: the run's K SID bins over its data's range, grouped into
        ``num_ranges`` ranges of consecutive bins (:func:`mdeinterp.interventions.range_errors`); metrics are
        pooled over each range's pixels and ``share`` is the range's part of all valid test pixels.
        """
        from .interventions import range_errors
        from .selectivity import sid_edges

        model, test = self.model(device), self.data("test")
        edges = sid_edges(self.num_bins(), self.config.data.d_min, self.config.data.d_max)
        table = range_errors(model, test, edges, num_ranges, batch_size=self.config.batch_size, device=device)
        table.insert(3, "share", table["n_pixels"] / table["n_pixels"].sum())
        return table

    def bin_occupancy(self, num_bins: int | None = None, split: str = "train") -> dict[str, Any]:
        """Return how the run's data fills its SID bins (:func:`bin_occupancy` of its config)."""
        return bin_occupancy(self.config, num_bins or self.num_bins(), split)


# ---- what needs only a config -------------------------------------------------------------------------


def studied_layers(model: Any, config: TrainConfig) -> tuple[str, ...]:
    """Return the layers to dissect: the ``studied_layers`` the model declares, else the config's assigned layers."""
    return tuple(getattr(model, "studied_layers", ())) or tuple(config.layers)


def dissection_data(config: TrainConfig, split: str = "train", progress: bool = False) -> Any:
    """Return the dataset a run of ``config`` is dissected on: ``split`` of its data, without augmentation."""
    from .data import make_dataset

    return make_dataset(replace(config.data, augment=False), split, progress=progress)


def bin_count(config: TrainConfig) -> int:
    """Return the number of SID bins K a run of ``config`` is dissected with: its ``num_bins``, else
    ``min(units, 64)`` of the model's first studied layer (found by running one test image)."""
    from .dissection import activation_maps
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


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".stamp.json")


def _stamp_matches(path: Path, stamp: dict[str, Any]) -> bool:
    """Return whether the cache at ``path`` records ``stamp``; warn naming what differs when it records another."""
    try:
        recorded = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        recorded = None
    if recorded == stamp:
        return True
    if path.exists():
        differ = sorted(k for k in set(stamp) | set(recorded or {}) if (recorded or {}).get(k) != stamp.get(k))
        warnings.warn(f"cached dissection {path} was computed from another checkpoint or settings "
                      f"({', '.join(differ)} differ); recomputing it", stacklevel=3)
    return False


def _cached(run_dir: Path, paths: Sequence[Path], layers: Sequence[str], stamp: dict[str, Any],
            compute: Callable[[], tuple[Any, ...]]) -> tuple[Any, ...]:
    """Return the dissections cached at ``paths`` (one per path), computing and saving them when absent or stale.

    A cache is used only when its stamp (``<file>.stamp.json``: the checkpoint's SHA-256 and the dissection
    settings) equals ``stamp`` and it validates; the folder must not be being trained. Computing and saving
    hold the folder's writer lock, so two processes never write one cache: a second process that needs it waits
    for the first to finish dissecting, then reads what it saved.
    """
    from .dissection import load_cached_dissection

    def load() -> tuple[Any, ...]:
        return tuple(load_cached_dissection(p, layers) if _stamp_matches(p, stamp) else None for p in paths)

    check_not_being_written(run_dir, wait_for=("dissecting",))
    cached = load()
    if all(c is not None for c in cached):
        return cached
    with run_lock(run_dir, what="dissecting", wait_for=("dissecting",)):
        with warnings.catch_warnings():  # a stale cache was named by the first look
            warnings.simplefilter("ignore")
            cached = load()  # another process may have saved it while this one waited
        if all(c is not None for c in cached):
            return cached
        results = tuple(compute())
        for result, path in zip(results, paths):
            _stamp_path(path).unlink(missing_ok=True)  # a kill between the two writes leaves no stamp: recomputed
            result.save(path)
            atomic_write_text(_stamp_path(path), json.dumps(stamp, sort_keys=True))
    return results


__all__ = ["Run", "studied_layers", "dissection_data", "bin_count", "bin_occupancy"]
