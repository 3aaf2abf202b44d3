"""Regenerate every figure, table and claims.json by executing notebooks 00..07 with papermill.

``python -m mdeinterp.reproduce`` (full: figures/, runs/) or ``--quick`` (a few training steps on a few
images: build/quick-figures/, build/quick-runs/). Executed copies, figures shown inline, go to
<figures>/notebooks/ (full: figures/notebooks/, committed) or build/quick-notebooks/ (quick). Re-running
reuses finished runs and cached dissections; figures are replaced atomically, so an interrupted run never
leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .cli import USER_ERRORS, OneLineParser, config_flags
from .io import ROOT, atomic_write_text

NOTEBOOKS = ("00_data", "01_train", "02_selectivity", "03_ablation", "04_layers_models_data",
             "05_error_analysis", "06_sensitivity", "07_your_model")

#: What each notebook reads from the others: 01's trained runs (02, 03, 05 dissect them, sharing each run's
#: cache), 02's result tables (04), every table (06's claims.json; after 07 too, so that claims.md, which both
#: write, ends with 07's section). 00 and 07 read nothing of the others'.
NEEDS = {"00_data": (), "01_train": (), "02_selectivity": ("01_train",), "03_ablation": ("01_train",),
         "04_layers_models_data": ("02_selectivity",), "05_error_analysis": ("01_train",),
         "06_sensitivity": ("00_data", "01_train", "02_selectivity", "03_ablation", "04_layers_models_data",
                            "05_error_analysis", "07_your_model"),
         "07_your_model": ()}

#: Notebooks side by side when ``--jobs`` is not given: the quick run's notebooks are mostly kernel start-up and
#: imports, which overlap well on 2 cores; the full run's training and dissections use every core already.
QUICK_JOBS = 3


def default_jobs(quick: bool) -> int:
    """Return how many notebooks run side by side by default: 1 (full), up to :data:`QUICK_JOBS` (quick)."""
    from .grid import usable_cores

    return min(QUICK_JOBS, usable_cores()) if quick else 1


def schedule(notebooks: Sequence[str], jobs: int, run: Callable[[str], float],
             report: Callable[[str, float], None] = lambda name, seconds: None) -> dict[str, float]:
    """Run ``notebooks`` with up to ``jobs`` at a time, each once all it :data:`NEEDS` among them has finished,
    in the given order otherwise; return name -> seconds in that order. ``report`` is told of each as it ends.

    A failure stops new starts; the notebooks already running finish, then the first failure is raised.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    waiting, running, seconds, failure = list(notebooks), {}, {}, None
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while waiting or running:
            ready = [n for n in waiting if not any(d in notebooks and d not in seconds for d in NEEDS.get(n, ()))]
            while failure is None and ready and len(running) < jobs:
                name = ready.pop(0)
                waiting.remove(name)
                running[pool.submit(run, name)] = name
            if not running:  # nothing can start: a failure, or needs that cannot be met
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                try:
                    seconds[name] = future.result()
                except Exception as error:  # noqa: BLE001 - re-raised below, after the running ones end
                    failure = failure or error
                    continue
                report(name, seconds[name])
    if failure is not None:
        raise failure
    return {name: seconds[name] for name in notebooks if name in seconds}


