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
# # 02 Selectivity: how depth-selective are the units?
#
# **The paper's question.** How depth-selective are the units of a depth network, and does assigning depth
# ranges in training make them more so? The depth selectivity index of a unit (after Morcos et al.'s class
# selectivity) is DS = (r_max − r̄_other) / (r_max + r̄_other), from its mean absolute response per SID bin
# over the training data: 0 = no preference, 1 = fires in one bin only. A layer's score is its units' mean DS.
#
# **What the paper reports.** Some units of an ordinary (baseline) network are already depth-selective (its
# unit depth-response bar charts); with the assignment term, mean DS rises strongly on the assigned layers, the
# unit × bin response matrix becomes diagonal, and accuracy holds or improves (its main table).
#
# **Beyond the paper.** Several seeds (mean ± std), a chance level (the same dissection of untrained networks,
# 3 seeds), and the dissection's sampling noise: the training images are dissected as two disjoint halves, whose
# difference gives a split-half spread, and whose preferred bins can be compared unit by unit.

# %% tags=["parameters"]
FIGURES = "figures"  # where figures, tables and claims.json go
SCALE = "full"  # "full", "quick" or "paper" (mdeinterp.grid.plan)
RUNS = "runs"  # run directories (finished runs are reused)
DATA = None  # real data path for the paper scale; None: embedded synthetic scenes
PRESET = None  # MFF preset of the main runs; None: the default of the scale
OVERRIDES = {}  # config fields set on every run, e.g. {"num_workers": 2} (`python -m mdeinterp train --help`)
DISSECT_IMAGES = None  # training images per dissection; None: all (needed for the split-half columns)
EXPLORER_IMAGES = 32  # test images the unit explorer's ablation panel is measured on

# %%
import pandas as pd
from IPython.display import Markdown

from mdeinterp import claims, dissection, experiments, explorer, plots, results, tables
from mdeinterp.position import describe_position, position_control

study = experiments.Study.from_parameters(SCALE, runs=RUNS, figures=FIGURES, data=DATA, preset=PRESET,
                                          overrides=OVERRIDES)
BASE = study.run("main", method="baseline")  # the first seed's runs, for per-unit figures
INTERP = study.run("main", method="interpretable")

# %% [markdown]
# **Claims tested here** (thresholds from `mdeinterp.claims`):

# %%
Markdown(claims.describe(["C1", "C2", "C3"]))

# %% [markdown]
# Dissect every run on its training data (cached in the run directory) and write the result tables the claims
# are computed from.

# %%
dirs = study.dirs()
metrics = results.collect_metrics(dirs)
selectivity = results.selectivity_table(dirs, max_images=DISSECT_IMAGES)
tables.write_result(study.label_settings(selectivity), study.figures, "selectivity")
accuracy_csv = tables.write_result(study.label_settings(metrics), study.figures, "accuracy")
main_names = study.names("main")

# %% [markdown]
# ## tab_main: accuracy and mean DS per layer
#
# Mean ± std over seeds (a single number: one seed). Rows of the main model, BTS and outdoor scenes; "–": the
# layer is not studied in that model.

# %%
names = study.names("main", "bts", "outdoor")
tab_main = tables.main_table(metrics[metrics["name"].isin(names)], selectivity[selectivity["name"].isin(names)])
tables.write_table(tab_main, study.figure("tab_main"))
tables.display_table(tab_main, ["model", "data", "method", "layers", "d1", "abs_rel", "rmse", "DS_D", "DS_MFF", "seeds"])

# %% [markdown]
# ## Chance level and sampling noise (beyond the paper)
#
# Untrained networks (random initialisation, 3 seeds) of the main architecture, dissected on the same data
# with the same bins. A small layer with K bins is far from DS = 0 even untrained, so trained selectivity is
# read against this level.

# %%
chance = results.chance_selectivity(BASE, max_images=DISSECT_IMAGES)
chance_units = results.chance_units(BASE, max_images=DISSECT_IMAGES)
units_chance_csv = tables.write_result(chance_units, study.figures, "units_chance")

# %% [markdown]
# **tab_dissection.** Per method and layer: mean DS ± std over seeds; the split-half spread (|DS_a − DS_b| / 2
# between the two halves of the training images, the standard error of the full-data mean DS). Columns marked †
# are **beyond the paper**: DS computed over well-filled bins only (each holding ≥ 0.5% of the pixels), the
# share of units whose preferred bin is the same in both halves (how stable a unit's preference is), the share of
# near-silent units (peak mean response below 5% of the layer's median peak: a unit can be "selective" while
# hardly responding at all) and the layer's mean DS without them.

# %%
tab_dissection = tables.noise_table(selectivity[selectivity["name"].isin(main_names)], chance)
tables.write_table(tab_dissection, study.figure("tab_dissection"))
tables.display_table(tab_dissection, ["method", "layer", "bins", "mean_selectivity", "selectivity_spread",
                                      "filled_selectivity", "preferred_agreement", "silent_share", "active_selectivity",
                                      "near_assigned", "seeds"])

