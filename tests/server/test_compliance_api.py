"""Compliance policies per device group, the stored verdict on devices, and the MDM partner
health states by API, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from server_helpers import error

from conftest import Api, FakeClock


def high_alert(api: Api, device: dict[str, Any], key: str = "jb") -> None:
    api.checkin(
        device,
        detections=[
            {
                "category": "Jailbreak",
                "title": "Device is jailbroken",
                "severity": "High",
                "key": key,
            }
        ],
    )


def detail(api: Api, device: dict[str, Any]) -> dict[str, Any]:
    r = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers("read-only"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def policies(api: Api) -> list[dict[str, Any]]:
    r = api.client.get("/api/compliance/policies", headers=api.headers("read-only"))
    assert r.status_code == 200, r.text
    return list(r.json())


def create(api: Api, expect: int = 201, role: str = "admin", **body: Any) -> dict[str, Any]:
    r = api.client.post("/api/compliance/policies", json=body, headers=api.headers(role))
    assert r.status_code == expect, r.text
    return dict(r.json())


def test_the_settings_give_the_all_groups_policy(api: Api) -> None:
    (default,) = policies(api)
    assert default["name"] == "default" and default["device_group"] is None
    assert (default["max_risk"], default["unresponsive_days"], default["updated_by"]) == (
        "Low",
        7,
        "settings",
    )
    device = api.enroll()
    d = detail(api, device)
    assert (d["compliant"], d["compliance_policy"], d["health_state"]) == (
        True,
        "default",
        "activated",
    )
    api.checkin(device)
    assert detail(api, device)["health_state"] == "secured"
    assert policies(api)[0]["devices"] == 1


def test_a_group_policy_judges_its_devices_at_once(api: Api) -> None:
    sales = api.enroll(token=api.onboarding_token(device_group="sales"))
    other = api.enroll()
    for device in (sales, other):
        api.checkin(device)
        api.checkin(
            device,
            detections=[
                {"category": "Malware", "title": "Bad app", "severity": "Medium", "key": "m1"}
            ],
        )
    assert not detail(api, sales)["compliant"] and not detail(api, other)["compliant"]
    policy = create(api, name="Sales", device_group="sales", max_risk="Medium")
    assert policy["devices"] == 1
    assert detail(api, sales)["compliant"] and detail(api, sales)["compliance_policy"] == "Sales"
    assert not detail(api, other)["compliant"]
    timeline = [e["summary"] for e in detail(api, sales)["timeline"] if e["kind"] == "compliance"]
    assert timeline[0] == "compliant under policy 'Sales'"
    assert timeline[1].startswith("noncompliant under policy 'default': threat level Medium")

    listed = api.client.get(
        "/api/devices", params={"compliant": False}, headers=api.headers("read-only")
    ).json()
    assert [d["id"] for d in listed["items"]] == [other["device_id"]]

    body = {**{k: policy[k] for k in ("name", "device_group")}, "min_os_android": "15"}
    r = api.client.put(f"/api/compliance/policies/{policy['id']}", json=body, headers=api.headers())
    assert r.status_code == 200, r.text
    d = detail(api, sales)
    assert d["compliance_reasons"] == [
        d["compliance_reasons"][0],
        "OS version 14 is below the minimum 15 for android",
    ]
    assert d["compliance_reasons"][0].startswith("threat level Medium is above the allowed Low")

    r = api.client.delete(f"/api/compliance/policies/{policy['id']}", headers=api.headers())
    assert r.status_code == 204
    assert detail(api, sales)["compliance_policy"] == "default"
    actions = [
        e["action"]
        for e in api.client.get("/api/audit", headers=api.headers()).json()["items"]
        if e["action"].startswith("compliance.")
    ]
    assert sorted(actions) == ["compliance.create", "compliance.delete", "compliance.update"]


def test_unresponsive_can_be_ignored(api: Api, clock: FakeClock) -> None:
    device = api.enroll(token=api.onboarding_token(device_group="field"))
    api.checkin(device)
    create(
        api,
        name="Field",
        device_group="field",
        unresponsive_days=2,
        unresponsive_action="ignore",
    )
    clock.advance(days=2, seconds=1)
    d = detail(api, device)
    assert d["unresponsive"] and d["compliant"] and d["health_state"] == "unresponsive"


def test_policy_validation_and_conflicts(api: Api) -> None:
    create(api, name="Sales", device_group="sales")
    message = error(
        api.client.post(
            "/api/compliance/policies",
            json={"name": "Other", "device_group": "sales"},
            headers=api.headers(),
        ),
        409,
        "group_has_policy",
    )
    assert message == "policy 'Sales' already covers group 'sales'"
    error(
        api.client.post(
            "/api/compliance/policies",
            json={"name": "sales", "device_group": "other"},
            headers=api.headers(),
        ),
        409,
        "policy_exists",
    )
    error(
        api.client.post(
            "/api/compliance/policies",
            json={"name": "X", "device_group": "x", "min_os_ios": "seventeen"},
            headers=api.headers(),
        ),
        422,
        "invalid_min_os",
    )
    r = api.client.post(
        "/api/compliance/policies",
        json={"name": "X", "device_group": "x", "max_risk": "Severe"},
        headers=api.headers(),
    )
    assert r.status_code == 422
    default = policies(api)[0]
    error(
        api.client.delete(f"/api/compliance/policies/{default['id']}", headers=api.headers()),
        409,
        "default_policy",
    )
    error(
        api.client.put(
            f"/api/compliance/policies/{default['id']}",
            json={"name": "default", "device_group": "sales2"},
            headers=api.headers(),
        ),
        422,
        "default_policy_scope",
    )
    error(
        api.client.delete("/api/compliance/policies/999999", headers=api.headers()),
        404,
        "not_found",
    )


@pytest.mark.parametrize("role", ["read-only", "analyst"])
def test_only_admins_change_policies(api: Api, role: str) -> None:
    r = api.client.post(
        "/api/compliance/policies",
        json={"name": "S", "device_group": "s"},
        headers=api.headers(role),
    )
    assert r.status_code == 403


def test_editing_the_default_policy_stops_following_the_settings(api: Api) -> None:
    default = policies(api)[0]
    r = api.client.put(
        f"/api/compliance/policies/{default['id']}",
        json={"name": "default", "max_risk": "Medium"},
        headers=api.headers(),
    )
    assert r.status_code == 200 and r.json()["updated_by"] == "admin-user"


class TestPartnerStates:
    def states(self, api: Api, **params: Any) -> list[dict[str, Any]]:
        r = api.client.get("/api/partner/devices", params=params, headers=api.headers("read-only"))
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    def test_every_state_an_mdm_sees(self, api: Api, clock: FakeClock) -> None:
        activated = api.enroll(hardware_id="hw-state-activated")
        secured = api.enroll(hardware_id="hw-state-secured")
        api.checkin(secured)
        high = api.enroll(hardware_id="hw-state-high")
        high_alert(api, high)
        misconfigured = api.enroll(hardware_id="hw-state-misconfigured")
        facts = {
            "platform": "android",
            "scenario": "android-work-profile",
            "os_version": "14",
            "model": "Pixel 8",
            "protection_issues": ["vpn_permission_missing"],
        }
        api.checkin(misconfigured, facts=facts)
        retired = api.enroll(hardware_id="hw-state-retired")
        r = api.client.post(
            f"/api/devices/{retired['device_id']}/retire",
            json={"reason": "lost"},
            headers=api.headers(),
        )
        assert r.status_code == 200, r.text

        def state(hw: str) -> str:
            (item,) = self.states(api, hardware_id=hw)
            return str(item["health_state"])

        assert state("hw-state-activated") == "activated"
        assert state("hw-state-secured") == "secured"
        assert state("hw-state-high") == "highSeverity"
        assert state("hw-state-misconfigured") == "misconfigured"
        assert state("hw-state-retired") == "deactivated"
        assert state("hw-state-nobody-knows") == "unknown"
        only_high = self.states(api, state="highSeverity")
        assert [i["hardware_id"] for i in only_high] == ["hw-state-high"]
        clock.advance(days=7, seconds=1)
        api.checkin(secured)
        assert state("hw-state-high") == "unresponsive" and state("hw-state-secured") == "secured"
        assert state("hw-state-retired") == "deactivated"
        _ = activated

    def test_state_changes_are_on_the_timeline(self, api: Api) -> None:
        device = api.enroll()
        api.checkin(device)
        high_alert(api, device)
        events = [e["summary"] for e in detail(api, device)["timeline"] if e["kind"] == "health"]
        assert events == [
            "partner health state secured -> highSeverity",
            "partner health state activated -> secured",
        ]
