"""`manage.py watch [--once]`: the live worker alone (for set-ups that only `ingest`): keeps
the order-status snapshot current, cycle after cycle, until SIGTERM or SIGINT (docs/live.md),
in a thread a Supervisor starts again when it dies or stops cycling.

A cycle is explorer.orders.live.run_cycle() followed by the steps of the pipeline
(explorer/management/pipeline.py), which take its WorkerCycle (every status change of the
cycle) in order: the report, then the alert rules with their delivery. So `watch --once`
computes the changed orders again, evaluates the rules and delivers."""

from __future__ import annotations

import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from explorer.management.arguments import source_and_config
from explorer.management.pipeline import cycle_steps, start_worker
from explorer.management.stopping import stop_on_signals, wait_for_stop
from explorer.orders.live import WorkerCycle, run_cycle
from explorer.sources.base import SourceError


class Command(BaseCommand):
    help = (
        "Keep the order-status snapshot current: compute again the orders whose spans "
        "arrived, re-judge stuck and lost orders as time passes, store the reference on a "
        "schedule. Runs until SIGTERM/SIGINT; --once runs one cycle."
    )
    requires_system_checks = []
    said_empty = False

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one cycle and stop")
        parser.add_argument(
            "--interval",
            type=float,
            metavar="SECONDS",
            help="pause between cycles (default: EXPLORER_LIVE_INTERVAL_SECONDS, 2)",
        )
        parser.add_argument("--source", help="trace source name (default: the configured one)")

    def handle(self, *args, **options):
        source, config = source_and_config(options["source"])
        steps = cycle_steps(source, self.say, first=[self.report])
        if options["once"]:
            try:
                result = run_cycle(source, config)
            except (DatabaseError, SourceError) as exc:
                raise CommandError(str(exc)) from None
            for step in steps:
                step(result)
            return
        stop = threading.Event()
        stop_on_signals(stop)
        self.stdout.write(f"watching {source.name}; stop with SIGTERM or Ctrl-C")
        self.stdout.flush()
        supervisor = start_worker(source, config, stop, steps, interval_s=options["interval"])
        wait_for_stop(stop)
        supervisor.join(timeout=60)
        self.stdout.write("stopped")

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def report(self, result: WorkerCycle) -> None:
        if result.now_ns is None:
            if not self.said_empty:  # once, not every cycle
                self.stdout.write("no spans in the source yet")
            self.said_empty = True
        elif (
            result.recomputed
            or result.changes
            or result.reference_stored
            or result.marked
            or result.refused
            or result.errors
        ):
            self.stdout.write(result.line())
        self.stdout.flush()
