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
# # 06 Sensitivity, and every claim
#
# **The question (beyond the paper).** How much do the results depend on the two knobs of the method: the weight
# α of the selectivity term (the paper uses 0.1) and the number of depth bins K (the paper: min(units, 64))?
# One seed per point. At the full CPU scale every point is its own run on a shorter schedule (1,000 steps, a sixth
# of the MFF main runs' 6,000, for the budget), α = 0 and 0.1 included, so the points compare with each other but
# not with the main runs' numbers; at the quick and paper scales the main runs are the α = 0 / 0.1 / default-K
# points.
#
# Then every claim C1–C6 is computed from the result tables written by notebooks 02–05 and saved to
# `claims.json`.

# %% tags=["parameters"]
FIGURES = "figures"  # where figures, tables and claims.json go
SCALE = "full"  # "full", "quick" or "paper" (mdeinterp.grid.plan)
RUNS = "runs"  # run directories (finished runs are reused)
DATA = None  # real data path for the paper scale; None: embedded synthetic scenes
PRESET = None  # MFF preset of the main runs; None: the default of the scale
OVERRIDES = {}  # config fields set on every run, e.g. {"num_workers": 2} (`python -m mdeinterp train --help`)
SWEEPS = True  # alpha and K sweep runs (7 at "full" scale, on a 1,000-step schedule of their own)
DISSECT_IMAGES = None  # training images per dissection; None: all

# %%
from IPython.display import Markdown, display

from mdeinterp import claims, experiments, plots, results, tables

study = experiments.Study.from_parameters(SCALE, runs=RUNS, figures=FIGURES, data=DATA, preset=PRESET,
                                          sweeps=SWEEPS, overrides=OVERRIDES)

# %%
sweep_dirs = study.dirs("alpha") + [d for d in study.dirs("bins") if d not in study.dirs("alpha")]
sweep = tables.sweep_table(results.collect_metrics(sweep_dirs), results.selectivity_table(sweep_dirs, max_images=DISSECT_IMAGES))
alpha_sweep = sweep[sweep["name"].isin(study.names("alpha"))].sort_values("alpha")
bins_sweep = sweep[sweep["name"].isin(study.names("bins", method="interpretable"))].sort_values("bins")
SWEEP_COLUMNS = ["d1", "abs_rel", "rmse", "mean_selectivity", "near_assigned", "chance_near"]

# %% [markdown]
# **How to read this.** Three panels against α, the weight of the selectivity term (x, one tick per trained α;
# α = 0 is the baseline): δ1 (higher is better), AbsRel (lower is better) and the mean DS of the assigned layers
# (D, MFF). Each point is one run, labelled with its value; the title gives the runs' number of steps. The method
# works where DS rises while accuracy stays flat. Each y-axis fits its points; one that leaves out 0 says so in
# its label with its range ("axis zoomed: lo–hi"), and on such an axis a tall step can be a change in the
# third decimal, so read the values labelled at the points. Which α are trained depends on `SWEEPS` (notebook 01's
# plan table lists them).

# %%
tables.write_table(alpha_sweep[["alpha", *SWEEP_COLUMNS]], study.figure("tab_sensitivity_alpha"))
SCHEDULE = ", ".join(f"{int(steps):,}" for steps in sorted(set(sweep["step"])))
fig = plots.sensitivity(alpha_sweep, x="alpha",
                        title=f"Accuracy and selectivity against the weight α (one seed, {SCHEDULE} steps per run)")
plots.show(fig, study.figure("fig_sensitivity_alpha"))

# %%
display(tables.display_table(alpha_sweep, ["alpha", *SWEEP_COLUMNS]))
Markdown(tables.describe_sweep(alpha_sweep, "alpha"))

# %% [markdown]
# **How to read this.** The same three panels against the number of SID bins K of the interpretable runs (x,
# one tick per trained K). With fewer bins each unit's range is wider and DS is computed over fewer bins, so DS
# values at different K are not directly comparable. The share of units near their assigned bin (within ±2 bins,
# in the table below) is, against its chance level, which grows as K shrinks (at K = 8 a middle bin has 5 of the 8
# within ±2, an end bin 3: 53% on average).

# %%
tables.write_table(bins_sweep[["bins", *SWEEP_COLUMNS]], study.figure("tab_sensitivity_bins"))
fig = plots.sensitivity(bins_sweep, x="bins",
                        title=f"Accuracy and selectivity against the number of bins K (one seed, {SCHEDULE} steps per run)")
plots.show(fig, study.figure("fig_sensitivity_bins"))

# %%
display(tables.display_table(bins_sweep, ["bins", *SWEEP_COLUMNS]))
Markdown(tables.describe_sweep(bins_sweep, "bins"))

# %% [markdown]
# ## All claims
#
# C1–C6, each computed from the result tables written by notebooks 02–05 (a missing table makes its claim fail):

# %%
Markdown(claims.describe(list(claims.STATEMENTS)))

# %%
checked = claims.evaluate_claims(study.figures)
claims.write_claims(checked, study.figure("claims.json"))
tables.claims_table(checked)

# %% [markdown]
# ## Margins against the thresholds
#
# **How to read this.** One bar per setting (the main runs first), interpretable − baseline, read back from
# `claims.json`, so the bars and the verdicts above cannot disagree. Left: the smallest rise of mean DS over the
# setting's assigned layers (that layer in brackets); C2 (main) and C5 (the others) ask every assigned layer to rise
# by at least the dashed line. Right: the change of δ1, mean over seeds; C3 asks it to stay above the dashed line.
# A hatched light bar misses its threshold; a dotted edge marks a margin smaller than the spread of the same
# statistic over seeds (marginal). In brackets after a setting's name stands each panel's own verdict, none when
# it holds: on the left the rise part of C2 (main) or of C5's per-setting C2 (the others), on the right C3 (δ1 and
# AbsRel). C2's near-assigned shares are not drawn: a setting can fail C2 on them while both its bars hold, and the
# claims table above says so.

# %%
stored = claims.setting_margins(claims.read_claims(study.figure("claims.json")))
labelled = stored.assign(setting=stored["setting"] + " (" + stored["layer"] + ")")
plots.show(plots.claim_margins(labelled, claims.C2_RISE, claims.C3_D1_DROP), study.figure("fig_claim_margins"))

# %%
Markdown(claims.interpretation(checked))
