"""What several commands share: the --json/--source/--now arguments, reading --now, and the
trace source with the explorer's configuration (journey, orders, alerts, receive, watch)."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import CommandError

from explorer.composition import get_source
from explorer.configuration import Configuration, explorer_config
from explorer.sources.base import SourceError, TraceSource


def add_common_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--source", help="trace source name (default: the configured one)")
    parser.add_argument(
        "--now",
        help="judge dwell times at this ISO 8601 time (default: the newest span in the source)",
    )


def parse_now(text: str | None) -> int | None:
    """An ISO 8601 time with its zone (--now, --since) as ns since the epoch; None for None."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"--now {text!r}: expected an ISO 8601 time like 2025-03-10T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise CommandError(f"--now {text!r}: give a time zone, e.g. a trailing Z for UTC")
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def source_and_config(source_name: str | None) -> tuple[TraceSource, Configuration]:
    """The trace source (None: the configured one) and the explorer's configuration (model,
    mapping, graph, SLA); a CommandError when either cannot be loaded."""
    try:
        return get_source(source_name), explorer_config()
    except (SourceError, ValueError) as exc:
        raise CommandError(str(exc)) from None
