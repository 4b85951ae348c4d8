"""``POST /auth/login`` as an RFC 6749 token endpoint, and the refresh grant.

The endpoint takes the password grant (section 4.3; ``grant_type`` may be
left out, as the OAuth2 password form of the other strategies allows) and the
refresh grant (section 6), so that standard OAuth2 clients log in and refresh
with it alone. ``POST /auth/refresh`` runs the same refresh grant with a
JSON body.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Form, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.credentials import INVALID_CREDENTIALS, authenticated_user
from app.auth.login import password_accepted
from app.auth.mfa.challenge import MfaRequired
from app.auth.session import store
from app.auth.session.errors import TokenError, invalid_grant, invalid_request
from app.auth.session.lifecycle import no_store
from app.auth.session.models import RefreshToken
from app.auth.session.schemas import MAX_REFRESH_TOKEN_LENGTH, TokenPair
from app.auth.session.tokens import Tokens
from app.db import SessionDep, utcnow
from app.state import app_state

logger = logging.getLogger("app.auth.session")

INVALID_REFRESH_TOKEN = "Invalid refresh token"  # noqa: S105 - a message


class TokenRequestForm:
    """The token request's form, every field optional.

    So a missing field is answered 400 ``invalid_request`` (RFC 6749 5.2),
    not FastAPI's 422. An empty field counts as missing (RFC 6749 3.2).
    ``scope`` and client credentials are accepted and ignored: the clients
    are public.
    """

    def __init__(
        self,
        grant_type: Annotated[
            str | None,
            Form(description="`password` (the default) or `refresh_token`"),
        ] = None,
        username: Annotated[str | None, Form(description="the email")] = None,
        password: Annotated[
            str | None, Form(json_schema_extra={"format": "password"})
        ] = None,
        refresh_token: Annotated[
            str | None, Form(description="with `grant_type=refresh_token`")
        ] = None,
        scope: Annotated[str | None, Form()] = None,
    ) -> None:
        self.grant_type = grant_type or "password"
        self.username = username or None
        self.password = password or None
        self.refresh_token = refresh_token or None
        self.scope = scope


async def login(
    form: Annotated[TokenRequestForm, Depends()],
    request: Request,
    response: Response,
    db: SessionDep,
) -> TokenPair | MfaRequired:
    """Log in with the OAuth2 password form, or refresh a pair (the refresh grant).

    With MFA on, the password grant answers a token for ``/auth/mfa/verify``.
    """
    if form.grant_type == "refresh_token":
        if form.refresh_token is None:
            raise invalid_request("refresh_token is required")
        return await refresh_grant(request, response, db, form.refresh_token)
    if form.grant_type != "password":
        raise TokenError(
            status.HTTP_400_BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be password or refresh_token",
        )
    if form.username is None or form.password is None:
        raise invalid_request("username and password are required")
    user = await authenticated_user(
        request, db, email=form.username, password=form.password
    )
    if user is None:
        raise invalid_grant(INVALID_CREDENTIALS)
    # With MFA on, no tokens yet: the client answers at /auth/mfa/verify.
    return await password_accepted(request, response, db, user)


async def refresh_grant(
    request: Request, response: Response, db: AsyncSession, refresh_token: str
) -> TokenPair:
    """Spend a refresh token for a new pair; a spent one revokes its family.

    Within ``REFRESH_REUSE_INTERVAL`` of its spending, a spent token answers
    with the successor already issued (and a new access token) instead.
    """
    if len(refresh_token) > MAX_REFRESH_TOKEN_LENGTH:
        raise invalid_request("refresh_token is too long")
    tokens = app_state(request.app).session.tokens
    now = utcnow()
    token_hash = store.hash_token(refresh_token)
    successor = store.successor_of(tokens.keys.successor_key, refresh_token)
    spent = await store.spend(db, token_hash, now)
    if spent is None:
        pair = await _reissued(db, tokens, token_hash, successor)
        if pair is not None:
            no_store(response)
            return pair
        await store.revoke_if_reused(db, token_hash, now, request)
        await db.commit()
        raise invalid_grant(INVALID_REFRESH_TOKEN)
    principal = await store.load_principal(db, spent.user_id, spent.security_stamp)
    if principal is None:  # deactivated or a new stamp: the family ends here
        await store.revoke(db, RefreshToken.family == spent.family, now)
        await db.commit()
        raise invalid_grant(INVALID_REFRESH_TOKEN)
    no_store(response)
    return await store.issue_pair(
        db,
        tokens,
        principal,
        stamp=spent.security_stamp,
        family=spent.family,
        expires_at=spent.expires_at,
        refresh_token=successor,
    )


async def _reissued(
    db: AsyncSession, tokens: Tokens, token_hash: str, successor: str
) -> TokenPair | None:
    # The successor of a token spent within the reuse interval, if it is live.
    interval = tokens.keys.reuse_interval
    if not interval:
        return None
    since = utcnow() - timedelta(seconds=interval)
    spent = await store.spent_since(db, token_hash, store.hash_token(successor), since)
    if spent is None:
        return None
    principal = await store.load_principal(db, spent.user_id, spent.security_stamp)
    if principal is None:
        return None
    await db.rollback()  # nothing written; ends the read at once
    logger.info(
        "spent refresh token presented again within the reuse interval; "
        "answered its successor (user %s)",
        spent.user_id,
    )
    return TokenPair(
        access_token=tokens.issue(principal, spent.security_stamp),
        expires_in=tokens.keys.access_ttl,
        refresh_token=successor,
    )
