"""Detections become alerts and events; device risk follows every alert change."""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import error

from conftest import Api, FakeClock

MALWARE = {
    "category": "Malware",
    "title": "malicious app",
    "severity": "Medium",
    "key": "com.bad",
    "evidence": {"package": "com.bad"},
}
JAILBREAK = {"category": "Jailbreak", "title": "jailbroken", "severity": "High", "key": "jb"}
WIFI = {"category": "RogueWifi", "title": "Rogue Wi-Fi network", "severity": "Low", "key": "cafe"}
PHISHING = {
    "category": "Phishing",
    "title": "phishing warning",
    "severity": "Informational",
    "key": "smartscreentestratings2.net",
}


def alerts(api: Api, role: str = "read-only", **params: Any) -> list[dict[str, Any]]:
    r = api.client.get("/api/alerts", params=params, headers=api.headers(role))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def device_detail(api: Api, device: dict[str, Any]) -> dict[str, Any]:
    return dict(api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers()).json())


def patch(api: Api, alert_id: int, role: str = "analyst", **body: Any) -> Any:
    return api.client.patch(f"/api/alerts/{alert_id}", json=body, headers=api.headers(role))


def test_detections_become_alerts_deduplicated_by_category_and_key(
    api: Api, clock: FakeClock
) -> None:
    device = api.enroll()
    first = api.checkin(device, detections=[MALWARE])
    assert first["alerts_raised"] == 1 and first["risk_level"] == "Medium"
    (alert,) = alerts(api)
    assert alert["dedup_key"] == "Malware:com.bad"
    assert (alert["count"], alert["first_seen"], alert["last_seen"]) == (
        1,
        "2026-11-26T12:00:00Z",
        "2026-11-26T12:00:00Z",
    )
    assert (alert["status"], alert["classification"], alert["assigned_to"]) == (
        "New",
        "Unknown",
        None,
    )
    clock.advance(hours=2)
    again = api.checkin(device, detections=[MALWARE | {"title": "still there"}])
    assert again["alerts_raised"] == 0
    (alert,) = alerts(api)
    assert alert["count"] == 2
    assert alert["first_seen"] == "2026-11-26T12:00:00Z"
    assert alert["last_seen"] == "2026-11-26T14:00:00Z"
    # Same key in another category, or another key: different alerts.
    api.checkin(
        device, detections=[MALWARE | {"key": "com.other"}, MALWARE | {"category": "Sideloaded"}]
    )
    assert len(alerts(api)) == 3
    # Another device with the same detection gets its own alert.
    other = api.enroll()
    api.checkin(other, detections=[MALWARE])
    assert len(alerts(api, device_id=other["device_id"])) == 1
    mine = alerts(api, device_id=device["device_id"], category="Malware")
    assert {a["dedup_key"]: a["count"] for a in mine} == {
        "Malware:com.bad": 2,
        "Malware:com.other": 1,
    }


def test_a_repeated_detection_can_only_raise_severity(api: Api) -> None:
    device = api.enroll()
    api.checkin(device, detections=[WIFI])
    api.checkin(device, detections=[WIFI | {"severity": "High"}])
    assert alerts(api)[0]["severity"] == "High"
    assert device_detail(api, device)["risk_level"] == "High"
    api.checkin(device, detections=[WIFI | {"severity": "Low"}])
    assert alerts(api)[0]["severity"] == "High"


def test_timeline_only_detections_become_events_not_alerts(api: Api) -> None:
    device = api.enroll()
    result = api.checkin(
        device,
        detections=[
            {
                "category": "OpenNetwork",
                "title": "joined open network 'Cafe'",
                "severity": "Informational",
                "key": "Cafe",
                "timeline_only": True,
                "evidence": {"ssid": "Cafe"},
            },
        ],
    )
    assert result["alerts_raised"] == 0
    assert alerts(api) == []
    d = device_detail(api, device)
    assert d["risk_level"] == "Secured"
    # The same check-in is also the device's first (its health state becomes "secured").
    [event] = [e for e in d["timeline"] if e["kind"] == "OpenNetwork"]
    assert event["summary"] == "joined open network 'Cafe'"
    assert event["details"] == {"severity": "Informational", "evidence": {"ssid": "Cafe"}}


