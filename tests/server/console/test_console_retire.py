"""Retiring a device from its console page: admins only, with the session's CSRF token."""

from __future__ import annotations

from typing import Any

import pytest
from console_helpers import malware, signed_in

from conftest import Api

FORM = 'action="/console/devices/{id}/retire"'


def _device(api: Api) -> dict[str, Any]:
    device = api.enroll("android-work-profile", device={"model": "Pixel 8", "os_version": "14"})
    api.checkin(device, detections=[malware(severity="High")])
    return device


def _detail(api: Api, device: dict[str, Any]) -> dict[str, Any]:
    r = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers("admin"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_admin_retires_a_device_from_its_page(api: Api) -> None:
    device = _device(api)
    device_id = device["device_id"]
    admin = signed_in(api.app, api.clock, "admin")
    page = admin.get(f"/console/devices/{device_id}").text
    assert FORM.format(id=device_id) in page
    assert 'name="reason"' in page
    assert "Retired" not in page

    api.clock.advance(minutes=30)
    r = admin.post(f"/console/devices/{device_id}/retire", {"reason": "wiped & replaced <b>"})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/console/devices/{device_id}?msg=device-retired"

    page = admin.get(r.headers["location"])
    assert page.status_code == 200
    text = page.text
    assert "Device retired; its active alerts are resolved" in text
    assert '<span class="badge state-revoked">Retired 2026-11-26 12:30</span>' in text
    assert "<dt>Retired</dt>" in text
    assert FORM.format(id=device_id) not in text  # nothing left to retire
    # The reason is on the timeline, escaped.
    assert "retired by " + admin.username + ": wiped &amp; replaced &lt;b&gt;" in text
    assert "<b>" not in text

    d = _detail(api, device)
    assert d["retired_at"] == "2026-11-26T12:30:00Z"
    assert [a["status"] for a in d["alerts"]] == ["Resolved"]
    assert d["risk_level"] == "Secured"
    # Out of the console's device list.
    assert device_id not in admin.get("/console/devices").text
    # In the audit log.
    audit = admin.get("/console/audit").text
    assert "device.retire" in audit and f"device:{device_id}" in audit

    # A second retirement is a 409 page and changes nothing.
    again = admin.post(f"/console/devices/{device_id}/retire", {"reason": "again"})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("text/html")
    assert "is already retired" in again.text
    assert _detail(api, device)["retired_at"] == "2026-11-26T12:30:00Z"


@pytest.mark.parametrize("role", ["read-only", "analyst"])
def test_lower_roles_see_no_form_and_cannot_post(api: Api, role: str) -> None:
    device = _device(api)
    device_id = device["device_id"]
    browser = signed_in(api.app, api.clock, role)
    page = browser.get(f"/console/devices/{device_id}")
    assert page.status_code == 200
    assert FORM.format(id=device_id) not in page.text
    assert "Retire device" not in page.text
    r = browser.post(f"/console/devices/{device_id}/retire", {"reason": "lost"})
    assert r.status_code == 403
    assert "this needs the admin role" in r.text
    d = _detail(api, device)
    assert d["retired_at"] is None
    assert [a["status"] for a in d["alerts"]] == ["New"]


@pytest.mark.parametrize("csrf", [None, "", "not-the-session-token"])
def test_the_form_needs_the_session_csrf_token(api: Api, csrf: str | None) -> None:
    device = _device(api)
    admin = signed_in(api.app, api.clock, "admin")
    r = admin.post(f"/console/devices/{device['device_id']}/retire", {"reason": "lost"}, csrf=csrf)
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert _detail(api, device)["retired_at"] is None


def test_signed_out_post_goes_to_the_login(api: Api) -> None:
    device = _device(api)
    admin = signed_in(api.app, api.clock, "admin")
    admin.client.cookies.clear()
    r = admin.post(f"/console/devices/{device['device_id']}/retire", {"reason": "lost"})
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login"
    assert _detail(api, device)["retired_at"] is None


@pytest.mark.parametrize(
    ("reason", "message"),
    [("", "Reason: String should have at least 1 character"), ("   ", "Reason: String")],
)
def test_a_reason_is_required(api: Api, reason: str, message: str) -> None:
    device = _device(api)
    admin = signed_in(api.app, api.clock, "admin")
    r = admin.post(f"/console/devices/{device['device_id']}/retire", {"reason": reason})
    assert r.status_code == 422
    assert message in r.text
    assert _detail(api, device)["retired_at"] is None


def test_a_too_long_reason_is_refused(api: Api) -> None:
    device = _device(api)
    admin = signed_in(api.app, api.clock, "admin")
    r = admin.post(f"/console/devices/{device['device_id']}/retire", {"reason": "x" * 257})
    assert r.status_code == 422
    assert "Reason: String should have at most 256 characters" in r.text
    assert _detail(api, device)["retired_at"] is None


def test_an_unknown_device_is_a_404_page(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    r = admin.post("/console/devices/00000000-0000-0000-0000-000000000000/retire", {"reason": "x"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")


def test_device_list_hides_retired_devices_unless_asked(api: Api) -> None:
    kept = api.enroll(
        "android-cobo", device={"model": "Pixel 8", "os_version": "15", "name": "kept-phone"}
    )
    gone = api.enroll(
        "ios-supervised", device={"model": "iPhone 15", "os_version": "18.3", "name": "gone-phone"}
    )
    r = api.client.post(
        f"/api/devices/{gone['device_id']}/retire", json={"reason": "lost"}, headers=api.headers()
    )
    assert r.status_code == 200, r.text
    admin = signed_in(api.app, api.clock, "admin")
    default = admin.get("/console/devices").text
    assert "kept-phone" in default and "gone-phone" not in default
    shown = admin.get("/console/devices?retired=include").text
    assert "kept-phone" in shown and "gone-phone" in shown and "Retired 2026-" in shown
    assert kept["device_id"] != gone["device_id"]
