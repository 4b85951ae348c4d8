"""Identity: ids are never reused, and every credential is bound to a security stamp.

A credential (cookie, session row, refresh token, access token) of a deleted
user must never authenticate a later account, even one that got the same id;
a new security stamp ends every credential issued before it.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, insert, select, text

from app.auth import service
from app.auth.models import User
from app.state import app_state
from tests.helpers import (
    can_write,
    login_response,
    register,
    session_of,
    session_works,
)

pytestmark = pytest.mark.anyio

BOB = "bob@example.com"
CAROL = "carol@example.com"


async def _delete_user(app: FastAPI, user_id: int) -> None:
    async with app_state(app).sessionmaker() as db:
        await db.execute(delete(User).where(User.id == user_id))
        await db.commit()


async def test_user_ids_are_never_reused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "ada@example.com")
    bob = int(str((await register(client, BOB))["id"]))
    await _delete_user(app, bob)  # the highest id: SQLite's rowid would reuse it
    carol = int(str((await register(client, CAROL))["id"]))
    assert carol > bob


async def test_user_ids_come_from_a_counter_that_never_goes_back(
    app: FastAPI,
) -> None:
    async with app_state(app).engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Without AUTOINCREMENT, SQLite takes the highest rowid plus one.
            ddl = await connection.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = 'users'")
            )
            assert "AUTOINCREMENT" in ddl
        else:
            sequence = await connection.scalar(
                text("SELECT pg_get_serial_sequence('users', 'id')")
            )
            assert sequence is not None


async def test_a_deleted_users_credentials_never_fit_a_later_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    bob = int(str((await register(client, BOB))["id"]))
    logged_in = await login_response(client, BOB)
    await _delete_user(app, bob)
    async with session_of(app, None) as (other, _):
        carol = int(str((await register(other, CAROL))["id"]))
    me = await client.get("/auth/me", headers=_bearer(logged_in))
    # A cookie is refused; a bearer token may answer reads with its own claims
    # until it expires (documented), but never as Carol.
    assert me.status_code == 401 or me.json()["id"] == bob != carol
    assert not await can_write(client, logged_in)
    assert not await session_works(client, logged_in)


async def test_a_credential_does_not_fit_a_new_user_given_the_same_id(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Ids are never reused; should one be (a restored backup, a hand-made
    # row), the security stamp still tells the two accounts apart.
    bob = int(str((await register(client, BOB))["id"]))
    logged_in = await login_response(client, BOB)
    await _delete_user(app, bob)
    async with app_state(app).sessionmaker() as db:
        await db.execute(
            insert(User).values(id=bob, email=CAROL, password_hash="unusable")
        )
        await db.commit()
    me = await client.get("/auth/me", headers=_bearer(logged_in))
    assert me.status_code == 401 or me.json()["email"] == BOB
    assert not await can_write(client, logged_in)
    assert not await session_works(client, logged_in)


async def test_a_new_security_stamp_ends_every_credential(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    bob = int(str((await register(client, BOB))["id"]))
    logged_in = await login_response(client, BOB)
    assert await can_write(client, logged_in)
    async with app_state(app).sessionmaker() as db:
        before = await db.scalar(select(User.security_stamp).where(User.id == bob))
        # The stamp alone: no session row is deleted, no family revoked.
        await service.rotate_security_stamp(db=db, user_id=bob)
        await db.commit()
        after = await db.scalar(select(User.security_stamp).where(User.id == bob))
    assert after != before
    assert len(str(after)) == 32
    assert not await can_write(client, logged_in)
    assert not await session_works(client, logged_in)
    # A new login gets a credential under the new stamp.
    again = await login_response(client, BOB)
    assert await can_write(client, again)


def _bearer(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    if "access_token" in body:
        return {"Authorization": f"Bearer {body['access_token']}"}
    return {}
