"""Password hashing with argon2id, always off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.errors import BusyError

MIN_LENGTH = 8
# Long passphrases are welcome; this only bounds the work one request can ask.
MAX_LENGTH = 1024

# argon2id with 64 MiB and 3 passes (RFC 9106's second recommendation), in
# one lane: more lanes start more threads per hash, which compete with the
# event loop for the CPU while the hash runs.
_hasher = PasswordHash((Argon2Hasher(time_cost=3, memory_cost=65536, parallelism=1),))
# Argon2 takes ~100 ms of CPU and releases the GIL; a small bounded pool keeps
# logins from starving the event loop or each other.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="password-hash")
# Hashes running or waiting in this process, at most. Past that a request is
# answered 503 at once: a flood of hashing requests then costs its senders a
# refusal instead of making everyone's login wait behind an unbounded queue.
# Eight is about four hashes' time of waiting with the pool above.
MAX_PENDING = 8
# New hashes (registrations, new passwords) may fill half of it, so that a
# flood of registrations leaves room for logins, which only verify.
MAX_PENDING_NEW = MAX_PENDING // 2

_T = TypeVar("_T")


class _Gate:
    """Counts the hashes running or waiting, and refuses more than ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending = 0

    async def run(
        self, function: Callable[..., _T], *args: str, limit: int | None = None
    ) -> _T:
        """Run ``function`` in the pool, or raise BusyError past ``limit``."""
        if self.pending >= min(self.limit, limit or self.limit):
            raise BusyError(retry_after=1)
        self.pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(_pool, function, *args)
        finally:
            self.pending -= 1


_gate = _Gate(MAX_PENDING)


def password_problem(password: str) -> str | None:
    """Return why a new password is refused, or ``None`` when it is fine."""
    if len(password) < MIN_LENGTH:
        return f"password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must have at most {MAX_LENGTH} characters"
    return None


async def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password``; BusyError when at capacity."""
    return await _gate.run(_hash, password, limit=MAX_PENDING_NEW)


async def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Check ``password``; also return a new hash when the stored one is outdated.

    Raise BusyError when the process is at capacity.
    """
    return await _gate.run(_verify_and_update, password, password_hash)


async def verify_dummy(password: str) -> None:
    """Spend the time of a real verification, so unknown emails cost the same."""
    await _gate.run(_verify_dummy, password)


# Looked up at call time, so that tests can swap the hasher.
def _hash(password: str) -> str:
    return _hasher.hash(password)


def _verify_and_update(password: str, password_hash: str) -> tuple[bool, str | None]:
    return _hasher.verify_and_update(password, password_hash)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("not the password of anyone")


def _verify_dummy(password: str) -> None:
    _hasher.verify(password, _dummy_hash())
