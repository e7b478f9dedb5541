# The two commands: `make demo` (the built-in demo, offline) and `make test` (the test suite).
# Both create .venv on first use. Where no NVIDIA GPU is present the CPU build of torch is
# pinned (TORCH_SPEC); on a GPU machine pip's default (CUDA) build is used. Override with
# `make TORCH_SPEC='torch==X.Y.Z' ...`.

PYTHON_BASE ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
TORCH_SPEC ?= $(if $(HAS_GPU),torch>=2.2,torch==2.13.0)
PYTEST_ARGS ?=

.PHONY: setup demo test test-model lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# CPT on the offline demo world: fit, then test the last checkpoint (prints base / new / HM and
# head / medium / tail). Re-running starts a fresh fit.
demo: $(VENV)/.installed
	rm -rf outputs/demo
	$(VENV)/bin/cpt fit --config configs/demo.yaml
	$(VENV)/bin/cpt test --config configs/demo.yaml --ckpt_path outputs/demo/checkpoints/last.ckpt

test: $(VENV)/.installed
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The model-side tests alone (run by .ci/run a second time under transformers 4.5x).
test-model: $(VENV)/.installed
	$(PY) -m pytest -q -m model $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .venv-tf4 .pytest_cache lightning_logs
