# Two commands do everything on a fresh machine (see README):
#   make demo   the quick tour of the experiments (sets up .venv first)
#   make test   the test suite (sets up .venv first); .ci/run calls exactly this
#
# Variables: BACKEND=tensorflow|jax  DEVICE=cpu|gpu  DEVICES=all  QUICK=1  EPOCHS=N  SEED=N
#            PROCESSES=N (each run as N local processes: python -m toolkit launch)
#            DATASET=fashion_mnist|folder|file.npz (the MNIST experiments on other data)
#            DATA_DIR=folder made by ../shared/data/prepare.py (default: ./data, prepared
#            from ../shared/data when that exists)  OUT=reports folder  SET="key=value ..."
#
# Every experiment is a target of its own name (`make NAME`, NAME from `make list`): the
# names come from the registry (`python -m toolkit list`), so a new experiment file is a new
# target with no edit here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BACKEND ?= tensorflow
DEVICE ?= cpu
DEVICES ?=
PROCESSES ?=
QUICK ?=
EPOCHS ?=
SET ?=
SEED ?=
DATASET ?=
OUT ?= reports
SHARED_DATA ?= $(abspath ../shared/data)
DATA_DIR ?= $(CURDIR)/data

RUN = KERAS_BACKEND=$(BACKEND) TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m toolkit $(if $(PROCESSES),launch --processes $(PROCESSES) )run
RUN_ARGS = --device $(DEVICE) --data-dir "$(DATA_DIR)" --out "$(OUT)" \
	$(if $(QUICK),--quick) $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(DEVICES),--devices $(DEVICES)) \
	$(if $(SEED),--seed $(SEED)) $(if $(DATASET),--set dataset=$(DATASET)) $(foreach s,$(SET),--set $(s))
# the experiments on one dataset, from the registry (evaluated when a recipe runs, after setup)
EXPERIMENTS_ON = $$(KERAS_BACKEND=$(BACKEND) TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m toolkit list --names --dataset $(1))

.PHONY: setup data test test-fast lint demo mnist cifar list benchmark benchmark-gpu browser-check clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-jax.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-jax.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

# Lay out the real datasets when ../shared/data is there; otherwise say so and go on
# (experiments then fall back to the embedded dataset and tests that need data skip).
data: setup
	@if [ -f "$(DATA_DIR)/mnist/train-images-idx3-ubyte.gz" ] && [ -f "$(DATA_DIR)/cifar-10-batches-bin/test_batch.bin" ]; then \
		echo "data: using $(DATA_DIR)"; \
	elif [ -f "$(SHARED_DATA)/prepare.py" ]; then \
		echo "data: preparing $(DATA_DIR) from $(SHARED_DATA)"; $(PY) "$(SHARED_DATA)/prepare.py" "$(DATA_DIR)"; \
	else \
		echo "data: no real datasets ($(SHARED_DATA) absent); the embedded 'shapes' dataset will be used"; \
	fi

# The linter: ruff's lint rules and its formatter, as configured in pyproject.toml.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The test suite: the linter, everything on TensorFlow, then the backend-sensitive tests on JAX.
# TEST_WORKERS pytest-xdist processes (default 2, the cores of the reference machine); tests
# use only their own tmp_path, ports and environment copies, so they run side by side.
TEST_WORKERS ?= 2
# pytest's exit code 5 (no tests collected) is not a failure of the suite.
test: data lint
	@export TOOLKIT_DATA_DIR="$$( [ -d "$(DATA_DIR)/mnist" ] && echo "$(DATA_DIR)" )"; \
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q -n $(TEST_WORKERS) --dist load --maxschedchunk 1 --doctest-modules toolkit tests; rc=$$?; [ $$rc -eq 5 ] && rc=0; [ $$rc -eq 0 ] || exit $$rc; \
	KERAS_BACKEND=jax $(PY) -m pytest -q -n $(TEST_WORKERS) --dist load --maxschedchunk 1 -m backends -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-fast: setup
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q -x

# The quick tour: every experiment in its quick form on real data when found,
# on the embedded dataset otherwise (each report says which).
demo: data
	KERAS_BACKEND=$(BACKEND) TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m toolkit tour --data-dir "$(DATA_DIR)" --out "$(OUT)" \
		--device $(DEVICE) $(if $(SEED),--seed $(SEED))

list: setup
	@$(PY) -m toolkit list

mnist: data
	$(RUN) $(call EXPERIMENTS_ON,mnist) $(RUN_ARGS)

cifar: data
	$(RUN) $(call EXPERIMENTS_ON,cifar10) $(RUN_ARGS)

# Any other target is an experiment's name: `make NAME` runs it (an unknown name gets the
# toolkit's one-line error with the closest name).
.DEFAULT:
	@$(MAKE) --no-print-directory data
	$(RUN) $@ $(RUN_ARGS)

benchmark: data
	TOOLKIT_DATA_DIR="$(DATA_DIR)" KERAS_BACKEND=$(BACKEND) TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m benchmarks.run $(if $(QUICK),--quick)

# Goal 3 of the performance issue, on a GPU machine (JAX): ResNet-9 on CIFAR-10 from the JPEG tarball.
benchmark-gpu: setup
	KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m benchmarks.gpu_cifar10 --tarball "$(SHARED_DATA)/cifar-10-jpeg.tar.gz"

browser-check: setup
	$(PY) -m toolkit.browser_check "$(OUT)/index.html"

clean:
	rm -rf $(VENV) .pytest_cache
