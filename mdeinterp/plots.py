"""One function per figure of the reproduction; each returns a matplotlib Figure, saving is :func:`save`'s job.

In a notebook a figure cell ends in :func:`show`, which saves the figure and displays the saved PNG inline.

Figures read tidy tables (pandas) or dissection results, so re-plotting never retrains. Sizes follow
the data: a panel is :data:`PANEL` inches and figures grow with the number of panels.
"""

from __future__ import annotations

import os
import textwrap
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
from matplotlib.ticker import PercentFormatter

from . import tables as _tables
from .deprecation import moved
from .io import atomic_path

PANEL = (3.0, 2.4)  # inches (width, height) of one panel
DEPTH_CMAP = "magma_r"  # near = bright, far = dark
NO_DEPTH = "0.5"  # mid grey: invalid depth (0, e.g. sky), a colour that magma_r does not hold
ACTIVATION_CMAP = "viridis"
OUTLINE = "#00e5ff"  # the unit's depth-bin outline on activation maps: cyan reads on viridis and on RGB
# paired colours: light = baseline / random units, dark = interpretable / selective units (matplotlib "Paired")
PAIRED = plt.get_cmap("Paired").colors
METHOD_COLORS = {"baseline": PAIRED[0], "interpretable": PAIRED[1], "selective": PAIRED[1], "random": PAIRED[0],
                 "random init": "#b0b0b0"}
# titles in words for the result tables' columns
COLUMN_TITLES = {
    "d1": "δ1: share of pixels within 1.25× (higher is better)",
    "abs_rel": "AbsRel: mean relative error (lower is better)",
    "rmse": "RMSE in metres (lower is better)",
    "train_loss": "training loss",
    "depth_loss": "depth loss (the model's own loss)",
    "selectivity_term": "selectivity term: Σ over the assigned layers of DS at the assigned bins",
    "mean_selectivity": "mean depth selectivity of the assigned layers",
    "near_assigned": "share of units preferring a bin within ±2 of their assigned bin",
    "relative_change": "relative change of AbsRel",
}
AXIS_NAMES = {"alpha": "α, weight of the selectivity term", "bins": "K, number of depth bins"}
# short names for a y-axis label
SHORT_NAMES = {"d1": "δ1", "abs_rel": "AbsRel", "rmse": "RMSE (m)", "mean_selectivity": "mean DS",
               "near_assigned": "share near assigned"}


def save(fig: Figure, path_stem: str | Path, dpi: int = 150) -> tuple[Path, Path]:
    """Write ``fig`` to ``<stem>.png`` (``dpi``) and ``<stem>.pdf`` atomically, close it, return both paths.

    The suffixes are appended, so dots in the stem stay: ``"figs/probe_decoder.dec2"`` writes
    ``probe_decoder.dec2.png``.
    """
    stem = Path(path_stem)
    paths = (stem.with_name(f"{stem.name}.png"), stem.with_name(f"{stem.name}.pdf"))
    try:
        # both files are rendered to temporaries first and renamed together, so a kill while rendering leaves
        # the previous pair (only the instant between the two renames could split a pair)
        with atomic_path(paths[0]) as png, atomic_path(paths[1]) as pdf:
            fig.savefig(png, dpi=dpi, bbox_inches="tight", format="png")
            # no creation date in the PDF: re-plotting unchanged results leaves the files unchanged
            fig.savefig(pdf, dpi=dpi, bbox_inches="tight", format="pdf", metadata={"CreationDate": None})
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


