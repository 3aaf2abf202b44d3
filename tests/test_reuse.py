"""A run folder has one writer, and a folder or cache is reused only when every record of it agrees.

Cases from the adversarial trial (issue 28): concurrent writers, a killed writer, an edited config.json, a done
record ahead of its checkpoint, truncated metrics, a data file rendered anew in place, dissection caches
that outlive their checkpoint or settings, and retraining into a folder with old caches.
"""

import json
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from mdeinterp import Run
from mdeinterp.cli import main
from mdeinterp.config import build_config, to_json
from mdeinterp.errors import ConfigError, RunLockedError, StaleRunError
from mdeinterp.lock import run_lock, writer_of
from mdeinterp.rundir import CHECKPOINT, DONE, check_run_dir, load_training_state, reuse_problems
from mdeinterp.train import resolve_config, train

QUICK = dict(n_train=8, n_test=4, height=64, width=64, batch_size=4, device="cpu", epochs=2, max_steps=4,
             num_workers=0, probe_images=0)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-epoch run on a rendered HDF5 file (its folder is copied by each test that tampers)."""
    root = tmp_path_factory.mktemp("reuse")
    data = root / "scenes.h5"
    assert main(["make-data", "--n", "12", "--out", str(data), "--height", "64", "--width", "64"]) == 0
    config = build_config("tiny", format="auto", path=str(data), **QUICK)
    run_dir = train(config, out=root / "runs", name="base", progress=False)
    return root, resolve_config(config), run_dir


@pytest.fixture
def copy(finished, tmp_path):
    root, config, run_dir = finished
    target = tmp_path / "runs" / "base"
    shutil.copytree(run_dir, target)
    return config, target


def test_a_finished_run_is_reused_when_every_record_agrees(copy):
    config, run_dir = copy
    assert reuse_problems(run_dir, config) == []
    assert check_run_dir(run_dir, config, resume=False) == "done"
    assert json.loads((run_dir / "data.json").read_text())["sha256"]  # the data file's content hash


def test_an_edited_config_json_is_not_reused(copy):
    config, run_dir = copy
    edited = resolve_config(build_config("tiny", format="auto", path=config.data.path, **{**QUICK, "lr": 5e-4}))
    (run_dir / "config.json").write_text(to_json(edited))
    with pytest.raises(StaleRunError, match=r"config.json and the checkpoint's config differ in lr.*--fresh"):
        check_run_dir(run_dir, edited, resume=False)


def test_a_done_record_ahead_of_its_checkpoint_is_not_reused(copy):
    config, run_dir = copy
    done = json.loads((run_dir / DONE).read_text())
    (run_dir / DONE).write_text(json.dumps({**done, "epoch": 120, "step": 999}))
    with pytest.raises(StaleRunError, match=r"done says epoch 120 step 999, the checkpoint epoch 2 step 4"):
        check_run_dir(run_dir, config, resume=False)


@pytest.mark.parametrize("name", ["metrics.csv", "metrics.jsonl"])
def test_truncated_metrics_are_not_reused(copy, name):
    config, run_dir = copy
    lines = (run_dir / name).read_text().splitlines(keepends=True)
    (run_dir / name).write_text("".join(lines[:-1]))  # the last epoch's row lost
    with pytest.raises(StaleRunError, match=rf"{name} holds 1 rows for 2 finished epochs"):
        check_run_dir(run_dir, config, resume=False)


def test_a_data_file_rendered_anew_in_place_is_not_reused(copy, tmp_path):
    config, run_dir = copy
    other = tmp_path / "other.h5"
    assert main(["make-data", "--n", "12", "--seed", "1", "--out", str(other), "--height", "64", "--width", "64"]) == 0
    moved = resolve_config(build_config("tiny", format="auto", path=str(other), **QUICK))
    (run_dir / "config.json").write_text(to_json(moved))  # the same path would be the same file: compare contents
    recorded = json.loads((run_dir / "data.json").read_text())
    (run_dir / "data.json").write_text(json.dumps({**recorded, "path": str(other)}))
    state = load_training_state(run_dir / CHECKPOINT)
    state["config"] = json.loads(to_json(moved))
    torch.save(state, run_dir / CHECKPOINT)
    with pytest.raises(StaleRunError, match=r"its data changed since it trained \(sha256 differ\)"):
        check_run_dir(run_dir, moved, resume=False)


def test_fresh_retrains_a_stale_folder_and_drops_its_caches(copy):
    config, run_dir = copy
    (run_dir / "metrics.csv").write_text("")
    (run_dir / "dissection_train_half0.h5").write_bytes(b"old")
    with pytest.raises(StaleRunError):
        train(config, out=run_dir.parent, name="base", progress=False)
    with pytest.raises(ConfigError, match="choose one"):
        train(config, out=run_dir.parent, name="base", progress=False, fresh=True, resume=True)
    train(config, out=run_dir.parent, name="base", progress=False, fresh=True)
    assert reuse_problems(run_dir, config) == [] and not (run_dir / "dissection_train_half0.h5").exists()


def test_a_second_writer_is_refused_with_the_holder_named(copy):
    config, run_dir = copy
    with run_lock(run_dir):
        assert writer_of(run_dir).startswith("pid ")
        with pytest.raises(RunLockedError, match=r"is being written by pid \d+ on .*, training since .*another --name"):
            train(config, out=run_dir.parent, name="base", progress=False)
        with pytest.raises(RunLockedError, match="being written"):
            Run.from_dir(run_dir).dissection(max_images=2)  # a reader never uses a folder being written
    assert writer_of(run_dir) is None


def test_a_killed_writer_releases_its_lock(copy):
    _, run_dir = copy
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from mdeinterp.lock import run_lock
        with run_lock({str(run_dir)!r}):
            print("holding", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert f"pid {holder.pid}" in writer_of(run_dir)
    finally:
        holder.kill()
        holder.wait()
    assert writer_of(run_dir) is None
    with run_lock(run_dir):  # taken at once: the operating system released the dead holder's lock
        pass


def test_a_reader_waits_for_a_dissecting_process_and_reads_what_it_saved(copy, tmp_path):
    """Two notebooks side by side need one run's dissection: the second waits while the first is dissecting
    (instead of being refused) and then reads the cache the first saved, without computing it again."""
    _, run_dir = copy
    first = Run.from_dir(run_dir).dissection(max_images=2)
    saved = sorted(run_dir.glob("dissection_train_2.h5*"))
    written = {path.name: path.stat().st_mtime_ns for path in saved}
    aside = tmp_path / "aside"
    aside.mkdir()
    for path in saved:
        path.rename(aside / path.name)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, time
        from mdeinterp.lock import run_lock
        with run_lock({str(run_dir)!r}, what="dissecting"):
            print("dissecting", flush=True)
            time.sleep(1.5)
            for name in {[p.name for p in saved]!r}:  # the cache this process "computed"
                os.replace(os.path.join({str(aside)!r}, name), os.path.join({str(run_dir)!r}, name))
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "dissecting"
        start = time.monotonic()
        again = Run.from_dir(run_dir).dissection(max_images=2)
        waited = time.monotonic() - start
    finally:
        holder.wait(timeout=60)
    assert waited > 0.5 and holder.returncode == 0
    torch.testing.assert_close(again["D"].sums, first["D"].sums)
    assert not list(aside.iterdir())  # the holder's files are in place, and were read, not written anew
    assert {path.name: path.stat().st_mtime_ns for path in saved} == written
    assert writer_of(run_dir) is None


def test_a_dissection_cache_is_tied_to_its_checkpoint_and_settings(copy):
    config, run_dir = copy
    first = Run.from_dir(run_dir).dissection(max_images=4)
    stamp = json.loads((run_dir / "dissection_train_4.h5.stamp.json").read_text())
    assert stamp["checkpoint_sha256"] and stamp["max_images"] == 4 and stamp["layers"][:2] == ["D", "MFF"]
    again = Run.from_dir(run_dir).dissection(max_images=4)  # reused: same checkpoint, same settings
    torch.testing.assert_close(again["D"].sums, first["D"].sums)
    state = load_training_state(run_dir / CHECKPOINT)
    state["model"] = {k: v * 0.5 if v.is_floating_point() else v for k, v in state["model"].items()}
    torch.save(state, run_dir / CHECKPOINT)  # new weights, as after training on into the same folder
    with pytest.warns(UserWarning, match=r"computed from another checkpoint or settings \(checkpoint_sha256 differ\)"):
        changed = Run.from_dir(run_dir).dissection(max_images=4)
    assert not torch.equal(changed["D"].sums, first["D"].sums)
