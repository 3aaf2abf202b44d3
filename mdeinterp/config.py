"""Run configuration: one frozen dataclass per concern (data, model, training) and named presets.

A preset is data: :data:`PRESETS` maps a name to a :class:`TrainConfig`. :func:`build_config`
takes a preset and flat overrides that share their names with the CLI flags and the papermill
parameters (``alpha``, ``layers``, ``batch_size``, ``data`` for the data path, ``model`` ...).

This module is a leaf: it imports nothing from the package but :mod:`mdeinterp.errors` (itself a
leaf), so ``import mdeinterp.config`` stays cheap (no torch, no h5py). Configs hold values; the
names those values may take belong to their registries and are checked there: data formats by
:func:`mdeinterp.data.make_dataset` (which also resolves ``"auto"``), losses by
:func:`mdeinterp.losses.get_loss`, optimisers by :func:`mdeinterp.train.make_optimizer`, layers by
the model (:func:`mdeinterp.hooks.resolve`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import ConfigError, DataError, closest, unknown_name

SCHEDULES = ("step", "poly")  # learning-rate schedules, implemented by mdeinterp.train.learning_rate


def _field(default: Any, help: str) -> Any:
    """Return a dataclass field with ``default`` whose ``help`` is the CLI flag's help (:func:`mdeinterp.cli.config_flags`)."""
    return field(default=default, metadata={"help": help})


#: Renderer versions of the embedded scenes this package renders, and the default (mdeinterp.data.render.LAYOUTS).
RENDERER_VERSIONS = (4, 5)
RENDERER_VERSION = 5

#: SID range (metres) of each format and synthetic kind, used when a DataConfig does not state one. NYUv2 0.75-10 m and
#: KITTI 3-80 m are the paper's. The embedded scenes' ranges are declared from their depth distributions as NYUv2's fits
#: NYUv2: with 32 bins every bin holds >= 0.1% of the valid training pixels (docs/history.md, "Depth bins the data fills").
DEPTH_RANGES: dict[str, tuple[float, float]] = {
    "indoor": (1.2, 8.0), "outdoor": (4.0, 80.0),  # synthetic scenes, by kind
    "nyu_labeled": (0.75, 10.0), "mff_csv": (0.75, 10.0), "kitti_eigen": (3.0, 80.0),
}


