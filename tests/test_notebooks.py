"""Notebook sources: each .ipynb agrees with its percent-format .py, is committed without outputs, has a
``parameters`` cell; figure and table helpers the notebooks end their cells with; JupyterLab serves them."""

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import jupytext
import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pandas as pd
import pytest
from lab_server import free_port, start_lab, stop

from mdeinterp import claims, plots, tables
from mdeinterp.reproduce import NOTEBOOKS

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
EXECUTED = FOLDER.parent / "figures" / "notebooks"  # the executed copies make reproduce commits


def cells(nb) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def test_every_notebook_has_its_pair_and_nothing_else_is_unpaired():
    assert sorted(p.stem for p in FOLDER.glob("*.ipynb")) == sorted(NOTEBOOKS)
    assert sorted(p.stem for p in FOLDER.glob("*.py")) == sorted(NOTEBOOKS)
    assert 'formats = "ipynb,py:percent"' in (FOLDER / "jupytext.toml").read_text()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_ipynb_and_py_pair_hold_the_same_cells(name):
    ipynb = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    script = jupytext.read(FOLDER / f"{name}.py")
    assert cells(script) == cells(ipynb), (
        f"notebooks/{name}.py and .ipynb differ: run .venv/bin/jupytext --sync notebooks/{name}.py (or .ipynb)")
    assert script.metadata["kernelspec"] == ipynb.metadata["kernelspec"]
    assert script.metadata["jupytext"]["text_representation"]["format_name"] == "percent"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs_and_a_parameters_cell(name):
    nb = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.outputs for c in code] == [[] for _ in code]
    assert [c.execution_count for c in code] == [None] * len(code)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [1]  # papermill injects its parameters after this cell
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_committed_executed_copy_is_current_and_shows_every_figure(name):
    """figures/notebooks/NAME.ipynb is this source executed: the same cells (papermill's injected parameters
    aside), and every cell that shows a figure holds its image (a copy saved without outputs once slipped in)."""
    executed = nbformat.read(EXECUTED / f"{name}.ipynb", as_version=4)
    source = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    kept = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    assert [c.source for c in kept] == [c.source for c in source.cells], (
        f"figures/notebooks/{name}.ipynb is stale: run .venv/bin/python -m mdeinterp.reproduce --only {name}")
    figure_cells = [c for c in kept if c.cell_type == "code" and "plots.show(" in c.source]
    blank = [c.id for c in figure_cells if not any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert figure_cells and not blank, f"{name}: figure cells without their image: {blank}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_cell_saves_a_figure_without_showing_it(name):
    source = (FOLDER / f"{name}.py").read_text()
    assert "plots.save(" not in source  # plots.show saves and shows; a bare save would print a tuple of paths


GUIDE = "**How to read this.**"


def figures_without_guide(nb) -> list[str]:
    """Return the last line of each figure cell (``plots.show(``) not directly under a markdown reading guide of
    at least 25 words."""
    missing = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "plots.show(" not in cell.source:
            continue
        above = nb.cells[i - 1] if i else None
        guide = above.source.split(GUIDE, 1) if above is not None and above.cell_type == "markdown" else []
        if len(guide) < 2 or len(guide[1].split()) < 25:
            missing.append(cell.source.splitlines()[-1])
    return missing


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_figure_cell_has_a_reading_guide_directly_above_it(name):
    nb = jupytext.read(FOLDER / f"{name}.py")
    assert any("plots.show(" in c.source for c in nb.cells), f"{name} shows no figure"
    assert figures_without_guide(nb) == [], f"notebooks/{name}.py: add a markdown cell starting {GUIDE} above these"


def test_the_guide_check_rejects_a_figure_under_code_or_under_a_short_guide():
    words = " ".join(["word"] * 25)
    source = (f"# %% [markdown]\n# {GUIDE} {words}\n\n# %%\nplots.show(a, 'a')\n\n"
              "# %%\nx = 1\n\n# %%\nplots.show(b, 'b')\n\n"
              f"# %% [markdown]\n# {GUIDE} too short\n\n# %%\nplots.show(c, 'c')\n")
    assert figures_without_guide(jupytext.reads(source, fmt="py:percent")) == ["plots.show(b, 'b')", "plots.show(c, 'c')"]


# ---- plots.show -------------------------------------------------------------------------------------


def small_figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [1, 0])
    return fig


