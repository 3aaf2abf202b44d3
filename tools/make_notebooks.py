"""Write notebooks/00..06 (without outputs) from the cell lists below: python tools/make_notebooks.py.

Each notebook is thin: narrative, a cell tagged ``parameters`` (papermill), and cells that make one
call into mdeinterp or one plot call. Edit the cells here, not the .ipynb files.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]

PARAMETERS = '''FIGURES = "figures"  # where figures, tables and claims.json go
SCALE = "full"  # "full", "quick" or "paper" (mdeinterp.experiments.plan)
RUNS = "runs"  # run directories (finished runs are reused)
DEVICE = "auto"  # training device: "auto", "cpu", "cuda"
WORKERS = 2  # training processes side by side, one torch thread each (CPU); 1 on a GPU
DATA = None  # real data path for the paper scale; None: embedded synthetic scenes
PRESET = None  # MFF preset of the main runs; None: the default of the scale
DISSECT_IMAGES = 200  # training images per dissection; None: all
EVAL_IMAGES = None  # test images per ablation or correction evaluation; None: all
RANDOM_DRAWS = 3  # random unit sets per group in ablation/correction'''

SETUP = '''import os
from pathlib import Path

import pandas as pd

from mdeinterp import claims, experiments, plots

if Path.cwd().name == "notebooks":  # opened in Jupyter: paths are relative to the repository root, as in reproduce
    os.chdir(Path.cwd().parent)
FIGURES = Path(FIGURES)
specs = experiments.plan(SCALE, data=DATA, preset=PRESET)
groups = experiments.settings(specs)
BASE, INTERP = groups["main"][0], groups["main"][1]  # first seed's baseline and interpretable runs'''


def code(source: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def notebook(title: str, intro: str, cells: list) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [new_markdown_cell(f"# {title}\n\n{intro}"), code(PARAMETERS, ("parameters",)), code(SETUP)]
    for cell in cells:
        nb.cells.append(new_markdown_cell(cell[1:].strip()) if cell.startswith("#") else code(cell.strip()))
    for index, cell in enumerate(nb.cells):  # stable ids: regenerating leaves unchanged notebooks unchanged
        cell.id = f"cell-{index:02d}"
    return nb


NOTEBOOKS = {
    "00_data": notebook(
        "00 Data", "Synthetic indoor (NYUv2-like) and outdoor (KITTI-like) scenes rendered with exact depth, "
        "and how their depths fall into the SID bins used for dissection.",
        [
            """
import torch
from mdeinterp.data import make_dataset
from mdeinterp.selectivity import default_num_bins, sid_edges

configs = {tag: experiments.select(specs, tag)[0].config() for tag in ("main", "outdoor") if experiments.select(specs, tag)}
test_sets = {tag: make_dataset(cfg.data, "test") for tag, cfg in configs.items()}""",
            "# Two test samples of each kind: RGB and depth in metres.",
            """
samples = [test_sets[tag][i] for tag in test_sets for i in range(2)]
fig = plots.data_samples(samples, titles=[configs[tag].data.kind for tag in test_sets for _ in range(2)])
plots.save(fig, FIGURES / "fig_data_samples")""",
            "# Depth histograms over the SID bins (K = 32, the bins of mff_tiny's D and MFF layers).",
            """
depths = {tag: torch.stack([ds[i]["depth"] for i in range(min(len(ds), 64))]) for tag, ds in test_sets.items()}
fig = plots.depth_histogram(depths["main"], sid_edges(32, configs["main"].data.d_min, configs["main"].data.d_max), label="indoor")""",
            """plots.save(fig, FIGURES / "fig_depth_histogram_indoor")""",
            """
if "outdoor" in depths:
    cfg = configs["outdoor"].data
    plots.save(plots.depth_histogram(depths["outdoor"], sid_edges(32, cfg.d_min, cfg.d_max), label="outdoor"),
               FIGURES / "fig_depth_histogram_outdoor")""",
        ],
    ),
    "01_train": notebook(
        "01 Train", "Trains every run the later notebooks need (baseline alpha = 0 and interpretable alpha = 0.1 "
        "on D+MFF for each seed, single layers, BTS, outdoor data, the alpha and K sweeps). Finished runs are reused.",
        [
            """pd.DataFrame([{"name": s.name, "preset": s.preset, "tags": ",".join(s.tags), **s.overrides} for s in specs])""",
            """runs = experiments.run_all(specs, out=RUNS, device=DEVICE, workers=WORKERS)""",
            """metrics = experiments.collect_metrics(runs["run_dir"])
