"""Where messages go: the log (``console``) or an SMTP server (``smtp``)."""

from __future__ import annotations

import logging
import ssl
from typing import Protocol

import aiosmtplib

from app.config import Settings
from app.mail.messages import Message

log = logging.getLogger("app.mail")


class Backend(Protocol):
    """Delivers one message, or raises."""

    async def send(self, message: Message) -> None:
        """Deliver ``message``."""


class ConsoleBackend:
    """Writes the whole message to the ``app.mail`` log: development and tests only.

    At WARNING, so that it shows with uvicorn's default logging, which gives
    the app's loggers no handler (Python's last resort prints WARNING and up).
    Settings refuse it in production: the links hold live tokens.
    """

    def __init__(self, sender: str) -> None:
        self._sender = sender

    async def send(self, message: Message) -> None:
        """Log ``message``, headers and both parts."""
        log.warning(
            "console email backend, not sent:\n%s", message.to_email(self._sender)
        )


class SmtpBackend:
    """Sends through an SMTP server with aiosmtplib: STARTTLS, TLS or neither."""

    def __init__(self, settings: Settings, tls_context: ssl.SSLContext | None = None):
        # ``tls_context`` replaces the system's trust store (tests, private CAs).
        self._settings = settings
        self._tls_context = tls_context

    async def send(self, message: Message) -> None:
        """Connect, authenticate if configured, send ``message`` and quit."""
        settings = self._settings
        password = settings.smtp_password
        await aiosmtplib.send(
            message.to_email(settings.email_from),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password.get_secret_value() if password else None,
            use_tls=settings.smtp_tls == "tls",
            # True requires STARTTLS (no silent fallback to plain text);
            # False never tries it.
            start_tls=settings.smtp_tls == "starttls",
            tls_context=self._tls_context,
            timeout=settings.smtp_timeout,
        )


def may_pass_later(error: Exception) -> bool:
    """Whether a delivery that failed with ``error`` may pass if tried again soon.

    Yes when the server could not be reached, dropped the connection or timed
    out, or answered 4xx (RFC 5321's transient failures); no for 5xx answers,
    wrong credentials, a server without STARTTLS or a certificate that does
    not verify, which a retry only repeats.
    """
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(may_pass_later(refusal) for refusal in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 400 <= error.code < 500
    # Refused, reset or timed-out connections (aiosmtplib's own included),
    # but not a TLS failure: a certificate that does not verify won't soon.
    return isinstance(error, OSError) and not isinstance(error, ssl.SSLError)


def backend_for(settings: Settings) -> Backend:
    """Return the backend that the settings choose."""
    if settings.mail_backend == "smtp":
        return SmtpBackend(settings)
    return ConsoleBackend(settings.email_from)
