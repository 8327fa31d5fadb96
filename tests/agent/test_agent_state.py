"""The agent's state file: private (0600), written atomically, credential never shown."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from openmtd.agent import state as agent_state
from openmtd.agent.collectors.simulated import simulate
from openmtd.agent.onboarding import onboard, plan_from_options
from openmtd.agent.runner import run_once
from openmtd.cli.serve import ServerThread
from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.enrollment.managed_config import PrivacySettings

SECRET = "omt_dev_very-secret-credential"


def sample(**changes: Any) -> agent_state.AgentState:
    state = agent_state.AgentState(
        server_url="https://mtd.example.test",
        device_id="3f7c1a52-0c1e-4d0e-9d3b-6a1f1b7c2e90",
        device_credential=SECRET,
        platform=Platform.IOS,
        scenario=EnrollmentScenario.IOS_SUPERVISED,
        hardware_id="0123456789abcdef",
        protection_scope="entire-device",
        device_group="default",
        enrolled_at="2026-11-26T12:00:00+00:00",
        collector=agent_state.Collector("simulated", "ios-supervised", 4, "2026-11-26"),
        privacy=PrivacySettings(exclude_url_in_report=True),
    )
    return state.with_changes(**changes)


def test_state_round_trips_with_mode_0600_in_a_private_folder(tmp_path: Path) -> None:
    folder = tmp_path / "agent"
    path = agent_state.save(folder, sample())
    assert path.stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    assert agent_state.load(folder) == sample()
    agent_state.save(folder, sample(sync_etag='"abc"'))
    assert agent_state.load(folder).sync_etag == '"abc"'
    assert sorted(p.name for p in folder.iterdir()) == ["state.json"]  # no temporary left over


def test_a_failed_write_keeps_the_previous_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_state.save(tmp_path, sample())

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(agent_state.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        agent_state.save(tmp_path, sample(sync_etag='"new"'))
    monkeypatch.undo()
    assert agent_state.load(tmp_path) == sample()
    assert sorted(os.listdir(tmp_path)) == ["state.json"]


def test_the_credential_is_not_in_the_repr(tmp_path: Path) -> None:
    assert SECRET not in repr(sample())
    assert SECRET not in str(sample())


def test_missing_or_broken_state_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(agent_state.StateError, match="enroll first"):
        agent_state.load(tmp_path)
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(agent_state.StateError, match="unreadable"):
        agent_state.load(tmp_path)


def test_default_folder_is_per_name() -> None:
    assert agent_state.default_state_dir("phone").parts[-3:] == ("share", "openmtd-agent", "phone")


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def test_enrolling_and_running_never_log_the_credential(
    server: ServerThread, api: Api, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    today = date(2026, 11, 26)
    device = simulate("android-work-profile", seed=2, today=today)
    with caplog.at_level(logging.DEBUG):
        done = onboard(
            plan_from_options(
                server_url=server.url,
                onboarding_token=api.onboarding_token(),
                scenario=EnrollmentScenario.ANDROID_WORK_PROFILE,
            ),
            device,
            confirm=lambda _q: True,
            state_dir=tmp_path,
            collector=agent_state.Collector("simulated", "android-work-profile", 2, "2026-11-26"),
            now=datetime.now(UTC),
        )
        server.stop()
        run_once(tmp_path, device, now=datetime.now(UTC))  # offline: spools and logs nothing
    credential = done.state.device_credential
    assert credential.startswith("omt_dev_")
    assert caplog.records  # httpx logged its requests …
    assert credential not in caplog.text  # … but never the credential
    assert credential not in repr(done)
    on_disk = [p for p in tmp_path.rglob("*") if p.is_file() and credential in p.read_text()]
    assert on_disk == [tmp_path / "state.json"]
