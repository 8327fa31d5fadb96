"""Partner health-state changes pushed to an MDM webhook: a real HTTP receiver on loopback
that checks the HMAC signature and de-duplicates by idempotency key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import Api, FakeClock
from exportwire import WebhookReceiver
from openmtd.config import Settings
from openmtd.export_settings import ExportSink
from openmtd.server.app import create_app
from openmtd.server.compliance.schedule import sweep_compliance
from openmtd.server.export.delivery import deliver_due

SECRET = "mdm-webhook-secret-for-the-tests-0123"


@pytest.fixture
def mdm() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret=SECRET.encode())
    yield receiver
    receiver.close()


@pytest.fixture
def api_with_mdm(settings: Settings, clock: FakeClock, mdm: WebhookReceiver) -> Iterator[Api]:
    sink = ExportSink(
        name="mdm", kind="webhook", url=mdm.url, secret=SECRET, topics=("device.health",)
    )
    app = create_app(
        settings.model_copy(update={"export_sinks": [sink], "export_worker": False}), clock=clock
    )
    with TestClient(app) as client:
        yield Api(app, client, clock)
    app.state.ctx.close()


def states(api: Api, mdm: WebhookReceiver) -> list[tuple[str | None, str]]:
    report = deliver_due(api.app.state.ctx, now=api.clock())
    assert report.errors == []
    return [(e["data"]["previous_health_state"], e["data"]["health_state"]) for e in mdm.events]


def test_each_change_reaches_the_mdm_once(api_with_mdm: Api, mdm: WebhookReceiver) -> None:
    api = api_with_mdm
    device = api.enroll(hardware_id="serial-0001-mdm")
    api.checkin(device)
    api.checkin(device)  # nothing changes: nothing is sent
    api.checkin(
        device,
        detections=[{"category": "Jailbreak", "title": "JB", "severity": "High", "key": "jb"}],
    )
    alerts = api.client.get(
        "/api/alerts", params={"device_id": device["device_id"]}, headers=api.headers()
    ).json()["items"]
    r = api.client.patch(
        f"/api/alerts/{alerts[0]['id']}", json={"status": "Resolved"}, headers=api.headers()
    )
    assert r.status_code == 200
    r = api.client.post(
        f"/api/devices/{device['device_id']}/retire", json={"reason": "lost"}, headers=api.headers()
    )
    assert r.status_code == 200
    assert states(api, mdm) == [
        (None, "activated"),
        ("activated", "secured"),
        ("secured", "highSeverity"),
        ("highSeverity", "secured"),
        ("secured", "deactivated"),
    ]
    event: dict[str, Any] = mdm.events[-1]
    assert event["topic"] == "device.health"
    assert event["data"]["hardware_id"] == "serial-0001-mdm"
    assert event["data"]["device_id"] == device["device_id"]
    assert mdm.bad_signatures == 0
    assert len(mdm.requests) == len(mdm.events) == 5
    assert states(api, mdm) == states(api, mdm)  # delivered: not sent again


def test_a_device_that_goes_quiet_is_announced_by_the_sweep(
    api_with_mdm: Api, mdm: WebhookReceiver, clock: FakeClock
) -> None:
    api = api_with_mdm
    device = api.enroll()
    api.checkin(device)
    clock.advance(days=7)
    assert sweep_compliance(api.app.state.ctx) == 0  # exactly N days: not yet
    clock.advance(seconds=1)
    assert sweep_compliance(api.app.state.ctx) == 1
    assert sweep_compliance(api.app.state.ctx) == 0  # announced once
    assert states(api, mdm)[-1] == ("secured", "unresponsive")
    api.checkin(device)
    assert states(api, mdm)[-1] == ("unresponsive", "secured")
