"""The strategy's own routes: refresh and logout."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, Response, status

from app.auth.session import store
from app.auth.session.lifecycle import no_store
from app.auth.session.models import RefreshToken
from app.auth.session.principal import CurrentPrincipal
from app.auth.session.schemas import RefreshTokenBody, TokenPair
from app.db import SessionDep, utcnow
from app.state import app_state

logger = logging.getLogger("app.auth.session")

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/refresh")
async def refresh(
    body: RefreshTokenBody, request: Request, response: Response, db: SessionDep
) -> TokenPair:
    """Spend a refresh token for a new pair; a spent one revokes its family."""
    now = utcnow()
    token_hash = store.hash_token(body.refresh_token)
    spent = await store.spend(db, token_hash, now)
    if spent is None:
        await store.revoke_if_reused(db, token_hash, now)
        await db.commit()
        raise _invalid_refresh_token()
    principal = await store.load_principal(db, spent.user_id, spent.security_stamp)
    if principal is None:  # deactivated or a new stamp: the family ends here
        await store.revoke(db, RefreshToken.family == spent.family, now)
        await db.commit()
        raise _invalid_refresh_token()
    no_store(response)
    return await store.issue_pair(
        db,
        app_state(request.app).session.tokens,
        principal,
        stamp=spent.security_stamp,
        family=spent.family,
        expires_at=spent.expires_at,
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    principal: CurrentPrincipal, body: RefreshTokenBody, db: SessionDep
) -> Response:
    """Revoke the refresh token's family; the access token lives until it expires.

    A refresh token of another user revokes nothing.
    """
    hashed = store.hash_token(body.refresh_token)
    family = await store.family_of(db, hashed, principal.id)
    if family is not None:
        await store.revoke(db, RefreshToken.family == family, utcnow())
        await db.commit()
    logger.info("logout user_id=%s", principal.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _invalid_refresh_token() -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid refresh token")
