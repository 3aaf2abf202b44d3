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
# # 01 Train
#
# Trains every run the later notebooks need (baseline alpha = 0 and interpretable alpha = 0.1 on D+MFF for each seed, single layers, BTS, outdoor data, the alpha and K sweeps). Finished runs are reused.

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
tables.Table(pd.DataFrame([{"name": s.name, "preset": s.preset, "tags": ",".join(s.tags), **s.overrides} for s in specs]))

# %%
runs = experiments.run_all(specs, out=RUNS, device=DEVICE, workers=WORKERS)

# %%
metrics = experiments.collect_metrics(runs["run_dir"])
tables.display_table(metrics, ["name", "method", "layers", "seed", "d1", "abs_rel", "rmse"])

# %% [markdown]
# Training curves of the main runs (baseline vs interpretable, all seeds).

# %%
history = experiments.training_history(experiments.run_dirs(specs, RUNS, "main"))
plots.show(plots.training_curves(history), FIGURES / "fig_training_curves")
