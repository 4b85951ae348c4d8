"""Fixtures of the template's tests: cookiecutter config, hooks, caches.

And those of the matrix (``test_matrix.py``): each combination is a class, and
its class-scoped fixtures bake, install and serve it once for all its steps.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType

import pytest
from playwright.sync_api import Playwright, sync_playwright
from pytest_cookies.plugin import Cookies, Result

from browser import CHROMIUM, BrowserApp, browser_context, write_wrapper
from helpers import (
    CACHE_DIR,
    TEMPLATE_DIR,
    answers,
    install_project,
    load_hook,
    psql,
    run,
    tools_env,
)
from live import migrate, serve, server_env
from loopback import register, write_cookiecutter_config

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def pytest_configure(config: pytest.Config) -> None:
    """Point pytest-cookies at this template wherever pytest was started from."""
    config.option.template = str(TEMPLATE_DIR)
    # The template's Jinja extensions (``_extensions``) live in its root; the
    # cookiecutter CLI puts that on sys.path, the API calls used here do not.
    if str(TEMPLATE_DIR) not in sys.path:
        sys.path.insert(0, str(TEMPLATE_DIR))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """Run one worker more than there are CPUs for ``-n auto``.

    A combination's steps wait on other processes much of the time (its
    servers, Chromium, podman, PostgreSQL). With one worker per CPU, both
    cores of the 2-core CI machine were idle 18% of a full run (vmstat); with
    three workers, 5%, and the run took 1488 s instead of 1664 s, for the
    same CPU time (process accounting: 46 CPU-minutes either way).
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still sets the number, as in xdist.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    return len(os.sched_getaffinity(0)) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the longest units of work first (the sort keeps each unit whole).

    xdist hands out units (classes, modules) in this order, to whichever
    worker is free. Longest first leaves only short units for the end of the
    run, so no worker waits long alone for the other. Here a combination on
    PostgreSQL takes 2 to 3 minutes, one on SQLite about 2, an image up to
    1.5 (the first one builds the base image too), any other unit seconds.
    """
    items.sort(key=_expected_length)


def _expected_length(item: pytest.Item) -> int:
    """Rank a test's unit of work, 0 for the longest (see above)."""
    if item.get_closest_marker("image") is not None:
        return 1
    if item.get_closest_marker("matrix") is not None:
        callspec = getattr(item, "callspec", None)
        combo = callspec.params.get("combo", {}) if callspec is not None else {}
        return 0 if combo.get("database") == "postgresql" else 2
    return 3


@pytest.fixture(scope="session")
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a cookiecutter config file that keeps replays out of the home folder."""
    return write_cookiecutter_config(tmp_path_factory.mktemp("cookiecutter-user"))


@pytest.fixture(scope="session")
def post_hook(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """Return the post-generation hook rendered with the default answers."""
    return load_hook("post_gen_project", answers(), tmp_path_factory.mktemp("hook"))


@pytest.fixture(scope="session")
def pre_commit_home() -> Path:
    """Return the pre-commit cache shared by every generated project."""
    path = Path(os.environ.get("PRE_COMMIT_HOME") or CACHE_DIR / "pre-commit")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def mypy_cache_dir() -> Path:
    """Return the mypy cache that this worker's projects share.

    Most of mypy's time goes to the projects' dependencies, the same pinned
    versions in every project's venv. mypy reuses a cached module only when
    its source is unchanged (the same hash when its path or time differ) and
    so are the interfaces it depends on: each project's own code is checked
    afresh wherever it differs. One cache per xdist worker, which runs one
    step at a time: never two mypy processes on one cache.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path = CACHE_DIR / "mypy" / worker
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="class")
def baked(combo: dict[str, str], cookies_session: Cookies) -> Result:
    """Bake the combination once for all its steps."""
    return cookies_session.bake(extra_context=combo)


@pytest.fixture(scope="class")
def project(baked: Result) -> Path:
    """Return the baked project's folder; stop the steps if the bake failed."""
    if baked.exception is not None or baked.exit_code != 0:
        pytest.fail(f"the bake failed: {baked.exception!r}", pytrace=False)
    return baked.project_path


