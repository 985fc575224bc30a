"""The server process's warm-up (explorer.wsgi runs it once a worker has loaded Django, before
it answers anything): what the first request of a fresh process would otherwise pay on top of
its own work. Measured at full scale (docs/benchmark.md, `BENCH_ONLY=scale`), a fresh
process's first /sla/ spent about 60 % of its time on these and not on the page:

- compiling the templates (the cached loader keeps them for the life of the process);
- importing the views and compiling the URL patterns, and filling the reverse look-up of
  every namespace in every language (`reverse()` fills them on first use);
- loading the message catalogs of the languages offered;
- loading the configuration (C4 model, mapping, states, SLA; explorer.configuration);
- moving every object made so far out of the garbage collector's sight (`gc.freeze()`):
  otherwise a full collection during the first requests walks the whole of Django, the
  model and the compiled templates (90-130 ms each time).

Nothing here computes a page's figures: a page's data is read by its request as before.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.template import TemplateSyntaxError, engines
from django.template.utils import get_app_template_dirs
from django.urls import URLResolver, get_resolver
from django.utils import translation

from explorer.configuration import explorer_config

log = logging.getLogger("explorer.web")


@dataclass(slots=True)
class WarmedUp:
    """What the warm-up prepared."""

    templates: int  # compiled
    url_patterns: int  # compiled (all namespaces)
    configured: bool  # the configuration loaded (False: it has a problem pages will show)


def warm_up() -> WarmedUp:
    """Prepare this process for its first request (see the module's text); a template or a
    configuration that cannot be loaded is logged and left to the request that needs it."""
    templates = compile_templates(project_templates())
    patterns = 0
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            patterns = populate_urls(get_resolver())
            translation.gettext("Orders")  # loads the language's catalog
    try:
        explorer_config()
        configured = True
    except Exception as exc:  # whatever it is, the pages report it: the server must start
        log.warning("warm-up: the configuration could not be loaded: %s", exc)
        configured = False
    gc.collect()
    gc.freeze()
    return WarmedUp(templates, patterns, configured)


def project_templates() -> list[str]:
    """Names of the templates of this project (its templates folder and its apps'), not
    those of the libraries."""
    base = Path(settings.BASE_DIR).resolve()
    engines_configured: list[dict] = settings.TEMPLATES
    folders = [Path(d) for engine in engines_configured for d in engine.get("DIRS", [])]
    folders += [Path(d) for d in get_app_template_dirs("templates")]
    names: set[str] = set()
    for folder in folders:
        folder = folder.resolve()
        if not folder.is_relative_to(base) or ".venv" in folder.parts:
            continue
        names.update(p.relative_to(folder).as_posix() for p in folder.rglob("*.html"))
    return sorted(names)


def compile_templates(names: Iterable[str]) -> int:
    """Compile these templates into the engine's cached loader; returns how many."""
    engine = engines["django"]
    compiled = 0
    for name in names:
        try:
            engine.get_template(name)
        except TemplateSyntaxError as exc:
            log.warning("warm-up: template %s does not compile: %s", name, exc)
            continue
        compiled += 1
    return compiled


def populate_urls(resolver: URLResolver) -> int:
    """Compile every pattern under this resolver and fill its reverse look-up (and its
    namespaces'), in the active language; returns the patterns seen."""
    count = 0
    for pattern in resolver.url_patterns:
        pattern.pattern.regex  # noqa: B018 compiled and kept per language
        count += 1
        if isinstance(pattern, URLResolver):
            count += populate_urls(pattern)
    resolver.reverse_dict  # noqa: B018 filled once per language
    return count