def parameters(quick: bool, figures: str, device: str, preset: str | None, data: str | None,
               runs: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the papermill parameters of a full or quick reproduction (each notebook gets those it declares).

    ``overrides``: config fields set on every run (the notebooks' ``OVERRIDES``; reproduce's config flags).
    """
    scale = "quick" if quick else ("paper" if data and preset and preset.startswith("paper") else "full")
    params: dict[str, Any] = {
        "FIGURES": notebook_path(figures),
        "SCALE": scale,
        "RUNS": notebook_path(runs or ("build/quick-runs" if quick else "runs")),
        "DEVICE": device,
        "DATA": notebook_path(data) if data else None,
        "PRESET": preset,
        "OVERRIDES": dict(overrides or {}),
    }
    if quick:
        params.update(RANDOM_DRAWS=2)
    return params


def notebook_path(path: str | Path) -> str:
    """Return ``path`` as the notebooks, run in the repository root, see it: relative when inside the root.

    Relative paths keep the committed executed notebooks free of this machine's folders; a path outside
    the root stays absolute.
    """
    absolute = Path(path).resolve()
    return absolute.relative_to(ROOT).as_posix() if absolute.is_relative_to(ROOT) else str(absolute)


def declared_parameters(notebook: str | Path) -> list[str]:
    """Return the names assigned in the cell tagged ``parameters`` of the notebook at ``notebook`` (.ipynb; none without one)."""
    import ast

    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) > 1:
        raise ValueError(f"{notebook} has {len(cells)} cells tagged 'parameters'; expected at most one")
    if not cells:
        return []
    tree = ast.parse(cells[0].source)
    return [target.id for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)]


def notebook_parameters(name: str, params: dict[str, Any], cwd: Path = ROOT) -> dict[str, Any]:
    """Return the entries of the shared ``params`` that notebook ``name`` declares (papermill warns about others)."""
    declared = declared_parameters(cwd / "notebooks" / f"{name}.ipynb")
    return {key: value for key, value in params.items() if key in declared}


def executed_dir(quick: bool, figures: str | Path) -> Path:
    """Return where the executed notebooks go: ``build/quick-notebooks`` (quick) or ``<figures>/notebooks``."""
    return ROOT / "build" / "quick-notebooks" if quick else Path(figures) / "notebooks"


def run_notebook(name: str, params: dict[str, Any], out_dir: Path, cwd: Path = ROOT) -> float:
    """Execute ``notebooks/<name>.ipynb`` into ``out_dir`` with the ``params`` it declares; return the seconds it took.

    Papermill writes its output as the cells run, so it writes into a temporary file beside the executed copy,
    which replaces the previous copy only when the notebook has finished: an interrupted or failed run leaves the
    previous executed copy as it was (a failed run's copy is kept in ``.failed/`` to read).
    Raises RuntimeError with one line naming the notebook and the failing cell's error.
    """
    import papermill

    start = time.perf_counter()
    target = out_dir / f"{name}.ipynb"
    partial = out_dir / ".partial" / f"{name}.ipynb"
    failed = out_dir / ".failed" / f"{name}.ipynb"
    partial.parent.mkdir(exist_ok=True)
    try:
        papermill.execute_notebook(
            str(cwd / "notebooks" / f"{name}.ipynb"), str(partial),
            parameters=notebook_parameters(name, params, cwd),
            kernel_name="python3", cwd=str(cwd), progress_bar=False, log_output=False,
            # the kernel's own start-up warnings (e.g. local TCP transport) are noise in a progress listing
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except papermill.PapermillExecutionError as error:
        failed.parent.mkdir(exist_ok=True)
        os.replace(partial, failed)
        raise RuntimeError(f"notebook {name} failed in cell {error.exec_count}: {error.ename}: {error.evalue} "
                           f"(the previous executed copy is kept; this run's is {failed})") from None
    seconds = time.perf_counter() - start
    _relative_papermill_paths(partial, cwd, target)
    os.replace(partial, target)
    return seconds


def _relative_papermill_paths(executed: Path, root: Path, final: Path | None = None) -> None:
    """Rewrite the input and output paths papermill records in ``executed`` relative to ``root`` (when inside it).

    ``final``: the path the executed copy will be moved to, recorded as its output path.
    """
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    recorded = nb.metadata.get("papermill", {})
    if final is not None and "output_path" in recorded:
        recorded["output_path"] = str(final)
    for key in ("input_path", "output_path"):
        path = Path(recorded.get(key) or "")
        if path.is_absolute() and path.is_relative_to(root):
            recorded[key] = path.relative_to(root).as_posix()
    atomic_write_text(executed, nbformat.writes(nb))


#: The environment variables that set how many threads a kernel's torch (OpenMP, MKL) starts with.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def kernel_threads(jobs: int) -> Iterator[None]:
    """Share the cores among ``jobs`` notebook kernels side by side: each starts torch with cores // jobs threads
    (at least 1) unless ``OMP_NUM_THREADS`` is set already. Kernels with a thread per core each, side by side,
    spin against each other: on 2 cores, two of them ran notebook 03 several times slower than one alone."""
    from .grid import usable_cores

    if jobs <= 1 or "OMP_NUM_THREADS" in os.environ:
        yield
        return
    threads = str(max(1, usable_cores() // jobs))
    before = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: threads for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def reproduce(quick: bool = False, figures: str | None = None, device: str = "auto", preset: str | None = None,
              data: str | None = None, notebooks: Sequence[str] = NOTEBOOKS, runs: str | None = None,
              overrides: dict[str, Any] | None = None, jobs: int | None = None) -> float:
    """Run ``notebooks``, up to ``jobs`` side by side (default :func:`default_jobs`), each after those it
    :data:`NEEDS`; print one line per notebook with its seconds as it ends; return the wall seconds."""
    figures = figures or ("build/quick-figures" if quick else "figures")
    params = parameters(quick, figures, device, preset, data, runs, overrides)
    figures_dir = ROOT / params["FIGURES"]  # the parameter is relative to the root, where the notebooks run
    out_dir = executed_dir(quick, figures_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    jobs = default_jobs(quick) if jobs is None else jobs
    start = time.perf_counter()
    with kernel_threads(jobs):
        seconds = schedule(notebooks, jobs, lambda name: run_notebook(name, params, out_dir),
                           lambda name, took: print(f"{name:<24} {took:7.1f} s", flush=True))
    total = time.perf_counter() - start
    side = f"; {jobs} side by side, {sum(seconds.values()):.1f} s of notebooks" if jobs > 1 else ""
    print(f"{'total':<24} {total:7.1f} s  (wall{side}; figures in {params['FIGURES']}, executed notebooks in "
          f"{out_dir})", flush=True)
    claims_path = figures_dir / "claims.json"
    if claims_path.exists() and "06_sensitivity" in notebooks:
        # the verdict through the controls (claims.json's state), as the README and the notebooks word it
        held = [f"{c['id']} {c.get('state') or ('holds' if c['holds'] else 'fails')}"
                for c in json.loads(claims_path.read_text())]
        print("claims: " + ", ".join(held), flush=True)
    return total


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = OneLineParser(prog="python -m mdeinterp.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few training steps on a few images (smoke run)")
    parser.add_argument("--figures", default=None, help="output folder (default figures/, quick: build/quick-figures/)")
    parser.add_argument("--runs", default=None, help="run folder (default runs/, quick: build/quick-runs/)")
    parser.add_argument("--device", default="auto", help="training device: auto, cpu, cuda, cuda:N")
    parser.add_argument("--preset", default=None, help="MFF preset of the main runs (e.g. paper_mff_resnet50)")
    parser.add_argument("--data", default=None, help="real data path (with a paper preset: the paper-scale grid)")
    parser.add_argument("--only", default=None, help="comma-separated notebook names to run (default: all, in order)")
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"notebooks run side by side, each after those it reads (default: 1; quick: up to "
                             f"{QUICK_JOBS}, one per core)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    # every config field is a flag here too, generated as for `python -m mdeinterp train` (cli.config_flags)
    group = parser.add_argument_group("config fields set on every run (the notebooks' OVERRIDES parameter)")
    config_names = config_flags(group, skip=("data", "device"))
    args = parser.parse_args(argv)
    overrides = {name: getattr(args, name) for name in config_names if getattr(args, name) is not None}
    notebooks = NOTEBOOKS
    if args.only:
        notebooks = tuple(n for n in NOTEBOOKS if any(n.startswith(x.strip()) for x in args.only.split(",")))
        if not notebooks:
            print(f"error: --only {args.only!r} matches no notebook; expected names from {', '.join(NOTEBOOKS)}",
                  file=sys.stderr)
            return 2
    if args.jobs is not None and args.jobs < 1:
        print(f"error: --jobs must be >= 1, got {args.jobs}", file=sys.stderr)
        return 2
    try:
        reproduce(args.quick, args.figures, args.device, args.preset, args.data, notebooks, args.runs,
                  overrides=overrides, jobs=args.jobs)
    except USER_ERRORS as error:  # a bad --data, --preset or output folder: one line, as the mdeinterp CLI
        if args.debug:
            raise
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
