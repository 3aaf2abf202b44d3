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
# # 04 Layers, models, data
#
# The method on single layers (D, MFF, R.conv0, R.conv1) and D+MFF, on BTS (decoder.upconv2 + decoder.iconv2) and on outdoor (KITTI-like) scenes.

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
selectivity = experiments.read_result(FIGURES, "selectivity")
accuracy = experiments.read_result(FIGURES, "accuracy")

# %% [markdown]
# tab_layers: selectivity on the assigned layer(s), baseline vs interpretable, and accuracy.

# %%
layer_names = sorted({n for setting, names in groups.items() if setting.startswith("layer:") for n in names} | {INTERP})
metrics = accuracy[accuracy["name"].isin(layer_names)].drop_duplicates("name")
tab_layers = experiments.layer_table(metrics, selectivity[selectivity["name"].isin(layer_names)].drop_duplicates(["name", "layer"]))
experiments.write_table(tab_layers, FIGURES / "tab_layers")
tables.display_table(tab_layers, ["assigned_layers", "method", "d1", "abs_rel", "rmse", "mean_selectivity", "near_assigned"])

# %% [markdown]
# tab_models_datasets: MFF and BTS on indoor scenes, MFF on outdoor scenes.

# %%
tab_models = experiments.models_data_table(accuracy, selectivity)
experiments.write_table(tab_models, FIGURES / "tab_models_datasets")
tables.display_table(tab_models, ["setting", "model", "data", "method", "d1", "abs_rel", "rmse", "sel_assigned", "seeds"])

# %%
tables.claims_table([claims.c5_applicability(selectivity, accuracy, [s for s in groups if s != "main"])])
