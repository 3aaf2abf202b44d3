"""Training loop: schedules, data order, exact resumption after SIGKILL, the selectivity term, run reuse, DDP."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from mdeinterp.config import TrainConfig, build_config, to_dict
from mdeinterp.errors import ConfigError
from mdeinterp.inference import evaluate
from mdeinterp.train import CHECKPOINT, EpochOrder, learning_rate, run_name, train

REPO = Path(__file__).resolve().parents[1]




def tiny(data_dir: Path, **overrides) -> TrainConfig:
    """A config that trains mff_tiny for a few seconds: 32 images of 64x64, 4 steps per epoch."""
    settings = dict(
        format="synthetic", path=str(data_dir), n_train=32, n_test=8, height=64, width=64,
        batch_size=8, epochs=3, device="cpu", num_workers=0,
        augment=True,  # the preset trains without; on here so resumption also covers the augmentation RNG
        probe_images=0,  # the preset probes 256 images after every epoch; the probe's own test turns it on
    )
    settings.update(overrides)
    return build_config("tiny", **settings)


def load_state(run_dir: Path) -> dict:
    return torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)


def history_without_time(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in ("seconds", "probe_seconds")} for row in rows]


# ---- pure functions ------------------------------------------------------------------------------------


def test_step_schedule_counts_epochs_from_one_as_the_reference():
    config = build_config("paper_mff_resnet50")  # lr 1e-4 x 0.1^floor(epoch / 5), epochs 1, 2, ...
    # 4 steps per epoch: steps 0..15 are epochs 1..4 (lr), step 16 starts epoch 5 (lr x 0.1), step 36 epoch 10
    lrs = {epoch: learning_rate(config, 4 * (epoch - 1), 4, 1000) for epoch in (1, 4, 5, 9, 10, 15)}
    assert lrs == pytest.approx({1: 1e-4, 4: 1e-4, 5: 1e-5, 9: 1e-5, 10: 1e-6, 15: 1e-7})
    assert learning_rate(config, 15, 4, 1000) == pytest.approx(1e-4)  # last step of epoch 4
    odd = build_config("tiny", lr=1e-3, gamma=0.3, step_size=3, schedule="step")
    assert learning_rate(odd, 7, 4, 100) == pytest.approx(1e-3)  # epoch 2
    assert learning_rate(odd, 8, 4, 100) == pytest.approx(3e-4)  # epoch 3 = step_size


def test_poly_schedule_decays_from_lr_to_end_lr():
    config = build_config("tiny_bts", lr=1e-3, end_lr=1e-4)
    assert learning_rate(config, 0, 4, 10) == pytest.approx(1e-3)
    assert learning_rate(config, 5, 4, 10) == pytest.approx(9e-4 * 0.5**0.9 + 1e-4)
    assert learning_rate(config, 10, 4, 10) == pytest.approx(1e-4)


def test_run_name_is_derived_from_the_config():
    assert re.fullmatch(r"mff_tiny_indoor_a0\.1_D\+MFF_k32_s3_[0-9a-f]{8}",
                        run_name(build_config("tiny", alpha=0.1, layers="D,MFF", seed=3)))
    assert re.fullmatch(r"mff_tiny_indoor_a0\.0_base_k32_s0_[0-9a-f]{8}", run_name(build_config("tiny", seed=0)))
    # every field that changes the run changes the name; where it runs does not
    base = run_name(build_config("tiny", seed=0))
    assert run_name(build_config("tiny", seed=0, lr=2e-3)) != base
    assert run_name(build_config("tiny", seed=0, n_train=100)) != base
    assert run_name(build_config("tiny", seed=0, device="cpu", num_workers=2)) == base


def test_epoch_order_is_fixed_by_seed_and_epoch_and_resumable():
    full = list(EpochOrder(10, 3, seed=1, epoch=2))
    assert len(full) == 9  # 3 whole batches, the 10th index dropped
    assert sorted(full) == sorted(set(full))
    assert full == list(EpochOrder(10, 3, seed=1, epoch=2))
    assert full != list(EpochOrder(10, 3, seed=1, epoch=3))
    assert list(EpochOrder(10, 3, seed=1, epoch=2, start_batch=2)) == full[6:]
    # two processes see disjoint halves of the same permutation, one batch each
    rank0 = list(EpochOrder(10, 3, seed=1, epoch=2, rank=0, world_size=2))
    rank1 = list(EpochOrder(10, 3, seed=1, epoch=2, rank=1, world_size=2))
    assert len(rank0) == len(rank1) == 3 and not set(rank0) & set(rank1)
    assert EpochOrder.batches_per_epoch(32, 8) == 4 and EpochOrder.batches_per_epoch(32, 8, world_size=2) == 2


# ---- evaluate ---------------------------------------------------------------------------------------------


class ConstantDepth(torch.utils.data.Dataset):
    """Two 4x6 samples of depth 2 m with the left column invalid (0)."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> dict:
        depth = torch.full((1, 4, 6), 2.0)
        depth[..., 0] = 0.0
        return {"image": torch.zeros(3, 4, 6), "depth": depth, "focal": 100.0}


