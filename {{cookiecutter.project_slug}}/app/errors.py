"""Error responses that never echo what the client sent."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# FastAPI's default 422 body repeats the offending input, which may be a
# password; keep only where and why.
_KEPT = ("type", "loc", "msg")


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    errors = error.errors() if isinstance(error, RequestValidationError) else []
    detail = [{key: item[key] for key in _KEPT if key in item} for item in errors]
    return JSONResponse(
        jsonable_encoder({"detail": detail}),
        status_code=422,
    )


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation_error)
