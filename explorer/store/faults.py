"""What a database error says about the database, for those who must answer meanwhile: the
receiver (503 / UNAVAILABLE, so that the exporters retry) and the pages (a 503 page).

Two faults pass by themselves and call for "retry later", not for a report of a bug: the
database cannot be reached (down, restarting, its connection cut, SQLite locked past its
timeout) and its disk is full. Anything else (a row the database refuses, a bad query) is a
fault of what was sent or of the code."""

from __future__ import annotations

from django.db import DatabaseError, InterfaceError, OperationalError

# sqlite3's extended error code for "database or disk is full" (its primary code, 13).
SQLITE_FULL = 13
# PostgreSQL's SQLSTATE disk_full (class 53, insufficient resources).
POSTGRESQL_DISK_FULL = "53100"


def disk_full(exc: BaseException) -> bool:
    """Whether the database refused a write for want of disk space."""
    cause = exc.__cause__ if isinstance(exc, DatabaseError) and exc.__cause__ else exc
    if getattr(cause, "sqlite_errorcode", None) == SQLITE_FULL:
        return True
    return getattr(cause, "sqlstate", None) == POSTGRESQL_DISK_FULL


def unavailable(exc: BaseException) -> bool:
    """Whether the error says the database is out of reach or out of space for now (retry
    later), not that something was wrong with the request."""
    return isinstance(exc, OperationalError | InterfaceError) or disk_full(exc)
