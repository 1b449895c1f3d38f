# Two commands: `make demo` sets up and runs the demo; `make test` sets up and runs the tests.
# Setup is uv (pinned by uv.lock) into .venv; uv itself is bootstrapped into .tools/ if it is missing.
SHELL := /bin/bash
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GX_ANALYTICS_ENABLED := False

UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

.PHONY: setup demo test bench up down clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet 'uv==0.13.9'

# --compile-bytecode: every run is a new process (a Prefect worker starts one per flow run), and
# where Python may not write .pyc files (PYTHONDONTWRITEBYTECODE, a read-only install) each one
# compiles its imports again: here that doubled the import of prefect, duckdb, evidently, GX and
# slack_sdk (8-10 s -> 16-17 s). Costs about 35 s once, at setup.
.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	.venv/bin/python -m compileall -q src
	@touch $@

setup: .venv/.synced

demo: setup
	.venv/bin/llmvigil demo

test: setup
	.venv/bin/python -m pytest

bench: setup
	.venv/bin/python benchmarks/bench_cycle.py

up: setup
	.venv/bin/llmvigil up

down:
	.venv/bin/llmvigil down

clean:
	rm -rf .venv .tools .llmvigil reports data/demo
