import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import AuditEntry

UNITS = {"d": "days", "h": "hours", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """ "180d", "12w", "36h" -> a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([dhw])\s*", text or "")
    if not match:
        raise ValueError(f"{text!r} is not an age like 180d, 12w or 36h")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = "Deletes audit entries older than the given age (the only way entries are removed)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, help="age such as 180d, 12w or 36h")
        parser.add_argument("--dry-run", action="store_true", help="only count them")

    def handle(self, *args, older_than, dry_run, **options):
        try:
            age = parse_age(older_than)
        except ValueError as exc:
            raise CommandError(f"--older-than: {exc}") from exc
        cutoff = timezone.now() - age
        old = AuditEntry.objects.filter(time__lt=cutoff)
        if dry_run:
            self.stdout.write(f"{old.count()} audit entries older than {cutoff:%Y-%m-%d %H:%M}")
            return
        # QuerySet.delete() bypasses AuditEntry.delete(), which refuses single deletions.
        deleted, _ = old.delete()
        self.stdout.write(f"deleted {deleted} audit entries older than {cutoff:%Y-%m-%d %H:%M}")
