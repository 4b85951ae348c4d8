"""Shape the freshly generated project to the chosen options.

One table says which files belong to which option value; the files of every
value that was not chosen are deleted, and the chosen variant of a module that
has several is moved to its final name. Then a fresh secret key is written into
``.env``. No network is used.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from pathlib import Path

# Paths are relative to the project root. A value missing from an option's
# table owns no files of its own.
OPTION_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "session_strategy": {
        "signed_cookie": (
            "app/auth/session_signed_cookie",
            "app/auth/cookie_login.py",
            "app/auth/cookies.py",
            "app/auth/csrf.py",
            "app/cache.py",
            "tests/auth/test_signed_cookie.py",
            "tests/auth/test_csrf.py",
        ),
        "database": (
            "app/auth/session_database",
            "app/auth/cookie_login.py",
            "app/auth/cookies.py",
            "app/auth/csrf.py",
            "tests/auth/test_csrf.py",
            "migrations/versions/0002_user_session.py",
            "migrations/versions/0005_user_session_stamp.py",
            "tests/auth/test_database_sessions.py",
        ),
        "jwt": (
            "app/auth/session_jwt",
            "app/cache.py",
            "migrations/versions/0002_refresh_token.py",
            "migrations/versions/0005_refresh_token_stamp.py",
            "tests/auth/test_jwt.py",
            "tests/auth/test_token_endpoint.py",
            "tests/auth/test_oauth2_client.py",
        ),
    },
    "rbac": {
        "roles": (
            "app/auth/rbac_roles.py",
            "app/auth/roles.py",
            "app/auth/guards.py",
            "migrations/versions/0003_roles.py",
            "tests/auth/test_rbac.py",
            "tests/auth/test_roles.py",
        ),
        "permissions": (
            "app/auth/rbac_permissions.py",
            "app/auth/roles.py",
            "app/auth/guards.py",
            "migrations/versions/0003_permissions.py",
            "tests/auth/test_rbac.py",
            "tests/auth/test_permissions.py",
        ),
        "none": ("app/auth/rbac_none.py",),
    },
    "database": {
        "sqlite": (
            "app/reader_sqlite.py",
            "app/faults_sqlite.py",
            "tests/database_sqlite.py",
            "tests/test_reader_sqlite.py",
            "tests/test_faults_sqlite.py",
            "compose_sqlite.yaml",
            ".github/workflows/ci_sqlite.yml",
        ),
        "postgresql": (
            "app/reader_postgresql.py",
            "app/faults_postgresql.py",
            "tests/database_postgresql.py",
            "tests/test_reader_postgresql.py",
            "tests/test_faults_postgresql.py",
            "tests/proxy.py",
            "compose_postgresql.yaml",
            ".github/workflows/ci_postgresql.yml",
        ),
    },
}

# Files that, beyond the table above, need one of these values of another
# option. The hot-path reader serves the per-request read of the cookie
# strategies; a jwt project never reads through it.
READER_FILES = (
    "app/prepared.py",
    "app/reader_sqlite.py",
    "app/reader_postgresql.py",
    "tests/test_reader.py",
    "tests/test_reader_sqlite.py",
    "tests/test_reader_postgresql.py",
)
ALSO_NEEDS: dict[str, tuple[str, tuple[str, ...]]] = dict.fromkeys(
    READER_FILES, ("session_strategy", ("signed_cookie", "database"))
)

# Modules (or packages) with one variant per option value, as (option, variant pattern,
# final name): the chosen variant takes the final name.
PROMOTED: tuple[tuple[str, str, str], ...] = (
    ("session_strategy", "app/auth/session_{}", "app/auth/session"),
    ("rbac", "app/auth/rbac_{}.py", "app/auth/rbac.py"),
    ("database", "app/reader_{}.py", "app/reader.py"),
    ("database", "app/faults_{}.py", "app/faults.py"),
    ("database", "tests/database_{}.py", "tests/database.py"),
    ("database", "compose_{}.yaml", "compose.yaml"),
    ("database", ".github/workflows/ci_{}.yml", ".github/workflows/ci.yml"),
)

# Files shared by every variant of a promoted package, moved into the chosen
# one after promotion: (template path, final path).
SHARED_INTO_VARIANT: tuple[tuple[str, str], ...] = (
    ("app/auth/session_interface.py", "app/auth/session/interface.py"),
)

# Directories that only exist for some values.
OPTION_DIRS: dict[str, dict[str, tuple[str, ...]]] = {
    "rbac": {
        "roles": ("app/admin", "tests/admin"),
        "permissions": ("app/admin", "tests/admin"),
    },
}

EXAMPLE_KEY = "change-me-to-a-long-random-string-of-at-least-32-characters"
ENV_HEADER = (
    "# This project's settings, with its own random SECRET_KEY (written once by\n"
    "# the template). Keep this file out of version control.\n"
)


def unchosen_paths(answers: dict[str, str]) -> set[str]:
    """Return the files and folders that belong only to values not chosen."""
    keep: set[str] = set()
    drop: set[str] = set()
    for table in (OPTION_FILES, OPTION_DIRS):
        for option, values in table.items():
            for value, paths in values.items():
                (keep if answers[option] == value else drop).update(paths)
    unneeded = {
        path
        for path, (option, values) in ALSO_NEEDS.items()
        if answers[option] not in values
    }
    return (drop - keep) | unneeded


def remove_unchosen(root: Path, answers: dict[str, str]) -> None:
    """Delete every file and folder of an option value that was not chosen."""
    for relative in sorted(unchosen_paths(answers)):
        path = root / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def promote_variants(root: Path, answers: dict[str, str]) -> None:
    """Move the chosen variant of each multi-variant module to its final name."""
    unchosen = unchosen_paths(answers)
    for option, pattern, target in PROMOTED:
        variant = pattern.format(answers[option])
        if variant not in unchosen:
            (root / variant).rename(root / target)
    for source, target in SHARED_INTO_VARIANT:
        (root / source).rename(root / target)


def write_env(root: Path) -> None:
    """Create ``.env`` from ``.env.example`` with a fresh 384-bit secret key.

    The example's leading comment (how to copy it) gives way to ``ENV_HEADER``.
    """
    example = (root / ".env.example").read_text(encoding="utf-8")
    if EXAMPLE_KEY not in example:
        raise RuntimeError(".env.example lost its SECRET_KEY placeholder")
    lines = example.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    body = "".join(lines).replace(EXAMPLE_KEY, secrets.token_urlsafe(48))
    (root / ".env").write_text(ENV_HEADER + body, encoding="utf-8")


def main(root: Path, answers: dict[str, str]) -> int:
    """Apply the options to the project at ``root``."""
    remove_unchosen(root, answers)
    promote_variants(root, answers)
    write_env(root)
    return 0


if __name__ == "__main__":
    sys.exit(
        main(
            Path.cwd(),
            {
                "session_strategy": {{ cookiecutter.session_strategy | tojson }},
                "rbac": {{ cookiecutter.rbac | tojson }},
                "database": {{ cookiecutter.database | tojson }},
            },
        )
    )
