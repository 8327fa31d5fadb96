"""Privacy controls through the real API: the admin's policy (settings), the toggles the agent
is told about, the device user's changes (allowed keys only), and that none of it moves risk
or compliance."""

from __future__ import annotations

import json
import plistlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_helpers import count, device_auth, error

from conftest import Api, FakeClock
from openmtd.config import Settings
from openmtd.server.app import create_app
from openmtd.store.models import DeviceApp

ALL_TOGGLES = [
    "exclude_url_in_report",
    "exclude_app_in_report",
    "vulnerability_privacy_mode",
    "network_protection_privacy",
]
POLICY: list[dict[str, Any]] = [
    # The organisation keeps everything for one group, and sets it.
    {
        "device_groups": ["locked"],
        "exclude_url_in_report": True,
        "vulnerability_privacy_mode": True,
    },
    # Personal profiles and MAM apps: the person decides about URL and app details.
    {
        "scopes": ["personal-profile", "enrolled-apps"],
        "user_toggles": ["exclude_url_in_report", "exclude_app_in_report"],
    },
    # Work profiles: the person may change all four; the organisation's starting point differs
    # from the reference defaults for one key.
    {"scopes": ["work-profile"], "exclude_app_in_report": True, "user_toggles": ALL_TOGGLES},
]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        public_url="https://mtd.example.test",
        migrate_on_start=False,
        feed_scheduler=False,
        android_revocation_source="",
        privacy_policy=POLICY,
    )


def detail(api: Api, device: dict[str, Any]) -> dict[str, Any]:
    r = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers())
    assert r.status_code == 200, r.text
    return dict(r.json())


def standing(api: Api, device: dict[str, Any]) -> dict[str, Any]:
    """What privacy must never change: risk, compliance, health, alerts."""
    d = detail(api, device)
    keys = ("risk_level", "risk_reason", "compliant", "compliance_reasons", "health_state")
    return {
        **{k: d.get(k) for k in keys},
        "alerts": [(a["id"], a["status"], a["severity"]) for a in d["alerts"]],
    }


def put_privacy(api: Api, device: dict[str, Any], body: dict[str, Any], **kw: Any) -> Any:
    return api.client.put(
        f"/api/agent/v1/devices/{device['device_id']}/privacy",
        json=body,
        headers=kw.get("headers", device_auth(device)),
    )


def sync(api: Api, device: dict[str, Any], etag: str | None = None) -> Any:
    headers = device_auth(device) | ({"If-None-Match": etag} if etag else {})
    return api.client.get(f"/api/agent/v1/devices/{device['device_id']}/sync", headers=headers)


def test_sync_tells_the_agent_which_keys_its_user_may_change(api: Api) -> None:
    work = api.enroll("android-work-profile")
    locked = api.enroll(token=api.onboarding_token(device_group="locked"))
    mam = api.enroll("ios-mam")
    cobo = api.enroll("android-cobo")
    assert sync(api, work).json()["privacy_user_toggles"] == ALL_TOGGLES
    assert sync(api, locked).json()["privacy_user_toggles"] == []
    assert sync(api, mam).json()["privacy_user_toggles"] == [
        "exclude_url_in_report",
        "exclude_app_in_report",
    ]
    assert sync(api, cobo).json()["privacy_user_toggles"] == []  # no rule: nothing to change
    # The check-in announces the same ETag the sync gives.
    etag = sync(api, work).headers["etag"]
    assert api.checkin(work)["sync_etag"] == etag


def test_enrollment_follows_the_policy_locked_keys_win(api: Api) -> None:
    locked = api.enroll(
        token=api.onboarding_token(device_group="locked"),
        privacy={"exclude_url_in_report": False, "exclude_app_in_report": True},
    )
    assert detail(api, locked)["privacy"] == {
        "exclude_url_in_report": True,  # locked by the policy: the request cannot lower it
        "exclude_app_in_report": True,  # not set by the policy: the managed configuration's
        "vulnerability_privacy_mode": True,
        "network_protection_privacy": True,
    }
    work = api.enroll("android-work-profile")
    assert detail(api, work)["privacy"]["exclude_app_in_report"] is True  # the policy's value
    chosen = api.enroll("android-work-profile", privacy={"exclude_app_in_report": False})
    assert detail(api, chosen)["privacy"]["exclude_app_in_report"] is False  # a toggle: chosen
    mam = api.enroll("android-mam")
    assert detail(api, mam)["privacy"] == {
        "exclude_url_in_report": False,
        "exclude_app_in_report": False,
        "vulnerability_privacy_mode": False,
        "network_protection_privacy": True,
    }


