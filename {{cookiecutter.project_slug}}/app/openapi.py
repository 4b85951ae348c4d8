"""The refusals each operation can answer, declared in the OpenAPI schema.

FastAPI declares 422 where a route takes input; the others come from what a
route depends on (a dependency of the session strategy answers 401, a guard
of :mod:`app.auth.guards` 403, the login form 401, 429 and 503), from what a few
routes do in their own body (``_IN_BODY``), and, for the cookie strategies,
from the CSRF check, which may refuse any unsafe request with 403, and from
``MFA_REQUIRED_ROLES`` when it is set (403 on every route a user who must
enrol is kept out of).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from app.auth import session
{%- if cookiecutter.session_strategy != "jwt" %}
from app.auth.cookies import session_cookie_name
{%- endif %}
from app.auth.credentials import counted_attempt, verified_user
from app.auth.mfa.enrollment import exempt
from app.config import Settings
from app.cors import COOKIE_SESSIONS

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
GUARDS_MODULE = "app.auth.guards"
ERROR_SCHEMA = "ErrorDetail"
DESCRIPTIONS = {
    400: "Refused: see detail (a wrong current password, a bad grant)",
    401: "Not logged in, or wrong credentials",
    403: "Not allowed",
    404: "Not found: see detail",
    409: "Conflict: see detail (a taken email, MFA already on or off)",
    429: "Too many attempts; see Retry-After",
    503: "Busy or database unavailable; see Retry-After",
}
CSRF_DESCRIPTION = "Not allowed, or refused by the CSRF check"
# The names the docs page shows for the cookie strategies' credentials.
SESSION_SCHEME = "session_cookie"
CSRF_SCHEME = "csrf_token"
# Routes that call the session check in their own body (see app.auth.router).
_CHECK_IN_BODY = frozenset({"GET /auth/me"})
# What routes refuse in their own body, where their dependencies do not show it.
_IN_BODY: dict[str, frozenset[int]] = {
    # Counted per client, each registration costing a hash.
    "POST /auth/register": frozenset({409, 429, 503}),
    # Throttled like a login; the new password is hashed.
    "POST /auth/password": frozenset({400, 429, 503}),
    # A refresh token that is unknown, spent, revoked or expired (jwt).
    "POST /auth/refresh": frozenset({401}),
    # Two-factor authentication: a wrong password or code, MFA already on
    # (or off); the password is throttled and hashed like a login's.
    "POST /auth/mfa/totp": frozenset({401, 409, 429, 503}),
    "POST /auth/mfa/totp/confirm": frozenset({401, 409}),
    "DELETE /auth/mfa/totp": frozenset({401, 409, 429, 503}),
    # A wrong code or a bad mfa_token; wrong codes count like failed logins.
    "POST /auth/mfa/verify": frozenset({401, 429}),
    # Account recovery: one 400 for every token that is not good; requests
    # for mail are counted; a new password is hashed.
    "POST /auth/verify/request": frozenset({429}),
    "POST /auth/verify": frozenset({400}),
    "POST /auth/password/forgot": frozenset({429}),
    "POST /auth/password/reset": frozenset({400, 503}),
    "POST /auth/email": frozenset({400, 429, 503}),
    "POST /auth/email/confirm": frozenset({400, 409}),
{%- if cookiecutter.rbac != "none" %}
    # The user named in the path may not exist.
    "PUT /admin/users/{user_id}/roles": frozenset({404}),
    "PUT /admin/users/{user_id}/active": frozenset({404}),
    "DELETE /admin/users/{user_id}/mfa": frozenset({404}),
{%- endif %}
{%- if cookiecutter.session_strategy == "database" %}
    # The session named in the path may not be the caller's, or may not exist.
    "DELETE /auth/sessions/{session_id}": frozenset({404}),
{%- endif %}
{%- if cookiecutter.session_strategy == "jwt" %}
    # The RFC 6749 token endpoint: a malformed or unsupported grant is 400.
    "POST /auth/login": frozenset({400, 401, 429, 503}),
{%- endif %}
}


def install(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` declare each operation's refusals."""
    build = app.openapi
    declared: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = build()
        # FastAPI keeps its schema until the routes change: declare once per build.
        if not declared or declared[-1] is not schema:
            declare(app, schema, settings)
            declared[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def declare(app: FastAPI, schema: dict[str, Any], settings: Settings) -> None:
    """Add the refusals, and the cookie strategies' security schemes, to ``schema``."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})[ERROR_SCHEMA] = {
        "title": ERROR_SCHEMA,
        "type": "object",
        "properties": {"detail": {"type": "string", "title": "Detail"}},
        "required": ["detail"],
    }
    schemes = _security_schemes(settings)
    # Only with RBAC does the setting exist.
    enrolment_roles = getattr(settings, "mfa_required_roles", None)
    if schemes:
        components.setdefault("securitySchemes", {}).update(schemes)
    for route in _api_routes(app.routes):
        calls = set(_calls(route.dependant))
        for method in sorted(route.methods or ()):
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:  # not in the schema
                continue
            key = f"{method} {route.path_format}"
            needs_login = key in _CHECK_IN_BODY or _checks_session(calls)
            statuses = _refusals(key, calls) | ({401} if needs_login else set())
            unsafe = method not in SAFE_METHODS
            if COOKIE_SESSIONS and unsafe:
                statuses.add(403)
            if needs_login and enrolment_roles and not exempt(route.path_format):
                statuses.add(403)  # MFA_REQUIRED_ROLES
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                description = DESCRIPTIONS[status]
                if status == 403 and COOKIE_SESSIONS and unsafe:
                    description = CSRF_DESCRIPTION
                responses.setdefault(str(status), _response(description))
            if schemes and needs_login:
                # The cookie's check declares its scheme alone; unsafe
                # requests need the CSRF header too.
                names = [SESSION_SCHEME, CSRF_SCHEME] if unsafe else [SESSION_SCHEME]
                operation["security"] = [{name: [] for name in names}]


def _checks_session(calls: set[Callable[..., Any]]) -> bool:
    # Every dependency of the strategy reads the session (current_principal,
    # the database strategy's current_session), and every guard needs one.
    packages = (session.__name__, GUARDS_MODULE)
    return any(
        _within(getattr(call, "__module__", ""), package)
        for call in calls
        for package in packages
    )


def _refusals(key: str, calls: set[Callable[..., Any]]) -> set[int]:
    statuses = set(_IN_BODY.get(key, ()))
    if any(_within(getattr(call, "__module__", ""), GUARDS_MODULE) for call in calls):
        statuses.add(403)
    if verified_user in calls:
        statuses.update({401, 429, 503})
    if counted_attempt in calls:
        statuses.add(429)
    return statuses


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def _security_schemes(settings: Settings) -> dict[str, Any]:
{%- if cookiecutter.session_strategy == "jwt" %}
    # The bearer scheme is declared by the session check itself.
    return {}
{%- else %}
    return {
        # Replaces what the check's own scheme says, with the cookie's real
        # name in production (``__Host-session``).
        SESSION_SCHEME: {
            "type": "apiKey",
            "in": "cookie",
            "name": session_cookie_name(settings),
            "description": "Set by POST /auth/login; the browser sends it.",
        },
        CSRF_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRF-Token",
            "description": (
                "The value of the csrftoken cookie, on unsafe requests; "
                "the /docs page sends it itself."
            ),
        },
    }
{%- endif %}


def _response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
            }
        },
    }


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # Recent FastAPI keeps an included router whole rather than copying
        # its routes into the app's (the routers here carry their prefix).
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(router.routes)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)
