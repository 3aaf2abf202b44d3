"""One function per figure of the reproduction; each returns a matplotlib Figure, saving is :func:`save`'s job.

In a notebook a figure cell ends in :func:`show`, which saves the figure and displays the saved PNG inline.

Figures read tidy tables (pandas) or dissection results, so re-plotting never retrains. Sizes follow
the data: a panel is :data:`PANEL` inches and figures grow with the number of panels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")  # headless by default; notebooks keep their inline backend

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .io import atomic_path

PANEL = (3.0, 2.4)  # inches (width, height) of one panel
DEPTH_CMAP = "magma_r"  # near = bright, far = dark
METHOD_COLORS = {"baseline": "#7f7f7f", "interpretable": "#d62728", "selective": "#d62728", "random": "#7f7f7f",
                 "random init": "#1f77b4"}


def save(fig: Figure, path_stem: str | Path, dpi: int = 150) -> tuple[Path, Path]:
    """Write ``fig`` to ``<stem>.png`` (``dpi``) and ``<stem>.pdf`` atomically, close it, return both paths."""
    stem = Path(path_stem)
    paths = (stem.with_suffix(".png"), stem.with_suffix(".pdf"))
    try:
        for path in paths:
            with atomic_path(path) as tmp:
                # no creation date in the PDF: re-plotting unchanged results leaves the files unchanged
                metadata = {"CreationDate": None} if path.suffix == ".pdf" else None
                fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix[1:], metadata=metadata)
    finally:
        plt.close(fig)
    return paths


def show(fig: Figure, path_stem: str | Path, dpi: int = 150) -> None:
    """Return nothing; :func:`save` ``fig`` (PNG and PDF), then display the saved PNG inline in a Jupyter kernel.

    The last line of a figure cell: what the reader sees is the file that was written. The displayed
    output carries ``{"mdeinterp": {"figure": "<stem name>"}}`` in its metadata so that tests can match
    inline images with saved figures. Outside a kernel (scripts, tests) it only saves.
    """
    png, _ = save(fig, path_stem, dpi)
    if not _in_kernel():
        return
    from IPython.display import Image, display

    # retina: the 150-dpi PNG is shown at half its pixel size, about the size of an inline figure
    display(Image(data=png.read_bytes(), format="png", retina=True), metadata={"mdeinterp": {"figure": png.stem}})


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _grid(rows: int, cols: int, scale: float = 1.0, **kw: object) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL[0] * cols * scale, PANEL[1] * rows * scale),
                             squeeze=False, **kw)
    return fig, axes


def _numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _rgb(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """Return an (H, W, 3) array for imshow from a normalised (3, H, W) tensor or an (H, W, 3) array."""
    if torch.is_tensor(image) and image.dim() == 3 and image.shape[0] == 3:
        from .data import denormalize

        return denormalize(image)
    return _numpy(image)


def _depth_map(depth: torch.Tensor | np.ndarray) -> np.ndarray:
    """Return an (H, W) depth array in metres with invalid (<= 0) pixels masked."""
    array = _numpy(depth).astype(np.float64).squeeze()
    return np.ma.masked_where(~(array > 0), array)


# ---- data ----------------------------------------------------------------------------------------


def data_samples(samples: Sequence[Mapping], titles: Sequence[str] | None = None, d_max: float | None = None) -> Figure:
    """Return a figure with one row per sample: RGB image | depth map (metres, colour bar).

    Args:
        samples: dataset samples with "image" (3, H, W) normalised and "depth" (1, H, W) metres.
        titles: a label per row (e.g. "indoor", "outdoor").
        d_max: top of the depth colour scale per row (default: the sample's maximum).
    """
    height, width = samples[0]["image"].shape[-2:]
    scale = width / height / (PANEL[0] / PANEL[1])
    fig, axes = plt.subplots(len(samples), 2, figsize=(2 * PANEL[0] * scale, PANEL[1] * len(samples)), squeeze=False)
    for row, sample in enumerate(samples):
        depth = _depth_map(sample["depth"])
        axes[row, 0].imshow(_rgb(sample["image"]))
        shown = axes[row, 1].imshow(depth, cmap=DEPTH_CMAP, vmin=0, vmax=d_max or float(depth.max()))
        fig.colorbar(shown, ax=axes[row, 1], label="depth (m)", fraction=0.046)
        axes[row, 0].set_ylabel(titles[row] if titles else f"sample {row}")
    axes[0, 0].set_title("RGB")
    axes[0, 1].set_title("depth")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def depth_histogram(depths: torch.Tensor | np.ndarray, edges: torch.Tensor | np.ndarray, ax: Axes | None = None,
                    label: str | None = None) -> Figure:
    """Return a histogram of the valid depths (metres, > 0) with one bar per SID bin (bin edges ``edges``)."""
    fig, ax = (plt.subplots(figsize=(2 * PANEL[0], PANEL[1])) if ax is None else (ax.figure, ax))
    values = _numpy(depths).ravel()
    values = values[values > 0]
    edges = _numpy(edges)
    counts, _ = np.histogram(values, bins=edges)
    ax.bar(edges[:-1], counts / max(counts.sum(), 1), width=np.diff(edges), align="edge", alpha=0.6,
           edgecolor="white", linewidth=0.3, label=label)
    ax.set_xlabel("depth (m), bars = SID bins")
    ax.set_ylabel("share of pixels")
    if label:
        ax.legend()
    return fig


def training_curves(metrics: pd.DataFrame, columns: Sequence[str] = ("depth_loss", "selectivity_term", "d1", "abs_rel"),
                    hue: str = "name") -> Figure:
    """Return one panel per column against the training step, one line per ``hue`` value (e.g. run name).

    The depth loss and the selectivity term are separate panels, so baseline and interpretable runs compare
    on the same depth loss: ``selectivity_term`` is the sum of the ``sel_<layer>`` columns (the objective is
    ``depth_loss − α · selectivity_term``; a baseline has none and draws no line there). Columns not in
    ``metrics`` are left out.
    """
    metrics = metrics.copy()
    terms = [c for c in metrics if c.startswith("sel_")]
    if terms:
        metrics["selectivity_term"] = metrics[terms].sum(axis=1, min_count=1)
    x = "step" if "step" in metrics else "epoch"
    columns = [c for c in columns if c in metrics]
    fig, axes = _grid(1, len(columns))
    for ax, column in zip(axes[0], columns):
        for key, run in metrics.groupby(hue, sort=False):
            run = run.dropna(subset=[column])
            ax.plot(run[x], run[column], marker="o", markersize=3, label=str(key))
        ax.set_xlabel(x)
        ax.set_title(column)
    axes[0, -1].legend(fontsize="x-small", loc="best", ncol=max(1, metrics[hue].nunique() // 8))
    fig.tight_layout()
    return fig


# ---- selectivity -------------------------------------------------------------------------------------


def unit_activation_maps(image: torch.Tensor | np.ndarray, activations: torch.Tensor | np.ndarray,
                         units: Sequence[int], depth: torch.Tensor | np.ndarray | None = None,
                         titles: Sequence[str] | None = None) -> Figure:
    """Return the image (and depth), then each chosen unit's activation map (C, h, w)[unit] over the image.

    Activation maps are upsampled to the image size for display and scaled to the unit's own range.
    """
    rgb = _rgb(image)
    maps = _numpy(activations)
    panels = 1 + (depth is not None) + len(units)
    cols = min(panels, 6)
    rows = -(-panels // cols)
    aspect = rgb.shape[1] / rgb.shape[0] / (PANEL[0] / PANEL[1])
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL[0] * cols * aspect * 0.8, PANEL[1] * rows * 0.8), squeeze=False)
    flat = list(axes.flat)
    flat[0].imshow(rgb)
    flat[0].set_title("image", fontsize="small")
    offset = 1
    if depth is not None:
        flat[1].imshow(_depth_map(depth), cmap=DEPTH_CMAP)
        flat[1].set_title("depth", fontsize="small")
        offset = 2
    extent = (-0.5, rgb.shape[1] - 0.5, rgb.shape[0] - 0.5, -0.5)
    for i, unit in enumerate(units):
        ax = flat[offset + i]
        ax.imshow(rgb, alpha=0.35)
        ax.imshow(maps[unit], cmap="viridis", alpha=0.75, extent=extent, interpolation="bilinear")
        ax.set_title(titles[i] if titles else f"unit {unit}", fontsize="small")
    for ax in flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in flat[panels:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def depth_response_units(response, units: Sequence[int], axes: Sequence[Axes] | None = None,
                         title: str | None = None) -> Figure:
    """Return one bar chart per unit: its mean response (K bars) per depth bin, preferred bin highlighted.

    Args:
        response: a :class:`~mdeinterp.analysis.LayerResponse`.
        units: unit indices to draw.
        axes: one Axes per unit to draw into (default: a new row of panels).
    """
    if axes is None:
        cols = min(len(units), 4)
        fig, grid = _grid(-(-len(units) // cols), cols, sharex=True)
        axes = list(grid.flat)
        for ax in axes[len(units):]:
            ax.set_visible(False)
    else:
        fig = axes[0].figure
    mean = _numpy(response.mean_response)
    selectivity = _numpy(response.selectivity)
    centres = np.arange(response.num_bins)
    for ax, unit in zip(axes, units):
        heights = mean[unit]
        colors = np.where(np.arange(len(heights)) == np.abs(heights).argmax(), "#d62728", "#7f7f7f")
        ax.bar(centres, heights, width=0.9, color=colors)
        ax.set_title(f"{response.layer} unit {unit}: DS={selectivity[unit]:.2f}", fontsize="small")
        ax.set_xlabel("depth bin")
    axes[0].set_ylabel("mean response")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def selectivity_distribution(table: pd.DataFrame, hue: str = "method", bins: int = 20) -> Figure:
    """Return one panel per layer: histogram of unit selectivity (``table``: layer, selectivity, ``hue``)."""
    layers = list(dict.fromkeys(table["layer"]))
    fig, axes = _grid(1, len(layers), sharey=True)
    edges = np.linspace(0, 1, bins + 1)
    for ax, layer in zip(axes[0], layers):
        rows = table[table["layer"] == layer]
        for key, group in rows.groupby(hue, sort=False):
            ax.hist(group["selectivity"], bins=edges, alpha=0.6, label=str(key), color=METHOD_COLORS.get(str(key)),
                    weights=np.full(len(group), 1 / len(group)))
        ax.set_title(layer)
        ax.set_xlabel("depth selectivity")
    axes[0, 0].set_ylabel("share of units")
    axes[0, -1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def selectivity_vs_chance(units: pd.DataFrame, chance: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Return violins of unit selectivity per layer: the trained runs' methods next to untrained networks.

    ``units`` and ``chance`` have one row per unit with ``layer``, ``method`` and ``selectivity`` columns
    (:func:`mdeinterp.results.unit_table`, :func:`~mdeinterp.results.chance_units`); the dashed line per layer
    is the untrained networks' 90th percentile (claim C1's bar).
    """
    import seaborn as sns

    table = pd.concat([units, chance], ignore_index=True)[["layer", "method", "selectivity"]]
    layers = list(dict.fromkeys(table["layer"]))
    methods = list(dict.fromkeys(table["method"]))
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(PANEL[0], 1.4 * len(layers) * max(1, len(methods)) / 2), PANEL[1] * 1.2))
    else:
        fig = ax.figure
    sns.violinplot(data=table, x="layer", y="selectivity", hue="method", order=layers, hue_order=methods, cut=0,
                   density_norm="width", inner="quartile", linewidth=0.8, ax=ax,
                   palette={m: METHOD_COLORS.get(m, "#2ca02c") for m in methods})
    from .claims import C1_CHANCE_QUANTILE

    p90 = chance.groupby("layer")["selectivity"].quantile(C1_CHANCE_QUANTILE)
    for i, layer in enumerate(layers):
        if layer in p90:
            ax.hlines(p90[layer], i - 0.45, i + 0.45, colors="k", linestyles="--", linewidth=1.2)
    ax.set_ylim(0, 1)
    ax.set_ylabel("depth selectivity")
    ax.set_xlabel("layer (dashed: untrained 90th percentile)")
    ax.legend(fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(methods), frameon=False)
    fig.tight_layout()
    return fig


