"""Device inventory API: filters, search, sort, pagination, and the device page."""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import error

from conftest import Api, FakeClock


def ids(api: Api, **params: Any) -> list[str]:
    r = api.client.get("/api/devices", params=params, headers=api.headers("read-only"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] >= len(body["items"])
    return [d["id"] for d in body["items"]]


@pytest.fixture
def fleet(api: Api, clock: FakeClock) -> dict[str, dict[str, Any]]:
    """Four devices with different platforms, scenarios, groups, tags, risk and last seen."""
    sales = api.onboarding_token(device_group="sales", tags=["emea", "sales"])
    ops = api.onboarding_token(device_group="ops", tags=["ops"])
    devices = {
        "pixel": api.enroll(
            "android-work-profile",
            token=sales,
            device={"model": "Pixel 8", "os_version": "14", "name": "Alice Pixel"},
        ),
        "galaxy": api.enroll(
            "android-cobo",
            token=ops,
            device={"model": "Galaxy S24", "os_version": "14", "name": "Kiosk_100%"},
        ),
    }
    clock.advance(days=1)
    devices["iphone"] = api.enroll(
        "ios-supervised",
        token=sales,
        device={"model": "iPhone 15", "os_version": "18.3.2", "name": "Bob iPhone"},
    )
    devices["ipad"] = api.enroll(
        "ios-mam",
        token=ops,
        device={"model": "iPad Air", "os_version": "17.7", "name": "Carol iPad"},
    )
    api.checkin(
        devices["galaxy"],
        facts={
            "platform": "android",
            "scenario": "android-cobo",
            "os_version": "14",
            "model": "Galaxy S24",
        },
        detections=[{"category": "Malware", "title": "bad", "severity": "High", "key": "m"}],
    )
    api.checkin(
        devices["iphone"],
        facts={
            "platform": "ios",
            "scenario": "ios-supervised",
            "os_version": "18.3.2",
            "model": "iPhone 15",
        },
        detections=[
            {"category": "RogueWifi", "title": "Rogue Wi-Fi network", "severity": "Low", "key": "w"}
        ],
    )
    clock.advance(days=7)  # pixel (last seen day 0) is now unresponsive; the others are not
    # (galaxy and iphone were last seen exactly 7 days ago: not more than 7)
    api.checkin(
        devices["ipad"],
        facts={"platform": "ios", "scenario": "ios-mam", "os_version": "17.7", "model": "iPad Air"},
    )
    return devices


def test_filters(api: Api, fleet: dict[str, dict[str, Any]]) -> None:
    f = {name: d["device_id"] for name, d in fleet.items()}
    assert sorted(ids(api)) == sorted(f.values())
    assert set(ids(api, platform="android")) == {f["pixel"], f["galaxy"]}
    assert set(ids(api, platform="ios")) == {f["iphone"], f["ipad"]}
    assert ids(api, scenario="ios-mam") == [f["ipad"]]
    assert ids(api, scenario="android-cope") == []
    assert ids(api, risk="High") == [f["galaxy"]]
    assert ids(api, risk="Low") == [f["iphone"]]
    assert set(ids(api, risk="Secured")) == {f["pixel"], f["ipad"]}
    # compliance: at or under Low (the default), and responsive
    assert set(ids(api, compliant=True)) == {f["iphone"], f["ipad"]}
    assert set(ids(api, compliant=False)) == {f["galaxy"], f["pixel"]}
    assert ids(api, unresponsive=True) == [f["pixel"]]
    assert set(ids(api, tag="sales")) == {f["pixel"], f["iphone"]}
    assert set(ids(api, tag="ops")) == {f["galaxy"], f["ipad"]}
    assert ids(api, tag="sal") == []  # whole tags only
    assert ids(api, tag="%") == []
    assert set(ids(api, group="ops")) == {f["galaxy"], f["ipad"]}
    assert ids(api, group="op") == []
    # last seen: pixel day 0 (enrollment), galaxy and iphone day 1, ipad day 8
    assert set(ids(api, seen_after="2026-11-27T00:00:00Z")) == {f["galaxy"], f["iphone"], f["ipad"]}
    assert ids(api, seen_before="2026-11-27T00:00:00Z") == [f["pixel"]]
    assert set(ids(api, seen_after="2026-11-27T00:00:00Z", seen_before="2026-11-28T00:00:00Z")) == {
        f["galaxy"],
        f["iphone"],
    }
    # An offset is honoured; a datetime without one is taken as UTC.
    assert ids(api, seen_after="2026-11-27T13:00:00+01:00") == ids(
        api, seen_after="2026-11-27T12:00:00"
    )
    assert ids(api, seen_after="2026-12-04T11:00:00") == [f["ipad"]]
    # Combined filters are ANDed.
    assert ids(api, platform="ios", tag="ops") == [f["ipad"]]
    assert ids(api, platform="android", compliant=True) == []


def test_search(api: Api, fleet: dict[str, dict[str, Any]]) -> None:
    f = {name: d["device_id"] for name, d in fleet.items()}
    assert ids(api, q="pixel") == [f["pixel"]]  # name or model, case-insensitive
    assert ids(api, q="GALAXY") == [f["galaxy"]]
    assert set(ids(api, q="18.3")) == {f["iphone"]}  # os version
    assert ids(api, q=f["ipad"][:8]) == [f["ipad"]]  # device id
    assert set(ids(api, q="emea")) == {f["pixel"], f["iphone"]}  # tags
    assert ids(api, q="100%") == [f["galaxy"]]  # LIKE wildcards are literal
    assert ids(api, q="_1") == [f["galaxy"]]
    assert ids(api, q="%") == [f["galaxy"]]
    assert ids(api, q="nothing-like-this") == []


def test_sort_and_pagination(api: Api, fleet: dict[str, dict[str, Any]]) -> None:
    f = {name: d["device_id"] for name, d in fleet.items()}
    by_name = ids(api, sort="name")
    assert by_name == [f["pixel"], f["iphone"], f["ipad"], f["galaxy"]]
    assert ids(api, sort="last_seen")[0] == f["ipad"]  # most recent first
    assert set(ids(api, sort="enrolled")[:2]) == {f["iphone"], f["ipad"]}
    page = api.client.get(
        "/api/devices", params={"sort": "name", "limit": 3, "offset": 0}, headers=api.headers()
    ).json()
    assert (page["total"], page["limit"], page["offset"]) == (4, 3, 0)
    rest = api.client.get(
        "/api/devices", params={"sort": "name", "limit": 3, "offset": 3}, headers=api.headers()
    ).json()
    assert [d["id"] for d in page["items"] + rest["items"]] == by_name
    assert rest["total"] == 4 and len(rest["items"]) == 1
    filtered = api.client.get(
        "/api/devices", params={"platform": "ios", "limit": 1}, headers=api.headers()
    ).json()
    assert filtered["total"] == 2 and len(filtered["items"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "risk"}, "query.sort"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
        ({"offset": -1}, "query.offset"),
        ({"platform": "windows"}, "query.platform"),
        ({"scenario": "android-tv"}, "query.scenario"),
        ({"risk": "Critical"}, "query.risk"),
        ({"compliant": "maybe"}, "query.compliant"),
        ({"seen_after": "yesterday"}, "query.seen_after"),
        ({"q": "x" * 129}, "query.q"),
    ],
)
def test_bad_query_parameters_are_422(api: Api, params: dict[str, Any], field: str) -> None:
    r = api.client.get("/api/devices", params=params, headers=api.headers())
    assert error(r, 422, "invalid_input").startswith(f"invalid request: {field}:")


