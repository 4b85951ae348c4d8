"""Every combination of options bakes, and its project passes its own checks.

Each combination gets its own test class (``TestSignedCookieNoneSqlite``...)
whose step tests share one bake. With ``--dist loadscope`` a class is one unit
of work for xdist, so a combination's steps run in order on one worker while
other combinations run on the other workers. (One class per combination rather
than xdist groups: ``--dist loadgroup`` groups nothing with pytest 9.2,
pytest-xdist issue 1386.)
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType

import pytest
from playwright.sync_api import Playwright, sync_playwright
from pytest_cookies.plugin import Cookies, Result

import fuzzing
from browser import (
    CHROMIUM,
    BrowserApp,
    browser_context,
    fetch_status,
    foreign_site,
    script_cookies,
    write_wrapper,
)
from helpers import combination_id, combinations, install_project, run, tools_env
from live import create_admin, login_headers, migrate, register, serve, server_env

pytestmark = pytest.mark.matrix

# What Jinja leaves behind when a file was not rendered, or rendered wrongly;
# a mention of the (.)cookiecutter.json file is fine.
TEMPLATE_SYNTAX = re.compile(r"\{\{|\{%|\{#|(?<![\w.])cookiecutter\.(?!json\b)\w")
TEMPLATE_NAME = re.compile(r"\{\{|\{%|\{#|\}\}")
# GitHub Actions' own expression syntax is not Jinja.
ACTIONS_EXPRESSION = "${{"
SECRET_LINE = re.compile(r"^SECRET_KEY=(.*)$", re.MULTILINE)
# A test named in a generated SECURITY.md: `tests/path.py::test_name`.
NAMED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")
# Every module that exists in one variant per value has this final name.
PROMOTED_MODULES = ("app/auth/session.py", "app/auth/rbac.py", "app/reader.py")
CACHE_DIRS = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
CACHE_DIRS |= {"__pycache__"}
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"
STEP_TIMEOUT = 600
# Realistic answers whose length and quotes could break or reflow the code.
LONG_ANSWERS = {
    "project_name": "Acme Corporation Internal Customer Accounts Service",
    "description": "Handles \"customer\" accounts & sessions for O'Reilly's teams.",
    "author_name": "Zoë O'Brien-Łukasiewicz",
    "author_email": "zoe.obrien-lukasiewicz@accounts.example.com",
}
# Strategies whose session rides in a cookie: the browser steps run for them.
COOKIE_STRATEGIES = {"signed_cookie", "database"}
SESSION_COOKIE = "session"
CSRF_COOKIE = "csrftoken"


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
) -> dict[str, str]:
    """Return the environment the project's tools run in.

    The venv is not activated: each tool is called by its path in
    ``.venv/bin``, as the project's README does, and must find the project
    through its editable install.
    """
    env = tools_env()
    env["PRE_COMMIT_HOME"] = str(pre_commit_home)
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
        register(server, "browser@example.com", password)
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


def psql(sql: str, cwd: Path) -> None:
    """Run one SQL statement on the local PostgreSQL server as ``postgres``."""
    command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"]
    run([*command, "-v", "ON_ERROR_STOP=1", "-c", sql], cwd=cwd, timeout=60)


def text_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Yield every text file under ``root`` with its content, caches excluded."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or CACHE_DIRS.intersection(path.relative_to(root).parts):
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            yield path, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def secret_key(env_file: Path) -> str:
    """Return the SECRET_KEY value of an env file, without quotes."""
    match = SECRET_LINE.search(env_file.read_text(encoding="utf-8"))
    assert match, f"no SECRET_KEY line in {env_file.name}"
    return match.group(1).strip().strip("'\"")


def tool(venv: Path, name: str) -> Path:
    """Return the path of a command installed in a project's venv."""
    return venv / "bin" / name


