# qcstar: the two commands.
#   make demo   - the main job on the built-in default data (scikit-learn's 8x8 digits)
#   make test   - the default test suite (CPU, no network)
# Both create .venv when missing and install what they need first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# real images for the tests that need them (they skip without it)
DATA   ?= $(abspath $(wildcard ../shared/data))

.PHONY: demo test venv bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# setuptools >= 77 (pyproject's build requirement) lets tests/test_packaging.py build the wheel
	# in-process, without fetching a build environment
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=77"
	# the CPU wheel of torch lies on disk here; elsewhere let pip choose
	$(BIN)/python -m pip install -q torch==2.13.0 || $(BIN)/python -m pip install -q "torch>=2.3"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: venv
	$(BIN)/qcstar demo

test: venv
	QCSTAR_DATA="$(DATA)" $(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python experiments/bench_simulator.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
