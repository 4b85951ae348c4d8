"""Errors of the token endpoint, with their RFC 6749 5.2 code beside ``detail``."""

from __future__ import annotations

from typing import Literal

from fastapi import HTTPException, status

TokenErrorCode = Literal["invalid_grant", "invalid_request", "unsupported_grant_type"]


class TokenError(HTTPException):
    """A refused login or refresh: ``detail`` plus ``error`` and its description.

    OAuth2 clients read ``error``; the project's own clients keep reading
    ``detail``, which says the same in one line.
    """

    def __init__(
        self, status_code: int, error: TokenErrorCode, description: str
    ) -> None:
        super().__init__(status_code, description)
        self.error = error

    def body(self) -> dict[str, str]:
        """Return the JSON body of the error."""
        description = str(self.detail)
        return {
            "detail": description,
            "error": self.error,
            "error_description": description,
        }


def invalid_request(description: str) -> TokenError:
    """Return the 400 of a token request that lacks or garbles a parameter."""
    return TokenError(status.HTTP_400_BAD_REQUEST, "invalid_request", description)


def invalid_grant(description: str) -> TokenError:
    """Return the 401 of wrong credentials or a bad refresh token.

    RFC 6749 5.2 would answer 400; the project's contract answers 401 (with
    ``WWW-Authenticate``), which clients such as authlib read the same way.
    """
    return TokenError(status.HTTP_401_UNAUTHORIZED, "invalid_grant", description)
