"""Setting and clearing the cookies of cookie-borne sessions."""

from __future__ import annotations

from fastapi import HTTPException, Response, status
from fastapi.security import APIKeyCookie

from app.auth.csrf import CSRF_COOKIE
from app.auth.models import User
from app.auth.schemas import UserRead
from app.config import Settings

# Browsers drop a cookie whose name and value exceed this; never send one.
MAX_COOKIE_BYTES = 4096


class SessionCookieScheme(APIKeyCookie):
    """The session cookie as the OpenAPI schema declares it.

    Each cookie strategy subclasses it with the check of its own cookie, so
    that routes depending on that check show the scheme on the docs page.
    The name shown is the development one; in production the cookie is
    ``__Host-session`` (and the docs page is off unless turned on).
    """

    def __init__(self) -> None:
        super().__init__(
            name="session",
            scheme_name="session_cookie",
            description=(
                "Set by POST /auth/login. Unsafe requests also need the "
                "X-CSRF-Token header (csrf_token)."
            ),
            auto_error=False,
        )


class CookieTooLargeError(RuntimeError):
    """A cookie would exceed what browsers keep."""


def session_cookie_name(settings: Settings) -> str:
    """Return the session cookie's name; ``__Host-`` pins it to this origin."""
    return "__Host-session" if settings.is_production else "session"


def not_authenticated() -> HTTPException:
    """Return the 401 of a request without a live session."""
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")


def set_session_cookie(
    response: Response, settings: Settings, value: str, max_age: int
) -> None:
    """Set the session cookie: ``HttpOnly``, ``SameSite=Lax``, ``Path=/``."""
    _set(response, settings, session_cookie_name(settings), value, max_age, True)


def set_csrf_cookie(
    response: Response, settings: Settings, token: str, max_age: int
) -> None:
    """Set the CSRF cookie, readable by the page's scripts."""
    _set(response, settings, CSRF_COOKIE, token, max_age, False)


def logged_out(settings: Settings) -> Response:
    """Return an empty 204 that expires the session and CSRF cookies."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response, settings)
    return response


def clear_session_cookies(response: Response, settings: Settings) -> None:
    """Expire the session and CSRF cookies."""
    for name, httponly in ((session_cookie_name(settings), True), (CSRF_COOKIE, False)):
        response.delete_cookie(
            name,
            path="/",
            secure=settings.is_production,
            httponly=httponly,
            samesite="lax",
        )


def _set(
    response: Response,
    settings: Settings,
    name: str,
    value: str,
    max_age: int,
    httponly: bool,
) -> None:
    if len(name) + len(value) > MAX_COOKIE_BYTES:
        raise CookieTooLargeError(name)
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=settings.is_production,
        httponly=httponly,
        samesite="lax",
    )


class CookieLogin(UserRead):
    """What a login answers: the user, and the CSRF token of its new session.

    The token is also in the ``csrftoken`` cookie; a front end on another
    origin of the same site cannot read that cookie, so it takes it from here.
    """

    csrf_token: str


def start_cookie_session(
    response: Response,
    settings: Settings,
    *,
    user: User,
    cookie: str,
    csrf_token: str,
) -> CookieLogin:
    """Set a new session's cookies; return the login's answer."""
    set_session_cookie(response, settings, cookie, settings.session_max_age)
    set_csrf_cookie(response, settings, csrf_token, settings.session_max_age)
    return CookieLogin(id=user.id, email=user.email, csrf_token=csrf_token)
