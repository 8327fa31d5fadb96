"""Every console page and form enforces its role, and every form its CSRF token."""

from __future__ import annotations

from typing import Any

import pytest
from console_helpers import Browser, make_user, malware, signed_in

from conftest import Api
from openmtd.server.users.service import list_users

READ_ONLY_PAGES = [
    "/console",
    "/console/devices",
    "/console/alerts",
    "/console/api-tokens",
    "/console/vulnerabilities",
    "/console/vulnerabilities/recommendations",
    "/console/software",
]
ADMIN_PAGES = ["/console/onboarding", "/console/users", "/console/audit"]


@pytest.mark.parametrize("role", ["read-only", "analyst", "admin"])
def test_page_access_by_role(api: Api, role: str) -> None:
    browser = signed_in(api.app, api.clock, role)
    for path in READ_ONLY_PAGES:
        r = browser.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store"
    for path in ADMIN_PAGES:
        r = browser.get(path)
        if role == "admin":
            assert r.status_code == 200, path
        else:
            assert r.status_code == 403, path
            assert "Access denied" in r.text
            assert "this needs the admin role" in r.text
            assert r.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("role", ["read-only", "analyst", "admin"])
def test_navigation_shows_only_what_the_role_may_open(api: Api, role: str) -> None:
    page = signed_in(api.app, api.clock, role).get("/console").text
    for path in ["/console/devices", "/console/alerts", "/console/api-tokens"]:
        assert f'href="{path}"' in page
    for path in ADMIN_PAGES:
        assert (f'href="{path}"' in page) is (role == "admin")
    assert f'<span class="role-pill">{role}</span>' in page
    assert 'action="/console/logout"' in page


def _alert(api: Api) -> tuple[dict[str, Any], int]:
    device = api.enroll("android-work-profile")
    api.checkin(device, detections=[malware()])
    r = api.client.get(
        "/api/alerts", params={"device_id": device["device_id"]}, headers=api.headers("admin")
    )
    return device, int(r.json()["items"][0]["id"])


