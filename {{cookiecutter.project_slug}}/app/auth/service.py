"""User accounts: creation and credential checks."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User, new_security_stamp
from app.auth.passwords import (
    MAX_LENGTH,
    hash_password,
    password_problem,
    verify_dummy,
    verify_password,
)


class EmailTakenError(Exception):
    """A user with this email already exists."""


class WeakPasswordError(ValueError):
    """The password does not meet the length rules."""


class WrongPasswordError(Exception):
    """The current password given to change it was wrong."""


def storable(text: str) -> bool:
    # PostgreSQL text cannot hold NUL; such input matches nothing, and must
    # not reach the database as an error.
    return "\x00" not in text and len(text) <= 320


def normalize_email(email: str) -> str:
    """Return the form an email is stored and looked up in."""
    return email.strip().lower()


async def create_user(*, db: AsyncSession, email: str, password: str) -> User:
    """Create and commit a user; raise on a taken email or a weak password."""
    problem = password_problem(password)
    if problem:
        raise WeakPasswordError(problem)
    user = User(
        email=normalize_email(email), password_hash=await hash_password(password)
    )
    db.add(user)
    try:
        await db.flush()
    except IntegrityError as error:
        await db.rollback()
        raise EmailTakenError(email) from error
    return user


async def check_credentials(
    *, db: AsyncSession, email: str, password: str
) -> tuple[User | None, str | None]:
    """Return the user with ``email`` and why the credentials fail, if they do.

    The reason is ``None`` for an active user with this password, else
    ``"unknown_email"`` (and no user), ``"wrong_password"`` or ``"inactive"``.
    Unknown emails and inactive users cost one hash verification too, so the
    answer time does not tell whether an account exists.
    """
    if len(password) > MAX_LENGTH or not storable(email):
        return None, "invalid_input"  # cannot match any account; not worth a hash
    user = await db.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        await verify_dummy(password)
        return None, "unknown_email"
    valid, new_hash = await verify_password(password, user.password_hash)
    if not valid:
        return user, "wrong_password"
    if not user.is_active:
        return user, "inactive"
    if new_hash is not None:
        user.password_hash = new_hash
        await db.commit()
    return user, None


async def rotate_security_stamp(*, db: AsyncSession, user_id: int) -> None:
    """Give the user a new security stamp: every credential issued before ends.

    Each strategy's ``end_sessions`` calls it; the caller commits.
    """
    await db.execute(
        update(User)
        .where(User.id == user_id)
        .values(security_stamp=new_security_stamp())
    )


async def change_password(
    *, db: AsyncSession, user_id: int, current_password: str, new_password: str
) -> User:
    """Check the current password and store the new one; the caller commits."""
    user = await db.get_one(User, user_id)
    if len(current_password) > MAX_LENGTH:
        raise WrongPasswordError
    valid, _ = await verify_password(current_password, user.password_hash)
    if not valid:
        raise WrongPasswordError
    problem = password_problem(new_password)
    if problem:
        raise WeakPasswordError(problem)
    user.password_hash = await hash_password(new_password)
    return user


async def find_user(*, db: AsyncSession, email: str) -> User | None:
    """Return the user with ``email``, whatever its case, or ``None``."""
    return await db.scalar(select(User).where(User.email == normalize_email(email)))


async def set_active(*, db: AsyncSession, email: str, active: bool) -> User | None:
    """Activate or deactivate the user with ``email``; the caller commits."""
    user = await find_user(db=db, email=email)
    if user is not None:
        user.is_active = active
    return user
