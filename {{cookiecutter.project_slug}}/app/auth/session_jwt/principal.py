"""The check every authenticated request makes: a bearer access token."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.mfa.enrollment import check_enrollment
from app.auth.rbac import Principal, to_principal
from app.auth.session.errors import TokenError
from app.auth.session.store import PRINCIPAL_NOW
from app.state import app_state

# Methods that change nothing: their requests may trust the token's claims.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

logger = logging.getLogger("app.auth.session")


class _BearerToken(OAuth2PasswordBearer):
    """The bearer scheme and the check of its token, as one dependency.

    It reads the Authorization header only (never the URL) and declares the
    scheme in the OpenAPI schema, so the docs page's Authorize button logs
    in. Verifying in the scheme's own call, rather than in a dependency on
    it, spares every authenticated request a level of dependency solving.
    """

    async def __call__(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Principal:
        """Return the principal of the bearer access token, or answer 401.

        A read trusts the token until it expires and reads no database. An
        unsafe request gets the principal as the database has it now, or 401
        when the user is gone, inactive or has a new security stamp. Nothing
        is set on ``response``.
        """
        token = await super().__call__(request)
        if token is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")
        state = app_state(request.app)
        bearer = state.session.tokens.verify(token)
        if bearer is None:
            raise invalid_token()
        if request.method in SAFE_METHODS:
            check_enrollment(request, state.settings, bearer.principal)
            return bearer.principal
        async with state.engine.connect() as connection:
            rows = (
                await connection.execute(PRINCIPAL_NOW, {"uid": bearer.principal.id})
            ).all()
        if not rows or not rows[0].is_active or rows[0].security_stamp != bearer.stamp:
            logger.warning(
                "access token of a changed user refused user_id=%s method=%s",
                bearer.principal.id,
                request.method,
            )
            raise invalid_token()
        principal = to_principal(rows)
        check_enrollment(request, state.settings, principal)
        return principal


current_principal = _BearerToken(
    tokenUrl="/auth/login",
    scheme_name="oauth2_password",
    description="POST /auth/login with the OAuth2 password form, or Authorize.",
    auto_error=False,
)

CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def invalid_token() -> HTTPException:
    """Return the 401 of an access token that is not (or no longer) good."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "Invalid or expired token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


async def bearer_challenge(request: Request, error: Exception) -> Response:
    """Name the bearer scheme on every 401 (RFC 6750 3), login failures included.

    A token endpoint's error also carries its RFC 6749 5.2 fields.
    """
    if not isinstance(error, StarletteHTTPException):  # pragma: no cover
        raise error  # registered for HTTPException alone
    headers = dict(error.headers or {})
    if error.status_code == status.HTTP_401_UNAUTHORIZED:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if isinstance(error, TokenError):
        return JSONResponse(error.body(), error.status_code, headers=headers)
    return await http_exception_handler(
        request, StarletteHTTPException(error.status_code, error.detail, headers)
    )
