#!/usr/bin/env python3
"""What one successful login costs a generated project, in process.

Run it from a generated project's root with that project's Python. It
migrates a fresh SQLite database in a temporary folder, registers one user,
and logs in ``--logins`` times through httpx's ASGI transport (no sockets),
with argon2id at the test suite's tiny cost (one pass over 1 MiB), so that
what is measured is the app's own work around the hash: the throttle, the
queries, the session, the answer. It prints the wall-clock microseconds per
login.

Under callgrind, wall-clock is beside the point: run it twice with different
``--logins`` and divide the difference of the two instruction totals by the
difference of the logins (what set-up and warm-up cost cancels out)::

    valgrind --tool=callgrind --callgrind-out-file=a.out python login_cost.py --logins 50
    valgrind --tool=callgrind --callgrind-out-file=b.out python login_cost.py --logins 250
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())

PASSWORD = "correct horse battery staple"
EMAIL = "bench@example.com"
WARMUP = 20


async def _logins(url: str, count: int) -> float:
    import httpx
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    from app.auth import passwords
    from app.config import Settings
    from app.main import create_app, release

    passwords._hasher = PasswordHash(  # type: ignore[attr-defined]
        (Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        secret_key="bench-secret-key-that-is-long-enough-0123456789",
        database_url=url,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    form = {"username": EMAIL, "password": PASSWORD}
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
        answer = await http.post(
            "/auth/register", json={"email": EMAIL, "password": PASSWORD}
        )
        assert answer.status_code == 201, answer.text
        for _ in range(WARMUP):
            await _login(http, form)
        started = time.perf_counter()
        for _ in range(count):
            await _login(http, form)
        elapsed = time.perf_counter() - started
    await release(app)
    return elapsed


async def _login(http: object, form: dict[str, str]) -> None:
    # A fresh client state each time: no cookie or CSRF token carried over.
    http.cookies.clear()  # type: ignore[attr-defined]
    answer = await http.post("/auth/login", data=form)  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.text


def main() -> None:
    """Migrate, register, log in; print microseconds per login."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=200)
    args = parser.parse_args()
    from alembic import command
    from alembic.config import Config

    # In memory, where there is one: fsync's time is the disk's, not the app's.
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=shm) as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        config = Config("alembic.ini")
        config.attributes["database_url"] = url
        command.upgrade(config, "head")
        elapsed = asyncio.run(_logins(url, args.logins))
    print(f"{args.logins} logins: {elapsed / args.logins * 1e6:.0f} µs each")


if __name__ == "__main__":
    main()
