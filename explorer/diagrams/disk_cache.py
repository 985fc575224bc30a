"""Layouts and drawings kept on disk between runs (`c4 diagram` keeps them in
DATA_DIR/diagrams), bounded: after each write the least recently used files beyond
EXPLORER_DIAGRAM_CACHE_FILES are deleted."""

from __future__ import annotations

import os
import time
from pathlib import Path

MAX_FILES_SETTING = "EXPLORER_DIAGRAM_CACHE_FILES"
DEFAULT_MAX_FILES = 256  # about 25 MB of the default model's drawings
PATTERNS = ("layout-*.json", "svg-*.svg")  # what this cache writes; nothing else is deleted


def max_files() -> int:
    """The most files a diagram cache folder keeps (EXPLORER_DIAGRAM_CACHE_FILES)."""
    configured = os.environ.get(MAX_FILES_SETTING, "").strip()
    if not configured:
        return DEFAULT_MAX_FILES
    if not configured.isdigit() or int(configured) < 1:
        raise ValueError(
            f"{MAX_FILES_SETTING} must be a whole number of at least 1: {configured!r}"
        )
    return int(configured)


def read(path: Path) -> str | None:
    """The cached text at `path`, or None; a file read counts as used (it is pruned last)."""
    try:
        text = path.read_text(encoding="utf-8")
        _touch(path)
    except FileNotFoundError:  # never written, or pruned by another process meanwhile
        return None
    return text


def write(path: Path, text: str) -> None:
    """Keep `text` at `path`, then prune the folder to its bound."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    _touch(path)
    prune(path.parent, max_files())


def _touch(path: Path) -> None:
    """Mark `path` used now, to the nanosecond (the file system stamps writes with a clock
    of a few milliseconds: files used one after another would tie)."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def prune(folder: Path, keep: int) -> None:
    """Delete all but the `keep` most recently used cache files of `folder`."""
    files = []
    for pattern in PATTERNS:
        for path in folder.glob(pattern):
            try:
                files.append((path.stat().st_mtime_ns, path))
            except FileNotFoundError:
                continue
    files.sort(reverse=True)
    for _, path in files[keep:]:
        path.unlink(missing_ok=True)
