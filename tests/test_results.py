"""Run directories and their caches: the chance level of untrained networks."""

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from mdeinterp import grid, results
from mdeinterp.run import Run, bin_count, dissection_data


def test_chance_selectivity_is_the_dissection_of_untrained_networks(tmp_path):
    import torch

    from mdeinterp.dissection import dissect
    from mdeinterp.models import create_model

    (tmp_path / "data").mkdir()
    spec = grid.RunSpec("r", "tiny", {"data": str(tmp_path / "data"), "n_train": 8, "n_test": 4, "height": 64,
                                             "width": 64, "batch_size": 4, "epochs": 1, "max_steps": 1,
                                             "device": "cpu"}, ("main",))
    run_dir = grid.run_all([spec], out=tmp_path / "runs", progress=False)["run_dir"][0]
    chance = results.chance_selectivity(run_dir, seeds=(0, 1), max_images=8)
    assert set(chance["method"]) == {"random init"} and sorted(set(chance["seed"])) == [0, 1]
    assert list(chance[chance["seed"] == 0]["layer"]) == ["D", "MFF", "R.conv0", "R.conv1"]
    torch.manual_seed(1)
    model = create_model("mff_tiny").eval()
    config = spec.config()
    expected = dissect(model, dissection_data(config, "train"), ["MFF"], max_images=8, progress=False,
                       d_min=config.data.d_min, d_max=config.data.d_max)
    got = chance[(chance["seed"] == 1) & (chance["layer"] == "MFF")]
    assert got["mean_selectivity"].item() == pytest.approx(float(expected["MFF"].selectivity.mean()), abs=1e-12)
    assert 0 <= got["selectivity_spread"].item() < 1 and 0 <= got["preferred_agreement"].item() <= 1
    # all images (the default): halves cached in the run directory, units of every seed for claim C1
    units = results.chance_units(run_dir, seeds=(1,))
    assert (Path(run_dir) / "chance_s1_half0.h5").exists() and len(units) == 32 + 32 + 64 + 64  # D, MFF, R.conv0, R.conv1
    mff = units[units["layer"] == "MFF"]["selectivity"].to_numpy()
    assert mff == pytest.approx(expected["MFF"].selectivity.numpy(), abs=1e-12)


def test_bin_count_is_the_runs_num_bins_or_min_of_units_and_64(tmp_path):
    from mdeinterp.config import build_config

    config = build_config("tiny", data=str(tmp_path), n_train=4, n_test=2, height=64, width=64)
    assert bin_count(config) == 32  # mff_tiny's D has 32 units
    assert bin_count(build_config("tiny", data=str(tmp_path), n_train=4, n_test=2, num_bins=8)) == 8


def test_run_owns_config_model_data_and_a_cached_dissection(tmp_path):
    import torch

    import mdeinterp
    from mdeinterp import Run
    from mdeinterp.errors import ConfigError, DataError

    (tmp_path / "data").mkdir()
    spec = grid.RunSpec("r", "tiny", {"data": str(tmp_path / "data"), "n_train": 6, "n_test": 2, "height": 64,
                                      "width": 64, "batch_size": 2, "epochs": 1, "max_steps": 1, "device": "cpu",
                                      "alpha": 0.1, "layers": "D"}, ("main",))
    run_dir = Path(grid.run_all([spec], out=tmp_path / "runs", progress=False)["run_dir"][0])
    run = Run.from_dir(run_dir)
    assert run.name == "r" and run.config.layers == ("D",) and run.info["method"] == "interpretable"
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.path = tmp_path
    assert run.layers() == ("D", "MFF", "R.conv0", "R.conv1") and len(run.data("test")) == 2
    model, again, untrained = run.model(), run.model(), run.untrained(0)
    assert not model.training
    trained = model.state_dict()
    assert all(torch.equal(trained[k], again.state_dict()[k]) for k in trained)  # the checkpoint, each time
    assert not all(torch.equal(trained[k], untrained.state_dict()[k]) for k in trained)
    full = run.dissection()
    half_a, half_b = run.halves()
    assert run.dissection() is full  # cached on the object
    assert (run_dir / "dissection_train_half0.h5").exists() and (run_dir / "dissection_train_half1.h5").exists()
    torch.testing.assert_close(full["D"].sums, half_a["D"].sums + half_b["D"].sums, rtol=0, atol=0)
    assert float(full["D"].counts.sum()) == 6 * 64 * 64 - float(sum(
        (d["depth"] <= 0).sum() + (d["depth"] > run.config.data.d_max).sum() for d in run.data("train")))
    again = Run.from_dir(run_dir).dissection()  # a new object reads the halves from disk
    torch.testing.assert_close(again["MFF"].sums, full["MFF"].sums, rtol=0, atol=0)
    # the results wrappers are the Run's methods
    torch.testing.assert_close(Run.from_dir(run_dir).dissection()["D"].sums, full["D"].sums, rtol=0, atol=0)
    chance = run.chance(seed=0, max_images=4)
    torch.manual_seed(0)
    expected = mdeinterp.dissect(mdeinterp.create_model("mff_tiny").eval(), run.data(), ["D"], max_images=4,
                                 d_min=run.config.data.d_min, d_max=run.config.data.d_max, progress=False)
    torch.testing.assert_close(chance["D"].sums, expected["D"].sums, rtol=1e-9, atol=1e-9)
    rows = run.interventions("ablation", ["D", "MFF"], max_images=2, random_draws=1, num_ranges=2)
    assert set(rows["layer"]) == {"D", "MFF"} and set(rows["name"]) == {"r"}
    lo = rows.groupby("layer")["range_lo"].apply(lambda v: sorted(set(v)))
    assert lo["D"] == lo["MFF"]
    with pytest.raises(ConfigError, match="unknown intervention kind 'ablate'"):
        run.interventions("ablate", ["D"])
    with pytest.raises(DataError, match="not a run directory"):
        Run.from_dir(tmp_path)


def test_the_public_api_is_exported_from_the_package():
    import mdeinterp

    for name in ("Run", "Study", "hooks", "dissect", "Objective", "DepthResponse", "plots", "ablate", "correct"):
        assert name in mdeinterp.__all__
    assert "EPS" not in mdeinterp.__all__ and "selectivity_losses" not in mdeinterp.__all__  # internals
    with pytest.warns(DeprecationWarning, match="mdeinterp.EPS is deprecated; use mdeinterp.selectivity.EPS"):
        assert mdeinterp.EPS == 1e-15
    assert mdeinterp.hooks.ablate is __import__("mdeinterp.hooks", fromlist=["ablate"]).ablate
    assert mdeinterp.Run.__module__ == "mdeinterp.run"


def test_run_model_builds_the_model_with_the_configs_options(tmp_path):
    # the outdoor BTS bounds its output at 80 m: a run loaded with the model's default 10 m would cap every depth
    from mdeinterp.config import build_config
    from mdeinterp.train import train

    config = build_config("tiny_outdoor", data=str(tmp_path / "data"), format="synthetic", n_train=8, n_test=4,
                          epochs=1, batch_size=4, max_steps=1, device="cpu", probe_images=0)
    run = Run.from_dir(train(config, out=tmp_path, name="r", progress=False))
    model, loaded = run.model(), run.config
    assert Run.of(run) is run and Run.of(run.path) == run and Run.of(str(run.path)).config == run.config
    assert loaded.model.max_depth == 80.0 and model.decoder.max_depth == 80.0


def _logged_run(folder: Path, alpha: float, layers: tuple[str, ...], ds: dict[str, list[float]], seed: int = 0) -> Path:
    """Write a run folder holding only a config and an epoch log with probe DS ``ds`` (layer -> one value per epoch)."""
    from mdeinterp.config import build_config, to_json

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(to_json(build_config("tiny", alpha=alpha, layers=layers, seed=seed)))
    epochs = len(next(iter(ds.values())))
    log = {"epoch": range(1, epochs + 1), "step": [500 * e for e in range(1, epochs + 1)],
           **{f"ds_{layer}": values for layer, values in ds.items()}}
    pd.DataFrame(log).to_csv(folder / "metrics.csv", index=False)
    return folder


def test_plateau_table_checks_every_run_of_a_setting_on_its_assigned_layers(tmp_path):
    # the baseline is checked on D and MFF (what the setting's interpretable run assigns), not on R.conv0
    base = _logged_run(tmp_path / "base_s0", 0.0, ("D", "MFF"),
                       {"D": [0.30, 0.36, 0.365, 0.37], "MFF": [0.30, 0.305, 0.31, 0.31], "R.conv0": [0.1, 0.2, 0.3, 0.4]})
    interp = _logged_run(tmp_path / "interp_s0", 0.1, ("D", "MFF"),
                         {"D": [0.30, 0.40, 0.45, 0.455], "MFF": [0.30, 0.35, 0.37, 0.39]})
    single = _logged_run(tmp_path / "layer_R.conv0_s0", 0.1, ("R.conv0",),
                         {"D": [0.3, 0.3, 0.3, 0.3], "R.conv0": [0.2, 0.3, 0.4, 0.402]})
    table = results.plateau_table({"main": [base, Run.from_dir(interp)], "layer:R.conv0": [base, single]})
    assert list(zip(table["setting"], table["name"])) == [("main", "base_s0"), ("main", "interp_s0"),
                                                          ("layer:R.conv0", "base_s0"), ("layer:R.conv0", "layer_R.conv0_s0")]
    assert table["layers"].tolist() == ["D+MFF", "D+MFF", "R.conv0", "R.conv0"]
    # base: D +0.06 then +0.005 (MFF flat) -> epoch 3; interp: MFF still +0.02 at epoch 4; on R.conv0 the baseline
    # rises +0.1 every epoch, the single-layer run +0.002 at epoch 4
    assert table["plateau_epoch"].isna().tolist() == [False, True, True, False]
    assert (table.loc[0, "plateau_epoch"], table.loc[0, "plateau_step"]) == (3, 1500)
    assert (table.loc[3, "plateau_epoch"], table.loc[3, "plateau_step"]) == (4, 2000)
    assert table["method"].tolist() == ["baseline", "interpretable", "baseline", "interpretable"]
    assert (table["epochs"] == 4).all() and (table["steps"] == 2000).all()
    assert results.describe_plateaus(table).splitlines() == [
        "- **main** (D+MFF, 2,000 steps trained), probe DS flat from: baseline step 1,500; interpretable still rising.",
        "- **layer:R.conv0** (R.conv0, 2,000 steps trained), probe DS flat from: baseline still rising; interpretable "
        "step 2,000.",
    ]
    seeds = pd.concat([table.iloc[:2], table.iloc[:2].assign(seed=1, plateau_step=pd.array([None, 1000], "Int64"))])
    assert results.describe_plateaus(seeds.sort_values("method", kind="stable")) == (
        "- **main** (D+MFF, 2,000 steps trained), probe DS flat from: baseline step 1,500 (seed 0), still rising "
        "(seed 1); interpretable still rising (seed 0), step 1,000 (seed 1).")


def test_plateau_table_needs_an_interpretable_run_per_setting(tmp_path):
    from mdeinterp.errors import ConfigError

    base = _logged_run(tmp_path / "base_s0", 0.0, ("D", "MFF"), {"D": [0.3, 0.4], "MFF": [0.3, 0.4]})
    with pytest.raises(ConfigError, match="setting 'main' has no interpretable run"):
        results.plateau_table({"main": [base]})


def test_range_accuracy_is_a_run_recipe_over_the_ablation_ranges(tmp_path):
    from mdeinterp import evaluate
    from mdeinterp.interventions import range_errors
    from mdeinterp.selectivity import sid_edges

    (tmp_path / "data").mkdir()
    spec = grid.RunSpec("r", "tiny", {"data": str(tmp_path / "data"), "n_train": 8, "n_test": 4, "height": 64,
                                             "width": 64, "batch_size": 4, "epochs": 1, "max_steps": 1,
                                             "device": "cpu", "probe_images": 0}, ("main",))
    run = Run.from_dir(grid.run_all([spec], out=tmp_path / "runs", progress=False)["run_dir"][0])
    table = run.range_accuracy(2)
    assert list(table["range"]) == [0, 1] and list(table.columns[:4]) == ["range", "range_lo", "range_hi", "share"]
    assert table["share"].sum() == pytest.approx(1.0) and table["range_hi"].iloc[-1] == run.config.data.d_max
    edges = sid_edges(run.num_bins(), run.config.data.d_min, run.config.data.d_max)
    expected = range_errors(run.model(), run.data("test"), edges, 2, batch_size=run.config.batch_size)
    assert table["abs_rel"].tolist() == expected["abs_rel"].tolist()
    with pytest.warns(DeprecationWarning, match=r"evaluate.range_accuracy is deprecated; use mdeinterp.run.Run.range_accuracy"):
        old = evaluate.range_accuracy(run.path, 2)
    pd.testing.assert_frame_equal(old, table)  # the old spelling, same table
