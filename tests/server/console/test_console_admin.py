"""Admin pages: onboarding tokens and managed configuration, users, API tokens, audit log."""

from __future__ import annotations

import json
import plistlib
import re

import pytest
from console_helpers import PASSWORD, Browser, hidden_fields, make_user, signed_in

from conftest import Api
from openmtd.enrollment.managed_config import parse
from openmtd.server.audit.service import record
from openmtd.server.users.service import list_users

SECRET = re.compile(r"omt_onb_[A-Za-z0-9_-]{20,}")


def _create_token(admin: Browser, **fields: object) -> str:
    data = {
        "name": "Sales BYOD",
        "platform": "",
        "device_group": "sales",
        "tags": "emea, byod",
        "expires_in_hours": "48",
        "max_uses": "",
        **fields,
    }
    r = admin.post("/console/onboarding/tokens", data)
    assert r.status_code == 200, r.text
    return r.text


def test_onboarding_token_is_shown_once_and_enrolls_devices(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    page = _create_token(
        admin, platform="android", scenarios=["android-work-profile", "android-cobo"], max_uses="5"
    )
    assert "shown only this once" in page
    secrets_shown = set(SECRET.findall(page))
    assert len(secrets_shown) == 1
    secret = secrets_shown.pop()
    assert "Work profile (personal device)" in page and "Fully managed (COBO)" in page
    # The managed-configuration form offers exactly the token's scenarios.
    options = re.findall(r'<option value="([a-z-]+)">Android', page)
    assert options == ["android-cobo", "android-work-profile"]

    # The list shows the token and its state, never its secret.
    listing = admin.get("/console/onboarding").text
    assert secret not in listing
    assert "Sales BYOD" in listing
    assert '<span class="badge state-active">Active</span>' in listing
    assert "0 / 5" in listing
    assert "2026-11-28 12:00" in listing  # expires after 48 hours

    device = api.enroll("android-cobo", token=secret)
    r = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers("admin"))
    assert r.json()["device_group"] == "sales"
    assert set(r.json()["tags"]) >= {"emea", "byod"}
    assert "1 / 5" in admin.get("/console/onboarding").text
    # Refused outside the token's scope.
    api.enroll("android-mam", token=secret, expect=401)


def test_revoking_an_onboarding_token(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    secret = SECRET.findall(_create_token(admin))[0]
    listing = admin.get("/console/onboarding").text
    token_id = re.findall(r'action="/console/onboarding/tokens/(\d+)/revoke"', listing)[0]
    r = admin.post(f"/console/onboarding/tokens/{token_id}/revoke")
    assert r.status_code == 303
    listing = admin.get(r.headers["location"]).text
    assert "Onboarding token revoked." in listing
    assert '<span class="badge state-revoked">Revoked</span>' in listing
    assert f'action="/console/onboarding/tokens/{token_id}/revoke"' not in listing
    api.enroll("android-work-profile", token=secret, expect=401)
    again = admin.post(f"/console/onboarding/tokens/{token_id}/revoke")
    assert again.status_code == 409
    assert "already revoked" in again.text


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"scenarios": ["android-aosp"]}, 422, "android-aosp"),
        ({"platform": "ios", "scenarios": ["android-cobo"]}, 422, "android scenario"),
        ({"tags": "ok, not ok!"}, 422, "Tags"),
        ({"name": ""}, 422, "Name"),
        ({"expires_in_hours": "soon"}, 422, "Expires after (hours)"),
        ({"max_uses": "0"}, 422, "Maximum uses"),
    ],
)
def test_onboarding_form_errors_are_shown_on_the_form(
    api: Api, fields: dict[str, object], status: int, message: str
) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    data = {"name": "bad token", "device_group": "g1", "tags": "", **fields}
    r = admin.post("/console/onboarding/tokens", data)
    assert r.status_code == status
    assert 'class="callout callout-error"' in r.text
    assert message in r.text
    assert "shown only this once" not in r.text
    # The form keeps what was typed.
    assert 'value="g1"' in r.text
    assert "bad token" not in admin.get("/console/onboarding").text.split('id="create"')[0]


