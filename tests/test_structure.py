"""Package structure: cheap imports, config as a leaf, registries owning their names, train() on one screen."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from mdeinterp.config import DataConfig, TrainConfig, build_config
from mdeinterp.errors import ConfigError, DataError

PACKAGE = Path(__file__).resolve().parents[1] / "mdeinterp"


def package_imports(path: Path) -> set[str]:
    """Return the package modules a source file imports (relative or ``mdeinterp.``), anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("mdeinterp")):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("mdeinterp"))
    return found


#: The package's layers, bottom first (docs/architecture.md). A module imports only from its own layer or lower
#: ones, function-level (lazy) imports included; a subpackage (``data``, ``models``) counts as one module.
LAYERS = (
    ("core", {"errors", "deprecation", "config", "io", "selectivity", "hooks", "metrics", "losses", "distributed"}),
    ("models and data", {"models", "data"}),
    ("inference", {"inference"}),
    ("objective", {"objective"}),
    ("dissection", {"dissection"}),
    ("interventions", {"interventions"}),
    ("stability and position", {"stability", "position"}),
    ("run directories and training", {"lock", "provenance", "rundir", "train"}),
    ("Run", {"run"}),
    ("many runs", {"table_checks", "verdicts", "results", "claims", "tables", "plots", "grid", "experiments", "explorer"}),
    ("entry points", {"cli", "reproduce", "__main__"}),
)
#: Deprecated modules: old names only, above every layer; no module of the package imports them.
SHIMS = {"analysis", "evaluate", "runs", "unit_ablation"}


def unit_of(module: str) -> str:
    """Return the layered unit of a dotted module name: ``mdeinterp.data.render`` -> ``data``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Return the absolute names of the package modules ``path`` imports anywhere (function bodies included).

    ``from . import hooks`` names ``mdeinterp.hooks``; ``from .data.transforms import as_batch`` names
    ``mdeinterp.data.transforms``.
    """
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("mdeinterp"):
                target = node.module
            else:
                continue
            found.add(target)
            if node.module is None:  # from . import hooks, plots: each name is a module
                found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("mdeinterp"))
    return found


def unit_graph() -> dict[str, set[str]]:
    """Return unit -> the other units it imports, over every source file of the package."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = unit_of(module_name(path))
        targets = {unit_of(m) for m in imported_modules(path)} - {unit, "__init__"}
        graph.setdefault(unit, set()).update(targets)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the import circles of ``graph`` (each as the list of units around it), depth-first."""
    cycles, state = [], {}

    def visit(unit: str, trail: list[str]) -> None:
        state[unit] = "open"
        for target in sorted(graph.get(unit, ())):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, [*trail, target])
        state[unit] = "done"

    for unit in sorted(graph):
        if unit not in state:
            visit(unit, [unit])
    return cycles


def test_import_collection_sees_function_level_and_relative_imports(tmp_path):
    assert "mdeinterp.run" in imported_modules(PACKAGE / "grid.py")  # imported inside run_all
    assert {"mdeinterp.hooks", "mdeinterp.data.transforms"} <= imported_modules(PACKAGE / "dissection.py")
    assert "mdeinterp.errors" in imported_modules(PACKAGE / "data" / "render.py")  # from ..errors
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_between_modules():
    assert import_cycles(unit_graph()) == []


def test_modules_import_only_from_their_own_or_lower_layers():
    layer_of = {unit: index for index, (_, units) in enumerate(LAYERS) for unit in units}
    graph = unit_graph()
    assert set(graph) - {"__init__"} == set(layer_of) | SHIMS, "every module has a layer (docs/architecture.md)"
    upward = sorted(f"{unit} ({LAYERS[layer_of[unit]][0]}) imports {target}"
                    + (" (a deprecated module)" if target in SHIMS else f" ({LAYERS[layer_of[target]][0]})")
                    for unit, targets in graph.items() if unit in layer_of
                    for target in targets if target in SHIMS or layer_of[target] > layer_of[unit])
    assert upward == []


