"""The experiment grid (plan), settings, and the summary tables built from hand-made run tables."""

from pathlib import Path

import pandas as pd
import pytest

from mdeinterp import experiments
from mdeinterp.config import TrainConfig
from mdeinterp.errors import ConfigError


@pytest.mark.parametrize("scale", ["full", "quick"])
def test_plan_names_unique_and_every_spec_builds_a_config(scale):
    specs = experiments.plan(scale)
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    for spec in specs:
        assert isinstance(spec.config(), TrainConfig)


def test_full_plan_structure():
    specs = experiments.plan("full")
    configs = {s.name: s.config() for s in specs}
    main = experiments.select(specs, "main")
    assert [s.name for s in main] == ["base_s0", "interp_s0", "base_s1", "interp_s1", "base_s2", "interp_s2"]
    assert configs["interp_s1"].alpha == 0.1 and configs["interp_s1"].layers == ("D", "MFF")
    assert configs["base_s2"].alpha == 0.0 and configs["base_s2"].seed == 2
    # D and MFF are assigned together in the main runs; the refinement layers one at a time
    assert {configs[f"layer_{l}_s0"].layers for l in ("R.conv0", "R.conv1")} == {("R.conv0",), ("R.conv1",)}
    assert "layer_D_s0" not in configs
    assert configs["bts_interp_s0"].model.arch == "bts_tiny"
    assert configs["bts_interp_s0"].layers == ("decoder.upconv2", "decoder.iconv2")
    assert configs["outdoor_interp_s0"].data.kind == "outdoor"
    assert configs["interp_s0"].num_bins is None
    # the sweeps are left out at full scale on CPU (budget), unless asked for
    assert not any(n.startswith(("alpha_", "bins_")) for n in configs)
    assert len(specs) == 6 + 2 + 2 + 2
    swept = {s.name: s.config() for s in experiments.plan("full", sweeps=True)}
    assert sorted(c.alpha for n, c in swept.items() if n.startswith("alpha_")) == [0.3, 1.0]
    # mff_tiny's D/MFF have 32 units, so K = 32 is the default run and the sweep adds 8 and 16
    assert sorted(c.num_bins for n, c in swept.items() if n.startswith("bins_")) == [8, 16]


