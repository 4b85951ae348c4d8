"""Validate the answers before anything is written.

Cookiecutter renders this file with Jinja; answers arrive as JSON string
literals (``tojson``) so that quotes or backslashes in a project name are data,
never code. On bad input the hook prints one line and exits non-zero, and
cookiecutter removes the half-made project folder. The same checks run first,
before any folder exists, through ``local_extensions.check_answers``; this
hook still guards what skips them (a replay).
"""

from __future__ import annotations

import re
import sys

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
# A letter or digit in any script: what the default slug is made from.
NAME_LETTER = re.compile(r"[^\W_]")

CHOICES = {
    "session_strategy": ("signed_cookie", "database", "jwt"),
    "rbac": ("roles", "permissions", "none"),
    "database": ("sqlite", "postgresql"),
}


def check_slug(slug: str, name: str = "") -> str | None:
    """Return an error message when the slug cannot name a folder and a package."""
    if not slug and name.strip() and not NAME_LETTER.search(name):
        return (
            f"project_name {name!r} has no letter or digit to make a folder name "
            "from: give another project_name, or a project_slug such as 'my-app'"
        )
    if not SLUG_PATTERN.fullmatch(slug):
        return (
            f"project_slug {slug!r} is not valid: use lower-case letters, digits "
            "and single dashes, starting with a letter (for example 'my-app')"
        )
    return None


def check_choice(option: str, value: str) -> str | None:
    """Return an error message when a choice is not one of the option's values."""
    allowed = CHOICES[option]
    if value not in allowed:
        return f"{option} {value!r} is not one of: {', '.join(allowed)}"
    return None


def validate(answers: dict[str, str]) -> list[str]:
    """Return every problem with the answers, in prompt order."""
    problems = [check_slug(answers["project_slug"], answers["project_name"])]
    problems += [check_choice(option, answers[option]) for option in CHOICES]
    if not answers["project_name"].strip():
        problems.insert(0, "project_name must not be empty")
    return [problem for problem in problems if problem]


def main(answers: dict[str, str]) -> int:
    """Print the first problem on one line and return the exit status."""
    problems = validate(answers)
    if problems:
        print(f"ERROR: {problems[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(
        main(
            {
                "project_name": {{ cookiecutter.project_name | tojson }},
                "project_slug": {{ cookiecutter.project_slug | tojson }},
                "session_strategy": {{ cookiecutter.session_strategy | tojson }},
                "rbac": {{ cookiecutter.rbac | tojson }},
                "database": {{ cookiecutter.database | tojson }},
            }
        )
    )