def test_resolved_detections_resolve_the_alert_and_lower_risk(api: Api) -> None:
    device = api.enroll()
    api.checkin(device, detections=[JAILBREAK, WIFI])
    assert device_detail(api, device)["risk_level"] == "High"
    result = api.checkin(device, detections=[JAILBREAK | {"resolved": True}])
    assert result["risk_level"] == "Low"
    by_category = {a["category"]: a for a in alerts(api)}
    assert by_category["Jailbreak"]["status"] == "Resolved"
    assert by_category["Jailbreak"]["resolved_at"] == "2026-11-26T12:00:00Z"
    assert by_category["RogueWifi"]["status"] == "New"
    d = device_detail(api, device)
    assert d["risk_level"] == "Low"
    assert any(
        e["summary"].endswith("resolved: the device reports the condition is gone")
        for e in d["timeline"]
    )
    # Seen again after it was resolved: a new alert.
    api.checkin(device, detections=[JAILBREAK])
    jailbreaks = alerts(api, category="Jailbreak")
    assert sorted(a["status"] for a in jailbreaks) == ["New", "Resolved"]
    assert device_detail(api, device)["risk_level"] == "High"


def test_risk_is_the_highest_active_non_informational_severity(api: Api) -> None:
    device = api.enroll()
    assert api.checkin(device, detections=[PHISHING])["risk_level"] == "Secured"
    assert len(alerts(api)) == 1  # the Informational alert exists, but does not raise risk
    d = device_detail(api, device)
    assert (d["risk_level"], d["risk_reason"]) == ("Secured", "no active alert above Informational")
    assert d["compliant"] is True
    assert api.checkin(device, detections=[WIFI])["risk_level"] == "Low"
    assert device_detail(api, device)["compliant"] is True  # Low is allowed by default
    assert api.checkin(device, detections=[MALWARE])["risk_level"] == "Medium"
    d = device_detail(api, device)
    malware = alerts(api, category="Malware")[0]
    assert d["risk_reason"] == f"Medium: active Medium alert(s) #{malware['id']} 'malicious app'"
    assert d["compliant"] is False


def test_analyst_resolving_and_reopening_recomputes_risk(api: Api, clock: FakeClock) -> None:
    device = api.enroll()
    api.checkin(device, detections=[MALWARE, WIFI])
    malware = alerts(api, category="Malware")[0]
    clock.advance(minutes=10)

    r = patch(api, malware["id"], status="Resolved", classification="TruePositive")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "Resolved"
    assert r.json()["resolved_at"] == "2026-11-26T12:10:00Z"
    assert r.json()["classification"] == "TruePositive"
    d = device_detail(api, device)
    assert d["risk_level"] == "Low"
    listed = api.client.get("/api/devices", params={"risk": "Low"}, headers=api.headers())
    assert [x["id"] for x in listed.json()["items"]] == [device["device_id"]]
    # Newest first; compliance and health-state events of the same change are left out here.
    timeline = [e for e in d["timeline"] if e["kind"] in ("risk", "alert")]
    assert timeline[0]["summary"].startswith("risk Medium -> Low")
    assert timeline[1]["summary"] == (f"alert #{malware['id']} set to Resolved by analyst-user")

    r = patch(api, malware["id"], status="New")
    assert r.status_code == 200 and r.json()["resolved_at"] is None
    assert device_detail(api, device)["risk_level"] == "Medium"
    r = patch(api, malware["id"], status="InProgress", assigned_to="alice")
    assert r.json()["assigned_to"] == "alice"
    assert device_detail(api, device)["risk_level"] == "Medium"  # still active
    r = patch(api, malware["id"], unassign=True)
    assert r.json()["assigned_to"] is None


def test_alert_updates_are_audited(api: Api) -> None:
    device = api.enroll()
    api.checkin(device, detections=[MALWARE])
    alert_id = alerts(api)[0]["id"]
    patch(api, alert_id, status="Resolved", assigned_to="bob", role="admin")
    patch(api, alert_id, status="Resolved", assigned_to="bob")  # no change: no entry
    audit = api.client.get("/api/audit", headers=api.headers()).json()["items"]
    updates = [e for e in audit if e["action"] == "alert.update"]
    assert len(updates) == 1
    assert updates[0]["actor"] == "admin-user"
    assert updates[0]["target"] == f"alert:{alert_id}"
    assert updates[0]["details"]["changes"] == {
        "status": ["New", "Resolved"],
        "assigned_to": [None, "bob"],
    }