class ConstantModel(nn.Module):
    """Predicts ``value`` metres at half resolution (like MFF); records the focal it was given."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.focal = None

    def forward(self, image: torch.Tensor, focal: torch.Tensor | None = None) -> torch.Tensor:
        self.focal = focal
        b, _, h, w = image.shape
        return torch.full((b, 1, h // 2, w // 2), self.value)


def test_evaluate_exact_prediction_is_perfect():
    model = ConstantModel(2.0)
    metrics = evaluate(model, ConstantDepth(), d_max=10.0, batch_size=2)
    assert metrics["d1"] == 1.0 and metrics["abs_rel"] == 0.0 and metrics["rmse"] == 0.0
    assert model.focal.tolist() == [100.0, 100.0]  # forward(image, focal) got the batch's focal lengths


def test_evaluate_pins_a_constant_error():
    # prediction 3 m for truth 2 m: ratio 1.5 -> d1 = 0, d2 (1.5625) = 1; abs_rel 0.5, rmse 1, log10 log10(1.5)
    metrics = evaluate(ConstantModel(3.0), ConstantDepth(), d_max=10.0, batch_size=1)
    assert metrics["d1"] == 0.0 and metrics["d2"] == 1.0
    assert metrics["abs_rel"] == pytest.approx(0.5)
    assert metrics["rmse"] == pytest.approx(1.0)
    assert metrics["log10"] == pytest.approx(math.log10(1.5))


# ---- training runs ----------------------------------------------------------------------------------------

KILLED_RUN = textwrap.dedent(
    """
    import json, os, signal, sys
    import torch
    import mdeinterp.train as T
    from mdeinterp.config import from_dict

    config = from_dict(json.loads(sys.argv[1]))
    out, mode, when, every = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    calls = [0]

    def count_and_maybe_die():
        calls[0] += 1
        if calls[0] == when:
            os.kill(os.getpid(), signal.SIGKILL)

    if mode == "after_checkpoint":  # die right after the when-th checkpoint is complete
        save = T.save_checkpoint
        def patched(*args, **kwargs):
            save(*args, **kwargs)
            count_and_maybe_die()
        T.save_checkpoint = patched
    elif mode == "mid_write":  # die half-way through writing the when-th checkpoint
        torch_save = torch.save
        def patched(obj, path):
            if calls[0] + 1 == when:
                torch_save(obj, path)
                with open(path, "r+b") as fh:
                    fh.truncate(os.path.getsize(path) // 2)
            count_and_maybe_die()
            torch_save(obj, path)
        torch.save = patched
    elif mode == "mid_step":  # die at the start of an optimiser step, with work since the last checkpoint
        lr = T.learning_rate
        def patched(*args):
            count_and_maybe_die()
            return lr(*args)
        T.learning_rate = patched
    T.train(config, out=out, name="run", resume=True, progress=False, ckpt_every_steps=every)
    """
)


def run_until_killed(config, out: Path, mode: str, when: int, every: int) -> int:
    # one thread in every process: bitwise equality needs the same reduction order everywhere
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, json.dumps(to_dict(config)), str(out), mode, str(when), str(every)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr[-2000:]
    return proc.returncode


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path):
    config = tiny(tmp_path / "data", epochs=3, seed=5, probe_images=8)  # the probe resumes too
    assert run_until_killed(config, tmp_path / "ref", "none", when=0, every=0) == 0
    reference = tmp_path / "ref" / "run"

    out = tmp_path / "killed"
    # 12 steps in all. Lose unsaved work (checkpoints every 2 steps, die at the start of step 4) ...
    assert run_until_killed(config, out, "mid_step", when=5, every=2) == -signal.SIGKILL
    # ... die after the 3rd checkpoint of the resumed process (one per step, epoch ends included) ...
    assert run_until_killed(config, out, "after_checkpoint", when=3, every=1) == -signal.SIGKILL
    # ... die half-way through writing a checkpoint: the previous one must still be intact ...
    assert run_until_killed(config, out, "mid_write", when=2, every=1) == -signal.SIGKILL
    assert list((out / "run").glob(".checkpoint.pt.*.tmp"))  # the torn temporary file is left behind
    assert not (out / "run" / "done").exists()
    # ... and finish.
    assert run_until_killed(config, out, "none", when=0, every=1) == 0

    resumed, expected = load_state(out / "run"), load_state(reference)
    assert resumed["step"] == expected["step"] == 12
    assert expected["model"].keys() == resumed["model"].keys()
    for key, tensor in expected["model"].items():
        assert torch.equal(tensor, resumed["model"][key]), key
    assert history_without_time(out / "run") == history_without_time(reference)
    assert len(history_without_time(reference)) == 3


def test_selectivity_term_enters_the_loss_only_when_alpha_is_set(tmp_path, monkeypatch):
    data = tmp_path / "data"
    # One step from the same initial weights on the same batch: the depth loss is identical and
    # the objective differs by exactly alpha * (sum of the layer terms).
    selective = train(tiny(data, epochs=1, max_steps=1, alpha=0.1, layers="D,MFF"), out=tmp_path, progress=False)
    row = json.loads((selective / "metrics.jsonl").read_text())
    assert -1 <= row["sel_D"] <= 1 and -1 <= row["sel_MFF"] <= 1  # DS at the assigned bin can be negative
    assert row["sel_D"] != 0 and row["sel_MFF"] != 0
    assert row["train_loss"] == pytest.approx(row["depth_loss"] - 0.1 * (row["sel_D"] + row["sel_MFF"]), abs=1e-6)

    import mdeinterp.hooks
    import mdeinterp.selectivity

    def forbidden(*args, **kwargs):
        raise AssertionError("the baseline must not compute the selectivity term")

    monkeypatch.setattr(mdeinterp.hooks, "capture", forbidden)
    monkeypatch.setattr(mdeinterp.selectivity, "selectivity_term", forbidden)
    monkeypatch.setattr(mdeinterp.selectivity, "selectivity_terms", forbidden)
    baseline = train(tiny(data, epochs=1, max_steps=1, alpha=0.0), out=tmp_path, progress=False)
    base_row = json.loads((baseline / "metrics.jsonl").read_text())
    assert not any(key.startswith("sel_") for key in base_row)
    assert base_row["depth_loss"] == pytest.approx(row["depth_loss"], rel=1e-6)
    assert base_row["train_loss"] == base_row["depth_loss"]
    assert base_row["step"] == row["step"] == 1
    assert {"d1", "abs_rel", "rmse", "lr", "seconds"} <= base_row.keys()
    csv_header = (baseline / "metrics.csv").read_text().splitlines()[0].split(",")
    assert csv_header[:3] == ["epoch", "step", "lr"]


def test_finished_run_is_reused_and_a_changed_config_is_refused(tmp_path):
    config = tiny(tmp_path / "data", epochs=1, max_steps=2)
    run_dir = train(config, out=tmp_path, progress=False)
    assert run_dir == tmp_path / run_name(config)
    assert json.loads((run_dir / "config.json").read_text()) == json.loads(json.dumps(to_dict(config)))
    assert json.loads((run_dir / "meta.json").read_text())["seed"] == 0
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    assert {"config.json", "meta.json", "checkpoint.pt", "metrics.jsonl", "metrics.csv", "done"} <= before.keys()

    assert train(config, out=tmp_path, progress=False) == run_dir
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before
    # the device is where a run executes, not what it computes: still the same run
    assert train(tiny(tmp_path / "data", epochs=1, max_steps=2, device="auto"), out=tmp_path, progress=False) == run_dir

    # another lr is another run: its default name differs (the name hashes every field that changes a run) ...
    changed = tiny(tmp_path / "data", epochs=1, max_steps=2, lr=0.5)
    assert run_name(changed) != run_dir.name
    # ... and given the same folder by name, it is refused
    with pytest.raises(ConfigError, match=r"different config \(differs in lr\).*another --name"):
        train(changed, out=tmp_path, name=run_dir.name, progress=False)

    (run_dir / "done").unlink()  # an unfinished run is only continued on request
    with pytest.raises(ConfigError, match="unfinished run; pass --resume"):
        train(config, out=tmp_path, progress=False)


DDP_RUN = textwrap.dedent(
    """
    import json, os, sys
    import torch
    import mdeinterp.models
    from mdeinterp.config import from_dict
    from mdeinterp.train import train

    built = []
    create = mdeinterp.models.create_model
    def recording(*args, **kwargs):
        built.append(create(*args, **kwargs))
        return built[-1]
    mdeinterp.models.create_model = recording

    config = from_dict(json.loads(sys.argv[1]))
    train(config, out=sys.argv[2], name="ddp", progress=False)
    torch.save(built[0].state_dict(), os.path.join(sys.argv[2], f"rank{os.environ['RANK']}.pt"))
    """
)


@pytest.mark.slow
def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    config = tiny(tmp_path / "data", epochs=1, max_steps=2, alpha=0.1)
    train(config, out=tmp_path, name="warm", progress=False)  # renders the data cache once
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_RUN)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), json.dumps(to_dict(config)), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    saved = load_state(tmp_path / "ddp")
    assert saved["step"] == 2
    for key, tensor in rank0.items():
        if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue  # BatchNorm statistics are per process (DDP broadcasts rank 0's before each forward)
        assert torch.equal(tensor, rank1[key]), key
        assert torch.equal(tensor, saved["model"][key]), key
    single = load_state(tmp_path / "warm")  # one process, same seed: same start, other batches -> other weights
    assert any(not torch.equal(single["model"][k], rank0[k]) for k in rank0)


def test_model_init_depth_reaches_the_model_and_the_run_config(tmp_path):
    from mdeinterp.config import get_preset, load_config

    assert get_preset("tiny").model.options() == {"pretrained": None, "init_depth": 3.0}
    assert get_preset("tiny_bts").model.options() == {"pretrained": None}
    config = tiny(tmp_path / "data", epochs=1, max_steps=1, init_depth=2.5, lr=1e-12)
    run = train(config, out=tmp_path, progress=False)
    assert load_config(str(run / "config.json")).model.init_depth == 2.5
    # lr 1e-12: one Adam step moves the bias by ~1e-12, so it still holds its initial value
    assert load_state(run)["model"]["R.conv2.bias"].item() == pytest.approx(2.5, abs=1e-6)


def test_unknown_layer_fails_also_for_a_baseline_and_writes_nothing(tmp_path):
    from mdeinterp.errors import LayerNotFoundError

    config = tiny(tmp_path / "data", epochs=1, max_steps=1, alpha=0.0, layers="D,NoSuchLayer")
    with pytest.raises(LayerNotFoundError, match="NoSuchLayer"):
        train(config, out=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()  # refused before rendering


def test_input_smaller_than_the_network_stride_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="input size 7x9 is too small for mff_tiny.*at least 32x32"):
        train(tiny(tmp_path / "data", height=7, width=9), out=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists()


# Tolerances of bf16 autocast against float32 (CPU). At the first step (same initial weights) the
# objective differs only by bf16 rounding in the forward pass: loss within 2 % relative, each layer's
# DS term within 0.02 absolute (DS lies in [-1, 1]; near 0 at initialisation, so relative error means
# little). After one or two optimiser steps (lr 1e-4) the weights differ too: loss within 5 % relative, DS terms
# within 0.05 absolute. channels_last alone is float32: the same numbers up to summation order.
AMP_FIRST_STEP_LOSS_REL, AMP_FIRST_STEP_DS_ABS = 0.02, 0.02
AMP_LATER_LOSS_REL, AMP_LATER_DS_ABS = 0.05, 0.05


def test_amp_and_channels_last_stay_close_to_float32(tmp_path):
    def rows(name: str, **options) -> list[dict]:
        # 8 images of batch 8: one optimiser step per epoch, so every row is one step's objective
        config = tiny(tmp_path / "data", n_train=8, epochs=3, alpha=0.1, layers="D,MFF", augment=False, lr=1e-4,
                      **options)
        return history_without_time(train(config, out=tmp_path, name=name, progress=False))

    fp32, amp, last = rows("fp32"), rows("amp", amp=True, channels_last=True), rows("last", channels_last=True)
    assert json.loads((tmp_path / "amp" / "config.json").read_text())["amp"] is True
    for step, (ref, low) in enumerate(zip(fp32, amp)):
        loss_rel, ds_abs = (AMP_FIRST_STEP_LOSS_REL, AMP_FIRST_STEP_DS_ABS) if step == 0 else (
            AMP_LATER_LOSS_REL, AMP_LATER_DS_ABS)
        assert low["train_loss"] == pytest.approx(ref["train_loss"], rel=loss_rel), step
        assert low["depth_loss"] == pytest.approx(ref["depth_loss"], rel=loss_rel), step
        for layer in ("sel_D", "sel_MFF"):
            assert low[layer] == pytest.approx(ref[layer], abs=ds_abs), (step, layer)
    assert last[0]["train_loss"] == pytest.approx(fp32[0]["train_loss"], rel=1e-5)
    assert last[0]["sel_D"] == pytest.approx(fp32[0]["sel_D"], abs=1e-5)


def test_paper_presets_follow_the_reference_evaluation_and_kitti_defaults():
    from mdeinterp.config import PRESETS

    averaging = {name: preset.metric_averaging for name, preset in PRESETS.items() if name.startswith("paper_")}
    assert set(averaging.values()) == {"image"} and len(averaging) == 5
    assert PRESETS["tiny"].metric_averaging == "pixel"
    kitti = PRESETS["paper_bts_kitti"]
    assert (kitti.batch_size, kitti.epochs) == (16, 20)
    with pytest.raises(ConfigError, match="metric_averaging 'frame'"):
        build_config("tiny", metric_averaging="frame")


def test_plateau_epoch_on_a_synthetic_curve():
    from mdeinterp.train import plateau_epoch

    history = [  # D rises 0.10, 0.05, 0.02, 0.005; MFF has flattened one epoch earlier
        {"epoch": 1, "ds_D": 0.30, "ds_MFF": 0.30},
        {"epoch": 2, "ds_D": 0.40, "ds_MFF": 0.36},
        {"epoch": 3, "ds_D": 0.45, "ds_MFF": 0.365},
        {"epoch": 4, "ds_D": 0.47, "ds_MFF": 0.37},
        {"epoch": 5, "ds_D": 0.475, "ds_MFF": 0.371},
    ]
    assert plateau_epoch(history, ["MFF"]) == 3
    assert plateau_epoch(history, ["D", "MFF"]) == 5
    assert plateau_epoch(history, ["D"], tolerance=0.03) == 4
    assert plateau_epoch(history[:4], ["D"]) is None
    with pytest.raises(ConfigError, match="no probe DS for ds_R.conv0"):
        plateau_epoch(history, ["R.conv0"])


def test_probe_logs_each_studied_layers_ds_and_leaves_training_unchanged(tmp_path):
    import pandas as pd

    from mdeinterp.data import make_dataset
    from mdeinterp.dissection import dissect
    from mdeinterp.run import Run

    data_dir = tmp_path / "data"
    plain = train(tiny(data_dir, epochs=2, alpha=0.1), out=tmp_path, name="plain", progress=False)
    probed = train(tiny(data_dir, epochs=2, alpha=0.1, probe_images=8), out=tmp_path, name="probed", progress=False)
    log = pd.read_csv(probed / "metrics.csv")
    ds = [f"ds_{layer}" for layer in ("D", "MFF", "R.conv0", "R.conv1")]
    assert set(ds + ["probe_seconds", "depth_loss", "sel_D", "sel_MFF"]) <= set(log.columns) and len(log) == 2
    assert "ds_D" not in pd.read_csv(plain / "metrics.csv").columns
    for key, value in load_state(plain)["model"].items():  # probing draws nothing from the training stream
        assert torch.equal(value, load_state(probed)["model"][key]), key
    run = Run.from_dir(probed)
    model, config = run.model(), run.config
    clean = make_dataset(dataclasses.replace(config.data, augment=False), "train", progress=False)
    probe = torch.utils.data.Subset(clean, range(8))  # the probe set: the first 8 training images, unaugmented
    found = dissect(model, probe, ["D", "R.conv0"], num_bins=32, d_min=config.data.d_min, d_max=config.data.d_max,
                    progress=False)
    assert log["ds_D"].iloc[-1] == pytest.approx(float(found["D"].selectivity.nanmean()), abs=1e-6)  # dead: NaN
    assert log["ds_R.conv0"].iloc[-1] == pytest.approx(float(found["R.conv0"].selectivity.nanmean()), abs=1e-6)
    assert found["R.conv0"].num_units == 64 and found["R.conv0"].num_bins == 32  # 2 units per bin


def test_plateau_step_is_the_step_at_the_end_of_the_plateau_epoch():
    from mdeinterp.train import plateau_epoch, plateau_step

    history = [{"epoch": e, "step": 500 * e, "ds_D": ds} for e, ds in enumerate([0.3, 0.4, 0.405, 0.5], start=1)]
    assert plateau_epoch(history, ["D"]) == 3 and plateau_step(history, ["D"]) == 1500
    assert plateau_step(history[:2], ["D"]) is None  # still rising by 0.1 per epoch
