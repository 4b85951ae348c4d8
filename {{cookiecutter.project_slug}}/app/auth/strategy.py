"""What every session strategy provides.

The chosen strategy lives in :mod:`app.auth.session`; it is a module that
satisfies :class:`SessionStrategy`, which mypy checks in :mod:`app.main`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User

# The user behind a request, as the chosen RBAC flavour knows it: id and
# email, plus roles (and permissions) where the project has them.
from app.auth.rbac import Principal as Principal
from app.config import Settings


class SessionStrategy(Protocol):
    """The interface of a session strategy module.

    Each module also defines ``LoginResponse``, the body of a login.
    """

    # /auth/login, /auth/logout and whatever else the strategy serves.
    router: APIRouter

    @property
    def current_principal(self) -> Callable[[Request, Response], Awaitable[Principal]]:
        """The logged-in principal, or 401.

        A FastAPI dependency, which a route may also call itself: a strategy
        may renew its session on ``response``.
        """

    def install(self, app: FastAPI, settings: Settings) -> None:
        """Add the strategy's middleware and state to a new application."""

    async def start_session(
        self, *, request: Request, response: Response, db: AsyncSession, user: User
    ) -> BaseModel:
        """Start a session for ``user`` (login, password change); return the body."""

    async def end_sessions(self, db: AsyncSession, user_id: int) -> None:
        """End every session of a user; the caller commits."""

    async def cleanup_expired(self, db: AsyncSession) -> int:
        """Delete stored sessions that ended; return how many. The caller commits."""
