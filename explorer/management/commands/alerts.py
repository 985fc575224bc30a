"""`manage.py alerts [--json] [--open] [--kind K]`: the stored alerts, newest first.

`--evaluate` first runs one evaluation cycle (rules, open/refresh/resolve, delivery) against the
stored order-status snapshot, for set-ups that refresh it with `orders --refresh` rather than
the live worker of `manage.py watch`."""

from __future__ import annotations

import orjson
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import override

from explorer.alerts.config import KINDS
from explorer.alerts.cycle import run_cycle
from explorer.alerts.delivery import iso
from explorer.alerts.models import Alert
from explorer.alerts.text import summary
from explorer.configuration import explorer_config
from explorer.journeys.report import iso as iso_ns
from explorer.management.arguments import parse_now
from explorer.sources.base import SourceError


def alert_row(alert: Alert, names) -> dict:
    row: dict = {"kind": alert.kind}
    if alert.order_id:
        row["order_id"] = alert.order_id
    else:
        row["endpoint"] = f"{names.get(alert.container, alert.container)}: {alert.operation}"
    with override("en"):
        text = summary(alert, names)
    row.update(
        opened_at=iso(alert.opened_at),
        resolved_at=iso(alert.resolved_at),
        acknowledged_by=(alert.acknowledged_by.get_username() if alert.acknowledged_by else None),
        summary=text,
    )
    return row


class Command(BaseCommand):
    help = "List the alerts (open and resolved, newest first); --evaluate runs one cycle first."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--open", action="store_true", help="only the open alerts")
        parser.add_argument("--kind", choices=KINDS)
        parser.add_argument(
            "--evaluate", action="store_true", help="run one evaluation cycle first (and deliver)"
        )
        parser.add_argument(
            "--no-delivery",
            action="store_true",
            help="with --evaluate: update the alerts but send nothing",
        )
        parser.add_argument(
            "--now",
            metavar="TIME",
            help="with --evaluate: judge at this ISO 8601 time instead of the newest span",
        )

    def handle(self, *args, **options):
        if options["evaluate"]:
            try:
                result = run_cycle(parse_now(options["now"]), send=not options["no_delivery"])
            except SourceError as exc:
                raise CommandError(str(exc)) from None
            if result.now_ns is None:
                self.stderr.write("no spans in the trace source: nothing judged")
            else:
                self.stderr.write(f"at {iso_ns(result.now_ns)}: {result.line()}")
        elif options["now"] or options["no_delivery"]:
            raise CommandError("--now and --no-delivery go with --evaluate")
        found = Alert.objects.select_related("acknowledged_by")
        if options["open"]:
            found = found.open()
        if options["kind"]:
            found = found.filter(kind=options["kind"])
        names = explorer_config().names
        rows = [alert_row(alert, names) for alert in found]
        if options["json"]:
            self.stdout.write(orjson.dumps({"alerts": rows}).decode())
            return
        for row in rows:
            state = "resolved" if row["resolved_at"] else "open"
            subject = row.get("order_id") or row.get("endpoint")
            self.stdout.write(
                f"{row['opened_at']}  {state:<8} {row['kind']:<15} {subject}: {row['summary']}"
            )
        self.stdout.write(f"{len(rows)} alerts")
