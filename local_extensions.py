"""Jinja filters of this template, loaded by cookiecutter (``_extensions``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from cookiecutter.utils import simple_filter

PRE_GEN_HOOK = Path(__file__).resolve().parent / "hooks" / "pre_gen_project.py"

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


@simple_filter
def check_answers(answers: Mapping[str, Any]) -> str:
    """Stop with one ``ERROR:`` line (exit status 1) when the answers are bad.

    cookiecutter.json renders this last (``__checked_answers``), in the
    cookiecutter process, before any folder exists: nothing is left to clean
    up, and no hook failure traceback follows the line. The checks are the
    pre-generation hook's own (which still runs, for replays).
    """
    problems = _pre_gen_hook().validate(
        {key: str(value) for key, value in answers.items()}
    )
    if problems:
        raise SystemExit(f"ERROR: {problems[0]}")
    return "yes"


def _pre_gen_hook() -> ModuleType:
    """Import the pre-generation hook unrendered (its Jinja sits under main)."""
    spec = importlib.util.spec_from_file_location("_pre_gen_project", PRE_GEN_HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
