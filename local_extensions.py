"""Jinja filters of this template, loaded by cookiecutter (``_extensions``)."""

from __future__ import annotations

from cookiecutter.utils import simple_filter

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@simple_filter
def python_string(value: str) -> str:
    """Render ``value`` as a Python string literal, written as ruff format writes it.

    Double quotes unless the text holds more double than single quotes; only
    the chosen quote, backslashes and control characters are escaped, so the
    generated code passes ``ruff format --check`` whatever the user typed.
    """
    quote = "'" if value.count('"') > value.count("'") else '"'
    body = "".join(_escape(char, quote) for char in value)
    return f"{quote}{body}{quote}"


def _escape(char: str, quote: str) -> str:
    if char == quote:
        return "\\" + char
    if char in _ESCAPES:
        return _ESCAPES[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\x{ord(char):02x}"
    return char
