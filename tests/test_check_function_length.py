"""scripts/check_function_length.py: a function of 81 lines fails the check, one of 80 passes."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_function_length.py"


def _function(name: str, lines: int) -> str:
    """A function of exactly `lines` lines, the `def` line included."""
    body = "".join(f"    x{n} = {n}\n" for n in range(lines - 1))
    return f"def {name}():\n{body}"


def _check(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, paths)], capture_output=True, text=True
    )


def test_a_function_over_80_lines_fails(tmp_path):
    source = tmp_path / "long.py"
    source.write_text("import os\n\n\n" + _function("too_long", 81))
    result = _check(tmp_path)
    assert result.returncode == 1
    assert result.stdout.strip() == f"{source}:4 too_long 81 lines (at most 80)"


def test_a_function_of_80_lines_passes(tmp_path):
    (tmp_path / "fits.py").write_text(_function("fits", 80))
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_initial.py").write_text(_function("generated", 200))
    result = _check(tmp_path)
    assert (result.returncode, result.stdout) == (0, "")
