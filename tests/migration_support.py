"""Tests of data migrations: the database taken back to an earlier migration, rows written with
the models of then, and forward again to the latest."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@contextmanager
def migrated_back_to(app: str, migration: str) -> Iterator[Apps]:
    """The test database at `migration` of `app` while the block runs (its historical models
    given); migrated forward to the latest migrations afterwards, whatever happened."""
    target = [(app, migration)]
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    try:
        yield executor.loader.project_state(target).apps
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
