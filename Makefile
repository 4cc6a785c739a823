# mlgym-rs developer commands. `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MATURIN := $(VENV)/bin/maturin
PYTEST_ARGS ?=

.PHONY: venv develop wheel demo test test-rust test-python lint fmt bench clean

$(VENV)/.deps: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "maturin>=1.5,<2" "gymnasium>=1.0" "pyyaml>=6" "pytest>=8" "ruff>=0.6" "numpy>=1.24" "matplotlib>=3.7" "selenium>=4.10" "litellm>=1.40"
	touch $@

venv: $(VENV)/.deps

# Builds the Rust extension (release) and installs the package into the venv.
develop: venv
	source $(VENV)/bin/activate && $(MATURIN) develop --release --quiet

# A manylinux2014 (glibc 2.17+), abi3 (CPython 3.10+) wheel in dist/: zig links against
# an old glibc, so the wheel installs on any x86_64 Linux of the last decade without Rust.
wheel: venv
	$(PIP) install --quiet "ziglang>=0.13"
	source $(VENV)/bin/activate && $(MATURIN) build --release --zig --compatibility manylinux2014 --out dist --quiet

demo: develop
	$(PY) examples/demo_battle_of_sexes.py

test: test-rust test-python

test-rust:
	cargo test --quiet

test-python: develop
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: venv
	cargo fmt --check
	cargo clippy --all-targets --quiet -- -D warnings
	cargo clippy --all-targets --features python --quiet -- -D warnings
	$(VENV)/bin/ruff check python tests examples src/aci/runtime/lintd.py
	$(VENV)/bin/ruff format --check python tests examples src/aci/runtime/lintd.py

fmt: venv
	cargo fmt
	$(VENV)/bin/ruff format python tests examples src/aci/runtime/lintd.py
	$(VENV)/bin/ruff check --fix python tests examples src/aci/runtime/lintd.py

bench: develop
	$(PY) -m mlgym.cli bench --backend local

clean:
	rm -rf target $(VENV) .venv-aci