def test_managed_config_download_for_android(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    page = _create_token(admin, platform="android", scenarios=["android-work-profile"])
    fields = hidden_fields(page.split('action="/console/onboarding/managed-config"')[1])
    assert fields["onboarding_token"].startswith("omt_onb_")
    r = admin.post(
        "/console/onboarding/managed-config",
        {
            "onboarding_token": fields["onboarding_token"],
            "scenario": "android-work-profile",
            "device_tag": "sales",
            "exclude_app_in_report": "1",
        },
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["content-disposition"] == (
        'attachment; filename="openmtd-android-work-profile.json"'
    )
    assert r.headers["cache-control"] == "no-store"
    doc = json.loads(r.content)
    assert doc["kind"] == "androidenterprise#managedConfiguration"
    config = parse(r.content)
    assert config.server_url == "https://mtd.example.test"
    assert config.onboarding_token == fields["onboarding_token"]
    assert config.scenario.value == "android-work-profile"
    assert config.device_tag == "sales"
    assert config.privacy.exclude_app_in_report is True
    assert config.privacy.exclude_url_in_report is False
    # The file enrolls a device.
    api.enroll(config.scenario.value, token=config.onboarding_token)


def test_managed_config_download_for_ios(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    page = _create_token(admin, platform="ios")
    secret = SECRET.findall(page)[0]
    # No scenarios chosen: every supported iOS scenario is offered.
    options = re.findall(r'<option value="([a-z-]+)">iOS', page)
    assert options == ["ios-supervised", "ios-device-enrollment", "ios-user-enrollment", "ios-mam"]
    r = admin.post(
        "/console/onboarding/managed-config",
        {
            "onboarding_token": secret,
            "scenario": "ios-supervised",
            "vulnerability_privacy_mode": "on",
        },
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-plist")
    assert 'filename="openmtd-ios-supervised.plist"' in r.headers["content-disposition"]
    plist = plistlib.loads(r.content)
    assert plist["OnboardingToken"] == secret
    assert plist["Scenario"] == "ios-supervised"
    assert plist["VulnerabilityPrivacyMode"] == 1
    assert parse(r.content).server_url == "https://mtd.example.test"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scenario": "ios-shared"}, "not supported"),
        ({"scenario": "windows"}, "Scenario"),
        ({"onboarding_token": "short"}, "Onboarding token"),
    ],
)
def test_managed_config_errors_are_pages(api: Api, fields: dict[str, str], message: str) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    r = admin.post(
        "/console/onboarding/managed-config",
        {"onboarding_token": "omt_onb_xxxxxxxxxxxxxxxx", "scenario": "ios-mam", **fields},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")
    assert message in r.text


def test_onboarding_page_shows_the_scenario_table(api: Api) -> None:
    page = signed_in(api.app, api.clock, "admin").get("/console/onboarding").text
    table = page.split('id="scenarios"')[1]
    assert table.count("<tr") == 15  # header + 14 scenarios
    assert table.count("Not supported") == 4
    assert "Zero-touch" in table and "Low-touch" in table
    assert "Install only" in table  # company portal for Android MAM
    assert "Deprecated for GMS devices after 2024-12-31" in table
    assert "AOSP devices (no Google Mobile Services) are not supported" in table


def test_users_create_and_disable(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    r = admin.post(
        "/console/users", {"username": "kim.analyst", "password": PASSWORD, "role": "analyst"}
    )
    assert r.status_code == 303
    page = admin.get(r.headers["location"]).text
    assert "User created." in page
    assert "kim.analyst" in page
    kim = Browser(api.app)
    assert kim.login("kim.analyst").status_code == 303
    assert kim.get("/console/alerts").status_code == 200

    user_id = re.findall(r'kim\.analyst.*?action="/console/users/(\d+)/disable"', page, flags=re.S)[
        0
    ]
    r = admin.post(f"/console/users/{user_id}/disable")
    assert r.status_code == 303
    page = admin.get(r.headers["location"]).text
    assert "User disabled" in page
    # Disabled: the open session ends and signing in fails.
    assert kim.get("/console/alerts").status_code == 303
    assert Browser(api.app).login("kim.analyst").status_code == 401


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"password": "short"}, 422, "at least 12 characters"),
        ({"username": "a b"}, 422, "username"),
        ({"role": "root"}, 422, "role"),
        ({"username": "taken"}, 409, "already exists"),
    ],
)
def test_user_form_errors(api: Api, fields: dict[str, str], status: int, message: str) -> None:
    make_user(api.app, api.clock, "read-only", "taken")
    admin = signed_in(api.app, api.clock, "admin")
    data = {"username": "new-user", "password": PASSWORD, "role": "read-only", **fields}
    r = admin.post("/console/users", data)
    assert r.status_code == status
    assert message in r.text
    assert PASSWORD not in r.text  # the password is never echoed back


