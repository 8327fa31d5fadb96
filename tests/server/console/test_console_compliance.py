"""The console's compliance page: policies (admins save and delete, with CSRF), the health-state
chart, and the device page showing its policy and MDM health state."""

from __future__ import annotations

import html

from console_helpers import signed_in

from conftest import Api

PAGE = "/console/compliance"


def test_everyone_sees_it_only_admins_change_it(api: Api) -> None:
    reader = signed_in(api.app, api.clock, "read-only")
    page = reader.get(PAGE)
    assert page.status_code == 200
    assert f'href="{PAGE}"' in reader.get("/console").text
    assert "Only admins change compliance policies." in page.text
    assert "Devices by MDM partner health state" in page.text
    assert " style=" not in page.text and "<script" not in page.text
    r = reader.post(PAGE, {"name": "x", "max_risk": "Low"})
    assert r.status_code == 403 and "this needs the admin role" in r.text


def test_admin_saves_a_group_policy_and_its_devices_follow(api: Api) -> None:
    device = api.enroll(token=api.onboarding_token(device_group="kiosk-floor"))
    api.checkin(
        device,
        detections=[{"category": "Malware", "title": "Adware", "severity": "Medium", "key": "a"}],
    )
    admin = signed_in(api.app, api.clock, "admin")
    form = {
        "name": "Floor <devices>",
        "device_group": "kiosk-floor",
        "max_risk": "Medium",
        "unresponsive_days": "3",
        "unresponsive_action": "ignore",
        "min_os_android": "13",
        "require_onboarding": "on",
    }
    assert admin.post(PAGE, form, csrf=None).status_code == 403
    r = admin.post(PAGE, form)
    assert r.status_code == 303 and r.headers["location"] == f"{PAGE}?msg=policy-saved"
    page = admin.get(f"{PAGE}?msg=policy-saved").text
    assert html.escape("Floor <devices>") in page and "Floor <devices>" not in page
    assert "its devices were judged again" in page
    device_page = admin.get(f"/console/devices/{device['device_id']}").text
    assert "Compliant" in device_page and html.escape("Floor <devices>") in device_page
    assert "mediumSeverity" in device_page

    bad = admin.post(PAGE, {**form, "min_os_ios": "seventeen"})
    assert bad.status_code == 422 and "is not a version" in bad.text
    bad_days = admin.post(PAGE, {**form, "unresponsive_days": "0"})
    assert bad_days.status_code == 422 and "Days until unresponsive" in bad_days.text

    (policy,) = [
        p
        for p in api.client.get("/api/compliance/policies", headers=api.headers()).json()
        if p["device_group"] == "kiosk-floor"
    ]
    assert (policy["max_risk"], policy["unresponsive_days"], policy["min_os_android"]) == (
        "Medium",
        3,
        "13",
    )
    r = admin.post(f"{PAGE}/policies/{policy['id']}/delete", {})
    assert r.status_code == 303
    assert "Noncompliant" in admin.get(f"/console/devices/{device['device_id']}").text
