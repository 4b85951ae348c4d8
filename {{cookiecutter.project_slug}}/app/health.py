"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import faults
from app.errors import UNAVAILABLE, DatabaseUnavailableError, describe
from app.state import app_state

router = APIRouter(tags=["health"])
# Included last (app/main.py): FastAPI tries routes in order, and every route
# ahead of /auth/me costs each of its requests a match; a probe can wait.
readiness = APIRouter(tags=["health"])

_SELECT_ONE = text("SELECT 1")
# Whatever the cause, a database that can't run SELECT 1 is not ready.
_FAILURES: tuple[type[Exception], ...] = (
    SQLAlchemyError,
    OSError,
    *faults.DRIVER_ERRORS,
)


@router.get("/health")
async def health() -> dict[str, str]:
    """Answer 200 without touching the database or the session."""
    return {"status": "ok"}


@readiness.get(
    "/health/ready",
    responses={503: {"description": UNAVAILABLE}},
)
async def ready(request: Request) -> dict[str, str]:
    """Answer 200 when the database answers ``SELECT 1`` within DATABASE_TIMEOUT."""
    try:
        async with app_state(request.app).engine.connect() as connection:
            await connection.execute(_SELECT_ONE)
    except _FAILURES as error:
        raise DatabaseUnavailableError(describe(error)) from None
    return {"status": "ok"}
