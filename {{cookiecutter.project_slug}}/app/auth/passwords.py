"""Password hashing with argon2id, always off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

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


def password_problem(password: str) -> str | None:
    """Return why a new password is refused, or ``None`` when it is fine."""
    if len(password) < MIN_LENGTH:
        return f"password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must have at most {MAX_LENGTH} characters"
    return None


async def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password``."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, _hasher.hash, password)


async def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Check ``password``; also return a new hash when the stored one is outdated."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _pool, _hasher.verify_and_update, password, password_hash
    )


async def verify_dummy(password: str) -> None:
    """Spend the time of a real verification, so unknown emails cost the same."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(_pool, _verify_dummy, password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("not the password of anyone")


def _verify_dummy(password: str) -> None:
    _hasher.verify(password, _dummy_hash())