def paired_color(method: str, seed: int = 0) -> tuple[float, float, float]:
    """Return the RGB colour of a run: one hue per seed, light for the baseline and dark for the interpretable run."""
    pair = 2 * (seed % (len(PAIRED) // 2))
    return PAIRED[pair + (method != "baseline")]


def column_title(column: str) -> str:
    """Return a result column's name in words (the column name itself when it has none)."""
    return COLUMN_TITLES.get(column, column.replace("_", " "))


def depth_bin_axis(ax: Axes, edges: torch.Tensor | np.ndarray, axis: str = "x", max_labels: int = 9) -> None:
    """Return nothing; label a bin-index axis (bin b drawn at b) with the SID bin edges in metres.

    Ticks sit on the bin boundaries (b - 0.5); at most ``max_labels`` of them are labelled, evenly spaced.
    """
    edges = _numpy(edges)
    step = max(1, -(-(len(edges) - 1) // (max_labels - 1)))
    positions = np.arange(0, len(edges), step)
    ticks, labels = positions - 0.5, [f"{edges[i]:.1f}" for i in positions]
    if axis == "x":
        ax.set_xticks(ticks, labels, fontsize="small")
        ax.set_xlabel("depth (m), one bar per SID bin")
    else:
        ax.set_yticks(ticks, labels, fontsize="small")
        ax.set_ylabel("depth (m)")


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


def depth_cmap() -> matplotlib.colors.Colormap:
    """Return the depth colour map (:data:`DEPTH_CMAP`) drawing masked (invalid) pixels in :data:`NO_DEPTH` grey.

    Left transparent, they would show the white background, which reads as the nearest depth.
    """
    return plt.get_cmap(DEPTH_CMAP).with_extremes(bad=NO_DEPTH)


# ---- data ----------------------------------------------------------------------------------------


def data_samples(samples: Sequence[Mapping], titles: Sequence[str] | None = None, d_max: float | None = None) -> Figure:
    """Return a figure with one row per sample: RGB image | depth map (metres, colour bar; grey: no depth).

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
        shown = axes[row, 1].imshow(depth, cmap=depth_cmap(), vmin=0, vmax=d_max or float(depth.max()))
        fig.colorbar(shown, ax=axes[row, 1], label="depth (m)\ngrey: no depth", fraction=0.046)
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
    ``metrics`` are left out. With ``method`` and ``seed`` columns the lines take :func:`paired_color` (baseline
    light, interpretable dark, one hue per seed); the legend sits right of the panels, off the data.
    """
    metrics = metrics.copy()
    terms = [c for c in metrics if c.startswith("sel_")]
    if terms:
        metrics["selectivity_term"] = metrics[terms].sum(axis=1, min_count=1)
    x = "step" if "step" in metrics else "epoch"
    columns = [c for c in columns if c in metrics]
    paired = {"method", "seed"} <= set(metrics.columns)
    fig, axes = _grid(1, len(columns))
    for ax, column in zip(axes[0], columns):
        for key, run in metrics.groupby(hue, sort=False):
            run = run.dropna(subset=[column])
            color = paired_color(str(run["method"].iloc[0]), int(run["seed"].iloc[0])) if paired and len(run) else None
            ax.plot(run[x], run[column], marker="o", markersize=3, label=str(key), color=color)
        ax.set_xlabel(x)
        ax.set_title(textwrap.fill(column_title(column), 34), fontsize="small")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, -1].legend(handles, labels, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                       ncol=max(1, len(labels) // 12 + 1))
    fig.tight_layout()
    return fig


# ---- selectivity -------------------------------------------------------------------------------------


def _overlay(ax: Axes, rgb: np.ndarray, activation: np.ndarray, vmin: float, vmax: float,
             outline: np.ndarray | None = None):
    """Draw an activation map (h, w) over an (H, W, 3) image, with the pixels of ``outline`` (H, W bool) outlined."""
    extent = (-0.5, rgb.shape[1] - 0.5, rgb.shape[0] - 0.5, -0.5)
    ax.imshow(rgb, alpha=0.35)
    shown = ax.imshow(activation, cmap=ACTIVATION_CMAP, alpha=0.75, extent=extent, interpolation="bilinear",
                      vmin=vmin, vmax=vmax)
    if outline is not None and outline.any() and not outline.all():
        ax.contour(outline.astype(float), levels=[0.5], colors=OUTLINE, linewidths=1.0)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


def bin_pixels(depth: torch.Tensor | np.ndarray, edges: torch.Tensor | np.ndarray, bin_index: int) -> np.ndarray:
    """Return the (H, W) mask of pixels whose depth (metres) lies in SID bin ``bin_index`` [edges[b], edges[b + 1])."""
    array = _numpy(depth).astype(np.float64).squeeze()
    edges = _numpy(edges)
    return (array >= edges[bin_index]) & (array < edges[bin_index + 1])


def _layout(panels: int, max_cols: int) -> tuple[int, int]:
    """Return (rows, cols) holding ``panels`` with rows as full as possible (7 panels: 2 x 4, not 6 + 1)."""
    rows = -(-panels // max_cols)
    return rows, -(-panels // rows)


def unit_activation_maps(image: torch.Tensor | np.ndarray, activations: torch.Tensor | np.ndarray,
                         units: Sequence[int], depth: torch.Tensor | np.ndarray | None = None,
                         titles: Sequence[str] | None = None, edges: torch.Tensor | np.ndarray | None = None,
                         bins: Sequence[int] | None = None) -> Figure:
    """Return the image (and depth), then each chosen unit's activation map (C, h, w)[unit] over the image.

    Activation maps are upsampled to the image size for display and scaled to the unit's own maximum (one
    colour bar, 0–1). Given ``depth``, SID ``edges`` and a bin per unit (``bins``, e.g. preferred bins), the
    pixels of that bin are outlined, so "the unit lights up at its depth" can be checked.
    """
    rgb = _rgb(image)
    maps = _numpy(activations).astype(np.float64)
    panels = 1 + (depth is not None) + len(units)
    rows, cols = _layout(panels, 6)
    aspect = rgb.shape[1] / rgb.shape[0] / (PANEL[0] / PANEL[1])
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL[0] * cols * aspect * 0.8 + 0.8, PANEL[1] * rows * 0.8 + 0.3),
                             squeeze=False, layout="constrained")
    flat = list(axes.flat)
    flat[0].imshow(rgb)
    flat[0].set_title("image", fontsize="small")
    offset = 1
    if depth is not None:
        shown_depth = flat[1].imshow(_depth_map(depth), cmap=depth_cmap())
        fig.colorbar(shown_depth, ax=flat[1], label="depth (m)\ngrey: no depth", shrink=0.8)
        flat[1].set_title("depth", fontsize="small")
        offset = 2
    shown = None
    for i, unit in enumerate(units):
        outline = None
        if depth is not None and edges is not None and bins is not None:
            outline = bin_pixels(depth, edges, int(bins[i]))
        peak = max(float(np.abs(maps[unit]).max()), 1e-12)
        shown = _overlay(flat[offset + i], rgb, maps[unit] / peak, 0.0, 1.0, outline)
        flat[offset + i].set_title(titles[i] if titles else f"unit {unit}", fontsize="small")
    for ax in flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in flat[panels:]:
        ax.set_visible(False)
    if shown is not None:
        label = "activation / unit's max" + ("\n(cyan: its bin)" if bins is not None else "")
        fig.colorbar(shown, ax=flat[offset:panels], label=label, shrink=0.8)
    return fig


def unit_maps_on_images(images: Sequence[torch.Tensor | np.ndarray], depths: Sequence[torch.Tensor | np.ndarray],
                        maps: torch.Tensor | np.ndarray, edges: torch.Tensor | np.ndarray, bin_index: int,
                        title: str | None = None) -> Figure:
    """Return one unit's activation maps (N, h, w) over N images, the pixels of depth bin ``bin_index`` outlined.

    All panels share one colour scale (the unit's largest activation over the N images), so "fires more on
    this image" reads directly.
    """
    maps = _numpy(maps).astype(np.float64)
    rgbs = [_rgb(image) for image in images]
    peak = max(float(np.abs(maps).max()), 1e-12)
    rows, cols = _layout(len(rgbs), 4)
    aspect = rgbs[0].shape[1] / rgbs[0].shape[0] / (PANEL[0] / PANEL[1])
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL[0] * cols * aspect * 0.8 + 0.8, PANEL[1] * rows * 0.8 + 0.4),
                             squeeze=False, layout="constrained")
    flat = list(axes.flat)
    for i, (ax, rgb, depth) in enumerate(zip(flat, rgbs, depths)):
        mask = bin_pixels(depth, edges, bin_index)
        shown = _overlay(ax, rgb, maps[i] / peak, 0.0, 1.0, mask)
        ax.set_title(f"test image {i}: {mask.mean():.0%} of pixels in the bin", fontsize="small")
    for ax in flat[len(rgbs):]:
        ax.set_visible(False)
    fig.colorbar(shown, ax=flat[:len(rgbs)], label="activation / max over these images", shrink=0.8)
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def depth_response_units(response, units: Sequence[int], axes: Sequence[Axes] | None = None,
                         title: str | None = None) -> Figure:
    """Return one bar chart per unit: its mean response per depth bin (metres), scaled to the unit's largest.

    Every panel shares the y-scale 0–1 (response / the unit's largest absolute mean response, given in the
    title), so units of different strength compare. The preferred bin (largest absolute mean response) is
    dark; the assigned bin, when the layer has one per unit, is outlined in black.

    Args:
        response: a :class:`~mdeinterp.selectivity.DepthResponse`.
        units: unit indices to draw.
        axes: one Axes per unit to draw into (default: a new row of panels).
    """
    if axes is None:
        cols = min(len(units), 4)
        fig, grid = _grid(-(-len(units) // cols), cols, sharex=True, sharey=True)
        axes = list(grid.flat)
        for ax in axes[len(units):]:
            ax.set_visible(False)
    else:
        cols = len(axes)
        fig = axes[0].figure
    mean = _numpy(response.mean_response)
    selectivity = _numpy(response.selectivity)
    preferred = _numpy(response.preferred_bin)
    assigned = response.assigned_bin
    for ax, unit in zip(axes, units):
        unit_response(ax, response.edges, mean[unit], int(preferred[unit]),
                      None if assigned is None else int(assigned[unit]))
        ax.set_title(f"unit {unit}: DS {selectivity[unit]:.2f}, max {np.abs(mean[unit]).max():.2g}",
                     fontsize="small")
    axes[0].set_ylabel("response / unit's max")
    # right of the top row's last panel, outside every panel: inside one it would cover a tall (preferred) bar
    axes[min(cols, len(units)) - 1].legend(handles=_bin_legend(assigned is not None), fontsize="x-small",
                                           loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _bin_legend(with_assigned: bool) -> list:
    from matplotlib.patches import Patch

    handles = [Patch(color=METHOD_COLORS["interpretable"], label="preferred bin"),
               Patch(color=METHOD_COLORS["baseline"], label="other bins")]
    if with_assigned:
        handles.append(Patch(facecolor="none", edgecolor="black", linewidth=1.5, label="assigned bin"))
    return handles


def unit_response(ax: Axes, edges: torch.Tensor | np.ndarray, mean: torch.Tensor | np.ndarray, preferred: int,
                  assigned: int | None = None) -> Axes:
    """Return ``ax`` with one unit's mean response (K,) per depth bin as bars scaled to its largest absolute value.

    The preferred bin is dark, the others light; the assigned bin (if given) is outlined in black; the
    x-axis is labelled with the bin edges in metres.
    """
    mean = _numpy(mean).astype(np.float64)
    scaled = mean / max(float(np.abs(mean).max()), 1e-12)
    bins = np.arange(len(scaled))
    colors = [METHOD_COLORS["interpretable"] if b == preferred else METHOD_COLORS["baseline"] for b in bins]
    ax.bar(bins, scaled, width=0.9, color=colors)
    if assigned is not None:
        # a full-height frame: the assigned bin may hold almost no response
        ax.axvspan(assigned - 0.45, assigned + 0.45, facecolor="none", edgecolor="black", linewidth=1.5)
    ax.set_ylim(min(0.0, float(scaled.min()) * 1.05), 1.05)
    depth_bin_axis(ax, edges)
    return ax


def selectivity_distribution(table: pd.DataFrame, hue: str | None = None, bins: int = 20) -> Figure:
    """Return one panel per layer: histogram of unit selectivity (``table``: layer, selectivity, ``hue``).

    ``hue`` (a column, one histogram per value) defaults to "method" when ``table`` has it, else one
    histogram per layer (a :meth:`Dissection.table`).
    """
    if hue is None:
        hue = "method" if "method" in table else "layer"
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

    Units in index order are in assigned-bin order, so a unit whose preferred bin is its assigned bin lights
    the cell on the diagonal (a staircase with several units per bin). How many do is counted, not left to the
    eye: each panel's title says "n of C units prefer their assigned bin" (:func:`on_assigned_bin`).

    Args:
        responses: a :class:`~mdeinterp.selectivity.DepthResponse` or a mapping title -> DepthResponse.
        sort_by_preferred: order units by preferred bin (else by index, i.e. by assigned bin).
    """
    if not isinstance(responses, Mapping):
        responses = {responses.layer: responses}
    if axes is None:
        cols = min(len(responses), 4)
        fig, grid = plt.subplots(-(-len(responses) // cols), cols, squeeze=False, layout="constrained",
                                 figsize=(PANEL[0] * 1.2 * cols + 1.0, PANEL[1] * 1.4 * -(-len(responses) // cols)))
        axes = list(grid.flat)
        for ax in axes[len(responses):]:
            ax.set_visible(False)
        axes = axes[:len(responses)]
    else:
        fig = axes[0].figure
    for ax, (title, response) in zip(axes, responses.items()):
        mean = np.abs(_numpy(response.mean_response))
        scaled = mean / np.maximum(mean.max(axis=1, keepdims=True), 1e-12)
        if sort_by_preferred:
            scaled = scaled[np.argsort(scaled.argmax(axis=1), kind="stable")]
        image = ax.imshow(scaled, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        on = on_assigned_bin(response)
        count = "" if on is None else f"\n{on} of {len(mean)} units prefer their assigned bin"
        ax.set_title(f"{title}{count}", fontsize="small")
        depth_bin_axis(ax, response.edges, max_labels=5)
        ax.set_xlabel("depth (m)")
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("unit (by preferred bin)" if sort_by_preferred else "unit (by assigned bin)")
    fig.colorbar(image, ax=list(axes), label="response / unit's max", shrink=0.9)
    return fig


def on_assigned_bin(response) -> int | None:
    """Return how many units of a :class:`~mdeinterp.selectivity.DepthResponse` prefer their assigned bin, None
    when the layer has more bins than units (no bin assigned)."""
    assigned = response.assigned_bin
    if assigned is None:
        return None
    return int((_numpy(response.preferred_bin) == _numpy(assigned)).sum())


def unit_explorer(edges: torch.Tensor | np.ndarray, mean: torch.Tensor | np.ndarray, preferred: int,
                  assigned: int | None, images: Sequence[torch.Tensor | np.ndarray],
                  depths: Sequence[torch.Tensor | np.ndarray], maps: torch.Tensor | np.ndarray,
                  ablation: pd.DataFrame, title: str | None = None) -> Figure:
    """Return the unit explorer's figure of one unit: three rows.

    Top left: its mean response (K,) per depth bin in metres, preferred bin dark, assigned bin outlined; top
    right: the relative change of AbsRel per depth range when the unit and when its group is ablated
    (``ablation``: rows of :func:`mdeinterp.interventions.ablate_units`); below: its activation maps (N, h, w)
    on N test images with the preferred bin's pixels outlined, on one colour scale.
    """
    maps = _numpy(maps).astype(np.float64)
    rgbs = [_rgb(image) for image in images]
    aspect = rgbs[0].shape[1] / rgbs[0].shape[0]
    width = max(10.0, 2.4 * aspect * len(rgbs) / 1.5)
    fig = plt.figure(figsize=(width, 6.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 0.9])
    response_ax, ablation_ax = top.subplots(1, 2, width_ratios=[1.4, 1.0])
    unit_response(response_ax, edges, mean, preferred, assigned)
    response_ax.set_ylabel("response / unit's max")
    response_ax.legend(handles=_bin_legend(assigned is not None), fontsize="x-small", loc="upper left")
    edges_np = _numpy(edges)
    words = f"prefers {edges_np[preferred]:.2f}–{edges_np[preferred + 1]:.2f} m"
    if assigned is not None:
        words += f", assigned {edges_np[assigned]:.2f}–{edges_np[assigned + 1]:.2f} m"
    response_ax.set_title(f"mean response per depth bin ({words})", fontsize="small")
    names = list(dict.fromkeys(ablation["ablated"]))
    ranges = ablation[["range_lo", "range_hi"]].drop_duplicates().sort_values("range_lo")
    labels = [f"{lo:.1f}-{hi:.1f} m" for lo, hi in ranges.itertuples(index=False)]
    bar = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        part = ablation[ablation["ablated"] == name].sort_values("range_lo")
        ablation_ax.bar(np.arange(len(part)) + (i - (len(names) - 1) / 2) * bar, part["relative_change"], bar,
                        label=name, color=PAIRED[i % 2 + 2 * (i // 2)])
    ablation_ax.axhline(0, color="black", linewidth=0.5)
    ablation_ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize="small")
    ablation_ax.set_xlabel("evaluated depth range")
    ablation_ax.set_ylabel("relative change of AbsRel")
    ablation_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ablation_ax.set_title("ablating it (and its group)", fontsize="small")
    ablation_ax.legend(fontsize="x-small")
    axes = bottom.subplots(1, len(rgbs), squeeze=False)[0]
    peak = max(float(np.abs(maps).max()), 1e-12)
    for i, (ax, rgb, depth) in enumerate(zip(axes, rgbs, depths)):
        mask = bin_pixels(depth, edges, preferred)
        shown = _overlay(ax, rgb, maps[i] / peak, 0.0, 1.0, mask)
        ax.set_title(f"test image {i}: {mask.mean():.0%} of pixels in the bin", fontsize="small")
    bottom.colorbar(shown, ax=list(axes), label="activation / max\n(cyan: preferred bin)", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


# ---- ablation and correction ---------------------------------------------------------------------------


def _range_index(rows: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """Return each row's depth range as its index among ``table``'s ranges (sorted by lower end, as the labels)."""
    lows = sorted(table["range_lo"].unique())
    return rows["range_lo"].map({lo: index for index, lo in enumerate(lows)}).rename("range_index")


def _range_labels(rows: pd.DataFrame) -> list[str]:
    ranges = rows[["range_lo", "range_hi"]].drop_duplicates().sort_values("range_lo")
    return [f"{lo:.1f}-{hi:.1f} m" for lo, hi in ranges.itertuples(index=False)]


def ablation_depth_ranges(df: pd.DataFrame, value: str = "relative_change", ax: Axes | None = None,
                          title: str | None = None) -> Figure:
    """Return a heatmap: ablated unit group (rows) x evaluated depth range (cols) of the relative error change.

    ``df``: rows of :func:`mdeinterp.interventions.ablation_experiment`; only "selective" ablations are drawn.
    The diagonal (outlined) holds each group's own range; each cell is labelled with its value.
    """
    rows = df[df["kind"] == "selective"]
    labels = _range_labels(df)
    # keyed by range, never by position: a range without test pixels (NaN change) keeps its column
    matrix = rows.pivot_table(index="group", columns=_range_index(rows, df), values=value, sort=True, dropna=False)
    matrix = matrix.reindex(columns=range(len(labels)))
    values = matrix.to_numpy()
    fig, ax = (plt.subplots(figsize=(1.3 * len(labels) + 2.2, 0.75 * len(matrix) + 1.6))
               if ax is None else (ax.figure, ax))
    limit = float(np.nanmax(np.abs(values))) if matrix.size else 1.0
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        # white on the dark ends of the colour map, black in its pale middle
        color = "white" if abs(v) > 0.55 * limit else "black"
        text = "no pixels" if not np.isfinite(v) else f"{v:+.0%}" if abs(v) >= 0.995 else f"{v:+.1%}"
        ax.text(j, i, text, ha="center", va="center", fontsize=10 if np.isfinite(v) else 8,
                color=color, fontweight="bold" if j == matrix.index[i] else "normal")
    for i, group in enumerate(matrix.index):
        ax.add_patch(plt.Rectangle((group - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.5))
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(matrix)), [labels[g] for g in matrix.index])
    ax.set_xlabel("evaluated depth range")
    ax.set_ylabel("ablated units preferring")
    ax.set_title(title or "relative change of AbsRel when ablating a group (outlined: own range)")
    fig.colorbar(image, ax=ax, label="relative change of AbsRel", format=PercentFormatter(1.0))  # % as the cells
    fig.tight_layout()
    return fig


def ablation_selective_vs_random(df: pd.DataFrame, value: str = "relative_change", ax: Axes | None = None,
                                 title: str | None = None) -> Figure:
    """Return grouped bars per unit group: error change in the group's own range, selective vs random units.

    Selective bars are one deterministic ablation (no error bar); random bars show the mean over draws with
    their standard deviation as error bars. The legend sits above the axes, clear of the bars.
    """
    from .interventions import own_range_rows

    own = own_range_rows(df)
    labels = _range_labels(df)
    stats = own.groupby(["group", "kind"])[value].agg(["mean", "std", "count"]).reset_index()
    groups = sorted(stats["group"].unique())
    own_figure = ax is None
    fig, ax = (plt.subplots(figsize=(PANEL[0] * 0.45 * len(groups) + 1.5, PANEL[1] * 1.15))
               if own_figure else (ax.figure, ax))
    width = 0.4
    for offset, kind, label in ((-width / 2, "selective", "selective units"),
                                (width / 2, "random", "as many random units (mean ± std of draws)")):
        part = stats[stats["kind"] == kind].set_index("group").reindex(groups)
        spread = part["std"].where(part["count"] > 1)  # one draw: nothing to spread
        ax.bar(np.arange(len(groups)) + offset, part["mean"], width, label=label, color=METHOD_COLORS[kind],
               yerr=None if spread.isna().all() else spread.fillna(0.0), capsize=2)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(range(len(groups)), [labels[g] for g in groups], rotation=30, ha="right", fontsize="small")
    ax.set_ylabel("relative change of AbsRel" if value == "relative_change" else column_title(value))
    ax.set_xlabel("units preferring / evaluated range")
    ax.set_title(title or "error change in the group's own range", fontsize="small", pad=28)
    ax.legend(fontsize="x-small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=1, frameon=False)
    if own_figure:
        fig.tight_layout()
    return fig


def error_correction(image: torch.Tensor | np.ndarray, depth: torch.Tensor | np.ndarray,
                     pred_before: torch.Tensor | np.ndarray, pred_after: torch.Tensor | np.ndarray,
                     correction: pd.DataFrame | None = None) -> Figure:
    """Return image | depth | |error| before | |error| after correction (metres), and optionally the removed-error bars.

    Args:
        image: (3, H, W) normalised or (H, W, 3); depth, pred_before, pred_after: (H, W) or (1, H, W) metres.
        correction: rows of :func:`mdeinterp.interventions.correction_experiment`; adds a panel of the error removed
            in each group's own range by correcting that group vs as many random units (positive: removed).
    """
    target = _depth_map(depth)
    errors = [np.ma.masked_where(target.mask, np.abs(_numpy(p).squeeze() - target.data)) for p in (pred_before, pred_after)]
    panels = 4 + (correction is not None)
    height, width = target.shape
    side = PANEL[1] * 0.7 * width / height  # one map panel's width: the image at the height left under its title
    fig, axes = plt.subplots(1, panels, layout="constrained", width_ratios=[1.0] * 4 + [1.3] * (panels - 4),
                             figsize=(4 * side + (1.3 * side + 0.8 if correction is not None else 0) + 1.2, PANEL[1] * 1.1))
    axes[0].imshow(_rgb(image))
    axes[0].set_title("test image", fontsize="small")
    shown = axes[1].imshow(target, cmap=depth_cmap())
    fig.colorbar(shown, ax=axes[1], fraction=0.046, label="depth (m)\ngrey: no depth")
    axes[1].set_title("true depth", fontsize="small")
    vmax = float(max(e.max() for e in errors))
    for ax, error, name in zip(axes[2:4], errors, ("before", "after correcting all units")):
        shown = ax.imshow(error, cmap="inferno", vmin=0, vmax=vmax)
        ax.set_title(f"|error| {name}\nmean {error.mean():.2f} m", fontsize="small")
    fig.colorbar(shown, ax=axes[3], fraction=0.046, label="|error| (m)")
    for ax in axes[:4]:
        ax.set_xticks([])
        ax.set_yticks([])
    if correction is not None:
        removed = correction.assign(relative_change=-correction["relative_change"])
        ablation_selective_vs_random(removed, ax=axes[4], title="AbsRel removed in own range (> 0: removed)")
        axes[4].set_ylabel("share of AbsRel removed")
        axes[4].yaxis.set_major_formatter(PercentFormatter(1.0))
    return fig


def predicted_depth_maps(images: Sequence[torch.Tensor | np.ndarray], depths: Sequence[torch.Tensor | np.ndarray],
                         predictions: Mapping[str, Sequence[torch.Tensor | np.ndarray]],
                         d_max: float | None = None) -> Figure:
    """Return one row per test image: image | true depth | each model's predicted depth, on one depth scale.

    Args:
        images: N images (3, H, W) normalised or (H, W, 3).
        depths: N true depth maps (H, W) or (1, H, W), metres, <= 0 invalid.
        predictions: model name (e.g. "baseline", "interpretable") -> N predicted depth maps (metres).
        d_max: top of the depth colour scale (default: the largest true depth).
    Each prediction's title gives its AbsRel on that image's valid pixels.
    """
    truths = [_depth_map(depth) for depth in depths]
    top = d_max or float(max(t.max() for t in truths))
    cols = 2 + len(predictions)
    height, width = truths[0].shape
    scale = width / height / (PANEL[0] / PANEL[1])
    fig, axes = plt.subplots(len(truths), cols, squeeze=False, layout="constrained",
                             figsize=(PANEL[0] * cols * scale * 0.8 + 0.8, PANEL[1] * len(truths) * 0.8 + 0.3))
    for row, (image, truth) in enumerate(zip(images, truths)):
        axes[row, 0].imshow(_rgb(image))
        shown = axes[row, 1].imshow(truth, cmap=depth_cmap(), vmin=0, vmax=top)
        for col, (name, maps) in enumerate(predictions.items(), start=2):
            pred = _numpy(maps[row]).astype(np.float64).squeeze()
            abs_rel = float(np.mean(np.abs(pred - truth.data)[~truth.mask] / truth.data[~truth.mask]))
            axes[row, col].imshow(np.ma.masked_where(truth.mask, pred), cmap=depth_cmap(), vmin=0, vmax=top)
            axes[row, col].set_title(f"{name}: AbsRel {abs_rel:.3f}", fontsize="small")
        axes[row, 0].set_ylabel(f"test image {row}", fontsize="small")
    axes[0, 0].set_title("image", fontsize="small")
    axes[0, 1].set_title("true depth", fontsize="small")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), label="depth (m), bright = near; grey: no true depth", shrink=0.8)
    return fig


def ablation_curve(df: pd.DataFrame, value: str = "relative_change") -> Figure:
    """Return one panel per depth range: own-range error change against the number of ablated units.

    ``df``: rows of :func:`mdeinterp.interventions.ablation_by_size` (group, kind, draw, units, range_lo,
    range_hi, ``value``); dark line: the range's most selective units, light band: random units (mean ± std
    over draws). The x-axis is log2 (1, 2, 4, … units).
    """
    from .interventions import own_range_rows

    own = own_range_rows(df)
    labels = _range_labels(df)
    groups = sorted(own["group"].unique())
    fig, axes = _grid(1, len(groups), sharey=True)
    for ax, group in zip(axes[0], groups):
        rows = own[own["group"] == group]
        for kind, label in (("selective", "most selective units"), ("random", "random units")):
            stats = rows[rows["kind"] == kind].groupby("units")[value].agg(["mean", "std"]).sort_index()
            ax.plot(stats.index, stats["mean"], marker="o", markersize=4, color=METHOD_COLORS[kind], label=label)
            if kind == "random" and stats["std"].notna().any():
                spread = stats["std"].fillna(0.0)
                ax.fill_between(stats.index, stats["mean"] - spread, stats["mean"] + spread,
                                color=METHOD_COLORS[kind], alpha=0.35, linewidth=0)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xscale("log", base=2)
        sizes = sorted(rows["units"].unique())
        ax.set_xticks(sizes, [str(int(n)) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("ablated units")
        ax.set_title(f"units preferring {labels[group]}", fontsize="small")
    axes[0, 0].set_ylabel("AbsRel change in own range" if value == "relative_change" else column_title(value))
    axes[0, 0].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[0, 0].legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def claim_margins(table: pd.DataFrame, rise_threshold: float, d1_drop: float) -> Figure:
    """Return two panels per setting: the rise of mean DS and the change of δ1, interpretable − baseline.

    ``table``: one row per setting with ``setting``, ``ds_rise`` and ``d1_change`` (optional ``*_std`` for
    error bars over seeds), as :func:`mdeinterp.claims.setting_margins` reads them from ``claims.json``. The dashed
    lines are the claims' thresholds: DS must rise by ``rise_threshold`` (C2), δ1 must not fall by more than
    ``d1_drop`` (C3); bars that miss them are hatched. Optional ``ds_rise_marginal`` / ``d1_marginal`` (a margin
    inside the seeds' spread) draw the bar with a dotted edge and "marginal" above it, and each panel's verdict
    (``ds_rise_verdict``, ``d1_verdict``; else the setting's ``verdict``) other than "holds" is written in brackets
    after the setting's name, so each panel says what the verdict on its own statistic says.
    """
    settings = list(table["setting"])

    def labels(column: str) -> list[str]:
        column = column if column in table else "verdict"
        words = table[column].fillna("").tolist() if column in table else [""] * len(settings)
        return [name if word in ("", "holds") else f"{name} [{word}]" for name, word in zip(settings, words)]

    fig, axes = _grid(1, 2, scale=max(1.0, len(settings) / 4))
    for ax, column, threshold, passes, title in (
            (axes[0, 0], "ds_rise", rise_threshold, lambda v: v >= rise_threshold,
             f"smallest rise of mean DS over the assigned layers (C2: ≥ {rise_threshold})"),
            (axes[0, 1], "d1_change", -d1_drop, lambda v: v >= -d1_drop,
             f"change of δ1, mean over seeds (C3: ≥ −{d1_drop})")):
        values = table[column].to_numpy(dtype=float)
        spread = table[f"{column}_std"].to_numpy(dtype=float) if f"{column}_std" in table else None
        marginal_column = "ds_rise_marginal" if column == "ds_rise" else "d1_marginal"
        marginal = table[marginal_column].fillna(False).astype(bool).tolist() if marginal_column in table \
            else [False] * len(settings)
        bars = ax.bar(range(len(settings)), values, color=METHOD_COLORS["interpretable"],
                      yerr=None if spread is None or np.isnan(spread).all() else np.nan_to_num(spread), capsize=2)
        for bar, v, weak in zip(bars, values, marginal):
            if not passes(v):
                bar.set_hatch("//")
                bar.set_facecolor(METHOD_COLORS["baseline"])
            if weak:
                bar.set_edgecolor("black")
                bar.set_linestyle(":")
                bar.set_linewidth(1.5)
                ax.annotate("marginal", (bar.get_x() + bar.get_width() / 2, max(v, 0.0)), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize="x-small")
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1.0, label="threshold (hatched: missed)")
        ax.axhline(0, color="black", linewidth=0.5)
        if any(marginal):  # headroom, so that a "marginal" above the tallest bar stays clear of the title
            lo, hi = ax.get_ylim()
            ax.set_ylim(lo, hi + 0.12 * (hi - lo))
        ax.set_xticks(range(len(settings)), labels(marginal_column.replace("_marginal", "_verdict")), rotation=30, ha="right", fontsize="small")
        ax.set_title(title, fontsize="small")
        ax.set_ylabel("interpretable − baseline")
    if any(table.get("ds_rise_marginal", [])) or any(table.get("d1_marginal", [])):
        axes[0, 0].plot([], [], " ", label="dotted edge: marginal (margin within the seeds' spread)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize="x-small", frameon=False)
    return fig


# ---- sensitivity -----------------------------------------------------------------------------------


def zoomed_label(ax: Axes, name: str) -> str:
    """Return ``name`` as a y-axis label, flagged "(axis zoomed: lo–hi)" when ``ax``'s y-range leaves out 0.

    A zoomed axis makes differences in the third decimal look large; the flag keeps the reader from taking the
    panel's height for the size of the change.
    """
    low, high = ax.get_ylim()
    if low <= 0 <= high or not high > low:
        return name
    digits = max(2, 1 - int(np.floor(np.log10(high - low))))  # enough to tell the two ends apart
    return f"{name} (axis zoomed: {low:.{digits}f}–{high:.{digits}f})"


def sensitivity(df: pd.DataFrame, x: str = "alpha", columns: Sequence[str] = ("d1", "abs_rel", "mean_selectivity"),
                hue: str | None = None, title: str | None = None) -> Figure:
    """Return one panel per column against ``x`` (mean over seeds, std as error bars; symlog x for alpha).

    ``df``: one row per run (and layer, when ``hue`` = "layer") with ``x`` and the columns. Titles and
    axis labels are in words; ticks sit on the measured values, and each point is labelled with its value,
    so a sweep of two or three points still reads. A y-axis that leaves out 0 says so in its label
    (:func:`zoomed_label`, e.g. "δ1 (axis zoomed: 0.695–0.711)").
    """
    columns = [c for c in columns if c in df]
    fig, axes = _grid(1, len(columns), scale=1.15)
    for ax, column in zip(axes[0], columns):
        groups = df.groupby(hue, sort=False) if hue else [(None, df)]
        for key, part in groups:
            stats = part.groupby(x)[column].agg(["mean", "std"]).sort_index()
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0.0), marker="o", markersize=5,
                        capsize=2, color=METHOD_COLORS["interpretable"] if key is None else None,
                        label=None if key is None else str(key))
            for xv, yv in zip(stats.index, stats["mean"]):
                ax.annotate(f"{yv:.3f}", (xv, yv), textcoords="offset points", xytext=(0, 6), ha="center",
                            fontsize="x-small")
        values = sorted(df[x].unique())
        if x == "alpha":
            positive = df[x][df[x] > 0]
            ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
        elif (df[x] > 0).all():
            ax.set_xscale("log", base=2)
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.minorticks_off()
        ax.margins(x=0.15, y=0.25)
        ax.set_xlabel(AXIS_NAMES.get(x, x))
        ax.set_title(column_title(column), fontsize="small")
        ax.set_ylabel(zoomed_label(ax, SHORT_NAMES.get(column, column)))
    if hue:
        axes[0, -1].legend(fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    return fig


__all__ = [
    "save", "show", "data_samples", "depth_histogram", "training_curves", "unit_activation_maps", "depth_response_units",
    "selectivity_distribution", "selectivity_vs_chance", "response_matrix", "ablation_depth_ranges", "ablation_selective_vs_random",
    "error_correction", "sensitivity", "paired_color", "column_title", "depth_bin_axis", "unit_response", "bin_pixels",
    "unit_maps_on_images", "predicted_depth_maps", "ablation_curve", "claim_margins", "unit_explorer",
    "accuracy_by_range", "selectivity_dynamics", "plateau_steps", "position_indices", "depth_cmap", "zoomed_label",
    "on_assigned_bin",
]

# old names of figure functions that shared a name with a function of another module
__getattr__ = moved(__name__, {"range_accuracy": "mdeinterp.plots:accuracy_by_range",
                               "position_control": "mdeinterp.plots:position_indices"})


# ---- accuracy per depth range, selectivity over training ------------------------------------------------


#: The per-range accuracy goals, drawn as each panel's dashed line (:data:`mdeinterp.tables.RANGE_GOALS`).
RANGE_GOALS, RANGE_GOAL_OTHERS = _tables.RANGE_GOALS, _tables.RANGE_GOAL_OTHERS


def accuracy_by_range(table: pd.DataFrame, metric: str = "d1",
                      target: float | Mapping[str, float] | None = None, columns: int = 3) -> Figure:
    """Return one panel per setting: ``metric`` per depth range, one bar group per method.

    ``table`` is :func:`mdeinterp.tables.tab_range_accuracy`. Error bars are the seed std, drawn only for bars
    of several seeds (``seeds`` column). ``target``: the dashed goal line per panel: a number for every panel,
    a mapping setting -> goal, or None for the project's goals (:data:`RANGE_GOALS`, else
    :data:`RANGE_GOAL_OTHERS`); panels wrap after ``columns``.
    """
    settings = list(dict.fromkeys(table["setting"]))
    cols = min(columns, len(settings))
    rows_count = -(-len(settings) // cols)
    fig, axes = _grid(rows_count, cols)
    for ax in axes.flat[len(settings):]:
        ax.set_visible(False)
    for ax, setting in zip(axes.flat, settings):
        rows = table[table["setting"] == setting]
        methods = list(dict.fromkeys(rows["method"]))
        ranges = list(dict.fromkeys(rows["range"]))
        width = 0.8 / len(methods)
        for i, method in enumerate(methods):
            part = rows[rows["method"] == method].set_index("range").reindex(ranges)
            several = part["seeds"] > 1 if "seeds" in part else pd.Series(True, index=part.index)
            error = part[f"{metric}_std"].where(several)  # one seed: no spread to show, no cap
            ax.bar(np.arange(len(ranges)) + (i - (len(methods) - 1) / 2) * width, part[f"{metric}_mean"], width,
                   yerr=error if several.any() else None, label=str(method), capsize=2,
                   color=paired_color(str(method)))
        goal = (target.get(setting) if isinstance(target, Mapping) else target) if target is not None else \
            RANGE_GOALS.get(str(setting), RANGE_GOAL_OTHERS)
        if goal is not None:
            ax.axhline(goal, color="0.3", linestyle="--", linewidth=0.8)
        ax.set_xticks(np.arange(len(ranges)), ranges, rotation=30, ha="right", fontsize="small")
        ax.set_title(str(setting) + (f" (dashed: goal {goal:g})" if goal is not None else ""), fontsize="medium")
        ax.set_ylabel(textwrap.fill(COLUMN_TITLES.get(metric, metric), 30), fontsize="small")
    axes.flat[min(cols, len(settings)) - 1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


def plateau_steps(history: pd.DataFrame, layers: Sequence[str], hue: str = "method",
                  tolerance: float = 0.01) -> dict[str, int | None]:
    """Return ``hue`` value -> the step from which all its runs' probe DS had stopped rising, None if one never did.

    Each run (``name``) is checked by :func:`mdeinterp.train.plateau_epoch` on all ``layers`` together, as
    :func:`mdeinterp.results.plateau_table` (``results/plateaus.csv``) does; a group's plateau is its last run's.
    Runs without an ``epoch`` column are numbered in step order.
    """
    from .train import plateau_step

    found: dict[str, int | None] = {}
    for key, runs in history.groupby(hue, sort=False):
        steps = []
        for _, run in runs.groupby("name", sort=False):
            run = run.sort_values("step")
            if "epoch" not in run:
                run = run.assign(epoch=np.arange(1, len(run) + 1))
            steps.append(plateau_step(run, list(layers), tolerance))
        found[str(key)] = None if None in steps else max(steps)
    return found


def selectivity_dynamics(history: pd.DataFrame, layers: Sequence[str], hue: str = "method",
                         plateaus: Mapping[str, int | None] | None = None, tolerance: float = 0.01) -> Figure:
    """Return one panel per layer: probe mean DS against training steps, per ``hue`` value the mean over runs
    (seeds) with their min–max band, and a diamond and dashed line where the curve's plateau starts.

    ``history`` holds the epoch logs of the runs (:func:`mdeinterp.results.training_history`, ``ds_<layer>``
    columns) labelled by ``hue`` and ``name``. ``plateaus``: ``hue`` value -> plateau step, None for a curve that
    never plateaus (its legend entry says "no plateau"); default :func:`plateau_steps` with ``tolerance``.
    """
    from matplotlib.lines import Line2D

    if plateaus is None:
        plateaus = plateau_steps(history, layers, hue, tolerance)
    fig, axes = _grid(1, len(layers))
    fig.set_figwidth(fig.get_figwidth() + 2.5)  # room for the legend right of the panels
    for ax, layer in zip(axes[0], layers):
        column = f"ds_{layer}"
        marks = []
        for key, runs in history.groupby(hue, sort=False):
            curve = runs.groupby("step")[column].agg(["mean", "min", "max"]).dropna()
            count = runs["name"].nunique()
            start = plateaus.get(str(key))
            flat = "no plateau" if start is None else f"plateau from step {start:,}"
            line, = ax.plot(curve.index, curve["mean"], marker="o", markersize=3, color=METHOD_COLORS.get(str(key)),
                            label=f"{key} ({count} run{'s' * (count != 1)}; {flat})")
            ax.fill_between(curve.index, curve["min"], curve["max"], color=line.get_color(), alpha=0.2)
            if start is not None and start in curve.index:
                marks.append((start, float(curve.loc[start, "mean"]), line.get_color()))
        # drawn after every curve, so ax.lines starts with the curves in hue order
        for start, value, color in marks:
            ax.axvline(start, color=color, linestyle="--", linewidth=0.9, gid="plateau")
            ax.plot([start], [value], marker="D", markersize=7, color=color, markeredgecolor="black",
                    linestyle="none", gid="plateau")
        ax.set_xlabel("step")
        ax.set_ylabel("mean DS of the probe images")
        ax.set_title(f"layer {layer}")
    handles, _ = axes[0, -1].get_legend_handles_labels()
    if any(start is not None for start in plateaus.values()):
        handles.append(Line2D([], [], color="0.3", linestyle="--", marker="D", markeredgecolor="black",
                              label=f"plateau start (DS rises < {tolerance:g} per epoch)"))
    axes[0, -1].legend(handles=handles, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


# ---- depth or image position ------------------------------------------------------------------------------


def position_indices(tables: Mapping[str, pd.DataFrame], threshold: float = 2 / 3) -> Figure:
    """Return one panel per layer: each unit's position index (y) against its preferred bin's depth (x, metres).

    ``tables``: method label ("baseline", "interpretable") -> :func:`mdeinterp.position.position_control`.
    x is the bin's centre (bin 0 starts at 0 m). Marker area grows with the unit's DS; units whose preferred bin
    is missing from one part of the image are left out. The dashed line is ``threshold`` (5x more response in
    the bottom rows), the grey line 0.
    """
    layers = list(dict.fromkeys(layer for table in tables.values() for layer in table["layer"]))
    fig, axes = _grid(1, len(layers), sharey=True)
    for ax, layer in zip(axes[0], layers):
        for method, table in tables.items():
            units = table[(table["layer"] == layer)].dropna(subset=["position_index"])
            centre = (units["bin_lo"] + units["bin_hi"]) / 2
            ax.scatter(centre, units["position_index"], s=10 + 60 * units["selectivity"] ** 2,
                       color=METHOD_COLORS.get(method), edgecolor="0.2", linewidth=0.4, label=method, alpha=0.85)
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.axhline(threshold, color="0.3", linestyle="--", linewidth=0.8)
        ax.set_xlabel("preferred bin's centre (m)")
        ax.set_title(f"layer {layer}", fontsize="small")
        ax.set_ylim(-1.1, 1.1)
    axes[0, 0].set_ylabel("position index (+1: bottom rows only)")
    axes[0, -1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig

