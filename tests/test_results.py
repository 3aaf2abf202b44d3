"""Run directories and their caches: the chance level of untrained networks."""

from pathlib import Path

import pytest

from mdeinterp import grid, results


def test_chance_selectivity_is_the_dissection_of_untrained_networks(tmp_path):
    import torch

    from mdeinterp.analysis import dissect
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
    expected = dissect(model, results.dissection_data(config, "train"), ["MFF"], max_images=8, progress=False,
                       d_min=config.data.d_min, d_max=config.data.d_max)
    got = chance[(chance["seed"] == 1) & (chance["layer"] == "MFF")]
    assert got["mean_selectivity"].item() == pytest.approx(float(expected["MFF"].selectivity.mean()), abs=1e-12)
    assert 0 <= got["selectivity_spread"].item() < 1 and 0 <= got["preferred_agreement"].item() <= 1
    # all images (the default): halves cached in the run directory, units of every seed for claim C1
    units = results.chance_units(run_dir, seeds=(1,))
    assert (Path(run_dir) / "chance_s1_half0.h5").exists() and len(units) == 32 + 32 + 64 + 64  # D, MFF, R.conv0, R.conv1
    mff = units[units["layer"] == "MFF"]["selectivity"].to_numpy()
    assert mff == pytest.approx(expected["MFF"].selectivity.numpy(), abs=1e-12)


def test_depth_bins_is_the_runs_num_bins_or_min_of_units_and_64(tmp_path):
    from mdeinterp.config import build_config

    config = build_config("tiny", data=str(tmp_path), n_train=4, n_test=2, height=64, width=64)
    assert results.depth_bins(config) == 32  # mff_tiny's D has 32 units
    assert results.depth_bins(build_config("tiny", data=str(tmp_path), n_train=4, n_test=2, num_bins=8)) == 8


def test_load_run_builds_the_model_with_the_configs_options(tmp_path):
    # the outdoor BTS bounds its output at 80 m: a run loaded with the model's default 10 m would cap every depth
    from mdeinterp.config import build_config
    from mdeinterp.train import train

    config = build_config("tiny_outdoor", data=str(tmp_path / "data"), format="synthetic", n_train=8, n_test=4,
                          epochs=1, batch_size=4, max_steps=1, device="cpu", probe_images=0)
    model, loaded = results.load_run(train(config, out=tmp_path, name="r", progress=False))
    assert loaded.model.max_depth == 80.0 and model.decoder.max_depth == 80.0