def test_the_last_admin_cannot_be_disabled(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    page = admin.get("/console/users").text
    assert "/disable" not in page  # no button for yourself
    with api.app.state.ctx.sessions() as db:
        admin_id = next(u.id for u in list_users(db) if u.username == admin.username)
    r = admin.post(f"/console/users/{admin_id}/disable")
    assert r.status_code == 409
    assert "cannot disable the last active admin" in r.text
    assert admin.get("/console").status_code == 200


@pytest.mark.parametrize("role", ["read-only", "admin"])
def test_api_token_is_shown_once_and_works(api: Api, role: str) -> None:
    browser = signed_in(api.app, api.clock, role)
    r = browser.post("/console/api-tokens", {"name": "SIEM export", "expires_in_days": "30"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    secret = re.findall(r"omt_api_[A-Za-z0-9_-]+", r.text)
    assert len(secret) == 1
    assert "shown only this once" in r.text
    me = api.client.get("/api/me", headers={"Authorization": f"Bearer {secret[0]}"})
    assert me.status_code == 200
    assert me.json()["username"] == browser.username

    listing = browser.get("/console/api-tokens").text
    assert secret[0] not in listing
    assert "SIEM export" in listing
    assert "2026-12-26 12:00" in listing  # expires in 30 days
    token_id = re.findall(r'action="/console/api-tokens/(\d+)/revoke"', listing)[0]
    r = browser.post(f"/console/api-tokens/{token_id}/revoke")
    assert r.status_code == 303
    listing = browser.get(r.headers["location"]).text
    assert "API token revoked." in listing
    assert '<span class="badge state-revoked">Revoked</span>' in listing
    me = api.client.get("/api/me", headers={"Authorization": f"Bearer {secret[0]}"})
    assert me.status_code == 401


def test_api_tokens_are_never_stronger_than_their_user(api: Api) -> None:
    browser = signed_in(api.app, api.clock, "read-only")
    page = browser.get("/console/api-tokens").text
    assert '<option value="admin"' not in page
    r = browser.post("/console/api-tokens", {"name": "escalate", "role": "admin"})
    assert r.status_code == 403
    assert "cannot create a admin token as a read-only user" in r.text
    assert "omt_api_" not in r.text


def test_users_see_and_revoke_only_their_own_api_tokens(api: Api) -> None:
    alice = signed_in(api.app, api.clock, "admin")
    bob = signed_in(api.app, api.clock, "admin")
    alice.post("/console/api-tokens", {"name": "alice-token"})
    listing = alice.get("/console/api-tokens").text
    token_id = re.findall(r'action="/console/api-tokens/(\d+)/revoke"', listing)[0]
    assert "alice-token" not in bob.get("/console/api-tokens").text
    r = bob.post(f"/console/api-tokens/{token_id}/revoke")
    assert r.status_code == 404
    assert '<span class="badge state-active">Active</span>' in alice.get("/console/api-tokens").text


def test_audit_log_paginates(api: Api) -> None:
    with api.app.state.ctx.sessions.begin() as db:
        for i in range(60):
            record(
                db,
                actor="robot",
                action="test.event",
                target=f"thing:{i}",
                now=api.clock(),
                n=i,
                nested={"a": [1, 2]},
            )
    admin = signed_in(api.app, api.clock, "admin")
    first = admin.get("/console/audit").text
    assert "1–50 of 62 entries" in first  # 60 + the signed-in admin's creation and sign-in
    assert "user.create" in first
    assert "thing:59<" in first and "thing:12<" in first and "thing:11<" not in first
    assert '{"a": [1, 2]}' in first
    assert 'href="/console/audit?page=2"' in first
    second = admin.get("/console/audit?page=2").text
    assert "51–62 of 62 entries" in second
    assert "thing:11<" in second and "thing:0<" in second
    assert 'href="/console/audit"' in second  # back to page 1