def test_the_architecture_page_draws_every_layer():
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    for name, units in LAYERS:
        assert name in page, name
        for unit in units - {"__main__"}:
            assert f"`{unit}" in page, unit


def test_importing_the_config_loads_neither_torch_nor_h5py():
    code = "import mdeinterp.config, sys; assert 'torch' not in sys.modules and 'h5py' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)
    lazy = "import mdeinterp, sys; mdeinterp.build_config('tiny'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", lazy], check=True, cwd=PACKAGE.parent)


def test_package_exports_resolve_lazily():
    import mdeinterp

    for name in mdeinterp.__all__:
        assert getattr(mdeinterp, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mdeinterp.nope  # noqa: B018


def test_config_and_errors_are_leaves():
    assert package_imports(PACKAGE / "config.py") == {".errors"}
    assert package_imports(PACKAGE / "errors.py") == set()


def test_train_fits_on_one_screen_and_the_objective_lives_in_one_module():
    from mdeinterp import train

    assert len(inspect.getsource(train.train).splitlines()) <= 80
    # the objective's formula, code of the form `... alpha * sum(...)`, is written once; the loop only calls it
    def alpha_times_sum(node: ast.AST) -> bool:
        return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and "alpha" in ast.unparse(node.left)
                and isinstance(node.right, ast.Call) and ast.unparse(node.right.func) == "sum")

    files = sorted(PACKAGE.rglob("*.py"))
    assert [p.name for p in files if any(map(alpha_times_sum, ast.walk(ast.parse(p.read_text()))))] == ["objective.py"]
    code = (PACKAGE / "train.py").read_text()
    assert "selectivity_term" not in code and "sid_edges" not in code


def test_optimizer_names_belong_to_the_optimizer_registry():
    from torch import nn

    from mdeinterp.train import OPTIMIZERS, make_optimizer

    model = nn.Linear(2, 1)
    config = build_config("tiny", optimizer="sgd")  # a config holds values; the registry judges names
    with pytest.raises(ConfigError, match="unknown optimizer 'sgd'.*adam, adamw"):
        make_optimizer(config, model)
    assert set(OPTIMIZERS) == {"adam", "adamw"}
    assert isinstance(make_optimizer(build_config("tiny_bts"), model), OPTIMIZERS["adamw"])


def test_data_formats_belong_to_the_data_registry_which_resolves_auto(tmp_path):
    from mdeinterp.data import DATASET_BUILDERS, make_dataset, resolve_format

    assert set(DATASET_BUILDERS) == {"synthetic", "nyu_labeled", "mff_csv", "kitti_eigen"}
    csv = tmp_path / "train.csv"
    csv.write_text("")
    data = build_config("tiny", data=str(csv)).data
    assert data.format == "auto" and resolve_format(data).format == "mff_csv"
    (tmp_path / "cache").mkdir()  # a folder is a scene cache; one holding train.csv is refused (issue 20, F3)
    assert build_config("tiny", data=str(tmp_path / "cache")).data.format == "auto"
    assert resolve_format(build_config("tiny", data=str(tmp_path / "cache")).data).format == "synthetic"
    with pytest.raises(ConfigError, match="unknown data format 'csv'.*mff_csv"):
        make_dataset(DataConfig(format="csv", path=str(csv)), "train")
    with pytest.raises(ConfigError, match="'auto' needs a data path"):
        resolve_format(DataConfig(format="auto"))
    with pytest.raises(DataError, match="does not exist"):
        resolve_format(DataConfig(format="auto", path=str(tmp_path / "missing.mat")))


def test_studied_layers_are_declared_by_the_models():
    from mdeinterp.models import create_model

    assert create_model("mff_tiny").studied_layers == ("D", "MFF", "R.conv0", "R.conv1")
    assert "decoder.iconv2" in create_model("bts_tiny").studied_layers