def test_quick_plan_is_small():
    specs = experiments.plan("quick")
    assert len(experiments.select(specs, "main")) == 4  # seeds 0 and 1
    for spec in specs:
        config = spec.config()
        steps = min(config.max_steps, config.epochs * max(1, config.data.n_train // config.batch_size))
        assert steps <= 10 and config.data.n_train <= 32 and config.data.n_test <= 16
        assert config.data.height * config.data.width <= 96 * 192


def test_paper_plan_needs_data_and_maps_presets(tmp_path):
    with pytest.raises(ConfigError, match="needs the real data"):
        experiments.plan("paper")
    with pytest.raises(ConfigError, match="scale 'tiny' is unknown"):
        experiments.plan("tiny")
    csv = tmp_path / "nyu.csv"
    csv.write_text("rgb,depth\n")
    specs = experiments.plan("paper", data=str(csv))
    presets = {s.name: s.preset for s in specs}
    assert presets["interp_s0"] == "paper_mff_resnet50" and presets["bts_base_s0"] == "paper_bts_nyu"
    assert "outdoor_base_s0" not in presets  # no KITTI path given
    assert all(s.overrides["data"] == str(csv) for s in specs)
    assert sorted(s.overrides["num_bins"] for s in specs if s.name.startswith("bins_")) == [8, 16, 32]


def test_run_all_passes_name_and_built_config(monkeypatch, tmp_path):
    calls = []

    def fake_train(config, out, name, progress, resume=False):
        assert resume  # interrupted reproductions resume
        calls.append((config, out, name))
        return tmp_path / name

    import mdeinterp.train

    monkeypatch.setattr(mdeinterp.train, "train", fake_train)
    specs = experiments.plan("quick")[:2]
    table = experiments.run_all(specs, out=tmp_path, progress=False, device="cpu")
    assert list(table["name"]) == ["base_s0", "interp_s0"]
    assert calls[1][0].alpha == 0.1 and calls[1][0].device == "cpu" and calls[1][2] == "interp_s0"


def test_settings_group_runs():
    groups = experiments.settings(experiments.plan("full"))
    assert groups["layer:R.conv0"] == ["base_s0", "layer_R.conv0_s0"]
    assert groups["bts"] == ["bts_base_s0", "bts_interp_s0"]
    assert len(groups["main"]) == 6
    table = pd.DataFrame({"name": ["base_s0", "bts_base_s0"], "x": [1, 2]})
    labelled = experiments.by_setting(table, groups)
    assert sorted(labelled["setting"]) == sorted(["main", "bts"] + [f"layer:{l}" for l in experiments.SINGLE_LAYERS])


def test_summarise_mean_std_and_markdown(tmp_path):
    table = pd.DataFrame({"method": ["a", "a", "b"], "d1": [0.5, 0.7, 0.9]})
    summary = experiments.summarise(table, ["method"], ["d1"])
    assert summary["d1_mean"].tolist() == pytest.approx([0.6, 0.9])
    assert summary["d1_std"].tolist() == pytest.approx([0.1414213, 0.0])  # sample std; one seed -> 0
    assert summary["seeds"].tolist() == [2, 1]
    csv, md = experiments.write_table(summary, tmp_path / "tab_x")
    assert md.read_text().splitlines()[:3] == ["| method | d1 | seeds |", "|---|---|---|", "| a | 0.600 ± 0.141 | 2 |"]
    assert pd.read_csv(csv)["d1_mean"].tolist() == pytest.approx([0.6, 0.9])


def run_tables():
    metrics = pd.DataFrame([
        dict(name="base_s0", model="m", data="indoor", method="baseline", layers="", seed=0, d1=0.5, abs_rel=0.3),
        dict(name="interp_s0", model="m", data="indoor", method="interpretable", layers="D+MFF", seed=0, d1=0.6, abs_rel=0.2),
        dict(name="layer_D_s0", model="m", data="indoor", method="interpretable", layers="D", seed=0, d1=0.4, abs_rel=0.4),
    ])
    sel = pd.DataFrame([
        dict(name=n, layer=l, mean_selectivity=v, near_assigned=v / 2, bins=32, assigned=a)
        for n, l, v, a in [("base_s0", "D", 0.2, False), ("base_s0", "MFF", 0.1, False),
                           ("interp_s0", "D", 0.6, True), ("interp_s0", "MFF", 0.4, True),
                           ("layer_D_s0", "D", 0.8, True), ("layer_D_s0", "MFF", 0.1, False)]
    ])
    return metrics, sel


def test_main_table_has_selectivity_per_layer():
    metrics, sel = run_tables()
    metrics = metrics.assign(sel_D=0.01)  # the training objective's term, not part of the table
    table = experiments.main_table(metrics[metrics["name"] != "layer_D_s0"], sel)
    assert table["DS_D_mean"].tolist() == pytest.approx([0.2, 0.6])
    assert table["DS_MFF_mean"].tolist() == pytest.approx([0.1, 0.4])
    assert not any(c.startswith("sel_") for c in table)


def test_layer_table_compares_assigned_layers_only():
    metrics, sel = run_tables()
    table = experiments.layer_table(metrics, sel).set_index(["assigned_layers", "method"])
    assert table.loc[("D", "baseline"), "mean_selectivity"] == pytest.approx(0.2)
    assert table.loc[("D", "interpretable"), "mean_selectivity"] == pytest.approx(0.8)
    assert table.loc[("D+MFF", "baseline"), "mean_selectivity"] == pytest.approx(0.15)
    assert table.loc[("D+MFF", "interpretable"), "d1"] == pytest.approx(0.6)


def test_models_data_table_and_sweep_table():
    metrics, sel = run_tables()
    acc = metrics[metrics["name"] != "layer_D_s0"].assign(setting="main")
    table = experiments.models_data_table(acc, sel.assign(setting="main"))
    assert table["sel_assigned_mean"].tolist() == pytest.approx([0.15, 0.5])  # mean over D and MFF
    sweep = experiments.sweep_table(metrics, sel).set_index("name")
    assert sweep.loc["layer_D_s0", "mean_selectivity"] == pytest.approx(0.45)
    assert sweep.loc["interp_s0", "bins"] == 32


def test_reproduce_parameters_per_scale():
    from mdeinterp.reproduce import parameters

    quick = parameters(True, "build/quick-figures", "cpu", None, None)
    assert quick["SCALE"] == "quick" and quick["RUNS"].endswith("build/quick-runs") and quick["DISSECT_IMAGES"] is None
    full = parameters(False, "figures", "auto", None, None)
    assert full["SCALE"] == "full" and full["RUNS"].endswith("/runs") and "DISSECT_IMAGES" not in full
    assert parameters(False, "f", "cuda", "paper_mff_resnet50", "nyu.csv")["SCALE"] == "paper"


def test_reproduce_reports_failing_notebook_in_one_line(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from mdeinterp.reproduce import run_notebook

    (tmp_path / "notebooks").mkdir()
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("raise ValueError('no such run')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "bad.ipynb")
    with pytest.raises(RuntimeError) as error:
        run_notebook("bad", {}, tmp_path, cwd=tmp_path)
    assert str(error.value) == "notebook bad failed in cell 2: ValueError: no such run"


def test_run_dirs_names_missing_runs(tmp_path):
    specs = experiments.plan("quick")
    (tmp_path / "base_s0").mkdir()
    (tmp_path / "base_s0" / "done").write_text("{}")
    assert experiments.run_dirs(specs[:1], tmp_path) == [tmp_path / "base_s0"]
    with pytest.raises(experiments.DataError, match=r"runs not finished: .*interp_s0, .*base_s1, .*interp_s1 and 10 more"):
        experiments.run_dirs(specs, tmp_path)


def test_chance_selectivity_is_the_dissection_of_untrained_networks(tmp_path):
    import torch

    from mdeinterp.analysis import dissect
    from mdeinterp.models import create_model

    (tmp_path / "data").mkdir()
    spec = experiments.RunSpec("r", "tiny", {"data": str(tmp_path / "data"), "n_train": 8, "n_test": 4, "height": 64,
                                             "width": 64, "batch_size": 4, "epochs": 1, "max_steps": 1,
                                             "device": "cpu"}, ("main",))
    run_dir = experiments.run_all([spec], out=tmp_path / "runs", progress=False)["run_dir"][0]
    chance = experiments.chance_selectivity(run_dir, seeds=(0, 1), max_images=8)
    assert set(chance["method"]) == {"random init"} and sorted(set(chance["seed"])) == [0, 1]
    assert list(chance[chance["seed"] == 0]["layer"]) == ["D", "MFF", "R.conv0", "R.conv1"]
    torch.manual_seed(1)
    model = create_model("mff_tiny").eval()
    config = spec.config()
    expected = dissect(model, experiments.dissection_data(config, "train"), ["MFF"], max_images=8, progress=False,
                       d_min=config.data.d_min, d_max=config.data.d_max)
    got = chance[(chance["seed"] == 1) & (chance["layer"] == "MFF")]
    assert got["mean_selectivity"].item() == pytest.approx(float(expected["MFF"].selectivity.mean()), abs=1e-12)
    assert 0 <= got["selectivity_spread"].item() < 1 and 0 <= got["preferred_agreement"].item() <= 1
    # all images (the default): halves cached in the run directory, units of every seed for claim C1
    units = experiments.chance_units(run_dir, seeds=(1,))
    assert (Path(run_dir) / "chance_s1_half0.h5").exists() and len(units) == 32 * 4
    mff = units[units["layer"] == "MFF"]["selectivity"].to_numpy()
    assert mff == pytest.approx(expected["MFF"].selectivity.numpy(), abs=1e-12)
