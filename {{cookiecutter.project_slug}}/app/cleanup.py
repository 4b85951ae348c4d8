"""Deleting what has expired, a batch per transaction.

The clean-up command deletes rows that may number in the millions. In one
transaction that holds SQLite's only write lock until the end, so every
login waits past ``DATABASE_TIMEOUT`` and is answered 503 (``bench/scale.py``
measured two minutes for a million expired sessions). Deleting a batch per
commit lets the writes of requests in between the batches.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import ColumnElement

# Small enough that a batch holds the write lock for a few milliseconds.
BATCH = 1000


async def delete_in_batches(
    db: AsyncSession,
    key: InstrumentedAttribute[int],
    *where: ColumnElement[bool],
    by: InstrumentedAttribute[Any] | None = None,
) -> int:
    """Delete the rows matching ``where``, committing each batch; return how many.

    ``key`` is the table's primary key: the batches walk it upwards, so each
    one starts where the last ended instead of scanning from the start again.
    With ``by``, every row sharing that column's value with a matching row
    goes too (all the tokens of a dead refresh family).
    """
    model = key.class_
    column = key if by is None else by
    removed, last = 0, 0
    while True:
        query = select(key, column).where(*where, key > last).order_by(key)
        rows = (await db.execute(query.limit(BATCH))).all()
        if not rows:
            return removed
        doomed = column.in_({row[1] for row in rows})
        statement = delete(model).where(doomed, *(where if by is None else ()))
        result = await db.execute(
            statement.execution_options(synchronize_session=False)
        )
        await db.commit()
        removed += result.rowcount  # type: ignore[attr-defined]
        last = rows[-1][0]
