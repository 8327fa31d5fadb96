"""The agent client's conditional-launch call, against a real server (uvicorn in a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Api
from openmtd.agent.client import AgentClient, AgentError, LaunchVerdict
from openmtd.cli.serve import ServerThread
from openmtd.domain.enums import RiskLevel

APP = "com.contoso.mail"
HIGH_ALERT = {"category": "Malware", "title": "bad app", "severity": "High", "key": "com.bad"}


@pytest.fixture
def server(app: Any) -> Iterator[ServerThread]:
    with ServerThread() as srv:
        srv.start(app)
        yield srv


def test_a_managed_app_asks_at_launch(server: ServerThread, api: Api) -> None:
    r = api.client.post(
        "/api/launch/policies",
        json={"name": "Mail", "app_ids": [APP], "max_risk": "Medium", "action": "wipe"},
        headers=api.headers(),
    )
    assert r.status_code == 201, r.text
    policy_id = r.json()["id"]
    device = api.enroll("ios-mam")
    device_id = device["device_id"]

    with AgentClient(server.url, credential=device["device_credential"]) as client:
        ok = client.launch_check(APP, "3.4", device_id=device_id)
        assert ok == LaunchVerdict(
            decision="allow",
            threat_level=RiskLevel.SECURED,
            threat_level_code=1,
            action_code=None,
            reason=f"allowed: device threat level Secured is at or under Medium, the maximum "
            f"policy 'Mail' (#{policy_id}) allows",
            policy={"id": policy_id, "name": "Mail", "max_risk": "Medium", "action": "wipe"},
            retry_after_seconds=None,
        )
        assert ok.allowed and not ok.must_wipe

        api.checkin(device, scenario="ios-mam", detections=[HIGH_ALERT])
        wipe = client.launch_check(APP, device_id=device_id)
        assert (wipe.decision, wipe.action_code, wipe.threat_level_code) == ("wipe", 1, 4)
        assert wipe.must_wipe and not wipe.allowed
        assert wipe.retry_after_seconds == 900
        block = client.launch_check(APP, device_id=device_id)
        assert (block.decision, block.action_code, block.threat_level) == (
            "block",
            0,
            RiskLevel.HIGH,
        )

        with pytest.raises(AgentError) as bad:
            client.launch_check("not a package", device_id=device_id)
        assert (bad.value.code, bad.value.status) == ("invalid_input", 422)

    other = api.enroll("android-mam")
    with (
        AgentClient(server.url, credential=other["device_credential"]) as client,
        pytest.raises(AgentError) as refused,
    ):
        client.launch_check(APP, device_id=device_id)
    assert (refused.value.code, refused.value.status) == ("not_your_device", 403)
