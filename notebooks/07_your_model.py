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
# # 07 Your own model: dissect, train, ablate and correct a network the package has never seen
#
# **The question.** Can the paper's method be used on one's own depth network, with nothing but `import mdeinterp`?
# Here the network is a timm `resnet18` encoder (`features_only=True`, random weights) with a small decoder written
# in this notebook. It is not a package model and declares no layer names. Its layers are reached by module name.
#
# **What the paper claims, restated for this network.** Assigning depth ranges to the units of two decoder layers
# (α = 0.1) raises their depth selectivity (C2), and the selective units are reliable: ablating them hurts their own
# depth range most (C4), and correcting them removes more error than correcting random units (C6).
#
# Definitions: docs/method.md. At quick parameters (`SCALE = "quick"`, as `make reproduce-quick` runs it) the
# networks train for a few steps only, so the numbers show that the calls work, not that the claims hold.

# %% tags=["parameters"]
FIGURES = "figures"  # where figures and tables go
SCALE = "full"  # "quick": a few steps on a few images (make reproduce-quick); anything else: the 300-step runs
ALPHA = 0.1  # the paper's weight of the selectivity term

# %%
import warnings
from dataclasses import replace

import pandas as pd
import timm
import torch
from IPython.display import Markdown
from torch import nn
from torch.utils.data import DataLoader

from mdeinterp import (
    EmptyBinWarning,
    Objective,
    ablation_experiment,
    chance_near_fraction,
    claims,
    correction_experiment,
    correction_maps,
    depth_ranges,
    dissect,
    get_preset,
    inference,
    make_dataset,
    plots,
    repo_path,
    tables,
    top_units,
)

QUICK = SCALE == "quick"
STEPS, N_TRAIN, N_TEST, RANDOM_DRAWS = (8, 16, 8, 1) if QUICK else (300, 600, 100, 3)
figures = repo_path(FIGURES)
torch.set_num_threads(1)

# %% [markdown]
# **Data.** The embedded indoor scenes at the `tiny` preset's input size. The dataset carries its configuration, so `dissect` takes the SID
# range (d_min, d_max) from it and never falls back to a range the data does not fill.

# %%
data_config = replace(get_preset("tiny").data, n_train=N_TRAIN, n_test=N_TEST)
train_set = make_dataset(data_config, "train", progress=False)
test_set = make_dataset(data_config, "test", progress=False)
Markdown(f"{len(train_set)} training and {len(test_set)} test images, depth range {data_config.d_min}–"
         f"{data_config.d_max} m.")


# %% [markdown]
# **The model.** A timm backbone returns a list of feature maps, so it cannot be a dissected layer itself (the package
# says so: `LayerOutputError`). The decoder's ReLU modules output one tensor each: `decoder.act1` (48 units, at 1/4
# of the input) and `decoder.act0` (96 units, at 1/8). Depth is predicted at half resolution, in metres.

