#!/usr/bin/env bash
# Sets everything up (system packages, virtualenv) and runs the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k parsers`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# No function over 80 lines (ruff counts statements only).
.venv/bin/python scripts/check_function_length.py
# The package layers and no cycles between packages (.importlinter, docs/architecture.md).
.venv/bin/lint-imports --no-cache
# Types of the whole tree, explorer and accounts, unannotated functions too (make typecheck).
.venv/bin/mypy
# Tests never touch the demo's data folder: a fresh one per run, removed afterwards.
EXPLORER_DATA_DIR="$(mktemp -d -t explorer-test-data.XXXXXX)"
export EXPLORER_DATA_DIR
trap 'rm -rf "$EXPLORER_DATA_DIR"' EXIT
set +e
# The slowest tests are listed, to keep the suite within its 15 minutes. Tests run in
# TEST_WORKERS processes (default: one per CPU, at most 4): much of the suite waits on servers,
# browsers and subprocesses, so 2 workers on 2 CPUs take 10 minutes instead of 16.
workers="${TEST_WORKERS:-$(nproc)}"
[ "$workers" -gt 4 ] && [ -z "${TEST_WORKERS:-}" ] && workers=4
parallel=()
[ "$workers" -gt 1 ] && parallel=(-n "$workers")
.venv/bin/python -m pytest "${parallel[@]}" --durations=25 "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: for us that is a failure, never a pass.
if [ "$status" -eq 5 ]; then
  echo "test: no tests ran" >&2
  exit 1
fi
exit "$status"