@dataclass(frozen=True)
class DataConfig:
    """Which images and depth maps to train and evaluate on, and their preprocessing."""

    format: str = _field("synthetic", "a name of mdeinterp.data.DATASET_BUILDERS, or auto (inferred from the path)")
    path: str | None = _field(None, "real data: the file to read; synthetic: the cache folder")
    kind: str = _field("indoor", "synthetic scenes: indoor (NYUv2-like) or outdoor (KITTI-like)")
    n_train: int = _field(2000, "synthetic only: number of rendered training images")
    n_test: int = _field(200, "synthetic only: number of rendered test images")
    height: int = _field(96, "network input height in pixels")
    width: int = _field(128, "network input width in pixels")
    data_seed: int = _field(0, "synthetic only: renderer seed (the test split uses a disjoint stream)")
    renderer: int = _field(RENDERER_VERSION, "synthetic only: renderer version, 5 (handheld camera) or 4 (fixed camera)")
    d_min: float | None = _field(None, "SID alpha in metres (default: the format's or scenes' range, NYUv2 0.75)")
    d_max: float | None = _field(None, "SID beta and evaluation cap in metres (default: the format's, NYUv2 10)")
    depth_scale: float | None = _field(
        None, "metres per stored depth unit of PNG/TIFF lists (default: 16-bit mm, 8-bit 10/255 m); "
              "1 declares float depth in metres")
    augment: bool = _field(True, "flip, small rotation, colour jitter on the training split")
    sparse_points: int = _field(0, "depth completion: valid ground-truth pixels per image given as input (0 = none)")

    @property
    def garg_crop(self) -> bool:
        """Whether evaluation keeps only Garg et al.'s window: KITTI (Eigen split), as the paper and BTS do."""
        return self.format == "kitti_eigen"

    def __post_init__(self) -> None:
        if not isinstance(self.format, str) or not self.format:
            raise ConfigError(f"data format must be a name, got {self.format!r}")
        if self.kind not in ("indoor", "outdoor"):
            raise ConfigError(f"synthetic kind {self.kind!r} is unknown; expected 'indoor' or 'outdoor'")
        for name in ("n_train", "n_test", "height", "width"):
            _positive_int(name, getattr(self, name))
        if isinstance(self.renderer, bool) or self.renderer not in RENDERER_VERSIONS:
            raise ConfigError(f"renderer version {self.renderer!r} is unknown; expected one of "
                              f"{', '.join(map(str, RENDERER_VERSIONS))}")
        # An unstated range is the data's own: the scenes' by kind, a real format's; "auto" waits for its format.
        default = DEPTH_RANGES.get(self.kind if self.format == "synthetic" else self.format)
        for name, index in (("d_min", 0), ("d_max", 1)):
            if getattr(self, name) is None and default is not None:
                object.__setattr__(self, name, default[index])
        if self.sparse_points != 0:
            _positive_int("sparse_points", self.sparse_points)
        if self.d_min is not None and self.d_max is not None and not (0 < float(self.d_min) < float(self.d_max)):
            raise ConfigError(f"need 0 < d_min < d_max, got d_min={self.d_min}, d_max={self.d_max}")
        if self.depth_scale is not None and not (isinstance(self.depth_scale, (int, float)) and self.depth_scale > 0):
            raise ConfigError(f"depth_scale must be a positive number of metres per unit, got {self.depth_scale!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Which architecture to build (a name of :func:`mdeinterp.models.create_model`)."""

    arch: str = _field("mff_tiny", "architecture name (see mdeinterp.models.list_models())")
    pretrained: str | None = _field(None, "None (random init) or a local encoder checkpoint path")
    init_depth: float | None = _field(None, "metres the untrained output starts at (MFF models); None: PyTorch's init")
    max_depth: float | None = _field(None, "metres of a bounded output (BTS models: sigmoid x max_depth); None: the model's")

    def __post_init__(self) -> None:
        if isinstance(self.pretrained, str) and self.pretrained.strip().lower() in ("none", ""):
            object.__setattr__(self, "pretrained", None)  # `--pretrained None`, as the flag's help says

    def options(self) -> dict[str, Any]:
        """Return the keyword options of ``create_model(self.arch, **options)`` (unset ones left out)."""
        options: dict[str, Any] = {"pretrained": self.pretrained}
        for name in ("init_depth", "max_depth"):
            if getattr(self, name) is not None:
                options[name] = getattr(self, name)
        return options


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; serialised as ``config.json`` in its run directory."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = _field(10, "passes over the training split")
    batch_size: int = _field(8, "images per optimiser step")
    lr: float = _field(1e-4, "learning rate")
    weight_decay: float = _field(1e-4, "weight decay of the optimiser")
    optimizer: str = _field("adam", "adam (MFF) or adamw (BTS)")
    schedule: str = _field("step", "step: lr x gamma every step_size epochs; poly: poly decay to end_lr")
    step_size: int = _field(5, "epochs between learning-rate drops (schedule step)")
    gamma: float = _field(0.1, "learning-rate factor per drop (schedule step)")
    end_lr: float = _field(1e-5, "final learning rate (schedule poly)")
    loss: str = _field("mff", "mff (log-L1 + gradient + normal) or silog (BTS)")
    alpha: float = _field(0.0, "weight of the selectivity term; 0 = baseline, 0.1 = the paper's")
    layers: tuple[str, ...] = _field(("D", "MFF"), "comma-separated module names that get the selectivity term")
    num_bins: int | None = _field(None, "depth bins K (default min(units of the layer, 64))")
    seed: int = _field(0, "seed of weights, data order and augmentation")
    device: str = _field("auto", "auto (CUDA when available), cpu, cuda or cuda:N")
    num_workers: int = _field(0, "DataLoader worker processes")
    max_steps: int | None = _field(None, "stop after this many optimiser steps (quick runs, tests)")
    eval_every: int = _field(1, "evaluate on the test split every N epochs (and after the last)")
    amp: bool = _field(False, "bf16 autocast of forward and loss (CUDA, or CPU's bf16 autocast)")
    channels_last: bool = _field(False, "model weights and input images in torch.channels_last memory format")
    metric_averaging: str = _field("pixel", "test metrics pooled over pixels, or image: per image, then averaged")
    probe_images: int = _field(0, "after every epoch, log each studied layer's mean DS on the first N training images")

    def __post_init__(self) -> None:
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _positive_int("step_size", self.step_size)
        _positive_int("eval_every", self.eval_every)
        if self.max_steps is not None:
            _positive_int("max_steps", self.max_steps)
        if self.num_bins is not None:
            _positive_int("num_bins", self.num_bins)
            if self.num_bins < 2:
                raise ConfigError(f"num_bins must be at least 2 (DS compares a unit's best bin with the others), "
                                  f"got {self.num_bins}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ConfigError(f"num_workers must be an integer >= 0, got {self.num_workers!r}")
        if isinstance(self.probe_images, bool) or not isinstance(self.probe_images, int) or self.probe_images < 0:
            raise ConfigError(f"probe_images must be an integer >= 0, got {self.probe_images!r}")
        for name in ("lr", "weight_decay", "gamma", "end_lr", "alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        for name in ("lr", "gamma"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("weight_decay", "end_lr"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.alpha < 0:
            # a negative weight would push units away from their assigned bins while the run is labelled
            # "interpretable": not a setting of the paper, so refused rather than trained under a wrong label
            raise ConfigError(f"alpha must be >= 0 (the selectivity term's weight; 0.1 is the paper's), "
                              f"got {self.alpha}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule {self.schedule!r} is unknown; expected one of {', '.join(SCHEDULES)}")
        if isinstance(self.layers, str) or not all(isinstance(x, str) and x for x in self.layers):
            raise ConfigError(f"layers must be a sequence of module names, got {self.layers!r}")
        if self.alpha != 0 and not self.layers:
            raise ConfigError(f"alpha={self.alpha} needs at least one layer: add layers, e.g. --layers D,MFF")
        for name in ("amp", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.metric_averaging not in ("pixel", "image"):  # mdeinterp.metrics.AVERAGING
            raise ConfigError(f"metric_averaging {self.metric_averaging!r} is unknown; expected 'pixel' or 'image'")
        if not (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"device {self.device!r} is unknown; expected 'auto', 'cpu', 'cuda' or 'cuda:N'")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


_NYU = dict(d_min=0.75, d_max=10.0)
_KITTI = dict(d_min=3.0, d_max=80.0)
# The embedded scenes' SID ranges, declared from their depth distributions as NYUv2's 0.75-10 m fits NYUv2:
# with 32 bins every bin holds >= 0.1% of the valid training pixels (docs/history.md, "Depth bins the data fills").
# Indoor depths beyond 8 m (0.2% of pixels) are invalid; outdoor scenes fill 4-80 m.
_SYNTHETIC_INDOOR = dict(d_min=1.2, d_max=8.0)
_SYNTHETIC_OUTDOOR = dict(d_min=4.0, d_max=80.0)

PRESETS: dict[str, TrainConfig] = {
    # Embedded default: synthetic indoor scenes, CPU-sized MFF, batches of 8 at 48x64 with poly lr decay and
    # the output starting at 3 m. 12 epochs (6,000 steps): at 3,000 the runs were still gaining DS and accuracy; the
    # smaller input pays for part of the doubled steps (a step takes 0.51x the time of 64x96 alone, 0.65-0.75x with
    # two runs side by side: docs/tuning-log.md, "the retrain's regime"). The selectivity objective needs more than
    # 1,000 steps to act. The loss stays Hu et al.'s, the
    # paper's for MFF: loss="silog" lifts the near range (delta1 0.56 -> 0.71 over 3 seeds) but, at the paper's
    # alpha = 0.1, the term then raises the MFF layer's DS by 0.07 instead of 0.18 (docs/tuning-log.md, "Tuning log: accuracy
    # in every depth range").
    "tiny": TrainConfig(
        data=DataConfig(format="synthetic", kind="indoor", n_train=4000, n_test=200, height=48, width=64,
                        augment=False, **_SYNTHETIC_INDOOR),
        model=ModelConfig(arch="mff_tiny", init_depth=3.0),
        epochs=12, batch_size=8, lr=1e-3, weight_decay=1e-4, schedule="poly", end_lr=1e-5,
        num_bins=32,  # every layer: D and MFF 1 unit per bin, R.conv0/R.conv1 (64 units) 2 per bin, as the paper
        probe_images=256,
    ),
    # Outdoor as in the paper: BTS on KITTI-like streets, the BTS layers assigned (grid.BTS_LAYERS). 4 epochs
    # (1,200 steps): at 2 the assigned run's probe DS still rose by 0.017 (upconv2) and 0.019 (iconv2) per epoch.
    "tiny_outdoor": TrainConfig(
        data=DataConfig(format="synthetic", kind="outdoor", n_train=2400, n_test=200, height=64, width=192,
                        augment=False, **_SYNTHETIC_OUTDOOR),
        model=ModelConfig(arch="bts_tiny", max_depth=80.0),
        epochs=4, batch_size=8, lr=1e-3, weight_decay=1e-2, optimizer="adamw", schedule="poly", end_lr=1e-4,
        loss="silog", layers=("decoder.upconv2", "decoder.iconv2"), probe_images=256,
    ),
    # BTS on the indoor scenes; 4 epochs (2,000 steps): at 2 the assigned run's probe DS still rose by 0.031
    # (upconv2) and 0.079 (iconv2) in its last epoch.
    "tiny_bts": TrainConfig(
        data=DataConfig(format="synthetic", kind="indoor", n_train=4000, n_test=200, height=64, width=96,
                        augment=False, **_SYNTHETIC_INDOOR),
        model=ModelConfig(arch="bts_tiny"),
        epochs=4, batch_size=8, lr=1e-3, weight_decay=1e-2, optimizer="adamw", schedule="poly", end_lr=1e-4,
        loss="silog", layers=("decoder.upconv2", "decoder.iconv2"), probe_images=256,
    ),
    # Depth completion (CSPN): RGB + sparse depth; 44 sparse points at 64x96 are the paper's share of pixels
    # (500 per 228x304, mdeinterp.data.paper_share_points). The reference's layer3 (128 units) and layer4 (32)
    # with K = 32 bins keep the paper's 4 and 1 units per bin (256 and 64 units for 64 bins). 2,500 steps: at 1,500
    # the assigned run's probe DS still rose by 0.007 (layer3) and 0.022 (layer4) in its last epoch.
    "tiny_cspn": TrainConfig(
        data=DataConfig(format="synthetic", kind="indoor", n_train=4000, n_test=200, height=64, width=96,
                        augment=False, sparse_points=44, **_SYNTHETIC_INDOOR),
        model=ModelConfig(arch="cspn_tiny", init_depth=3.0),
        epochs=5, batch_size=8, lr=1e-3, weight_decay=1e-4, schedule="poly", end_lr=1e-5,
        layers=("layer3", "layer4"), num_bins=32, probe_images=256,
    ),
    # The paper's settings (PAPER.md): need the real data (`data=PATH`) and, in practice, a GPU. As the reference
    # code: test metrics averaged per image, MFF's step schedule counting epochs from 1 (train.learning_rate),
    # BTS on KITTI with its default batch of 16 and 20 epochs.
    "paper_mff_resnet50": TrainConfig(
        data=DataConfig(format="mff_csv", height=228, width=304, **_NYU),
        model=ModelConfig(arch="mff_resnet50"),
        epochs=20, batch_size=8, lr=1e-4, weight_decay=1e-4, optimizer="adam", schedule="step", step_size=5, gamma=0.1,
        metric_averaging="image",
    ),
    "paper_mff_senet154": TrainConfig(
        data=DataConfig(format="mff_csv", height=228, width=304, **_NYU),
        model=ModelConfig(arch="mff_senet154"),
        epochs=20, batch_size=8, lr=1e-4, weight_decay=1e-4, optimizer="adam", schedule="step", step_size=5, gamma=0.1,
        metric_averaging="image",
    ),
    # CSPN on NYUv2 with 500 sparse points (Cheng et al. train 40 epochs, batch 8; with SGD and an L1 loss,
    # which this package does not have: Adam and MFF's loss here).
    "paper_cspn_nyu": TrainConfig(
        data=DataConfig(format="mff_csv", height=228, width=304, sparse_points=500, **_NYU),
        model=ModelConfig(arch="cspn_resnet50"),
        epochs=40, batch_size=8, lr=1e-4, weight_decay=1e-4, optimizer="adam", schedule="step", step_size=10,
        gamma=0.1, layers=("layer3", "layer4"), metric_averaging="image",
    ),
    "paper_bts_nyu": TrainConfig(
        data=DataConfig(format="mff_csv", height=416, width=544, **_NYU),
        model=ModelConfig(arch="bts_densenet161"),
        epochs=30, batch_size=4, lr=1e-4, weight_decay=1e-2, optimizer="adamw", schedule="poly", end_lr=1e-5,
        loss="silog", layers=("decoder.upconv2", "decoder.iconv2"), metric_averaging="image",
    ),
    "paper_bts_kitti": TrainConfig(
        data=DataConfig(format="kitti_eigen", height=352, width=704, **_KITTI),
        model=ModelConfig(arch="bts_densenet161", max_depth=80.0),
        epochs=20, batch_size=16, lr=1e-4, weight_decay=1e-2, optimizer="adamw", schedule="poly", end_lr=1e-5,
        loss="silog", layers=("decoder.upconv2", "decoder.iconv2"), metric_averaging="image",
    ),
}

_DATA_FIELDS = {f.name for f in fields(DataConfig)}
_MODEL_FIELDS = {f.name for f in fields(ModelConfig)}
_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)} - {"data", "model"}


def get_preset(name: str) -> TrainConfig:
    """Return the preset called ``name``; raises :class:`ConfigError` listing the valid ones."""
    if name not in PRESETS:
        raise ConfigError(unknown_name("preset", name, PRESETS))
    return PRESETS[name]


def build_config(preset: str | TrainConfig = "tiny", **overrides: Any) -> TrainConfig:
    """Return ``preset`` with flat ``overrides`` applied.

    Keys are field names of :class:`TrainConfig`, :class:`DataConfig` or :class:`ModelConfig`,
    plus two aliases used by the CLI: ``data`` (a data path; its format becomes ``"auto"``, resolved
    from the file by :func:`mdeinterp.data.make_dataset`, unless ``format`` is given) and ``model``
    (an architecture name). ``None`` values are ignored,
    so unset CLI flags leave the preset alone. ``layers`` may be a comma-separated string.
    """
    base = get_preset(preset) if isinstance(preset, str) else preset
    data_kw: dict[str, Any] = {}
    model_kw: dict[str, Any] = {}
    train_kw: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "data":
            data_kw["path"] = str(value)
        elif key == "model":
            model_kw["arch"] = str(value)
        elif key in _TRAIN_FIELDS:
            train_kw[key] = value
        elif key in _DATA_FIELDS:
            data_kw[key] = value
        elif key in _MODEL_FIELDS:
            model_kw[key] = value
        else:
            valid = sorted(_TRAIN_FIELDS | _DATA_FIELDS | _MODEL_FIELDS | {"data", "model"})
            hint = closest(key, valid)
            raise ConfigError(f"unknown config field {key!r}" + (f"; did you mean {', '.join(hint)}?" if hint else ""))
    if "layers" in train_kw:
        train_kw["layers"] = parse_layers(train_kw["layers"])
    if "alpha" in train_kw:
        train_kw["alpha"] = _as_float("alpha", train_kw["alpha"])
    if "seed" in train_kw and isinstance(train_kw["seed"], str):
        raise ConfigError(f"seed must be an integer, got the string {train_kw['seed']!r}")
    if "path" in data_kw and "format" not in data_kw:
        # mdeinterp.data.make_dataset infers the format from the file; a missing path fails here already.
        if not os.path.exists(data_kw["path"]):
            raise DataError(f"data path {data_kw['path']} does not exist (expected an existing folder for the "
                            "synthetic cache, or a data file)")
        data_kw["format"] = "auto"
    data = replace(base.data, **data_kw) if data_kw else base.data
    model = replace(base.model, **model_kw) if model_kw else base.model
    return replace(base, data=data, model=model, **train_kw)


def parse_layers(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Return layer names from ``"D,MFF"`` or a sequence; an empty string gives ``()``."""
    if isinstance(value, str):
        return tuple(x.strip() for x in value.split(",") if x.strip())
    return tuple(value)


def _as_float(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None


def to_dict(config: TrainConfig) -> dict[str, Any]:
    """Return ``config`` as a JSON-serialisable nested dict."""
    return dataclasses.asdict(config)


def from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Return the :class:`TrainConfig` serialised by :func:`to_dict`; raise :class:`ConfigError` for a malformed dict."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a dict of fields, got {type(raw).__name__}")
    raw = dict(raw)
    parts = {}
    for key, cls in (("data", DataConfig), ("model", ModelConfig)):
        part = raw.pop(key, None)
        if not isinstance(part, dict):
            raise ConfigError(f"config lacks its {key!r} section (a dict of {cls.__name__} fields)")
        parts[key] = _build(cls, part, f"{key}.")
    if "layers" in raw:
        raw["layers"] = tuple(raw["layers"])
    return _build(TrainConfig, {**raw, **parts}, "")


def _build(cls: type, values: dict[str, Any], prefix: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"config has unknown field(s) {', '.join(prefix + k for k in unknown)} "
                          "(written by another version of mdeinterp?)")
    return cls(**values)


def to_json(config: TrainConfig) -> str:
    """Return ``config`` as the indented JSON text of a run directory's ``config.json``."""
    return json.dumps(to_dict(config), indent=2)


def load_config(path: str) -> TrainConfig:
    """Return the :class:`TrainConfig` stored in the JSON file ``path``."""
    with open(path) as fh:
        return from_dict(json.load(fh))
