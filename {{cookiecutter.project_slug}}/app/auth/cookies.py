"""Setting and clearing the cookies of cookie-borne sessions."""

from __future__ import annotations

from fastapi import Response

from app.auth.csrf import CSRF_COOKIE
from app.config import Settings

# Browsers drop a cookie whose name and value exceed this; never send one.
MAX_COOKIE_BYTES = 4096


class CookieTooLargeError(RuntimeError):
    """A cookie would exceed what browsers keep."""


def session_cookie_name(settings: Settings) -> str:
    """Return the session cookie's name; ``__Host-`` pins it to this origin."""
    return "__Host-session" if settings.is_production else "session"


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
