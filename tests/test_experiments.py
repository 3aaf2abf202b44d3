"""The Study facade: one setup call, folders resolved from the repository root, runs named by role."""

from pathlib import Path

import pytest

from mdeinterp import experiments
from mdeinterp.errors import DataError


def test_folders_resolve_from_the_repository_root_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = experiments.Study.from_parameters("quick", runs="build/quick-runs", figures=tmp_path / "f", device="cpu")
    root = Path(experiments.__file__).resolve().parents[1]
    assert (root / "pyproject.toml").exists() and experiments.ROOT == root
    assert study.runs == root / "build" / "quick-runs" and study.figures == tmp_path / "f"
    assert study.figure("fig_x") == tmp_path / "f" / "fig_x"


def test_runs_are_named_by_role_not_position():
    study = experiments.Study.from_parameters("full", runs="/r", sweeps=True)
    assert study.run("main", method="baseline", seed=0).path == Path("/r/base_s0")
    assert study.run("main", method="interpretable", seed=2).path == Path("/r/interp_s2")
    assert study.run("main", method="interpretable").path == Path("/r/interp_s0")  # the role's first seed
    assert study.run("layers", layers="R.conv1").path == Path("/r/layer_R.conv1_s0")
    run = study.run("main", method="interpretable", seed=1)
    assert Path(run) == Path("/r/interp_s1") and run.config.alpha == 0.1 and run.config.seed == 1
    assert study.run("bts", method="baseline").name == "bts_base_s0"
    assert study.run("alpha", alpha=0.3).name == "sweep_a0.3_s0"
    assert study.run("bins", num_bins=16).name == "sweep_k16_s0"
    assert study.seeds == [0, 1, 2]
    with pytest.raises(DataError, match=r"0 runs of role 'main' match \{'method': 'chance'\}; the role has: base_s0"):
        study.run("main", method="chance")


def test_plan_table_has_one_row_per_run_with_its_labels():
    study = experiments.Study.from_parameters("quick")
    table = study.plan_table()
    assert list(table["name"]) == [s.name for s in study.specs]
    row = table.set_index("name").loc["interp_s1"]
    assert (row["method"], row["seed"], row["alpha"], row["layers"]) == ("interpretable", 1, 0.1, "D+MFF")
    assert "main" in row["roles"]


def test_dirs_need_finished_runs(tmp_path):
    study = experiments.Study.from_parameters("quick", runs=tmp_path)
    (tmp_path / "base_s0").mkdir()
    (tmp_path / "base_s0" / "done").write_text("{}")
    assert study.dirs("main", method="baseline", seed=0) == [tmp_path / "base_s0"]
    with pytest.raises(DataError, match="runs not finished"):
        study.dirs("main")