@pytest.fixture(scope="class")
def project_venv(project: Path) -> Path:
    """Return the project's own ``.venv``: its dependencies, pinned, nothing more."""
    return install_project(project)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fail with a clear message when the local PostgreSQL server is unreachable."""
    try:
        psql("SELECT 1", tmp_path_factory.getbasetemp())
    except (AssertionError, OSError) as error:
        problem = str(error)
    else:
        return
    pytest.fail(
        "the postgresql combinations need a PostgreSQL server on 127.0.0.1:5432 "
        f"where user postgres may create databases (trust auth, or PGPASSWORD):\n"
        f"{problem}",
        pytrace=False,
    )


@pytest.fixture(scope="class")
def project_env(
    request: pytest.FixtureRequest,
    combo: dict[str, str],
    project: Path,
    pre_commit_home: Path,
    mypy_cache_dir: Path,
) -> dict[str, str]:
    """Return the environment the project's tools run in.

    The venv is not activated: each tool is called by its path in
    ``.venv/bin``, as the project's README does, and must find the project
    through its editable install.
    """
    env = tools_env()
    env["PRE_COMMIT_HOME"] = str(pre_commit_home)
    # Both mypy steps use it: test_mypy and the pre-commit hook.
    env["MYPY_CACHE_DIR"] = str(mypy_cache_dir)
    # The project's browser tests fail, rather than skip, without Chromium.
    env["REQUIRE_BROWSER"] = "1"
    if combo["database"] == "postgresql":
        request.getfixturevalue("postgres_server")
        env["TEST_DATABASE_URL"] = f"{POSTGRES}/postgres"
    return env


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, combo: dict[str, str], tmp_path: Path
) -> Iterator[str]:
    """Yield the URL of an empty database for this step, dropped afterwards."""
    with empty_database(request, combo, tmp_path) as url:
        yield url


@contextmanager
def empty_database(
    request: pytest.FixtureRequest, combo: dict[str, str], directory: Path
) -> Iterator[str]:
    """Yield the URL of a new empty database (a file in ``directory`` for SQLite)."""
    if combo["database"] == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'app.db'}"
        return
    assert combo["database"] == "postgresql", f"no test database for {combo}"
    request.getfixturevalue("postgres_server")
    name = f"template_{uuid.uuid4().hex[:12]}"
    psql(f'CREATE DATABASE "{name}"', directory)
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', directory)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """Yield playwright, once Debian's chromium is known to be installed."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"the browser steps need Debian's chromium at {CHROMIUM}: "
            "`apt-get install chromium` (.ci/run installs it); "
            "never `playwright install`",
            pytrace=False,
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="class")
def browser_app(
    request: pytest.FixtureRequest,
    combo: dict[str, str],
    project: Path,
    project_env: dict[str, str],
    project_venv: Path,
    playwright_driver: Playwright,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BrowserApp]:
    """Serve the project with its test page, open chromium on it and log in."""
    directory = tmp_path_factory.mktemp("browser")
    with ExitStack() as stack:
        url = stack.enter_context(empty_database(request, combo, directory))
        env = server_env(project_env, url)
        migrate(project, env, project_venv)
        app = write_wrapper(directory)
        log = directory / "uvicorn.log"
        server = stack.enter_context(
            serve(project, env, project_venv, log, app=app, app_dir=directory)
        )
        password = uuid.uuid4().hex
        register(server.port, "browser@example.com", password)
        context = stack.enter_context(
            browser_context(playwright_driver, directory / "profile")
        )
        page = context.pages[0] if context.pages else context.new_page()
        browser = BrowserApp(server, context, page, "browser@example.com", password)
        browser.log_in()
        yield browser


@pytest.fixture(scope="class")
def git_repo(project: Path, project_env: dict[str, str]) -> Path:
    """Turn the project into a git repository with every file staged."""
    run(["git", "init", "-q", "--initial-branch=main"], cwd=project, env=project_env)
    run(["git", "add", "-A"], cwd=project, env=project_env)
    return project
