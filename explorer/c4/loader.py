"""Pick the loader for a model file by its name, or by its content when the name says nothing."""

from __future__ import annotations

from pathlib import Path

from explorer.c4.drawio import load_drawio
from explorer.c4.model import Model
from explorer.c4.plantuml import load_plantuml
from explorer.c4.structurizr import load_dsl, load_workspace_json

FORMATS = ("drawio", "plantuml", "dsl", "json")
_SUFFIXES = {
    ".drawio": "drawio",
    ".xml": "drawio",
    ".puml": "plantuml",
    ".plantuml": "plantuml",
    ".iuml": "plantuml",
    ".pu": "plantuml",
    ".wsd": "plantuml",
    ".dsl": "dsl",
    ".json": "json",
}
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "alexandrite" / "model.dsl"


def detect_format(name: str, data: bytes) -> str | None:
    by_name = _SUFFIXES.get(Path(name).suffix.lower())
    if by_name:
        return by_name
    head = data[:4096].lstrip().decode("utf-8", errors="replace")
    if head.startswith("<") or head[:3].upper() == "%3C":  # XML, or draw.io's clipboard
        return "drawio"
    if head.startswith("{"):
        return "json"
    if "@startuml" in head or "!include" in head:
        return "plantuml"
    if "workspace" in head or "model" in head:
        return "dsl"
    return None


def parse_model(
    data: bytes, name: str = "<model>", fmt: str | None = None, folder: Path | None = None
) -> Model:
    """Load a model from bytes; never raises on bad content (problems become warnings).
    `folder` is where files a Structurizr workspace includes or extends are read from; None
    (an upload, whatever its name) refuses them."""
    fmt = fmt or detect_format(name, data)
    if fmt == "drawio":
        return load_drawio(data, name)
    if fmt == "json":
        return load_workspace_json(data, name)
    text = data.decode("utf-8", errors="replace")
    if fmt == "plantuml":
        return load_plantuml(text, name)
    if fmt == "dsl":
        return load_dsl(text, name, folder)
    model = Model()
    model.warnings.append(f"{name}: format not recognised (expected one of {', '.join(FORMATS)})")
    return model


def load_model(path: str | Path, fmt: str | None = None) -> Model:
    """Load a model file; an unreadable file raises OSError (the caller names it to the user)."""
    path = Path(path)
    return parse_model(path.read_bytes(), str(path), fmt, path.parent)
