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
# # 04 Layers, models, data: does the method apply elsewhere?
#
# **The paper's question.** Does assigning depth ranges work beyond MFF's D and MFF layers on NYUv2: on other
# layers, another architecture, and outdoor data?
#
# **What the paper reports.** Selectivity rises and accuracy holds on the refinement layers R.conv0 and R.conv1
# assigned alone, on BTS (decoder layers upconv/iconv) and on KITTI (outdoor, 3–80 m).
#
# Here: the single-layer runs (first seed), BTS (decoder.upconv2 + decoder.iconv2) and the MFF model on outdoor
# synthetic scenes, each against its own baseline. Tables are read from notebook 02's result tables.

# %% tags=["parameters"]
FIGURES = "figures"  # where figures, tables and claims.json go
SCALE = "full"  # "full", "quick" or "paper" (mdeinterp.grid.plan)
RUNS = "runs"  # run directories (finished runs are reused)
DATA = None  # real data path for the paper scale; None: embedded synthetic scenes
PRESET = None  # MFF preset of the main runs; None: the default of the scale

# %%
from IPython.display import Markdown

from mdeinterp import claims, experiments, margins, plots, tables

study = experiments.Study.from_parameters(SCALE, runs=RUNS, figures=FIGURES, data=DATA, preset=PRESET)
OTHER_SETTINGS = [setting for setting in study.settings if setting != "main"]

# %% [markdown]
# **Claims tested here** (C3 for each setting, then C5):

# %%
Markdown(claims.describe(["C5", "C2", "C3"]))

# %%
selectivity = tables.read_result(study.figures, "selectivity")
accuracy = tables.read_result(study.figures, "accuracy")

# %% [markdown]
# ## tab_layers: one assigned layer at a time
#
# Selectivity on the assigned layer(s) and accuracy, baseline vs interpretable (first seed).

# %%
names = study.names("layers")
metrics = accuracy[accuracy["name"].isin(names)].drop_duplicates("name")
layer_selectivity = selectivity[selectivity["name"].isin(names)].drop_duplicates(["name", "layer"])
tab_layers = tables.layer_table(metrics, layer_selectivity)
tables.write_table(tab_layers, study.figure("tab_layers"))
tables.display_table(tab_layers, ["assigned_layers", "method", "d1", "abs_rel", "rmse", "mean_selectivity", "near_assigned"])

# %% [markdown]
# ## tab_models_datasets: other models and data
#
# MFF and BTS on indoor scenes, MFF on outdoor scenes; DS averaged over each setting's assigned layers.

# %%
tab_models = tables.models_data_table(accuracy, selectivity)
tables.write_table(tab_models, study.figure("tab_models_datasets"))
tables.display_table(tab_models, ["setting", "model", "data", "method", "d1", "abs_rel", "rmse", "sel_assigned", "seeds"])

# %% [markdown]
# ## Margins against the thresholds
#
# **How to read this.** One bar per setting (the main runs first, for reference), interpretable − baseline. Left:
# the smallest rise of mean DS over the setting's assigned layers (that layer in brackets); C2 asks every assigned
# layer to rise by at least the dashed line. Right: the change of δ1, mean over seeds; C3 asks it to stay above
# the dashed line. A hatched light bar misses its threshold.

# %%
setting_margins = margins.setting_margins(selectivity, accuracy, list(study.settings))
labelled = setting_margins.assign(setting=setting_margins["setting"] + " (" + setting_margins["layer"] + ")")
plots.show(plots.claim_margins(labelled, claims.C2_RISE, claims.C3_D1_DROP), study.figure("fig_claim_margins"))

# %% [markdown]
# ## Claims

# %%
checked = [claims.c5_applicability(selectivity, accuracy, OTHER_SETTINGS),
           *(claims.c3_accuracy_kept(accuracy[accuracy["setting"] == setting], setting) for setting in OTHER_SETTINGS)]
tables.claims_table(checked)

# %%
Markdown(claims.interpretation(checked))
