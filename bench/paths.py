"""Where the bench finds the template, and the helpers it shares with the tests.

``tests/loopback.py`` (standard library only) serves a generated project on
loopback and logs in to it, for the template's tests and for the bench alike.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
sys.path.append(str(TEMPLATE_DIR / "tests"))

import loopback  # noqa: E402 - found through the path above

__all__ = ["BENCH_DIR", "TEMPLATE_DIR", "loopback"]