# %%
class Decoder(nn.Module):
    def __init__(self, channels: list[int]):
        super().__init__()
        self.conv0, self.act0 = nn.Conv2d(channels[2] + channels[1], 96, 3, padding=1), nn.ReLU()
        self.conv1, self.act1 = nn.Conv2d(96 + channels[0], 48, 3, padding=1), nn.ReLU()
        self.head = nn.Conv2d(48, 1, 3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        up = nn.functional.interpolate(features[2], size=features[1].shape[-2:], mode="bilinear", align_corners=False)
        x = self.act0(self.conv0(torch.cat([up, features[1]], dim=1)))
        x = nn.functional.interpolate(x, size=features[0].shape[-2:], mode="bilinear", align_corners=False)
        x = self.act1(self.conv1(torch.cat([x, features[0]], dim=1)))
        return nn.functional.interpolate(self.head(x), scale_factor=2.0, mode="bilinear", align_corners=False)


class DepthNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = timm.create_model("resnet18", pretrained=False, features_only=True, out_indices=(1, 2, 3))
        self.decoder = Decoder(self.encoder.feature_info.channels())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(self.decoder(self.encoder(image))) + 0.5  # (B, 1, H/2, W/2) metres


LAYERS = ["decoder.act1", "decoder.act0"]


# %% [markdown]
# **Training** with the package's `Objective` in a plain loop: depth loss − α · Σ selectivity terms of the assigned
# layers. The baseline is α = 0 (no layer assigned); the interpretable model assigns bins to both decoder layers.

# %% [markdown]
# **How to read this.** The depth loss of each model against the training step (one line per model, without the
# selectivity term, so both are on the same scale; the panel's title calls it the training loss). Hu et al.'s loss
# is a mean of log(|error| + 0.5), so it goes below 0 once the errors are small. The two lines should fall
# together: the selectivity term should not slow the depth loss down; where they overlap, the line drawn last
# hides the other. At quick parameters there are only a few steps, so only the start of the curve is visible.

# %%
def fit(alpha: float) -> tuple[nn.Module, list[float]]:
    torch.manual_seed(0)
    model = DepthNet()
    objective = Objective("mff", alpha, LAYERS if alpha else [], d_min=data_config.d_min, d_max=data_config.d_max)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(train_set, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    losses = []
    while len(losses) < STEPS:
        for batch in loader:
            with objective.capture(model) as activations:
                pred = model(batch["image"])
            parts = objective(pred, batch["depth"], activations)
            optimiser.zero_grad()
            parts.loss.backward()
            optimiser.step()
            losses.append(float(parts.depth_loss.detach()))
            if len(losses) == STEPS:
                break
    return model.eval(), losses


models, losses = {}, {}
for method, alpha in (("baseline", 0.0), ("interpretable", ALPHA)):
    models[method], losses[method] = fit(alpha)
history = pd.DataFrame([{"name": m, "step": step + 1, "train_loss": loss}
                        for m, values in losses.items() for step, loss in enumerate(values)])
plots.show(plots.training_curves(history, columns=["train_loss"]), figures / "fig_own_model_training")  # x: step

# %%
accuracy = pd.DataFrame([{"method": m, "seed": 0, **inference.evaluate(model, test_set, d_max=data_config.d_max)}
                         for m, model in models.items()])
tables.display_table(accuracy, ["method", "d1", "abs_rel", "rmse"])

# %% [markdown]
# **Dissection** of both layers of both models on the training images. K = min(units, 64): 48 bins for
# `decoder.act1`, 64 for `decoder.act0`. `dissect` warns when the data leave bins empty (their mean response is
# 0, which inflates DS); the warnings are shown here rather than hidden.

# %%
dissections, warned = {}, []
for method, model in models.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmptyBinWarning)
        # bands=4: the position control's image bands, as every run of the grid is dissected
        dissections[method] = dissect(model, train_set, LAYERS, progress=False, bands=4)
    warned += [f"- {method}: {w.message}" for w in caught if issubclass(w.category, EmptyBinWarning)]
Markdown("\n".join(warned) or "Every SID bin of both layers holds pixels.")

# %% [markdown]
# **How to read this.** One panel per dissected layer; each histogram counts the units of one model at each depth
# selectivity (DS, 0 = no depth preference, 1 = the unit fires in one depth bin only) as a share of the layer's
# units. After assignment the interpretable model's histogram should sit to the right of the baseline's; where the
# two overlap, the term has not (yet) raised selectivity on this network (the claims below say by how much).

# %%
units = pd.concat([dissections[m].table().assign(method=m) for m in models], ignore_index=True)
plots.show(plots.selectivity_distribution(units), figures / "fig_own_model_selectivity")

# %% [markdown]
# **How to read this.** One panel per model and layer: rows are units, columns are depth bins (edges in metres),
# colour is each unit's mean response scaled to its maximum. Rows are in index order, which is assigned-bin order
# (unit c is assigned bin c / (C / K)), so a unit whose preferred (brightest) bin is its assigned bin lights the
# diagonal; the baseline was given no such order. Each title counts those units ("n of C units prefer their
# assigned bin"): read the count, not the picture. An all-dark row is a dead unit (it never responds).

# %%
interp = dissections["interpretable"]
plots.show(plots.response_matrix({f"{m} {layer}": dissections[m][layer] for m in models for layer in LAYERS}),
           figures / "fig_own_model_response_matrix")

# %% [markdown]
# **How to read this.** Each panel is one of the four most selective clean units (neither near-silent nor
# position-coded by the position control; flagged ones only when fewer are clean) of the interpretable model's first
# layer: bars are its mean response per depth bin (metres on the x-axis), scaled to its largest; the dark bar is
# its preferred bin and the black frame its assigned bin. A selective unit has one tall bar and low others; a
# broad bump far from its frame is a unit the objective did not reach.

# %%
plots.show(plots.depth_response_units(interp[LAYERS[0]], top_units(interp[LAYERS[0]], 4, clean=True),
                                      title=f"interpretable {LAYERS[0]}"), figures / "fig_own_model_units")

# %% [markdown]
# **Ablation and correction** of the interpretable model's units, grouped by the depth range (of 4) of their
# preferred bin. The two layers have different K, so the ranges are given in metres, shared by both layers.

# %% [markdown]
# **How to read this.** Rows are the depth range whose most selective units were zeroed, columns the range whose
# error is measured; each cell is the relative change of AbsRel against the unablated model. A reliable unit group
# raises its own range's error most, so the diagonal should be the darkest cell of each row. The colour scale
# spans the largest change, so one strong row can wash out the others: read the numbers in the cells. A row of 0.0%
# everywhere is a group whose zeroing changed no range's error.

# %%
ranges = depth_ranges(interp[LAYERS[0]].edges, 4)
model = models["interpretable"]
ablation = pd.concat([ablation_experiment(model, test_set, interp[layer], ranges=ranges,
                                          random_draws=RANDOM_DRAWS).assign(layer=layer)
                      for layer in LAYERS], ignore_index=True)
plots.show(plots.ablation_depth_ranges(ablation[ablation["layer"] == LAYERS[0]], title=f"ablation {LAYERS[0]}"),
           figures / "fig_own_model_ablation")

# %% [markdown]
# **How to read this.** From the left: one test image, its true depth, the model's absolute error, and that
# error after correcting all units of the layer (replacing each activation with its dissected mean for the pixel's
# true depth bin); the titles give the mean error. The bars compare correcting the selective units of each range
# (> 0: error removed in that range) with correcting as many random units; a range without a dark bar is one where
# correcting its selective units changed nothing.

# %%
correction = pd.concat([correction_experiment(model, test_set, interp[layer], ranges=ranges,
                                              random_draws=RANDOM_DRAWS).assign(layer=layer)
                        for layer in LAYERS], ignore_index=True)
maps = correction_maps(model, test_set[0], interp[LAYERS[0]])
plots.show(plots.error_correction(**maps, correction=correction[correction["layer"] == LAYERS[0]]),
           figures / "fig_own_model_correction")

# %% [markdown]
# **Claims on this network.** C2 compares the two models' layers; C4 and C6 pool both layers' groups. Each gets
# its verdict word (no position control is measured on this network), and they are written to
# `results/own_model_claims.json`: the README's "what did not reproduce" has a section for them.

# %%
selectivity = pd.concat([dissections[m].summary().assign(method=m, seed=0, assigned=m == "interpretable")
                         for m in models], ignore_index=True)
selectivity["chance_near"] = [chance_near_fraction(int(k)) for k in selectivity["bins"]]
checked = [claims.through_controls(claim) for claim in (
    claims.c2_selectivity_rises(selectivity, "own model"), claims.c3_accuracy_kept(accuracy, "own model"),
    claims.c4_ablation_reliable(ablation), claims.c6_correction(correction))]
claims.write_own_model_claims(checked, figures)
tables.claims_table(checked)

# %%
Markdown(claims.interpretation(checked))