metrics[["name", "method", "layers", "seed", "d1", "abs_rel", "rmse"]]""",
            "# Training curves of the main runs (baseline vs interpretable, all seeds).",
            """history = experiments.training_history(experiments.run_dirs(specs, RUNS, "main"))
plots.save(plots.training_curves(history), FIGURES / "fig_training_curves")""",
        ],
    ),
    "02_selectivity": notebook(
        "02 Selectivity", "Dissection of the baseline and interpretable models: per-layer mean selectivity "
        "(tab_main), distributions over units, per-unit depth responses, response matrices and activation maps.",
        [
            """
dirs = experiments.run_dirs(specs, RUNS)
metrics = experiments.collect_metrics(dirs)
selectivity = experiments.selectivity_table(dirs, max_images=DISSECT_IMAGES)""",
            """
experiments.write_result(experiments.by_setting(selectivity, groups), FIGURES, "selectivity")
experiments.write_result(experiments.by_setting(metrics, groups), FIGURES, "accuracy")""",
            "# tab_main: accuracy and mean selectivity per layer, mean ± std over seeds.",
            """
names = groups["main"] + groups.get("bts", []) + groups.get("outdoor", [])
tab_main = experiments.main_table(metrics[metrics["name"].isin(names)], selectivity[selectivity["name"].isin(names)])
experiments.write_table(tab_main, FIGURES / "tab_main")
tab_main""",
            "# Chance level: the same dissection of untrained (randomly initialised) networks, three seeds.",
            """
chance = experiments.chance_selectivity(Path(RUNS) / BASE, max_images=DISSECT_IMAGES)
tab_chance = experiments.summarise(chance, ["model", "layer", "bins"], ["mean_selectivity", "near_assigned"])
experiments.write_table(tab_chance, FIGURES / "tab_chance")
tab_chance""",
            "# Per-unit selectivity of the main runs; the baseline units feed claim C1.",
            """
units = experiments.unit_table(experiments.run_dirs(specs, RUNS, "main"), max_images=DISSECT_IMAGES)
experiments.write_result(units[units["method"] == "baseline"], FIGURES, "units_baseline")""",
            """
first_seed = units[units["name"].isin([BASE, INTERP])]
plots.save(plots.selectivity_distribution(first_seed), FIGURES / "fig_selectivity_distribution")""",
            "# Depth responses of the most selective units (baseline: some units already prefer a depth range).",
            """
base = experiments.dissect_run(Path(RUNS) / BASE, max_images=DISSECT_IMAGES)
interp = experiments.dissect_run(Path(RUNS) / INTERP, max_images=DISSECT_IMAGES)
layer = next(iter(base))""",
            """
fig = plots.depth_response_units(base[layer], experiments.top_units(base[layer], 4), title=f"baseline {layer}")
plots.save(fig, FIGURES / "fig_depth_response_units")""",
            """
fig = plots.depth_response_units(interp[layer], experiments.top_units(interp[layer], 4), title=f"interpretable {layer}")
plots.save(fig, FIGURES / "fig_depth_response_units_interpretable")""",
            "# Unit x depth-bin responses in unit order (= assigned-bin order): diagonal after assignment.",
            """
matrices = {f"{method} {name}": result[name] for method, result in (("baseline", base), ("interpretable", interp))
            for name in ("D", "MFF") if name in result}
plots.save(plots.response_matrix(matrices), FIGURES / "fig_response_matrix")""",
            "# Activation maps of the most selective interpretable units on a test image.",
            """
model, config = experiments.load_run(Path(RUNS) / INTERP)
sample = experiments.dissection_data(config, "test")[0]
chosen = experiments.top_units(interp[layer], 5)
activations = experiments.unit_activations(model, sample, layer)""",
            """
titles = [f"{layer} unit {u} (bin {int(interp[layer].preferred_bin[u])})" for u in chosen]
fig = plots.unit_activation_maps(sample["image"], activations, chosen, depth=sample["depth"], titles=titles)
plots.save(fig, FIGURES / "fig_unit_activation_maps")""",
        ],
    ),
    "03_ablation": notebook(
        "03 Ablation", "Zero the units preferring each depth range of the interpretable model and measure the "
        "error change per depth range; compare with as many random units.",
        [
            """
ablation = experiments.intervention_table(Path(RUNS) / INTERP, ["D", "MFF"], "ablation", max_images=EVAL_IMAGES,
                                          dissect_images=DISSECT_IMAGES, random_draws=RANDOM_DRAWS)
