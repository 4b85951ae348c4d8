"""The application factory and the ASGI application ``app.main:app``."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import cors, docs, errors, health, openapi
{%- if cookiecutter.rbac != "none" %}
from app.admin import router as admin_router
{%- endif %}
from app.auth import rbac, recovery
from app.auth import router as auth_router
from app.auth.flavour import RbacFlavour
from app.auth.mfa import router as mfa_router
from app.auth.session import interface as session
from app.auth.strategy import SessionStrategy
from app.config import Settings, get_settings
from app.db import create_engine, create_sessionmaker
from app.limits import BodySizeLimitMiddleware
from app.mail.backends import backend_for
from app.mail.outbox import Outbox
from app.project import PROJECT_NAME
from app.security import SecurityHeadersMiddleware
from app.state import AppState, app_state

# mypy checks here that the chosen strategy and RBAC flavour have their whole
# interfaces.
_strategy: SessionStrategy = session
_flavour: RbacFlavour = rbac


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for ``settings`` (read from the environment if absent)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What exists once the app is up (modules, classes, routes, settings)
        # lives as long as the process. Frozen, the cycle collector skips it:
        # otherwise each full collection walks all of it while every request
        # in flight waits, and under load the objects of requests in flight,
        # surviving the younger collections, bring one on several times a
        # second (the template's bench/ measured it).
        gc.collect()
        gc.freeze()
        yield
        await release(app)

    app = FastAPI(
        title=PROJECT_NAME,
        lifespan=lifespan,
        # Served by app.docs, without a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.show_docs else None,
    )
    engine = create_engine(settings.database_url, timeout=settings.database_timeout)
    app.state.app = AppState(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        session=session.install(app, settings, engine),
        outbox=Outbox(backend_for(settings)),
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(auth_router.router)
    app.include_router(recovery.router)
    app.include_router(mfa_router.router)
{%- if cookiecutter.rbac != "none" %}
    app.include_router(admin_router.router)
{%- endif %}
    app.include_router(session.router)
    app.include_router(health.readiness)
    openapi.install(app, settings)
    docs.install(app, assets=settings.docs_assets)
    # Inside the security headers, so that a 413 carries them too.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outside the CSRF check and the body limit: a preflight is answered
    # before them, and their refusals carry CORS headers the page can read.
    cors.install(app, settings.cors_origins)
    # Added last, so it wraps everything, refusals of the CSRF check included.
    app.add_middleware(SecurityHeadersMiddleware, production=settings.is_production)
    return app


async def release(app: FastAPI) -> None:
    """Finish sending mail, then close the database connections (at shutdown)."""
    state = app_state(app)
    await state.outbox.close()
    await session.release(state.session)
    await state.engine.dispose()


app = create_app()
