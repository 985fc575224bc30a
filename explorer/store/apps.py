from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import pre_migrate


def incremental_vacuum_when_created(using: str = "default", **kwargs) -> None:
    """A new SQLite database is created in incremental auto-vacuum mode, so that retention can
    give space back (explorer/store/retention.py). Only while it has no table, and with a
    VACUUM of the empty file: the connection's init_command has already put it in WAL mode,
    which writes its header, and from then on the pragma alone changes nothing. Not on every
    connection: it writes, which fails the connection itself when the disk is full. An older
    database switches at its next VACUUM (`manage.py prune --vacuum`)."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_master")
        if cursor.fetchone()[0] == 0:
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cursor.execute("VACUUM")


class StoreConfig(AppConfig):
    name = "explorer.store"
    label = "store"
    verbose_name = "Embedded trace store"

    def ready(self) -> None:
        from explorer.store import codec, dictionary

        pre_migrate.connect(incremental_vacuum_when_created, sender=self)
        # Chunks name the dictionary they were compressed with; the store keeps them.
        codec.set_dictionary_loader(dictionary.load)
