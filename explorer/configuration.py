"""The model the explorer works with: C4 model, telemetry mapping, state graph and SLA.

Loaded from the files named by the settings EXPLORER_MODEL_FILE, EXPLORER_MAPPING_FILE,
EXPLORER_STATES_FILE and EXPLORER_SLA_FILE (default: the Alexandrite model in
explorer/alexandrite/), with the mapping rules edited in the admin taking precedence. Kept per
configuration version (explorer.caching: bumped when a rule or tour changes) and reloaded at
least every CONFIGURATION_SECONDS, so other worker processes see an edit without a shared
cache too. Pages, commands and tours all ask explorer_config().
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from collections.abc import Mapping as ReadOnlyMapping
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import get_language

from explorer.c4.configured import load_model_and_mapping
from explorer.c4.mapping import Mapping, element_calls
from explorer.c4.model import Model
from explorer.caching import CONFIGURATION_SECONDS, LocalCache, configuration_version
from explorer.journeys.journey import service_container
from explorer.journeys.state_graph import Sla, StateGraph, load_sla, load_state_graph
from explorer.traces.model import Span, Trace


class ElementNames(ReadOnlyMapping[str, str]):
    """Element id -> name, in the language of the page being made (Django's active language;
    the model's own, English, name where the model has no translation). Texts written in both
    languages at once (an order's story) take `in_language(...)` for each."""

    def __init__(self, model: Model):
        self._model = model
        self._by_language: dict[str, dict[str, str]] = {}

    def in_language(self, language: str | None) -> dict[str, str]:
        key = (language or settings.LANGUAGE_CODE).split("-")[0].lower()
        if key not in self._by_language:
            self._by_language[key] = self._model.names(key)
        return self._by_language[key]

    def __getitem__(self, element: str) -> str:
        return self.in_language(get_language())[element]

    def __iter__(self) -> Iterator[str]:
        return iter(self._model.elements)

    def __len__(self) -> int:
        return len(self._model.elements)


@dataclass(frozen=True)
class Configuration:
    """The C4 model, telemetry mapping, state graph and SLA the pages work with.
    `mapping_problem` says why the rules edited in the admin are not used (the file is)."""

    model: Model
    mapping: Mapping
    graph: StateGraph
    sla: Sla | None
    names: ElementNames
    mapping_problem: str | None = None

    @property
    def names_by_language(self) -> dict[str, dict[str, str]]:
        """The names in every language of the site ({"en": {...}, "ru": {...}}, the model's
        own where it has no translation), for texts written in all of them at once (an
        order's story, a generated tour)."""
        return {code: self.model.names(code) for code, _name in settings.LANGUAGES}

    def sla_limit_ms(self, container: str, endpoint: str) -> float | None:
        return self.sla.limit_ms(container, endpoint) if self.sla else None

    def container_of(self, span: Span) -> str:
        return self.mapping.service_element(span.resource) or service_container(span)

    def calls_of(self, traces: Sequence[Trace]) -> set[tuple[str, str]]:
        """The (source, target) elements of the calls and messages the traces show."""
        return element_calls(traces, self.mapping)


_loaded: LocalCache[Configuration] = LocalCache(
    "configuration", max_weight=2, seconds=CONFIGURATION_SECONDS
)


def load_configuration() -> Configuration:
    # Loaded afresh, not through explorer.c4.configured's cache: this one is reloaded at least
    # every CONFIGURATION_SECONDS, and would otherwise stay older by what that one had left.
    described = load_model_and_mapping()
    model = described.model
    return Configuration(
        model=model,
        mapping=described.mapping,
        graph=load_state_graph(Path(settings.EXPLORER_STATES_FILE), model.elements),
        sla=load_sla(Path(settings.EXPLORER_SLA_FILE), model.elements),
        names=ElementNames(model),
        mapping_problem=described.mapping_problem,
    )


def explorer_config() -> Configuration:
    """The configuration of the current version (loaded once per version and process)."""
    return _loaded.get_or_compute(configuration_version(), load_configuration)
