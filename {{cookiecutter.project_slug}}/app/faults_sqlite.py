"""Which errors of SQLite mean "unavailable now", not a bug.

:mod:`app.errors` answers those with 503; any other error, such as a missing
table, stays a 500.
"""

from __future__ import annotations

import sqlite3

# The driver's own exceptions, as the reader (:mod:`app.reader`) raises them;
# through SQLAlchemy they arrive wrapped, as ``DBAPIError.orig``.
DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)

# Primary result codes: another connection holds the lock past the busy
# timeout ("database is locked"), or the file can't be opened or read.
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
    }
)


def is_unavailable(error: BaseException | None) -> bool:
    """Return whether the driver's ``error`` means the database can't serve now."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _UNAVAILABLE_CODES
