"""Every generated project installs exact versions: its ``constraints.txt``.

``python scripts/lock.py`` writes the file; the matrix installs each
combination with it and fails on anything installed that it does not pin
(``helpers.install_project``). Here: it pins every direct requirement of
every combination, at a version the requirement accepts.
"""

from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers import (
    PROJECT_TEMPLATE_DIR,
    combination_id,
    combinations,
    project_requirements,
    read_pins,
)

CONSTRAINTS = PROJECT_TEMPLATE_DIR / "constraints.txt"
RELOCK = "run `python scripts/lock.py` in the template"


def test_constraints_are_exact_pins() -> None:
    """Each line is ``name==version`` (with a platform marker at most)."""
    pins = read_pins(CONSTRAINTS)
    assert pins, "constraints.txt pins nothing"


@pytest.mark.parametrize("combination", combinations(), ids=combination_id)
def test_every_requirement_is_pinned(combination: dict[str, str]) -> None:
    """Each runtime and dev requirement has a pin that satisfies it."""
    pins = read_pins(CONSTRAINTS)
    problems = []
    for line in project_requirements(combination):
        requirement = Requirement(line)
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{line}: not pinned")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{line}: pinned at {pinned}")
    assert not problems, f"{RELOCK}:\n" + "\n".join(problems)


def test_pre_commit_ruff_matches_the_pin() -> None:
    """pre-commit's own ruff is the version the project installs."""
    config = (PROJECT_TEMPLATE_DIR / ".pre-commit-config.yaml").read_text("utf-8")
    versions = set(re.findall(r"ruff==([\w.]+)", config))
    assert versions == {read_pins(CONSTRAINTS)["ruff"]}, RELOCK