def response_matrix(responses, sort_by_preferred: bool = False, axes: Sequence[Axes] | None = None) -> Figure:
    """Return unit x depth-bin images of mean responses, each unit scaled to its maximum (one panel per response).

    Args:
        responses: a :class:`~mdeinterp.analysis.LayerResponse` or a mapping title -> LayerResponse.
        sort_by_preferred: order units by preferred bin (else by index, i.e. by assigned bin: a trained
            interpretable layer shows a diagonal).
    """
    if not isinstance(responses, Mapping):
        responses = {responses.layer: responses}
    if axes is None:
        fig, grid = _grid(1, len(responses), scale=1.2)
        axes = list(grid.flat)
    else:
        fig = axes[0].figure
    for ax, (title, response) in zip(axes, responses.items()):
        mean = np.abs(_numpy(response.mean_response))
        scaled = mean / np.maximum(mean.max(axis=1, keepdims=True), 1e-12)
        if sort_by_preferred:
            scaled = scaled[np.argsort(scaled.argmax(axis=1), kind="stable")]
        image = ax.imshow(scaled, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize="small")
        ax.set_xlabel("depth bin")
        ax.set_ylabel("unit" + (" (sorted by preferred bin)" if sort_by_preferred else ""))
    fig.colorbar(image, ax=list(axes), label="response / unit max", fraction=0.03)
    return fig


