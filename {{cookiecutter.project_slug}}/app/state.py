"""What a running application holds, in one typed, frozen object.

:func:`app.main.create_app` builds it once; everything else reaches it
through :func:`app_state`, from a request (``app_state(request.app)``), a
lifespan or a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from app.config import Settings
from app.mail.outbox import Outbox

if TYPE_CHECKING:
    # Only a type: the strategy's modules reach this one through app_state,
    # so importing them here at run time would be a cycle.
    from app.auth.session.state import SessionState


@dataclass(frozen=True, slots=True)
class AppState:
    """The settings, the database, what the session strategy keeps, the outbox."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # The chosen strategy's own state: keys, signers, its database reader.
    session: SessionState
    # Account email, sent in background tasks (app/mail/outbox.py).
    outbox: Outbox


def app_state(app: Starlette) -> AppState:
    """Return the state :func:`app.main.create_app` gave ``app``."""
    state: AppState = app.state.app
    return state
