# Two entry points, each sets up .venv on first use: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test fast lint check benchmarks screenshots docs accel kube clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/agentdash demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict controller agentdash
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

# The fast lane: in-process tests only, no real processes and no long replays, two workers a
# core (pytest-xdist: each test takes a free port and its own tmp_path and state directory).
# The Textual tests spend much of their time waiting for the app to go idle, and the deadline
# tests for their deadlines: another worker fills that time. Each worker imports every test
# module, rewritten for pytest's asserts: where PYTHONDONTWRITEBYTECODE is set, every run
# would compile them all again, in every worker, so the lane keeps them in __pycache__.
# Work stealing: a worker that runs out takes tests queued on another, so the lane does not end
# with one worker still going through its share (about 10 s less here).
fast: lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -m "not e2e" -n $$(( 2 * $$(nproc) )) --dist worksteal

benchmarks: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

screenshots: $(STAMP)
	$(BIN)/python screenshots/generate.py

docs: $(STAMP)
	$(BIN)/python docs/generate.py
	$(BIN)/python deploy/prometheus/generate.py

# Optional: the backtest's hot path compiled with mypyc (needs a C compiler), about 2x faster.
accel: $(STAMP)
	$(BIN)/python -m controller.accel

# The real Kubernetes API server that tests/kube runs against: kube-apiserver and
# kube-controller-manager 1.20.2 built from Debian's source (15 to 20 minutes on 2 cores, once),
# and Debian's etcd, cached in ~/.cache/agentdash/kube-1.20.2 (or $AGENTDASH_KUBE_DIR).
kube:
	bash tools/kube.sh

clean:
	rm -rf $(VENV) .accel .pytest_cache .mypy_cache .ruff_cache
