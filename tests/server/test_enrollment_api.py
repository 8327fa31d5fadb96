"""Enrollment through the agent protocol: the scenario table, refusals, onboarding tokens."""

from __future__ import annotations

import pytest
from server_helpers import dump_database, enroll_body, error
from sqlalchemy import select, update

from conftest import Api, FakeClock
from openmtd.store.models import Device, OnboardingToken

# scenario -> (supported, company portal, protection scope, onboarding), as PRODUCT.md lists them
SCENARIO_TABLE = {
    "android-work-profile": (True, "required", "work-profile", "low-touch"),
    "android-personal-profile": (True, "required", "personal-profile", "manual"),
    "android-cope": (True, "required", "work-profile", "low-touch"),
    "android-corporate-personal-profile": (False, "-", None, "manual"),
    "android-cobo": (True, "required", "entire-device", "low-touch"),
    "android-cosu": (False, "-", None, "manual"),
    "android-mam": (True, "install only", "enrolled-apps", "manual"),
    "android-device-admin": (True, "required", "entire-device", "manual"),
    "android-aosp": (False, "-", None, "manual"),
    "ios-supervised": (True, "required", "entire-device", "zero-touch"),
    "ios-device-enrollment": (True, "required", "entire-device", "zero-touch"),
    "ios-user-enrollment": (True, "required", "work-data", "manual"),
    "ios-mam": (True, "not required", "enrolled-apps", "manual"),
    "ios-shared": (False, "-", None, "manual"),
}
UNSUPPORTED = {
    "android-corporate-personal-profile": "personal profile of a corporate-owned device",
    "android-cosu": "dedicated, kiosk and shared Android devices are not supported",
    "android-aosp": "AOSP devices (no Google Mobile Services) are not supported",
    "ios-shared": "dedicated, shared and kiosk iOS devices are not supported",
}


def token_row(api: Api, name: str) -> OnboardingToken:
    with api.app.state.ctx.sessions() as db:
        row = db.scalar(select(OnboardingToken).where(OnboardingToken.name == name))
        assert row is not None
        return row


def device_count(api: Api) -> int:
    with api.app.state.ctx.sessions() as db:
        return len(db.scalars(select(Device.id)).all())


def test_scenario_table_is_served_exactly_as_the_seed_lists_it(api: Api) -> None:
    r = api.client.get("/api/onboarding/scenarios", headers=api.headers("read-only"))
    assert r.status_code == 200
    served = {
        row["scenario"]: (
            row["supported"],
            row["company_portal"],
            row["protection_scope"],
            row["onboarding"],
        )
        for row in r.json()
    }
    assert served == SCENARIO_TABLE
    rows = {row["scenario"]: row for row in r.json()}
    assert rows["android-device-admin"]["deprecated_after"] == "2024-12-31"
    for scenario, why in UNSUPPORTED.items():
        assert why in rows[scenario]["refusal"]
    assert {s for s, v in SCENARIO_TABLE.items() if v[3] == "low-touch"} == {
        "android-work-profile",
        "android-cope",
        "android-cobo",
    }
    assert {s for s, v in SCENARIO_TABLE.items() if v[3] == "zero-touch"} == {
        "ios-supervised",
        "ios-device-enrollment",
    }


@pytest.mark.parametrize(
    "scenario",
    [s for s, v in SCENARIO_TABLE.items() if v[0] and s != "android-personal-profile"],
)
def test_supported_scenarios_enroll_with_their_protection_scope(api: Api, scenario: str) -> None:
    device = api.enroll(scenario)
    assert device["protection_scope"] == SCENARIO_TABLE[scenario][2]
    assert device["device_credential"].startswith("omt_dev_")
    detail = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers()).json()
    assert detail["scenario"] == scenario
    assert detail["platform"] == scenario.split("-")[0]
    assert detail["protection_scope"] == SCENARIO_TABLE[scenario][2]
    assert detail["timeline"][-1]["kind"] == "enrollment"
    assert f"protects: {SCENARIO_TABLE[scenario][2]}" in detail["timeline"][-1]["summary"]


@pytest.mark.parametrize("scenario", list(UNSUPPORTED))
def test_unsupported_scenarios_are_refused_naming_the_scenario_and_why(
    api: Api, scenario: str
) -> None:
    token = api.onboarding_token(name="any")
    r = api.client.post("/api/agent/v1/enroll", json=enroll_body(token, scenario))
    message = error(r, 422, "enrollment_refused")
    assert f"scenario {scenario!r}" in message
    assert "is not supported" in message and UNSUPPORTED[scenario] in message
    assert token_row(api, "any").uses == 0  # nothing half-written
    assert device_count(api) == 0


def test_unsupported_scenarios_cannot_even_be_put_on_a_token(api: Api) -> None:
    r = api.client.post(
        "/api/onboarding/tokens",
        json={"name": "kiosk", "scenarios": ["android-cosu"]},
        headers=api.headers(),
    )
    message = error(r, 422, "unsupported_scenario")
    assert "'android-cosu'" in message and "not supported" in message
    r = api.client.post(
        "/api/onboarding/tokens",
        json={"name": "mixed", "platform": "ios", "scenarios": ["android-cobo"]},
        headers=api.headers(),
    )
    assert "'android-cobo' is a android scenario; the token is for ios" in error(
        r, 422, "invalid_input"
    )