def test_the_device_user_changes_an_allowed_key(api: Api) -> None:
    device = api.enroll("android-work-profile")
    api.checkin(
        device,
        detections=[{"category": "Malware", "title": "bad", "severity": "Medium", "key": "a"}],
    )
    before = standing(api, device)
    assert before["risk_level"] == "Medium"
    etag = sync(api, device).headers["etag"]

    r = put_privacy(api, device, {"exclude_url_in_report": True})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "privacy": {
            "exclude_url_in_report": True,
            "exclude_app_in_report": True,
            "vulnerability_privacy_mode": False,
            "network_protection_privacy": True,
        },
        "user_toggles": ALL_TOGGLES,
        "changed": ["exclude_url_in_report"],
    }
    assert standing(api, device) == before
    d = detail(api, device)
    assert d["privacy"]["exclude_url_in_report"] is True
    [event] = [e for e in d["timeline"] if e["kind"] == "privacy"]
    assert event["summary"] == (
        "privacy settings changed by the device user: exclude URL in report on"
    )
    # The agent's next sync sees the change.
    changed = sync(api, device, etag)
    assert changed.status_code == 200 and changed.json()["privacy"]["exclude_url_in_report"]

    # The same value again: no change, no event.
    again = put_privacy(api, device, {"exclude_url_in_report": True})
    assert again.status_code == 200 and again.json()["changed"] == []
    assert len([e for e in detail(api, device)["timeline"] if e["kind"] == "privacy"]) == 1
    got = api.client.get(
        f"/api/agent/v1/devices/{device['device_id']}/privacy", headers=device_auth(device)
    )
    assert got.status_code == 200 and got.json()["privacy"] == again.json()["privacy"]


def test_a_locked_key_is_refused_by_name_and_nothing_changes(api: Api) -> None:
    mam = api.enroll("ios-mam")
    before = detail(api, mam)
    r = put_privacy(api, mam, {"exclude_url_in_report": True, "vulnerability_privacy_mode": True})
    message = error(r, 403, "privacy_key_locked")
    assert "vulnerability_privacy_mode" in message and "exclude_url_in_report (" not in message
    assert r.json()["error"]["details"] == {"keys": ["vulnerability_privacy_mode"]}
    after = detail(api, mam)
    assert after["privacy"] == before["privacy"]
    assert [e for e in after["timeline"] if e["kind"] == "privacy"] == []

    locked = api.enroll(token=api.onboarding_token(device_group="locked"))
    r = put_privacy(api, locked, {"exclude_url_in_report": False})
    assert "exclude_url_in_report" in error(r, 403, "privacy_key_locked")


def test_only_the_device_itself_may_change_its_settings(api: Api) -> None:
    device, other = api.enroll("android-work-profile"), api.enroll("android-work-profile")
    r = put_privacy(api, device, {"exclude_url_in_report": True}, headers=device_auth(other))
    error(r, 403, "not_your_device")
    r = put_privacy(api, device, {"exclude_url_in_report": True}, headers={})
    error(r, 401, "device_credential_required")
    r = put_privacy(api, device, {"exclude_url_in_report": True}, headers=api.headers())
    error(r, 401, "device_credential_required")  # an admin is not the device user
    error(put_privacy(api, device, {"exclude_everything": True}), 422, "invalid_input")
    error(put_privacy(api, device, {"exclude_url_in_report": "maybe"}), 422, "invalid_input")
    assert detail(api, device)["privacy"]["exclude_url_in_report"] is False