# ---- ablation and correction ---------------------------------------------------------------------------


def _range_labels(rows: pd.DataFrame) -> list[str]:
    ranges = rows[["range_lo", "range_hi"]].drop_duplicates().sort_values("range_lo")
    return [f"{lo:.1f}-{hi:.1f} m" for lo, hi in ranges.itertuples(index=False)]


def _own_range(rows: pd.DataFrame) -> pd.DataFrame:
    """Return, per (group, kind, draw), the row evaluated on the group's own depth range."""
    ranks = rows["range_lo"].rank(method="dense").astype(int) - 1  # evaluated range index
    return rows[ranks == rows["group"]]


def ablation_depth_ranges(df: pd.DataFrame, value: str = "relative_change", ax: Axes | None = None,
                          title: str | None = None) -> Figure:
    """Return a heatmap: ablated unit group (rows) x evaluated depth range (cols) of the relative error change.

    ``df``: rows of :func:`mdeinterp.analysis.ablation_experiment`; only "selective" ablations are drawn.
    The diagonal holds each group's own range.
    """
    rows = df[df["kind"] == "selective"]
    labels = _range_labels(df)
    matrix = rows.pivot_table(index="group", columns="range_lo", values=value, sort=True)
    fig, ax = (plt.subplots(figsize=(PANEL[0] * 0.5 * len(labels) + 1.5, PANEL[1] * 0.45 * len(matrix) + 1))
               if ax is None else (ax.figure, ax))
    limit = float(np.nanmax(np.abs(matrix.to_numpy()))) if matrix.size else 1.0
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), v in np.ndenumerate(matrix.to_numpy()):
        ax.text(j, i, f"{v:+.1%}", ha="center", va="center", fontsize="x-small")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize="small")
    ax.set_yticks(range(len(matrix)), [labels[g] for g in matrix.index], fontsize="small")
    ax.set_xlabel("evaluated depth range")
    ax.set_ylabel("ablated units preferring")
    ax.set_title(title or f"{value} change when ablating", fontsize="small")
    fig.colorbar(image, ax=ax, label="relative change of error")
    fig.tight_layout()
    return fig


