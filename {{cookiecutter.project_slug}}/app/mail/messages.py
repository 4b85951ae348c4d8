"""Messages, built from the plain-text and HTML templates in ``templates/``.

A template is ``templates/<name>.txt`` and ``templates/<name>.html``;
the first line of the text one is ``Subject: ...``. Placeholders are
``$name`` (:class:`string.Template`); values are escaped in the HTML part.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from string import Template

from app.project import PROJECT_NAME

TEMPLATES = Path(__file__).with_name("templates")
_SUBJECT = "Subject: "


@dataclass(frozen=True, slots=True)
class Message:
    """One email to one address."""

    to: str
    subject: str
    text: str
    html: str

    def to_email(self, sender: str) -> EmailMessage:
        """Return the message as MIME: plain text with an HTML alternative."""
        email = EmailMessage()
        email["From"] = sender
        email["To"] = self.to
        email["Subject"] = self.subject
        email.set_content(self.text)
        email.add_alternative(self.html, subtype="html")
        return email


def render(name: str, *, to: str, **values: str) -> Message:
    """Build message ``name`` for ``to``; ``project`` is filled in for every one."""
    values = {"project": PROJECT_NAME, **values}
    first, _, body = _template(name, "txt").substitute(values).partition("\n")
    if not first.startswith(_SUBJECT):
        raise ValueError(f"templates/{name}.txt must start with {_SUBJECT!r}")
    escaped = {key: html.escape(value) for key, value in values.items()}
    return Message(
        to=to,
        subject=first.removeprefix(_SUBJECT).strip(),
        text=body.lstrip("\n"),
        html=_template(name, "html").substitute(escaped),
    )


@cache
def _template(name: str, suffix: str) -> Template:
    return Template((TEMPLATES / f"{name}.{suffix}").read_text(encoding="utf-8"))
