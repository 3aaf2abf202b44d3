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
# # 01 Train: baseline and interpretable networks
#
# **The paper's question.** Can a depth network be trained so that each unit of a layer responds to one
# *assigned* depth range, without changing the architecture and without losing accuracy? The paper adds a
# selectivity term to the loss: unit c of a layer with C units is assigned bin ⌊c / (C/K)⌋, and the loss is
# L_depth − α · (mean over units of the depth selectivity at the assigned bin), α = 0.1.
#
# This notebook trains every run the later notebooks need, named by role: the main runs (baseline α = 0 and
# interpretable α = 0.1 on D+MFF, several seeds), single assigned layers, BTS, outdoor scenes and depth completion
# (CSPN-tiny on RGB + sparse depth, layer3 + layer4), and the α and K sweeps of notebook 06 (at the full CPU
# scale each sweep point is its own run on a 1,000-step schedule, a sixth of the MFF main runs'; `SWEEPS = False`
# leaves them out). The plan table below lists what is trained at this scale. Finished runs are reused.
#
# **What the paper reports.** Accuracy holds or improves with the selectivity term. For scale, published MFF
# accuracy on NYUv2 (Hu et al.): ResNet-50 δ1 0.843, AbsRel 0.126, RMSE 0.555 m; SENet-154 δ1 0.866,
# AbsRel 0.115, RMSE 0.530 m. The embedded synthetic runs use a tiny model on small rendered scenes, so only the
# comparison baseline vs interpretable carries over, not the absolute numbers. The embedded MFF runs keep Hu et al.'s
# loss, whose depth term is in metres and leaves near surfaces the weakest range below. In the tuning log's
# comparison (renderer v4, 3,000 steps, 3 seeds) BTS's scale-invariant loss lifted the near range (δ1 0.56 → 0.71
# below 1.79 m), but at the paper's α = 0.1 the selectivity term then moved the MFF layer by 0.07 DS instead of
# 0.18. The loss's scale does not explain that (the terms' gradient against either loss
# is alike within a factor of 3, `Objective.gradient_ratio`), and weighting the term ten times more to recover the
# effect would be tuning α to the claims (README, tuning log).

# %% tags=["parameters"]
FIGURES = "figures"  # where figures, tables and claims.json go
SCALE = "full"  # "full", "quick" or "paper" (mdeinterp.grid.plan)
RUNS = "runs"  # run directories (finished runs are reused)
DEVICE = "auto"  # training device: "auto", "cpu", "cuda"
WORKERS = None  # training processes side by side, one torch thread each (None: one per usable CPU core; 1 on a GPU)
DATA = None  # real data path for the paper scale; None: embedded synthetic scenes
PRESET = None  # MFF preset of the main runs; None: the default of the scale
OVERRIDES = {}  # config fields set on every run, e.g. {"num_workers": 2} (`python -m mdeinterp train --help`)
SWEEPS = True  # alpha and K sweep runs (7 at "full" scale, on a 1,000-step schedule of their own)

# %%
from IPython.display import Markdown

from mdeinterp import claims, experiments, explorer, plots, results, tables

study = experiments.Study.from_parameters(SCALE, runs=RUNS, figures=FIGURES, device=DEVICE, data=DATA, preset=PRESET,
                                          sweeps=SWEEPS, overrides=OVERRIDES)

# %% [markdown]
# **Claim previewed here** (checked again in notebook 02, next to the dissection):

# %%
Markdown(claims.describe(["C3"]))

# %% [markdown]
# The plan: one row per run, with the roles it plays in the later notebooks (K "–": min(units, 64) per layer) and
# its training steps; whether they were enough for the assigned layers' probe DS to stop rising is measured
# below (the plateaus).

# %%
tables.display_table(study.plan_table(), ["name", "roles", "preset", "method", "seed", "alpha", "layers", "num_bins",
                                          "steps"])

# %%
runs = study.train(workers=WORKERS)

# %% [markdown]
# Final test accuracy of every run.

# %%
metrics = results.collect_metrics(runs["run_dir"])
tables.display_table(metrics, ["name", "method", "layers", "seed", "d1", "abs_rel", "rmse"])