def test_out_of_range_datetime_is_422_not_500(api: Api) -> None:
    r = api.client.get(
        "/api/devices", params={"seen_after": "0001-01-01T00:00:00+01:00"}, headers=api.headers()
    )
    assert error(r, 422, "invalid_input") == (
        "seen_after is out of range: 0001-01-01T00:00:00+01:00"
    )


def test_device_detail(api: Api, clock: FakeClock) -> None:
    device = api.enroll(
        device={"model": "Pixel 8", "os_version": "14", "build": "AP3A"}, hardware_id="hw-detail-1"
    )
    api.checkin(
        device,
        apps=[
            {
                "identifier": "com.b",
                "version": "2",
                "name": "B",
                "install_source": "sideloaded",
                "sha256": "AB" * 32,
            },
            {"identifier": "com.a", "version": "1", "name": "A", "install_source": "store"},
        ],
    )
    clock.advance(hours=1)
    api.checkin(
        device,
        detections=[
            {
                "category": "Malware",
                "title": "bad app",
                "severity": "Medium",
                "key": "com.b",
                "evidence": {"package": "com.b"},
            },
            {
                "category": "OpenNetwork",
                "title": "open wifi",
                "severity": "Informational",
                "key": "cafe",
                "timeline_only": True,
            },
        ],
    )
    r = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers("read-only"))
    assert r.status_code == 200
    d = r.json()
    assert d["hardware_id"] == "hw-detail-1"
    assert (d["platform"], d["scenario"], d["model"], d["os_version"]) == (
        "android",
        "android-work-profile",
        "Pixel 8",
        "14",
    )
    assert d["security_patch_level"] == "2026-10-01"
    assert d["risk_level"] == "Medium" and d["compliant"] is False
    assert d["risk_reason"].startswith("Medium: active Medium alert(s) #")
    assert d["compliance_reasons"] == [
        f"threat level Medium is above the allowed Low: {d['risk_reason']}"
    ]
    assert d["apps"] == [
        {
            "identifier": "com.a",
            "version": "1",
            "name": "A",
            "install_source": "store",
            "sha256": None,
            "signer_sha256": None,
        },
        {
            "identifier": "com.b",
            "version": "2",
            "name": "B",
            "install_source": "sideloaded",
            "sha256": "ab" * 32,
            "signer_sha256": None,
        },
    ]
    (alert,) = d["alerts"]
    assert (alert["category"], alert["title"], alert["severity"], alert["status"]) == (
        "Malware",
        "bad app",
        "Medium",
        "New",
    )
    assert alert["evidence"] == {"package": "com.b"}
    kinds = [e["kind"] for e in d["timeline"]]  # newest first
    assert kinds[-1] == "enrollment"
    assert {"alert", "risk", "OpenNetwork"} <= set(kinds)
    times = [e["occurred_at"] for e in d["timeline"]]
    assert times == sorted(times, reverse=True)
    risk_event = next(e for e in d["timeline"] if e["kind"] == "risk")
    assert risk_event["summary"].startswith("risk Secured -> Medium: Medium: active Medium")


def test_unknown_and_malformed_device_ids(api: Api) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    r = api.client.get(f"/api/devices/{missing}", headers=api.headers())
    assert error(r, 404, "not_found") == f"device {missing} does not exist"
    r = api.client.get("/api/devices/not-a-device-id", headers=api.headers())
    assert error(r, 422, "invalid_input").startswith("invalid request: path.device_id:")


def test_fleet_summary(api: Api, fleet: dict[str, dict[str, Any]]) -> None:
    s = api.client.get("/api/devices/summary", headers=api.headers("read-only")).json()
    assert s == {
        "total": 4,
        "by_platform": {"android": 2, "ios": 2},
        "by_risk": {"High": 1, "Low": 1, "Secured": 2},
        "by_scenario": {
            "android-work-profile": 1,
            "android-cobo": 1,
            "ios-supervised": 1,
            "ios-mam": 1,
        },
        "unresponsive": 1,
        "active_alerts_by_severity": {"High": 1, "Low": 1},
    }
