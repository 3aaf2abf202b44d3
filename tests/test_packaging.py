"""The conda environment, pyproject and lock list the same dependencies."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # pip name -> conda-forge name


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject_deps() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["test"]
    return {_name(d) for d in deps}


def test_environment_yml_lists_pyproject_dependencies():
    lines = [l.strip() for l in (ROOT / "environment.yml").read_text().splitlines()]
    conda = {_name(l[2:]) for l in lines if l.startswith("- ") and not l.startswith("- pip") and not l.endswith(":")}
    expected = {CONDA_NAMES.get(n, n) for n in _pyproject_deps()}
    assert expected <= conda, f"missing from environment.yml: {sorted(expected - conda)}"


def test_lock_pins_every_dependency_exactly():
    pins = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        if "==" in line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    missing = {n for n in _pyproject_deps() if n.replace("_", "-") not in pins}
    assert not missing, f"not pinned in requirements-lock.txt: {sorted(missing)}"
    # torchvision only imports with its matching torch release
    torch_minor = int(pins["torch"].split(".")[1])
    assert int(pins["torchvision"].split(".")[1]) == torch_minor + 15
