"""CORS for front ends on other origins listed in ``CORS_ORIGINS``.

Without any origin listed no middleware is installed: browsers then keep
every other origin's script from reading the API's answers, as before.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

{%- if cookiecutter.session_strategy == "jwt" %}

# The session is a bearer token in a header: nothing for the browser to send
# by itself, so cross-origin requests go without cookies.
COOKIE_SESSIONS = False
{%- else %}

# The session rides in a cookie, which the browser sends cross-origin only
# to an API that allows credentials.
COOKIE_SESSIONS = True
{%- endif %}
# What the API uses, and the headers its clients send.
ALLOWED_METHODS = ["GET", "POST", "PUT", "DELETE"]
ALLOWED_HEADERS = ["Authorization", "Content-Type", "X-CSRF-Token"]
# Clients told to wait (429, 503) need to read how long.
EXPOSED_HEADERS = ["Retry-After"]
# Seconds a browser may reuse a preflight answer.
PREFLIGHT_MAX_AGE = 600


def install(app: FastAPI, origins: list[str]) -> None:
    """Answer CORS requests from ``origins``; install nothing if there are none.

    Add it after the CSRF middleware, so that it wraps it: a preflight is
    answered before any check, and a refusal carries the CORS headers the
    page needs to read it.
    """
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=COOKIE_SESSIONS,
        allow_methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE,
    )