def ablation_selective_vs_random(df: pd.DataFrame, value: str = "relative_change", ax: Axes | None = None,
                                 title: str | None = None) -> Figure:
    """Return grouped bars per unit group: error change in the group's own range, selective vs random units.

    Random bars show the mean over draws with their standard deviation as error bars.
    """
    own = _own_range(df[df["group"] >= 0])
    labels = _range_labels(df)
    stats = own.groupby(["group", "kind"])[value].agg(["mean", "std"]).fillna(0.0).reset_index()
    groups = sorted(stats["group"].unique())
    fig, ax = (plt.subplots(figsize=(PANEL[0] * 0.45 * len(groups) + 1.5, PANEL[1])) if ax is None else (ax.figure, ax))
    width = 0.4
    for offset, kind in ((-width / 2, "selective"), (width / 2, "random")):
        part = stats[stats["kind"] == kind].set_index("group").reindex(groups)
        ax.bar(np.arange(len(groups)) + offset, part["mean"], width, yerr=part["std"], label=kind,
               color=METHOD_COLORS[kind], capsize=2)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(range(len(groups)), [labels[g] for g in groups], rotation=30, ha="right", fontsize="small")
    ax.set_ylabel(f"relative change of {value.split('_')[0] if value != 'relative_change' else 'error'}")
    ax.set_xlabel("units preferring / evaluated range")
    ax.set_title(title or "own-range error change", fontsize="small")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def error_correction(image: torch.Tensor | np.ndarray, depth: torch.Tensor | np.ndarray,
                     pred_before: torch.Tensor | np.ndarray, pred_after: torch.Tensor | np.ndarray,
                     correction: pd.DataFrame | None = None) -> Figure:
    """Return image | depth | |error| before | |error| after correction (metres), and optionally the removed-error bars.

    Args:
        image: (3, H, W) normalised or (H, W, 3); depth, pred_before, pred_after: (H, W) or (1, H, W) metres.
        correction: rows of :func:`mdeinterp.analysis.correction_experiment`; adds a panel of the error removed
            in each group's own range by correcting that group vs as many random units.
    """
    target = _depth_map(depth)
    errors = [np.ma.masked_where(target.mask, np.abs(_numpy(p).squeeze() - target.data)) for p in (pred_before, pred_after)]
    panels = 4 + (correction is not None)
    fig, axes = _grid(1, panels)
    axes = axes[0]
    axes[0].imshow(_rgb(image))
    axes[0].set_title("image", fontsize="small")
    shown = axes[1].imshow(target, cmap=DEPTH_CMAP)
    fig.colorbar(shown, ax=axes[1], fraction=0.046, label="m")
    axes[1].set_title("depth", fontsize="small")
    vmax = float(max(e.max() for e in errors))
    for ax, error, name in zip(axes[2:4], errors, ("before", "after")):
        shown = ax.imshow(error, cmap="inferno", vmin=0, vmax=vmax)
        ax.set_title(f"|error| {name}: mean {error.mean():.2f} m", fontsize="small")
    fig.colorbar(shown, ax=axes[3], fraction=0.046, label="m")
    for ax in axes[:4]:
        ax.set_xticks([])
        ax.set_yticks([])
    if correction is not None:
        removed = correction.assign(relative_change=-correction["relative_change"])
        ablation_selective_vs_random(removed, ax=axes[4], title="error removed in own range")
        axes[4].set_ylabel("relative error removed")
    fig.tight_layout()
    return fig


