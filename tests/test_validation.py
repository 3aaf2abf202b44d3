"""Every config value is validated where it enters (API, CLI flags, notebook parameters): one line, no traceback."""

import subprocess
import sys

import pytest

from mdeinterp import experiments, grid
from mdeinterp.cli import main
from mdeinterp.config import ModelConfig, build_config
from mdeinterp.errors import ConfigError


@pytest.mark.parametrize("overrides, message", [
    ({"lr": -1e-4}, "lr must be > 0, got -0.0001"),
    ({"lr": 0.0}, "lr must be > 0, got 0.0"),
    ({"weight_decay": -0.1}, "weight_decay must be >= 0, got -0.1"),
    ({"num_bins": 1}, "num_bins must be at least 2"),
    ({"num_bins": 0}, "num_bins must be a positive integer, got 0"),
    ({"alpha": -0.1, "layers": "D"}, "alpha must be >= 0"),
    ({"seed": "0"}, "seed must be an integer, got the string '0'"),
    ({"seed": 1.5}, "seed must be an integer >= 0, got 1.5"),
    ({"num_workers": -1}, "num_workers must be an integer >= 0"),
])
def test_bad_config_values_are_refused_naming_field_and_value(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_config("tiny", **overrides)


def test_pretrained_none_as_the_help_says_means_random_init():
    assert ModelConfig(pretrained="None").pretrained is None
    assert build_config("tiny", pretrained="none").model.pretrained is None


@pytest.mark.parametrize("argv, message", [
    (["train", "--lr", "-1"], "error: lr must be > 0, got -1.0"),
    (["train", "--weight-decay", "-1"], "error: weight_decay must be >= 0, got -1.0"),
    (["train", "--num-bins", "1"], "error: num_bins must be at least 2"),
    (["train", "--alpha", "-0.1", "--layers", "D"], "error: alpha must be >= 0"),
    (["dissect", "--checkpoint", "CK", "--layers", "D", "--out", "x.h5"], "error: checkpoint 'CK' is not a readable torch file"),
])
def test_cli_errors_are_one_line(argv, message, tmp_path, capsys):
    (tmp_path / "ck.pt").write_text("a text file, not a checkpoint")
    argv = [str(tmp_path / "ck.pt") if a == "CK" else a for a in argv]
    message = message.replace("CK", str(tmp_path / "ck.pt"))
    assert main([*argv, "--out" if argv[0] == "train" else "--quiet", str(tmp_path)] if argv[0] == "train"
                else argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_dissect_refuses_zero_bins_and_an_empty_out_instead_of_defaulting(tmp_path, capsys):
    for extra, message in ((["--num-bins", "0", "--out", "x.h5"], "--num-bins must be at least 2, got 0"),
                           (["--out", ""], "--out is empty")):
        code = main(["train", "--n-train", "4", "--n-test", "2", "--height", "64", "--width", "64", "--epochs", "1",
                     "--max-steps", "1", "--quiet", "--out", str(tmp_path / "runs"), "--name", "r",
                     "--data", str(tmp_path), "--threads", "1"]) if not (tmp_path / "runs").exists() else 0
        assert code == 0
        capsys.readouterr()
        assert main(["dissect", "--checkpoint", str(tmp_path / "runs" / "r" / "checkpoint.pt"), "--layers", "D",
                     *extra]) == 2
        assert message.replace("must be at least 2, got 0", "must be at least 2") in capsys.readouterr().err


def test_reproduce_answers_a_bad_flag_with_one_line():
    done = subprocess.run([sys.executable, "-m", "mdeinterp.reproduce", "--bogus"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: unrecognized arguments: --bogus (see python -m mdeinterp.reproduce --help)"]


@pytest.mark.parametrize("given, message", [
    (dict(overrides="abc"), "notebook parameter OVERRIDES='abc' (str); expected a dict of config fields"),
    (dict(figures=7), "notebook parameter FIGURES=7 (int); expected a folder path"),
    (dict(figures=""), "notebook parameter FIGURES='' (str); expected a folder path"),
    (dict(sweeps="no"), "notebook parameter SWEEPS='no' (str); expected True, False or None"),
    (dict(overrides={"sed": 1}), "unknown config field 'sed'"),
])
def test_notebook_parameters_are_checked_against_their_types(given, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        experiments.Study.from_parameters("quick", **given)


def test_the_api_refuses_a_string_for_sweeps():
    with pytest.raises(ConfigError, match="sweeps must be True, False or None"):
        grid.plan("quick", sweeps="no")
