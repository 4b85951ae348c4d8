"""Route guards: dependencies that let a request through only with a right.

Put one on a whole router or on a route; anonymous requests get 401 and
users without the right 403 (logged on ``app.auth``)::

    router = APIRouter(dependencies=[Depends(require_role("auditor"))])

    @router.delete("/reports/{report_id}")
    async def delete_report(
        report_id: int,
        admin: Annotated[Principal, Depends(require_role("admin"))],
    ) -> None: ...
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, status

from app.auth.dependencies import CurrentUser
from app.auth.rbac import Principal

Guard = Callable[[Principal], Awaitable[Principal]]

log = logging.getLogger("app.auth")


def _require(right: str, holds: Callable[[Principal], bool]) -> Guard:
    async def guard(principal: CurrentUser) -> Principal:
        if not holds(principal):
            log.warning(
                "authorisation refused user_id=%s needed=%s", principal.id, right
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


# What the /admin endpoints require; migration 0003 gives both to admin.
can_read_users = require_permission("users:read")
can_write_users = require_permission("users:write")
{%- else %}


# What the /admin endpoints require.
can_read_users = can_write_users = require_role("admin")
{%- endif %}