def test_platform_scenario_mismatch_is_refused(api: Api) -> None:
    token = api.onboarding_token()
    body = enroll_body(token, "ios-supervised") | {"platform": "android"}
    message = error(api.client.post("/api/agent/v1/enroll", json=body), 422, "enrollment_refused")
    assert "'ios-supervised'" in message
    assert "is a ios scenario, but the device reports platform 'android'" in message


def test_unknown_scenario_is_a_clear_validation_error(api: Api) -> None:
    body = enroll_body(api.onboarding_token(), "android-work-profile") | {"scenario": "android-tv"}
    message = error(api.client.post("/api/agent/v1/enroll", json=body), 422, "invalid_input")
    assert message.startswith("invalid request: body.scenario:")


def test_device_administrator_enrolls_with_a_deprecation_warning(api: Api) -> None:
    device = api.enroll("android-device-admin")
    (warning,) = device["warnings"]
    assert "'android-device-admin' (Device Administrator) is deprecated" in warning
    assert "ended on 2024-12-31" in warning  # the fake clock is in 2026
    detail = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers()).json()
    assert detail["enrollment_warnings"] == [warning]
    assert detail["timeline"][-1]["details"]["warnings"] == [warning]


class TestPersonalProfile:
    def test_refused_without_a_work_profile_on_the_same_device(self, api: Api) -> None:
        api.enroll("android-work-profile", hardware_id="hw-other-phone")
        token = api.onboarding_token(name="pp")
        body = enroll_body(token, "android-personal-profile", hardware_id="hw-this-phone")
        message = error(
            api.client.post("/api/agent/v1/enroll", json=body), 422, "enrollment_refused"
        )
        assert "'android-personal-profile'" in message
        assert "requires the agent to be enrolled and active in this device's work profile" in (
            message
        )
        assert token_row(api, "pp").uses == 0

    def test_allowed_when_the_work_profile_is_active(self, api: Api) -> None:
        api.enroll("android-work-profile", hardware_id="hw-phone-1")
        device = api.enroll("android-personal-profile", hardware_id="hw-phone-1")
        assert device["protection_scope"] == "personal-profile"
        assert device["warnings"] == [
            "this agent protects the personal profile; with the agent active in the work "
            "profile, the two together protect the entire device"
        ]
        detail = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers()).json()
        # Privacy defaults of the reference product: on for personal profiles.
        assert detail["privacy"] == {
            "exclude_url_in_report": True,
            "exclude_app_in_report": True,
            "vulnerability_privacy_mode": False,
            "network_protection_privacy": True,
        }

    def test_refused_when_the_work_profile_device_is_retired(self, api: Api) -> None:
        work = api.enroll("android-work-profile", hardware_id="hw-phone-2")
        with api.app.state.ctx.sessions.begin() as db:
            db.execute(
                update(Device).where(Device.id == work["device_id"]).values(retired_at=api.clock())
            )
        r = api.client.post(
            "/api/agent/v1/enroll",
            json=enroll_body(
                api.onboarding_token(), "android-personal-profile", hardware_id="hw-phone-2"
            ),
        )
        assert "requires the agent to be enrolled and active" in error(r, 422, "enrollment_refused")

    def test_refused_when_the_work_profile_is_unresponsive(
        self, api: Api, clock: FakeClock
    ) -> None:
        work = api.enroll("android-work-profile", hardware_id="hw-phone-3")
        token = api.onboarding_token(expires_in_hours=24 * 30)
        body = enroll_body(token, "android-personal-profile", hardware_id="hw-phone-3")
        clock.advance(days=7, seconds=1)  # settings.unresponsive_days is 7
        assert "active in this device's work profile" in error(
            api.client.post("/api/agent/v1/enroll", json=body), 422, "enrollment_refused"
        )
        api.checkin(work)  # the work profile checks in again: active once more
        r = api.client.post("/api/agent/v1/enroll", json=body)
        assert r.status_code == 201, r.text


