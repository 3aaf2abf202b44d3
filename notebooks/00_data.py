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
# # 00 Data
#
# Synthetic indoor (NYUv2-like) and outdoor (KITTI-like) scenes rendered with exact depth, and how their depths fall into the SID bins used for dissection.

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
import torch
from mdeinterp.data import make_dataset
from mdeinterp.selectivity import default_num_bins, sid_edges

configs = {tag: experiments.select(specs, tag)[0].config() for tag in ("main", "outdoor") if experiments.select(specs, tag)}
test_sets = {tag: make_dataset(cfg.data, "test") for tag, cfg in configs.items()}

# %% [markdown]
# Two test samples of each kind: RGB and depth in metres.

# %%
samples = [test_sets[tag][i] for tag in test_sets for i in range(2)]
fig = plots.data_samples(samples, titles=[configs[tag].data.kind for tag in test_sets for _ in range(2)])
plots.show(fig, FIGURES / "fig_data_samples")

# %% [markdown]
# Depth histograms over the SID bins (K = 32, the bins of mff_tiny's D and MFF layers).

# %%
depths = {tag: torch.stack([ds[i]["depth"] for i in range(min(len(ds), 64))]) for tag, ds in test_sets.items()}
fig = plots.depth_histogram(depths["main"], sid_edges(32, configs["main"].data.d_min, configs["main"].data.d_max), label="indoor")
plots.show(fig, FIGURES / "fig_depth_histogram_indoor")

# %%
if "outdoor" in depths:
    cfg = configs["outdoor"].data
    plots.show(plots.depth_histogram(depths["outdoor"], sid_edges(32, cfg.d_min, cfg.d_max), label="outdoor"),
               FIGURES / "fig_depth_histogram_outdoor")
