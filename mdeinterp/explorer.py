"""The unit explorer of notebook 02: choose a run, a layer and a unit, and see what the unit does.

For one unit it shows (:func:`unit_figure`): its mean response per depth bin in metres with its assigned and
preferred bin, its activation maps on four test images with the pixels of its preferred bin outlined, and
the change of AbsRel per depth range when it alone, and when its group (the units preferring the same depth
range), is ablated. The callbacks are plain functions of an :class:`ExplorerRun`; :func:`widget` wires them to
ipywidgets, and a notebook shows :func:`unit_figure` of a default selection as a static figure too, so a reader
without a kernel still sees one unit.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from torch import Tensor, nn
from torch.utils.data import Dataset, Subset, default_collate

from . import plots
from .dissection import Dissection, activation_maps, top_units
from .errors import ConfigError, LayerNotFoundError
from .interventions import ablate_units, range_errors, range_groups, unit_range
from .selectivity import DepthResponse

SHOWN_IMAGES = 4  # test images the activation maps are drawn on
NUM_RANGES = 4  # depth ranges of the ablation panel, as in notebooks 03 and 05


@dataclass
class ExplorerRun:
    """What the explorer needs of one run: its model, dissection, the shown test samples and the evaluation data."""

    name: str
    model: nn.Module
    dissection: Dissection
    samples: list[dict]  # SHOWN_IMAGES test samples: image (3, H, W), depth (1, H, W) metres
    evaluation: Dataset  # test images the ablation panel is measured on
    baselines: dict[str, pd.DataFrame] = field(default_factory=dict)  # layer -> unablated range errors (cache)
    ablations: dict[tuple[str, int], pd.DataFrame] = field(default_factory=dict)  # (layer, unit) -> table (cache)

    @property
    def layers(self) -> list[str]:
        return list(self.dissection)


def open_run(run_dir: str | Path, *, eval_images: int | None = 32, dissect_images: int | None = None) -> ExplorerRun:
    """Return an :class:`ExplorerRun` of a finished run: model, cached dissection, SHOWN_IMAGES test samples and
    the first ``eval_images`` test images (None: all) for the ablation panel."""
    from .run import Run

    run = Run.of(run_dir)
    test = run.data("test")
    count = len(test) if eval_images is None else min(eval_images, len(test))
    return ExplorerRun(run.name, run.model(), run.dissection(dissect_images),
                       [test[i] for i in range(min(SHOWN_IMAGES, len(test)))], Subset(test, range(count)))


def response_of(run: ExplorerRun, layer: str) -> DepthResponse:
    """Return the dissected :class:`DepthResponse` of ``layer``, or raise naming the run's studied layers."""
    if layer not in run.layers:
        raise LayerNotFoundError(f"run {run.name} has no dissected layer {layer!r}; its layers are {run.layers}")
    return run.dissection[layer]


def unit_options(run: ExplorerRun, layer: str) -> list[tuple[str, int]]:
    """Return (label, unit) per unit of ``layer``, most selective first: the unit selector's options."""
    response = response_of(run, layer)
    edges = response.edges.tolist()
    preferred = response.preferred_bin.tolist()
    selectivity = response.selectivity.tolist()
    order = sorted(range(response.num_units), key=lambda u: -selectivity[u])
    return [(f"unit {u}: DS {selectivity[u]:.2f}, prefers {edges[preferred[u]]:.2f}–{edges[preferred[u] + 1]:.2f} m", u)
            for u in order]


def unit_summary(run: ExplorerRun, layer: str, unit: int) -> dict[str, Any]:
    """Return one unit's dissection facts: DS, preferred and assigned bin (None without assignment), their metres."""
    response = response_of(run, layer)
    group = unit_range(response, unit, NUM_RANGES)  # also checks the unit index
    edges = response.edges.tolist()
    preferred = int(response.preferred_bin[unit])
    assigned = None if response.assigned_bin is None else int(response.assigned_bin[unit])
    return {"run": run.name, "layer": layer, "unit": unit, "selectivity": float(response.selectivity[unit]),
            "preferred_bin": preferred, "preferred_m": (edges[preferred], edges[preferred + 1]),
            "assigned_bin": assigned, "assigned_m": None if assigned is None else (edges[assigned], edges[assigned + 1]),
            "range": group, "group_size": len(range_groups(response, NUM_RANGES)[group])}


def unit_maps(run: ExplorerRun, layer: str, unit: int) -> Tensor:
    """Return the unit's activation maps (N, h, w) on the run's N shown test images."""
    response = response_of(run, layer)
    unit_range(response, unit, NUM_RANGES)
    batch = default_collate(run.samples)
    return activation_maps(run.model, batch, [layer])[layer][:, unit].cpu()


def ablation_of_unit(run: ExplorerRun, layer: str, unit: int) -> pd.DataFrame:
    """Return the relative change of AbsRel per depth range when the unit, and when its group, is ablated.

    Rows of :func:`mdeinterp.interventions.ablate_units` with ``ablated`` "this unit" or "its group (n units)";
    the group is the units preferring a bin in the same of NUM_RANGES depth ranges. Cached per (layer, unit).
    """
    key = (layer, unit)
    if key not in run.ablations:
        response = response_of(run, layer)
        group = range_groups(response, NUM_RANGES)[unit_range(response, unit, NUM_RANGES)]
        if layer not in run.baselines:
            run.baselines[layer] = range_errors(run.model, run.evaluation, response.edges, NUM_RANGES)
        sets = {"this unit": [unit], f"its group ({len(group)} units)": group}
        run.ablations[key] = ablate_units(run.model, run.evaluation, response, sets, num_ranges=NUM_RANGES,
                                          baseline=run.baselines[layer])
    return run.ablations[key]


