"""Retiring a device: it leaves the inventory and its credential stops working; history stays."""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import device_auth, error

from conftest import Api, FakeClock

MALWARE = {"category": "Malware", "title": "bad app", "severity": "High", "key": "com.bad"}
WIFI = {"category": "RogueWifi", "title": "Rogue Wi-Fi network", "severity": "Low", "key": "cafe"}


def retire(api: Api, device_id: str, reason: str = "lost phone", role: str = "admin") -> Any:
    return api.client.post(
        f"/api/devices/{device_id}/retire", json={"reason": reason}, headers=api.headers(role)
    )


def listed(api: Api, **params: Any) -> list[str]:
    r = api.client.get("/api/devices", params=params, headers=api.headers("read-only"))
    assert r.status_code == 200, r.text
    return [d["id"] for d in r.json()["items"]]


def test_admin_retires_a_device(api: Api, clock: FakeClock) -> None:
    device = api.enroll()
    other = api.enroll("ios-supervised")
    api.checkin(device, detections=[MALWARE, WIFI])
    api.checkin(
        other,
        facts={
            "platform": "ios",
            "scenario": "ios-supervised",
            "os_version": "18.3.2",
            "model": "iPhone 15",
        },
        detections=[{**WIFI, "key": "airport"}],
    )
    before = api.client.get("/api/devices/summary", headers=api.headers()).json()
    assert before["total"] == 2
    assert before["by_risk"] == {"High": 1, "Low": 1}
    assert before["active_alerts_by_severity"] == {"High": 1, "Low": 2}

    clock.advance(hours=2)
    r = retire(api, device["device_id"], reason="  lost on the train  ")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["id"] == device["device_id"]
    assert d["retired_at"] == "2026-11-26T14:00:00Z"
    # Its alerts are resolved, so its risk no longer counts.
    assert sorted((a["title"], a["status"]) for a in d["alerts"]) == [
        ("Rogue Wi-Fi network", "Resolved"),
        ("bad app", "Resolved"),
    ]
    assert all(a["resolved_at"] == "2026-11-26T14:00:00Z" for a in d["alerts"])
    assert d["risk_level"] == "Secured"
    assert "retired: no longer onboarded" in d["compliance_reasons"]
    assert d["compliant"] is False
    # The timeline says who retired it and why (newest first: the retirement, then the risk).
    newest = d["timeline"][0]
    assert (newest["kind"], newest["summary"]) == (
        "enrollment",
        "retired by admin-user: lost on the train",
    )
    assert newest["occurred_at"] == "2026-11-26T14:00:00Z"
    assert any(
        e["kind"] == "risk" and e["summary"].startswith("risk High -> Secured")
        for e in d["timeline"]
    )

    after = api.client.get("/api/devices/summary", headers=api.headers()).json()
    assert after["total"] == 1
    assert after["by_risk"] == {"Low": 1}
    assert after["active_alerts_by_severity"] == {"Low": 1}
    r = api.client.get(
        "/api/alerts",
        params={"device_id": device["device_id"], "status": "New"},
        headers=api.headers(),
    )
    assert r.json()["total"] == 0

    # The audit log records it.
    audit = api.client.get("/api/audit", headers=api.headers()).json()["items"]
    (entry,) = [e for e in audit if e["action"] == "device.retire"]
    assert entry["actor"] == "admin-user"
    assert entry["target"] == f"device:{device['device_id']}"
    assert entry["details"] == {"reason": "lost on the train", "alerts_resolved": 2}
    assert entry["at"] == "2026-11-26T14:00:00Z"

    # Hidden from the default list, shown with include_retired=true (and the record is kept).
    assert listed(api) == [other["device_id"]]
    assert set(listed(api, include_retired="true")) == {device["device_id"], other["device_id"]}
    items = api.client.get(
        "/api/devices", params={"include_retired": True}, headers=api.headers("read-only")
    ).json()["items"]
    state = {i["id"]: i["retired_at"] for i in items}
    assert state == {device["device_id"]: "2026-11-26T14:00:00Z", other["device_id"]: None}
    r = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers("read-only"))
    assert r.status_code == 200 and r.json()["retired_at"] == "2026-11-26T14:00:00Z"


