"""``/admin/*``: listing users, setting their roles, deactivating them, MFA
resets; events.

Each endpoint names the right it needs (see :mod:`app.auth.guards`), and
``tests/test_access.py`` checks it for every route of the app.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from sqlalchemy import select

from app.admin.schemas import ActiveUpdate, AdminUserRead, RolesUpdate
from app.auth import events
from app.auth.events import EventType, record
from app.auth.guards import can_read_events, can_read_users, can_write_users
from app.auth.mfa import service as mfa_service
from app.auth.models import User
from app.auth.rbac import Principal
from app.auth.roles import UnknownRoleError, roles_by_user, set_roles
from app.auth.schemas import MAX_ID, EventRead
from app.auth.session import interface as session
from app.db import SessionDep

router = APIRouter(prefix="/admin", tags=["admin"])

# Ids and offsets beyond a 32-bit integer column are refused (422) before
# they reach the database.
MAX_INT = MAX_ID
UserId = Annotated[int, Path(ge=1, le=MAX_INT)]


@router.get("/users", dependencies=[Depends(can_read_users)])
async def list_users(
    db: SessionDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AdminUserRead]:
    """List users by id, with their roles."""
    users = (
        await db.scalars(select(User).order_by(User.id).offset(offset).limit(limit))
    ).all()
    roles = await roles_by_user(db, [user.id for user in users])
    return [_read(user, roles[user.id]) for user in users]


@router.put("/users/{user_id}/roles")
async def put_user_roles(
    user_id: UserId,
    body: RolesUpdate,
    principal: Annotated[Principal, Depends(can_write_users)],
    request: Request,
    db: SessionDep,
) -> AdminUserRead:
    """Replace the user's roles with the given ones."""
    # Locked (on PostgreSQL) so that two concurrent updates apply one after
    # the other instead of colliding.
    user = await db.get(User, user_id, with_for_update=True)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "User not found")
    previous = (await roles_by_user(db, [user.id]))[user.id]
    try:
        await set_roles(db, user, body.roles)
    except UnknownRoleError as error:
        # 422 as a literal (Starlette renamed its constant), in the shape of
        # FastAPI's validation errors, as the schema documents it.
        message = f"Unknown role: {error}"
        detail = [{"type": "value_error", "loc": ["body", "roles"], "msg": message}]
        raise HTTPException(422, detail) from None
    roles = await roles_by_user(db, [user.id])
    record(
        db,
        EventType.USER_ROLES_CHANGED,
        request,
        user_id=user.id,
        actor_id=principal.id,
        detail={"roles": roles[user.id], "previous": previous},
    )
    await db.commit()
    return _read(user, roles[user.id])


@router.put("/users/{user_id}/active")
async def put_user_active(
    user_id: UserId,
    body: ActiveUpdate,
    principal: Annotated[Principal, Depends(can_write_users)],
    request: Request,
    db: SessionDep,
) -> AdminUserRead:
    """Activate or deactivate a user; deactivation ends every session of the user."""
    user = await db.get(User, user_id, with_for_update=True)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "User not found")
    user.is_active = body.is_active
    if not body.is_active:
        await session.end_sessions(db, user.id)
    activity = (
        EventType.USER_ACTIVATED if body.is_active else EventType.USER_DEACTIVATED
    )
    record(db, activity, request, user_id=user.id, actor_id=principal.id)
    await db.commit()
    await db.refresh(user)
    roles = await roles_by_user(db, [user.id])
    return _read(user, roles[user.id])


@router.get("/events", dependencies=[Depends(can_read_events)])
async def list_events(
    db: SessionDep,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    type: Annotated[EventType | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> list[EventRead]:
    """List security events, newest first, of one user or type if asked.

    The next page is ``before`` the last id of this one.
    """
    found = await events.page(
        db, limit=limit, before=before, user_id=user_id, type=type
    )
    return [EventRead.of(event) for event in found]


@router.delete("/users/{user_id}/mfa", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user_mfa(
    user_id: UserId,
    principal: Annotated[Principal, Depends(can_write_users)],
    request: Request,
    db: SessionDep,
) -> None:
    """Turn off the user's two-factor authentication (a lost phone); ends sessions.

    The user logs in with the password alone, and may enrol again.
    """
    user = await db.get(User, user_id, with_for_update=True)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "User not found")
    await mfa_service.remove(db, user)
    await session.end_sessions(db, user.id)
    record(
        db,
        EventType.MFA_DISABLED,
        request,
        user_id=user.id,
        actor_id=principal.id,
        detail={"reset": "admin"},
    )
    await db.commit()


def _read(user: User, roles: list[str]) -> AdminUserRead:
    return AdminUserRead(
        id=user.id, email=user.email, is_active=user.is_active, roles=roles
    )
