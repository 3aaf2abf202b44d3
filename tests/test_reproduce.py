"""reproduce: the parameters each notebook gets, and one-line failures."""

import pytest

from mdeinterp.reproduce import NOTEBOOKS, ROOT, declared_parameters, notebook_parameters, notebook_path, parameters


def test_reproduce_parameters_per_scale():
    quick = parameters(True, "build/quick-figures", "cpu", None, None)
    assert quick["SCALE"] == "quick" and quick["RUNS"] == "build/quick-runs" and quick["RANDOM_DRAWS"] == 2
    full = parameters(False, "figures", "auto", None, None)
    assert full["SCALE"] == "full" and full["RUNS"] == "runs" and "DISSECT_IMAGES" not in full
    assert parameters(False, "f", "cuda", "paper_mff_resnet50", "nyu.csv")["SCALE"] == "paper"


def test_notebook_paths_are_relative_inside_the_repository_and_absolute_outside(tmp_path, monkeypatch):
    # papermill runs the notebooks in the repository root: paths inside it are written relative, so the
    # committed executed notebooks name no folder of the machine that made them
    monkeypatch.chdir(ROOT / "notebooks")
    assert notebook_path("../figures") == "figures" and notebook_path(ROOT / "runs") == "runs"
    assert notebook_path(tmp_path / "figs") == str(tmp_path / "figs")

