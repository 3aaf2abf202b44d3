"""Figure defects found reading the full run's figures: each test pins the fixed behaviour on the returned Figure."""

import matplotlib

matplotlib.use("Agg")

from pathlib import Path

import jupytext
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba

from mdeinterp import plots

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def guide_above(notebook: str, figure: str) -> str:
    """Return the markdown cell directly above the cell that shows ``figure`` in ``notebooks/<notebook>.py``."""
    cells = jupytext.read(NOTEBOOKS / f"{notebook}.py").cells
    index = next(i for i, cell in enumerate(cells) if cell.cell_type == "code" and f'"{figure}"' in cell.source)
    assert cells[index - 1].cell_type == "markdown"
    return " ".join(cells[index - 1].source.split())


def image_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_images() and ax.get_label() != "<colorbar>"]


# ---- fig_data_samples: invalid depth is grey, off the colour map -------------------------------------------------


def test_data_samples_draws_invalid_depth_in_grey_off_the_colour_map_and_says_so():
    depth = torch.full((1, 4, 6), 3.0)
    depth[0, 0, :] = 0.0  # sky: no depth
    fig = plots.data_samples([{"image": torch.zeros(3, 4, 6), "depth": depth}])
    shown = image_axes(fig)[1].get_images()[0]
    assert shown.get_array().mask[0].all() and not shown.get_array().mask[1:].any()
    bad = shown.get_cmap().get_bad()
    assert tuple(bad) == pytest.approx(to_rgba(plots.NO_DEPTH))  # not transparent: white read as the nearest depth
    on_map = shown.get_cmap()(np.linspace(0, 1, 256))
    assert np.abs(on_map - bad).sum(axis=1).min() > 0.1  # grey is no colour of the depth scale
    colorbar = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"][0]
    assert "grey: no depth" in colorbar.get_ylabel()
    assert "Grey is no depth" in guide_above("00_data", "fig_data_samples")