def test_read_only_sees_no_alert_form_and_cannot_post_one(api: Api) -> None:
    _device, alert_id = _alert(api)
    browser = signed_in(api.app, api.clock, "read-only")
    page = browser.get(f"/console/alerts/{alert_id}")
    assert page.status_code == 200
    assert f'action="/console/alerts/{alert_id}"' not in page.text
    assert "needs the analyst role" in page.text
    r = browser.post(f"/console/alerts/{alert_id}", {"status": "Resolved"})
    assert r.status_code == 403
    alert = api.client.get(f"/api/alerts/{alert_id}", headers=api.headers("admin")).json()
    assert alert["status"] == "New"


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_analysts_and_admins_can_change_alerts(api: Api, role: str) -> None:
    _device, alert_id = _alert(api)
    browser = signed_in(api.app, api.clock, role)
    page = browser.get(f"/console/alerts/{alert_id}")
    assert f'action="/console/alerts/{alert_id}"' in page.text
    r = browser.post(
        f"/console/alerts/{alert_id}",
        {"status": "InProgress", "classification": "TruePositive", "assigned_to": "kim"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/alerts/{alert_id}?msg=alert-updated"
    alert = api.client.get(f"/api/alerts/{alert_id}", headers=api.headers("admin")).json()
    assert (alert["status"], alert["classification"], alert["assigned_to"]) == (
        "InProgress",
        "TruePositive",
        "kim",
    )


@pytest.mark.parametrize("role", ["read-only", "analyst"])
def test_admin_forms_refuse_lower_roles(api: Api, role: str) -> None:
    browser = signed_in(api.app, api.clock, role)
    posts = {
        "/console/onboarding/tokens": {"name": "sneaky"},
        "/console/onboarding/managed-config": {
            "onboarding_token": "omt_onb_xxxxxxxxxxxx",
            "scenario": "android-work-profile",
        },
        "/console/users": {"username": "mallory", "password": "x" * 20, "role": "admin"},
        "/console/users/1/disable": {},
        "/console/onboarding/tokens/1/revoke": {},
        "/console/devices/00000000-0000-0000-0000-000000000000/retire": {"reason": "lost"},
    }
    for path, data in posts.items():
        r = browser.post(path, data)
        assert r.status_code == 403, path
        assert "this needs the admin role" in r.text
    with api.app.state.ctx.sessions() as db:
        assert "mallory" not in {u.username for u in list_users(db)}


def _every_form(api: Api, admin: Browser) -> dict[str, dict[str, str]]:
    """One valid submission of each console form (all but login, tested on its own)."""
    device, alert_id = _alert(api)
    token_id = api.client.post(
        "/api/onboarding/tokens", json={"name": "t"}, headers=api.headers("admin")
    ).json()["id"]
    victim = make_user(api.app, api.clock, "read-only")
    with api.app.state.ctx.sessions() as db:
        victim_id = next(u.id for u in list_users(db) if u.username == victim)
    created = admin.post("/console/api-tokens", {"name": "mine", "expires_in_days": "30"})
    assert created.status_code == 200
    api_token_id = int(created.text.split('action="/console/api-tokens/')[1].split("/")[0])
    return {
        f"/console/alerts/{alert_id}": {"status": "Resolved"},
        f"/console/devices/{device['device_id']}/retire": {"reason": "lost"},
        "/console/onboarding/tokens": {"name": "csrf-test"},
        f"/console/onboarding/tokens/{token_id}/revoke": {},
        "/console/onboarding/managed-config": {
            "onboarding_token": "omt_onb_xxxxxxxxxxxxxxxx",
            "scenario": "android-work-profile",
        },
        "/console/users": {"username": "csrf-user", "password": "x" * 20, "role": "admin"},
        f"/console/users/{victim_id}/disable": {},
        "/console/api-tokens": {"name": "csrf-token"},
        f"/console/api-tokens/{api_token_id}/revoke": {},
        "/console/logout": {},
    }


@pytest.mark.parametrize("csrf", [None, "", "not-the-session-token", "ünïcode"])
def test_every_form_checks_the_csrf_token(api: Api, csrf: str | None) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    forms = _every_form(api, admin)
    before = admin.get("/console/audit").text.count("<tr>")
    for path, data in forms.items():
        r = admin.post(path, data, csrf=csrf)
        assert r.status_code == 403, path
        assert "CSRF" in r.text, path
    # Nothing changed: no audit entry, the session still works.
    assert admin.get("/console/audit").text.count("<tr>") == before
    assert admin.get("/console").status_code == 200
    # Another session's token is no good either.
    other = signed_in(api.app, api.clock, "admin")
    assert admin.post("/console/users", forms["/console/users"], csrf=other.csrf).status_code == 403


def test_the_same_forms_work_with_the_token(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    forms = _every_form(api, admin)
    expected = {"/console/onboarding/tokens": 200, "/console/api-tokens": 200}
    for path, data in forms.items():
        r = admin.post(path, data)
        if path == "/console/onboarding/managed-config":
            assert r.status_code == 200, path
            assert "attachment" in r.headers["content-disposition"]
        else:
            assert r.status_code == expected.get(path, 303), (path, r.text[:500])


def test_unknown_console_pages_are_html_404s(api: Api) -> None:
    browser = signed_in(api.app, api.clock, "read-only")
    for path in [
        "/console/nothing-here",
        "/console/devices/not-a-device",
        "/console/alerts/99999",
        "/console/alerts/not-a-number",
        "/console/alerts/99999999999999",
    ]:
        r = browser.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")
        assert "Not found" in r.text
    assert browser.get("/console/").headers["location"] == "/console"
    # The JSON API keeps its error envelope.
    r = api.client.get("/api/alerts/99999", headers=api.headers("read-only"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