def test_a_retired_device_credential_is_refused(api: Api) -> None:
    device = api.enroll()
    api.checkin(device)
    assert retire(api, device["device_id"]).status_code == 200
    r = api.client.post(
        f"/api/agent/v1/devices/{device['device_id']}/checkins",
        json={
            "report_id": "after-retirement",
            "collected_at": api.clock().isoformat(),
            "facts": {
                "platform": "android",
                "scenario": "android-work-profile",
                "os_version": "14",
                "model": "Pixel 8",
            },
            "detections": [MALWARE],
        },
        headers=device_auth(device),
    )
    assert error(r, 401, "device_retired") == (
        f"device {device['device_id']} was retired; enroll again"
    )
    r = api.client.get(
        f"/api/agent/v1/devices/{device['device_id']}/sync", headers=device_auth(device)
    )
    error(r, 401, "device_retired")
    # Nothing from the refused check-in was stored.
    d = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers()).json()
    assert d["alerts"] == []


@pytest.mark.parametrize("role", ["read-only", "analyst"])
def test_only_admins_retire(api: Api, role: str) -> None:
    device = api.enroll()
    r = retire(api, device["device_id"], role=role)
    assert "this needs the admin role" in error(r, 403, "role_required")
    assert listed(api) == [device["device_id"]]
    audit = api.client.get("/api/audit", headers=api.headers()).json()["items"]
    assert not [e for e in audit if e["action"] == "device.retire"]


def test_retire_needs_a_caller(api: Api) -> None:
    device = api.enroll()
    r = api.client.post(f"/api/devices/{device['device_id']}/retire", json={"reason": "lost"})
    error(r, 401, "authentication_required")


def test_unknown_device_is_404(api: Api) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert error(retire(api, missing), 404, "not_found") == f"device {missing} does not exist"


def test_retiring_twice_is_409(api: Api, clock: FakeClock) -> None:
    device = api.enroll()
    assert retire(api, device["device_id"]).status_code == 200
    clock.advance(hours=1)
    r = retire(api, device["device_id"], reason="again")
    assert error(r, 409, "already_retired") == f"device {device['device_id']} is already retired"
    d = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers()).json()
    assert d["retired_at"] == "2026-11-26T12:00:00Z"  # unchanged
    assert [e["summary"] for e in d["timeline"] if e["summary"].startswith("retired by")] == [
        "retired by admin-user: lost phone"
    ]
    audit = api.client.get("/api/audit", headers=api.headers()).json()["items"]
    assert len([e for e in audit if e["action"] == "device.retire"]) == 1


def test_a_device_retired_by_reenrollment_is_409(api: Api) -> None:
    old = api.enroll(hardware_id="hw-same-device")
    api.enroll(hardware_id="hw-same-device")
    error(retire(api, old["device_id"]), 409, "already_retired")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.reason"),
        ({"reason": ""}, "body.reason"),
        ({"reason": "   "}, "body.reason"),
        ({"reason": "x" * 257}, "body.reason"),
        ({"reason": 5}, "body.reason"),
        ({"reason": "lost", "wipe": True}, "body.wipe"),
    ],
)
def test_bad_bodies_are_422(api: Api, body: dict[str, Any], field: str) -> None:
    device = api.enroll()
    r = api.client.post(
        f"/api/devices/{device['device_id']}/retire", json=body, headers=api.headers()
    )
    assert error(r, 422, "invalid_input").startswith(f"invalid request: {field}:")
    assert listed(api) == [device["device_id"]]


def test_a_256_character_reason_is_kept_whole(api: Api) -> None:
    device = api.enroll()
    reason = "r" * 256
    r = retire(api, device["device_id"], reason=reason)
    assert r.status_code == 200, r.text
    assert r.json()["timeline"][0]["summary"] == f"retired by admin-user: {reason}"