# %% [markdown]
# **How to read this.** Four panels against the training step, one line per main run, one point per epoch; colours
# pair each seed's runs (baseline light, interpretable dark; the legend names the runs). First: the depth loss alone, the same quantity for both methods, so
# their curves compare directly. Second: the selectivity term (the sum over the assigned layers D and MFF of the
# mean DS at the assigned bins, which the objective subtracts α times); baselines have none and draw no line.
# Last two: test accuracy, δ1 (higher is better) and AbsRel (lower is better).

# %%
history = results.training_history(study.dirs("main")).merge(metrics[["name", "method", "seed"]], on="name")
plots.show(plots.training_curves(history), study.figure("fig_training_curves"))

# %% [markdown]
# ## Selectivity over training
#
# Each run measures, after every epoch, the mean DS of its studied layers on a fixed probe set of training
# images (`ds_<layer>` in its `metrics.csv`). A run has converged for this study when its assigned layers' probe
# DS rises by less than 0.01 per epoch (`train.plateau_epoch`).
#
# **How to read this.** One panel per assigned layer of the main runs (D, MFF): the probe mean DS against the
# training step, one line per method (baseline, interpretable; the number of seeds in brackets) at the mean over
# seeds, with a shaded band from the lowest to the highest seed. A diamond on a line and a dashed vertical line
# of its colour mark the step from which the probe DS of every run of that method had stopped rising (the last
# run's plateau, `train.plateau_epoch` on the assigned layers together, as in the list below); a method whose legend entry
# says "no plateau" has a run that was still rising when training ended. A plateau is the first epoch whose rise
# is under 0.01, not a stop: a line can keep creeping up after its diamond, by less than 0.01 per epoch on most
# epochs. The gap between the lines is what the selectivity term adds.

# %%
plots.show(plots.selectivity_dynamics(history, study.assigned_layers("main", method="interpretable")),
           study.figure("fig_selectivity_dynamics"))

# %% [markdown]
# Where each setting's probe DS stops rising (first epoch whose rise is below 0.01 on every assigned layer, as a
# step; one value per run, seeds in order):

# %%
plateaus = results.plateau_table({setting: [study.runs / name for name in names]
                                  for setting, names in study.settings.items()})
tables.write_result(plateaus, study.figures, "plateaus")
Markdown(results.describe_plateaus(plateaus))

# %% [markdown]
# **How to read this.** Three test images (rows): the image, its true depth, and the depth predicted by the
# first seed's baseline and interpretable runs, all on one colour scale in metres (bright = near; grey: no true
# depth, left out of the error). Each prediction's title gives its AbsRel on that image's valid pixels (lower is
# better). Read the difference between the two models in those numbers, not by eye: maps that look alike on this
# colour scale can differ a lot in AbsRel.

# %%
shown = explorer.predictions_on_test_images({"baseline": study.run("main", method="baseline"),
                                             "interpretable": study.run("main", method="interpretable")})
plots.show(plots.predicted_depth_maps(**shown), study.figure("fig_predicted_depth"))

# %% [markdown]
# ## Claims

# %%
checked = [claims.c3_accuracy_kept(metrics[metrics["name"].isin(study.names("main"))])]
tables.claims_table(checked)

# %%
Markdown(claims.interpretation(checked))

# %% [markdown]
# **Not settled by this notebook.** C3 is the only claim checked here; two things limit what these runs can show:

# %%
rising = plateaus[plateaus["plateau_step"].isna()]
Markdown(
    (f"- {len(rising)} of the {len(plateaus)} runs of the plateau list still gained probe DS in their last epoch "
     f"({', '.join(rising['name'])}): their selectivity in notebooks 02-04 is what this budget reached, not a plateau.\n"
     if len(rising) else "- Every run's probe DS levelled off before it stopped.\n")
    + "- Accuracy differs by depth range: notebook 04's `tab_range_goals` names every accuracy goal a baseline "
      "misses, and the tuning log (docs/tuning-log.md) explains each from the runs."
)
