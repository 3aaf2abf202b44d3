"""The run grid as data (plan, select, settings, run_all, run_dirs) and runs named by role (Study)."""

import pandas as pd
import pytest

from mdeinterp import grid
from mdeinterp.config import TrainConfig
from mdeinterp.errors import ConfigError, DataError


@pytest.mark.parametrize("scale", ["full", "quick"])
def test_plan_names_unique_and_every_spec_builds_a_config(scale):
    specs = grid.plan(scale)
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    for spec in specs:
        assert isinstance(spec.config(), TrainConfig)

def test_full_plan_structure():
    specs = grid.plan("full")
    configs = {s.name: s.config() for s in specs}
    main = grid.select(specs, "main")
    assert [s.name for s in main] == ["base_s0", "interp_s0", "base_s1", "interp_s1", "base_s2", "interp_s2"]
    assert configs["interp_s1"].alpha == 0.1 and configs["interp_s1"].layers == ("D", "MFF")
    assert configs["base_s2"].alpha == 0.0 and configs["base_s2"].seed == 2
    # D and MFF are assigned together in the main runs; the refinement layers one at a time
    assert {configs[f"layer_{l}_s0"].layers for l in ("R.conv0", "R.conv1")} == {("R.conv0",), ("R.conv1",)}
    assert "layer_D_s0" not in configs
    assert configs["bts_interp_s0"].model.arch == "bts_tiny"
    assert configs["bts_interp_s0"].layers == ("decoder.upconv2", "decoder.iconv2")
    assert configs["outdoor_interp_s0"].data.kind == "outdoor"
    # outdoor as in the paper: BTS on the BTS layers, its output bounded at the data's 80 m
    assert configs["outdoor_interp_s0"].model.arch == "bts_tiny" and configs["outdoor_interp_s0"].model.max_depth == 80
    assert configs["outdoor_interp_s0"].layers == ("decoder.upconv2", "decoder.iconv2")
    # K = 32 for every layer: R.conv0/R.conv1 (64 units) get 2 units per bin
    assert configs["interp_s0"].num_bins == 32 and configs["layer_R.conv0_s0"].num_bins == 32
    # epochs x n_train // batch: 12 x 500 (MFF, at 48x64), 4 x 500 (BTS), 4 x 300 (outdoor), 5 x 500 (CSPN), 2 x 500 (sweeps)
    steps = {s.name: s.steps() for s in specs}
    assert (steps["base_s0"], steps["layer_R.conv1_s0"], steps["bts_base_s0"], steps["outdoor_interp_s0"],
            steps["completion_interp_s0"], steps["sweep_a0.3_s0"]) == (6000, 6000, 2000, 1200, 2500, 1000)
    assert (configs["base_s0"].data.height, configs["base_s0"].data.width) == (48, 64)
    assert (configs["bts_base_s0"].data.height, configs["bts_base_s0"].data.width) == (64, 96)
    assert {s.name: s.steps() for s in grid.plan("quick")}["base_s0"] == 4  # max_steps cuts the quick runs
    assert configs["completion_interp_s0"].layers == ("layer3", "layer4") and configs["completion_base_s0"].alpha == 0
    # the sweeps: every point its own 1,000-step run at full scale, alpha = 0 and 0.1 included (comparable points)
    alpha_sweep = {s.name: s.config() for s in grid.select(specs, "alpha")}
    assert sorted(c.alpha for c in alpha_sweep.values()) == [0.0, 0.03, 0.1, 0.3, 1.0]
    assert all(c.epochs == grid.SWEEP_EPOCHS_FULL and c.seed == 0 for c in alpha_sweep.values())
    assert alpha_sweep["sweep_a0_s0"].alpha == 0 and alpha_sweep["sweep_a1_s0"].layers == ("D", "MFF")
    # mff_tiny's D/MFF have 32 units: the K sweep is 8, 16 and the alpha sweep's 0.1 point (K = 32)
    bins_sweep = {s.name: s.config() for s in grid.select(specs, "bins")}
    assert sorted(c.num_bins for c in bins_sweep.values()) == [8, 16, 32]
    assert all(c.alpha == 0.1 and c.epochs == grid.SWEEP_EPOCHS_FULL for c in bins_sweep.values())
    swept = {s.name for s in grid.select(specs, "alpha") + grid.select(specs, "bins")}
    assert not {s.name for s in grid.select(specs, "main")} & swept
    assert len(specs) == 6 + 2 + 2 + 2 + 2 + 7
    assert len(grid.plan("full", sweeps=False)) == 14


