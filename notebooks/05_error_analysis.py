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
# # 05 Error analysis
#
# Correction: replace a unit's activation at each pixel by its dissected mean response for the pixel's true depth bin; units whose correction removes much error are responsible for it.

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
correction = experiments.intervention_table(Path(RUNS) / INTERP, ["D", "MFF"], "correction", max_images=EVAL_IMAGES,
                                            dissect_images=DISSECT_IMAGES, random_draws=RANDOM_DRAWS)
correction_csv = experiments.write_result(correction, FIGURES, "correction")

# %%
maps = experiments.correction_maps(Path(RUNS) / INTERP, "D", dissect_images=DISSECT_IMAGES)

# %%
plots.show(plots.error_correction(**maps, correction=correction[correction["layer"] == "D"]), FIGURES / "fig_error_correction")

# %%
tables.claims_table([claims.c6_correction(correction)])
