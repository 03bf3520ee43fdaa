# Two entry points for a fresh machine: `make train` and `make test`.
# Both create the virtual environment on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: train test clean-venv

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

train: $(BIN)/.installed
	$(BIN)/cnnlab train configs/mnist_baseline.yaml

# pytest exits 5 when it collects no tests; that is not a failure of the code under test.
test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; [ $$status -eq 5 ] && exit 0; exit $$status

clean-venv:
	rm -rf $(VENV)
