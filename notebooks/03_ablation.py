# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 Ablation: are the selective units reliable?
#
# **The paper's question.** If a unit is selective for a depth range, does the network actually rely on it for
# that range? The paper ablates (zeroes) the units that select a depth range and measures the error per depth
# range: ablating the units of a range should damage predictions mostly in that range.
#
# **What the paper reports.** Ablating a depth-range group of the interpretable model's units raises the error
# mostly within that range, while ablating as many random units spreads a smaller damage over all ranges.
#
# Here: the units of each interpretable model (every seed) are grouped by the depth range (of 4, near → far) of
# their preferred bin, from the dissection on the training data; errors (AbsRel per range) are measured on the
# test data, against as many randomly drawn units. The claim pools the groups of all seeds and layers and lists
# each seed's share beside it; the figures show the first seed.

# %% tags=["parameters"]
FIGURES = "figures"  # where figures, tables and claims.json go
SCALE = "full"  # "full", "quick" or "paper" (mdeinterp.grid.plan)
RUNS = "runs"  # run directories (finished runs are reused)
DATA = None  # real data path for the paper scale; None: embedded synthetic scenes
PRESET = None  # MFF preset of the main runs; None: the default of the scale
OVERRIDES = {}  # config fields set on every run, e.g. {"num_workers": 2} (`python -m mdeinterp train --help`)
DISSECT_IMAGES = None  # training images per dissection; None: all
EVAL_IMAGES = None  # test images per ablation evaluation; None: all
RANDOM_DRAWS = 3  # random unit sets per group

# %%
from IPython.display import Markdown

from mdeinterp import claims, experiments, plots, results, tables
from mdeinterp.run import Run

study = experiments.Study.from_parameters(SCALE, runs=RUNS, figures=FIGURES, data=DATA, preset=PRESET,
                                          overrides=OVERRIDES)
INTERPS = study.dirs("main", method="interpretable")  # every seed; the figures show the first
INTERP = INTERPS[0]
LAYERS = study.assigned_layers("main", method="interpretable")

# %% [markdown]
# **Claim tested here:**

# %%
Markdown(claims.describe(["C4"]))

# %%
ablation = results.intervention_tables(INTERPS, LAYERS, "ablation", max_images=EVAL_IMAGES,
                                       dissect_images=DISSECT_IMAGES, random_draws=RANDOM_DRAWS)
ablation_csv = tables.write_result(ablation, study.figures, "ablation")
# the controlled computation: the same ablation, its groups and random draws taken from the clean units only
# (neither dead, near-silent nor position-coded; the position control of notebook 02)
ablation_clean = results.intervention_tables(INTERPS, LAYERS, "ablation", clean=True, max_images=EVAL_IMAGES,
                                             dissect_images=DISSECT_IMAGES, random_draws=RANDOM_DRAWS)
tables.write_result(ablation_clean, study.figures, "ablation_clean")
# the figures show the first seed and the first assigned layer; the claim uses every seed and layer
shown = ablation[(ablation["name"] == INTERP.name) & (ablation["layer"] == LAYERS[0])]

# %% [markdown]
# **How to read this.** A heatmap for the first seed's first assigned layer: each row is one ablated group (the
# units preferring one depth range, named in metres), each column an evaluated depth range, near → far. The
# number and colour of a cell are the relative change of AbsRel in that range when the row's units are zeroed
# (red: error rises, blue: falls). The outlined diagonal cells are each group's own range: a reliable group's
# row is reddest on its diagonal cell.

# %%
fig = plots.ablation_depth_ranges(shown, title=f"interpretable {LAYERS[0]}")
plots.show(fig, study.figure("fig_ablation_depth_ranges"))

# %% [markdown]
# **How to read this.** For each group, the error increase in its own range when its selective units are
# ablated (dark, one ablation) vs as many random units (light, mean over draws with their standard deviation).
# Dark above light: the selective units matter more for their range than arbitrary units.

# %%
fig = plots.ablation_selective_vs_random(shown)
plots.show(fig, study.figure("fig_ablation_selective_vs_random"))

# %% [markdown]
# How the damage grows with the number of ablated units: for each depth range of the first seed's first assigned
# layer, its 1, 2, 4, … most selective units (up to the whole group), against as many random units of the layer.

# %%
curve = Run.of(INTERP).ablation_by_size(LAYERS[0], eval_images=EVAL_IMAGES, dissect_images=DISSECT_IMAGES,
                                       random_draws=RANDOM_DRAWS)
curve_csv = tables.write_result(curve, study.figures, "ablation_curve")

# %% [markdown]
# **How to read this.** One panel per depth range (the units preferring it): the relative change of AbsRel in
# that range (y) against the number of ablated units (x, doubling). Dark line: the range's most selective units,
# taken in order of DS; light line and band: as many random units (mean ± std over draws). A dark line that
# climbs above the light band means a range's selective units carry its depth more than the same number of
# arbitrary units; a flat dark line up to the whole group means no unit of it matters alone.

# %%
plots.show(plots.ablation_curve(curve), study.figure("fig_ablation_curve"))

# %% [markdown]
# ## Claims (all assigned layers)
#
# The paper's computation, and beside it the controlled one: the same claim on the ablation of clean units only
# (the number of units its groups keep is in brackets). Convergence is judged with every claim in notebook 06.

# %%
checked = [claims.through_controls(claims.c4_ablation_reliable(ablation),
                                   {"ablation": ablation, "ablation_clean": ablation_clean})]
tables.claims_table(checked)

# %%
Markdown(claims.interpretation(checked))
