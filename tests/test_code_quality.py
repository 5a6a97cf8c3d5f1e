"""The project's own checks run with the suite, so CI enforces them: ruff and the import-linter layers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_finds_nothing():
    result = _run(str(BIN / "ruff"), "check", "neutrino", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers_are_kept():
    result = _run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr
