"""Dependencies for routes: who is logged in, and what they may do."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.session import current_principal
from app.auth.strategy import Principal

CurrentUser = Annotated[Principal, Depends(current_principal)]
