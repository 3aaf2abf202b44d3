"""Issue 20's fifteen faults (F1-F15): each a one-line error (exit 2) on the CLI, a named exception in the API, or a
correct result; plus the SID range said for real data and the NumPy warning gone."""

from __future__ import annotations

import errno
import json
import os
import warnings

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from test_cli import run_main

from mdeinterp import dissection
from mdeinterp.cli import main
from mdeinterp.config import DataConfig, build_config, from_dict, to_dict
from mdeinterp.data.real import MIN_VALID_SHARE, NyuLabeledDataset, mff_csv_dataset
from mdeinterp.data.transforms import split_transform
from mdeinterp.dissection import load_cached_dissection
from mdeinterp.errors import ConfigError, DataError, StaleRunError, StorageError
from mdeinterp.io import atomic_path, atomic_write_text, remove_stale_temporaries
from mdeinterp.rundir import (
    CHECKPOINT,
    DONE,
    check_run_dir,
    read_done,
    read_metrics_csv,
    run_name,
)

QUICK = ["--threads", "1", "--n-train", "8", "--n-test", "4", "--height", "64", "--width", "64", "--batch-size", "4",
         "--device", "cpu", "--epochs", "1", "--max-steps", "2", "--quiet"]


cli = run_main  # (exit status, stdout, stderr) of the CLI, argparse exits included


