import os

import pytest
import torch

from mdeinterp.errors import MdeinterpError
from mdeinterp.io import KERNEL_ENV, atomic_path, atomic_write_text, ensure_writable_dir, run_metadata


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "result.csv"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]  # no temp file left behind


def test_unwritable_folder_fails_early(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    # root (as in CI) may write anywhere, so the permission answer is simulated
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(MdeinterpError, match=r"output folder .*ro is not writable"):
        ensure_writable_dir(folder)


def test_folder_under_a_file_fails_with_clear_message(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(MdeinterpError, match=r"cannot create output folder .*file/sub"):
        ensure_writable_dir(tmp_path / "file" / "sub")


def test_nearly_full_disk_fails_early(tmp_path):
    with pytest.raises(MdeinterpError, match="MiB free; need at least"):
        ensure_writable_dir(tmp_path, min_free_bytes=2**62)


def test_run_metadata_records_versions():
    meta = run_metadata()
    assert meta["torch"] == torch.__version__
    assert {"python", "numpy", "platform", "git_commit"} <= set(meta)
    # the CPU a run was trained on: CPU kernels can round differently on another one
    assert meta["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and meta["cpu"]


def test_run_metadata_records_the_kernel_choice(monkeypatch):
    # the variables that choose torch's CPU kernels change a run's numbers, so the ones set are recorded
    for name in KERNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    assert run_metadata()["kernel_env"] == {}
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert run_metadata()["kernel_env"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}
