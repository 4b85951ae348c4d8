"""The strategy as the rest of the application sees it.

mypy checks in :mod:`app.main` that this module is a whole
:class:`app.auth.strategy.SessionStrategy`.
"""

from __future__ import annotations

from app.auth.session.lifecycle import (
    LoginResponse,
    cleanup_expired,
    end_sessions,
    install,
    login,
    release,
    start_session,
)
from app.auth.session.principal import current_principal
from app.auth.session.routes import router

__all__ = [
    "LoginResponse",
    "cleanup_expired",
    "current_principal",
    "end_sessions",
    "install",
    "login",
    "release",
    "router",
    "start_session",
]
