"""What every session strategy provides.

The chosen strategy is the package :mod:`app.auth.session`; the rest of the
application sees it through :mod:`app.auth.session.interface`, a module that
satisfies :class:`SessionStrategy`, which mypy checks in :mod:`app.main`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.events import EventType
from app.auth.models import User
from app.auth.rbac import Principal
from app.config import Settings

if TYPE_CHECKING:
    # Only a type: the strategy's own modules are imported through this one's
    # importers, never by it.
    from app.auth.session.state import SessionState


class SessionStrategy(Protocol):
    """The interface of a session strategy.

    Its module also defines ``LoginResponse``, the body of a login.
    """

    # /auth/logout and whatever else the strategy serves.
    router: APIRouter

    @property
    def login(self) -> Callable[..., Awaitable[BaseModel]]:
        """The endpoint of ``POST /auth/login``, which :mod:`app.auth.router` adds.

        Its parameters are the form it reads: the OAuth2 password form for
        the cookie strategies; for jwt an RFC 6749 token endpoint, which also
        takes the refresh grant. Its return annotation is the body.
        """

    @property
    def current_principal(self) -> Callable[[Request, Response], Awaitable[Principal]]:
        """The logged-in principal, or 401.

        A FastAPI dependency, which a route may also call itself: a strategy
        may renew its session on ``response``.
        """

    def install(
        self, app: FastAPI, settings: Settings, engine: AsyncEngine
    ) -> SessionState:
        """Add the strategy's middleware to a new application; return its state."""

    async def release(self, state: SessionState) -> None:
        """Close what :meth:`install` opened (at shutdown)."""

    async def start_session(
        self,
        *,
        request: Request,
        response: Response,
        db: AsyncSession,
        user: User,
        event: EventType | None = None,
    ) -> BaseModel:
        """Start a session for ``user`` (login, password change); return the body.

        ``event`` (``login.succeeded``) is recorded in the transaction that
        starts the session, naming it by its public reference; ``db`` is
        committed.
        """

    async def end_sessions(self, db: AsyncSession, user_id: int) -> None:
        """End every session of a user; the caller commits."""

    async def cleanup_expired(self, db: AsyncSession) -> int:
        """Delete stored sessions that ended; return how many. The caller commits."""
