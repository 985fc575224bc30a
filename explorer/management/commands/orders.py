"""`manage.py orders [--status S] [--customer ID] [--anomalous] [--json]`: every order in the
trace source with its status, state, violations and whether it behaved atypically.

`manage.py orders --refresh [--since TIME]` computes the same for every order (or those whose
spans arrived since TIME) and stores it in the order-status snapshot the pages read, with the
baseline and typical journeys that an order's page and `journey` then read instead of
computing them."""

from __future__ import annotations

import time
from collections import Counter

import orjson
from django.core.management.base import BaseCommand, CommandError

from explorer.journeys.conformance import COMPLETE, IN_PROGRESS, LOST, STUCK
from explorer.journeys.lookups import customer_orders
from explorer.journeys.report import iso
from explorer.management.arguments import add_common_arguments, parse_now, source_and_config
from explorer.orders.service import judge_orders, now_policy
from explorer.orders.snapshot import refresh_snapshot
from explorer.sources.base import SourceError


class Command(BaseCommand):
    help = (
        "List the orders in the trace source with their status (complete, in_progress, "
        "stuck, lost), state, violations and whether they are anomalous."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--status", choices=[COMPLETE, IN_PROGRESS, STUCK, LOST])
        parser.add_argument("--customer", metavar="ID", help="only this customer's orders")
        parser.add_argument(
            "--anomalous", action="store_true", help="only orders with atypically slow steps"
        )
        parser.add_argument(
            "--refresh",
            action="store_true",
            help="compute every order's status and store the snapshot the "
            "pages read (instead of listing)",
        )
        parser.add_argument(
            "--since",
            metavar="TIME",
            help="with --refresh: only the orders with spans that arrived (were "
            "stored or received) at or after this ISO 8601 time",
        )
        add_common_arguments(parser)

    def handle(self, *args, **options):
        source, config = source_and_config(options["source"])
        if options["refresh"]:
            self.refresh(source, config, options)
            return
        if options["since"]:
            raise CommandError("--since goes with --refresh")
        try:
            wanted = customer_orders(source, options["customer"]) if options["customer"] else None
            reports = judge_orders(
                source, config, now_policy(parse_now(options["now"])), orders=wanted
            )
        except SourceError as exc:
            raise CommandError(str(exc)) from None
        rows = [
            r.as_row()
            for r in reports
            if (options["status"] is None or r.status == options["status"])
            and (not options["anomalous"] or r.anomalous)
        ]
        if options["json"]:
            self.stdout.write(orjson.dumps({"orders": rows}).decode())
            return
        for row in rows:
            kinds = ", ".join(sorted({v["kind"] for v in row["violations"]}))
            self.stdout.write(
                f"{row['order_id']:<12} {row['status']:<12} "
                f"{row['state'] or '-':<24} {row['customer_type'] or '-':<12} "
                f"{'anomalous ' if row['anomalous'] else ''}{kinds}"
            )
        self.stdout.write(f"{len(rows)} orders")

    def refresh(self, source, config, options) -> None:
        since = parse_now(options["since"])
        started = time.perf_counter()
        try:
            refreshed = refresh_snapshot(
                source, config, now_policy(parse_now(options["now"])), since
            )
        except SourceError as exc:
            raise CommandError(str(exc)) from None
        snapshot, written = refreshed.snapshot, refreshed.written
        rows = snapshot.rows
        seconds = time.perf_counter() - started
        if not rows:
            self.stdout.write(f"no orders in the source; {written} order statuses stored")
            return
        now = rows[0].as_of_ns
        counts = Counter(row.status_at(now) for row in rows)
        anomalous = sum(row.anomalous for row in rows)
        types = len(snapshot.reference.samples) if snapshot.reference else 0
        self.stdout.write(
            f"{written} order statuses stored in {seconds:.1f} s, as of {iso(now)}: "
            f"{counts[COMPLETE]} complete, {counts[IN_PROGRESS]} in progress, "
            f"{counts[STUCK]} stuck, {counts[LOST]} lost, {anomalous} anomalous; "
            f"baseline and typical journeys of {types} customer types stored"
        )
