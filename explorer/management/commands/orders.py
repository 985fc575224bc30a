"""`manage.py orders [--status S] [--customer ID] [--anomalous] [--json]`: every order in the
trace source with its status, state, violations and whether it behaved atypically."""

from __future__ import annotations

import orjson
from django.core.management.base import BaseCommand, CommandError

from explorer.journeys.assembly import customer_orders
from explorer.journeys.conformance import COMPLETE, IN_PROGRESS, LOST, STUCK
from explorer.journeys.report import report_orders
from explorer.management.commands.journey import add_common_arguments, now_ns, setup
from explorer.sources.base import SourceError


class Command(BaseCommand):
    help = ("List the orders in the trace source with their status (complete, in_progress, "
            "stuck, lost), state, violations and whether they are anomalous.")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--status", choices=[COMPLETE, IN_PROGRESS, STUCK, LOST])
        parser.add_argument("--customer", metavar="ID", help="only this customer's orders")
        parser.add_argument("--anomalous", action="store_true",
                            help="only orders with atypically slow steps")
        add_common_arguments(parser)

    def handle(self, *args, **options):
        source, config = setup(options)
        try:
            wanted = (customer_orders(source, options["customer"])
                      if options["customer"] else None)
            reports = report_orders(source, config.graph, config.sla, config.container_of,
                                    now_ns(options["now"]), names=config.names, orders=wanted)
        except SourceError as exc:
            raise CommandError(str(exc)) from None
        rows = [r.as_row() for r in reports
                if (options["status"] is None or r.status == options["status"])
                and (not options["anomalous"] or r.anomalous)]
        if options["json"]:
            self.stdout.write(orjson.dumps({"orders": rows}).decode())
            return
        for row in rows:
            kinds = ", ".join(sorted({v["kind"] for v in row["violations"]}))
            self.stdout.write(f"{row['order_id']:<12} {row['status']:<12} "
                              f"{row['state'] or '-':<24} {row['customer_type'] or '-':<12} "
                              f"{'anomalous ' if row['anomalous'] else ''}{kinds}")
        self.stdout.write(f"{len(rows)} orders")
