"""Every command has a --help that works; the console script is installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from openmtd import __version__
from openmtd.cli.main import app

runner = CliRunner()


def command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


EXPECTED = {
    "serve",
    "pilot",
    "users create-admin",
    "tokens create",
    "tokens list",
    "tokens revoke",
    "tokens managed-config",
    "agent enroll",
    "agent run",
    "agent status",
    "agent privacy",
    "agent access-token",
    "scan-apk",
    "collect android",
    "collect ios",
    "integrity verify-android",
    "integrity rules",
    "vulns match",
    "vulns import",
    "vulns rematch",
    "export status",
    "access nginx-config",
    "access policies",
}


def test_the_command_surface_is_complete() -> None:
    leaves = {" ".join(p) for p in command_paths() if p}
    assert leaves >= EXPECTED


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "openmtd")
def test_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert result.stderr == ""


def test_no_arguments_shows_help_and_fails() -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    assert "Usage:" in result.output


def test_unknown_option_is_one_line_on_stderr() -> None:
    result = runner.invoke(app, ["tokens", "list", "--bogus"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ") and "--bogus" in result.stderr


def test_console_script() -> None:
    script = Path(sys.executable).parent / "openmtd"
    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"openmtd {__version__}"
