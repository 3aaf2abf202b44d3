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
# # 05 Error analysis: which units are responsible for the errors?
#
# **The paper's question.** Can depth-selective units explain a model's errors? The paper *corrects* units: at
# each pixel, a unit's activation is replaced by its dissected mean response for the pixel's true depth bin, and
# the rest of the network runs on. Units whose correction removes much error are responsible for it.
#
# **What the paper reports.** Correcting the selective units of a depth range removes a large part of the error
# in that range; the corrected prediction is visibly closer to the ground truth.
#
# Here: each interpretable model (every seed), units grouped by the depth range (of 4) they prefer, against as
# many random units; AbsRel per range on the test data. The claim pools all seeds and lists each seed's values;
# the figures show the first seed.

# %% tags=["parameters"]
FIGURES = "figures"  # where figures, tables and claims.json go
SCALE = "full"  # "full", "quick" or "paper" (mdeinterp.grid.plan)
RUNS = "runs"  # run directories (finished runs are reused)
DATA = None  # real data path for the paper scale; None: embedded synthetic scenes
PRESET = None  # MFF preset of the main runs; None: the default of the scale
OVERRIDES = {}  # config fields set on every run, e.g. {"num_workers": 2} (`python -m mdeinterp train --help`)
DISSECT_IMAGES = None  # training images per dissection; None: all
EVAL_IMAGES = None  # test images per correction evaluation; None: all
RANDOM_DRAWS = 3  # random unit sets per group

# %%
from IPython.display import Markdown

from mdeinterp import claims, experiments, plots, results, tables

study = experiments.Study.from_parameters(SCALE, runs=RUNS, figures=FIGURES, data=DATA, preset=PRESET,
                                          overrides=OVERRIDES)
INTERPS = study.dirs("main", method="interpretable")  # every seed; the figures show the first
INTERP = study.run("main", method="interpretable")
LAYERS = study.assigned_layers("main", method="interpretable")

# %% [markdown]
# **Claim tested here:**

# %%
Markdown(claims.describe(["C6"]))

# %%
correction = results.intervention_tables(INTERPS, LAYERS, "correction", max_images=EVAL_IMAGES,
                                         dissect_images=DISSECT_IMAGES, random_draws=RANDOM_DRAWS)
correction_csv = tables.write_result(correction, study.figures, "correction")
# the controlled computation: the same correction, its groups and random draws taken from the clean units only
correction_clean = results.intervention_tables(INTERPS, LAYERS, "correction", clean=True, max_images=EVAL_IMAGES,
                                               dissect_images=DISSECT_IMAGES, random_draws=RANDOM_DRAWS)
tables.write_result(correction_clean, study.figures, "correction_clean")
# the figures show the first seed and the first assigned layer; the claim uses every seed and layer
shown = correction[(correction["name"] == INTERP.name) & (correction["layer"] == LAYERS[0])]

# %%
maps = INTERP.correction_maps(LAYERS[0], dissect_images=DISSECT_IMAGES)

# %% [markdown]
# **How to read this.** A test image and its true depth (metres), then the absolute error |prediction − depth| in
# metres before and after correcting every unit of the first assigned layer (one colour scale; darker = smaller
# error; the titles give the mean). The last panel shows, for each depth range, the share of that range's AbsRel
# removed by correcting the units preferring it (dark, one correction) against as many random units (light, mean
# ± std over draws): above 0 the correction removed error, below 0 it added error.

# %%
fig = plots.error_correction(**maps, correction=shown)
plots.show(fig, study.figure("fig_error_correction"))

# %% [markdown]
# ## Claims (all assigned layers)
#
# The paper's computation, and beside it the controlled one: the same claim on the correction of clean units only
# (the number of units its groups keep is in brackets). Convergence is judged with every claim in notebook 06.

# %%
checked = [claims.through_controls(claims.c6_correction(correction),
                                   {"correction": correction, "correction_clean": correction_clean})]
tables.claims_table(checked)

# %%
Markdown(claims.interpretation(checked))
