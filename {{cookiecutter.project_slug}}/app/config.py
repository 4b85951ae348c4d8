"""Settings, read from the environment and ``.env``."""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from typing import Annotated, Literal

{% if cookiecutter.session_strategy == "jwt" -%}
import jwt
{% endif -%}
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
{%- if cookiecutter.session_strategy == "jwt" or cookiecutter.database == "postgresql" %}

from app.project import {% if cookiecutter.database == "postgresql" %}DATABASE_NAME{% if cookiecutter.session_strategy == "jwt" %}, {% endif %}{% endif %}{% if cookiecutter.session_strategy == "jwt" %}PROJECT_SLUG{% endif %}
{%- endif %}

EXAMPLE_SECRET_KEY = "change-me-to-a-long-random-string-of-at-least-32-characters"  # noqa: S105 - the placeholder that production refuses
MIN_SECRET_KEY_LENGTH = 32

Environment = Literal["development", "test", "production"]
# scheme://host[:port], as browsers send it in the Origin header.
_ORIGIN = re.compile(
    r"https?://([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[0-9]{1,5})?"
)
{%- if cookiecutter.rbac != "none" %}
_ROLE_NAME = re.compile(r"[A-Za-z0-9_:.-]{1,64}")
{%- endif %}


class DatabaseSettings(BaseSettings):
    """What migrations and the command line need: the database, nothing secret."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

{%- if cookiecutter.database == "postgresql" %}
    database_url: str = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE_NAME}"
{%- else %}
    database_url: str = "sqlite+aiosqlite:///./app.db"
{%- endif %}
    # Seconds the app waits for the database: to connect, for a pooled
    # connection, for each statement and for a lock; then it answers 503.
    database_timeout: float = Field(default=5, gt=0)


class Settings(DatabaseSettings):
    """Everything the application reads from its environment."""

    environment: Environment = "development"
    secret_key: SecretStr | None = None
    # Older keys that still verify (newest first); only SECRET_KEY signs.
    secret_key_fallbacks: list[SecretStr] = Field(default_factory=list)
{%- if cookiecutter.session_strategy != "jwt" %}
    # Seconds of inactivity after which a session ends.
    session_idle_timeout: int = Field(default=30 * 60, gt=0)
    # Seconds after login after which a session ends, active or not.
    session_max_age: int = Field(default=12 * 60 * 60, gt=0)
    # Origins (scheme://host[:port]) besides the app's own that may send
    # state-changing requests with the session cookie.
    trusted_origins: list[str] = Field(default_factory=list)
{%- endif %}
    # Origins of front ends that call the API from the browser: a
    # comma-separated list, empty by default.
{%- if cookiecutter.session_strategy == "jwt" %} They get CORS, without
    # cookies: the tokens travel in the Authorization header.
{%- else %} They get CORS, with cookies,
    # and are trusted like TRUSTED_ORIGINS.
{%- endif %}
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    docs_enabled: bool | None = None
    # Where /docs loads Swagger UI from: "local" (served by the app, from the
    # swagger-ui-bundle-v2 package; works offline) or "cdn" (jsDelivr).
    docs_assets: Literal["local", "cdn"] = "local"
    # Failed logins allowed within LOGIN_FAILURE_WINDOW seconds, per account
    # and per client address, before further attempts get 429.
    login_failures_per_account: int = Field(default=5, gt=0)
    login_failures_per_client: int = Field(default=20, gt=0)
    login_failure_window: int = Field(default=15 * 60, gt=0)
    # Registrations allowed from one client address within REGISTRATION_WINDOW
    # seconds: each costs a password hash, taken address or not.
    registrations_per_client: int = Field(default=20, gt=0)
    registration_window: int = Field(default=60 * 60, gt=0)
    # A request body larger than this is refused with 413 before it is read.
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # Days security events are kept; the cleanup command drops older ones.
    events_retention_days: int = Field(default=365, ge=1, le=36500)
    # Account email (app/mail/, app/auth/recovery.py). Links in messages are
    # PUBLIC_URL/<page>?token=...; the client serves the pages.
    public_url: str = Field(
        default="http://127.0.0.1:8000", pattern=r"^https?://[^\s?#]+$"
    )
    # None means console outside production and smtp in production, where
    # console is refused: tokens must not land in logs.
    email_backend: Literal["console", "smtp"] | None = None
    email_from: str = Field(default="noreply@localhost", min_length=3)
    email_verification: Literal["optional", "required"] = "optional"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    # Seconds for connecting and for each SMTP command; sending is off the
    # request path, so this bounds a background task, not a response.
    smtp_timeout: float = Field(default=10, gt=0)
{%- if cookiecutter.rbac != "none" %}
    # Roles whose holders must turn on two-factor authentication: until they
    # do, every route but /auth/me, /auth/logout and /auth/mfa/* answers 403.
    # A comma-separated list of role names, empty by default.
    mfa_required_roles: Annotated[frozenset[str], NoDecode] = frozenset()

    @field_validator("mfa_required_roles", mode="before")
    @classmethod
    def _split_roles(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("mfa_required_roles")
    @classmethod
    def _check_roles(cls, roles: frozenset[str]) -> frozenset[str]:
        for role in roles:
            if not _ROLE_NAME.fullmatch(role):
                raise ValueError(
                    f"{role!r} is not a role name: write role names (letters, "
                    "digits, _ : . -) separated by commas, for example admin,auditor"
                )
        return roles
{%- endif %}

    @model_validator(mode="after")
    def _check_email_backend(self) -> Settings:
        if self.is_production and self.email_backend == "console":
            raise ValueError(
                "EMAIL_BACKEND=console writes tokens to the log; "
                "use EMAIL_BACKEND=smtp when ENVIRONMENT=production"
            )
        return self

    @property
    def mail_backend(self) -> Literal["console", "smtp"]:
        """The email backend in use: EMAIL_BACKEND, or the environment's default."""
        if self.email_backend is not None:
            return self.email_backend
        return "smtp" if self.is_production else "console"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port] in "
                    "lower case, without path or trailing slash "
                    "(for example https://app.example.com)"
                )
        return origins

