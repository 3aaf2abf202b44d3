# mdeinterp — every target bootstraps .venv from the pinned lock on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# paper-scale overrides: make reproduce DEVICE=cuda PRESET=paper_mff_resnet50 DATA=/path/to/nyu_train.csv
DEVICE ?=
PRESET ?=
DATA   ?=
REPRO_ARGS := $(if $(DEVICE),--device $(DEVICE)) $(if $(PRESET),--preset $(PRESET)) $(if $(DATA),--data $(DATA))

.PHONY: install reproduce reproduce-quick test unit-test check-notebooks bench bench-gpu lab lint clean

$(STAMP): requirements-lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/python -m mdeinterp.reproduce --figures figures $(REPRO_ARGS)

reproduce-quick: $(STAMP)
	$(BIN)/python -m mdeinterp.reproduce --quick --figures build/quick-figures $(REPRO_ARGS)

# the executed-notebook checks need reproduce-quick's output: they run after it, in check-notebooks
unit-test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not executed"

check-notebooks: $(STAMP)
	$(BIN)/python -m pytest -q -m executed

test: lint unit-test reproduce-quick check-notebooks

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# one GPU, unattended, <= 8 minutes on an H100; writes benchmarks/results-gpu.md (CPU smoke test: tests/test_bench_gpu.py)
bench-gpu: $(STAMP)
	$(BIN)/python -m benchmarks.gpu --device cuda --out benchmarks/results-gpu.md

# notebooks/NN_name.ipynb and .py stay paired (jupytext, notebooks/jupytext.toml); the kernel is this .venv's
lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks

# ruff's rule set is in pyproject.toml ([tool.ruff.lint]); notebooks are linted through their .py pairs.
lint: $(STAMP)
	$(BIN)/ruff check mdeinterp tests benchmarks $(wildcard notebooks/*.py)

clean:
	rm -rf build .pytest_cache
