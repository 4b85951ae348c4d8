"""A project made with cruft takes a template change with ``cruft update``.

The template is copied into a git repository of its own, a project is created
from it with ``cruft create``, the template gets a commit, and ``cruft
update`` brings that change into the project: no ``.rej`` file (``.env``, the
project's own secret, is in cruft's skip list), and the updated project is,
file for file, what the changed template bakes with the same answers. That
bake's own checks, its tests included, are the matrix's (``test_matrix.py``),
and the two bakes differ by the README line alone: the updated project passes
those checks without running them a second time.
One combination is enough: cruft diffs files, not options.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from helpers import TEMPLATE_DIR, run, tools_env
from loopback import write_cookiecutter_config

COMBINATION = {"session_strategy": "jwt", "rbac": "none", "database": "sqlite"}
# What is not part of the template: caches, venvs, the benchmark.
NOT_TEMPLATE = shutil.ignore_patterns(
    ".git", ".venv", ".cache", "*_cache", "__pycache__", "bench", "my-app"
)
CHANGE = "A line the template added after this project was made."
# What differs between any two copies of a project (see _files).
OWN_COPY = {".git", ".cruft.json", ".env"}
ANSWERS = ".cookiecutter.json"


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
    """A template commit reaches the project; nothing is rejected or left over."""
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

    baked = tmp_path / "baked"
    config = write_cookiecutter_config(tmp_path)
    answers = [f"{option}={value}" for option, value in COMBINATION.items()]
    bake = ["--no-input", "--config-file", config, "-o", baked, template, *answers]
    run([sys.executable, "-m", "cookiecutter", *bake], cwd=tmp_path, env=env)
    updated, fresh = _files(project), _files(baked / project.name)
    differing = sorted(
        path
        for path in updated.keys() | fresh.keys()
        if updated.get(path) != fresh.get(path)
    )
    assert not differing, (
        f"cruft update left these files unlike a new bake: {differing}"
    )


def _files(project: Path) -> dict[str, bytes]:
    """Return a project's files by path, but what belongs to one copy alone.

    Left out: git's, cruft's record of the template commit, ``.env``, whose
    secret is new on every bake, and in ``.cookiecutter.json`` the private
    keys that say how this copy was made (its commit, its output folder).
    """
    files = {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and path.relative_to(project).parts[0] not in OWN_COPY
    }
    answers = json.loads(files.pop(ANSWERS))
    public = {key: value for key, value in answers.items() if not key.startswith("_")}
    files[ANSWERS] = json.dumps(public, sort_keys=True).encode()
    return files
