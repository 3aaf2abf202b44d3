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
# # 06 Sensitivity
#
# Accuracy and selectivity against alpha (0 .. 1) and the number of depth bins K; then every claim checked from the result tables (claims.json).

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
sweep_dirs = experiments.run_dirs([s for s in specs if {"alpha", "bins"} & set(s.tags)], RUNS)
sweep = experiments.sweep_table(experiments.collect_metrics(sweep_dirs),
                                experiments.selectivity_table(sweep_dirs, max_images=DISSECT_IMAGES))
alpha_names = [s.name for s in experiments.select(specs, "alpha")]
bins_names = [s.name for s in experiments.select(specs, "bins") if s.overrides.get("alpha")]

# %%
alpha_sweep = sweep[sweep["name"].isin(alpha_names)]
experiments.write_table(alpha_sweep[["alpha", "d1", "abs_rel", "rmse", "mean_selectivity", "near_assigned"]].sort_values("alpha"), FIGURES / "tab_sensitivity_alpha")
plots.show(plots.sensitivity(alpha_sweep, x="alpha"), FIGURES / "fig_sensitivity_alpha")

# %%
bins_sweep = sweep[sweep["name"].isin(bins_names)]
experiments.write_table(bins_sweep[["bins", "d1", "abs_rel", "rmse", "mean_selectivity", "near_assigned"]].sort_values("bins"), FIGURES / "tab_sensitivity_bins")
plots.show(plots.sensitivity(bins_sweep, x="bins"), FIGURES / "fig_sensitivity_bins")

# %% [markdown]
# Claims C1..C6, each computed from the result tables written by notebooks 02-05.

# %%
checked = claims.evaluate_claims(FIGURES)
claims.write_claims(checked, FIGURES / "claims.json")
tables.claims_table(checked)
