"""Dependencies for routes: who is logged in, and what they may do."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.rbac import Principal
from app.auth.session.interface import current_principal

CurrentUser = Annotated[Principal, Depends(current_principal)]
