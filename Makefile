# Set-up and everyday commands. Every target is idempotent.
#   make example   set up, fetch the weights (once) and stylise the bundled example
#   make test      set up, fetch the weights (once) and run the tests, the linter and the type check
#                  (the studio's browser test needs a system chromium: see .ci/run)
#   make bench     the benchmark (hours on a 2-core CPU): table, docs/benchmarks.json, plot
#   make bench-quick  the same at tiny settings (minutes), into out/benchmarks-quick/
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; install it before the package so pip never pulls a CUDA build.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.painterly-setup
BENCH_STAMP := $(VENV)/.painterly-bench
BENCH_ARGS ?=
EXAMPLE_OUT ?= out/tubingen-starry-night.png

.PHONY: setup weights example test lint bench bench-quick clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev,studio,photo,video,ray]'
	touch $(STAMP)

weights: setup
	$(VENV)/bin/painterly weights fetch

example: weights
	mkdir -p $(dir $(EXAMPLE_OUT))
	$(VENV)/bin/painterly examples/tubingen.jpg examples/starry_night.jpg \
		-o $(EXAMPLE_OUT) --overwrite --scales 128:200,256:100 --ratio 8e-4

test: weights
	PYTHONFAULTHANDLER=1 $(PY) -m pytest -q
	$(VENV)/bin/ruff check benchmarks src tests tools
	$(VENV)/bin/mypy

lint: setup
	$(VENV)/bin/ruff check benchmarks src tests tools
	$(VENV)/bin/ruff format --check benchmarks src tests tools
	$(VENV)/bin/mypy

# matplotlib for the plot; the peers' environments are made by the harness itself.
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: weights $(BENCH_STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

bench-quick: weights $(BENCH_STAMP)
	$(PY) benchmarks/run.py --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