def test_turning_on_vulnerability_privacy_mode_drops_the_stored_inventory(api: Api) -> None:
    device = api.enroll("android-work-profile")
    api.checkin(
        device,
        apps=[{"identifier": "com.example.notes", "version": "1"}],
        detections=[{"category": "Malware", "title": "bad", "severity": "Medium", "key": "m"}],
        network_observations=[{"kind": "wifi", "attributes": {"ssid": "Cafe"}}],
    )
    assert detail(api, device)["app_count"] == 1
    # Network privacy is on by default: the observation was never kept. Turn it off, report
    # one, then on again: the stored observation goes at once.
    assert put_privacy(api, device, {"network_protection_privacy": False}).status_code == 200
    api.checkin(device, network_observations=[{"kind": "wifi", "attributes": {"ssid": "Cafe"}}])
    assert detail(api, device)["signals"]["network"] != []
    before = standing(api, device)

    r = put_privacy(
        api, device, {"vulnerability_privacy_mode": True, "network_protection_privacy": True}
    )
    assert r.status_code == 200 and r.json()["changed"] == [
        "vulnerability_privacy_mode",
        "network_protection_privacy",
    ]
    d = detail(api, device)
    assert d["apps"] == [] and d["app_count"] == 0 and count(api.app, DeviceApp) == 0
    assert d["signals"]["network"] == []
    assert standing(api, device) == before  # the Malware alert and the risk stay as they were
    # Later reports keep the inventory out; off again, the next report brings it back.
    api.checkin(device, apps=[{"identifier": "com.example.notes", "version": "1"}])
    assert detail(api, device)["app_count"] == 0
    put_privacy(api, device, {"vulnerability_privacy_mode": False})
    api.checkin(device, apps=[{"identifier": "com.example.notes", "version": "1"}])
    assert detail(api, device)["app_count"] == 1


def test_the_policy_is_applied_to_enrolled_devices_when_the_server_starts(
    api: Api, settings: Settings, clock: FakeClock
) -> None:
    device = api.enroll(token=api.onboarding_token(device_group="execs"))
    mine = api.enroll("android-work-profile")
    put_privacy(api, mine, {"exclude_url_in_report": True})
    assert detail(api, device)["privacy"]["vulnerability_privacy_mode"] is False

    stricter = settings.model_copy(
        update={
            "privacy_policy": Settings(
                privacy_policy=[
                    {"device_groups": ["execs"], "vulnerability_privacy_mode": True},
                    *POLICY,
                ]
            ).privacy_policy
        }
    )
    restarted = create_app(stricter, clock=clock)
    try:
        with TestClient(restarted) as client:
            r = client.get(f"/api/devices/{device['device_id']}", headers=api.headers())
            d = r.json()
            assert d["privacy"]["vulnerability_privacy_mode"] is True
            [event] = [e for e in d["timeline"] if e["kind"] == "privacy"]
            assert event["summary"] == (
                "privacy settings changed by the organisation's privacy policy: "
                "vulnerability privacy mode on"
            )
            # A key the user may change keeps the user's choice across restarts.
            r = client.get(f"/api/devices/{mine['device_id']}", headers=api.headers())
            assert r.json()["privacy"]["exclude_url_in_report"] is True
    finally:
        restarted.state.ctx.close()


def test_managed_configuration_defaults_follow_the_scenario(api: Api) -> None:
    token = api.onboarding_token()

    def rendered(scenario: str, **flags: bool) -> dict[str, int]:
        r = api.client.post(
            "/api/onboarding/managed-config",
            json={"onboarding_token": token, "scenario": scenario, **flags},
            headers=api.headers(),
        )
        assert r.status_code == 200, r.text
        if scenario.startswith("ios"):
            doc = plistlib.loads(r.content)
            return {k: v for k, v in doc.items() if isinstance(v, int)}
        props = json.loads(r.content)["managedProperty"]
        return {p["key"]: p["valueInteger"] for p in props if "valueInteger" in p}

    assert rendered("android-personal-profile") == {
        "ExcludeURLInReport": 1,
        "ExcludeAppInReport": 1,
        "VulnerabilityPrivacyMode": 0,
        "NetworkProtectionPrivacy": 1,
    }
    assert rendered("android-work-profile")["ExcludeURLInReport"] == 0
    assert (
        rendered("android-personal-profile", exclude_url_in_report=False)["ExcludeURLInReport"] == 0
    )
    assert rendered("ios-mam", vulnerability_privacy_mode=True)["VulnerabilityPrivacyMode"] == 1
