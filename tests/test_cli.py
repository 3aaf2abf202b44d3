"""Command line: one-line errors with exit status 2, --debug tracebacks, and train/eval/make-data round trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import torch

from mdeinterp.cli import format_metrics, main

REPO = Path(__file__).resolve().parents[1]


TINY = ["--n-train", "16", "--n-test", "4", "--height", "64", "--width", "64", "--batch-size", "8", "--device", "cpu"]


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    """Return (exit status, stdout, stderr) of ``main(argv)``, argparse exits included."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--preset", "nope"], "unknown preset 'nope'; valid presets: tiny, tiny_outdoor, tiny_bts"),
        (["train", "--batch-size", "0"], "batch_size must be a positive integer, got 0"),
        (["train", "--alpha", "abc"], "argument --alpha: invalid float value: 'abc'"),
        (["train", "--epochs", "2.5"], "argument --epochs: invalid int value: '2.5'"),
        (["train", "--lr", "nan"], "lr must be a finite number, got nan"),
        (["train", "--model", "mff_tinyy"], "unknown model 'mff_tinyy' (did you mean mff_tiny"),
        (["train", "--alpha", "0.1", "--layers", "D,MF"], "layer 'MF' is not a module of MFFNet; closest names: MFF"),
        (["train", "--data", "/nonexistent/nyu.mat"], "/nonexistent/nyu.mat does not exist"),
        (["eval", "--checkpoint", "/nonexistent/run/checkpoint.pt"], "checkpoint '/nonexistent/run/checkpoint.pt' does not exist"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["train", "--threads", "0"], "--threads must be a positive integer, got 0"),
        # layers are useless without a selectivity weight, and a weight without layers: say what to add
        (["train", "--preset", "tiny", "--layers", "D,NoSuchLayer"], "needs a non-zero selectivity weight to "
         "train them: add --alpha 0.1"),
        (["train", "--alpha", "0.1"], "--alpha 0.1 needs the layers it applies to: add --layers, e.g. --layers D,MFF"),
        (["train", "--height", "7", "--width", "9"], "input size 7x9 is too small for mff_tiny: its encoder's "
         "stride needs at least 32x32 pixels"),
        (["train", "--preset", "tiny_bts", "--height", "31"], "at least 32x32 pixels (--height/--width >= 32)"),
        (["train", "--data-format", "csv", "--data", "/nonexistent"], "unknown data format 'csv'"),
    ],
)
def test_user_errors_are_one_line_with_exit_status_2(argv, fragment, capsys, tmp_path):
    code, _, err = run_main(argv + ["--out", str(tmp_path)] if argv[0] == "train" else argv, capsys)
    assert code == 2
    assert fragment in one_error_line(err)
    assert not any(tmp_path.iterdir())  # a refused run writes nothing


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused(capsys, tmp_path):
    code, _, err = run_main(["train", "--device", "cuda", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert "device 'cuda' requested but CUDA is not available" in one_error_line(err)


def test_entry_point_and_debug_traceback():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    plain = subprocess.run([sys.executable, "-m", "mdeinterp", "train", "--preset", "nope"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2
    assert plain.stderr.strip().startswith("error: unknown preset 'nope'") and "Traceback" not in plain.stderr
    debug = subprocess.run([sys.executable, "-m", "mdeinterp", "--debug", "train", "--preset", "nope"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and "ConfigError: unknown preset 'nope'" in debug.stderr


BUGGY_RUN = """
import sys
import mdeinterp.train


def buggy_train(*args, **kwargs):
    raise ValueError("an internal bug")


mdeinterp.train.train = buggy_train
from mdeinterp.cli import main

sys.exit(main(["train", "--quiet"]))
"""


def test_an_internal_value_error_is_a_bug_shown_with_its_traceback():
    # Only the package's own errors (and file-system errors) are one-line user errors with status 2.
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", BUGGY_RUN], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode not in (0, 2)
    assert "Traceback" in proc.stderr and "ValueError: an internal bug" in proc.stderr
    assert "error: an internal bug" not in proc.stderr


def test_amp_and_channels_last_flags_reach_the_config(monkeypatch, capsys, tmp_path):
    import mdeinterp.train

    seen = []

    def fake_train(config, **kwargs):
        seen.append(config)
        return tmp_path

    monkeypatch.setattr(mdeinterp.train, "train", fake_train)
    assert run_main(["train", "--amp", "--channels-last"], capsys)[0] == 0
    assert run_main(["train"], capsys)[0] == 0
    assert (seen[0].amp, seen[0].channels_last) == (True, True)
    assert (seen[1].amp, seen[1].channels_last) == (False, False)


def test_format_metrics_is_a_markdown_table_in_paper_order():
    table = format_metrics({"rmse": 0.5, "d1": 0.875, "abs_rel": 0.125})
    assert table.splitlines() == ["| d1 | abs_rel | rmse |", "|---:|---:|---:|", "| 0.8750 | 0.1250 | 0.5000 |"]


def test_make_data_train_and_eval_agree(capsys, tmp_path):
    out_file = tmp_path / "scenes.h5"
    code, out, _ = run_main(["make-data", "--n", "3", "--height", "32", "--width", "64", "--out", str(out_file)], capsys)
    assert code == 0 and f"wrote {out_file}" in out
    with h5py.File(out_file) as fh:
        assert fh["rgb"].shape == (3, 32, 64, 3) and fh["depth"].shape == (3, 32, 64)

    data = tmp_path / "data"
    argv = ["train", "--data", str(data), "--max-steps", "1", "--epochs", "1", "--quiet", "--out", str(tmp_path / "runs"), "--name", "r"]
    data.mkdir()
    code, out, err = run_main(argv + TINY, capsys)
    assert code == 0, err
    run_dir = tmp_path / "runs" / "r"
    assert out.splitlines()[0] == f"run: {run_dir}"
    logged = json.loads((run_dir / "done").read_text())

    # eval uses the config stored in the checkpoint: same data, same model, same numbers as train logged
    code, out, err = run_main(["eval", "--checkpoint", str(run_dir / "checkpoint.pt")], capsys)
    assert code == 0, err
    header, _, values = out.strip().splitlines()[-3:]
    printed = dict(zip(header.strip("| ").split(" | "), map(float, values.strip("| ").split(" | "))))
    for key in ("d1", "abs_rel", "rmse"):
        assert printed[key] == pytest.approx(logged[key], abs=5e-5)

    # dissect: K = min(32 units, 64) SID bins from 0.75 m to 10 m, one response per unit and bin
    out_h5 = tmp_path / "dissection.h5"
    code, out, err = run_main(["dissect", "--checkpoint", str(run_dir / "checkpoint.pt"), "--layers", "D",
                               "--max-images", "4", "--out", str(out_h5)], capsys)
    assert code == 0, err
    with h5py.File(out_h5) as fh:
        edges = fh["D"]["edges"][:]
        assert edges.shape == (33,) and edges[1] == pytest.approx(1.2) and edges[-1] == pytest.approx(8.0)
        assert fh["D"]["sums"].shape == (32, 32)

    # a second identical train call reuses the finished run
    code, out, _ = run_main(argv + TINY, capsys)
    assert code == 0 and out.splitlines()[0] == f"run: {run_dir}"
    # the same name with another config is refused, naming the difference
    code, _, err = run_main(argv + TINY + ["--lr", "0.5"], capsys)
    assert code == 2 and "differs in lr" in one_error_line(err)


def test_rerun_reproduces_a_run_bit_for_bit_and_names_what_differs(capsys, tmp_path):
    runs = tmp_path / "runs"
    argv = ["train", "--max-steps", "2", "--epochs", "1", "--alpha", "0.1", "--layers", "D", "--probe-images", "4",
            "--quiet", "--out", str(runs), "--name", "r", "--data", str(tmp_path / "data")]
    (tmp_path / "data").mkdir()
    assert run_main(argv + TINY, capsys)[0] == 0
    code, out, err = run_main(["rerun", str(runs / "r"), "--quiet", "--out", str(tmp_path / "again")], capsys)
    assert code == 0, err
    assert "reproduced bit for bit" in out
    assert (tmp_path / "again" / "r" / "done").is_file()
    # an existing target is refused rather than compared with itself
    code, _, err = run_main(["rerun", str(runs / "r"), "--out", str(runs)], capsys)
    assert code == 2 and "exists" in one_error_line(err)

    # a changed metric and a changed weight are both named; exit status 3
    rows = [json.loads(line) for line in (runs / "r" / "metrics.jsonl").read_text().splitlines()]
    rows[-1]["d1"] += 0.001
    rows[-1]["seconds"] += 5.0  # timings are not results
    (runs / "r" / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    state = torch.load(runs / "r" / "checkpoint.pt", weights_only=True)
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name] = state["model"][name] + 0.5
    torch.save(state, runs / "r" / "checkpoint.pt")
    code, out, _ = run_main(["rerun", str(runs / "r"), "--quiet"], capsys)
    assert code == 3
    assert "differ in 2 places" in out and f"weights.{name}: max |difference| 0.5" in out
    assert "metrics.d1 (epoch 1)" in out and "seconds" not in out
    assert "another machine" not in out  # trained on this machine both times
    # a run recorded on another CPU: the rerun names the machines' difference beside the results'
    meta = json.loads((runs / "r" / "meta.json").read_text())
    (runs / "r" / "meta.json").write_text(json.dumps({**meta, "cpu": "Other CPU", "cpu_capability": "SVE256",
                                                        "kernel_env": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}))
    code, out, _ = run_main(["rerun", str(runs / "r"), "--quiet", "--out", str(tmp_path / "third")], capsys)
    assert code == 3 and "trained on another machine or software (meta.json): cpu: Other CPU vs " in out
    assert f"cpu_capability: SVE256 vs {torch.backends.cpu.get_cpu_capability()}" in out  # a level no x86 CPU has
    assert "kernel_env: {'ONEDNN_MAX_CPU_ISA': 'AVX2'} vs {" in out
    del meta["cpu"]
    (runs / "r" / "meta.json").write_text(json.dumps(meta))
    from mdeinterp.rundir import machine_differences

    assert machine_differences(runs / "r", tmp_path / "third" / "r")[0].startswith("cpu: not recorded vs ")
    # configs are compared field by field, runtime fields (device) aside
    from mdeinterp.rundir import run_differences

    config = json.loads((tmp_path / "again" / "r" / "config.json").read_text())
    config["lr"] *= 2
    config["device"] = "cuda"
    (tmp_path / "again" / "r" / "config.json").write_text(json.dumps(config))
    assert [line for line in run_differences(runs / "r", tmp_path / "again" / "r") if line.startswith("config.")] == [
        "config.lr"]
