"""The executed copies of `make reproduce-quick` (build/quick-notebooks/): every figure a notebook saved is
shown inline exactly once (the saved PNG itself), no other image is shown, and no cell wrote to stderr.

`make test` runs these after `make reproduce-quick` (target check-notebooks). Run alone, the fixture
executes the quick reproduction first when the executed copies are missing or older than their sources.
"""

import base64
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest

from mdeinterp.reproduce import NOTEBOOKS, ROOT, executed_dir

pytestmark = pytest.mark.executed

SOURCES = ROOT / "notebooks"
FIGURES = ROOT / "build" / "quick-figures"  # the Makefile's reproduce-quick folder
EPSILON = 0.05  # s: file times can lag the clock by a tick; notebooks run seconds apart


@pytest.fixture(scope="module")
def executed() -> Path:
    folder = executed_dir(True, FIGURES)
    copies = [folder / f"{name}.ipynb" for name in NOTEBOOKS]
    stale = [c for c in copies if not c.exists() or c.stat().st_mtime < (SOURCES / c.name).stat().st_mtime]
    if stale:
        subprocess.run([sys.executable, "-m", "mdeinterp.reproduce", "--quick", "--figures", str(FIGURES)],
                       cwd=ROOT, check=True)
    return folder


def utc_seconds(stamp: str) -> float:
    moment = datetime.fromisoformat(stamp)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def saved_by(folder: Path) -> dict[str, dict[str, Path]]:
    """Return, per notebook, the figures (PNG) written while it ran. Papermill records each notebook's start and
    end (UTC); a file is assigned to the notebook whose run holds its modification time. Notebooks run side by
    side (reproduce --jobs) overlap: a file written while several ran goes to the one of them that shows it
    inline, else to the first (whose check then fails, naming it)."""
    books = {name: nbformat.read(folder / f"{name}.ipynb", as_version=4) for name in NOTEBOOKS}
    windows = {name: (utc_seconds(nb.metadata.papermill.start_time), utc_seconds(nb.metadata.papermill.end_time))
               for name, nb in books.items()}
    shows = {name: {o.metadata["mdeinterp"]["figure"] for _, o in outputs(nb)
                    if "mdeinterp" in o.get("metadata", {})} for name, nb in books.items()}
    saved: dict[str, dict[str, Path]] = {name: {} for name in NOTEBOOKS}
    for path in FIGURES.glob("*.png"):
        mtime = path.stat().st_mtime
        during = sorted((start, name) for name, (start, end) in windows.items()
                        if start - EPSILON <= mtime <= end + EPSILON)
        if during:
            showing = [name for _, name in during if path.stem in shows[name]]
            saved[(showing or [during[0][1]])[0]][path.stem] = path
    return saved


def outputs(nb):
    return [(cell, output) for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_saved_figure_is_shown_inline_once(executed, name):
    nb = nbformat.read(executed / f"{name}.ipynb", as_version=4)
    saved = saved_by(executed)[name]
    images = [(cell, o) for cell, o in outputs(nb) if "image/png" in o.get("data", {})]
    untagged = [cell.id for cell, o in images if "mdeinterp" not in o.get("metadata", {})]
    assert not untagged, f"{name}: images not shown by plots.show in cells {untagged}"
    shown = [o.metadata["mdeinterp"]["figure"] for _, o in images]
    assert len(images) == len(saved), f"{name}: {len(images)} inline images, {len(saved)} saved: {sorted(saved)}"
    assert sorted(shown) == sorted(saved)
    for (_, output), stem in zip(images, shown):
        assert base64.b64decode(output.data["image/png"]) == saved[stem].read_bytes()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_cell_writes_to_stderr(executed, name):
    nb = nbformat.read(executed / f"{name}.ipynb", as_version=4)
    stderr = [(cell.id, o.text[:300]) for cell, o in outputs(nb) if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"{name}: stderr in cells {stderr}"


def test_every_figure_in_the_folder_was_written_by_this_run(executed):
    assigned = {stem for figures in saved_by(executed).values() for stem in figures}
    stale = sorted(p.name for p in FIGURES.glob("*.png") if p.stem not in assigned)
    assert assigned and not stale, f"figures older than the executed notebooks (make clean, then rerun): {stale}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_cell_shows_paths_or_object_addresses(executed, name):
    """Paths returned by writers and reprs like ``<Styler at 0x…>`` are noise and change between runs."""
    nb = nbformat.read(executed / f"{name}.ipynb", as_version=4)
    noisy = [(cell.id, text[:120]) for cell, o in outputs(nb) if o.output_type == "execute_result"
             for text in [o.data.get("text/plain", "")] if "Path(" in text or " at 0x" in text]
    assert not noisy, f"{name}: {noisy}"
