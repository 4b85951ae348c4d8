"""The bodies of login, refresh and logout."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# token_urlsafe(32) has 43 characters; this only bounds the work of a request.
MAX_REFRESH_TOKEN_LENGTH = 8192


class TokenPair(BaseModel):
    """What login and refresh answer."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 type name
    expires_in: int
    refresh_token: str


class RefreshTokenBody(BaseModel):
    """The body of ``/auth/refresh`` and ``/auth/logout``."""

    refresh_token: str = Field(min_length=1, max_length=MAX_REFRESH_TOKEN_LENGTH)