# ---- sensitivity -----------------------------------------------------------------------------------


def sensitivity(df: pd.DataFrame, x: str = "alpha", columns: Sequence[str] = ("d1", "abs_rel", "mean_selectivity"),
                hue: str | None = None) -> Figure:
    """Return one panel per column against ``x`` (mean over seeds, std as error bars; symlog x for alpha).

    ``df``: one row per run (and layer, when ``hue`` = "layer") with ``x`` and the columns.
    """
    columns = [c for c in columns if c in df]
    fig, axes = _grid(1, len(columns))
    for ax, column in zip(axes[0], columns):
        groups = df.groupby(hue, sort=False) if hue else [(None, df)]
        for key, part in groups:
            stats = part.groupby(x)[column].agg(["mean", "std"]).fillna(0.0).sort_index()
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", markersize=4, capsize=2,
                        label=None if key is None else str(key))
        if x == "alpha":
            positive = df[x][df[x] > 0]
            ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
        elif (df[x] > 0).all():
            ax.set_xscale("log", base=2)
        ax.set_xlabel(x)
        ax.set_title(column)
    if hue:
        axes[0, -1].legend(fontsize="small")
    fig.tight_layout()
    return fig


__all__ = [
    "save", "show", "data_samples", "depth_histogram", "training_curves", "unit_activation_maps", "depth_response_units",
    "selectivity_distribution", "selectivity_vs_chance", "response_matrix", "ablation_depth_ranges", "ablation_selective_vs_random",
    "error_correction", "sensitivity",
]


