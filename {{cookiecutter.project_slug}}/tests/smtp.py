"""A real SMTP server for the tests: aiosmtpd on a free local port.

It runs in a thread of its own (aiosmtpd's ``Controller``) and keeps every
message it receives, so a test reads what the app sent, follows its link
and finishes the flow.
"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import socket
import ssl
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USERNAME = "mailer"
PASSWORD = "mailer-password"
_TOKEN = re.compile(r"\?token=([A-Za-z0-9_\-]+)")


@dataclass
class Mailbox:
    """What the server received, in order."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    # Answers to give to the next messages instead of taking them, in order
    # ("451 4.3.0 Try again later"); and how many messages were offered.
    refusals: list[str] = field(default_factory=list)
    offered: int = 0

    # aiosmtpd calls it by this name.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message, unless a refusal is due."""
        self.offered += 1
        if self.refusals:
            return self.refusals.pop(0)
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """Return the messages sent to ``address``."""
        return [message for message in self.messages if message["To"] == address]

    def token_to(self, address: str, page: str) -> str:
        """Return the token of the last link to ``page`` mailed to ``address``.

        Jobs that run side by side (a registration's verification and a
        reset asked for at once) deliver in either order: the link's page,
        not the order of arrival, tells the messages apart.
        """
        links = [m for m in self.to(address) if f"/{page}?token=" in text_of(m)]
        assert links, f"no link to {page} mailed to {address}"
        return token_in(links[-1], page)

    def last_to(self, address: str) -> EmailMessage:
        """Return the last message sent to ``address``."""
        received = self.to(address)
        assert received, f"no message to {address}; got {len(self.messages)} others"
        return received[-1]


def text_of(message: EmailMessage) -> str:
    """Return the plain-text part of ``message``."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def html_of(message: EmailMessage) -> str:
    """Return the HTML part of ``message``."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    content: str = part.get_content()
    return content


def token_in(message: EmailMessage, page: str) -> str:
    """Return the token of the link to ``page`` in the message's text."""
    text = text_of(message)
    assert f"/{page}?token=" in text, text
    found = _TOKEN.search(text)
    assert found is not None
    return found.group(1)


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    mailbox: Mailbox = server.event_handler
    if isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USERNAME, PASSWORD):
        mailbox.logins.append(mechanism)
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


@contextmanager
def smtp_server(
    *,
    auth: bool = False,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    port: int | None = None,
) -> Iterator[Mailbox]:
    """Serve SMTP on ``port`` (a free one) of 127.0.0.1; yield its mailbox.

    ``auth`` requires a login (``USERNAME``/``PASSWORD``); ``starttls``
    requires STARTTLS with that context; ``implicit_tls`` speaks TLS from
    the first byte.
    """
    mailbox = Mailbox(port=port or free_port())
    options: dict[str, Any] = {}
    if auth:
        # aiosmtpd offers AUTH over implicit TLS only when told TLS is not
        # required (it knows STARTTLS alone), and warns about that.
        options |= {
            "authenticator": _authenticate,
            "auth_required": True,
            "auth_require_tls": implicit_tls is None,
        }
    if starttls is not None:
        options |= {"tls_context": starttls, "require_starttls": True}
    if implicit_tls is not None:
        options |= {"ssl_context": implicit_tls}
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port, **options)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
        controller.start()
        try:
            yield mailbox
        finally:
            controller.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """Accept TCP connections on a free port and never answer; yield the port."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """Make a certificate for 127.0.0.1; return a server and a client context."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl = shutil.which("openssl")
    assert openssl is not None, "the TLS tests need the openssl command"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client
