"""Figure defects found reading the full run's figures: each test pins the fixed behaviour on the returned Figure,
and the guide above the figure in its notebook says what the figure now shows (issue 29)."""

import matplotlib

matplotlib.use("Agg")

from pathlib import Path

import jupytext
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba

from mdeinterp import plots

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def guide_above(notebook: str, figure: str) -> str:
    """Return the markdown cell directly above the cell that shows ``figure`` in ``<notebook>.py``."""
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


# ---- fig_predicted_depth: each panel's AbsRel is printed, the guide says to read it ------------------------------


def test_predicted_depth_prints_each_panels_abs_rel_and_the_guide_says_to_read_it_not_judge_by_eye():
    truth = [torch.full((1, 3, 4), 2.0), torch.full((1, 3, 4), 4.0)]
    truth[1][0, 0, 0] = 0.0  # invalid: left out of the AbsRel
    baseline = [torch.full((3, 4), 2.714), torch.full((3, 4), 5.428)]  # AbsRel 0.357 on both images
    interp = [torch.full((3, 4), 2.714), torch.full((3, 4), 6.272)]  # image 1: 0.357 -> 0.568, maps alike by eye
    fig = plots.predicted_depth_maps([np.zeros((3, 4, 3))] * 2, truth, {"baseline": baseline, "interpretable": interp})
    titles = [[ax.get_title() for ax in image_axes(fig)[row * 4 + 2: row * 4 + 4]] for row in range(2)]
    assert titles == [["baseline: AbsRel 0.357", "interpretable: AbsRel 0.357"],
                      ["baseline: AbsRel 0.357", "interpretable: AbsRel 0.568"]]
    assert not fig.texts and not fig.get_suptitle()  # no caption claiming that alike maps mean no change
    guide = guide_above("01_train", "fig_predicted_depth")
    assert "Similar maps mean" not in guide
    assert "AbsRel" in guide and "title" in guide and "not by eye" in guide


# ---- fig_sensitivity_*: a y-axis that leaves out 0 is flagged as zoomed ------------------------------------------


def test_sensitivity_flags_each_zoomed_y_axis_with_its_range_and_leaves_axes_from_zero_alone():
    import pandas as pd

    df = pd.DataFrame({"alpha": [0.0, 0.1, 1.0], "d1": [0.698, 0.708, 0.703], "abs_rel": [0.18, 0.19, 0.2],
                       "mean_selectivity": [0.0, 0.3, 0.6]})
    fig = plots.sensitivity(df, x="alpha")
    d1, abs_rel, ds = [ax for ax in fig.axes if ax.get_visible()]
    low, high = d1.get_ylim()
    assert low > 0  # the δ1 panel is zoomed in on 0.698–0.708
    assert d1.get_ylabel() == f"δ1 (axis zoomed: {low:.3f}–{high:.3f})"
    assert abs_rel.get_ylabel().startswith("AbsRel (axis zoomed: ")
    assert ds.get_ylim()[0] <= 0 and ds.get_ylabel() == "mean DS"  # its axis holds 0: nothing to flag
    assert "axis zoomed" in guide_above("06_sensitivity", "fig_sensitivity_alpha")


# ---- fig_depth_response_units: the legend sits outside the panels, over no bar -----------------------------------


def test_depth_response_units_legend_sits_outside_the_panels_and_covers_no_bar():
    from mdeinterp.selectivity import DepthResponse, sid_edges

    sums = torch.tensor([[9.0, 1.0, 1.0, 1.0], [8.0, 2.0, 1.0, 1.0], [1.0, 1.0, 1.0, 9.0]])  # bins 0, 0, 3 preferred
    response = DepthResponse("D", sid_edges(4, 1.2, 8.0), sums, torch.full((4,), 1.0))
    for units in ([0, 1, 2], [0, 1, 2, 0, 1, 2]):  # one row; two rows (the legend stays by the top row)
        fig = plots.depth_response_units(response, units)
        fig.canvas.draw()
        panels = [ax for ax in fig.axes if ax.get_visible()]
        legends = [ax.get_legend() for ax in panels if ax.get_legend() is not None]
        assert len(legends) == 1
        box = legends[0].get_window_extent()
        assert not any(box.overlaps(ax.get_window_extent()) for ax in panels)  # outside every panel
        assert not any(box.overlaps(bar.get_window_extent()) for ax in panels for bar in ax.patches)
        assert [t.get_text() for t in legends[0].get_texts()][0] == "preferred bin"


