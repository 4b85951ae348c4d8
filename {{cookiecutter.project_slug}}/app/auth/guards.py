"""Route guards: dependencies that let a request through only with a right.

Put one on a whole router or on a route; anonymous requests get 401 and
users without the right 403 (logged on ``app.auth``, as events are, but not
stored)::

    router = APIRouter(dependencies=[Depends(require_role("auditor"))])

    @router.delete("/reports/{report_id}")
    async def delete_report(
        report_id: int,
        admin: Annotated[Principal, Depends(require_role("admin"))],
    ) -> None: ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, status

from app.auth.dependencies import CurrentUser
from app.auth.events import note, origin
from app.auth.rbac import Principal

Guard = Callable[[Principal, Request], Awaitable[Principal]]


def _require(right: str, holds: Callable[[Principal], bool]) -> Guard:
    async def guard(principal: CurrentUser, request: Request) -> Principal:
        if not holds(principal):
            note(
                "authorisation.refused",
                user_id=principal.id,
                actor_id=principal.id,
                ip=origin(request)[0],
                detail={"needed": right},
            )
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Not allowed")
        return principal

    return guard


def require_role(name: str) -> Guard:
    """Return a dependency giving the logged-in principal if they hold role ``name``."""
    return _require(f"role {name}", lambda principal: name in principal.roles)
{%- if cookiecutter.rbac == "permissions" %}


def require_permission(name: str) -> Guard:
    """Return a dependency giving the logged-in principal if a role grants ``name``."""
    return _require(
        f"permission {name}", lambda principal: name in principal.permissions
    )


# What the /admin endpoints require; migrations 0003 and 0007 give them to admin.
can_read_users = require_permission("users:read")
can_write_users = require_permission("users:write")
can_read_events = require_permission("events:read")
{%- else %}


# What the /admin endpoints require.
can_read_users = can_write_users = can_read_events = require_role("admin")
{%- endif %}
