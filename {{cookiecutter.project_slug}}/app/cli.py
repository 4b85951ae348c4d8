"""The command line: ``python -m app COMMAND``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import account_tokens, events, service, throttle
from app.auth.events import EventType, SecurityEvent, record
from app.auth.mfa import challenge
from app.auth.mfa import service as mfa_service
from app.auth.passwords import password_problem
{%- if cookiecutter.rbac != "none" %}
from app.auth.rbac import (
    UnknownRoleError,
    grant_default_roles,
    grant_roles,
    revoke_roles,
)
from app.auth.roles import roles_by_user
{%- else %}
from app.auth.rbac import grant_default_roles
{%- endif %}
from app.auth.session import interface as session
from app.config import get_database_settings, get_settings
from app.create_database import DatabaseCreationError, create_database
from app.db import create_engine, create_sessionmaker

# What events made by a command say in their detail (no request, no actor).
_BY_COMMAND = {"via": "command line"}


class CommandError(Exception):
    """A failure to report on one line, with a non-zero exit status."""


@asynccontextmanager
async def _database() -> AsyncIterator[AsyncSession]:
    """Open a session on the configured database; close its engine after."""
    engine = create_engine(get_database_settings().database_url)
    try:
        async with create_sessionmaker(engine)() as db:
            yield db
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        message: str | None = asyncio.run(args.handler(args))
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        first_line = str(error).splitlines()[0]
        print(
            f"error: database not ready ({first_line}); "
            "did you run `alembic upgrade head`?",
            file=sys.stderr,
        )
        return 1
    if message is not None:
        print(message)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    create = commands.add_parser(
        "create-user",
        help="create a user; the password is read from standard input",
    )
    create.add_argument("--email", required=True)
    create.add_argument(
        "--verified",
        action="store_true",
        help="mark the address verified (no verification message is sent)",
    )
    create.set_defaults(handler=_create_user)
    for name, active in (("deactivate-user", False), ("activate-user", True)):
        toggle = commands.add_parser(
            name,
            help=f"{name.split('-')[0]} a user"
            + ("; every session of the user ends" if not active else ""),
        )
        toggle.add_argument("--email", required=True)
        toggle.set_defaults(handler=_set_active, active=active)
{%- if cookiecutter.rbac != "none" %}
    create.add_argument(
        "--role", action="append", default=[], dest="roles", metavar="ROLE"
    )
    role_commands = (
        ("grant-role", "give a user roles", grant_roles, "granted {} to"),
        ("revoke-role", "take roles from a user", revoke_roles, "revoked {} from"),
    )
    for name, help_text, change, done in role_commands:
        roles = commands.add_parser(name, help=help_text)
        roles.add_argument("--email", required=True)
        roles.add_argument(
            "--role", action="append", required=True, dest="roles", metavar="ROLE"
        )
        roles.set_defaults(handler=_change_roles, change=change, done=done)
{%- endif %}
    cleanup = commands.add_parser(
        "cleanup-sessions",
        help="delete expired and revoked sessions, old login failures, "
        "expired email tokens and login challenges, and events older than "
        "EVENTS_RETENTION_DAYS",
    )
    cleanup.set_defaults(handler=_cleanup_sessions)
    listing = commands.add_parser(
        "events",
        help="print security events as JSON lines, oldest first",
    )
    listing.add_argument("--email", help="only this user's events")
    listing.add_argument(
        "--since", metavar="ISO-8601", help="only events at or after this time (UTC)"
    )
    listing.set_defaults(handler=_events)
    create_db = commands.add_parser(
        "create-database",
        help="create the database that DATABASE_URL names, unless it exists",
    )
    create_db.set_defaults(handler=_create_database)
    unlock = commands.add_parser(
        "clear-throttle",
        help="forget the failed logins of an account or a client address, "
        "so that it may log in again at once",
    )
    which = unlock.add_mutually_exclusive_group(required=True)
    which.add_argument("--email")
    which.add_argument("--client", metavar="ADDRESS")
    unlock.set_defaults(handler=_clear_throttle)
    reset_mfa = commands.add_parser(
        "reset-mfa",
        help="turn off a user's two-factor authentication (a lost phone); "
        "every session of the user ends",
    )
    reset_mfa.add_argument("--email", required=True)
    reset_mfa.set_defaults(handler=_reset_mfa)
    return parser


async def _create_user(args: argparse.Namespace) -> str:
    email = _valid_email(args.email)
    password = _read_password()
    problem = password_problem(password)
    if problem:
        raise CommandError(problem)
    async with _database() as db:
        try:
            user = await service.create_user(db=db, email=email, password=password)
            user.email_verified = args.verified
            await grant_default_roles(db, user)
{%- if cookiecutter.rbac != "none" %}
            await grant_roles(db, user, args.roles)
{%- endif %}
            record(
                db,
                EventType.USER_REGISTERED,
                None,
                user_id=user.id,
                actor_id=None,
                detail=_BY_COMMAND,
            )
        except service.EmailTakenError:
            raise CommandError(
                f"a user with email {service.normalize_email(email)} already exists"
            ) from None
{%- if cookiecutter.rbac != "none" %}
        except UnknownRoleError as error:
            raise CommandError(f"unknown role {error}") from None
{%- endif %}
        await db.commit()
        return f"created user {user.id} <{user.email}>"
{%- if cookiecutter.rbac != "none" %}


async def _change_roles(args: argparse.Namespace) -> str:
    async with _database() as db:
        user = await service.find_user(db=db, email=args.email)
        if user is None:
            raise CommandError(
                f"no user with email {service.normalize_email(args.email)}"
            )
        previous = (await roles_by_user(db, [user.id]))[user.id]
        try:
            await args.change(db, user, args.roles)
        except UnknownRoleError as error:
            raise CommandError(f"unknown role {error}") from None
        roles = (await roles_by_user(db, [user.id]))[user.id]
        record(
            db,
            EventType.USER_ROLES_CHANGED,
            None,
            user_id=user.id,
            actor_id=None,
            detail={"roles": roles, "previous": previous, **_BY_COMMAND},
        )
        await db.commit()
        done = args.done.format(", ".join(args.roles))
        return f"{done} user {user.id} <{user.email}>"
{%- endif %}


async def _set_active(args: argparse.Namespace) -> str:
    async with _database() as db:
        user = await service.set_active(db=db, email=args.email, active=args.active)
        if user is None:
            raise CommandError(f"no user with email {args.email}")
        if not args.active:
            await session.end_sessions(db, user.id)
        activity = (
            EventType.USER_ACTIVATED if args.active else EventType.USER_DEACTIVATED
        )
        record(db, activity, None, user_id=user.id, actor_id=None, detail=_BY_COMMAND)
        await db.commit()
        state = "activated" if args.active else "deactivated"
        return f"{state} user {user.id} <{user.email}>"


async def _reset_mfa(args: argparse.Namespace) -> str:
    async with _database() as db:
        user = await service.find_user(db=db, email=args.email)
        if user is None:
            raise CommandError(f"no user with email {args.email}")
        await mfa_service.remove(db, user)
        await session.end_sessions(db, user.id)
        record(
            db,
            EventType.MFA_DISABLED,
            None,
            user_id=user.id,
            actor_id=None,
            detail={"reset": "command line"},
        )
        await db.commit()
        return f"two-factor authentication turned off for user {user.id} <{user.email}>"


async def _cleanup_sessions(_args: argparse.Namespace) -> str:
    settings = get_settings()
    async with _database() as db:
        sessions = await session.cleanup_expired(db)
        failures = await throttle.cleanup(db=db, settings=settings)
        tokens = await account_tokens.cleanup_expired(db)
        old = await events.cleanup(db, days=settings.events_retention_days)
        # Unanswered login challenges (mfa_token) past their five minutes.
        await challenge.cleanup_expired(db)
        await db.commit()
    return (
        f"removed {sessions} expired or revoked sessions, "
        f"{failures} old login failures, {tokens} expired email tokens "
        f"and {old} events older than {settings.events_retention_days} days"
    )


async def _events(args: argparse.Namespace) -> None:
    since = None if args.since is None else _instant(args.since)
    query = select(SecurityEvent).order_by(SecurityEvent.id)
    if since is not None:
        query = query.where(SecurityEvent.at >= since)
    async with _database() as db:
        if args.email is not None:
            user = await service.find_user(db=db, email=args.email)
            if user is None:
                raise CommandError(
                    f"no user with email {service.normalize_email(args.email)}"
                )
            query = query.where(SecurityEvent.user_id == user.id)
        # Streamed: a year of events need not fit in memory.
        rows = await db.stream_scalars(query.execution_options(yield_per=500))
        async for event in rows:
            # ASCII (JSON escapes the rest): any terminal or pipe takes it.
            print(json.dumps(_event_json(event)))


def _event_json(event: SecurityEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "type": event.type,
        "user_id": event.user_id,
        "actor_id": event.actor_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": event.detail,
    }


def _instant(text: str) -> datetime:
    """Read an ISO-8601 time; one without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"invalid --since {text!r}: give an ISO-8601 time, "
            "such as 2026-01-31 or 2026-01-31T12:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _create_database(_args: argparse.Namespace) -> str:
    url = get_database_settings().database_url
    try:
        return await create_database(url)
    except (OSError, SQLAlchemyError, DatabaseCreationError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CommandError(f"cannot create the database: {first_line}") from None


async def _clear_throttle(args: argparse.Namespace) -> str:
    if args.email is not None:
        keys = [throttle.account_key(args.email)]
        whom = f"account <{service.normalize_email(args.email)}>"
    else:
        keys = [
            throttle.client_key(args.client),
            throttle.registration_key(args.client),
        ]
        whom = f"client {args.client}"
    async with _database() as db:
        cleared = sum([await throttle.clear(db=db, key=key) for key in keys])
        await db.commit()
    return f"cleared {cleared} counted attempts of {whom}"


def _valid_email(value: str) -> str:
    try:
        return str(TypeAdapter(EmailStr).validate_python(value))
    except ValidationError:
        raise CommandError(f"invalid email address: {value!r}") from None


def _read_password() -> str:
    """Prompt twice on a terminal; otherwise read one line from standard input."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != password:
            raise CommandError("the two passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")
