"""Request and response bodies of ``/auth/mfa/*``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from app.auth.mfa.challenge import MAX_TOKEN_LENGTH
from app.auth.passwords import MAX_LENGTH

TotpCode = Annotated[
    str, Field(pattern=r"^[0-9]{6}$", description="the 6 digits the app shows")
]
# A recovery code is 16 letters and digits, grouped by dashes; spaces,
# dashes and case are ignored.
AnyCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="a TOTP code, or one of the recovery codes",
    ),
]
RecoveryCodeText = Annotated[str, Field(min_length=1, max_length=64)]


class PasswordBody(BaseModel):
    """Body of ``POST /auth/mfa/totp``: the password, once more."""

    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class Enrolment(BaseModel):
    """A pending TOTP secret: scan ``qr_svg`` (or type ``secret``), then confirm."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class ConfirmBody(BaseModel):
    """Body of ``POST /auth/mfa/totp/confirm``: the first code."""

    code: TotpCode


class RecoveryCodes(BaseModel):
    """Recovery codes, shown once: each logs in once in place of a code."""

    recovery_codes: list[str]


class DisableBody(BaseModel):
    """Body of ``DELETE /auth/mfa/totp``: the password and a code."""

    password: str = Field(min_length=1, max_length=MAX_LENGTH)
    code: AnyCode


class VerifyBody(BaseModel):
    """Body of ``POST /auth/mfa/verify``: the login's token and one factor."""

    mfa_token: str = Field(
        min_length=1, max_length=MAX_TOKEN_LENGTH, pattern=r"^[A-Za-z0-9_-]+$"
    )
    code: TotpCode | None = None
    recovery_code: RecoveryCodeText | None = None

    @model_validator(mode="after")
    def _one_factor(self) -> VerifyBody:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("give either code or recovery_code")
        return self
