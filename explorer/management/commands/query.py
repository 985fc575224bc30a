"""`manage.py query 'QUERY' [--json] [--limit N] [--lookback 7d]`: the traces matching a query
(docs/query.md), as the query page finds them; audited like the page."""

from __future__ import annotations

import getpass
import re

import orjson
from django.core.management.base import BaseCommand, CommandError

from accounts import audit
from explorer.management.arguments import add_common_arguments, parse_now, source_and_config
from explorer.orders.service import query_traces
from explorer.query.parser import QueryError, duration_ns, parse
from explorer.sources.base import SourceError
from explorer.sources.querying import QueryResult
from explorer.web.search import audit_detail, query_run

DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h|d))+")


class Command(BaseCommand):
    help = (
        "Find the traces matching a query (a subset of TraceQL plus order conditions, "
        "docs/query.md), newest first: on the embedded store through its indexes, passed on "
        "to Tempo or Jaeger where they can answer, evaluated here where they cannot."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("query", metavar="QUERY")
        parser.add_argument("--limit", type=int, default=20, help="traces at most (default 20)")
        parser.add_argument(
            "--lookback", help="only traces that started this long before now, e.g. 1h, 7d"
        )
        add_common_arguments(parser)

    def handle(self, *args, **options):
        source, config = source_and_config(options["source"])
        try:
            query = parse(options["query"])
        except QueryError as exc:
            raise CommandError(str(exc)) from None
        lookback = None
        if options["lookback"] is not None:
            if not DURATION.fullmatch(options["lookback"]):
                raise CommandError(f"--lookback {options['lookback']!r}: a duration like 1h or 7d")
            lookback = duration_ns(options["lookback"])
        if not 1 <= options["limit"] <= 10_000:
            raise CommandError("--limit: between 1 and 10000")
        run = query_run(source, options["limit"], lookback, parse_now(options["now"]))
        try:
            result = query_traces(source, config, query, run)
        except (QueryError, SourceError) as exc:
            raise CommandError(str(exc)) from None
        audit.record(
            None,
            audit.AuditAction.VIEW,
            "query",
            options["query"],
            audit_detail(result),
            username=f"manage.py query ({getpass.getuser()})",
        )
        self._write(result, options["json"])

    def _write(self, result: QueryResult, as_json: bool) -> None:
        if as_json:
            self.stdout.write(orjson.dumps(result.as_dict()).decode())
            return
        for hit in result.hits:
            summary = hit.summary
            self.stdout.write(
                f"{summary.trace_id}  {summary.root_service}: {summary.root_name}  "
                f"{summary.duration_ns / 1e6:.1f} ms  {len(hit.span_ids)} spans matched"
            )
        for note in result.notes:
            self.stdout.write(note)
