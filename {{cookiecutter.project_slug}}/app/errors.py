"""Error responses that never echo what the client sent."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app import faults
from app.security import security_headers
from app.state import app_state

# FastAPI's default 422 body repeats the offending input, which may be a
# password; keep only where and why.
_KEPT = ("type", "loc", "msg")

log = logging.getLogger("app.db")

# Seconds a client is asked to wait after a 503 for an unavailable database.
RETRY_AFTER = 5
UNAVAILABLE = "Service temporarily unavailable; try again later"
# A cause is logged, not answered: the driver's message may name hosts.
_MAX_CAUSE = 300


class DatabaseUnavailableError(Exception):
    """The database did not answer in time; the request gets 503."""


class RetryLaterError(Exception):
    """A refusal that passes with time: its status, with ``Retry-After``."""

    status_code = 503
    detail = "Service busy; try again shortly"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class TooManyAttemptsError(RetryLaterError):
    """Too many attempts from this client or for this account (throttled)."""

    status_code = 429
    detail = "Too many attempts; try again later"


class BusyError(RetryLaterError):
    """The process has no capacity left for this work right now."""


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    errors = error.errors() if isinstance(error, RequestValidationError) else []
    detail = [{key: item[key] for key in _KEPT if key in item} for item in errors]
    return JSONResponse(
        jsonable_encoder({"detail": detail}),
        status_code=422,
    )


async def _retry_later(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, RetryLaterError):  # pragma: no cover
        raise error  # registered for RetryLaterError alone
    return JSONResponse(
        {"detail": error.detail},
        status_code=error.status_code,
        headers={"Retry-After": str(error.retry_after)},
    )


def unavailable_cause(error: BaseException) -> str | None:
    """Return why ``error`` means the database is unavailable; ``None`` for a bug.

    Unavailable: the pool had no free connection in time, a connection failed
    or timed out (``TimeoutError`` is an ``OSError``), or the driver said so
    (:mod:`app.faults`). Anything else, such as a constraint or a missing
    table, is a bug and stays a 500.
    """
    if isinstance(error, DatabaseUnavailableError):
        return str(error)
    if isinstance(error, PoolTimeoutError):
        return "no pooled connection was free within DATABASE_TIMEOUT"
    if isinstance(error, DBAPIError):
        cause = error.orig
        if (
            error.connection_invalidated
            or isinstance(cause, OSError)
            or faults.is_unavailable(cause)
        ):
            return describe(error)
        return None
    if isinstance(error, OSError) or faults.is_unavailable(error):
        return describe(error)
    return None


def describe(error: BaseException | None) -> str:
    """Return ``error`` as its type and message, on one short line."""
    if isinstance(error, DBAPIError):
        # Its own message holds the SQL and its parameters: the driver's
        # error alone says what went wrong.
        error = error.orig
    if error is None:
        return "unknown error"
    message = " ".join(str(error).split()) or repr(error)
    return f"{type(error).__name__}: {message}"[:_MAX_CAUSE]


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    cause = unavailable_cause(error)
    if cause is None:
        raise error
    route = getattr(request.scope.get("route"), "path", request.url.path)
    # One line, no traceback: an outage must not flood the log.
    log.warning("database unavailable: %s %s: %s", request.method, route, cause)
    return JSONResponse(
        {"detail": UNAVAILABLE},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )


async def _server_error(request: Request, error: Exception) -> JSONResponse:
    # Starlette sends this 500 from outside every middleware of the app, so it
    # brings the security headers itself. The server logs the traceback.
    production = app_state(request.app).settings.is_production
    return JSONResponse(
        {"detail": "Internal Server Error"},
        status_code=500,
        headers=security_headers(request.url.path, production=production),
    )


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RetryLaterError, _retry_later)
    # Every failure of the database is answered here, in one place.
    for error in (
        SQLAlchemyError,
        OSError,
        DatabaseUnavailableError,
        *faults.DRIVER_ERRORS,
    ):
        app.add_exception_handler(error, _database_error)
    app.add_exception_handler(Exception, _server_error)
