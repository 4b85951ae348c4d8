"""A project made with cruft takes a template change with ``cruft update``.

The template is copied into a git repository of its own, a project is created
from it with ``cruft create``, the template gets a commit, and ``cruft
update`` brings that change into the project: no ``.rej`` file (``.env``, the
project's own secret, is in cruft's skip list), and the project's own tests
still pass. One cheap combination is enough: cruft diffs files, not options.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from helpers import TEMPLATE_DIR, install_project, run, tools_env

COMBINATION = {"session_strategy": "jwt", "rbac": "none", "database": "sqlite"}
# What is not part of the template: caches, venvs, the benchmark.
NOT_TEMPLATE = shutil.ignore_patterns(
    ".git", ".venv", ".cache", "*_cache", "__pycache__", "bench", "my-app"
)
CHANGE = "A line the template added after this project was made."
PROJECT_TESTS_TIMEOUT = 900


def cruft(*args: str | Path, cwd: Path, env: dict[str, str]) -> str:
    """Run the cruft command line; return its output."""
    return run([sys.executable, "-m", "cruft", *args], cwd=cwd, env=env).stdout


def commit_all(repository: Path, env: dict[str, str], message: str) -> None:
    """Commit every file of a repository, starting one if needed."""
    if not (repository / ".git").exists():
        run(["git", "init", "-q", "--initial-branch=main"], cwd=repository, env=env)
    run(["git", "add", "-A"], cwd=repository, env=env)
    run(["git", "commit", "-q", "-m", message], cwd=repository, env=env)


def test_cruft_update_lands_without_conflicts(tmp_path: Path) -> None:
    """A template commit reaches the project; nothing is rejected; tests pass."""
    env = tools_env()
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE_DIR, template, ignore=NOT_TEMPLATE)
    commit_all(template, env, "The template")

    output = tmp_path / "projects"
    context = json.dumps(COMBINATION)
    create = ["create", template, "--no-input", "--output-dir", output]
    cruft(*create, "--extra-context", context, cwd=tmp_path, env=env)
    project = output / "my-app"
    assert (project / ".cruft.json").is_file()
    secret = (project / ".env").read_text(encoding="utf-8")
    commit_all(project, env, "The project as generated")
    cruft("check", cwd=project, env=env)

    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + f"\n{CHANGE}\n", "utf-8")
    commit_all(template, env, "A change to the template")
    cruft("update", "--skip-apply-ask", cwd=project, env=env)

    assert CHANGE in (project / "README.md").read_text(encoding="utf-8")
    rejected = sorted(path.name for path in project.rglob("*.rej"))
    assert not rejected, f"cruft update left rejected hunks: {rejected}"
    assert (project / ".env").read_text(encoding="utf-8") == secret
    cruft("check", cwd=project, env=env)

    venv = install_project(project)
    command = [venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    run(command, cwd=project, env=env, timeout=PROJECT_TESTS_TIMEOUT)