def test_show_outside_a_kernel_saves_png_and_pdf_and_returns_nothing(tmp_path):
    fig = small_figure()
    assert plots.show(fig, tmp_path / "fig_a") is None
    assert (tmp_path / "fig_a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "fig_a.pdf").read_bytes()[:5] == b"%PDF-"
    assert not plt.fignum_exists(fig.number)  # closed: the inline backend will not show it a second time


def test_show_in_a_kernel_displays_the_saved_png_tagged_with_its_name(tmp_path, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(plots, "_in_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    plots.show(small_figure(), tmp_path / "fig_b")
    (image, kwargs), = shown
    assert image.data == (tmp_path / "fig_b.png").read_bytes()
    assert kwargs["metadata"] == {"mdeinterp": {"figure": "fig_b"}}


# ---- tables -------------------------------------------------------------------------------------------


def test_mean_std_merges_pairs_with_three_significant_digits_and_readable_names():
    table = pd.DataFrame({"method": ["baseline", "interpretable"], "layers": ["", "D+MFF"],
                          "d1_mean": [0.81239, 0.8143552], "d1_std": [0.0031314, 0.0],
                          "rmse_mean": [0.74082, np.nan], "rmse_std": [0.0143, 0.0],
                          "DS_D_mean": [0.6089, 12345.0], "DS_D_std": [0.04218, 2.0], "seeds": [3, 1],
                          "unused": [1.0, 2.0]})
    shown = tables.mean_std(table, ["method", "layers", "d1", "rmse", "DS_D", "seeds"], names={"method": "model"})
    assert list(shown.columns) == ["model", "assigned layers", "δ<1.25", "RMSE (m)", "DS D", "seeds"]
    assert shown.to_dict("records") == [
        {"model": "baseline", "assigned layers": "–", "δ<1.25": "0.812 ± 0.003", "RMSE (m)": "0.741 ± 0.014",
         "DS D": "0.609 ± 0.042", "seeds": "3"},
        {"model": "interpretable", "assigned layers": "D+MFF", "δ<1.25": "0.814", "RMSE (m)": "–",
         "DS D": "12345 ± 2", "seeds": "1"},
    ]


def test_mean_std_names_the_available_columns_when_one_is_missing():
    with pytest.raises(KeyError, match="neither in the table.*the table has a_mean, a_std"):
        tables.mean_std(pd.DataFrame({"a_mean": [1.0], "a_std": [0.0]}), ["b"])


def test_display_table_renders_without_the_index_and_the_same_every_time():
    table = tables.display_table(pd.DataFrame({"x_mean": [0.5], "x_std": [0.25]}, index=[7]), ["x"])
    html = table._repr_html_()
    assert "<td>0.500 ± 0.250</td>" in html and ">7<" not in html
    assert html == tables.display_table(pd.DataFrame({"x_mean": [0.5], "x_std": [0.25]}), ["x"])._repr_html_()
    assert [line.strip() for line in repr(table).splitlines()] == ["x", "0.500 ± 0.250"]


def test_table_shows_missing_values_as_a_dash():
    table = tables.Table(pd.DataFrame({"run": ["a", "b"], "alpha": [0.1, np.nan]}))
    assert "<td>–</td>" in table._repr_html_() and repr(table).splitlines()[-1].split() == ["b", "–"]


def test_claims_frame_renders_measured_in_words_margins_threshold_and_holds():
    accuracy = pd.DataFrame([{"method": "baseline", "seed": 0, "d1": 0.8, "abs_rel": 0.2},
                             {"method": "interpretable", "seed": 0, "d1": 0.7, "abs_rel": 0.2}])
    claim = claims.c3_accuracy_kept(accuracy, "bts")
    frame = tables.claims_frame([claim, {**claim.to_dict(), "holds": True, "marginal": True}])
    assert frame.to_dict("records")[0] == {
        "id": "C3 (bts)", "statement": claims.REGISTRY["C3"].statement,
        "measured": "δ1 goes from 0.8 (baseline) to 0.7 (interpretable) and AbsRel from 0.2 to 0.2",
        "margins": "Margins: δ1 vs threshold -0.09, AbsRel vs threshold +0.05.",
        "threshold": "δ1 (interpretable) >= δ1 (baseline) − 0.01; AbsRel (interpretable) <= 1.05 × AbsRel (baseline)",
        "holds": "no"}
    assert list(frame["holds"]) == ["no", "yes (marginal)"]
    assert "<td>C3 (bts)</td>" in tables.claims_table([claim])._repr_html_()


def test_claims_frame_gives_the_controlled_computation_and_the_verdict_beside_the_papers():
    rows = [{"group": g, "kind": k, "draw": 0, "range_lo": float(r), "units": 4, "relative_change":
             (-0.3 if k == "selective" else -0.05) if r == g else 0.0}
            for g in range(4) for k in ("selective", "random") for r in range(4)]
    table = pd.DataFrame(rows)
    clean = table.assign(units=3)
    claim = claims.through_controls(claims.c6_correction(table), {"correction": table, "correction_clean": clean})
    frame = tables.claims_frame([claim])
    assert list(frame.columns)[-2:] == ["controlled", "verdict"]
    assert frame["controlled"].iloc[0] == ("holds (12 of 16 units); margins: error removed vs random units (chance) "
                                           "+0.25")
    assert frame["verdict"].iloc[0] == claim.state == "reproduced"


# ---- JupyterLab -------------------------------------------------------------------------------------


def get_json(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.server
def test_jupyterlab_serves_a_notebook_and_its_py_pair_as_a_notebook(tmp_path):
    """What `make lab` starts (JupyterLab on notebooks/, jupytext's contents manager), headless on localhost."""
    port, token = free_port(), "mdeinterp-test-token"
    server = start_lab(FOLDER, port, token, tmp_path)
    base = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                get_json(f"{base}/status", token)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(0.5)
        notebook = get_json(f"{base}/contents/00_data.ipynb?content=1", token)
        script = get_json(f"{base}/contents/00_data.py?type=notebook&content=1", token)
    finally:
        stop(server)
    committed = nbformat.read(FOLDER / "00_data.ipynb", as_version=4)
    assert notebook["type"] == script["type"] == "notebook"
    assert [c["source"] for c in notebook["content"]["cells"]] == [c.source for c in committed.cells]
    assert [c["source"] for c in script["content"]["cells"]] == [c.source for c in committed.cells]
    assert "parameters" in script["content"]["cells"][1]["metadata"]["tags"]
