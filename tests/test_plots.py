"""Each figure function on small synthetic inputs: axes, bar heights, image shapes; save writes PNG and PDF."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from mdeinterp import plots
from mdeinterp.selectivity import DepthResponse, sid_edges


def make_response(units: int = 6, bins: int = 4, layer: str = "D") -> DepthResponse:
    sums = torch.arange(units * bins, dtype=torch.float64).view(units, bins) % 5 + 1
    return DepthResponse(layer, sid_edges(bins, 0.75, 10.0), sums, torch.full((bins,), 2.0, dtype=torch.float64))


def visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def test_depth_response_units_draws_k_bars_per_unit_scaled_to_its_max_with_metre_ticks():
    response = make_response()
    fig = plots.depth_response_units(response, [1, 4])
    axes = visible_axes(fig)
    assert len(axes) == 2
    for ax, unit in zip(axes, [1, 4]):
        heights = [patch.get_height() for patch in ax.patches[:4]]
        mean = response.mean_response[unit]
        assert heights == pytest.approx((mean / mean.max()).tolist())  # one y-scale for every unit
        assert ax.get_ylim()[1] == pytest.approx(1.05)
    # unit 1: sums 5, 1, 2, 3 -> preferred bin 0 is dark, the others light; assigned bin (6 units, 4 bins) is 0
    colors = [patch.get_facecolor()[:3] for patch in axes[0].patches[:4]]
    assert colors[0] == pytest.approx(plots.METHOD_COLORS["interpretable"]) and colors[1] == pytest.approx(plots.PAIRED[0])
    edges = response.edges.tolist()
    assert [t.get_text() for t in axes[0].get_xticklabels()] == [f"{e:.1f}" for e in edges]  # bin edges in metres
    assert list(axes[0].get_xticks()) == pytest.approx([-0.5, 0.5, 1.5, 2.5, 3.5])
    assert "m" in axes[0].get_xlabel()
    # the legend: right of the last panel, outside the bars (tests/test_figure_defects.py)
    assert [t.get_text() for t in axes[-1].get_legend().get_texts()] == ["preferred bin", "other bins", "assigned bin"]


def test_depth_bin_axis_labels_at_most_max_labels_edges():
    fig, ax = plt.subplots()
    edges = sid_edges(32, 1.2, 8.0)
    plots.depth_bin_axis(ax, edges, max_labels=9)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [f"{float(edges[i]):.1f}" for i in range(0, 33, 4)]  # every 4th of the 33 edges
    assert labels[-1] == "8.0"
    plt.close(fig)


def test_paired_colors_are_light_for_baseline_dark_for_interpretable_one_hue_per_seed():
    assert plots.paired_color("baseline", 0) == plots.PAIRED[0]
    assert plots.paired_color("interpretable", 0) == plots.PAIRED[1]
    assert plots.paired_color("interpretable", 1) == plots.PAIRED[3]
    light, dark = np.mean(plots.paired_color("baseline", 2)), np.mean(plots.paired_color("interpretable", 2))
    assert light > dark


def test_response_matrix_image_is_units_by_bins_scaled_to_unit_max():
    response = make_response(units=6, bins=4)
    fig = plots.response_matrix({"a": response, "b": response}, sort_by_preferred=True)
    images = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]
    assert len(images) == 2
    assert images[0].shape == (6, 4)
    assert np.asarray(images[0]).max(axis=1) == pytest.approx(np.ones(6))
    preferred = np.asarray(images[0]).argmax(axis=1)
    assert list(preferred) == sorted(preferred)  # sorted by preferred bin


def test_unit_activation_maps_one_panel_per_unit_plus_image_and_depth_outlining_the_bin():
    image = np.zeros((8, 12, 3), dtype=np.uint8)
    activations = torch.rand(5, 4, 6) + 0.1
    depth = torch.ones(1, 8, 12)
    depth[0, :4] = 3.0  # the top half lies in bin 1 of edges (0.5, 2, 4)
    fig = plots.unit_activation_maps(image, activations, [0, 2, 3], depth=depth, edges=torch.tensor([0.5, 2.0, 4.0]),
                                     bins=[1, 1, 0])
    axes = visible_axes(fig)
    assert len(axes) == 5
    overlay = axes[2].get_images()[1].get_array()
    assert overlay.shape == (4, 6) and overlay.max() == pytest.approx(1.0)  # scaled to the unit's max
    assert len(axes[2].collections) == 1  # the outline of bin 1's pixels
    assert [ax.get_label() for ax in fig.axes].count("<colorbar>") == 2  # depth and activation scales


def test_activation_layout_has_no_lone_panel():
    image = np.zeros((8, 12, 3), dtype=np.uint8)
    fig = plots.unit_activation_maps(image, torch.rand(6, 4, 6), [0, 1, 2, 3, 4], depth=torch.ones(1, 8, 12))
    rows = {ax.get_subplotspec().rowspan.start for ax in visible_axes(fig)}
    per_row = [sum(ax.get_subplotspec().rowspan.start == r for ax in visible_axes(fig)) for r in sorted(rows)]
    assert per_row == [4, 3]  # 7 panels: 4 + 3, not 6 + 1


def test_bin_pixels_marks_the_depths_of_one_bin():
    depth = torch.tensor([[0.0, 1.0, 2.0, 3.9, 4.0]])
    assert plots.bin_pixels(depth, torch.tensor([0.5, 2.0, 4.0]), 1).tolist() == [False, False, True, True, False]


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


def test_ablation_depth_ranges_heatmap_is_groups_by_ranges_with_legible_labels():
    fig = plots.ablation_depth_ranges(ablation_rows())
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    assert image.shape == (3, 3)
    assert np.diag(np.asarray(image)).tolist() == pytest.approx([0.5] * 3)
    texts = ax.texts
    assert [t.get_text() for t in texts[:3]] == ["+50.0%", "+10.0%", "+10.0%"]
    assert min(t.get_fontsize() for t in texts) >= 9
    # white on the saturated diagonal, black on pale cells
    assert texts[0].get_color() == "white" and texts[1].get_color() == "black"


def test_ablation_selective_vs_random_bars_are_own_range_means_with_error_bars_only_on_random():
    fig = plots.ablation_selective_vs_random(ablation_rows())
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.5] * 3 + [0.1] * 3)  # selective; random mean of 0.2 and 0.0
    bars = [c for c in ax.containers if hasattr(c, "errorbar")]
    assert [c.errorbar is None for c in bars] == [True, False]  # one selective ablation has no spread
    segments = bars[1].errorbar.lines[2][0].get_segments()
    assert [s[1][1] - s[0][1] for s in segments] == pytest.approx([2 * np.std([0.2, 0.0], ddof=1)] * 3)
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().y0 >= ax.get_window_extent().y1 - 1  # above the axes, off the bars


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
    assert [ax.get_title() for ax in axes] == [plots.COLUMN_TITLES[c] for c in ("d1", "abs_rel", "mean_selectivity")]
    assert axes[0].get_xlabel() == "α, weight of the selectivity term"
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["0", "0.1", "1"]  # ticks on the measured points
    assert [t.get_text() for t in axes[0].texts] == ["0.600", "0.600", "0.400"]  # each point labelled
    assert axes[0].lines[0].get_ydata() == pytest.approx([0.6, 0.6, 0.4])
    assert axes[2].lines[0].get_ydata() == pytest.approx([0.1, 0.4, 0.6])


def test_training_curves_plot_depth_loss_and_selectivity_term_apart():
    history = pd.DataFrame({"name": ["base", "base", "interp", "interp"], "step": [500, 1000, 500, 1000],
                            "method": ["baseline"] * 2 + ["interpretable"] * 2, "seed": [1] * 4,
                            "train_loss": [2, 1, 1.9, 0.8], "depth_loss": [2, 1, 2.0, 0.9],
                            "sel_D": [None, None, 0.4, 0.5], "sel_MFF": [None, None, 0.6, 0.5],
                            "d1": [0.1, 0.2, 0.1, 0.3]})
    fig = plots.training_curves(history)
    axes = visible_axes(fig)
    titles = [" ".join(ax.get_title().split()) for ax in axes]  # titles in words, wrapped to the panel
    assert titles == [plots.column_title(c) for c in ("depth_loss", "selectivity_term", "d1")]
    assert max(len(line) for ax in axes for line in ax.get_title().splitlines()) <= 34
    # paired colours: seed 1's pair, baseline light and interpretable dark
    assert [line.get_color() for line in axes[0].lines] == [plots.PAIRED[2], plots.PAIRED[3]]
    assert axes[-1].get_legend().get_bbox_to_anchor().x0 > axes[-1].get_window_extent().x1 - 1  # right of the panels
    assert list(axes[0].lines[1].get_ydata()) == [2.0, 0.9]  # the interpretable run's depth loss, not −α·term
    assert len(axes[1].lines[0].get_xdata()) == 0  # the baseline has no term
    assert list(axes[1].lines[1].get_ydata()) == pytest.approx([1.0, 1.0])  # sel_D + sel_MFF
    assert list(axes[2].lines[1].get_xdata()) == [500, 1000]


def test_selectivity_dynamics_mean_and_band_over_seeds():
    history = pd.DataFrame({"name": ["b0", "b0", "b1", "b1", "i0", "i0"], "method": ["baseline"] * 4 + ["interp"] * 2,
                            "step": [500, 1000] * 3, "ds_D": [0.3, 0.4, 0.5, 0.6, 0.5, 0.7]})
    fig = plots.selectivity_dynamics(history, ["D"])
    ax = visible_axes(fig)[0]
    assert ax.get_title() == "layer D" and len(ax.lines) == 2
    assert ax.lines[0].get_color() == plots.METHOD_COLORS["baseline"]
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.4, 0.5]) and list(ax.lines[1].get_ydata()) == [0.5, 0.7]
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(0.3) and band.max() == pytest.approx(0.6)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["baseline (2 runs; no plateau)",
                                                                   "interp (1 run; no plateau)"]


def test_range_accuracy_bars_per_method_with_goal_line():
    from mdeinterp.tables import tab_range_accuracy

    ranges = pd.DataFrame({"setting": ["main"] * 6, "method": ["baseline"] * 4 + ["interpretable"] * 2,
                           "seed": [0, 0, 1, 1, 0, 0], "range_lo": [0.0, 2.0] * 3, "range_hi": [2.0, 8.0] * 3,
                           "share": [0.3, 0.7] * 3, "d1": [0.5, 0.9, 0.7, 0.9, 0.8, 0.95], "abs_rel": [0.2] * 6})
    fig = plots.range_accuracy(tab_range_accuracy(ranges))
    ax = visible_axes(fig)[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.6, 0.9, 0.8, 0.95])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0–2 m", "2–8 m"]
    assert ax.lines[-1].get_ydata()[0] == 0.75
    # paired colours: baseline light, interpretable dark
    assert [p.get_facecolor()[:3] for p in ax.patches[::2]] == [plots.PAIRED[0], plots.PAIRED[1]]


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


def test_predicted_depth_maps_row_per_image_and_abs_rel_in_titles():
    depth = torch.full((1, 4, 5), 2.0)
    depth[0, 0, 0] = 0.0  # invalid: left out of AbsRel and masked
    fig = plots.predicted_depth_maps([np.zeros((4, 5, 3), np.uint8)] * 2, [depth, depth],
                                     {"baseline": [torch.full((4, 5), 3.0)] * 2, "interpretable": [torch.full((4, 5), 2.2)] * 2})
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) == 8
    assert axes[2].get_title() == "baseline: AbsRel 0.500" and axes[3].get_title() == "interpretable: AbsRel 0.100"
    shown = axes[3].get_images()[0]
    assert shown.get_array().mask[0, 0] and shown.get_clim() == (0, 2.0)  # one depth scale: up to the true max


def test_ablation_curve_draws_own_range_change_against_units_per_group():
    rows = [dict(group=-1, kind="none", draw=0, units=0, range_lo=0.0, range_hi=1.0, relative_change=0.0),
            dict(group=-1, kind="none", draw=0, units=0, range_lo=1.0, range_hi=2.0, relative_change=0.0)]
    for g in range(2):
        for n in (1, 2, 4):
            for r in range(2):
                rows.append(dict(group=g, kind="selective", draw=0, units=n, range_lo=float(r), range_hi=r + 1.0,
                                 relative_change=0.1 * n if r == g else 0.0))
                for draw, v in ((0, 0.0), (1, 0.02 * n)):
                    rows.append(dict(group=g, kind="random", draw=draw, units=n, range_lo=float(r), range_hi=r + 1.0,
                                     relative_change=v))
    fig = plots.ablation_curve(pd.DataFrame(rows))
    axes = visible_axes(fig)
    assert len(axes) == 2
    selective, random = axes[1].lines[:2]
    assert list(selective.get_xdata()) == [1, 2, 4] and selective.get_ydata() == pytest.approx([0.1, 0.2, 0.4])
    assert random.get_ydata() == pytest.approx([0.01, 0.02, 0.04])
    assert axes[0].get_xscale() == "log" and axes[0].get_title() == "units preferring 0.0-1.0 m"


def test_claim_margins_draws_thresholds_and_hatches_misses():
    table = pd.DataFrame({"setting": ["a", "b"], "ds_rise": [0.2, 0.05], "d1_change": [0.0, -0.03]})
    fig = plots.claim_margins(table, rise_threshold=0.1, d1_drop=0.01)
    rise, d1 = visible_axes(fig)
    assert [p.get_height() for p in rise.patches] == pytest.approx([0.2, 0.05])
    assert [p.get_hatch() for p in rise.patches] == [None, "//"] and [p.get_hatch() for p in d1.patches] == [None, "//"]
    assert rise.lines[0].get_ydata()[0] == pytest.approx(0.1) and d1.lines[0].get_ydata()[0] == pytest.approx(-0.01)


def test_unit_explorer_figure_has_response_ablation_and_one_map_per_image():
    edges = torch.tensor([0.5, 2.0, 4.0, 8.0])
    ablation = pd.DataFrame({"ablated": ["this unit"] * 3 + ["its group (2 units)"] * 3, "units": [1] * 3 + [2] * 3,
                             "range_lo": [0.5, 2.0, 4.0] * 2, "range_hi": [2.0, 4.0, 8.0] * 2,
                             "relative_change": [0.01, 0.02, 0.0, 0.1, 0.3, 0.0]})
    depth = torch.full((1, 8, 12), 3.0)
    fig = plots.unit_explorer(edges, torch.tensor([0.5, 2.0, 1.0]), 1, 2, [np.zeros((8, 12, 3), np.uint8)] * 4,
                              [depth] * 4, torch.rand(4, 4, 6), ablation, title="u")
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) == 6
    assert [p.get_height() for p in axes[0].patches[:3]] == pytest.approx([0.25, 1.0, 0.5])
    assert [p.get_height() for p in axes[1].patches] == pytest.approx([0.01, 0.02, 0.0, 0.1, 0.3, 0.0])
    assert axes[2].get_title() == "test image 0: 100% of pixels in the bin"


def test_range_accuracy_draws_each_settings_goal_wraps_panels_and_caps_only_several_seeds():
    import pandas as pd

    from mdeinterp import plots as p

    rows = []
    for setting, seeds in (("main", 3), ("bts", 1), ("outdoor", 1), ("completion", 1), ("layer:R.conv0", 1)):
        for method in ("baseline", "interpretable"):
            for r in ("0–1.8 m", "1.8–2.9 m"):
                rows.append(dict(setting=setting, method=method, range=r, d1_mean=0.8, d1_std=0.01, seeds=seeds))
    fig = p.accuracy_by_range(pd.DataFrame(rows))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 5 and fig.get_size_inches()[0] < 3.5 * fig.get_size_inches()[1] * 1.5
    goals = {ax.get_title().split(" ")[0]: [line.get_ydata()[0] for line in ax.get_lines()
                                            if line.get_linestyle() == "--"] for ax in panels}
    assert panels[0].get_title() == "main (dashed: goal 0.75)"
    assert goals["main"] == [0.75] and goals["bts"] == [0.6] and goals["outdoor"] == [0.6]
    from matplotlib.container import ErrorbarContainer

    caps = {ax.get_title().split(" ")[0]: sum(isinstance(c, ErrorbarContainer) for c in ax.containers) for ax in panels}
    assert caps["main"] > 0 and caps["bts"] == 0  # a single-seed bar has no error bar


def test_claim_margins_marks_marginal_bars_and_states_from_the_claims():
    table = pd.DataFrame({"setting": ["main (MFF)", "completion (layer4)"], "ds_rise": [0.2, 0.104],
                          "d1_change": [0.0, -0.003], "ds_rise_marginal": [False, True], "d1_marginal": [False, False],
                          "verdict": ["holds", "marginal"]})
    fig = plots.claim_margins(table, rise_threshold=0.1, d1_drop=0.01)
    rise, d1 = visible_axes(fig)
    assert [p.get_linestyle() for p in rise.patches] == ["solid", ":"]
    assert [t.get_text() for t in rise.texts] == ["marginal"] and len(d1.texts) == 0
    assert [t.get_text() for t in rise.get_xticklabels()] == ["main (MFF)", "completion (layer4) [marginal]"]
    assert any("marginal" in t.get_text() for t in fig.legends[0].get_texts())
    assert [p.get_hatch() for p in rise.patches] == [None, None]  # marginal, not missed


def test_claim_margins_leaves_room_for_a_marginal_label_on_the_tallest_bar():
    table = pd.DataFrame({"setting": ["main (MFF)", "bts (up2)"], "ds_rise": [0.2, 0.104], "d1_change": [0.004, -0.003],
                          "ds_rise_marginal": [False, True], "d1_marginal": [True, False]})
    fig = plots.claim_margins(table, rise_threshold=0.1, d1_drop=0.01)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in visible_axes(fig):
        label = ax.texts[0].get_window_extent(renderer)
        assert label.y1 < ax.get_window_extent(renderer).y1  # inside the panel, below its title


def test_claim_margins_gives_each_panel_the_verdict_on_its_own_statistic():
    """main's C2 fails on its near-assigned shares while its rise and its δ1 both pass: neither panel says
    "fails"; completion's rise misses its threshold: only the rise panel says so."""
    table = pd.DataFrame({"setting": ["main (MFF)", "completion (layer4)"], "ds_rise": [0.2, 0.05],
                          "d1_change": [0.0, 0.01], "ds_rise_marginal": [False, False], "d1_marginal": [False, False],
                          "verdict": ["fails", "fails"], "ds_rise_verdict": ["holds", "fails"],
                          "d1_verdict": ["holds", "holds"]})
    rise, d1 = visible_axes(plots.claim_margins(table, rise_threshold=0.1, d1_drop=0.01))
    assert [t.get_text() for t in rise.get_xticklabels()] == ["main (MFF)", "completion (layer4) [fails]"]
    assert [t.get_text() for t in d1.get_xticklabels()] == ["main (MFF)", "completion (layer4)"]
