"""The renderer's version: cached layouts and drawings are keyed by it, so a changed renderer
never serves what an older one drew."""

from __future__ import annotations

import hashlib
from pathlib import Path

# The content of every module of this package: any of them may change what is drawn.
RENDERER = hashlib.sha256(
    b"".join(path.read_bytes() for path in sorted(Path(__file__).parent.glob("*.py")))
).hexdigest()[:16]
