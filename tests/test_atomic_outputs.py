"""Writes that replace committed outputs are atomic: an executed notebook, a figure's PNG and PDF pair.

A reproduction killed mid-notebook, or a notebook that fails, leaves the previous executed copy as it was.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from mdeinterp import plots  # noqa: E402
from mdeinterp.reproduce import run_notebook  # noqa: E402


def _notebook(folder, name, code):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("X = 1", metadata={"tags": ["parameters"]}), nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (folder / "notebooks").mkdir(exist_ok=True)
    nbformat.write(nb, folder / "notebooks" / f"{name}.ipynb")


@pytest.fixture
def project(tmp_path):
    out = tmp_path / "executed"
    out.mkdir()
    previous = out / "nb.ipynb"
    previous.write_text("the previous executed copy")
    return tmp_path, out, previous


def test_a_killed_reproduction_leaves_the_previous_executed_copy(project):
    root, out, previous = project
    _notebook(root, "nb", "import time\nprint('started', flush=True)\ntime.sleep(120)")
    runner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from pathlib import Path
        from mdeinterp.reproduce import run_notebook
        run_notebook("nb", {{}}, Path({str(out)!r}), cwd=Path({str(root)!r}))
        """)], start_new_session=True)
    partial = out / ".partial" / "nb.ipynb"
    try:
        deadline = time.time() + 90
        while time.time() < deadline and not (partial.exists() and "started" in partial.read_text()):
            time.sleep(0.5)  # papermill rewrites the partial copy as cells run: wait until the slow cell printed
        assert partial.exists(), "the notebook never started"
    finally:
        os.killpg(runner.pid, signal.SIGKILL)  # the runner and its kernel, as a Ctrl-C'd or OOM-killed make would
        runner.wait()
    assert previous.read_text() == "the previous executed copy"


def test_a_failing_notebook_keeps_the_previous_copy_and_shows_its_own(project):
    root, out, previous = project
    _notebook(root, "nb", "raise ValueError('broken cell')")
    with pytest.raises(RuntimeError, match=r"notebook nb failed in cell 2: ValueError: broken cell .*previous executed"):
        run_notebook("nb", {}, out, cwd=root)
    assert previous.read_text() == "the previous executed copy"
    assert "broken cell" in (out / ".failed" / "nb.ipynb").read_text()


def test_a_finished_notebook_replaces_the_copy_and_records_its_final_path(project):
    root, out, previous = project
    _notebook(root, "nb", "print(X + 1)")
    run_notebook("nb", {}, out, cwd=root)
    nb = nbformat.read(previous, as_version=4)
    assert nb.cells[-1].outputs[0]["text"] == "2\n"
    assert nb.metadata.papermill.output_path == "executed/nb.ipynb" and not (out / ".partial" / "nb.ipynb").exists()


def test_a_figure_pair_is_replaced_together_or_not_at_all(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    png, pdf = plots.save(fig, tmp_path / "fig_x")
    before = png.read_bytes(), pdf.read_bytes()
    fig, ax = plt.subplots()
    ax.plot([1, 0])
    original = fig.savefig

    def fail_on_pdf(target, **kw):
        if kw.get("format") == "pdf":
            raise KeyboardInterrupt  # killed after the new PNG was rendered, before the PDF
        return original(target, **kw)

    monkeypatch.setattr(fig, "savefig", fail_on_pdf)
    with pytest.raises(KeyboardInterrupt):
        plots.save(fig, tmp_path / "fig_x")
    assert (png.read_bytes(), pdf.read_bytes()) == before  # the previous pair, both
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig_x.pdf", "fig_x.png"]  # no temporaries left