# %% [markdown]
# Per-unit selectivity of the main runs; the baseline units feed claim C1.

# %%
units = results.unit_table(study.dirs("main"), max_images=DISSECT_IMAGES)
units_baseline_csv = tables.write_result(units[units["method"] == "baseline"], study.figures, "units_baseline")

# %% [markdown]
# **How to read this.** One panel per layer: the share of units (y) at each DS (x), baseline light, interpretable
# dark, first seed. Mass moving right means more selective units.

# %%
first_seed = units[units["name"].isin([BASE.name, INTERP.name])]
plots.show(plots.selectivity_distribution(first_seed), study.figure("fig_selectivity_distribution"))

# %% [markdown]
# **How to read this.** The same distributions over all seeds as violins (quartiles dashed inside), next to the
# untrained networks (grey). The black dashed line is the untrained networks' 90th percentile: claim C1 asks the
# baseline's top 10% of units to lie above it.

# %%
plots.show(plots.selectivity_vs_chance(units, chance_units), study.figure("fig_selectivity_vs_chance"))

# %% [markdown]
# ## Depth responses of single units

# %%
base = BASE.dissection(DISSECT_IMAGES)
interp = INTERP.dissection(DISSECT_IMAGES)
layer = next(iter(base))

# %% [markdown]
# **How to read this.** The four most selective *clean* units of the baseline's first studied layer (neither
# near-silent nor position-coded by the band control, DS within image bands; a flagged unit appears only when fewer
# than four are clean). The position index of the figure further below is a second, coarser test (bottom rows
# against the rest), so it can still mark a unit shown here. One panel each: the unit's mean response per SID
# bin, near (left) to far (right), depth in metres on the x-axis. Bars are scaled to the unit's largest response
# (given in the title with its DS), so all panels share the 0–1 scale. The dark bar
# is the preferred bin (largest response). A single tall bar is a depth-selective unit; bars that rise steadily to
# the last bin are a ramp with depth, whose "preferred bin" is only the far end of the range. The black frame is
# the bin the interpretable run assigns to the same unit index: the baseline has no assignment, so its frames only
# show what the next figure compares against.

# %%
fig = plots.depth_response_units(base[layer], dissection.top_units(base[layer], 4, clean=True),
                                 title=f"baseline {layer}")
plots.show(fig, study.figure("fig_depth_response_units"))

# %% [markdown]
# **How to read this.** The same for the interpretable model's four most selective clean units of that layer; the
# black frame marks each unit's assigned bin. A unit does what the objective asks when its dark bar sits in (or
# near) its frame.

# %%
fig = plots.depth_response_units(interp[layer], dissection.top_units(interp[layer], 4, clean=True),
                                 title=f"interpretable {layer}")
plots.show(fig, study.figure("fig_depth_response_units_interpretable"))

# %%
by_ds = dissection.top_units(interp[layer], 4)  # the paper's pick: the four highest DS, whatever they code
clean = interp[layer].clean()
flagged = [unit for unit in by_ds if clean is not None and not bool(clean[unit])]
named = f" (unit{'s' * (len(flagged) > 1)} {', '.join(map(str, flagged))})" if flagged else ""
Markdown(f"Of the four units with the highest DS in this layer, {len(flagged)} "
         f"{'is' if len(flagged) == 1 else 'are'} near-silent or position-coded{named}, and so left out of the "
         "figure above: a unit that hardly responds, or that fires on some image rows, can reach a high DS that "
         "says little about depth. `tab_dissection` gives each layer's share of near-silent units and its DS without "
         "them; the position control below gives the position-coded ones.")

# %% [markdown]
# **How to read this.** One panel per model and assigned layer: rows are units, columns SID bins (depth in metres
# on the x-axis), colour the unit's mean response scaled to its maximum. Rows are in unit index order, which is
# assigned-bin order (unit c is assigned bin c / (C / K)), so the diagonal from top left to bottom right (a
# staircase when several units share a bin) is where a unit's preferred bin, its brightest cell, equals its
# assigned bin. Units off it show as bright cells elsewhere in their row; a block of rows bright in one column is
# a run of units that all prefer that bin. Each title counts the units on the diagonal ("n of C units prefer
# their assigned bin"): read that count rather than the picture; uniformly random preferred bins would give
# about C / K.

# %%
matrices = {f"{method} {name}": result[name] for method, result in (("baseline", base), ("interpretable", interp))
            for name in study.assigned_layers("main", method="interpretable")}
plots.show(plots.response_matrix(matrices), study.figure("fig_response_matrix"))

# %%
model = INTERP.model()
sample = INTERP.data("test")[0]
chosen = dissection.top_units(interp[layer], 4, clean=True)
activations = dissection.activation_maps(model, sample, [layer])[layer][0]  # (C, h, w) of this one image
preferred = [int(interp[layer].preferred_bin[u]) for u in chosen]

