# Entry points for a fresh machine: `make train`, `make test`, `make lint`.
# They create the virtual environment on first use (and again when pyproject.toml or
# constraints.txt changes), installing the exact versions pinned in constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: train train-new test test-fast test-durations test-profile bench-quick lint mutation lock clean-venv

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,export,jax]'
	touch $@

# The baseline; run again after a Ctrl-C (or a kill), it goes on with that run from its last
# finished epoch. `make train-new` starts a new run whatever the last one did. (TRAIN_CONFIG and
# RUNS_DIR are for the test of this target: the config's file name is its name.)
TRAIN_CONFIG ?= configs/mnist_baseline.yaml
RUNS_DIR ?= runs
STOPPED_RUN = $(shell $(BIN)/python -c "import cnnlab; r = [x for x in cnnlab.runs('$(RUNS_DIR)') if x.name == '$(basename $(notdir $(TRAIN_CONFIG)))'][-1:]; print(r[0].path if r and r[0].status in ('interrupted', 'running') else '')" 2>/dev/null)
# cnnlab's own message ends a Ctrl-C: make, stopped by it too, adds no "Error 130" line.
train train-new: export CNNLAB_INTERRUPTED_EXIT_CODE = 0
train: $(BIN)/.installed
	$(if $(STOPPED_RUN),@echo "going on with the stopped run $(STOPPED_RUN) (make train-new starts a new one)")
	$(BIN)/cnnlab train $(if $(STOPPED_RUN),--resume $(STOPPED_RUN),$(TRAIN_CONFIG)) --runs-dir $(RUNS_DIR)

train-new: $(BIN)/.installed
	$(BIN)/cnnlab train $(TRAIN_CONFIG) --runs-dir $(RUNS_DIR)

# The whole suite on both cores (pytest-xdist; tests/README.md says how to keep tests safe side
# by side). pytest exits 5 when it collects no tests; that is not a failure of the code under test.
TEST_WORKERS ?= 2
test: $(BIN)/.installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS); status=$$?; [ $$status -eq 5 ] && exit 0; exit $$status

# The edit-test loop: every test that neither trains in its own body nor starts a process.
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not trains and not processes" $(PYTEST_ARGS)

# Where the time goes: the slowest tests, then the seconds of each file.
test-durations: $(BIN)/.installed
	$(MAKE) test PYTEST_ARGS="-q --durations=25 $(PYTEST_ARGS)"

# Where the CPU goes, the processes the tests start included (py-spy samples the whole tree;
# tests/suite_profile.py sums it by process, category and test file). Slower than make test.
test-profile: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[profile]'
	$(BIN)/py-spy record --subprocesses --nonblocking --format raw --rate 40 -o "$${TMPDIR:-/tmp}/cnnlab-suite.txt" \
		-- $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)
	$(BIN)/python tests/suite_profile.py "$${TMPDIR:-/tmp}/cnnlab-suite.txt" --rate 40

# Every benchmark end to end on made-up images, one round each, two at a time (benchmarks/quick.py):
# a script a refactor broke fails here. The figures mean nothing; benchmarks/README.md has the real ones.
bench-quick: $(BIN)/.installed
	$(BIN)/python benchmarks/quick.py

# ruff for style; import-linter for the layers of ARCHITECTURE.md and against import cycles
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Mutation testing of the six packages, each scored on a seeded sample of 200 of its mutants
# (tests/mutation_sample.py; tests/README.md has the scores and the time). Not in CI: it takes
# hours on two cores. It resumes where it stopped; `rm -rf mutants` starts afresh.
MUTATION_ARGS ?=
mutation: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[mutation]'
	$(BIN)/python tests/mutation_sample.py $(MUTATION_ARGS)

# New pins: the newest versions pyproject.toml allows, installed into a throw-away environment.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev,export,jax,mutation,profile]'
	{ sed -n '/^#/p' constraints.txt; .lock-venv/bin/pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv

clean-venv:
	rm -rf $(VENV)