class TestOnboardingTokens:
    def test_scope_gives_group_and_tags(self, api: Api) -> None:
        token = api.onboarding_token(
            name="sales",
            platform="android",
            scenarios=["android-cobo", "android-cope"],
            device_group="sales-emea",
            tags=["sales", "emea"],
        )
        device = api.enroll("android-cobo", token=token, device_tag="floor-3")
        assert device["device_group"] == "sales-emea"
        detail = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers()).json()
        assert detail["device_group"] == "sales-emea"
        assert detail["tags"] == ["emea", "floor-3", "sales"]
        assert "with token 'sales'" in detail["timeline"][-1]["summary"]
        # The token's tags survive check-ins; the device's own tags are merged onto them.
        api.checkin(
            device,
            scenario="android-cobo",
            facts={
                "platform": "android",
                "scenario": "android-cobo",
                "os_version": "14",
                "model": "Pixel 8",
                "tags": ["floor-3", "vip"],
            },
        )
        listed = api.client.get(
            "/api/devices", params={"tag": "sales"}, headers=api.headers()
        ).json()
        assert listed["items"][0]["tags"] == ["emea", "floor-3", "sales", "vip"]

        r = api.client.post(
            "/api/agent/v1/enroll",
            json=enroll_body(token, "android-cope")
            | {"platform": "ios", "scenario": "ios-supervised"},
        )
        assert error(r, 401, "onboarding_token_rejected") == (
            "onboarding token 'sales' is for android devices, not ios"
        )
        r = api.client.post("/api/agent/v1/enroll", json=enroll_body(token, "android-work-profile"))
        assert error(r, 401, "onboarding_token_rejected") == (
            "onboarding token 'sales' does not allow scenario 'android-work-profile' "
            "(allowed: android-cobo, android-cope)"
        )

    def test_expiry(self, api: Api, clock: FakeClock) -> None:
        token = api.onboarding_token(name="short", expires_in_hours=1)
        clock.advance(minutes=59)
        api.enroll(token=token)
        clock.advance(minutes=1)
        r = api.client.post("/api/agent/v1/enroll", json=enroll_body(token, "android-cope"))
        message = error(r, 401, "onboarding_token_rejected")
        assert message == "onboarding token 'short' expired at 2026-11-26T13:00:00+00:00"
        listed = api.client.get("/api/onboarding/tokens", headers=api.headers()).json()
        assert listed[0]["state"] == "expired"

    def test_max_uses_including_exactly_at_the_limit(self, api: Api) -> None:
        token = api.onboarding_token(name="two", max_uses=2)
        api.enroll(token=token)
        api.enroll(token=token)  # the second use is exactly at the limit: allowed
        r = api.client.post("/api/agent/v1/enroll", json=enroll_body(token, "android-cope"))
        assert error(r, 401, "onboarding_token_rejected") == (
            "onboarding token 'two' is used up (2 of 2 uses)"
        )
        (listed,) = api.client.get("/api/onboarding/tokens", headers=api.headers()).json()
        assert (listed["uses"], listed["max_uses"], listed["state"]) == (2, 2, "used up")
        assert device_count(api) == 2

    def test_revocation(self, api: Api) -> None:
        token = api.onboarding_token(name="gone")
        (row,) = api.client.get("/api/onboarding/tokens", headers=api.headers()).json()
        r = api.client.post(f"/api/onboarding/tokens/{row['id']}/revoke", headers=api.headers())
        assert r.status_code == 200 and r.json()["state"] == "revoked"
        r = api.client.post("/api/agent/v1/enroll", json=enroll_body(token, "android-cope"))
        assert error(r, 401, "onboarding_token_rejected") == "onboarding token 'gone' was revoked"
        r = api.client.post(f"/api/onboarding/tokens/{row['id']}/revoke", headers=api.headers())
        assert "already revoked" in error(r, 409, "conflict")
        r = api.client.post("/api/onboarding/tokens/999/revoke", headers=api.headers())
        assert error(r, 404, "not_found") == "onboarding token 999 does not exist"
        assert device_count(api) == 0

    def test_unknown_token(self, api: Api) -> None:
        r = api.client.post(
            "/api/agent/v1/enroll", json=enroll_body("omt_onb_not-a-real-token", "android-cope")
        )
        assert error(r, 401, "onboarding_token_rejected") == "unknown onboarding token"

    def test_shown_once_and_never_listed(self, api: Api) -> None:
        r = api.client.post("/api/onboarding/tokens", json={"name": "once"}, headers=api.headers())
        assert r.status_code == 201
        secret = r.json()["token"]
        assert secret.startswith("omt_onb_")
        listed = api.client.get("/api/onboarding/tokens", headers=api.headers())
        assert listed.status_code == 200
        assert secret not in listed.text
        assert all("token" not in row for row in listed.json())
        api.enroll(token=secret)  # used: the device row and the audit log exist too
        dump = dump_database(api.app)
        assert token_row(api, "once").token_digest in dump
        assert secret not in dump
        assert secret.removeprefix("omt_onb_") not in dump

    def test_reenrolling_the_same_device_retires_the_old_record(self, api: Api) -> None:
        old = api.enroll("android-cobo", hardware_id="hw-reinstall")
        api.checkin(
            old,
            scenario="android-cobo",
            detections=[{"category": "Malware", "title": "bad", "severity": "Medium", "key": "k"}],
        )
        new = api.enroll("android-cobo", hardware_id="hw-reinstall")
        r = api.client.get(
            f"/api/agent/v1/devices/{old['device_id']}",
            headers={"Authorization": f"Bearer {old['device_credential']}"},
        )
        assert error(r, 401, "device_retired") == (
            f"device {old['device_id']} was retired; enroll again"
        )
        listed = api.client.get("/api/devices", headers=api.headers()).json()
        assert [d["id"] for d in listed["items"]] == [new["device_id"]]
        alerts = api.client.get(
            "/api/alerts", params={"device_id": old["device_id"]}, headers=api.headers()
        ).json()
        assert [a["status"] for a in alerts["items"]] == ["Resolved"]