class CombinationSteps:
    """One combination of options, step by step, in order (see step_class)."""

    def test_bake_succeeds(self, baked: Result) -> None:
        """Cookiecutter and both hooks finish without error."""
        assert baked.exception is None, repr(baked.exception)
        assert baked.exit_code == 0
        assert baked.project_path.is_dir()

    def test_nothing_left_unrendered(self, project: Path) -> None:
        """No file name or text file holds template syntax."""
        found = [
            f"{path.relative_to(project)}: file name"
            for path in project.rglob("*")
            if TEMPLATE_NAME.search(path.name)
            and not CACHE_DIRS.intersection(path.relative_to(project).parts)
        ]
        for path, text in text_files(project):
            for number, line in enumerate(text.splitlines(), start=1):
                if TEMPLATE_SYNTAX.search(line.replace(ACTIONS_EXPRESSION, "")):
                    found.append(
                        f"{path.relative_to(project)}:{number}: {line.strip()}"
                    )
        assert not found, "template syntax left:\n" + "\n".join(found)

    def test_no_file_of_an_unchosen_option(
        self, project: Path, combo: dict[str, str], post_hook: ModuleType
    ) -> None:
        """Only the chosen variants remain, under their final names."""
        left = sorted(
            relative
            for relative in post_hook.unchosen_paths(combo)
            if (project / relative).exists()
        )
        assert not left, f"files of unchosen options left: {left}"
        targets = {target for _option, _pattern, target in post_hook.PROMOTED}
        for target in sorted(targets.union(PROMOTED_MODULES)):
            assert (project / target).is_file(), f"{target} is missing"
        for _option, pattern, _target in post_hook.PROMOTED:
            variants = sorted(project.glob(pattern.format("*")))
            assert not variants, f"variants left: {variants}"

    def test_answers_are_recorded(
        self, project: Path, baked: Result, combo: dict[str, str]
    ) -> None:
        """``.cookiecutter.json`` holds every answer given."""
        recorded = json.loads((project / ".cookiecutter.json").read_text("utf-8"))
        assert recorded["project_slug"] == project.name
        for key, value in combo.items():
            assert recorded[key] == value, key
        for key, value in baked.context.items():
            if not key.startswith("_"):
                assert recorded[key] == value, key

    def test_env_has_a_fresh_secret(
        self, project: Path, combo: dict[str, str], cookies: Cookies
    ) -> None:
        """``.env`` holds a long key, not the example's, new on every bake."""
        key = secret_key(project / ".env")
        assert key != secret_key(project / ".env.example")
        assert len(key) >= 32
        again = cookies.bake(extra_context=combo)
        assert again.exception is None, repr(again.exception)
        assert secret_key(again.project_path / ".env") != key

    def test_security_md_names_tests_that_exist(self, project: Path) -> None:
        """Each guarantee of the project's SECURITY.md names a test it has."""
        named = NAMED_TEST.findall((project / "SECURITY.md").read_text("utf-8"))
        assert len(named) >= 30, f"SECURITY.md names only {len(named)} tests"
        missing = [
            f"{path}::{name}"
            for path, name in named
            if not (project / path).is_file()
            or not re.search(
                rf"^(async )?def {name}\(", (project / path).read_text("utf-8"), re.M
            )
        ]
        assert not missing, f"SECURITY.md names tests that do not exist: {missing}"

    def test_ruff_check(
        self, project: Path, project_env: Mapping[str, str], project_venv: Path
    ) -> None:
        """The generated code passes the project's own ruff rules."""
        command = [tool(project_venv, "ruff"), "check", "."]
        run(command, cwd=project, env=project_env, timeout=STEP_TIMEOUT)

    def test_ruff_format(
        self, project: Path, project_env: Mapping[str, str], project_venv: Path
    ) -> None:
        """The generated code is formatted as ruff formats it."""
        command = [tool(project_venv, "ruff"), "format", "--check", "."]
        run(command, cwd=project, env=project_env, timeout=STEP_TIMEOUT)

    def test_long_answers_stay_lint_clean(
        self,
        combo: dict[str, str],
        cookies: Cookies,
        project_env: Mapping[str, str],
        project_venv: Path,
    ) -> None:
        """Long answers with quotes keep the code ruff-clean and formatted."""
        again = cookies.bake(extra_context={**combo, **LONG_ANSWERS})
        assert again.exception is None, repr(again.exception)
        ruff = tool(project_venv, "ruff")
        for command in ([ruff, "check", "."], [ruff, "format", "--check", "."]):
            run(command, cwd=again.project_path, env=project_env, timeout=STEP_TIMEOUT)

    def test_mypy(
        self, project: Path, project_env: Mapping[str, str], project_venv: Path
    ) -> None:
        """The generated code passes mypy with the project's own (strict) config."""
        command = [tool(project_venv, "mypy")]
        run(command, cwd=project, env=project_env, timeout=STEP_TIMEOUT)

    def test_project_tests(
        self, project: Path, project_env: Mapping[str, str], project_venv: Path
    ) -> None:
        """The project's own test suite passes."""
        command = [tool(project_venv, "python"), "-m", "pytest"]
        command += ["-q", "-p", "no:cacheprovider"]
        run(command, cwd=project, env=project_env, timeout=STEP_TIMEOUT)

    def test_fuzz_openapi(
        self,
        combo: dict[str, str],
        project: Path,
        project_env: Mapping[str, str],
        project_venv: Path,
        database_url: str,
        tmp_path: Path,
    ) -> None:
        """Schemathesis finds no 5xx and no schema violation, anonymous or logged in."""
        env = server_env(project_env, database_url)
        migrate(project, env, project_venv)
        with serve(project, env, project_venv, tmp_path / "uvicorn.log") as server:
            # Logged in first: the anonymous run's failed logins get this
            # client throttled.
            email, password = "fuzz@example.com", uuid.uuid4().hex
            register(server, email, password)
            if combo["rbac"] != "none":
                # As an admin, the fuzzer reaches past the /admin checks.
                email = "fuzz-admin@example.com"
                password = create_admin(project, env, project_venv, email)
            headers = login_headers(server, email, password)
            fuzzing.schemathesis(server, tmp_path)
            fuzzing.schemathesis(
                server,
                tmp_path,
                headers=headers,
                exclude=fuzzing.session_ending_operations(server),
            )
            answer = server.request("GET", "/auth/me", headers=headers)
            assert answer.status == 200, (
                "the session did not survive the authenticated run, so part of it "
                "ran anonymously; leave the operation that ended it out of that run "
                f"(fuzzing.SESSION_ENDING): {answer.status} {answer.body!r}"
            )

    def test_migrations(
        self,
        project: Path,
        project_env: Mapping[str, str],
        project_venv: Path,
        database_url: str,
    ) -> None:
        """Migrations build the schema, match the models and come down again.

        Upgrade and downgrade say which revisions they ran, as Alembic does.
        """
        env = {**project_env, "DATABASE_URL": database_url}
        steps = {"upgrade": "head", "check": None, "downgrade": "base"}
        for step, target in steps.items():
            command = [tool(project_venv, "alembic"), step]
            command += [target] if target else []
            result = run(command, cwd=project, env=env, timeout=STEP_TIMEOUT)
            if target:
                reported = f"Running {step} "
                assert reported in result.stdout, f"alembic {step}:\n{result.stdout}"

    def test_pre_commit(
        self, git_repo: Path, project_env: Mapping[str, str], project_venv: Path
    ) -> None:
        """Every pre-commit hook passes on a fresh repository.

        Run as the README says, ``.venv/bin/pre-commit``, the venv not
        activated (not on ``PATH``).
        """
        command = [tool(project_venv, "pre-commit"), "run", "--all-files"]
        command += ["--show-diff-on-failure", "--color", "never"]
        run(command, cwd=git_repo, env=project_env, timeout=STEP_TIMEOUT)

    def test_secret_is_not_committed(
        self, git_repo: Path, project_env: Mapping[str, str]
    ) -> None:
        """``git add -A`` leaves ``.env`` (the secret key) out."""
        staged = run(["git", "ls-files", ".env"], cwd=git_repo, env=project_env)
        assert staged.stdout.strip() == "", ".env would be committed"


