"""`python manage.py forget-customer ID --reason TEXT [--dry-run] [--no-scan] [--no-vacuum]`:
erase a customer (docs/security.md "Forgetting a customer"): every trace of their orders or
carrying the id, index rows, order-status rows, alerts and uploads removed; the audit and the
typical journeys rewritten without the id; the act audited with the customer's pseudonym.
Then VACUUM, so that the id is gone from the database file too."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from explorer.erasure.finding import find_customer
from explorer.erasure.forgetting import forget_customer, give_back_space


class Command(BaseCommand):
    help = "Erase everything stored of a customer (traces, orders, alerts, uploads)."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("customer_id", metavar="ID", help="the customer id, as in the traces")
        parser.add_argument(
            "--reason", required=True, help="why (kept in the audit log, the id as a pseudonym)"
        )
        parser.add_argument("--dry-run", action="store_true", help="only say what would be removed")
        parser.add_argument(
            "--no-scan",
            action="store_true",
            help="only the look-up rows of customer.id and order.id, not every stored span",
        )
        parser.add_argument(
            "--no-vacuum",
            action="store_true",
            help="leave the VACUUM for later (the id stays in the database file until then "
            "on PostgreSQL; on SQLite deleted rows are overwritten with zeros anyway)",
        )
        parser.add_argument("--by", default="", help="who asks, for the audit (default: OS user)")

    def handle(self, *args, **options):
        customer_id = options["customer_id"].strip()
        reason = options["reason"].strip()
        if not customer_id:
            raise CommandError("the customer id is empty")
        if not reason:
            raise CommandError("--reason is empty: say why the customer is forgotten")
        try:
            found = find_customer(customer_id, scan=not options["no_scan"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if found.nothing:
            raise CommandError(
                f"customer {customer_id!r}: nothing stored carries this id (no order, trace, "
                "index row, alert or upload); nothing was changed"
            )
        counts = ", ".join(f"{n} {kind}" for kind, n in found.counts().items())
        if options["dry_run"]:
            self.stdout.write(f"would forget {found.pseudonym}: {counts}")
            return
        done = forget_customer(found, reason, username=(options["by"] or getpass.getuser())[:150])
        if not options["no_vacuum"]:
            give_back_space()
        removed = ", ".join(f"{n} {kind}" for kind, n in done.removed.items())
        rewritten = ", ".join(f"{n} {kind}" for kind, n in done.rewritten.items())
        self.stdout.write(f"forgot {done.pseudonym}: removed {removed}; rewrote {rewritten}")
