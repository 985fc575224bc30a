"""The C4 model and the telemetry mapping in effect.

The model is the file the setting EXPLORER_MODEL_FILE names, with the translations of its texts
filled in the admin (explorer.c4.texts); the mapping is the rules edited in
the admin (explorer.c4.rules), or the file EXPLORER_MAPPING_FILE names when there are none or
they are broken. explorer.configuration builds the whole configuration on these; the embedded
store reads the mapping here for the hourly figures it keeps at ingest (explorer.store.hourly),
so no layer above has to hand it down.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from explorer.c4.loader import load_model
from explorer.c4.mapping import Mapping, load_mapping
from explorer.c4.model import Model
from explorer.c4.rules import stored_mapping
from explorer.c4.texts import apply_stored_texts
from explorer.caching import CONFIGURATION_SECONDS, LocalCache, configuration_version


@dataclass(frozen=True)
class ModelAndMapping:
    model: Model
    mapping: Mapping
    mapping_problem: str | None  # why the rules edited in the admin are not used (the file is)


def load_model_and_mapping() -> ModelAndMapping:
    model = load_model(Path(settings.EXPLORER_MODEL_FILE))
    apply_stored_texts(model)  # the translations architects filled in the admin
    mapping, problem = stored_mapping(model)  # the admin's rules take precedence
    if mapping is None:
        mapping = load_mapping(Path(settings.EXPLORER_MAPPING_FILE), model)
    return ModelAndMapping(model, mapping, problem)


_loaded: LocalCache[ModelAndMapping] = LocalCache(
    "model and mapping", max_weight=2, seconds=CONFIGURATION_SECONDS
)


def current_mapping() -> Mapping:
    """The mapping in effect, loaded once per configuration version and process and at least
    every CONFIGURATION_SECONDS (as explorer.configuration)."""
    return _loaded.get_or_compute(configuration_version(), load_model_and_mapping).mapping
