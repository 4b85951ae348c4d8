"""Account endpoints shared by every session strategy."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.security.base import SecurityBase

from app.auth import account_tokens, events, service, throttle
from app.auth.account_mail import submit_verification
from app.auth.account_tokens import Purpose
from app.auth.credentials import counted_attempt, counted_registration, failed
from app.auth.dependencies import CurrentUser
from app.auth.events import EventType, record
from app.auth.models import User
from app.auth.rbac import Principal, grant_default_roles
from app.auth.schemas import (
    MAX_ID,
    EventRead,
    MeRead,
    PasswordChange,
    UserCreate,
    UserRead,
)
from app.auth.session import interface as session
from app.db import SessionDep
from app.errors import BusyError

router = APIRouter(prefix="/auth", tags=["auth"])

JSON = "application/json"


def _declared_security() -> dict[str, Any]:
    # What CurrentUser would add to the route's OpenAPI entry: the scheme the
    # check declares, if it is one, so the docs page still sends credentials.
    check = session.current_principal
    if isinstance(check, SecurityBase):
        return {"security": [{check.scheme_name: []}]}
    return {}


# The route clients call most, so it comes first (routes are matched one by
# one, in the order they are added) and it calls the session check itself
# instead of taking CurrentUser: that spares it FastAPI's solving of one
# dependency, which costs about three times a bearer token's check (measured by
# the template's bench/). The check, its 401 and its cookie renewal are the same.
# Other routes take CurrentUser. It also writes its answer itself: FastAPI
# would validate the model it returns against MeRead and encode it again.
@router.get("/me", response_model=MeRead, openapi_extra=_declared_security())
async def me(request: Request, response: Response) -> Response:
    """Return the logged-in user."""
    principal = await session.current_principal(request, response)
    answer = Response(_me_body(principal), media_type=JSON)
    # What the check set on ``response`` (a renewed cookie) goes with it.
    answer.raw_headers.extend(response.raw_headers)
    return answer


# Answers of /auth/me kept per process (a few hundred bytes each).
ME_BODIES = 4096


@lru_cache(maxsize=ME_BODIES)
def _me_body(principal: Principal) -> bytes:
    # The answer depends on the principal alone, which is immutable, and
    # building it (a model, then its JSON) cost more than a bearer token's
    # whole check. The principal still comes from this request's session
    # check, so nothing here outlives a revocation. The least recently used
    # answer goes first: a flood of users costs rebuilds, never memory.
    return MeRead.of(principal).model_dump_json().encode()


# One login route for every strategy, added here so that it keeps its place;
# the strategy's endpoint says which form it reads and what it answers.
router.add_api_route("/login", session.login, methods=["POST"])


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserRead)
async def register(body: UserCreate, request: Request, db: SessionDep) -> User:
    """Create an account. Fields other than email and password are ignored.

    Each registration costs a password hash, taken address or not (so timing
    tells nothing), and so is counted per client like a failed login. A
    verification link is mailed after the answer.
    """
    await counted_registration(request, db)
    try:
        user = await service.create_user(
            db=db, email=body.email, password=body.password
        )
    except service.EmailTakenError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "A user with this email already exists"
        ) from None
    await grant_default_roles(db, user)
    record(db, EventType.USER_REGISTERED, request, user_id=user.id, actor_id=user.id)
    await db.commit()
    submit_verification(request, user.id, resend=True)
    return user


@router.post("/password")
async def change_password(
    body: PasswordChange,
    principal: CurrentUser,
    request: Request,
    response: Response,
    db: SessionDep,
) -> session.LoginResponse:
    """Change the password; every other session of the user ends.

    This session goes on under a new identity, returned as a login would.
    """
    # The current password can be guessed from a stolen session: throttle it
    # like a login.
    attempt = await counted_attempt(
        request, db, principal.email, during="password_change"
    )
    try:
        user = await service.change_password(
            db=db,
            user_id=principal.id,
            current_password=body.current_password,
            new_password=body.new_password,
        )
    except BusyError:
        await throttle.withdraw(db=db, attempt=attempt)
        raise
    except service.WrongPasswordError:
        detail = {"reason": "wrong_password", "during": "password_change"}
        failed(request, db, user_id=principal.id, detail=detail)
        await db.commit()
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "Current password is incorrect"
        ) from None
    await throttle.succeeded(db=db, attempt=attempt)
    await session.end_sessions(db, user.id)
    # Reset links mailed before are for the old password.
    await account_tokens.void(db, user.id, (Purpose.RESET,))
    record(db, EventType.PASSWORD_CHANGED, request, user_id=user.id, actor_id=user.id)
    await db.commit()
    await db.refresh(user)
    return await session.start_session(
        request=request, response=response, db=db, user=user
    )


@router.get("/events")
async def my_events(
    principal: CurrentUser,
    db: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[EventRead]:
    """List the caller's own security events, newest first.

    The next page is ``before`` the last id of this one. Where someone else
    acted (an admin), their address and user agent are not shown.
    """
    found = await events.page(db, limit=limit, before=before, user_id=principal.id)
    return [EventRead.of(event, viewer=principal.id) for event in found]
