# Set-up and everyday commands. Every target is idempotent.
#   make example   set up, fetch the weights (once) and stylise the bundled example
#   make test      set up, fetch the weights (once) and run the tests and the linter
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; install it before the package so pip never pulls a CUDA build.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.painterly-setup
EXAMPLE_OUT ?= out/tubingen-starry-night.png

.PHONY: setup weights example test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

weights: setup
	$(VENV)/bin/painterly weights fetch

example: weights
	mkdir -p $(dir $(EXAMPLE_OUT))
	$(VENV)/bin/painterly examples/tubingen.jpg examples/starry_night.jpg \
		-o $(EXAMPLE_OUT) --overwrite --scales 128:200,256:100 --ratio 8e-4

test: weights
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check src tests

lint: setup
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
