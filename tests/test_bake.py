"""Baking with the defaults, with unusual names, and refusing bad input."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter
from pytest_cookies.plugin import Cookies

from helpers import TEMPLATE_DIR, choice_options, combinations, run

NAMES_AS_DATA = [
    'He said "hi"',
    "It's mine",
    "back\\slash\\ app",
    'triple """ double',
    "Café Ünïcode ☕",
]
BAD_SLUGS = ["Bad Slug", "1abc", "a--b", "my_app", "app-"]


def recorded_answers(project: Path) -> dict[str, object]:
    """Return the answers a generated project recorded for later updates."""
    return json.loads((project / ".cookiecutter.json").read_text(encoding="utf-8"))


def bake_with_cli(
    output_dir: Path, config_file: Path, *answers: str
) -> tuple[int, list[str]]:
    """Run the cookiecutter command line without input; return status and lines."""
    options = ["--no-input", "--config-file", config_file, "--output-dir", output_dir]
    result = run(
        [sys.executable, "-m", "cookiecutter", TEMPLATE_DIR, *options, *answers],
        cwd=output_dir,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout.splitlines()


def test_defaults_bake_without_input(tmp_path: Path, cookiecutter_config: Path) -> None:
    """``--no-input`` gives the ``my-app`` folder with the default answers."""
    project = Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            output_dir=str(tmp_path),
            config_file=str(cookiecutter_config),
        )
    )
    assert project == tmp_path / "my-app"
    recorded = recorded_answers(project)
    assert recorded["project_name"] == "My App"
    assert recorded["project_slug"] == "my-app"
    for option, values in choice_options().items():
        assert recorded[option] == values[0]


@pytest.mark.parametrize("name", NAMES_AS_DATA)
def test_project_name_is_data(cookies: Cookies, name: str) -> None:
    """Quotes, backslashes and non-ASCII letters in the name bake verbatim."""
    result = cookies.bake(extra_context={"project_name": name})
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    assert recorded_answers(result.project_path)["project_name"] == name


@pytest.mark.parametrize("slug", BAD_SLUGS)
def test_bad_slug_is_refused(
    tmp_path: Path, cookiecutter_config: Path, slug: str
) -> None:
    """An invalid slug stops with one ``ERROR:`` line, status 1 and no folder."""
    status, lines = bake_with_cli(tmp_path, cookiecutter_config, f"project_slug={slug}")
    assert status == 1, "\n".join(lines)
    assert list(tmp_path.iterdir()) == []
    assert len(lines) == 1, "\n".join(lines)
    assert lines[0].startswith("ERROR: project_slug")
    assert repr(slug) in lines[0]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("project_slug=", "ERROR: project_slug '' is not valid"),
        ("project_name=", "ERROR: project_name must not be empty"),
        ("project_name=   ", "ERROR: project_name must not be empty"),
        ("project_name=!!!", "ERROR: project_name '!!!' has no letter or digit"),
        ("project_name=☕ …", "ERROR: project_name '☕ …' has no letter or digit"),
    ],
    ids=["empty-slug", "empty-name", "blank-name", "punctuation", "symbols"],
)
def test_empty_slug_is_refused(
    tmp_path: Path, cookiecutter_config: Path, answer: str, message: str
) -> None:
    """A slug that is, or slugifies to, nothing stops with one line, untouched."""
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    status, lines = bake_with_cli(output_dir, cookiecutter_config, answer)
    assert status == 1, "\n".join(lines)
    assert list(output_dir.iterdir()) == []
    assert len(lines) == 1, "\n".join(lines)
    assert lines[0].startswith(message), lines[0]


@pytest.mark.parametrize("option", list(choice_options()))
def test_unknown_choice_is_refused(
    tmp_path: Path, cookiecutter_config: Path, option: str
) -> None:
    """A value that is not offered stops generation before any folder is made."""
    with pytest.raises(ValueError, match=option):
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context={option: "bogus"},
            output_dir=str(tmp_path),
            config_file=str(cookiecutter_config),
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", list(choice_options()))
def test_unknown_choice_on_the_command_line(
    tmp_path: Path, cookiecutter_config: Path, option: str
) -> None:
    """Cookiecutter itself refuses it (status 1, no folder) with the line we quote.

    It checks choices before any code of the template runs, and prints a
    traceback; the README quotes the line that ends it.
    """
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    status, lines = bake_with_cli(output_dir, cookiecutter_config, f"{option}=oauth")
    assert status == 1, "\n".join(lines)
    assert list(output_dir.iterdir()) == []
    values = choice_options()[option]
    expected = (
        f"ValueError: oauth provided for choice variable {option}, "
        f"but the choices are {values}."
    )
    assert lines[-1] == expected, "\n".join(lines)
    if option == "session_strategy":
        readme = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
        assert expected in readme.replace("\n", " "), "README must quote it"


def test_readme_fragments_are_all_used_and_hold_no_figures(
    cookies: Cookies,
) -> None:
    """Each README fragment lands in some combination; no README quotes figures.

    The generated README is put together from ``templates/readme/``, one
    fragment per option value; benchmark figures belong to ``bench/``.
    """
    readmes = []
    for combination in combinations():
        result = cookies.bake(extra_context=combination)
        assert result.exception is None, result.exception
        readme = (result.project_path / "README.md").read_text(encoding="utf-8")
        assert not re.search(r"req/s|\bp99\b|## Performance", readme), combination
        prose = re.sub(r"```.*?```", "(code)", readme, flags=re.S)
        assert "\n\n\n" not in prose, combination
        readmes.append(readme)
    for fragment in sorted((TEMPLATE_DIR / "templates" / "readme").glob("*.md")):
        first = next(
            line
            for line in fragment.read_text(encoding="utf-8").splitlines()
            if line.strip() and "{%" not in line and "{{" not in line
        )
        assert any(first in readme for readme in readmes), fragment.name
