"""The OpenAPI schema declares the refusals each operation can answer."""

from __future__ import annotations

import re

import httpx
import pytest

from app.cors import COOKIE_SESSIONS
from tests.test_access import ACCESS, ADMIN, LOGGED_IN

pytestmark = pytest.mark.anyio

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PARAMETER = re.compile(r"\{[^}]*\}")
# Public, but a wrong code is 401 as a wrong password is at login.
MFA_VERIFY = "POST /auth/mfa/verify"


async def _operations(client: httpx.AsyncClient) -> dict[str, dict[str, object]]:
    """Return each operation of the served schema as test_access.py names it."""
    schema = (await client.get("/openapi.json")).json()
    return {
        f"{method.upper()} {_PARAMETER.sub('{}', path)}": operation
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }


def _statuses(operation: dict[str, object]) -> set[int]:
    responses = operation["responses"]
    assert isinstance(responses, dict)
    return {int(status) for status in responses}


async def test_login_declares_its_refusals(client: httpx.AsyncClient) -> None:
    login = _statuses((await _operations(client))["POST /auth/login"])
    assert {401, 422, 429}.issubset(login), login


async def test_throttled_routes_declare_429(client: httpx.AsyncClient) -> None:
    operations = await _operations(client)
    for name in ("POST /auth/login", "POST /auth/register", "POST /auth/password"):
        assert 429 in _statuses(operations[name]), name
    assert 429 not in _statuses(operations["GET /auth/me"])
    assert _statuses(operations["GET /health"]) == {200}
    assert 409 in _statuses(operations["POST /auth/register"])
    assert 400 in _statuses(operations["POST /auth/password"])


# What each account-recovery and admin route answers besides its success, as
# its own tests show (tests/auth/test_recovery.py, tests/admin/).
_IN_BODY_REFUSALS = {
    "POST /auth/verify/request": {429},
    "POST /auth/verify": {400},
    "POST /auth/password/forgot": {429},
    "POST /auth/password/reset": {400, 503},
    "POST /auth/email": {400, 429, 503},
    "POST /auth/email/confirm": {400, 409},
{%- if cookiecutter.rbac != "none" %}
    "PUT /admin/users/{}/roles": {404},
    "PUT /admin/users/{}/active": {404},
    "DELETE /admin/users/{}/mfa": {404},
{%- endif %}
{%- if cookiecutter.session_strategy == "database" %}
    "DELETE /auth/sessions/{}": {404},
{%- endif %}
}


async def test_recovery_and_admin_routes_declare_their_refusals(
    client: httpx.AsyncClient,
) -> None:
    operations = await _operations(client)
    for name, refusals in _IN_BODY_REFUSALS.items():
        declared = _statuses(operations[name])
        assert refusals <= declared, (name, declared)


async def test_routes_that_need_a_login_declare_401(
    client: httpx.AsyncClient,
) -> None:
    # test_access.py shows that these answer 401 anonymously, and the others
    # do not; the schema says so too.
    for route, operation in (await _operations(client)).items():
        needs_login = ACCESS[route] in {LOGGED_IN, ADMIN}
        if needs_login:
            assert 401 in _statuses(operation), route
        elif route not in {"POST /auth/login", "POST /auth/refresh", MFA_VERIFY}:
            assert 401 not in _statuses(operation), route


async def test_admin_and_csrf_checked_routes_declare_403(
    client: httpx.AsyncClient,
) -> None:
    for route, operation in (await _operations(client)).items():
        method = route.split(" ", 1)[0]
        expected = ACCESS[route] == ADMIN or (COOKIE_SESSIONS and method in _UNSAFE)
        assert (403 in _statuses(operation)) == expected, route


async def test_input_declares_422_and_refusals_have_a_schema(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = await _operations(client)
    assert 422 in _statuses(operations["POST /auth/register"])
    assert 422 not in _statuses(operations["GET /auth/me"])
    detail = operations["GET /auth/me"]["responses"]["401"]  # type: ignore[index]
    reference = detail["content"]["application/json"]["schema"]["$ref"]
    name = reference.rsplit("/", 1)[1]
    assert schema["components"]["schemas"][name]["required"] == ["detail"]


async def test_security_schemes_name_the_real_credentials(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    me = (await _operations(client))["GET /auth/me"]
    assert me.get("security"), me
    if COOKIE_SESSIONS:
        assert sorted(schemes) == ["csrf_token", "session_cookie"]
        assert schemes["session_cookie"]["in"] == "cookie"
        assert schemes["csrf_token"]["name"] == "X-CSRF-Token"
    else:
        # A name a reader understands, not the check's class name.
        assert list(schemes) == ["oauth2_password"]
        (scheme,) = schemes.values()
        assert scheme["type"] == "oauth2"
        assert scheme["flows"]["password"]["tokenUrl"] == "/auth/login"
