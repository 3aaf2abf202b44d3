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
# # 03 Ablation
#
# Zero the units preferring each depth range of the interpretable model and measure the error change per depth range; compare with as many random units.

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
ablation = experiments.intervention_table(Path(RUNS) / INTERP, ["D", "MFF"], "ablation", max_images=EVAL_IMAGES,
                                          dissect_images=DISSECT_IMAGES, random_draws=RANDOM_DRAWS)
ablation_csv = experiments.write_result(ablation, FIGURES, "ablation")

# %%
plots.show(plots.ablation_depth_ranges(ablation[ablation["layer"] == "D"], title="interpretable D"), FIGURES / "fig_ablation_depth_ranges")

# %%
plots.show(plots.ablation_selective_vs_random(ablation[ablation["layer"] == "D"]), FIGURES / "fig_ablation_selective_vs_random")

# %%
tables.claims_table([claims.c4_ablation_reliable(ablation)])