# ---- fig_selectivity_dynamics: each curve's plateau start is marked, "no plateau" in the legend -----------------


def dynamics_history():
    import pandas as pd

    # baseline b0 flat from step 1,500 (rise 0.005 < 0.01), b1 from 2,000: the curve's plateau is its last run's
    rows = {"b0": ("baseline", [0.30, 0.40, 0.405, 0.41]), "b1": ("baseline", [0.30, 0.35, 0.45, 0.452]),
            "i0": ("interpretable", [0.3, 0.5, 0.7, 0.9])}  # still rising
    return pd.DataFrame([{"name": name, "method": method, "epoch": e + 1, "step": 500 * (e + 1), "ds_D": ds,
                          "ds_MFF": ds}
                         for name, (method, values) in rows.items() for e, ds in enumerate(values)])


def test_selectivity_dynamics_marks_each_curves_plateau_start_and_says_no_plateau_in_the_legend():
    history = dynamics_history()
    assert plots.plateau_steps(history, ["D", "MFF"]) == {"baseline": 2000, "interpretable": None}
    fig = plots.selectivity_dynamics(history, ["D", "MFF"])
    for ax in [ax for ax in fig.axes if ax.get_visible()]:
        marks = [line for line in ax.lines if line.get_gid() == "plateau"]
        vertical = [line for line in marks if line.get_linestyle() == "--"]
        assert [list(line.get_xdata()) for line in vertical] == [[2000, 2000]]  # only the baseline plateaus
        diamond, = [line for line in marks if line.get_marker() == "D"]
        assert list(diamond.get_xdata()) == [2000] and list(diamond.get_ydata()) == pytest.approx([0.431])
        assert diamond.get_color() == plots.METHOD_COLORS["baseline"]
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert legend == ["baseline (2 runs; plateau from step 2,000)", "interpretable (1 run; no plateau)",
                      "plateau start (DS rises < 0.01 per epoch)"]


def test_selectivity_dynamics_takes_given_plateaus_and_the_guide_names_the_marks():
    fig = plots.selectivity_dynamics(dynamics_history(), ["D"], plateaus={"baseline": None, "interpretable": 1000})
    ax = fig.axes[0]
    assert [list(line.get_xdata()) for line in ax.lines if line.get_gid() == "plateau"] == [[1000, 1000], [1000]]
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["baseline (2 runs; no plateau)",
                                                                       "interpretable (1 run; plateau from step 1,000)"]
    guide = guide_above("01_train", "fig_selectivity_dynamics")
    assert "diamond" in guide and "no plateau" in guide


# ---- fig_response_matrix: how many units prefer their assigned bin is counted, the guide asserts no diagonal ------


def test_response_matrix_counts_the_units_that_prefer_their_assigned_bin_and_the_guide_says_how_to_read_it():
    from mdeinterp.selectivity import DepthResponse, sid_edges

    # 8 units, 4 bins: units 2c and 2c + 1 are assigned bin c; units 0-4 all prefer bin 0 (one block, as in the run)
    preferred = [0, 0, 0, 0, 0, 2, 3, 3]
    sums = torch.ones(8, 4)
    sums[torch.arange(8), torch.tensor(preferred)] = 9.0
    response = DepthResponse("D", sid_edges(4, 1.2, 8.0), sums, torch.full((4,), 1.0))
    assert list(response.assigned_bin) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert plots.on_assigned_bin(response) == 5  # units 0, 1 (bin 0), 5 (bin 2), 6, 7 (bin 3)
    fig = plots.response_matrix({"interpretable D": response, "few units": DepthResponse(
        "MFF", sid_edges(4, 1.2, 8.0), torch.ones(2, 4), torch.full((4,), 1.0))})
    titles = [ax.get_title() for ax in image_axes(fig)]
    assert titles == ["interpretable D\n5 of 8 units prefer their assigned bin", "few units"]  # 4 bins > 2 units
    guide = guide_above("02_selectivity", "fig_response_matrix")
    assert "line up on the diagonal" not in guide
    assert "preferred bin" in guide and "assigned bin" in guide and "units prefer their assigned bin" in guide
