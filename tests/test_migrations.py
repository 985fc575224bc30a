"""Migrations: none is missing for the models, and data migrations apply what was true when
they were written (frozen), which for the roles adds up to today's table."""

from __future__ import annotations

import ast
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from accounts.roles import ADMINISTRATOR_MODEL_PERMISSIONS, ROLE_PERMISSIONS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_no_model_change_lacks_its_migration():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # --check exits 1 when a migration would be written
        pytest.fail(
            f"makemigrations --check found changes without a migration:\n"
            f"{out.getvalue()}\n(exit {exc.code})"
        )


def project_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    found += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    # A model module may be named for a field's callable default or a field class of ours
    # (Django writes both itself).
    return [
        m
        for m in found
        if m.split(".")[0] in ("accounts", "explorer") and not m.endswith(".models")
    ]


def test_migrations_import_no_live_project_code():
    migrations = sorted(ROOT.glob("accounts/migrations/0*.py")) + sorted(
        ROOT.glob("explorer/*/migrations/0*.py")
    )
    assert migrations
    offenders = {str(p.relative_to(ROOT)): project_imports(p) for p in migrations}
    assert {p: m for p, m in offenders.items() if m} == {}


@pytest.mark.django_db
def test_the_migrated_role_groups_are_todays_roles():
    expected = {}
    for role, codenames in ROLE_PERMISSIONS.items():
        expected[role] = {f"accounts.{c}" for c in codenames}
        if role == "administrator":
            expected[role] |= {
                f"{app}.{action}_{model}"
                for app, model, actions in ADMINISTRATOR_MODEL_PERMISSIONS
                for action in actions
            }
    found = {
        group.name: {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        for group in Group.objects.all()
    }
    assert found == expected