def test_alert_filters_and_pagination(api: Api, clock: FakeClock) -> None:
    android = api.enroll()
    iphone = api.enroll("ios-supervised")
    iphone["_scenario"] = "ios-supervised"
    api.checkin(android, detections=[MALWARE, WIFI])
    clock.advance(minutes=1)
    api.checkin(iphone, detections=[JAILBREAK, PHISHING])
    jb = alerts(api, category="Jailbreak")[0]
    patch(api, jb["id"], status="Resolved", assigned_to="carol")

    def titles(**params: Any) -> set[str]:
        return {a["title"] for a in alerts(api, **params)}

    assert len(alerts(api)) == 4
    assert titles(severity="High") == {"jailbroken"}
    assert titles(severity="Informational") == {"phishing warning"}
    assert titles(status="Resolved") == {"jailbroken"}
    assert titles(status="New") == {"malicious app", "Rogue Wi-Fi network", "phishing warning"}
    assert titles(active=True) == {"malicious app", "Rogue Wi-Fi network", "phishing warning"}
    assert titles(category="RogueWifi") == {"Rogue Wi-Fi network"}
    assert titles(device_id=android["device_id"]) == {"malicious app", "Rogue Wi-Fi network"}
    assert titles(platform="ios") == {"jailbroken", "phishing warning"}
    assert titles(platform="android", severity="Low") == {"Rogue Wi-Fi network"}
    assert titles(assigned_to="carol") == {"jailbroken"}
    assert titles(category="Nothing") == set()
    # Newest activity first, then pages.
    first = api.client.get("/api/alerts", params={"limit": 3}, headers=api.headers()).json()
    assert first["total"] == 4 and len(first["items"]) == 3
    assert first["items"][0]["device_id"] == iphone["device_id"]
    rest = api.client.get(
        "/api/alerts", params={"limit": 3, "offset": 3}, headers=api.headers()
    ).json()
    assert len(rest["items"]) == 1
    assert {a["id"] for a in first["items"] + rest["items"]} == {a["id"] for a in alerts(api)}
    one = api.client.get(f"/api/alerts/{jb['id']}", headers=api.headers("read-only"))
    assert one.status_code == 200 and one.json()["assigned_to"] == "carol"


def test_who_may_change_alerts(api: Api) -> None:
    device = api.enroll()
    api.checkin(device, detections=[MALWARE])
    alert_id = alerts(api)[0]["id"]
    r = patch(api, alert_id, role="read-only", status="Resolved")
    assert error(r, 403, "role_required") == (
        "this needs the analyst role; 'read-only-user' has read-only"
    )
    r = api.client.patch(f"/api/alerts/{alert_id}", json={"status": "Resolved"})
    error(r, 401, "authentication_required")
    assert alerts(api)[0]["status"] == "New"
    assert device_detail(api, device)["risk_level"] == "Medium"
    assert patch(api, alert_id, role="analyst", status="Resolved").status_code == 200
    assert patch(api, alert_id, role="admin", status="New").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"status": "Closed"}, 422, "invalid_input", "invalid request: body.status:"),
        ({"severity": "Low"}, 422, "invalid_input", "invalid request: body.severity:"),
        (
            {"assigned_to": "a", "unassign": True},
            422,
            "invalid_input",
            "give either assigned_to or unassign, not both",
        ),
        ({"assigned_to": "x" * 65}, 422, "invalid_input", "invalid request: body.assigned_to:"),
    ],
)
def test_bad_alert_updates(
    api: Api, body: dict[str, Any], status: int, code: str, message: str
) -> None:
    device = api.enroll()
    api.checkin(device, detections=[MALWARE])
    alert_id = alerts(api)[0]["id"]
    assert error(patch(api, alert_id, **body), status, code).startswith(message)
    assert alerts(api)[0]["status"] == "New"


def test_unknown_alert_is_404(api: Api) -> None:
    assert error(patch(api, 424242, status="Resolved"), 404, "not_found") == (
        "alert 424242 does not exist"
    )
    r = api.client.get("/api/alerts/424242", headers=api.headers())
    assert error(r, 404, "not_found") == "alert 424242 does not exist"
