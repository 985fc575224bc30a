# Shortcuts; the README's two commands are `bash scripts/demo.sh` and `bash scripts/test.sh`.
.PHONY: setup demo test lint typecheck bench screenshots

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python scripts/check_function_length.py
	.venv/bin/lint-imports --no-cache

# mypy on every package, explorer and accounts, with check_untyped_defs ([tool.mypy] in
# pyproject.toml; migrations excluded).
typecheck: setup
	.venv/bin/mypy

# Prints one JSON object on its last line (see README, "Benchmark").
bench: setup
	.venv/bin/python scripts/bench.py

# The Russian screenshots of docs/pages.md (docs/img/), on a demo data set of their own.
screenshots: setup
	.venv/bin/python scripts/screenshots.py
