"""``MFA_REQUIRED_ROLES``: holders of a listed role must turn MFA on first.

Every strategy's session check calls :func:`check_enrollment`, so the rule
holds on every route, present and future, but the few a user needs to
enrol (or to leave).
"""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from app.auth.events import note, origin
from app.auth.rbac import Principal, needs_enrollment
from app.config import Settings

ENROLLMENT_REQUIRED = "MFA enrollment required"
MFA_PREFIX = "/auth/mfa/"
# Where a user who must enrol may still go: who am I, leave, and enrol.
EXEMPT_PATHS = frozenset({"/auth/me", "/auth/logout", "/auth/logout-everywhere"})


def exempt(path: str) -> bool:
    """Whether ``path`` stays open to a user who must enrol."""
    return path in EXEMPT_PATHS or path.startswith(MFA_PREFIX)


def check_enrollment(
    request: Request, settings: Settings, principal: Principal
) -> None:
    """Answer 403 when MFA_REQUIRED_ROLES keeps ``principal`` out of this route."""
    if needs_enrollment(principal, settings) and not exempt(request.url.path):
        note(
            "authorisation.refused",
            user_id=principal.id,
            actor_id=principal.id,
            ip=origin(request)[0],
            detail={"needed": "mfa"},
        )
        raise HTTPException(status.HTTP_403_FORBIDDEN, ENROLLMENT_REQUIRED)
