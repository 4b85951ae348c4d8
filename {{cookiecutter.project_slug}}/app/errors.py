"""Error responses that never echo what the client sent."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# FastAPI's default 422 body repeats the offending input, which may be a
# password; keep only where and why.
_KEPT = ("type", "loc", "msg")


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


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RetryLaterError, _retry_later)
