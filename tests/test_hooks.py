"""Unit tests of the hooks, rendered the way cookiecutter renders them."""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest

from helpers import (
    PROJECT_TEMPLATE_DIR,
    TEMPLATE_DIR,
    answers,
    choice_options,
    load_hook,
    render_hook,
    run,
    secret_key,
)

# Names that would break a hook that pasted answers into Python source.
TRICKY_NAMES = [
    'He said "hi"',
    "It's mine",
    "back\\slash\\",
    'triple """ double',
    "triple ''' single",
    "Café Ünïcode ☕",
]
GOOD_SLUGS = ["my-app", "a", "app2", "a-b-c", "web-2-api"]
BAD_SLUGS = ["", "Bad Slug", "1abc", "a--b", "-app", "app-", "my_app", "My-App", "café"]


@pytest.fixture(scope="module")
def pre_hook(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """Return the pre-generation hook rendered with the default answers."""
    return load_hook("pre_gen_project", answers(), tmp_path_factory.mktemp("pre"))


def option_values(post_hook: ModuleType) -> dict[str, list[str]]:
    """Return each option's values: those offered and those the post hook knows."""
    values = choice_options()
    for table in (post_hook.OPTION_FILES, post_hook.OPTION_DIRS):
        for option, by_value in table.items():
            values[option] += [
                value for value in by_value if value not in values[option]
            ]
    return values


def all_combinations(post_hook: ModuleType) -> Iterator[dict[str, str]]:
    """Yield every combination of every value the hooks know about."""
    values = option_values(post_hook)
    for combination in itertools.product(*values.values()):
        yield dict(zip(values, combination, strict=True))


def owned_paths(post_hook: ModuleType, combination: Mapping[str, str]) -> set[str]:
    """Return the paths that belong to the chosen values."""
    owned: set[str] = set()
    for table in (post_hook.OPTION_FILES, post_hook.OPTION_DIRS):
        for option, by_value in table.items():
            owned.update(by_value.get(combination[option], ()))
    return owned - unneeded_paths(post_hook, combination)


def unneeded_paths(post_hook: ModuleType, combination: Mapping[str, str]) -> set[str]:
    """Return the paths that another option's chosen value does not need."""
    return {
        path
        for path, (option, values) in post_hook.ALSO_NEEDS.items()
        if combination[option] not in values
    }


def table_paths(table: Mapping[str, Mapping[str, tuple[str, ...]]]) -> set[str]:
    """Return every path named in a table of the post hook."""
    return {
        path
        for by_value in table.values()
        for paths in by_value.values()
        for path in paths
    }


def build_fake_project(root: Path, post_hook: ModuleType) -> None:
    """Create a tree holding every optional file and folder, plus shared files."""
    for relative in table_paths(post_hook.OPTION_FILES):
        _write(variant_file(root / relative), f"# {relative}\n")
    for relative in table_paths(post_hook.OPTION_DIRS):
        _write(root / relative / "__init__.py", "")
    values = option_values(post_hook)
    for option, pattern, _target in post_hook.PROMOTED:
        for value in values[option]:
            _write(variant_file(root / pattern.format(value)), f"# variant {value}\n")
    for source, _target in post_hook.SHARED_INTO_VARIANT:
        _write(root / source, "# shared by every variant\n")
    _write(root / "app" / "main.py", "# shared\n")
    _write(
        root / ".env.example",
        f"# Copy to .env\nSECRET_KEY={post_hook.EXAMPLE_KEY}\nDEBUG=1\n",
    )


def variant_file(path: Path) -> Path:
    """Return the file that stands for a variant: a package's ``__init__.py``."""
    return path if path.suffix else path / "__init__.py"


def _write(path: Path, text: str) -> None:
    """Write a file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


class TestPreHook:
    """The pre-generation hook refuses bad answers with one line."""

    @pytest.mark.parametrize("slug", GOOD_SLUGS)
    def test_good_slug_passes(self, pre_hook: ModuleType, slug: str) -> None:
        """A lower-case, dash-separated slug is accepted."""
        assert pre_hook.check_slug(slug) is None

    @pytest.mark.parametrize("slug", BAD_SLUGS)
    def test_bad_slug_is_refused(self, pre_hook: ModuleType, slug: str) -> None:
        """A slug that cannot name a folder and a package gets a one-line message."""
        message = pre_hook.check_slug(slug)
        assert message
        assert "project_slug" in message
        assert "\n" not in message

    def test_offered_choices_pass(self, pre_hook: ModuleType) -> None:
        """Every value offered by cookiecutter.json is accepted."""
        for option, values in choice_options().items():
            for value in values:
                assert pre_hook.check_choice(option, value) is None, (option, value)

    def test_unknown_choice_is_refused(self, pre_hook: ModuleType) -> None:
        """A value outside an option's choices gets a message naming both."""
        for option in choice_options():
            message = pre_hook.check_choice(option, "bogus")
            assert message
            assert option in message
            assert "bogus" in message

    def test_default_answers_are_valid(self, pre_hook: ModuleType) -> None:
        """The ``--no-input`` answers raise no problem."""
        assert pre_hook.validate(answers()) == []

    def test_every_problem_is_reported(self, pre_hook: ModuleType) -> None:
        """A bad slug and a bad choice are both reported."""
        bad = {**answers(), "project_slug": "1abc", "rbac": "bogus"}
        problems = pre_hook.validate(bad)
        assert len(problems) == 2
        assert "project_slug" in problems[0]
        assert "rbac" in problems[1]

    def test_blank_project_name_is_refused(self, pre_hook: ModuleType) -> None:
        """A project name of only spaces is a problem."""
        assert pre_hook.validate({**answers(), "project_name": "   "})

    def test_main_prints_one_error_line(
        self, pre_hook: ModuleType, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Bad answers give exit status 1 and one ``ERROR:`` line on stderr."""
        status = pre_hook.main({**answers(), "project_slug": "Bad Slug"})
        out, err = capsys.readouterr()
        assert status == 1
        assert out == ""
        assert len(err.splitlines()) == 1
        assert err.startswith("ERROR: ")
        assert "Bad Slug" in err

    def test_main_is_silent_on_good_answers(
        self, pre_hook: ModuleType, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Good answers give exit status 0 and no output."""
        assert pre_hook.main(answers()) == 0
        assert capsys.readouterr() == ("", "")


class TestAnswersAreData:
    """Quotes and backslashes in answers cannot break the rendered hooks."""

    @pytest.mark.parametrize("name", TRICKY_NAMES)
    @pytest.mark.parametrize("hook", ["pre_gen_project", "post_gen_project"])
    def test_hook_compiles(self, hook: str, name: str, tmp_path: Path) -> None:
        """The rendered hook, main block included, is valid Python."""
        source = render_hook(hook, answers({"project_name": name}))
        compile(source, f"{hook}.py", "exec")
        load_hook(hook, answers({"project_name": name}), tmp_path)

    @pytest.mark.parametrize("name", TRICKY_NAMES)
    def test_pre_hook_script_accepts_name(self, name: str, tmp_path: Path) -> None:
        """Run as a script, the pre hook passes a tricky but valid name."""
        script = tmp_path / "pre_gen_project.py"
        script.write_text(
            render_hook("pre_gen_project", answers({"project_name": name}))
        )
        result = run([sys.executable, script], cwd=tmp_path, timeout=60)
        assert result.stdout == ""

    def test_pre_hook_script_refuses_bad_slug(self, tmp_path: Path) -> None:
        """Run as a script, the pre hook exits 1 with one ``ERROR:`` line."""
        script = tmp_path / "pre_gen_project.py"
        # Past the extension's check (cookiecutter stops there first), as a replay.
        bad = {**answers({"project_name": 'Say "hi"'}), "project_slug": "Bad Slug"}
        script.write_text(render_hook("pre_gen_project", bad))
        result = run([sys.executable, script], cwd=tmp_path, timeout=60, check=False)
        assert result.returncode == 1
        assert result.stdout.startswith("ERROR: ")
        assert len(result.stdout.splitlines()) == 1

    @pytest.mark.parametrize("name", TRICKY_NAMES)
    def test_post_hook_script_shapes_project(
        self, name: str, tmp_path: Path, post_hook: ModuleType
    ) -> None:
        """Run as a script in a fake project, the post hook finishes its work."""
        root = tmp_path / "project"
        build_fake_project(root, post_hook)
        script = tmp_path / "post_gen_project.py"
        script.write_text(
            render_hook("post_gen_project", answers({"project_name": name}))
        )
        run([sys.executable, script], cwd=root, timeout=60)
        assert (root / ".env").is_file()
        unneeded = unneeded_paths(post_hook, answers({"project_name": name}))
        for option, pattern, target in post_hook.PROMOTED:
            default = answers({"project_name": name})[option]
            assert (root / target).exists() != (pattern.format(default) in unneeded)
        for _source, target in post_hook.SHARED_INTO_VARIANT:
            assert (root / target).is_file(), target


class TestPostHookTables:
    """The post hook's tables keep every chosen file and drop the rest."""

    def test_unchosen_never_holds_a_chosen_path(self, post_hook: ModuleType) -> None:
        """No path of a chosen value, nor its variant, is ever deleted."""
        for combination in all_combinations(post_hook):
            unchosen = post_hook.unchosen_paths(combination)
            chosen = owned_paths(post_hook, combination)
            chosen.update(
                pattern.format(combination[option])
                for option, pattern, _target in post_hook.PROMOTED
            )
            chosen -= unneeded_paths(post_hook, combination)
            assert not unchosen & chosen, combination

    def test_unchosen_holds_every_other_path(self, post_hook: ModuleType) -> None:
        """Every path that no chosen value owns is deleted."""
        every = table_paths(post_hook.OPTION_FILES) | table_paths(post_hook.OPTION_DIRS)
        for combination in all_combinations(post_hook):
            expected = every - owned_paths(post_hook, combination)
            expected |= unneeded_paths(post_hook, combination)
            assert post_hook.unchosen_paths(combination) == expected, combination

    def test_paths_are_relative(self, post_hook: ModuleType) -> None:
        """Every path in the tables stays inside the project."""
        every = table_paths(post_hook.OPTION_FILES) | table_paths(post_hook.OPTION_DIRS)
        for relative in every:
            assert not Path(relative).is_absolute(), relative
            assert ".." not in Path(relative).parts, relative

    def test_tables_name_template_files(self, post_hook: ModuleType) -> None:
        """Every path of an offered value exists in the template folder."""
        missing = []
        for option, values in choice_options().items():
            for table in (post_hook.OPTION_FILES, post_hook.OPTION_DIRS):
                for value in values:
                    for relative in table.get(option, {}).get(value, ()):
                        if not (PROJECT_TEMPLATE_DIR / relative).exists():
                            missing.append(relative)
            for promoted, pattern, target in post_hook.PROMOTED:
                if promoted != option:
                    continue
                missing += [
                    pattern.format(value)
                    for value in values
                    if not (PROJECT_TEMPLATE_DIR / pattern.format(value)).exists()
                ]
                assert not (PROJECT_TEMPLATE_DIR / target).exists(), target
        assert not missing, (
            f"named by the post hook, absent from the template: {missing}"
        )


class TestPostHookActions:
    """The post hook's actions on a fake project tree."""

    def test_remove_unchosen(self, tmp_path: Path, post_hook: ModuleType) -> None:
        """Unchosen files and folders go; chosen and shared ones stay."""
        for index, combination in enumerate(all_combinations(post_hook)):
            root = tmp_path / str(index)
            build_fake_project(root, post_hook)
            post_hook.remove_unchosen(root, combination)
            for relative in post_hook.unchosen_paths(combination):
                assert not (root / relative).exists(), (combination, relative)
            for relative in owned_paths(post_hook, combination):
                assert (root / relative).exists(), (combination, relative)
            assert (root / "app" / "main.py").is_file()

    def test_main_promotes_the_chosen_variant(
        self, tmp_path: Path, post_hook: ModuleType
    ) -> None:
        """The chosen variant takes the final name and no variant is left."""
        for index, combination in enumerate(all_combinations(post_hook)):
            root = tmp_path / str(index)
            build_fake_project(root, post_hook)
            assert post_hook.main(root, combination) == 0
            unneeded = unneeded_paths(post_hook, combination)
            for option, pattern, target in post_hook.PROMOTED:
                if pattern.format(combination[option]) in unneeded:
                    assert not (root / target).exists(), (combination, target)
                    continue
                text = variant_file(root / target).read_text(encoding="utf-8")
                assert text == f"# variant {combination[option]}\n", combination
                assert not list(root.glob(pattern.format("*"))), combination

    def test_write_env_makes_a_fresh_key(
        self, tmp_path: Path, post_hook: ModuleType
    ) -> None:
        """Each call writes a new long URL-safe key and keeps the other lines."""
        build_fake_project(tmp_path, post_hook)
        example = (tmp_path / ".env.example").read_text(encoding="utf-8")
        keys = []
        for _ in range(3):
            post_hook.write_env(tmp_path)
            env = (tmp_path / ".env").read_text(encoding="utf-8")
            assert post_hook.EXAMPLE_KEY not in env
            assert env.startswith(post_hook.ENV_HEADER)
            body = env.removeprefix(post_hook.ENV_HEADER)
            # The example's leading comment (how to copy it) is not repeated.
            expected = example.removeprefix("# Copy to .env\n")
            assert body.replace(secret_key(tmp_path / ".env"), "") == expected.replace(
                post_hook.EXAMPLE_KEY, ""
            )
            keys.append(secret_key(tmp_path / ".env"))
        assert len(set(keys)) == len(keys)
        for key in keys:
            assert len(key) >= 43
            assert re.fullmatch(r"[A-Za-z0-9_-]+", key), key
        assert (tmp_path / ".env.example").read_text(encoding="utf-8") == example


@pytest.mark.parametrize("hook", ["pre_gen_project", "post_gen_project"])
def test_rendered_hook_is_ruff_clean(hook: str, tmp_path: Path) -> None:
    """The hook as cookiecutter runs it passes ruff check and ruff format."""
    script = tmp_path / f"{hook}.py"
    script.write_text(render_hook(hook, answers()), encoding="utf-8")
    config = ["--config", TEMPLATE_DIR / "pyproject.toml"]
    run([sys.executable, "-m", "ruff", "check", *config, script], cwd=tmp_path)
    run(
        [sys.executable, "-m", "ruff", "format", "--check", *config, script],
        cwd=tmp_path,
    )
