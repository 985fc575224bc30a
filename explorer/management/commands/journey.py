"""`manage.py journey ORDER_ID [--json]`: one order's journey across its traces, checked
against the state graph, with SLA breaches, anomalies and a story in English and Russian."""

from __future__ import annotations

import orjson
from django.core.management.base import BaseCommand, CommandError

from explorer.management.arguments import add_common_arguments, parse_now, source_and_config
from explorer.orders.service import judge_order, now_policy
from explorer.sources.base import SourceError


def reference_line(reference: dict) -> str:
    """Which baseline and typical journeys the order was judged against."""
    line = f"judged against the baseline of {reference['from']} to {reference['to']}"
    if reference["stored_at"]:
        return f"{line}, stored by orders --refresh at {reference['stored_at']}"
    if reference["outdated"]:
        return f"{line}, computed now: the stored one (to {reference['outdated']}) is outdated"
    return f"{line}, computed now"


class Command(BaseCommand):
    help = (
        "Show one order's journey: every trace that touches it (by order.id and span "
        "links), its states against the state graph, violations, SLA breaches, anomalies, "
        "the comparison with its customer type and a story in English and Russian."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("order_id", metavar="ORDER_ID")
        add_common_arguments(parser)

    def handle(self, *args, **options):
        source, config = source_and_config(options["source"])
        at = now_policy(parse_now(options["now"]))
        try:
            report = judge_order(source, options["order_id"], config, at)
        except SourceError as exc:
            raise CommandError(str(exc)) from None
        data = report.as_dict()
        if options["json"]:
            self.stdout.write(orjson.dumps(data).decode())
            return
        self.stdout.write(
            f"order {data['order_id']}: {data['status']}"
            f" ({data['state'] or 'no state'}), customer {data['customer_id']}"
            f" ({data['customer_type']}), {len(data['traces'])} traces"
        )
        for state in data["states"]:
            self.stdout.write(f"  {state['at']}  {state['state']:<24} {state['container']}")
        for violation in data["violations"]:
            self.stdout.write(f"violation: {violation['kind']}: {violation['detail']}")
        for anomaly in data["anomalies"]:
            self.stdout.write(
                f"anomaly: {anomaly['container']} {anomaly['operation']} "
                f"{anomaly['duration_ms']} ms (usually {anomaly['median_ms']} ms, "
                f"score {anomaly['score']})"
            )
        for warning in data["warnings"]:
            self.stdout.write(f"warning: {warning}")
        self.stdout.write(reference_line(data["reference"]))
        self.stdout.write(data["summary"]["en"])
        self.stdout.write(data["summary"]["ru"])
