# Set-up-and-run targets. `make demo` and `make test` are the README's two commands: each
# creates .venv (once, pinned by requirements/constraints.txt) and then runs its job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS := requirements/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test bench label venv clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --constraint $(CONSTRAINTS) --editable ".[dev,label]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py --output_dir outputs/demo

test: $(STAMP)
	$(BIN)/python -m pytest

label: $(STAMP)
	$(BIN)/python -m cellbundles.label $(LABEL_ARGS)

bench: $(STAMP)
	$(BIN)/python scripts/benchmark.py metrics
	$(BIN)/python scripts/benchmark.py segdet
	$(BIN)/python scripts/benchmark_dsb2018.py
	$(BIN)/python scripts/benchmark_dsb2018_shift.py
	$(BIN)/python scripts/benchmark.py fpf_shift

clean:
	rm -rf $(VENV) outputs
