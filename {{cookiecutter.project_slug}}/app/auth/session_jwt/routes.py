"""The strategy's own routes: refresh and logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.auth.events import EventType, record
from app.auth.session import store
from app.auth.session.grants import login, refresh_grant
from app.auth.session.models import RefreshToken
from app.auth.session.principal import CurrentPrincipal
from app.auth.session.schemas import RefreshTokenBody, TokenPair
from app.db import SessionDep, utcnow

__all__ = ["login", "router"]

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/refresh")
async def refresh(
    body: RefreshTokenBody, request: Request, response: Response, db: SessionDep
) -> TokenPair:
    """Spend a refresh token for a new pair; a spent one revokes its family.

    The same as ``POST /auth/login`` with ``grant_type=refresh_token``.
    """
    return await refresh_grant(request, response, db, body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    principal: CurrentPrincipal,
    body: RefreshTokenBody,
    request: Request,
    db: SessionDep,
) -> Response:
    """Revoke the refresh token's family; the access token lives until it expires.

    A refresh token of another user revokes nothing.
    """
    hashed = store.hash_token(body.refresh_token)
    family = await store.family_of(db, hashed, principal.id)
    if family is not None:
        await store.revoke(db, RefreshToken.family == family, utcnow())
    record(
        db,
        EventType.LOGOUT,
        request,
        user_id=principal.id,
        actor_id=principal.id,
        detail={"family": family},
    )
    await db.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
