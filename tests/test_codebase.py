"""The code-quality gates run as part of the suite, so the README's one test command checks them:
ruff (lint and format), mypy (strict for the pure layers) and the import-linter layer contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / argv[0]
    if not exe.exists():
        found = shutil.which(argv[0])
        if found is None:
            pytest.fail(f"{argv[0]} is not installed; pip install -e '.[test]'")
        exe = Path(found)
    return subprocess.run(
        [str(exe), *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_lint() -> None:
    result = run_tool("ruff", "check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run_tool("ruff", "format", "--check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = run_tool("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers() -> None:
    result = run_tool("lint-imports")
    assert result.returncode == 0, result.stdout + result.stderr
