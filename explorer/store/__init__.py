"""The embedded trace store: traces kept in the Django database, indexed for look-ups."""
