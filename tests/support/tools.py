"""External tools some tests run (node's AsyncAPI parser, kcat, the faust example's venv).

Where a tool is missing the test is skipped with the reason and the command that installs
it, except under ``GRAPHFETCH_REQUIRE_TOOLS=1`` (set by ``.ci/run``), where a missing tool
fails the test: in CI every tool must be present and every such test run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

__all__ = ["REPO", "require", "require_executable"]

REPO = Path(__file__).resolve().parents[2]


def require(present: bool, *, what: str, install: str) -> None:
    """Skip (or, in CI, fail) the calling test unless ``present``, naming ``what`` and how to get it."""
    if present:
        return
    message = f"{what} is missing; {install}"
    if os.environ.get("GRAPHFETCH_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{message} (GRAPHFETCH_REQUIRE_TOOLS=1: CI needs every tool)")
    pytest.skip(message)


def require_executable(name: str, *, install: str) -> str:
    """The path of executable ``name``; skips (or fails in CI) when it is not on PATH."""
    path = shutil.which(name)
    require(path is not None, what=name, install=install)
    assert path is not None
    return path
