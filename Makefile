# loadtnt: the two commands a newcomer needs are `make bench` and `make test`.
# Both install what they need: a project venv (.venv), the Cython extension,
# and Debian's tarantool package when the binary is missing.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYTEST_ARGS ?=

.PHONY: all venv build debug test lint tarantool clean bench bench-quick

all: build

# --- environment -----------------------------------------------------------

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "Cython>=3,<4" "setuptools>=68" wheel
	$(PIP) install -q -e '.[test]' --no-build-isolation
	touch $@

venv: $(VENV)/.installed

tarantool:
	@command -v tarantool >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tarantool)
	@tarantool --version | head -1

# Rebuild the extension in place (Cython only recompiles what changed).
build: venv
	LOADTNT_DEBUG=0 $(PY) setup.py -q build_ext --inplace

# Debug build: line tracing, bounds checks and the core's invariant checks.
debug: venv
	LOADTNT_DEBUG=1 $(PY) setup.py -q build_ext --inplace --force

# --- checks ----------------------------------------------------------------

lint: venv
	$(VENV)/bin/ruff check loadtnt tests

test: build tarantool
	$(PY) -m pytest $(PYTEST_ARGS)

# --- housekeeping ----------------------------------------------------------

clean:
	rm -rf build *.egg-info .pytest_cache .mypy_cache .ruff_cache tests/.tarantool-*
	find loadtnt -name '*.so' -delete
	find loadtnt/driver -name '*.c' -not -path '*/include/*' -delete
	find loadtnt -name '*.html' -not -path '*/templates/*' -delete
