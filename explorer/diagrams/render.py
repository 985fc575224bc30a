"""Draw a C4 model, with an optional overlay, as SVG through graphviz.

The model is laid out once with `dot` (model_layout); every drawing then places the elements
at those fixed positions with `neato -n2` (dot_drawing), so an element sits at the same
coordinates whatever overlay is drawn on it, and its SVG gets the model's canvas
(svg_finish). The parts, by job: style (colours, reserved sizes), text_measure (font
metrics, clip and wrap), dot_labels (escaped HTML-like labels), overlay_text (the overlay's
words), placement (labels with no reserved place), routing (lines of calls the model lacks,
around all text), disk_cache (bounded files on disk).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import graphviz

from explorer.c4.model import Model
from explorer.caching import LocalCache
from explorer.diagrams import disk_cache, version
from explorer.diagrams.dot_drawing import Links, drawing
from explorer.diagrams.model_layout import layout
from explorer.diagrams.overlay import Overlay
from explorer.diagrams.svg_finish import finished_svg

SVG_CACHE_SIZE = 64

_svg_cache: LocalCache[str] = LocalCache("diagrams", SVG_CACHE_SIZE)


def render_svg(
    model: Model,
    overlay: Overlay | None = None,
    *,
    element_url: Callable[[str], str | None] | None = None,
    cache_dir: Path | None = None,
) -> str:
    """The SVG of the model's container diagram with the overlay drawn on it.

    Rendered output is cached by content hash (model, overlay, links): in memory (LRU) and,
    when `cache_dir` is given, on disk beside the cached layouts (bounded: disk_cache).
    """
    overlay = overlay or Overlay()
    model = model.in_language(overlay.lang)  # the model's own texts in the diagram's language
    urls = {eid: url for eid in model.elements if element_url and (url := element_url(eid))}
    key = hashlib.sha256(
        f"{version.RENDERER}|{model.fingerprint()}|{overlay.fingerprint()}|"
        f"{json.dumps(urls, sort_keys=True)}".encode()
    ).hexdigest()
    cached = _svg_cache.get(key)
    if cached is not None:
        return cached
    path = cache_dir / f"svg-{key}.svg" if cache_dir else None
    svg = disk_cache.read(path) if path else None
    if svg is None:
        lay, links = layout(model, cache_dir, overlay.lang), Links()
        source, drawn = drawing(model, overlay, urls, lay, links)
        raw = graphviz.pipe("neato", "svg", source, neato_no_op=2, quiet=True).decode("utf-8")
        svg = finished_svg(raw, model, lay, links, drawn)
        if path:
            disk_cache.write(path, svg)
    return _svg_cache.put(key, svg)
