# The README's two commands. Each sets up .venv/ itself (created on first use, reused after,
# reinstalled only when a packaging input changed), so both work on a fresh clone.
#   make demo   the main job: the split edge/cloud demo over real rclpy + Fast DDS
#   make test   the test suite (.ci/run runs exactly this)
#   make test-core   only test/core: the ROS-free core, no node processes (about 15 s)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.neucodex-installed
INSTALL_INPUTS := setup.py setup.cfg pyproject.toml requirements.txt package.xml CMakeLists.txt \
	$(wildcard cmake/*.cmake interfaces/*/msg/*.msg interfaces/*/CMakeLists.txt) \
	$(wildcard msg/*.msg launch/*.py config/*)

.PHONY: setup demo test test-core mutation

setup: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"neucodex_ros needs Python >= 3.11 (found " + sys.version.split()[0] + "); set PYTHON=")'
	$(PYTHON) -m venv $(VENV)

# The editable install generates the messages into neucodex_ros/msg/; redo it if they are gone.
ifeq ($(wildcard neucodex_ros/msg/__init__.py),)
.PHONY: $(STAMP)
endif
$(STAMP): $(BIN)/python $(INSTALL_INPUTS)
	$(BIN)/pip install --disable-pip-version-check --progress-bar off -e '.[test]'
	@touch $@

demo: $(STAMP)
	$(BIN)/neucodex-ros demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-core: $(STAMP)
	$(BIN)/python -m pytest test/core

# Mutation testing of the core's rule modules (pyproject.toml [tool.mutmut]); takes a while.
mutation: $(STAMP)
	$(BIN)/pip install --quiet 'mutmut==3.8.1'
	$(BIN)/python -m mutmut run
	$(BIN)/python -m mutmut results
