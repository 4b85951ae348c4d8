"""Which errors of PostgreSQL's driver mean "unavailable now", not a bug.

:mod:`app.errors` answers those with 503; any other error stays a 500.
"""

from __future__ import annotations

import asyncpg

# The driver's own exceptions, as the reader (:mod:`app.reader`) raises them;
# through SQLAlchemy they arrive wrapped, as ``DBAPIError.orig``.
DRIVER_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)

# SQLSTATE classes: 08 connection exception, 53 insufficient resources (too
# many connections, out of memory or disk), 57 operator intervention (a
# statement timeout, the server shutting down or starting up).
_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57"})


def is_unavailable(error: BaseException | None) -> bool:
    """Return whether the driver's ``error`` means the database can't serve now."""
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in _UNAVAILABLE_CLASSES:
        return True
    # asyncpg's word for a connection that went away under a query.
    return isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(
        error
    )
