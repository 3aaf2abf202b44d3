"""Issue 6 cases not covered elsewhere: bad inputs through CLI and API, notebooks, determinism."""

from __future__ import annotations

import h5py
import pytest
import torch

from mdeinterp import build_config, create_model, dissection
from mdeinterp.cli import main
from mdeinterp.data import resolve_format
from mdeinterp.errors import CheckpointError, ConfigError, DataError
from mdeinterp.selectivity import selectivity_loss, sid_edges

TINY = ["--n-train", "8", "--n-test", "4", "--height", "64", "--width", "64", "--batch-size", "4", "--device", "cpu",
        "--max-steps", "1", "--epochs", "1", "--quiet"]


def cli_error(argv, capsys) -> str:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_more_bins_than_units_cli_and_api(capsys, tmp_path):
    (tmp_path / "data").mkdir()
    line = cli_error(["train", "--alpha", "0.1", "--layers", "D,MFF", "--num-bins", "64", "--data", str(tmp_path / "data"),
                      "--out", str(tmp_path / "runs"), *TINY], capsys)
    assert "more bins (64) than units (32)" in line
    with pytest.raises(ValueError, match=r"more bins \(64\) than units \(32\)"):
        selectivity_loss(torch.rand(1, 32, 4, 4), torch.rand(1, 1, 8, 8) + 1, sid_edges(64, 0.75, 10.0))


def test_checkpoint_of_another_architecture_cli(capsys, tmp_path):
    path = tmp_path / "bts.pt"
    torch.save(create_model("bts_tiny").state_dict(), path)
    line = cli_error(["eval", "--checkpoint", str(path), "--preset", "tiny", "--data", str(tmp_path)], capsys)
    assert "bts.pt" in line and "missing" in line
    with pytest.raises(CheckpointError, match="missing"):
        from mdeinterp.models import load_checkpoint

        load_checkpoint(path, create_model("mff_tiny"))


def test_hdf5_with_other_dataset_names_cli(capsys, tmp_path):
    path = tmp_path / "scenes.h5"
    with h5py.File(path, "w") as fh:
        fh["images"] = torch.zeros(2, 4, 4, 3).numpy()
    line = cli_error(["train", "--data", str(path), "--out", str(tmp_path / "runs"), *TINY], capsys)
    assert "scenes.h5 is not a synthetic cache" in line


def test_bad_config_values_through_the_api():
    with pytest.raises(ConfigError, match="batch_size must be a positive integer, got 0"):
        build_config("tiny", batch_size=0)
    with pytest.raises(ConfigError, match="alpha must be a number, got 'abc'"):
        build_config("tiny", alpha="abc")
    with pytest.raises(ConfigError, match="unknown preset 'tinyy'"):
        build_config("tinyy")
    with pytest.raises(ConfigError, match="alpha must be >= 0"):  # would train against selectivity, labelled
        build_config("tiny", alpha=-0.1)                          # "interpretable" (issue 28)
    with pytest.raises(DataError, match="does not exist"):  # the format "auto" is resolved by the data registry
        resolve_format(build_config("tiny", data="/nonexistent/folder").data)


def test_dissection_is_deterministic():
    torch.manual_seed(0)
    model = create_model("mff_tiny")
    g = torch.Generator().manual_seed(3)
    data = [{"image": torch.randn(3, 64, 64, generator=g), "depth": torch.rand(1, 64, 64, generator=g) * 9 + 0.8}
            for _ in range(6)]
    first = dissection.dissect(model, data, ["D", "R.conv0"], batch_size=4, progress=False, d_min=0.75, d_max=10.0)
    second = dissection.dissect(model, data, ["D", "R.conv0"], batch_size=3, progress=False, d_min=0.75, d_max=10.0)
    for layer in ("D", "R.conv0"):
        torch.testing.assert_close(first[layer].sums, second[layer].sums, rtol=1e-12, atol=1e-12)
        assert torch.equal(first[layer].counts, second[layer].counts)


@pytest.mark.slow
def test_notebook_with_bad_parameter_stops_at_first_cell_with_clear_message(tmp_path):
    from mdeinterp.reproduce import run_notebook

    params = {"FIGURES": str(tmp_path), "SCALE": "quick", "RUNS": str(tmp_path / "runs"), "DEVICE": "cpu",
              "DATA": None, "PRESET": "nope"}
    with pytest.raises(RuntimeError) as error:
        run_notebook("00_data", params, tmp_path)
    message = str(error.value)
    assert "\n" not in message and "00_data" in message and "unknown preset 'nope'" in message
    assert "ConfigError" in message
    assert not list(tmp_path.glob("fig_*"))  # nothing half-written


