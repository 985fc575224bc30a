"""`python manage.py backends check`: is every configured trace backend reachable?
`python manage.py backends list`: the configured backends (no secrets)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from explorer.composition import get_source
from explorer.sources.remote import check_source


class Command(BaseCommand):
    help = "List the configured trace backends, or check that each one answers."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["check", "list"])

    def handle(self, *args, action, **options):
        default = settings.EXPLORER_DEFAULT_BACKEND
        failed = []
        for name, backend in settings.EXPLORER_BACKENDS.items():
            marker = " (default)" if name == default else ""
            where = f" {backend['url']}" if backend.get("url") else ""
            if action == "list":
                self.stdout.write(f"{name}{marker}: {backend['kind']}{where}")
                continue
            try:
                found = check_source(get_source(name))
            except Exception as exc:  # any failure is reported, then the next backend is checked
                failed.append(name)
                self.stdout.write(f"FAIL {name}{marker}: {backend['kind']}{where}: {exc}")
            else:
                self.stdout.write(f"ok   {name}{marker}: {backend['kind']}{where}: {found}")
        if failed:
            raise CommandError(f"{len(failed)} backend(s) failed: {', '.join(failed)}")
