"""Pin what every generated project installs, in its ``constraints.txt``.

Usage, from the template's root with its test tools installed
(``pip install --group test``)::

    .venv/bin/python scripts/lock.py            # add pins for new requirements
    .venv/bin/python scripts/lock.py --upgrade  # move every pin to the newest

It renders the ``pyproject.toml`` of every combination of options, takes the
union of their runtime and ``dev`` requirements, and has uv resolve it for
every platform (``--universal``) with the oldest Python the projects accept.
Without ``--upgrade`` the pins already in the file are kept where they still
fit. One file serves every combination: constraints only pin, they never add
a package that a project does not ask for. The template's tests then install
each combination with it (``tests/test_matrix.py``) and check that it pins
every requirement (``tests/test_lock.py``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
# The tests' helpers, and the template's Jinja extensions they render with.
sys.path[:0] = [str(TEMPLATE_DIR / "tests"), str(TEMPLATE_DIR)]

from helpers import (  # noqa: E402 - found through sys.path
    PROJECT_TEMPLATE_DIR,
    combinations,
    project_requirements,
)

CONSTRAINTS = PROJECT_TEMPLATE_DIR / "constraints.txt"
PYTHON_VERSION = "3.11"
HEADER = """\
# The exact versions this project was generated and tested with, for every
# platform: `pip install -c constraints.txt -e '.[dev]'`. The template writes
# them (its `python scripts/lock.py`); `cruft update` brings newer ones.
"""


def union_of_requirements() -> list[str]:
    """Return every requirement of every combination, sorted, each once."""
    found: set[str] = set()
    for combination in combinations():
        found.update(project_requirements(combination))
    return sorted(found)


def lock(*, upgrade: bool) -> None:
    """Resolve the union of the requirements into ``CONSTRAINTS``."""
    from uv import find_uv_bin

    with tempfile.TemporaryDirectory() as directory:
        requirements = Path(directory) / "requirements.in"
        requirements.write_text("\n".join(union_of_requirements()) + "\n", "utf-8")
        command = [find_uv_bin(), "pip", "compile", "--no-config", "--quiet"]
        command += ["--universal", "--python-version", PYTHON_VERSION]
        command += ["--no-annotate", "--no-header"]
        command += ["--output-file", str(CONSTRAINTS), str(requirements)]
        if upgrade:
            command.append("--upgrade")
        subprocess.run(command, check=True, cwd=TEMPLATE_DIR)
    pins = [
        line
        for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines(keepends=True)
        if not line.startswith("#")
    ]
    CONSTRAINTS.write_text(HEADER + "".join(pins), encoding="utf-8")


def main() -> int:
    """Parse the command line and write the constraints file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--upgrade", action="store_true", help="move every pin to the newest version"
    )
    args = parser.parse_args()
    try:
        lock(upgrade=args.upgrade)
    except subprocess.CalledProcessError as error:
        print(f"error: uv exited with {error.returncode}", file=sys.stderr)
        return 1
    print(f"wrote {CONSTRAINTS.relative_to(TEMPLATE_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
