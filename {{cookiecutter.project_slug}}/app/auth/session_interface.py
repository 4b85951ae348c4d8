"""The chosen strategy as the rest of the application sees it.

Every strategy package has the same modules for these names, so this one
file serves them all: the template's hook moves it into the chosen package
as ``app/auth/session/interface.py``. mypy checks in :mod:`app.main` that it
is a whole :class:`app.auth.strategy.SessionStrategy`.
"""

from __future__ import annotations

from app.auth.session.lifecycle import (
    LoginResponse,
    cleanup_expired,
    end_sessions,
    install,
    release,
    start_session,
)
from app.auth.session.principal import current_principal
from app.auth.session.routes import login, router

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
