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
# # 02 Selectivity
#
# Dissection of the baseline and interpretable models: per-layer mean selectivity (tab_main), distributions over units, per-unit depth responses, response matrices and activation maps.

# %% tags=["parameters"]
FIGURES = "figures"  # where figures, tables and claims.json go
SCALE = "full"  # "full", "quick" or "paper" (mdeinterp.experiments.plan)
RUNS = "runs"  # run directories (finished runs are reused)
DEVICE = "auto"  # training device: "auto", "cpu", "cuda"
WORKERS = 2  # training processes side by side, one torch thread each (CPU); 1 on a GPU
DATA = None  # real data path for the paper scale; None: embedded synthetic scenes
PRESET = None  # MFF preset of the main runs; None: the default of the scale
DISSECT_IMAGES = 200  # training images per dissection; None: all
EVAL_IMAGES = None  # test images per ablation or correction evaluation; None: all
RANDOM_DRAWS = 3  # random unit sets per group in ablation/correction

# %%
import os
from pathlib import Path

import pandas as pd

from mdeinterp import claims, experiments, plots, tables

if Path.cwd().name == "notebooks":  # opened in Jupyter: paths are relative to the repository root, as in reproduce
    os.chdir(Path.cwd().parent)
FIGURES = Path(FIGURES)
specs = experiments.plan(SCALE, data=DATA, preset=PRESET)
groups = experiments.settings(specs)
BASE, INTERP = groups["main"][0], groups["main"][1]  # first seed's baseline and interpretable runs

# %%
dirs = experiments.run_dirs(specs, RUNS)
metrics = experiments.collect_metrics(dirs)
selectivity = experiments.selectivity_table(dirs, max_images=DISSECT_IMAGES)

# %%
selectivity_csv = experiments.write_result(experiments.by_setting(selectivity, groups), FIGURES, "selectivity")
accuracy_csv = experiments.write_result(experiments.by_setting(metrics, groups), FIGURES, "accuracy")

# %% [markdown]
# tab_main: accuracy and mean selectivity per layer, mean ± std over seeds.

# %%
names = groups["main"] + groups.get("bts", []) + groups.get("outdoor", [])
tab_main = experiments.main_table(metrics[metrics["name"].isin(names)], selectivity[selectivity["name"].isin(names)])
experiments.write_table(tab_main, FIGURES / "tab_main")
tables.display_table(tab_main, ["model", "data", "method", "layers", "d1", "abs_rel", "rmse", "DS_D", "DS_MFF", "seeds"])

# %% [markdown]
# Chance level: the same dissection of untrained (randomly initialised) networks, three seeds.

# %%
chance = experiments.chance_selectivity(Path(RUNS) / BASE, max_images=DISSECT_IMAGES)
tab_chance = experiments.summarise(chance, ["model", "layer", "bins"], ["mean_selectivity", "near_assigned"])
experiments.write_table(tab_chance, FIGURES / "tab_chance")
tables.display_table(tab_chance, ["model", "layer", "bins", "mean_selectivity", "near_assigned", "seeds"])

# %% [markdown]
# Per-unit selectivity of the main runs; the baseline units feed claim C1.

# %%
units = experiments.unit_table(experiments.run_dirs(specs, RUNS, "main"), max_images=DISSECT_IMAGES)
units_csv = experiments.write_result(units[units["method"] == "baseline"], FIGURES, "units_baseline")

# %%
first_seed = units[units["name"].isin([BASE, INTERP])]
plots.show(plots.selectivity_distribution(first_seed), FIGURES / "fig_selectivity_distribution")

# %% [markdown]
# Depth responses of the most selective units (baseline: some units already prefer a depth range).

# %%
base = experiments.dissect_run(Path(RUNS) / BASE, max_images=DISSECT_IMAGES)
interp = experiments.dissect_run(Path(RUNS) / INTERP, max_images=DISSECT_IMAGES)
layer = next(iter(base))

# %%
fig = plots.depth_response_units(base[layer], experiments.top_units(base[layer], 4), title=f"baseline {layer}")
plots.show(fig, FIGURES / "fig_depth_response_units")

# %%
fig = plots.depth_response_units(interp[layer], experiments.top_units(interp[layer], 4), title=f"interpretable {layer}")
plots.show(fig, FIGURES / "fig_depth_response_units_interpretable")

# %% [markdown]
# Unit x depth-bin responses in unit order (= assigned-bin order): diagonal after assignment.

# %%
matrices = {f"{method} {name}": result[name] for method, result in (("baseline", base), ("interpretable", interp))
            for name in ("D", "MFF") if name in result}
plots.show(plots.response_matrix(matrices), FIGURES / "fig_response_matrix")

# %% [markdown]
# Activation maps of the most selective interpretable units on a test image.

# %%
model, config = experiments.load_run(Path(RUNS) / INTERP)
sample = experiments.dissection_data(config, "test")[0]
chosen = experiments.top_units(interp[layer], 5)
activations = experiments.unit_activations(model, sample, layer)

# %%
titles = [f"{layer} unit {u} (bin {int(interp[layer].preferred_bin[u])})" for u in chosen]
fig = plots.unit_activation_maps(sample["image"], activations, chosen, depth=sample["depth"], titles=titles)
plots.show(fig, FIGURES / "fig_unit_activation_maps")