# ---- accuracy per depth range, selectivity over training ------------------------------------------------


def range_accuracy(table: pd.DataFrame, metric: str = "d1", target: float | None = 0.75) -> Figure:
    """Return one panel per setting: ``metric`` per depth range, one bar group per method (seed std as error bars).

    ``table`` is :func:`mdeinterp.tables.tab_range_accuracy`; ``target`` draws a dashed goal line (None: none).
    """
    settings = list(dict.fromkeys(table["setting"]))
    fig, axes = _grid(1, len(settings))
    for ax, setting in zip(axes[0], settings):
        rows = table[table["setting"] == setting]
        methods = list(dict.fromkeys(rows["method"]))
        ranges = list(dict.fromkeys(rows["range"]))
        width = 0.8 / len(methods)
        for i, method in enumerate(methods):
            part = rows[rows["method"] == method].set_index("range").reindex(ranges)
            ax.bar(np.arange(len(ranges)) + (i - (len(methods) - 1) / 2) * width, part[f"{metric}_mean"], width,
                   yerr=part[f"{metric}_std"], label=str(method), capsize=2)
        if target is not None:
            ax.axhline(target, color="0.3", linestyle="--", linewidth=0.8)
        ax.set_xticks(np.arange(len(ranges)), ranges, rotation=30, ha="right", fontsize="small")
        ax.set_title(str(setting))
        ax.set_ylabel(metric)
    axes[0, -1].legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def selectivity_dynamics(history: pd.DataFrame, layers: Sequence[str], hue: str = "method") -> Figure:
    """Return one panel per layer: probe mean DS against training steps, per ``hue`` value the mean over runs
    (seeds) with their min–max band.

    ``history`` holds the epoch logs of the runs (:func:`mdeinterp.results.training_history`, ``ds_<layer>``
    columns) labelled by ``hue`` and ``name``.
    """
    fig, axes = _grid(1, len(layers))
    for ax, layer in zip(axes[0], layers):
        column = f"ds_{layer}"
        for key, runs in history.groupby(hue, sort=False):
            curve = runs.groupby("step")[column].agg(["mean", "min", "max"]).dropna()
            line, = ax.plot(curve.index, curve["mean"], marker="o", markersize=3, label=f"{key} ({runs['name'].nunique()})")
            ax.fill_between(curve.index, curve["min"], curve["max"], color=line.get_color(), alpha=0.2)
        ax.set_xlabel("step")
        ax.set_title(f"probe DS {layer}")
    axes[0, -1].legend(fontsize="x-small")
    fig.tight_layout()
    return fig
