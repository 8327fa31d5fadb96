"""The agent's protocol client, speaking real HTTP to a real server (uvicorn in a thread)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from conftest import Api
from openmtd.agent.client import (
    UNCHANGED,
    AgentClient,
    AgentError,
    DeviceDescription,
    Enrollment,
    ServerUnreachable,
    SyncPayload,
)
from openmtd.agent.collectors.simulated import simulate
from openmtd.agent.reports import build_checkin
from openmtd.cli.serve import ServerThread
from openmtd.domain.enums import EnrollmentScenario, Platform, RiskLevel
from openmtd.enrollment.managed_config import PrivacySettings

TODAY = date(2026, 11, 26)
PIXEL = DeviceDescription(model="Pixel 8", manufacturer="Google", os_version="16")


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def enroll(url: str, token: str, scenario: str = "android-work-profile") -> Enrollment:
    device = simulate(scenario, seed=3, today=TODAY)
    f = device.facts
    with AgentClient(url) as client:
        return client.enroll(
            onboarding_token=token,
            platform=f.platform,
            scenario=f.scenario,
            hardware_id=device.hardware_id,
            device=DeviceDescription(model=f.model, os_version=f.os_version),
        )


def test_enroll_check_in_sync_and_own_record(server: ServerThread, api: Api) -> None:
    enrolled = enroll(server.url, api.onboarding_token())
    assert enrolled.device_credential.startswith("omt_dev_")
    assert enrolled.protection_scope == "work-profile"

    device = simulate("android-work-profile", seed=3, today=TODAY)
    report = build_checkin(
        device.facts,
        collected_at=datetime.now(UTC),
        privacy=PrivacySettings(),
        integrity_signals=device.integrity_signals,
    )
    with AgentClient(server.url, credential=enrolled.device_credential) as client:
        first = client.check_in(enrolled.device_id, report)
        assert not first.duplicate
        assert first.report_id == report["report_id"]
        assert first.risk_level is RiskLevel.SECURED
        again = client.check_in(enrolled.device_id, report)
        assert again.duplicate

        synced = client.sync(enrolled.device_id)
        assert isinstance(synced, SyncPayload)
        assert synced.etag == first.sync_etag
        assert synced.privacy == PrivacySettings()  # work profile: nothing withheld by default
        assert client.sync(enrolled.device_id, etag=synced.etag) == UNCHANGED
        assert isinstance(client.sync(enrolled.device_id, etag='"stale"'), SyncPayload)

        own = client.own_device(enrolled.device_id)
        assert own["device_id"] == enrolled.device_id
        assert own["risk_level"] == "Secured"

    r = api.client.get(f"/api/devices/{enrolled.device_id}", headers=api.headers())
    assert r.json()["app_count"] == len(device.facts.apps) > 0


def test_server_errors_become_typed_agent_errors(server: ServerThread, api: Api) -> None:
    with pytest.raises(AgentError) as bad_token:
        enroll(server.url, "omt_onb_not-a-real-token")
    assert (bad_token.value.code, bad_token.value.status) == ("onboarding_token_rejected", 401)
    assert bad_token.value.message == "unknown onboarding token"

    with AgentClient(server.url) as client, pytest.raises(AgentError) as refused:
        client.enroll(
            onboarding_token=api.onboarding_token(),
            platform=Platform.ANDROID,
            scenario=EnrollmentScenario.ANDROID_AOSP,
            hardware_id=uuid.uuid4().hex,
            device=PIXEL,
        )
    assert (refused.value.code, refused.value.status) == ("enrollment_refused", 422)
    assert "'android-aosp'" in refused.value.message

    enrolled = enroll(server.url, api.onboarding_token())
    with (
        AgentClient(server.url, credential="omt_dev_wrong") as client,
        pytest.raises(AgentError) as unknown,
    ):
        client.sync(enrolled.device_id)
    assert (unknown.value.code, unknown.value.status) == ("bad_device_credential", 401)


def test_a_server_that_does_not_answer_is_unreachable() -> None:
    with ServerThread() as srv:
        url = srv.url  # bound, never started: nobody accepts the connection
    with AgentClient(url, timeout=2) as client, pytest.raises(ServerUnreachable) as e:
        client.sync("00000000-0000-0000-0000-000000000000")
    assert e.value.status == 0
    assert e.value.code == "server_unreachable"
