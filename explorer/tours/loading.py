"""Importing tour files against the configured model, and finding their example orders.

The model, mapping and state graph are the pages' (explorer.configuration.explorer_config()).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from explorer.configuration import Configuration
from explorer.sources.base import SourceError, TraceSource
from explorer.tours.examples import find_example_order
from explorer.tours.models import Tour
from explorer.tours.persist import save_spec
from explorer.tours.tourfile import TourFileError, TourSpec, check_references, read_file

SHIPPED = Path(__file__).resolve().parent / "shipped"


def shipped_files() -> list[Path]:
    return sorted(SHIPPED.glob("*.json"))


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)  # slugs
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def validate(tours: list[TourSpec], config: Configuration, source: str) -> list[str]:
    return [
        problem
        for tour in tours
        for problem in check_references(tour, config.model.elements, config.graph.names, source)
    ]


def import_files(
    paths: list[Path], config: Configuration, trace_source: TraceSource | None = None
) -> ImportReport:
    """Load each file's tours; a file with any problem is skipped whole (and said why), the
    others still load. Selectors are resolved now when the trace source can answer, else
    when the tour is first played."""
    report = ImportReport()
    for path in paths:
        try:
            tours = read_file(path)
        except TourFileError as exc:
            report.errors.extend(exc.problems)
            continue
        problems = validate(tours, config, str(path))
        if problems:
            report.errors.extend(problems)
            continue
        for spec in tours:
            tour = save_spec(spec)
            report.imported.append(spec.slug)
            if trace_source is not None and not tour.example_order and tour.example_selector:
                note = resolve_example(tour, config, trace_source)
                if note:
                    report.notes.append(note)
    return report


def resolve_example(tour: Tour, config: Configuration, trace_source: TraceSource) -> str | None:
    """Fill in the tour's example order from its selector; returns a note when it cannot."""
    try:
        order_id = find_example_order(trace_source, tour.example_selector or {}, config)
    except (SourceError, ValueError) as exc:
        return f"tour {tour.slug!r}: the example order could not be chosen: {exc}"
    if order_id is None:
        return (
            f"tour {tour.slug!r}: no order in {trace_source.name} matches "
            f"{tour.example_selector}; it is chosen again when the tour is played"
        )
    tour.example_order = order_id
    tour.save(update_fields=["example_order", "updated_at"])
    return None
