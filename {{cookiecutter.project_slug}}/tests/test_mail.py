"""The mail path: backends, TLS modes and authentication, messages, settings."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from app.auth.account_tokens import LIFETIMES, Purpose
from app.config import Settings
from app.mail.backends import ConsoleBackend, SmtpBackend, backend_for
from app.mail.messages import TEMPLATES, render
from app.mail.outbox import Outbox
from app.project import PROJECT_NAME
from tests.cli import start_app
from tests.conftest import MakeSettings
from tests.helpers import TEST_SECRET_KEY
from tests.smtp import PASSWORD as SMTP_PASSWORD
from tests.smtp import (
    USERNAME,
    Mailbox,
    free_port,
    self_signed,
    smtp_server,
    text_of,
)

pytestmark = pytest.mark.anyio

LINK = "https://app.example.com/reset-password?token=abc"


def test_every_message_has_a_subject_text_and_html_naming_the_project() -> None:
    names = {path.stem for path in TEMPLATES.iterdir()}
    assert names == {
        "verify_email",
        "reset_password",
        "confirm_email",
        "email_change_notice",
    }
    for name in names:
        message = render(
            name, to="ada@example.com", link=LINK, hours="1", new_email="a@b.example"
        )
        assert PROJECT_NAME in message.subject
        assert PROJECT_NAME in message.text
        assert message.html.lstrip().startswith("<!doctype html>")
        if name != "email_change_notice":
            assert LINK in message.text
            assert f'href="{LINK}"' in message.html


def test_html_escapes_what_it_is_given() -> None:
    message = render(
        "confirm_email", to="x@example.com", link=LINK, hours="1", new_email="<b>@x"
    )
    assert "&lt;b&gt;@x" in message.html
    assert "<b>@x" in message.text


def test_lifetimes_are_24_hours_to_verify_and_1_hour_otherwise() -> None:
    assert LIFETIMES[Purpose.VERIFY].total_seconds() == 24 * 3600
    assert LIFETIMES[Purpose.RESET].total_seconds() == 3600
    assert LIFETIMES[Purpose.EMAIL].total_seconds() == 3600


def test_console_is_the_default_outside_production_and_smtp_in_it(
    make_settings: MakeSettings,
) -> None:
    assert make_settings().mail_backend == "console"
    assert make_settings(environment="development").mail_backend == "console"
    assert make_settings(environment="production").mail_backend == "smtp"
    assert isinstance(backend_for(make_settings()), ConsoleBackend)
    assert isinstance(backend_for(make_settings(email_backend="smtp")), SmtpBackend)


def test_production_with_the_console_backend_refuses_to_start_in_one_line() -> None:
    env = {
        "ENVIRONMENT": "production",
        "SECRET_KEY": TEST_SECRET_KEY,
        "EMAIL_BACKEND": "console",
    }
    result = start_app(env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Invalid settings: EMAIL_BACKEND=console")


async def test_the_console_backend_logs_the_whole_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = render("reset_password", to="ada@example.com", link=LINK, hours="1")
    with caplog.at_level(logging.INFO, logger="app.mail"):
        await ConsoleBackend("noreply@example.com").send(message)
    assert "To: ada@example.com" in caplog.text
    assert "Subject: " in caplog.text
    assert LINK in caplog.text


def _smtp(settings: MakeSettings, port: int, tls: str, **more: object) -> Settings:
    return settings(
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls=tls,
        email_from="noreply@example.com",
        **more,
    )


async def test_smtp_without_tls_sends_text_and_html(
    make_settings: MakeSettings,
) -> None:
    with smtp_server() as mailbox:
        backend = SmtpBackend(_smtp(make_settings, mailbox.port, "none"))
        await backend.send(
            render("reset_password", to="ada@example.com", link=LINK, hours="1")
        )
    (received,) = mailbox.messages
    assert received["From"] == "noreply@example.com"
    assert received["To"] == "ada@example.com"
    assert LINK in text_of(received)
    assert received.get_body(preferencelist=("html",)) is not None


async def test_smtp_with_starttls_and_authentication(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    with smtp_server(auth=True, starttls=server_tls) as mailbox:
        settings = _smtp(
            make_settings,
            mailbox.port,
            "starttls",
            smtp_username=USERNAME,
            smtp_password=SMTP_PASSWORD,
        )
        await SmtpBackend(settings, tls_context=client_tls).send(
            render("reset_password", to="ada@example.com", link=LINK, hours="1")
        )
    assert len(mailbox.messages) == 1
    assert mailbox.logins


async def test_smtp_with_implicit_tls_and_authentication(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    with smtp_server(auth=True, implicit_tls=server_tls) as mailbox:
        settings = _smtp(
            make_settings,
            mailbox.port,
            "tls",
            smtp_username=USERNAME,
            smtp_password=SMTP_PASSWORD,
        )
        await SmtpBackend(settings, tls_context=client_tls).send(
            render("reset_password", to="ada@example.com", link=LINK, hours="1")
        )
    assert len(mailbox.messages) == 1
    assert mailbox.logins


async def test_starttls_is_required_not_attempted(
    make_settings: MakeSettings,
) -> None:
    # A server that offers no STARTTLS gets nothing in plain text.
    with smtp_server() as mailbox:
        backend = SmtpBackend(_smtp(make_settings, mailbox.port, "starttls"))
        with pytest.raises(Exception, match="STARTTLS"):
            await backend.send(
                render("reset_password", to="ada@example.com", link=LINK, hours="1")
            )
    assert not mailbox.messages


async def test_wrong_smtp_credentials_send_nothing(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    with smtp_server(auth=True, starttls=server_tls) as mailbox:
        settings = _smtp(
            make_settings,
            mailbox.port,
            "starttls",
            smtp_username=USERNAME,
            smtp_password="wrong",
        )
        with pytest.raises(Exception, match=r"(?i)auth"):
            await SmtpBackend(settings, tls_context=client_tls).send(
                render("reset_password", to="ada@example.com", link=LINK, hours="1")
            )
    assert not mailbox.messages


# Deliveries that fail: tried again when the failure may pass, not otherwise.

# Short delays, so that the tests need not wait as long as production does.
QUICK_RETRIES = (0.2, 0.2)


async def _deliver_past(
    make_settings: MakeSettings, refusals: list[str], caplog: pytest.LogCaptureFixture
) -> Mailbox:
    """Send one message, as a job, to a server that first answers ``refusals``.

    Return the server's mailbox once the job is done; ``caplog`` holds what
    the job logged.
    """
    message = render("reset_password", to="ada@example.com", link=LINK, hours="1")
    with smtp_server() as mailbox:
        mailbox.refusals = list(refusals)
        backend = SmtpBackend(_smtp(make_settings, mailbox.port, "none"))
        outbox = Outbox(backend, retry_delays=QUICK_RETRIES)
        with caplog.at_level(logging.WARNING, logger="app.mail"):
            outbox.submit("reset user_id=1", lambda: outbox.send(message))
            await outbox.drain()
    return mailbox


@pytest.mark.parametrize(
    "refusals",
    [["451 4.3.0 Try again later"], ["421 4.7.0 Busy", "452 4.3.1 Full"]],
)
async def test_a_temporary_refusal_is_tried_again(
    make_settings: MakeSettings, refusals: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    mailbox = await _deliver_past(make_settings, refusals, caplog)
    assert mailbox.offered == len(refusals) + 1
    assert len(mailbox.messages) == 1
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == len(refusals)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("refusals", "offered"),
    [
        # Permanent: one try.
        (["554 5.7.1 Rejected"], 1),
        # Temporary every time: three tries, then given up.
        (["451 4.3.0 Try again later"] * 3, 3),
    ],
)
async def test_a_delivery_that_keeps_failing_is_logged_once_and_dropped(
    make_settings: MakeSettings,
    refusals: list[str],
    offered: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailbox = await _deliver_past(make_settings, refusals, caplog)
    assert mailbox.offered == offered
    assert not mailbox.messages
    (failure,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "reset user_id=1" in failure.getMessage()
    assert refusals[-1].split()[0] in failure.getMessage()
    assert "token" not in caplog.text


async def test_a_mail_server_that_comes_back_gets_the_message(
    make_settings: MakeSettings,
) -> None:
    # Nothing listens on the port at first (a server restarting); the
    # server is up before the second try.
    port = free_port()
    outbox = Outbox(
        SmtpBackend(_smtp(make_settings, port, "none")), retry_delays=(1.0, 1.0)
    )
    message = render("reset_password", to="ada@example.com", link=LINK, hours="1")
    outbox.submit("reset user_id=1", lambda: outbox.send(message))
    await asyncio.sleep(0.3)
    assert outbox.pending
    with smtp_server(port=port) as mailbox:
        await outbox.drain()
    assert len(mailbox.messages) == 1