{%- if cookiecutter.session_strategy != "jwt" %}

    @model_validator(mode="after")
    def _trust_cors_origins(self) -> Settings:
        # A front end allowed to read answers may also send changes.
        extra = [o for o in self.cors_origins if o not in self.trusted_origins]
        self.trusted_origins = [*self.trusted_origins, *extra]
        return self
{%- endif %}

    @model_validator(mode="after")
    def _check_secret_key(self) -> Settings:
        if self.secret_key is None:
            if self.environment == "production":
                raise ValueError("SECRET_KEY must be set when ENVIRONMENT=production")
            # Development without a key still works; sessions end on restart.
            self.secret_key = SecretStr(secrets.token_urlsafe(48))
        for key in (self.secret_key, *self.secret_key_fallbacks):
            value = key.get_secret_value()
            if len(value) < MIN_SECRET_KEY_LENGTH:
                raise ValueError(
                    f"SECRET_KEY and SECRET_KEY_FALLBACKS entries need at least "
                    f"{MIN_SECRET_KEY_LENGTH} characters"
                )
            if value == EXAMPLE_SECRET_KEY and self.environment == "production":
                raise ValueError(
                    "SECRET_KEY is the example value; generate one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
                )
        return self

    @property
    def is_production(self) -> bool:
        """Whether cookies must be ``Secure`` and docs stay off by default."""
        return self.environment == "production"

    @property
    def show_docs(self) -> bool:
        """Whether ``/docs`` and ``/openapi.json`` are served."""
        if self.docs_enabled is None:
            return not self.is_production
        return self.docs_enabled

    @property
    def signing_keys(self) -> list[str]:
        """Keys for itsdangerous: oldest first, so the last one (SECRET_KEY) signs."""
        if self.secret_key is None:  # pragma: no cover - the validator sets it
            raise RuntimeError("settings were not validated")
        keys = [key.get_secret_value() for key in reversed(self.secret_key_fallbacks)]
        return [*keys, self.secret_key.get_secret_value()]
{%- if cookiecutter.session_strategy == "jwt" %}

    # JWT sessions. The one algorithm that signs and verifies access tokens:
    # HS* use SECRET_KEY (and SECRET_KEY_FALLBACKS), the others a key pair.
    jwt_algorithm: Literal["HS256", "HS384", "HS512", "ES256", "ES384", "EdDSA"] = (
        "HS256"
    )
    # PEM private key for ES256, ES384 or EdDSA; its public key verifies.
    jwt_private_key: SecretStr | None = None
    # PEM public keys of earlier private keys that still verify.
    jwt_public_key_fallbacks: list[str] = Field(default_factory=list)
    jwt_issuer: str = Field(default=PROJECT_SLUG, min_length=1)
    jwt_audience: str = Field(default=PROJECT_SLUG, min_length=1)
    # Seconds an access token is valid; nothing can recall one, so at most 15 min.
    access_token_ttl: int = Field(default=15 * 60, gt=0, le=15 * 60)
    # Seconds a refresh token family lives after login, however often it rotates.
    refresh_token_ttl: int = Field(default=14 * 24 * 60 * 60, gt=0)
    # Seconds during which a just spent refresh token answers with the successor
    # already issued instead of revoking its family (README: the trade-off).
    refresh_reuse_interval: int = Field(default=0, ge=0, le=300)

    @model_validator(mode="after")
    def _check_jwt_keys(self) -> Settings:
        name = self.jwt_algorithm
        if name.startswith("HS"):
            if self.jwt_private_key is not None:
                raise ValueError(
                    f"JWT_PRIVATE_KEY is not used with JWT_ALGORITHM={name}"
                )
            # RFC 7518 3.2: an HMAC key at least as long as the hash output.
            needed = int(name[2:]) // 8
            if any(len(key.encode()) < needed for key in self.signing_keys):
                raise ValueError(
                    f"JWT_ALGORITHM={name} needs SECRET_KEY and SECRET_KEY_FALLBACKS "
                    f"entries of at least {needed} bytes"
                )
            return self
        if self.jwt_private_key is None:
            raise ValueError(
                f"JWT_PRIVATE_KEY (PEM) must be set for JWT_ALGORITHM={name}"
            )
        try:
            algorithm = jwt.get_algorithm_by_name(name)
        except NotImplementedError:
            raise ValueError(
                f"JWT_ALGORITHM={name} needs the cryptography package (pyjwt[crypto])"
            ) from None
        private = _load_key(
            algorithm, "JWT_PRIVATE_KEY", self.jwt_private_key.get_secret_value()
        )
        if not callable(getattr(private, "public_key", None)):
            raise ValueError("JWT_PRIVATE_KEY must be a private key, not a public one")
        for pem in self.jwt_public_key_fallbacks:
            _load_key(algorithm, "JWT_PUBLIC_KEY_FALLBACKS", pem)
        return self


def _load_key(algorithm: jwt.algorithms.Algorithm, setting: str, pem: str) -> object:
    try:
        return algorithm.prepare_key(pem)
    except (ValueError, TypeError, jwt.PyJWTError):
        # The parser's message may quote the key; say only what is wrong.
        raise ValueError(f"{setting} is not a PEM key for this JWT_ALGORITHM") from None
{%- endif %}


def describe(error: ValidationError) -> str:
    """Return a one-line summary of a settings error."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]).upper()
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


@lru_cache
def get_settings() -> Settings:
    """Return the settings, read once; stop with one line when they are invalid."""
    try:
        return Settings()
    except ValidationError as error:
        raise SystemExit(f"Invalid settings: {describe(error)}") from None


def get_database_settings() -> DatabaseSettings:
    """Return the database settings alone, without requiring a secret key."""
    try:
        return DatabaseSettings()
    except ValidationError as error:
        raise SystemExit(f"Invalid settings: {describe(error)}") from None