def test_quick_and_paper_sweeps_share_the_main_runs_points(tmp_path):
    quick = grid.plan("quick")
    assert {s.name for s in grid.select(quick, "alpha")} == {"base_s0", "interp_s0", "sweep_a0.03_s0", "sweep_a0.3_s0",
                                                             "sweep_a1_s0"}
    assert {s.name for s in grid.select(quick, "bins")} == {"base_s0", "interp_s0", "sweep_k8_s0", "sweep_k16_s0"}


def test_plan_overrides_reach_every_run_and_are_checked():
    specs = grid.plan("full", overrides={"num_workers": 3, "probe_images": 16})
    assert all(s.config().num_workers == 3 and s.config().probe_images == 16 for s in specs)
    with pytest.raises(ConfigError, match="no_such_field"):
        grid.plan("full", overrides={"no_such_field": 1})

def test_quick_plan_is_small():
    specs = grid.plan("quick")
    assert len(grid.select(specs, "main")) == 4  # seeds 0 and 1
    for spec in specs:
        config = spec.config()
        steps = min(config.max_steps, config.epochs * max(1, config.data.n_train // config.batch_size))
        assert steps <= 10 and config.data.n_train <= 32 and config.data.n_test <= 16
        assert config.data.height * config.data.width <= 96 * 192

def test_paper_plan_needs_data_and_maps_presets(tmp_path):
    with pytest.raises(ConfigError, match="needs the real data"):
        grid.plan("paper")
    with pytest.raises(ConfigError, match="scale 'tiny' is unknown"):
        grid.plan("tiny")
    csv = tmp_path / "nyu.csv"
    csv.write_text("rgb,depth\n")
    specs = grid.plan("paper", data=str(csv))
    presets = {s.name: s.preset for s in specs}
    assert presets["interp_s0"] == "paper_mff_resnet50" and presets["bts_base_s0"] == "paper_bts_nyu"
    assert "outdoor_base_s0" not in presets  # no KITTI path given
    assert all(s.overrides["data"] == str(csv) for s in specs)
    assert sorted(s.overrides["num_bins"] for s in specs if s.name.startswith("sweep_k")) == [8, 16, 32]

def test_run_all_passes_name_and_built_config(monkeypatch, tmp_path):
    calls = []

    def fake_train(config, out, name, progress, resume=False):
        assert resume  # interrupted reproductions resume
        calls.append((config, out, name))
        return tmp_path / name

    import mdeinterp.train

    monkeypatch.setattr(mdeinterp.train, "train", fake_train)
    specs = grid.plan("quick")[:2]
    table = grid.run_all(specs, out=tmp_path, progress=False, device="cpu", workers=1)
    assert list(table["name"]) == ["base_s0", "interp_s0"]
    assert calls[1][0].alpha == 0.1 and calls[1][0].device == "cpu" and calls[1][2] == "interp_s0"

def test_settings_group_runs():
    groups = grid.settings(grid.plan("full"))
    assert groups["layer:R.conv0"] == ["base_s0", "layer_R.conv0_s0"]
    assert groups["bts"] == ["bts_base_s0", "bts_interp_s0"]
    assert len(groups["main"]) == 6
    table = pd.DataFrame({"name": ["base_s0", "bts_base_s0"], "x": [1, 2]})
    labelled = grid.by_setting(table, groups)
    assert sorted(labelled["setting"]) == sorted(["main", "bts"] + [f"layer:{l}" for l in grid.SINGLE_LAYERS])

def test_run_dirs_names_missing_runs(tmp_path):
    specs = grid.plan("quick")
    (tmp_path / "base_s0").mkdir()
    (tmp_path / "base_s0" / "done").write_text("{}")
    assert grid.run_dirs(specs[:1], tmp_path) == [tmp_path / "base_s0"]
    with pytest.raises(DataError, match=r"runs not finished: .*interp_s0, .*base_s1, .*interp_s1 and 13 more"):
        grid.run_dirs(specs, tmp_path)


def test_run_all_without_bars_prints_one_line_per_run(monkeypatch, tmp_path, capsys):
    import mdeinterp.train

    seen = []
    monkeypatch.setattr(mdeinterp.train, "train",
                        lambda config, out, name, progress, resume=False: seen.append(progress) or tmp_path / name)
    grid.run_all(grid.plan("quick")[:2], out=tmp_path, device="cpu", bars=False, workers=1)
    lines = capsys.readouterr().out.splitlines()
    assert seen == [False, False]
    assert [line.split(":")[0] for line in lines] == ["run base_s0", "run interp_s0"]
    assert lines[1].startswith("run interp_s0: done, ") and lines[1].endswith(" s since started (2/2)")
    (tmp_path / "base_s0").mkdir()
    (tmp_path / "base_s0" / "done").write_text("{}")
    (tmp_path / "base_s0" / "checkpoint.pt").write_bytes(b"")
    table = grid.run_all(grid.plan("quick")[:1], out=tmp_path, device="cpu", bars=False)
    assert capsys.readouterr().out == "run base_s0: reused (finished before) (1/1)\n" and table["reused"].all()


def test_parallel_runs_are_reported_in_plan_order_as_soon_as_their_predecessors_are():
    arrivals = [("c", 3), ("a", 1), ("d", 4), ("b", 2), ("e", 5)]
    yielded, consumed = [], []

    def stream():
        for name, item in arrivals:
            consumed.append(name)
            yield name, item

    for item in grid.in_plan_order(["a", "b", "c", "d", "e"], stream()):
        yielded.append((item, tuple(consumed)))
    # a is reported when it arrives, b..d only once b has, e at once
    assert yielded == [(1, ("c", "a")), (2, ("c", "a", "d", "b")), (3, ("c", "a", "d", "b")),
                       (4, ("c", "a", "d", "b")), (5, ("c", "a", "d", "b", "e"))]


def test_usable_cores_reads_the_affinity_mask_else_the_core_count(monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    assert grid.usable_cores() == 3
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert grid.usable_cores() == 7


def test_run_all_trains_one_run_per_usable_core_by_default(monkeypatch, tmp_path):
    import concurrent.futures

    import mdeinterp.data

    pools = []

    class Pool(concurrent.futures.ThreadPoolExecutor):  # records the worker count; runs in this process
        def __init__(self, workers, mp_context=None):
            pools.append(workers)
            super().__init__(workers)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(mdeinterp.data, "make_dataset", lambda *args, **kwargs: None)
    monkeypatch.setattr(grid, "_train_one", lambda spec, out, device, threads, progress, dissect: (spec.name, False))
    specs = grid.plan("quick")[:3]
    monkeypatch.setattr(grid, "usable_cores", lambda: 2)
    assert list(grid.run_all(specs, out=tmp_path, progress=False, device="cpu")["name"]) == [s.name for s in specs]
    monkeypatch.setattr(grid, "usable_cores", lambda: 8)
    grid.run_all(specs, out=tmp_path, progress=False, device="cpu")  # at most one worker per run
    grid.run_all(specs[:1], out=tmp_path, progress=False, device="cpu")  # one run: no pool
    assert pools == [2, 3]


def test_schedule_puts_the_longest_runs_first_and_run_all_hands_them_out_so(monkeypatch, tmp_path):
    import concurrent.futures

    import mdeinterp.data

    full = grid.plan("full")
    order = [spec.name for spec in grid.schedule(full)]
    # the CSPN pair (2,500 steps at 64 x 96, the costliest per pixel) first, the 1,000-step sweeps last
    assert order[:2] == ["completion_base_s0", "completion_interp_s0"]
    assert order[2:10] == [spec.name for spec in full if spec.config().model.arch == "mff_tiny"][:8]
    assert all(name.startswith("sweep_") for name in order[-7:]) and sorted(order) == sorted(s.name for s in full)
    assert grid.RunSpec("x", "tiny", {"max_steps": 10}).cost() == 10 * 8 * 48 * 64  # MFF: cost 1 per pixel step

    submitted = []

    class Pool(concurrent.futures.ThreadPoolExecutor):  # records the submission order; runs in this process
        def __init__(self, workers, mp_context=None):
            super().__init__(1)

        def submit(self, fn, spec, *args):
            submitted.append(spec.name)
            return super().submit(fn, spec, *args)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(mdeinterp.data, "make_dataset", lambda *args, **kwargs: None)
    monkeypatch.setattr(grid, "_train_one", lambda spec, out, device, threads, progress, dissect: (spec.name, False))
    specs = [spec for spec in full if spec.name in ("sweep_a0_s0", "base_s0", "completion_base_s0")]
    table = grid.run_all(specs, out=tmp_path, progress=False, device="cpu", workers=2)
    assert submitted == ["completion_base_s0", "base_s0", "sweep_a0_s0"]
    assert list(table["name"]) == ["base_s0", "completion_base_s0", "sweep_a0_s0"]  # reported in plan order