class CookieBrowserSteps:
    """A real browser against a cookie-session project (see browser.py).

    Each step logs in again if an earlier one ended the session.
    """

    def test_browser_session_cookie_is_hidden_from_scripts(
        self, browser_app: BrowserApp
    ) -> None:
        """After a login through the page's form, scripts see the CSRF cookie only."""
        browser_app.ensure_logged_in()
        page = browser_app.page
        assert browser_app.logged_in()
        readable = script_cookies(page)
        assert CSRF_COOKIE in readable, readable
        assert SESSION_COOKIE not in readable, readable
        stored = {
            cookie["name"]: cookie
            for cookie in browser_app.context.cookies(browser_app.server.base_url)
        }
        assert stored[SESSION_COOKIE]["httpOnly"] is True
        assert stored[SESSION_COOKIE]["sameSite"] in {"Lax", "Strict"}
        assert stored[SESSION_COOKIE]["path"] == "/"
        assert stored[CSRF_COOKIE]["httpOnly"] is False

    def test_browser_cross_origin_form_is_refused(
        self, browser_app: BrowserApp
    ) -> None:
        """A form on another origin of the same site cannot log the user out."""
        browser_app.ensure_logged_in()
        target = browser_app.url("/auth/logout")
        with foreign_site(target) as foreign_url:
            page = browser_app.context.new_page()
            try:
                page.goto(foreign_url)
                with page.expect_response(target) as answer:
                    page.click("#submit")
                response = answer.value
                sent = response.request.all_headers()
            finally:
                page.close()
        # Same site: SameSite=Lax lets the cookie through, the app must refuse.
        assert f"{SESSION_COOKIE}=" in sent.get("cookie", ""), sent
        assert sent.get("origin") == foreign_url.rstrip("/"), sent
        assert response.status == 403, response.status
        assert browser_app.logged_in(), "the foreign form ended the session"

    def test_browser_unsafe_fetch_needs_csrf_header(
        self, browser_app: BrowserApp, combo: dict[str, str]
    ) -> None:
        """A same-origin fetch that changes state is refused without the header."""
        browser_app.ensure_logged_in()
        page = browser_app.page
        if combo["session_strategy"] == "database":
            other = login_headers(
                browser_app.server, browser_app.email, browser_app.password
            )
            status = fetch_status(page, "DELETE", "/auth/sessions", with_token=False)
            assert status == 403, status
            assert (
                browser_app.server.request("GET", "/auth/me", headers=other).status
                == 200
            )
            status = fetch_status(page, "DELETE", "/auth/sessions", with_token=True)
            assert status == 204, status
            assert (
                browser_app.server.request("GET", "/auth/me", headers=other).status
                == 401
            )
        status = fetch_status(page, "POST", "/auth/logout", with_token=False)
        assert status == 403, status
        assert browser_app.logged_in(), "a logout without the CSRF header went through"
        status = fetch_status(page, "POST", "/auth/logout", with_token=True)
        assert status == 204, status
        assert not browser_app.logged_in(), "the session outlived its logout"
        assert CSRF_COOKIE not in script_cookies(page)


def step_class(combination: dict[str, str]) -> type[CombinationSteps]:
    """Return the test class of one combination, its id as the parameter id."""
    test_id = combination_id(combination)
    words = re.split(r"[^A-Za-z0-9]+", test_id)
    name = "Test" + "".join(word.capitalize() for word in words)
    # Listed first, so that pytest runs their steps after the common ones.
    bases: tuple[type, ...] = (CombinationSteps,)
    if combination["session_strategy"] in COOKIE_STRATEGIES:
        bases = (CookieBrowserSteps, CombinationSteps)
    steps = type(name, bases, {"__doc__": f"The steps of {test_id}."})
    parameter = pytest.param(combination, id=test_id)
    return pytest.mark.parametrize("combo", [parameter], scope="class")(steps)


for _combination in combinations():
    _steps = step_class(_combination)
    globals()[_steps.__name__] = _steps
