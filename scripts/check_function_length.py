"""No function over 80 lines (`make lint`, scripts/test.sh): ruff has no rule on a function's
length in lines (PLR0915 counts statements, which a long call or literal hides).

A function's length is from its `def` line to its last line, nested functions included (and
each of them checked too). Checks every .py file under the given paths (default: explorer,
accounts, tests, scripts), migrations excepted; prints `file:line name length` for each
function over the limit and exits 1 if there is one.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_LINES = 80
ROOTS = ("explorer", "accounts", "tests", "scripts")
SKIPPED = {"migrations", ".venv", "__pycache__"}


def python_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
            continue
        for found in sorted(path.rglob("*.py")):
            if not SKIPPED.intersection(found.relative_to(path).parts):
                yield found


def too_long(path: Path, limit: int = MAX_LINES) -> Iterator[tuple[int, str, int]]:
    """(line, name, length) of each function of the file over `limit` lines."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                yield node.lineno, node.name, length


def main(args: list[str]) -> int:
    paths = [Path(a) for a in args] or [Path(root) for root in ROOTS]
    found = 0
    for path in python_files(paths):
        for line, name, length in sorted(too_long(path)):
            print(f"{path}:{line} {name} {length} lines (at most {MAX_LINES})")
            found += 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
