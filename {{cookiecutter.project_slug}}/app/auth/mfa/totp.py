"""TOTP (RFC 6238): 160-bit secrets, 30-second steps, a window of one step."""

from __future__ import annotations

import base64
import hmac
import secrets
import time

import pyotp
import segno

from app.project import PROJECT_NAME

SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation
STEP_SECONDS = 30
# Steps accepted either side of the current one, for clocks that drift.
WINDOW = 1
DIGITS = 6


def new_secret() -> bytes:
    """Return a fresh random secret."""
    return secrets.token_bytes(SECRET_BYTES)


def encoded(secret: bytes) -> str:
    """Return the secret as authenticator apps take it: base32, no padding."""
    return base64.b32encode(secret).decode().rstrip("=")


def otpauth_uri(secret: bytes, email: str) -> str:
    """Return the ``otpauth://totp/...`` URI that a QR code carries."""
    return pyotp.TOTP(
        encoded(secret), digits=DIGITS, interval=STEP_SECONDS
    ).provisioning_uri(name=email, issuer_name=PROJECT_NAME)


def qr_svg(uri: str) -> str:
    """Return the URI as a QR code, an inline SVG element."""
    return segno.make(uri, error="m").svg_inline(scale=4, border=4)


def current_step(now: float | None = None) -> int:
    """Return the time step of ``now`` (default: the present)."""
    return int((time.time() if now is None else now) // STEP_SECONDS)


def matching_step(secret: bytes, code: str, last_step: int | None) -> int | None:
    """Return the step within the window whose code is ``code``, if not used yet.

    Steps at or before ``last_step`` are skipped: a code is accepted once.
    """
    totp = pyotp.TOTP(encoded(secret), digits=DIGITS, interval=STEP_SECONDS)
    now = current_step()
    found = None
    for step in range(now - WINDOW, now + WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        # Compared in constant time, every step compared.
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    return found