def test_reproduce_reports_failing_notebook_in_one_line(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from mdeinterp.reproduce import run_notebook

    (tmp_path / "notebooks").mkdir()
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("raise ValueError('no such run')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "bad.ipynb")
    with pytest.raises(RuntimeError) as error:
        run_notebook("bad", {}, tmp_path, cwd=tmp_path)
    assert str(error.value) == ("notebook bad failed in cell 2: ValueError: no such run (the previous executed copy "
                                f"is kept; this run's is {tmp_path / '.failed' / 'bad.ipynb'})")


def test_executed_notebook_records_its_paths_relative_to_the_root(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from mdeinterp.reproduce import run_notebook

    (tmp_path / "notebooks").mkdir()
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "ok.ipynb")
    (tmp_path / "out").mkdir()
    run_notebook("ok", {}, tmp_path / "out", cwd=tmp_path)
    recorded = nbformat.read(tmp_path / "out" / "ok.ipynb", as_version=4).metadata["papermill"]
    assert (recorded["input_path"], recorded["output_path"]) == ("notebooks/ok.ipynb", "out/ok.ipynb")
    assert str(tmp_path) not in (tmp_path / "out" / "ok.ipynb").read_text()


def test_each_notebook_gets_only_the_parameters_it_declares(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    (tmp_path / "notebooks").mkdir()
    cell = new_code_cell('FIGURES = "figures"  # a comment\nSCALE, x = "full", 1\nDISSECT_IMAGES = None')
    cell.metadata["tags"] = ["parameters"]
    nbformat.write(new_notebook(cells=[new_code_cell("import os"), cell]), tmp_path / "notebooks" / "nb.ipynb")
    assert declared_parameters(tmp_path / "notebooks" / "nb.ipynb") == ["FIGURES", "DISSECT_IMAGES"]
    shared = parameters(True, "build/quick-figures", "cpu", None, None)
    assert set(notebook_parameters("nb", shared, tmp_path)) == {"FIGURES"}
    # every real notebook declares FIGURES and what it needs of the rest, and no name reproduce does not know
    for name in NOTEBOOKS:
        declared = notebook_parameters(name, {**shared, "EVAL_IMAGES": None, "DISSECT_IMAGES": None, "WORKERS": 1})
        assert "FIGURES" in declared


def test_a_new_config_field_reaches_reproduce_and_the_notebooks_overrides(new_config_field, monkeypatch, capsys):
    """A field added to TrainConfig becomes a reproduce flag and an OVERRIDES entry of every run, with no edit."""
    import pytest

    from mdeinterp import reproduce as reproduce_module

    with pytest.raises(SystemExit):
        reproduce_module.main(["--help"])
    out, _ = capsys.readouterr()
    assert "--warmup-steps WARMUP_STEPS" in out and "linear warm-up steps" in out and "--probe-images" in out
    seen = {}
    monkeypatch.setattr(reproduce_module, "reproduce",
                        lambda *args, **kwargs: seen.update(overrides=kwargs["overrides"]) or 0.0)
    assert reproduce_module.main(["--quick", "--warmup-steps", "5", "--lr", "0.01", "--no-augment"]) == 0
    assert seen["overrides"] == {"warmup_steps": 5, "lr": 0.01, "augment": False}
    params = parameters(True, "build/quick-figures", "cpu", None, None, overrides=seen["overrides"])
    assert params["OVERRIDES"] == {"warmup_steps": 5, "lr": 0.01, "augment": False}
    # the notebooks that plan runs declare OVERRIDES and hand it to Study.from_parameters
    for name in NOTEBOOKS[:7]:
        assert "OVERRIDES" in notebook_parameters(name, params), name


def test_notebooks_run_side_by_side_each_after_what_it_reads():
    """The schedule: no more than ``jobs`` at once, none before the notebooks it reads, results in plan order."""
    import threading
    import time

    from mdeinterp.reproduce import NEEDS, schedule

    lock, events, running, peak = threading.Lock(), [], set(), [0]

    def run(name):
        with lock:
            events.append(("start", name))
            running.add(name)
            peak[0] = max(peak[0], len(running))
        time.sleep(0.05 if name != "01_train" else 0.2)
        with lock:
            running.discard(name)
            events.append(("end", name))
        return 1.0

    seconds = schedule(NOTEBOOKS, 3, run)
    assert list(seconds) == list(NOTEBOOKS) and peak[0] <= 3
    for name, needs in NEEDS.items():
        for need in needs:
            assert events.index(("end", need)) < events.index(("start", name)), (need, name)
    # 00 and 07 read nothing of the others': they start beside 01's training
    assert {n for kind, n in events[:3]} == {"00_data", "01_train", "07_your_model"}
    # one job: one at a time, in the plan's order but for 06, which waits for 07
    events.clear()
    schedule(NOTEBOOKS, 1, run)
    assert [n for kind, n in events if kind == "start"] == [*NOTEBOOKS[:6], "07_your_model", "06_sensitivity"]


def test_a_failing_notebook_stops_new_starts_and_is_raised():
    from mdeinterp.reproduce import schedule

    started = []

    def run(name):
        started.append(name)
        if name == "01_train":
            raise RuntimeError("notebook 01_train failed in cell 3: ...")
        return 1.0

    with pytest.raises(RuntimeError, match="01_train failed"):
        schedule(NOTEBOOKS, 2, run)
    assert not {"02_selectivity", "03_ablation", "06_sensitivity"} & set(started)  # they read 01's runs
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        schedule(NOTEBOOKS, 0, run)


def test_the_closing_line_names_each_claims_verdict_through_its_controls(tmp_path, monkeypatch, capsys):
    import json

    from mdeinterp import reproduce as reproduce_module

    (tmp_path / "claims.json").write_text(json.dumps([{"id": "C1", "holds": True, "state": "marginal"},
                                                      {"id": "C5", "holds": False, "state": "not converged"}]))
    monkeypatch.setattr(reproduce_module, "run_notebook", lambda name, params, out_dir: 0.0)
    reproduce_module.reproduce(True, str(tmp_path), notebooks=("06_sensitivity",), jobs=1)
    assert capsys.readouterr().out.splitlines()[-1] == "claims: C1 marginal, C5 not converged"


def test_kernels_side_by_side_share_the_cores(monkeypatch):
    """Two kernels on 2 cores start torch with one thread each; the environment is restored afterwards, and a
    thread count the user set is kept."""
    import os

    from mdeinterp import grid
    from mdeinterp.reproduce import kernel_threads

    monkeypatch.setattr(grid, "usable_cores", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with kernel_threads(2):
        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in os.environ and "MKL_NUM_THREADS" not in os.environ
    with kernel_threads(1):
        assert "OMP_NUM_THREADS" not in os.environ  # one kernel: torch's own default
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    with kernel_threads(2):
        assert os.environ["OMP_NUM_THREADS"] == "4"