def test_amp_and_channels_last_are_serialised_like_other_fields(tmp_path):
    from mdeinterp.config import from_dict, load_config, to_dict, to_json

    config = build_config("tiny", amp=True, channels_last=True)
    assert (config.amp, config.channels_last) == (True, True)
    assert (TrainConfig().amp, TrainConfig().channels_last) == (False, False)  # both off by default
    assert from_dict(to_dict(config)) == config
    (tmp_path / "config.json").write_text(to_json(config))
    assert load_config(str(tmp_path / "config.json")) == config
    with pytest.raises(ConfigError, match="amp must be True or False"):
        build_config("tiny", amp="yes")


def test_notebook_07_uses_nothing_but_the_top_level_package():
    import mdeinterp

    source = (PACKAGE.parent / "notebooks" / "07_your_model.py").read_text()
    tree = ast.parse(source)
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("mdeinterp") for alias in node.names]
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    plain = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {m for m in modules if (m or "").startswith("mdeinterp")} == {"mdeinterp"}
    assert not {name for name in plain if name.startswith("mdeinterp.")}
    assert set(imported) <= set(mdeinterp.__all__), set(imported) - set(mdeinterp.__all__)
    assert {"dissect", "ablation_experiment", "correction_experiment", "depth_ranges", "EmptyBinWarning"} <= set(imported)


@pytest.mark.parametrize("old, new", [
    ("mdeinterp.analysis:dissect", "mdeinterp.dissection.dissect"),
    ("mdeinterp.analysis:ablation_intervention", "mdeinterp.interventions.ablate"),
    ("mdeinterp.analysis:predict_depth", "mdeinterp.inference.predict_depth"),
    ("mdeinterp.evaluate:evaluate", "mdeinterp.inference.evaluate"),
    ("mdeinterp.runs:Position", "mdeinterp.rundir.Progress"),
    ("mdeinterp.runs:load_cached_dissection", "mdeinterp.dissection.load_cached_dissection"),
    ("mdeinterp.unit_ablation:range_groups", "mdeinterp.interventions.range_groups"),
    ("mdeinterp.train:load_training_state", "mdeinterp.rundir.load_training_state"),
    ("mdeinterp.selectivity:selectivity_loss", "mdeinterp.selectivity.selectivity_term"),
    ("mdeinterp:selectivity_losses", "mdeinterp.selectivity.selectivity_terms"),
    ("mdeinterp.claims:interpret_occupancy", "mdeinterp.stability.describe_occupancy"),
    ("mdeinterp.plots:range_accuracy", "mdeinterp.plots.accuracy_by_range"),
])
def test_old_names_resolve_to_their_new_home(old, new):
    import importlib
    import warnings

    module, name = old.split(":")
    home, _, attribute = new.rpartition(".")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(importlib.import_module(module), name)
    assert value is getattr(importlib.import_module(home), attribute)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    quiet = f"{module}.{name}" in importlib.import_module("mdeinterp.deprecation").QUIET  # notebooks 00-06 call it
    assert messages == ([] if quiet else [f"{module}.{name} is deprecated; use {new}"])
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        importlib.import_module(module).nope  # noqa: B018


def test_deprecated_functions_warn_and_delegate(monkeypatch):
    """The two old spellings kept as functions warn like the moved names and hand their arguments to Run."""
    import warnings

    from mdeinterp import evaluate, unit_ablation
    from mdeinterp.run import Run

    calls = []

    class Stub:
        def range_accuracy(self, num_ranges, device):
            calls.append(("range_accuracy", num_ranges, device))
            return "ranges"

        def ablation_by_size(self, layer, **kw):
            calls.append(("ablation_by_size", layer, kw["random_draws"]))
            return "curve"

    monkeypatch.setattr(Run, "of", classmethod(lambda cls, run: Stub()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert evaluate.range_accuracy("r", 2) == "ranges"
        assert unit_ablation.run_ablation_by_size("r", "D", random_draws=5) == "curve"
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == [
        "mdeinterp.evaluate.range_accuracy is deprecated; use mdeinterp.run.Run.range_accuracy",
        "mdeinterp.unit_ablation.run_ablation_by_size is deprecated; use mdeinterp.run.Run.ablation_by_size"]
    assert calls == [("range_accuracy", 2, "cpu"), ("ablation_by_size", "D", 5)]