def unit_figure(run: ExplorerRun, layer: str, unit: int) -> Any:
    """Return the explorer's figure of one unit (:func:`mdeinterp.plots.unit_explorer`)."""
    summary = unit_summary(run, layer, unit)
    response = response_of(run, layer)
    return plots.unit_explorer(response.edges, response.mean_response[unit], summary["preferred_bin"],
                               summary["assigned_bin"], [s["image"] for s in run.samples],
                               [s["depth"] for s in run.samples], unit_maps(run, layer, unit),
                               ablation_of_unit(run, layer, unit),
                               title=f"{run.name} {layer} unit {unit}: DS {summary['selectivity']:.2f}")


def predictions_on_test_images(run_dirs: Mapping[str, str | Path], count: int = 3) -> dict[str, Any]:
    """Return the first ``count`` test images, their depths and each run's predictions (H, W metres) on them.

    ``run_dirs``: label (e.g. "baseline", "interpretable") -> run directory; the test data are the first
    run's. The result is :func:`mdeinterp.plots.predicted_depth_maps`'s arguments.
    """
    from .inference import predict_depth
    from .run import Run

    loaded = {label: Run.of(path) for label, path in run_dirs.items()}
    test = next(iter(loaded.values())).data("test")
    shown = Subset(test, range(min(count, len(test))))
    predictions = {label: [p[0, 0].cpu() for p, _ in predict_depth(run.model(), shown, batch_size=1)]
                   for label, run in loaded.items()}
    return {"images": [s["image"] for s in shown], "depths": [s["depth"] for s in shown], "predictions": predictions}


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """Return ``fig`` rendered as PNG bytes and close it (what the widget displays)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def default_selection(run: ExplorerRun, layer: str | None = None) -> tuple[str, int]:
    """Return (layer, unit): the given (default: first) layer and its most selective clean unit (neither dead,
    near-silent nor position-coded, :func:`mdeinterp.dissection.top_units`), so the first unit a reader sees
    codes depth rather than image row."""
    layer = layer or run.layers[0]
    return layer, top_units(response_of(run, layer), 1, clean=True)[0]


def widget(runs: Mapping[str, ExplorerRun], run: str | None = None, layer: str | None = None,
           unit: int | None = None) -> Any:
    """Return an ipywidgets box: run, layer and unit selectors above the unit's figure, redrawn on each change.

    The unit selector carries the CSS class ``mdeinterp-unit`` and the figure ``mdeinterp-figure`` (the
    browser test finds them by these).
    """
    import ipywidgets as widgets
    from IPython.display import Image

    if not runs:
        raise ConfigError("the explorer needs at least one run; got none")
    run = run or next(iter(runs))
    if run not in runs:
        raise ConfigError(f"run {run!r} is not one of the explorer's runs {list(runs)}")
    first_layer, first_unit = default_selection(runs[run], layer)
    run_box = widgets.Dropdown(options=list(runs), value=run, description="run")
    layer_box = widgets.Dropdown(options=runs[run].layers, value=first_layer, description="layer")
    unit_box = widgets.Dropdown(options=unit_options(runs[run], first_layer),
                                value=first_unit if unit is None else unit, description="unit",
                                layout=widgets.Layout(width="32em"))
    unit_box.add_class("mdeinterp-unit")
    output = widgets.Output()
    output.add_class("mdeinterp-figure")

    def draw(*_: object) -> None:
        png = figure_png(unit_figure(runs[run_box.value], layer_box.value, unit_box.value))
        # set the output's state directly (not `with output:`): it works with and without a kernel
        output.outputs = ()
        output.append_display_data(Image(data=png, format="png"))

    def run_changed(change: Mapping[str, Any]) -> None:
        layers = runs[change["new"]].layers
        with layer_box.hold_trait_notifications():
            layer_box.options = layers
            layer_box.value = layer_box.value if layer_box.value in layers else layers[0]
        layer_changed({"new": layer_box.value})

    def layer_changed(change: Mapping[str, Any]) -> None:
        options = unit_options(runs[run_box.value], change["new"])
        unit_box.unobserve(draw, "value")
        unit_box.options = options
        unit_box.value = options[0][1]
        unit_box.observe(draw, "value")
        draw()

    run_box.observe(run_changed, "value")
    layer_box.observe(layer_changed, "value")
    unit_box.observe(draw, "value")
    draw()
    return widgets.VBox([widgets.HBox([run_box, layer_box]), unit_box, output])


__all__ = ["ExplorerRun", "open_run", "response_of", "unit_options", "unit_summary", "unit_maps", "ablation_of_unit",
           "unit_figure", "predictions_on_test_images", "figure_png", "default_selection", "widget", "SHOWN_IMAGES", "NUM_RANGES"]

