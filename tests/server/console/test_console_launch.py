"""The console's conditional-launch page: policies, the create form (admins, CSRF), the log."""

from __future__ import annotations

import html

from console_helpers import malware, signed_in

from conftest import Api

PAGE = "/console/launch"


def test_who_sees_the_page_and_the_form(api: Api) -> None:
    reader = signed_in(api.app, api.clock, "read-only")
    r = reader.get(PAGE)
    assert r.status_code == 403 and "this needs the analyst role" in r.text
    assert f'href="{PAGE}"' not in reader.get("/console").text

    analyst = signed_in(api.app, api.clock, "analyst")
    assert f'href="{PAGE}"' in analyst.get("/console").text
    page = analyst.get(PAGE)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert f'action="{PAGE}#add"' not in page.text
    assert "Only admins add or delete app protection policies." in page.text
    r = analyst.post(PAGE, {"name": "x", "max_risk": "Low", "action": "block"})
    assert r.status_code == 403 and "this needs the admin role" in r.text

    admin = signed_in(api.app, api.clock, "admin")
    page = admin.get(PAGE).text
    assert f'action="{PAGE}#add"' in page
    assert "No app protection policy" in page
    # The CSP forbids inline style and script: the page has neither.
    assert " style=" not in page and "<script" not in page
    assert api.client.get(PAGE, follow_redirects=False).status_code in (302, 303)


def test_admin_adds_and_deletes_a_policy_through_the_form(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    form = {
        "name": "Mail <strict>",
        "app_ids": "com.contoso.mail, com.contoso.docs\ncom.contoso.chat",
        "device_group": "sales",
        "platform": "ios",
        "max_risk": "Low",
        "action": "wipe",
    }
    r = admin.post(PAGE, form, csrf=None)
    assert r.status_code == 403 and "CSRF" in r.text
    r = admin.post(PAGE, form)
    assert r.status_code == 303
    assert r.headers["location"] == f"{PAGE}?msg=launch-policy-created"
    (policy,) = api.client.get("/api/launch/policies", headers=api.headers()).json()
    assert policy["app_ids"] == ["com.contoso.mail", "com.contoso.docs", "com.contoso.chat"]
    assert (policy["device_group"], policy["platform"], policy["max_risk"], policy["action"]) == (
        "sales",
        "ios",
        "Low",
        "wipe",
    )
    page = admin.get(r.headers["location"]).text
    assert "App protection policy added" in page
    assert "Mail &lt;strict&gt;" in page and "<strict>" not in page
    assert "Wipe data" in page

    # Bad input: the form comes back with the problem and what was typed.
    again = admin.post(PAGE, {**form, "name": "Other", "app_ids": "notapackage"})
    assert again.status_code == 422
    assert "App ids" in again.text and 'value="notapackage"' in again.text
    duplicate = admin.post(PAGE, form)
    assert duplicate.status_code == 409
    assert "is already named" in html.unescape(duplicate.text)
    bad_level = admin.post(PAGE, {**form, "name": "Other", "max_risk": "Severe"})
    assert bad_level.status_code == 422 and "Maximum allowed threat level" in bad_level.text
    assert len(api.client.get("/api/launch/policies", headers=api.headers()).json()) == 1

    delete = f"{PAGE}/policies/{policy['id']}/delete"
    assert admin.post(delete, {}, csrf="wrong").status_code == 403
    r = admin.post(delete, {})
    assert r.status_code == 303
    assert api.client.get("/api/launch/policies", headers=api.headers()).json() == []
    assert admin.post(delete, {}).status_code == 404


def test_the_log_shows_decisions_with_the_reference_codes(api: Api) -> None:
    api.client.post(
        "/api/launch/policies",
        json={"name": "Mail", "app_ids": ["com.contoso.mail"], "max_risk": "Low", "action": "wipe"},
        headers=api.headers(),
    )
    device = api.enroll("android-mam", token=api.onboarding_token())
    api.checkin(device, scenario="android-mam", detections=[malware(severity="High")])
    for _ in range(2):
        r = api.client.post(
            f"/api/agent/v1/devices/{device['device_id']}/launch",
            json={"app_id": "com.contoso.mail", "app_version": "7.1"},
            headers={"Authorization": f"Bearer {device['device_credential']}"},
        )
        assert r.status_code == 200, r.text
    page = signed_in(api.app, api.clock, "analyst").get(PAGE).text
    assert "threat level 1 Secured, 2 Low, 3 Medium, 4 High; action 0 Block, 1 Wipe" in page
    assert "2 of 2" in page
    assert page.count('<span class="badge launch-wipe">wipe</span>') == 1
    assert page.count('<span class="badge launch-block">block</span>') == 1
    assert "device threat level High is above Low" in page
    assert f'href="/console/devices/{device["device_id"]}"' in page
