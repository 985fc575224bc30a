"""The model the explorer works with: C4 model, telemetry mapping, state graph and SLA.

Loaded once per process (and again when the mapping rules edited in the admin change), from
the files named by the settings EXPLORER_MODEL_FILE, EXPLORER_MAPPING_FILE,
EXPLORER_STATES_FILE and EXPLORER_SLA_FILE (default: the Alexandrite model in
explorer/alexandrite/). Pages, commands and tours all ask explorer_config().
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from explorer.c4.loader import load_model
from explorer.c4.mapping import Mapping, MappingError, build_mapping, load_mapping
from explorer.c4.model import Model
from explorer.journeys.assembly import service_container
from explorer.journeys.state_graph import Sla, StateGraph, load_sla, load_state_graph


@dataclass(frozen=True)
class ExplorerConfig:
    """The C4 model, telemetry mapping, state graph and SLA the pages work with."""

    model: Model
    mapping: Mapping
    graph: StateGraph
    sla: Sla | None
    names: dict[str, str]

    def sla_limit_ms(self, container: str, endpoint: str) -> float | None:
        return self.sla.limit_ms(container, endpoint) if self.sla else None

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
    model = load_model(Path(settings.EXPLORER_MODEL_FILE))
    mapping = None
    if stored is not None:
        try:
            mapping = build_mapping(rules_from_dict(stored, "stored rules"), model)
        except MappingError:
            mapping = None  # a broken edit in the admin falls back to the file
    if mapping is None:
        mapping = load_mapping(Path(settings.EXPLORER_MAPPING_FILE), model)
    sla_path = Path(settings.EXPLORER_SLA_FILE)
    config = ExplorerConfig(
        model=model,
        mapping=mapping,
        graph=load_state_graph(Path(settings.EXPLORER_STATES_FILE), model.elements),
        sla=load_sla(sla_path, model.elements),
        names={eid: e.name for eid, e in model.elements.items()},
    )
    with _config_lock:
        _config.clear()
        _config[key] = config
    return config


