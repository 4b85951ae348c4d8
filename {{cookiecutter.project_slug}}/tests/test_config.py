from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import EXAMPLE_SECRET_KEY, Settings, describe
from tests.cli import start_app
from tests.helpers import TEST_SECRET_KEY
from tests.servers import PROJECT_ROOT


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "SECRET_KEY must be set"),
        ("too-short", "at least 32 characters"),
        (EXAMPLE_SECRET_KEY, "example value"),
    ],
)
def test_production_refuses_a_missing_short_or_example_key(
    key: str | None, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        make(environment="production", secret_key=key)
    assert message in describe(caught.value)
    assert "\n" not in describe(caught.value)


def test_production_accepts_a_long_random_key() -> None:
    settings = make(environment="production", secret_key=TEST_SECRET_KEY)
    assert settings.is_production
    assert not settings.show_docs


def test_development_without_a_key_gets_a_random_one() -> None:
    first, second = make(environment="development"), make(environment="development")
    assert first.signing_keys != second.signing_keys
    assert len(first.signing_keys[-1]) >= 32


def test_short_fallback_key_is_refused() -> None:
    with pytest.raises(ValidationError):
        make(secret_key=TEST_SECRET_KEY, secret_key_fallbacks=["short"])


def test_signing_keys_put_the_current_key_last() -> None:
    old, older = "o" * 40, "p" * 40
    settings = make(secret_key=TEST_SECRET_KEY, secret_key_fallbacks=[old, older])
    assert settings.signing_keys == [older, old, TEST_SECRET_KEY]


def test_app_refuses_to_start_in_production_with_a_short_key() -> None:
    env = {"ENVIRONMENT": "production", "SECRET_KEY": "short"}
    result = subprocess.run(
        [sys.executable, "-c", "import app.main"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Invalid settings: SECRET_KEY")
    assert "at least 32 characters" in lines[0]
    # The other refusals are shown in this process (tests/cli.py): it ends
    # with the same line.
    assert start_app(env).stderr == result.stderr


# A setting's line in .env.example, in use or commented out.
_EXAMPLE_LINE = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]*)=(.*)$", re.MULTILINE)


def _example() -> dict[str, str]:
    """Return each setting of .env.example with its value."""
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    return dict(_EXAMPLE_LINE.findall(text))


def test_every_setting_is_documented_and_in_the_env_example() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    names = {name.upper() for name in Settings.model_fields}
    assert set(_example()) == names
    undocumented = sorted(name for name in names if f"`{name}`" not in readme)
    assert not undocumented, "README.md's settings table lacks them"


def test_the_env_example_shows_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every line uncommented, loaded as the app loads .env: each value shown
    # is the default. SECRET_KEY is the placeholder the template replaces.
    shown = {name: value for name, value in _example().items() if value}
    shown.pop("SECRET_KEY")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in shown.items()))
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    loaded = Settings(_env_file=env_file)
    for name in shown:
        field = Settings.model_fields[name.lower()]
        default = field.get_default(call_default_factory=True)
        assert getattr(loaded, name.lower()) == default, name