experiments.write_result(ablation, FIGURES, "ablation")""",
            """plots.save(plots.ablation_depth_ranges(ablation[ablation["layer"] == "D"], title="interpretable D"), FIGURES / "fig_ablation_depth_ranges")""",
            """plots.save(plots.ablation_selective_vs_random(ablation[ablation["layer"] == "D"]), FIGURES / "fig_ablation_selective_vs_random")""",
            """claims.c4_ablation_reliable(ablation).to_dict()""",
        ],
    ),
    "04_layers_models_data": notebook(
        "04 Layers, models, data", "The method on single layers (D, MFF, R.conv0, R.conv1) and D+MFF, on BTS "
        "(decoder.upconv2 + decoder.iconv2) and on outdoor (KITTI-like) scenes.",
        [
            """
selectivity = experiments.read_result(FIGURES, "selectivity")
accuracy = experiments.read_result(FIGURES, "accuracy")""",
            "# tab_layers: selectivity on the assigned layer(s), baseline vs interpretable, and accuracy.",
            """
layer_names = sorted({n for setting, names in groups.items() if setting.startswith("layer:") for n in names} | {INTERP})
metrics = accuracy[accuracy["name"].isin(layer_names)].drop_duplicates("name")
tab_layers = experiments.layer_table(metrics, selectivity[selectivity["name"].isin(layer_names)].drop_duplicates(["name", "layer"]))
experiments.write_table(tab_layers, FIGURES / "tab_layers")
tab_layers""",
            "# tab_models_datasets: MFF and BTS on indoor scenes, MFF on outdoor scenes.",
            """
tab_models = experiments.models_data_table(accuracy, selectivity)
experiments.write_table(tab_models, FIGURES / "tab_models_datasets")
tab_models""",
            """claims.c5_applicability(selectivity, accuracy, [s for s in groups if s != "main"]).to_dict()""",
        ],
    ),
    "05_error_analysis": notebook(
        "05 Error analysis", "Correction: replace a unit's activation at each pixel by its dissected mean "
        "response for the pixel's true depth bin; units whose correction removes much error are responsible for it.",
        [
            """
correction = experiments.intervention_table(Path(RUNS) / INTERP, ["D", "MFF"], "correction", max_images=EVAL_IMAGES,
                                            dissect_images=DISSECT_IMAGES, random_draws=RANDOM_DRAWS)
experiments.write_result(correction, FIGURES, "correction")""",
            """maps = experiments.correction_maps(Path(RUNS) / INTERP, "D", dissect_images=DISSECT_IMAGES)""",
            """plots.save(plots.error_correction(**maps, correction=correction[correction["layer"] == "D"]), FIGURES / "fig_error_correction")""",
            """claims.c6_correction(correction).to_dict()""",
        ],
    ),
    "06_sensitivity": notebook(
        "06 Sensitivity", "Accuracy and selectivity against alpha (0 .. 1) and the number of depth bins K; "
        "then every claim checked from the result tables (claims.json).",
        [
            """
sweep_dirs = experiments.run_dirs([s for s in specs if {"alpha", "bins"} & set(s.tags)], RUNS)
sweep = experiments.sweep_table(experiments.collect_metrics(sweep_dirs),
                                experiments.selectivity_table(sweep_dirs, max_images=DISSECT_IMAGES))
alpha_names = [s.name for s in experiments.select(specs, "alpha")]
bins_names = [s.name for s in experiments.select(specs, "bins") if s.overrides.get("alpha")]""",
            """
alpha_sweep = sweep[sweep["name"].isin(alpha_names)]
experiments.write_table(alpha_sweep[["alpha", "d1", "abs_rel", "rmse", "mean_selectivity", "near_assigned"]].sort_values("alpha"), FIGURES / "tab_sensitivity_alpha")
plots.save(plots.sensitivity(alpha_sweep, x="alpha"), FIGURES / "fig_sensitivity_alpha")""",
            """
bins_sweep = sweep[sweep["name"].isin(bins_names)]
experiments.write_table(bins_sweep[["bins", "d1", "abs_rel", "rmse", "mean_selectivity", "near_assigned"]].sort_values("bins"), FIGURES / "tab_sensitivity_bins")
plots.save(plots.sensitivity(bins_sweep, x="bins"), FIGURES / "fig_sensitivity_bins")""",
            "# Claims C1..C6, each computed from the result tables written by notebooks 02-05.",
            """
checked = claims.evaluate_claims(FIGURES)
claims.write_claims(checked, FIGURES / "claims.json")
claims.claims_frame(checked)""",
        ],
    ),
}


def main() -> None:
    """Write every notebook into notebooks/."""
    folder = ROOT / "notebooks"
    folder.mkdir(exist_ok=True)
    for name, nb in NOTEBOOKS.items():
        nbformat.validate(nb)
        nbformat.write(nb, folder / f"{name}.ipynb")


if __name__ == "__main__":
    main()