# %% [markdown]
# **How to read this.** A test image, its depth in metres, and the activation maps of the four most selective
# clean units of the interpretable model's first studied layer over the image (each scaled to its own maximum, one colour
# bar). The cyan line outlines the pixels whose true depth lies in the unit's preferred bin (named in the title):
# a selective unit lights up inside its outline. A unit whose preferred bin this image does not reach (a far-end
# unit on a shallow room) has no outline; what it lights up then is the farthest surface the image has. Because of
# the per-map scaling, a unit that barely responds looks as bright as a strong one.

# %%
edges = interp[layer].edges
titles = [f"unit {u}: prefers {edges[b]:.2f}–{edges[b + 1]:.2f} m" for u, b in zip(chosen, preferred)]
fig = plots.unit_activation_maps(sample["image"], activations, chosen, depth=sample["depth"], titles=titles,
                                 edges=edges, bins=preferred)
plots.show(fig, study.figure("fig_unit_activation_maps"))

# %% [markdown]
# ## Depth or image position? (beyond the paper)
#
# In these indoor scenes, as in NYUv2, depth goes with the image row: the bottom rows see the floor just in front
# of the camera, at similar depths in every image (the bottom rows' median depth spans 1.5–3.0 m over 80% of the
# images with renderer v5's handheld camera, 1.7–1.8 m with v4's fixed one). A unit that fires on the bottom
# rows is then "selective" for that depth without encoding depth. The control (`mdeinterp.position`) dissects the
# test images twice, keeping only the depth of the bottom quarter of the rows and then only that of the rows
# above, and compares each unit's mean response at its preferred bin: position index +1 means it responds to that
# depth only in the bottom rows, 0 alike wherever the depth appears. Units whose preferred depth is (nearly)
# missing from one of the two parts cannot be measured: the farthest bins barely reach the bottom rows (a few dozen
# test pixels there), so few far units are.
#
# **How to read this.** One panel per assigned layer of the first seed's runs (baseline light, interpretable
# dark): each dot is a unit, at its preferred bin's centre (x, metres) and its position index (y); larger
# dots are more selective units. Dots on the dashed line or above respond at least 5× more strongly to their
# depth in the bottom rows: their DS measures where the floor is, not depth. Dots near −1 are the opposite: units
# that respond to their depth only above the bottom rows.

# %%
position = {method: position_control(run.model(), run.data("test"), run.dissection(DISSECT_IMAGES),
                                     study.assigned_layers("main", method="interpretable"))
            for method, run in (("baseline", BASE), ("interpretable", INTERP))}
tables.write_result(pd.concat([t.assign(method=m, name=r.name) for (m, t), r in zip(position.items(), (BASE, INTERP))],
                              ignore_index=True), study.figures, "position")
plots.show(plots.position_indices(position), study.figure("fig_position_control"))

# %%
Markdown(describe_position(position))

# %% [markdown]
# ## Unit explorer
#
# Any unit of the first seed's baseline and interpretable runs. Shown for one unit: its mean response per depth
# bin (metres; dark = preferred bin, black frame = assigned bin), the relative change of AbsRel per depth range
# when it alone and when its group (the units preferring the same of four depth ranges) is ablated, measured on
# `EXPLORER_IMAGES` test images, and its activation maps on four test images with the preferred bin's pixels
# outlined in cyan.

# %%
explored = {path.name: explorer.open_run(path, eval_images=EXPLORER_IMAGES, dissect_images=DISSECT_IMAGES)
            for path in (INTERP, BASE)}

# %% [markdown]
# **How to read this.** The default selection, the interpretable run's most selective clean unit of its first
# layer, as a static figure (what a reader without a kernel sees). Top left: the response per depth bin; top right:
# the ablation panel (above 0: ablating raised the error in that range; one unit alone often changes it by almost
# nothing, so its bars can be too short to see beside its group's); bottom: the activation maps, one colour scale
# over the four images, outlined where a pixel's depth is in the unit's preferred bin ("0% of pixels in the bin":
# that image holds none, so no outline).

# %%
default_layer, default_unit = explorer.default_selection(explored[INTERP.name])
plots.show(explorer.unit_figure(explored[INTERP.name], default_layer, default_unit), study.figure("fig_unit_explorer"))

# %% [markdown]
# With a running kernel, choose another run, layer or unit here (units are listed most selective first):

# %%
explorer.widget(explored)

# %% [markdown]
# ## Claims
#
# Computed from the result tables this notebook wrote, through their controls (C1 and C2 again on the clean units
# only; convergence from notebook 01's plateaus), by the same function that writes `claims.json` in notebook 06,
# so the two cannot disagree.

# %%
checked = claims.evaluate_claims(study.figures, ["C1", "C2", "C3"])
tables.claims_table(checked)

# %%
Markdown(claims.interpretation(checked))
