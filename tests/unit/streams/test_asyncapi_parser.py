"""The committed AsyncAPI document, judged by the AsyncAPI project's own parser (``@asyncapi/parser``).

``scripts/asyncapi/validate.mjs`` runs the parser under Node.js; ``scripts/setup`` installs it
from ``scripts/asyncapi/package-lock.json`` (``npm ci``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.tools import REPO, require, require_executable

VALIDATOR = REPO / "scripts" / "asyncapi" / "validate.mjs"
PARSER = REPO / "scripts" / "asyncapi" / "node_modules" / "@asyncapi" / "parser"
DOCUMENT = REPO / "schemas" / "asyncapi.yaml"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    node = require_executable("node", install="install Node.js 18+ (Debian: apt-get install nodejs npm)")
    require(
        PARSER.exists(), what="@asyncapi/parser", install="run scripts/setup (npm ci in scripts/asyncapi)"
    )
    return subprocess.run([node, str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=60)


def test_the_asyncapi_parser_accepts_the_committed_document_with_no_error() -> None:
    result = _validate(DOCUMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " error " not in result.stdout, result.stdout
    assert result.stdout.strip().endswith("valid AsyncAPI 3.1.0"), result.stdout


def test_the_parser_refuses_a_broken_document(tmp_path: Path) -> None:
    """The check can fail: an operation with an unknown action is an error."""
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(DOCUMENT.read_text().replace("action: send", "action: publish", 1))
    result = _validate(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "action" in result.stdout


pytestmark = pytest.mark.timeout(120)
