# Two commands set everything up on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest browser demo bench reliability clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch/torchvision: this machine's local CUDA build (runs on CPU); pip takes it from disk.
	$(PY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1" || $(PY) -m pip install -q "torch>=2.4" "torchvision>=0.19"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/vidgate serve --host $(HOST) --port $(PORT)

# Debian's chromium for the browser tests (never `playwright install`: no downloads).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing and not root: browser tests will be skipped"; fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) browser
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

# Reproduce the shipped demo model and docs/results.md (synth + train + evaluate, ~25 min on 2 cores).
demo: $(STAMP)
	$(PY) -m bench.demo --ship

# Faults, floods and hostile files against real processes (private redis-servers); writes docs/reliability.md
# (~15 min on 2 cores). `make test` runs the short version (tests/test_reliability.py).
reliability: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) -m bench.reliability

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
