"""What every page shares: the trace source, the configured model, the viewer's redaction
policy, clear pages for an unreachable backend, and parsing of URL parameters that never
raises."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts.redaction import policy_for_user, redact_text, redact_value
from explorer.c4.loader import DEFAULT_MODEL, load_model
from explorer.c4.mapping import DEFAULT_MAPPING, Mapping, MappingError, build_mapping, load_mapping
from explorer.c4.model import Model
from explorer.journeys.assembly import service_container
from explorer.journeys.state_graph import Sla, StateGraph, load_sla, load_state_graph
from explorer.sources.base import SourceError, TraceNotFound, TraceSource
from explorer.sources.registry import get_source

ALEXANDRITE = Path(__file__).resolve().parent.parent / "alexandrite"
MAX_TEXT = 200  # longest search text or id taken from a URL


def source() -> TraceSource:
    return get_source()


@dataclass(frozen=True)
class ExplorerConfig:
    """The C4 model, telemetry mapping, state graph and SLA the pages work with."""

    model: Model
    mapping: Mapping
    graph: StateGraph
    sla: Sla | None
    sla_data: dict
    names: dict[str, str]

    def container_of(self, span) -> str:
        return self.mapping.service_element(span.resource) or service_container(span)


_config_lock = threading.Lock()
_config: dict[str, ExplorerConfig] = {}


def _stored_rules_document() -> dict | None:
    """The mapping rules edited in the admin, when there are any (they take precedence)."""
    from explorer.c4.rules import export_rules

    document = export_rules()
    return document if any(document.values()) else None


def explorer_config() -> ExplorerConfig:
    """Loaded once per process and per version of the stored mapping rules."""
    from explorer.c4.mapping import rules_from_dict

    stored = _stored_rules_document()
    key = hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest()
    with _config_lock:
        if key in _config:
            return _config[key]
    model = load_model(DEFAULT_MODEL)
    mapping = None
    if stored is not None:
        try:
            mapping = build_mapping(rules_from_dict(stored, "stored rules"), model)
        except MappingError:
            mapping = None  # a broken edit in the admin falls back to the file
    if mapping is None:
        mapping = load_mapping(DEFAULT_MAPPING, model)
    sla_path = ALEXANDRITE / "sla.json"
    config = ExplorerConfig(
        model=model,
        mapping=mapping,
        graph=load_state_graph(ALEXANDRITE / "states.json", model.elements),
        sla=load_sla(sla_path, model.elements),
        sla_data=json.loads(sla_path.read_text(encoding="utf-8")),
        names={eid: e.name for eid, e in model.elements.items()},
    )
    with _config_lock:
        _config.clear()
        _config[key] = config
    return config


def policy(request):
    return policy_for_user(request.user)


def shown(request, text) -> str:
    """Trace text for a page, through the viewer's redaction policy."""
    return redact_text(str(text), policy(request)) if text is not None else ""


def shown_customer(request, customer_id) -> str:
    if customer_id is None:
        return ""
    return str(redact_value("customer.id", str(customer_id), policy(request)))


def can_see_customer_ids(request) -> bool:
    return policy(request).show_identifiers


def clean_text(value: str | None, most: int = MAX_TEXT) -> str:
    """A URL parameter as text: stripped, without control characters, at most `most` long."""
    if not value:
        return ""
    cleaned = "".join(ch for ch in value if ch.isprintable())
    return cleaned.strip()[:most]


def clean_int(value: str | None, default: int, lowest: int = 0, highest: int = 10**9) -> int:
    try:
        number = int(str(value).strip()[:12])
    except (TypeError, ValueError):
        return default
    return min(max(number, lowest), highest)


def source_errors(view):
    """A backend that is down, slow or answers nonsense gives a clear page, never a 500;
    a trace the backend does not have gives a 404 page that says so."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except TraceNotFound as exc:
            return render(request, "web/not_found.html",
                          {"message": shown(request, exc)}, status=404)
        except SourceError as exc:
            name = getattr(settings, "EXPLORER_DEFAULT_BACKEND", "store")
            message = _("The tracing backend “%(name)s” did not answer: %(error)s") % {
                "name": name, "error": shown(request, exc)}
            return render(request, "web/source_down.html", {"message": message}, status=503)

    return guarded


def not_found(request, message: str):
    return render(request, "web/not_found.html", {"message": message}, status=404)