def _bad_data_files(folder):
    """Return {case: (path, expected message fragment)} of broken data files in every supported format."""
    import numpy as np
    from PIL import Image

    from mdeinterp.data.synthetic import write_synthetic

    cases = {}
    (folder / "empty.h5").write_bytes(b"")
    cases["empty hdf5"] = (folder / "empty.h5", "empty.h5 cannot be read as HDF5 (empty or truncated file?)")
    good = write_synthetic("indoor", 2, 0, folder / "good.h5", 32, 32, progress=False)
    truncated = folder / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["truncated hdf5"] = (truncated, "truncated.h5 cannot be read as HDF5")
    invalid = write_synthetic("indoor", 2, 0, folder / "invalid.h5", 32, 32, progress=False)
    with h5py.File(invalid, "r+") as fh:
        fh["depth"][...] = 0.0
    cases["all-invalid depth"] = (invalid, "invalid.h5")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "rgb.png")
    Image.fromarray(np.full((32, 32), 2000, np.uint16)).save(folder / "small_depth.png")
    for name, rows, message in [
        ("missing column", "rgb.png\n", "missing_column.csv row 1: expected 2 columns"),
        ("missing image", "nope.png,small_depth.png\n", "missing_image.csv row 1: image 'nope.png' not found"),
        ("size mismatch", "rgb.png,small_depth.png\n", "size_mismatch.csv row 1: image is 64x64 but depth is 32x32"),
    ]:
        path = folder / (name.replace(" ", "_") + ".csv")
        path.write_text(rows)
        cases[name] = (path, message)
    return cases


@pytest.mark.parametrize("case", ["empty hdf5", "truncated hdf5", "all-invalid depth", "missing column",
                                  "missing image", "size mismatch"])
def test_bad_data_through_cli_and_api(case, capsys, tmp_path):
    from mdeinterp.data import make_dataset

    path, message = _bad_data_files(tmp_path)[case]
    line = cli_error(["train", "--data", str(path), "--out", str(tmp_path / "runs"), *TINY], capsys)
    assert message in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("checkpoint.pt"))
    with pytest.raises(DataError, match=message.split(" (")[0].replace("(", r"\(").replace("?", r"\?")):
        dataset = make_dataset(build_config("tiny", data=str(path), height=64, width=64).data, "train", progress=False)
        dataset[0]


def test_interrupted_grid_resumes_and_reuses_finished_runs(tmp_path):
    """What a restarted `make reproduce` does: finished runs untouched, an interrupted one resumed."""
    import json
    import os

    from mdeinterp import grid

    (tmp_path / "data").mkdir()
    specs = [grid.RunSpec(name, "tiny", {"data": str(tmp_path / "data"), "n_train": 8, "n_test": 4,
                                                "height": 64, "width": 64, "batch_size": 4, "epochs": 2,
                                                "max_steps": 4, "alpha": alpha, "device": "cpu"}, ("main",))
             for name, alpha in (("a", 0.0), ("b", 0.1))]
    first = grid.run_all(specs, out=tmp_path / "runs", progress=False, workers=1)
    done = {name: (tmp_path / "runs" / name / "done") for name in ("a", "b")}
    stamps = {name: os.stat(path).st_mtime_ns for name, path in done.items()}
    final_b = json.loads(done["b"].read_text())
    # simulate an interruption of run b after its last checkpoint: the marker is gone, the checkpoint stays
    done["b"].unlink()
    second = grid.run_all(specs, out=tmp_path / "runs", progress=False, workers=1)
    assert list(second["run_dir"]) == list(first["run_dir"])
    assert os.stat(done["a"]).st_mtime_ns == stamps["a"]  # reused, not retrained
    assert json.loads(done["b"].read_text())["d1"] == final_b["d1"]  # resumed to the same result


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda_through_the_api(tmp_path):
    from mdeinterp.train import resolve_device, train

    with pytest.raises(ConfigError, match="device 'cuda:1' requested but CUDA is not available"):
        resolve_device("cuda:1")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="device 'cuda' requested but CUDA is not available"):
        train(build_config("tiny", device="cuda", data=str(tmp_path)), out=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_garg_crop_follows_the_data_format():
    assert build_config("paper_bts_kitti").data.garg_crop
    assert not build_config("tiny").data.garg_crop and not build_config("paper_mff_resnet50").data.garg_crop
