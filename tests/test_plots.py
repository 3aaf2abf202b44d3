"""Each figure function on small synthetic inputs: axes, bar heights, image shapes; save writes PNG and PDF."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from mdeinterp import plots
from mdeinterp.analysis import LayerResponse
from mdeinterp.selectivity import sid_edges


def make_response(units: int = 6, bins: int = 4, layer: str = "D") -> LayerResponse:
    sums = torch.arange(units * bins, dtype=torch.float64).view(units, bins) % 5 + 1
    return LayerResponse(layer, sid_edges(bins, 0.75, 10.0), sums, torch.full((bins,), 2.0, dtype=torch.float64))


def visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def test_depth_response_units_draws_k_bars_per_unit_with_the_mean_response():
    response = make_response()
    fig = plots.depth_response_units(response, [1, 4])
    axes = visible_axes(fig)
    assert len(axes) == 2
    for ax, unit in zip(axes, [1, 4]):
        heights = [patch.get_height() for patch in ax.patches]
        assert heights == pytest.approx(response.mean_response[unit].tolist())  # sums / 2
    assert axes[0].patches[0].get_height() == pytest.approx(0.5 * (4 % 5 + 1))  # unit 1, bin 0: sum 5 -> 2.5


def test_response_matrix_image_is_units_by_bins_scaled_to_unit_max():
    response = make_response(units=6, bins=4)
    fig = plots.response_matrix({"a": response, "b": response}, sort_by_preferred=True)
    images = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]
    assert len(images) == 2
    assert images[0].shape == (6, 4)
    assert np.asarray(images[0]).max(axis=1) == pytest.approx(np.ones(6))
    preferred = np.asarray(images[0]).argmax(axis=1)
    assert list(preferred) == sorted(preferred)  # sorted by preferred bin


def test_unit_activation_maps_one_panel_per_unit_plus_image_and_depth():
    image = np.zeros((8, 12, 3), dtype=np.uint8)
    activations = torch.rand(5, 4, 6)
    fig = plots.unit_activation_maps(image, activations, [0, 2, 3], depth=torch.ones(1, 8, 12))
    axes = visible_axes(fig)
    assert len(axes) == 5
    assert axes[2].get_images()[1].get_array().shape == (4, 6)  # overlaid activation of unit 0


def test_selectivity_distribution_one_panel_per_layer():
    table = pd.DataFrame({"layer": ["D"] * 4 + ["MFF"] * 4, "method": ["baseline", "interpretable"] * 4,
                          "selectivity": [0.1, 0.9, 0.2, 0.8, 0.1, 0.5, 0.3, 0.6]})
    fig = plots.selectivity_distribution(table, bins=10)
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["D", "MFF"]
    assert len(axes[0].patches) == 20  # 10 bins x 2 methods
    assert sum(p.get_height() for p in axes[0].patches) == pytest.approx(2.0)  # shares per method


def ablation_rows() -> pd.DataFrame:
    rows = []
    for g in range(3):
        for r in range(3):
            rows.append(dict(group=g, kind="selective", draw=0, range_lo=float(r), range_hi=r + 1.0,
                             relative_change=0.5 if r == g else 0.1))
            rows.append(dict(group=g, kind="random", draw=0, range_lo=float(r), range_hi=r + 1.0, relative_change=0.2))
            rows.append(dict(group=g, kind="random", draw=1, range_lo=float(r), range_hi=r + 1.0, relative_change=0.0))
    return pd.DataFrame(rows)


def test_ablation_depth_ranges_heatmap_is_groups_by_ranges():
    fig = plots.ablation_depth_ranges(ablation_rows())
    image = fig.axes[0].get_images()[0].get_array()
    assert image.shape == (3, 3)
    assert np.diag(np.asarray(image)).tolist() == pytest.approx([0.5] * 3)


def test_ablation_selective_vs_random_bars_are_own_range_means():
    fig = plots.ablation_selective_vs_random(ablation_rows())
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([0.5] * 3 + [0.1] * 3)  # selective; random mean of 0.2 and 0.0


def test_error_correction_panels_and_error_maps():
    depth = torch.full((1, 4, 5), 2.0)
    depth[0, 0, 0] = 0  # invalid pixel is masked
    fig = plots.error_correction(np.zeros((4, 5, 3), np.uint8), depth, torch.full((4, 5), 3.0), torch.full((4, 5), 2.5),
                                 correction=ablation_rows().assign(relative_change=lambda d: -d["relative_change"]))
    axes = visible_axes(fig)
    assert len(axes) == 5
    before = axes[2].get_images()[0].get_array()
    assert before.shape == (4, 5) and before.mask[0, 0] and before.mean() == pytest.approx(1.0)
    assert axes[3].get_images()[0].get_array().mean() == pytest.approx(0.5)


def test_sensitivity_plots_mean_over_seeds_per_x():
    df = pd.DataFrame({"alpha": [0, 0, 0.1, 0.1, 1.0], "d1": [0.5, 0.7, 0.6, 0.6, 0.4],
                       "abs_rel": [0.2] * 5, "mean_selectivity": [0.1, 0.1, 0.3, 0.5, 0.6]})
    fig = plots.sensitivity(df, x="alpha")
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["d1", "abs_rel", "mean_selectivity"]
    assert axes[0].lines[0].get_ydata() == pytest.approx([0.6, 0.6, 0.4])
    assert axes[2].lines[0].get_ydata() == pytest.approx([0.1, 0.4, 0.6])


def test_training_curves_plot_depth_loss_and_selectivity_term_apart():
    history = pd.DataFrame({"name": ["base", "base", "interp", "interp"], "step": [500, 1000, 500, 1000],
                            "train_loss": [2, 1, 1.9, 0.8], "depth_loss": [2, 1, 2.0, 0.9],
                            "sel_D": [None, None, 0.4, 0.5], "sel_MFF": [None, None, 0.6, 0.5],
                            "d1": [0.1, 0.2, 0.1, 0.3]})
    fig = plots.training_curves(history)
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["depth_loss", "selectivity_term", "d1"]
    assert list(axes[0].lines[1].get_ydata()) == [2.0, 0.9]  # the interpretable run's depth loss, not −α·term
    assert len(axes[1].lines[0].get_xdata()) == 0  # the baseline has no term
    assert list(axes[1].lines[1].get_ydata()) == pytest.approx([1.0, 1.0])  # sel_D + sel_MFF
    assert list(axes[2].lines[1].get_xdata()) == [500, 1000]


def test_selectivity_dynamics_mean_and_band_over_seeds():
    history = pd.DataFrame({"name": ["b0", "b0", "b1", "b1", "i0", "i0"], "method": ["baseline"] * 4 + ["interp"] * 2,
                            "step": [500, 1000] * 3, "ds_D": [0.3, 0.4, 0.5, 0.6, 0.5, 0.7]})
    fig = plots.selectivity_dynamics(history, ["D"])
    ax = visible_axes(fig)[0]
    assert ax.get_title() == "probe DS D" and len(ax.lines) == 2
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.4, 0.5]) and list(ax.lines[1].get_ydata()) == [0.5, 0.7]
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(0.3) and band.max() == pytest.approx(0.6)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["baseline (2)", "interp (1)"]


def test_range_accuracy_bars_per_method_with_goal_line():
    from mdeinterp.tables import tab_range_accuracy

    ranges = pd.DataFrame({"setting": ["main"] * 6, "method": ["baseline"] * 4 + ["interp"] * 2,
                           "seed": [0, 0, 1, 1, 0, 0], "range_lo": [0.0, 2.0] * 3, "range_hi": [2.0, 8.0] * 3,
                           "share": [0.3, 0.7] * 3, "d1": [0.5, 0.9, 0.7, 0.9, 0.8, 0.95], "abs_rel": [0.2] * 6})
    fig = plots.range_accuracy(tab_range_accuracy(ranges))
    ax = visible_axes(fig)[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.6, 0.9, 0.8, 0.95])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0–2 m", "2–8 m"]
    assert ax.lines[-1].get_ydata()[0] == 0.75


def test_data_samples_and_histogram():
    sample = {"image": torch.zeros(3, 8, 12), "depth": torch.rand(1, 8, 12) * 9 + 0.8}
    fig = plots.data_samples([sample, sample], titles=["indoor", "outdoor"])
    assert len(visible_axes(fig)) == 4
    edges = sid_edges(4, 0.75, 10.0)
    depths = torch.tensor([0.0, 0.5, 0.5, 2.0, 9.0])  # 0 is invalid
    fig = plots.depth_histogram(depths, edges)
    heights = [p.get_height() for p in fig.axes[0].patches]
    expected = np.histogram([0.5, 0.5, 2.0, 9.0], bins=edges.numpy())[0] / 4
    assert heights == pytest.approx(expected.tolist())


def test_save_writes_png_and_pdf_and_closes(tmp_path):
    import matplotlib.pyplot as plt

    fig = plots.depth_response_units(make_response(), [0])
    png, pdf = plots.save(fig, tmp_path / "sub" / "fig_x")
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"
    assert not plt.fignum_exists(fig.number)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["fig_x.pdf", "fig_x.png"]  # no temp files left


def test_selectivity_vs_chance_draws_a_violin_per_method_and_the_chance_p90_per_layer():
    units = pd.DataFrame({"layer": ["D"] * 4 + ["MFF"] * 4, "method": ["baseline", "interpretable"] * 4,
                          "selectivity": [0.1, 0.9, 0.2, 0.8, 0.1, 0.5, 0.3, 0.6]})
    chance = pd.DataFrame({"layer": ["D"] * 10 + ["MFF"] * 10, "method": "random init",
                           "selectivity": list(np.linspace(0, 0.9, 10)) * 2})
    fig = plots.selectivity_vs_chance(units, chance)
    ax, = visible_axes(fig)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["D", "MFF"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["baseline", "interpretable", "random init"]
    p90 = [c for c in ax.collections if c.get_linestyle()[0][1] is not None and len(c.get_segments()) == 1]
    assert [seg.get_segments()[0][0][1] for seg in p90[-2:]] == pytest.approx([0.81, 0.81])
