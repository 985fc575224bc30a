"""python manage.py simulate: the simulated Alexandrite's traces as OTLP JSON-lines files;
with --live, Alexandrite going on in accelerated time, exported over OTLP (docs/live.md)."""

import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from explorer.composition import get_source
from explorer.management.stopping import stop_on_signals
from explorer.orders.service import now_in
from explorer.simulation import (
    FAULT_KINDS,
    LiveConfig,
    SimulationConfig,
    SimulationError,
    parse_fault_rates,
    simulate,
    simulate_live,
)
from explorer.sources.base import SourceError

# The receiver's bearer token for --live (never on the command line, where `ps` shows it).
TOKEN_ENV = "EXPLORER_OTLP_TOKEN"  # noqa: S105  (the variable's name, not a token)


class Command(BaseCommand):
    help = (
        "Simulate Alexandrite's order lifecycle with the OpenTelemetry SDK and write the "
        "spans as OTLP JSON lines, one file per simulated day."
    )

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=500, help="orders to simulate")
        parser.add_argument(
            "--days", type=int, default=14, help="days over which the orders are placed"
        )
        parser.add_argument(
            "--until-days",
            type=int,
            default=None,
            metavar="N",
            help="stop at the end of day N (at least --days), the simulated "
            "now: orders still in progress then stay in progress "
            "(default: run every order to its end)",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=1,
            help="the same seed and options give byte-identical files",
        )
        parser.add_argument(
            "--out",
            type=Path,
            default=None,
            help="output directory (default: EXPLORER_DATA_DIR/simulation)",
        )
        parser.add_argument(
            "--truth",
            type=Path,
            default=None,
            help="also write the injected faults and each order's outcome "
            "as JSON (for tests and benchmarks)",
        )
        parser.add_argument(
            "--otlp-endpoint",
            default=None,
            help="also export the spans over OTLP/HTTP protobuf, e.g. "
            "http://127.0.0.1:4318 (/v1/traces is added to a bare URL)",
        )
        parser.add_argument(
            "--live",
            action="store_true",
            help="keep Alexandrite running from the end of day --until-days "
            "(default --days, where the demo's files stop) in accelerated "
            "time, exporting every span to --otlp-endpoint as it ends, "
            f"with the bearer token in ${TOKEN_ENV}; until SIGTERM/SIGINT",
        )
        parser.add_argument(
            "--resume-from-store",
            action="store_true",
            help="with --live: go on after the newest trace the explorer's trace source "
            "holds, when later than the end of day --until-days (a second run of the demo "
            "continues where the first stopped instead of sending the same hours again)",
        )
        parser.add_argument(
            "--speed",
            type=float,
            default=None,
            help="with --live: simulated seconds per real second (default "
            "DEMO_SPEED, else 60: an hour a minute)",
        )
        parser.add_argument(
            "--fault-rate",
            action="append",
            default=[],
            metavar="KIND=RATE",
            help=f"override a fault rate (0..1); KIND is all or one of "
            f"{', '.join(FAULT_KINDS)}; repeatable",
        )

    def handle(self, *args, **options):
        out = options["out"] or Path(settings.DATA_DIR) / "simulation"
        if options["live"]:
            self.live(out, options)
            return
        try:
            config = SimulationConfig(
                out=out,
                orders=options["orders"],
                days=options["days"],
                seed=options["seed"],
                fault_rates=parse_fault_rates(options["fault_rate"]),
                otlp_endpoint=options["otlp_endpoint"],
                truth=options["truth"],
                until_days=options["until_days"],
            )
            result = simulate(config)
        except SimulationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{result.spans} spans of {config.orders} orders written to "
            f"{len(result.files)} files in {out}"
        )

    def live(self, out: Path, options) -> None:
        if not options["otlp_endpoint"]:
            raise CommandError(
                "--live needs --otlp-endpoint (the receiver, e.g. http://127.0.0.1:4318)"
            )
        speed = options["speed"] or float(os.environ.get("DEMO_SPEED") or 60)
        stop = threading.Event()
        stop_on_signals(stop)

        def warn(problem: str) -> None:
            print(f"simulate --live: {problem}; going on", file=sys.stderr, flush=True)

        try:
            config = SimulationConfig(
                out=out,
                orders=options["orders"],
                days=options["days"],
                seed=options["seed"],
                fault_rates=parse_fault_rates(options["fault_rate"]),
                truth=options["truth"],
            )
            live = LiveConfig(
                options["otlp_endpoint"],
                os.environ.get(TOKEN_ENV) or None,
                options["until_days"] or options["days"],
                speed,
                _newest_stored_ns() if options["resume_from_store"] else None,
            )
            start = datetime.fromtimestamp(live.sends_after_ns() / 1e9, UTC)
            where = (
                "where the newest trace stored ends"
                if live.sends_after_ns() == live.resume_ns
                else f"the end of day {live.from_days}"
            )
            self.stdout.write(
                f"simulate --live: from {start:%Y-%m-%d %H:%M:%S} UTC ({where}) at {speed:g}x "
                f"to {live.endpoint}; stop with SIGTERM or Ctrl-C"
            )
            self.stdout.flush()
            result = simulate_live(config, live, stop, warn)
        except SimulationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"simulate --live: stopped after exporting {result.spans} spans")


def _newest_stored_ns() -> int | None:
    """The end of the newest trace the configured trace source holds (None: it holds none)."""
    try:
        return now_in(get_source())
    except SourceError as exc:
        raise CommandError(f"--resume-from-store: the trace source did not answer: {exc}") from None
