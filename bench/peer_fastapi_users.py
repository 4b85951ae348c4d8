"""The peer of the benchmark: a minimal app on fastapi-users, as its docs build one.

Run by ``bench/run.py`` inside its own virtual environment (``bench/.venv-peer``,
``fastapi-users[sqlalchemy]``, ``aiosqlite`` and ``uvicorn[standard]`` from PyPI).
It serves the same paths as a generated project so that one driver loads both:

- ``GET /health``: 200, touches nothing;
- ``POST /auth/register``: JSON ``{"email","password"}`` (fastapi-users' router);
- ``POST /auth/login``: OAuth2 form ``username``/``password``;
- ``GET /auth/me``: ``fastapi_users.current_user(active=True)``, answers
  ``{"id","email"}``.

Environment:

- ``PEER_STRATEGY``: ``jwt`` (``JWTStrategy`` + ``BearerTransport``) or
  ``database`` (``DatabaseStrategy`` on ``SQLAlchemyAccessTokenDatabase`` +
  ``CookieTransport``);
- ``DATABASE_URL``: ``sqlite+aiosqlite:///...``;
- ``SECRET_KEY``: the JWT signing key.

``python peer_fastapi_users.py init-db`` creates the tables (the peer has no
migrations); ``uvicorn peer_fastapi_users:app`` serves.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import (
    AuthenticationBackend,
    BearerTransport,
    CookieTransport,
    JWTStrategy,
)
from fastapi_users.authentication.strategy.db import DatabaseStrategy
from fastapi_users_db_sqlalchemy import (
    SQLAlchemyBaseUserTableUUID,
    SQLAlchemyUserDatabase,
)
from fastapi_users_db_sqlalchemy.access_token import (
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTableUUID,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

STRATEGY = os.environ.get("PEER_STRATEGY", "jwt")
DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./peer.db")
SECRET = os.environ.get("SECRET_KEY", "peer-benchmark-secret-key-of-at-least-32-chars")
# The same lifetimes as a generated project's defaults: 15 min access tokens,
# 12 h database sessions.
JWT_LIFETIME = 15 * 60
SESSION_LIFETIME = 12 * 60 * 60

if STRATEGY not in {"jwt", "database"}:
    raise SystemExit(f"PEER_STRATEGY must be jwt or database, not {STRATEGY!r}")


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    pass


engine = create_async_engine(DATABASE_URL)
session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_async_session() -> AsyncIterator[AsyncSession]:
    async with session_maker() as session:
        yield session


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_async_session)],
) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
    yield SQLAlchemyUserDatabase(session, User)


async def get_access_token_db(
    session: Annotated[AsyncSession, Depends(get_async_session)],
) -> AsyncIterator[SQLAlchemyAccessTokenDatabase[AccessToken]]:
    yield SQLAlchemyAccessTokenDatabase(session, AccessToken)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(
    user_db: Annotated[SQLAlchemyUserDatabase[User, uuid.UUID], Depends(get_user_db)],
) -> AsyncIterator[UserManager]:
    yield UserManager(user_db)


def get_jwt_strategy() -> JWTStrategy[User, uuid.UUID]:
    return JWTStrategy(secret=SECRET, lifetime_seconds=JWT_LIFETIME)


def get_database_strategy(
    access_token_db: Annotated[
        SQLAlchemyAccessTokenDatabase[AccessToken], Depends(get_access_token_db)
    ],
) -> DatabaseStrategy[User, uuid.UUID, AccessToken]:
    return DatabaseStrategy(access_token_db, lifetime_seconds=SESSION_LIFETIME)


if STRATEGY == "jwt":
    backend = AuthenticationBackend(
        name="jwt",
        transport=BearerTransport(tokenUrl="auth/login"),
        get_strategy=get_jwt_strategy,
    )
else:
    backend = AuthenticationBackend(
        name="database",
        # Plain HTTP on loopback: a Secure cookie would be fine for this
        # driver, but say what is sent.
        transport=CookieTransport(cookie_max_age=SESSION_LIFETIME, cookie_secure=False),
        get_strategy=get_database_strategy,
    )


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])
current_active_user = fastapi_users.current_user(active=True)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(title="fastapi-users peer", lifespan=lifespan)
app.include_router(fastapi_users.get_auth_router(backend), prefix="/auth")
app.include_router(
    fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth"
)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/auth/me")
async def me(user: Annotated[User, Depends(current_active_user)]) -> dict[str, str]:
    return {"id": str(user.id), "email": user.email}


async def init_db() -> None:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    await engine.dispose()


if __name__ == "__main__":
    if sys.argv[1:] != ["init-db"]:
        raise SystemExit("usage: python peer_fastapi_users.py init-db")
    asyncio.run(init_db())
