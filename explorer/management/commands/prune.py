"""`manage.py prune [--dry-run] [--vacuum] [--now TIME]`: remove what retention no longer keeps
from the embedded store (EXPLORER_RETENTION_*, docs/store.md#retention) and print what, by
reason. The live worker does the same every EXPLORER_RETENTION_INTERVAL_SECONDS."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from explorer.management.arguments import parse_now, source_and_config
from explorer.management.pipeline import alerted_orders
from explorer.orders.retention import prune
from explorer.orders.service import now_in
from explorer.store import retention
from explorer.store.source import StoreSource


class Command(BaseCommand):
    help = (
        "Remove the traces, order status rows and hourly figures that retention no longer "
        "keeps from the embedded store, and print how many by reason."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="only print what would be removed"
        )
        parser.add_argument(
            "--vacuum",
            action="store_true",
            help="SQLite: afterwards rewrite the database once (VACUUM) in incremental "
            "auto-vacuum mode, so later prunes give space back; needs free disk about "
            "the database's size and blocks writers meanwhile",
        )
        parser.add_argument("--source", help="trace source name (default: the configured one)")
        parser.add_argument(
            "--now", help="prune as at this ISO 8601 time (default: the newest span in the store)"
        )

    def handle(self, *args, **options):
        source, config = source_and_config(options["source"])
        if not isinstance(source, StoreSource):
            raise CommandError(
                f"{source.name} is not the embedded store: a remote backend keeps its own "
                "retention (docs/backends.md)"
            )
        dry_run = options["dry_run"]
        now = now_in(source, parse_now(options["now"]))
        started = time.perf_counter()
        if now is not None:
            report = prune(source, config, now, dry_run=dry_run, alerted=alerted_orders)
            for line in report.lines(dry_run):
                self.stdout.write(line)
        else:
            self.stdout.write("the store holds no trace: nothing to prune")
        if options["vacuum"] and not dry_run:
            retention.switch_to_incremental()
            self.stdout.write("vacuumed: the database now gives space back after pruning")
        elif retention.incremental_mode() is False:
            self.stdout.write(
                "note: this SQLite database keeps freed space for reuse but does not shrink; "
                "run `prune --vacuum` once to change that"
            )
        self.stdout.write(f"took {time.perf_counter() - started:.1f} s")
