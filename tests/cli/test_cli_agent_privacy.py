"""`openmtd agent privacy`: the device user's view of the privacy settings, and their toggles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import Api
from openmtd.agent import state as agent_state
from openmtd.cli.main import app
from openmtd.cli.serve import ServerThread
from openmtd.config import Settings

runner = CliRunner()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "server",
        database_url=database_url,
        migrate_on_start=False,
        feed_scheduler=False,
        android_revocation_source="",
        privacy_policy=[
            {
                "scopes": ["work-profile"],
                "user_toggles": ["exclude_url_in_report", "exclude_app_in_report"],
            }
        ],
    )


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def agent(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, ["agent", *args], env=env)


def one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_show_then_change_an_allowed_key(server: ServerThread, api: Api, tmp_path: Path) -> None:
    state_dir = str(tmp_path / "wp")
    enrolled = agent(
        "enroll",
        "--server",
        server.url,
        "--scenario",
        "android-work-profile",
        "--simulate",
        "android-work-profile",
        "--state-dir",
        state_dir,
        "--yes",
        env={"OPENMTD_ONBOARDING_TOKEN": api.onboarding_token()},
    )
    assert enrolled.exit_code == 0, enrolled.output

    shown = agent("privacy", "--state-dir", state_dir, "--json")
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert doc["privacy"] == {
        "exclude_url_in_report": False,
        "exclude_app_in_report": False,
        "vulnerability_privacy_mode": False,
        "network_protection_privacy": True,
    }
    assert doc["user_toggles"] == ["exclude_url_in_report", "exclude_app_in_report"]
    assert doc["source"] == "server"

    changed = agent(
        "privacy", "--state-dir", state_dir, "--set", "exclude_url_in_report=on", "--json"
    )
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout)["changed"] == ["exclude_url_in_report"]
    assert agent_state.load(Path(state_dir)).privacy.exclude_url_in_report is True
    r = api.client.get(f"/api/devices/{doc['device_id']}", headers=api.headers())
    assert r.json()["privacy"]["exclude_url_in_report"] is True

    table = agent("privacy", "--state-dir", state_dir)
    assert table.exit_code == 0, table.output
    assert "exclude_url_in_report" in table.stdout and "no (organisation)" in table.stdout

    locked = agent("privacy", "--state-dir", state_dir, "--set", "vulnerability_privacy_mode=on")
    assert "vulnerability_privacy_mode" in one_line_error(locked, 1)
    assert agent_state.load(Path(state_dir)).privacy.vulnerability_privacy_mode is False

    bad = agent("privacy", "--state-dir", state_dir, "--set", "exclude_url_in_report=maybe")
    assert "on or off" in one_line_error(bad, 2)