def error_line(argv: list[str], capsys) -> str:
    code, _, err = cli(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A synthetic scene cache of 8 + 4 images at 64x64 (rendered once for the module)."""
    folder = tmp_path_factory.mktemp("cache")
    code = main(["train", *QUICK, "--data", str(folder), "--out", str(folder / "runs"), "--name", "base"])
    assert code == 0
    return folder


# ---- F1: divergence ----------------------------------------------------------------------------------


def test_f1_a_diverged_run_is_an_error_naming_the_step_and_not_done(cache, tmp_path, capsys):
    argv = ["train", *QUICK, "--max-steps", "4", "--lr", "1e30", "--data", str(cache), "--out", str(tmp_path),
            "--name", "diverged"]
    line = error_line(argv, capsys)
    # the epoch's last step (step 1 of 2 batches) is checked, not only every 25th step
    assert line == "error: loss is nan at step 1 (epoch 1); lower --lr", line
    assert not (tmp_path / "diverged" / DONE).exists()


def test_f1_non_finite_evaluation_is_never_marked_done(tmp_path):
    from mdeinterp.errors import TrainingError
    from mdeinterp.rundir import finish_run_dir

    (tmp_path / CHECKPOINT).write_bytes(b"x")
    row = {"epoch": 1, "step": 4, "train_loss": 0.5, "depth_loss": 0.5, "abs_rel": float("nan"), "d1": 0.2}
    with pytest.raises(TrainingError, match=r"evaluation after step 4 \(epoch 1\) is not finite \(abs_rel=nan\)"):
        finish_run_dir(tmp_path, [row])
    assert not (tmp_path / DONE).exists()
    with pytest.raises(TrainingError, match="training diverged by step 4"):
        finish_run_dir(tmp_path, [{**row, "train_loss": float("inf"), "abs_rel": 0.1}])


# ---- F2: no valid pixel --------------------------------------------------------------------------------


def _nyu(folder, depths: np.ndarray):
    """Write a NYUv2-like .mat of the (N, H, W) ``depths`` and a splits.mat putting all images in both splits."""
    n, h, w = depths.shape
    with h5py.File(folder / "nyu.mat", "w") as fh:
        fh["images"] = np.full((n, 3, w, h), 100, np.uint8)  # (N, 3, W, H) as MATLAB writes it
        fh["depths"] = np.stack([d.T for d in depths]).astype(np.float64)
    with h5py.File(folder / "splits.mat", "w") as fh:
        fh["trainNdxs"] = np.arange(1, n + 1, dtype=np.float64)[None]
        fh["testNdxs"] = np.arange(1, n + 1, dtype=np.float64)[None]
    return folder / "nyu.mat"


@pytest.mark.parametrize("value, what", [(-1.0, "negative"), (2500.0, "millimetres")])
def test_f2_nyu_depths_all_invalid_are_refused_before_the_run_folder(value, what, tmp_path, capsys):
    path = _nyu(tmp_path, np.full((4, 8, 10), value))
    line = error_line(["train", *QUICK, "--data", str(path), "--out", str(tmp_path / "runs")], capsys)
    assert "nyu.mat image 1: no valid depth pixel in (0, 8] m" in line, line  # the tiny preset's 1.2-8 m
    assert not (tmp_path / "runs").exists()


def test_f2_valid_share_warns_below_the_threshold_and_refuses_none(tmp_path):
    depths = np.full((2, 8, 10), 20.0)  # beyond d_max = 10: invalid
    depths[0, 0, 0] = 3.0  # one valid pixel of 80: 1.25% >= MIN_VALID_SHARE
    depths[1] = 0.0
    depths[1, 0, 0] = 3.0
    path = _nyu(tmp_path, depths)
    data = NyuLabeledDataset(path, "train", split_transform(8, 10, "test"), d_max=10.0)
    assert 1 / 80 >= MIN_VALID_SHARE
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(data[0]["depth"][0, 0, 0]) == 3.0
    depths[0, 0, 0] = 0.0
    (tmp_path / "none").mkdir()
    path = _nyu(tmp_path / "none", depths)
    with pytest.raises(DataError, match="nyu.mat image 1: no valid depth pixel"):
        NyuLabeledDataset(path, "train", split_transform(8, 10, "test"), d_max=10.0)[0]
    big = np.full((1, 100, 100), 20.0)
    big[0, 0, 0] = 3.0  # 0.01% valid
    (tmp_path / "sparse").mkdir()
    path = _nyu(tmp_path / "sparse", big)
    with pytest.warns(UserWarning, match=r"nyu.mat image 1: only 0.01% of depth pixels are valid"):
        NyuLabeledDataset(path, "train", split_transform(64, 64, "test"), d_max=10.0)[0]


# ---- F3: a folder of real data -------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["tiny", "paper_mff_resnet50"])
def test_f3_a_folder_holding_real_data_says_pass_the_file(preset, tmp_path, capsys):
    _nyu(tmp_path, np.full((2, 8, 10), 3.0))
    line = error_line(["train", *QUICK, "--preset", preset, "--data", str(tmp_path), "--out", str(tmp_path / "r")],
                      capsys)
    assert "holding real data (nyu.mat, splits.mat); pass the file" in line, line
    assert not list(tmp_path.glob("synthetic_*.h5")) and not (tmp_path / "r").exists()


# ---- F4: depth dtype, bit depth and scale ------------------------------------------------------------------


def _csv_pair(folder, depth_image: Image.Image, name: str):
    Image.fromarray(np.full((8, 10, 3), 90, np.uint8)).save(folder / "rgb.png")
    depth_image.save(folder / name)
    (folder / "list.csv").write_text(f"rgb.png,{name}\n")
    return folder / "list.csv"


def test_f4_float_tiff_in_metres_is_refused_unless_declared(tmp_path):
    metres = np.full((8, 10), 2.5, np.float32)
    path = _csv_pair(tmp_path, Image.fromarray(metres, mode="F"), "depth.tiff")
    with pytest.raises(DataError, match=r"list.csv row 1: depth image .*depth.tiff holds float32 values \(max 2.5\)"):
        mff_csv_dataset(path, split_transform(8, 10, "test"))[0]
    sample = mff_csv_dataset(path, split_transform(8, 10, "test"), depth_scale=1.0)[0]
    assert float(sample["depth"].mean()) == pytest.approx(2.5)


def test_f4_one_bit_png_and_implausible_scales_are_refused(tmp_path, capsys):
    path = _csv_pair(tmp_path, Image.fromarray(np.ones((8, 10), bool)).convert("1"), "mask.png")
    with pytest.raises(DataError, match="mask.png is 1-bit"):
        mff_csv_dataset(path, split_transform(8, 10, "test"))[0]
    line = error_line(["train", *QUICK, "--data", str(path), "--out", str(tmp_path / "runs")], capsys)
    assert "is 1-bit" in line and not (tmp_path / "runs").exists()
    path = _csv_pair(tmp_path, Image.fromarray(np.full((8, 10), 3000, np.uint16)), "depth.png")
    with pytest.raises(DataError, match=r"reaches 3000 m at 1 m per unit, beyond any plausible depth"):
        mff_csv_dataset(path, split_transform(8, 10, "test"), depth_scale=1.0)[0]
    assert float(mff_csv_dataset(path, split_transform(8, 10, "test"))[0]["depth"].mean()) == pytest.approx(3.0)


# ---- F5, F8: done only with its checkpoint; malformed run files --------------------------------------------------


def test_f5_done_without_checkpoint_is_unfinished(tmp_path):
    config = build_config("tiny", n_train=8, n_test=4)
    (tmp_path / "config.json").write_text(json.dumps(to_dict(config)))
    (tmp_path / DONE).write_text(json.dumps({"abs_rel": 0.2}))
    assert read_done(tmp_path) is None and check_run_dir(tmp_path, config, resume=False) == "new"
    (tmp_path / CHECKPOINT).write_bytes(b"x")
    assert read_done(tmp_path) == {"abs_rel": 0.2}
    with pytest.raises(StaleRunError, match="cannot be reused: its checkpoint is unreadable.*--fresh"):
        check_run_dir(tmp_path, config, resume=False)  # a done beside a checkpoint that is no checkpoint


def test_f5_cli_retrains_a_run_whose_checkpoint_was_deleted(cache, capsys):
    run_dir = cache / "runs" / "base"
    (run_dir / CHECKPOINT).unlink()
    code, out, err = cli(["train", *QUICK, "--data", str(cache), "--out", str(cache / "runs"), "--name", "base"], capsys)
    assert code == 0, err
    assert (run_dir / CHECKPOINT).is_file() and read_done(run_dir) is not None


def test_f8_empty_done_and_config_json_folder(tmp_path, capsys):
    config = build_config("tiny", n_train=8, n_test=4)
    (tmp_path / "config.json").write_text(json.dumps(to_dict(config)))
    (tmp_path / CHECKPOINT).write_bytes(b"x")
    (tmp_path / DONE).write_text("")
    assert read_done(tmp_path) is None
    with pytest.raises(ConfigError, match="holds an unfinished run; pass --resume"):
        check_run_dir(tmp_path, config, resume=False)
    (tmp_path / "config.json").unlink()
    (tmp_path / "config.json").mkdir()
    with pytest.raises(ConfigError, match=r"has an unreadable config.json \(Is a directory\)"):
        check_run_dir(tmp_path, config, resume=True)
    line = error_line(["train", *QUICK, "--out", str(tmp_path.parent), "--name", tmp_path.name,
                       "--data", str(tmp_path / "nodata")], capsys)
    assert "does not exist" in line


# ---- F6: validate before writing; K in the default name --------------------------------------------------------


def test_f6_bad_bins_leave_no_folder_and_the_corrected_command_runs(cache, tmp_path, capsys):
    base = ["train", *QUICK, "--data", str(cache), "--out", str(tmp_path), "--name", "r", "--alpha", "0.1",
            "--layers", "D"]
    line = error_line([*base, "--num-bins", "1000"], capsys)
    assert "more bins (1000) than units (32)" in line
    assert not (tmp_path / "r").exists()
    code, _, err = cli([*base, "--num-bins", "16"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["num_bins"] == 16


def test_f6_a_folder_without_checkpoint_does_not_block_another_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(to_dict(build_config("tiny", num_bins=1000))))
    assert check_run_dir(tmp_path, build_config("tiny", num_bins=16), resume=False) == "new"


def test_f6_default_run_name_includes_k():
    assert run_name(build_config("tiny", alpha=0.1, layers="D", num_bins=16, seed=2)).startswith("mff_tiny_indoor_a0.1_D_k16_s2_")
    assert run_name(build_config("tiny", num_bins=8)) != run_name(build_config("tiny", num_bins=16))


# ---- F7, F14: checkpoints and messages ---------------------------------------------------------------------------


def _checkpoint(path, config_dict):
    from mdeinterp import create_model

    torch.save({"model": create_model("mff_tiny").state_dict(), "config": config_dict}, path)
    return path


@pytest.mark.parametrize("change, fragment", [
    (lambda raw: {**raw, "extra": 1}, "unknown field(s) extra"),
    (lambda raw: {k: v for k, v in raw.items() if k != "data"}, "lacks its 'data' section"),
    (lambda raw: {**raw, "batch_size": 0}, "batch_size must be a positive integer, got 0"),
])
@pytest.mark.parametrize("command", ["eval", "dissect"])
def test_f7_f14_a_bad_config_inside_a_checkpoint_names_the_checkpoint(change, fragment, command, tmp_path, capsys):
    path = _checkpoint(tmp_path / "odd.pt", change(to_dict(build_config("tiny"))))
    extra = ["--layers", "D", "--out", str(tmp_path / "d.h5")] if command == "dissect" else []
    line = error_line([command, "--checkpoint", str(path), *extra], capsys)
    assert f"checkpoint {path} has an invalid config" in line and fragment in line, line


def test_f7_from_dict_refuses_unknown_and_missing_sections():
    raw = to_dict(build_config("tiny"))
    assert from_dict(raw) == build_config("tiny")
    with pytest.raises(ConfigError, match=r"unknown field\(s\) data.colour"):
        from_dict({**raw, "data": {**raw["data"], "colour": 1}})
    with pytest.raises(ConfigError, match="lacks its 'model' section"):
        from_dict({k: v for k, v in raw.items() if k != "model"})


def test_f14_checkpoint_folder_and_max_images_zero(cache, tmp_path, capsys):
    run_dir = cache / "runs" / "base"
    line = error_line(["eval", "--checkpoint", str(run_dir)], capsys)
    assert f"--checkpoint {run_dir} is a folder; expected a checkpoint file (it holds {run_dir / CHECKPOINT}" in line
    line = error_line(["dissect", "--checkpoint", str(run_dir / CHECKPOINT), "--layers", "D", "--max-images", "0",
                       "--out", str(tmp_path / "d.h5")], capsys)
    assert "--max-images must be a positive number of images, got 0" in line


def test_f14_empty_metrics_csv_names_the_file(tmp_path):
    (tmp_path / "metrics.csv").write_text("")
    with pytest.raises(DataError, match=r"metrics.csv is empty or not a metrics table"):
        read_metrics_csv(tmp_path / "metrics.csv")


# ---- F9: sizes beyond the machine ---------------------------------------------------------------------------------


def test_f9_huge_sizes_are_one_line_refusals(cache, tmp_path, capsys):
    line = error_line(["make-data", "--n", "100000000", "--out", str(tmp_path / "big.h5")], capsys)
    assert "rendering 100000000 scenes of 48x64 needs about" in line and "of memory" in line
    line = error_line(["train", *QUICK, "--height", "100000", "--width", "100000", "--data", str(cache),
                       "--out", str(tmp_path / "runs")], capsys)
    assert "a training batch of 4 images of 100000x100000 needs about" in line
    assert not (tmp_path / "runs").exists() and not list(tmp_path.glob("*.tmp"))
    line = error_line(["dissect", "--checkpoint", str(cache / "runs" / "base" / CHECKPOINT), "--layers", "D",
                       "--num-bins", "100000000", "--out", str(tmp_path / "d.h5")], capsys)
    assert "--num-bins 100000000 exceeds the 4096 pixels of an image" in line


def test_f9_memory_estimate_refuses_beyond_available(monkeypatch):
    from mdeinterp import io

    monkeypatch.setattr(io, "available_memory", lambda: 2**30)
    with pytest.raises(StorageError, match=r"x needs about 2.0 GiB of memory, but 1.0 GiB is available; lower it"):
        io.check_memory(2 * 2**30, "x", "lower it")
    io.check_memory(2**29, "x")


# ---- F10, F12: full disk and atomic writes ----------------------------------------------------------------------------


def test_f10_a_full_disk_is_one_line_and_leaves_no_temporary(tmp_path, capsys, monkeypatch):
    import mdeinterp.data.synthetic as synthetic

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(synthetic.h5py, "File", full)
    code, _, err = cli(["make-data", "--n", "2", "--height", "8", "--width", "8", "--out", str(tmp_path / "s.h5")],
                       capsys)
    line = err.strip().splitlines()[-1]  # after the rendering bar
    assert code == 2 and "Traceback" not in err and line == f"error: no space left on the device while writing {tmp_path / 's.h5'}; free some space or choose " \
                   "another output folder"
    assert os.listdir(tmp_path) == []


def test_f12_temporaries_are_removed_on_error_and_stale_ones_on_the_next_write(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed by an exception")
    assert os.listdir(tmp_path) == []
    dead = tmp_path / ".checkpoint.pt.999999999.abc123.tmp"  # a pid no process has
    live = tmp_path / f".checkpoint.pt.{os.getpid()}.def456.tmp"  # a writer in progress (this process)
    dead.write_bytes(b"x" * 100)
    live.write_bytes(b"y")
    atomic_write_text(tmp_path / "done", "{}")
    assert sorted(os.listdir(tmp_path)) == sorted(["done", live.name])
    assert remove_stale_temporaries(tmp_path) == []


# ---- F11: encodings and string arrays ---------------------------------------------------------------------------------


def test_f11_non_utf8_list_and_string_depths_name_the_file(tmp_path, capsys):
    path = tmp_path / "list.csv"
    path.write_bytes("rgb.png,d\xe9pth.png\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"list .*list.csv is not UTF-8 text \(byte 0xe9 at offset 9\)"):
        mff_csv_dataset(path, split_transform(8, 10, "test"))
    line = error_line(["train", *QUICK, "--data", str(path), "--out", str(tmp_path / "runs")], capsys)
    assert "list.csv is not UTF-8" in line
    with h5py.File(tmp_path / "nyu.mat", "w") as fh:
        fh["images"] = np.zeros((1, 3, 10, 8), np.uint8)
        fh["depths"] = np.full((1, 10, 8), b"1.5", dtype="S3")
    with pytest.raises(DataError, match=r"nyu.mat: 'depths' holds \|S3 values \(strings\?\)"):
        NyuLabeledDataset(tmp_path / "nyu.mat", "train", split_transform(8, 10, "test"), splits=tmp_path / "x")


# ---- F13: cached dissections repair themselves ------------------------------------------------------------------


def _dissection():
    torch.manual_seed(0)
    from mdeinterp import create_model

    data = [{"image": torch.randn(3, 64, 64), "depth": torch.rand(1, 64, 64) * 6 + 1.5} for _ in range(2)]
    return dissection.dissect(create_model("mff_tiny"), data, ["D"], num_bins=8, d_min=1.2, d_max=8.0, progress=False)


def _corrupt(path, how):
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:300])
        return
    with h5py.File(path, "r+") as fh:
        group = fh["D"]
        if how == "sums shape":
            del group["sums"]
            group["sums"] = np.zeros((32, 5))
        elif how == "nan sums":
            sums = group["sums"][()]
            sums[0, 0] = np.nan
            group["sums"][...] = sums
        elif how == "bad index":
            group.attrs["index"] = "first"


@pytest.mark.parametrize("how, problem", [
    ("truncated", "unreadable"), ("sums shape", "expected sums \\(C, K\\)"), ("nan sums", "sums holds NaN"),
    ("bad index", "unreadable"),
])
def test_f13_a_corrupt_cached_dissection_is_recomputed_with_a_warning(how, problem, tmp_path):
    from mdeinterp.run import _cached

    good = _dissection()
    path = good.save(tmp_path / "dissection_train_half0.h5")
    stamp = {"checkpoint_sha256": "abc"}
    (tmp_path / "dissection_train_half0.h5.stamp.json").write_text(json.dumps(stamp))
    assert load_cached_dissection(path, ["D"]) is not None
    _corrupt(path, how)
    with pytest.warns(UserWarning, match=rf"cached dissection {path} is invalid: .*{problem}.*; recomputing it"):
        (again,) = _cached(tmp_path, [path], ["D"], stamp, lambda: (good,))
    torch.testing.assert_close(again["D"].sums, good["D"].sums)
    torch.testing.assert_close(dissection.Dissection.load(path)["D"].sums, good["D"].sums)  # repaired on disk


# ---- the range said, the warning gone, flags from fields ---------------------------------------------------------------


def test_real_data_with_the_tiny_preset_says_which_range_it_uses(tmp_path, capsys):
    path = _nyu(tmp_path, np.full((4, 8, 10), 3.0))
    code, out, err = cli(["train", *QUICK, "--data", str(path), "--out", str(tmp_path / "runs")], capsys)
    assert code == 0, err
    assert ("depth range (SID bins and evaluation cap): 1.2-8 m (the tiny preset's); nyu_labeled data usually span "
            "0.75-10 m: pass --d-min/--d-max to use that") in out
    code, out, err = cli(["train", *QUICK, "--data", str(path), "--d-min", "0.75", "--d-max", "10",
                          "--out", str(tmp_path / "runs2")], capsys)
    assert code == 0, err
    assert "0.75-10 m (given by --d-min/--d-max)" in out


def test_data_config_carries_the_range_of_its_scenes_or_format():
    assert (DataConfig().d_min, DataConfig().d_max) == (1.2, 8.0)
    assert (DataConfig(kind="outdoor").d_min, DataConfig(kind="outdoor").d_max) == (4.0, 80.0)
    assert (DataConfig(format="kitti_eigen").d_min, DataConfig(format="kitti_eigen").d_max) == (3.0, 80.0)
    assert DataConfig(format="auto", path="x.csv").d_min is None  # decided once the format is known
    assert DataConfig(d_min=0.5, d_max=9.0).d_max == 9.0


def test_png_depth_samples_raise_no_non_writable_numpy_warning(tmp_path):
    path = _csv_pair(tmp_path, Image.fromarray(np.full((8, 10), 2000, np.uint16)), "depth.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sample = mff_csv_dataset(path, split_transform(8, 10, "test"))[0]
    assert float(sample["depth"].mean()) == pytest.approx(2.0)


def test_a_new_train_config_field_becomes_a_flag_without_a_cli_edit(new_config_field, capsys):
    from mdeinterp import cli as cli_module

    with pytest.raises(SystemExit):
        cli_module.build_parser().parse_args(["train", "--help"])
    out, _ = capsys.readouterr()
    assert "--warmup-steps WARMUP_STEPS" in out and "linear warm-up steps" in out
    args = cli_module.build_parser().parse_args(["train", "--warmup-steps", "5", "--lr", "0.01", "--no-augment"])
    assert (args.warmup_steps, args.lr, args.augment) == (5, 0.01, False)
    assert {name for name, _ in cli_module.flag_fields()} >= {"warmup_steps", "lr", "data", "model", "num_bins"}


# ---- F15: API boundaries ------------------------------------------------------------------------------------------


def test_f15_transposed_depth_decreasing_edges_and_tuple_outputs_are_refused():
    from torch import nn

    from mdeinterp.errors import ModelError
    from mdeinterp.selectivity import DepthResponse, response_sums, sid_edges

    features, depth = torch.rand(2, 4, 4, 6), torch.rand(2, 1, 64, 96) * 6 + 1.5
    edges = sid_edges(8, 1.2, 8.0)
    sums, counts = response_sums(features, depth, edges)
    assert float(counts.sum()) == float(((depth > 1.2) & (depth <= 8.0)).sum())
    image = torch.rand(3, 64, 96)
    with pytest.raises(DataError, match=r"depth has shape \(1, 1, 96, 64\) but the image \(1, 3, 64, 96\).*transposed"):
        dissection.dissect(nn.Sequential(nn.Conv2d(3, 4, 3)), [{"image": image, "depth": depth[0].transpose(-1, -2)}], ["0"],
                         num_bins=4, d_min=1.2, d_max=8.0, progress=False)
    with pytest.raises(ValueError, match="edges must be K \\+ 1 increasing depths"):
        DepthResponse.zeros(4, edges.flip(0))

    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    wrapper = nn.Sequential(nn.Identity(), Pair())
    with pytest.raises(ModelError, match=r"layer '1' \(Pair\) returned a tuple, expected a tensor"):
        dissection.dissect(wrapper, [{"image": torch.rand(3, 8, 8), "depth": torch.rand(1, 8, 8) + 2}], ["1"],
                         num_bins=4, d_min=1.2, d_max=8.0, progress=False)


def test_f2_f14_api_dissect_refuses_all_invalid_depth_an_empty_layer_list_and_zero_images():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1))
    invalid = [{"image": torch.rand(3, 8, 8), "depth": torch.full((1, 8, 8), value)} for value in (-1.0, 3000.0)]
    with pytest.raises(DataError, match=r"no pixel of the data has a valid depth in \(0, 8\] m"):
        dissection.dissect(model, invalid, ["0"], num_bins=4, d_min=1.2, d_max=8.0, progress=False)
    valid = [{"image": torch.rand(3, 8, 8), "depth": torch.full((1, 8, 8), 3.0)}]
    with pytest.raises(ConfigError, match="layers is empty"):
        dissection.dissect(model, valid, [], num_bins=4, d_min=1.2, d_max=8.0, progress=False)
    with pytest.raises(ConfigError, match="max_images must be a positive number of images, got 0|max_images must be a positive"):
        dissection.dissect(model, valid, ["0"], num_bins=4, d_min=1.2, d_max=8.0, max_images=0, progress=False)
    found = dissection.dissect(model, valid, ["0"], num_bins=4, d_min=1.2, d_max=8.0, progress=False, warn_empty=False)
    assert float(found["0"].counts.sum()) == 64  # the same call on valid depth counts every pixel
