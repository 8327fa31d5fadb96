"""What the console pages show: dashboard, device inventory, device page, alert queue and alert."""

from __future__ import annotations

import re
from typing import Any

from console_helpers import malware, signed_in

from conftest import Api


def _device(api: Api, scenario: str = "android-work-profile", **extra: Any) -> dict[str, Any]:
    device = api.enroll(scenario, **extra)
    device["_scenario"] = scenario
    return device


def _alert_ids(api: Api, device: dict[str, Any]) -> list[int]:
    r = api.client.get(
        "/api/alerts", params={"device_id": device["device_id"]}, headers=api.headers("admin")
    )
    return [int(a["id"]) for a in r.json()["items"]]


def _risk(api: Api, device: dict[str, Any]) -> str:
    r = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers("admin"))
    return str(r.json()["risk_level"])


def test_dashboard_shows_the_fleet_at_a_glance(api: Api) -> None:
    a1 = _device(api, device={"model": "Pixel 8", "os_version": "14", "name": "Alice phone"})
    a2 = _device(api)
    ios = _device(api, "ios-supervised")
    api.checkin(a1, detections=[malware()])
    api.checkin(ios, detections=[malware("jb", "High") | {"category": "Jailbreak"}])
    api.checkin(a2, detections=[phishing()])
    api.clock.advance(days=8)  # every device is now unresponsive
    page = signed_in(api.app, api.clock, "read-only").get("/console")
    assert page.status_code == 200
    text = page.text
    kpis = dict(
        re.findall(
            r'<span class="kpi-label">([^<]+)</span>\s*<span class="kpi-value">(\d+)</span>', text
        )
    )
    assert kpis == {
        "Devices": "3",
        "Noncompliant": "3",
        "High risk": "1",
        "Unresponsive": "3",
        "Active alerts": "3",
        "Web protection": "0",  # the phishing alert's last activity is 8 days old now
    }
    assert "phishing alerts in 7 days · 0 indicators" in text
    assert "2 Android · 1 iOS" in text
    # The risk chart is inline SVG whose bars link to the filtered device list.
    assert '<svg class="chart"' in text
    assert 'href="/console/devices?risk=High"' in text
    assert "<title>Medium: 1 (33%)</title>" in text
    assert "<title>Secured: 1 (33%)</title>" in text
    assert 'href="/console/alerts?status=active&amp;severity=High"' in text
    assert 'href="/console/devices?scenario=ios-supervised"' in text
    assert 'href="/console/devices?unresponsive=true"' in text
    # The newest active alerts, with their devices.
    assert "Malicious app jb" in text
    assert "Alice phone" in text
    assert "2026-11-26 12:00" in text
    assert "style=" not in text


def phishing() -> dict[str, object]:
    return {
        "category": "Phishing",
        "title": "Phishing warning: smartscreentestratings2.net",
        "severity": "Informational",
        "key": "web:warning:builtin:pilot-test-target",
    }


def test_dashboard_of_an_empty_fleet(api: Api) -> None:
    page = signed_in(api.app, api.clock, "admin").get("/console").text
    assert "No active alerts." in page
    assert "No devices are enrolled yet." in page


def test_device_list_filters_search_and_sort(api: Api) -> None:
    token = api.onboarding_token(tags=["sales"], device_group="emea")
    android = _device(
        api, token=token, device={"model": "Pixel 8", "os_version": "14", "name": "Zed android"}
    )
    _device(
        api,
        "ios-device-enrollment",
        token=token,
        device={"model": "iPhone 15", "os_version": "18.3.2", "name": "Amy iphone"},
    )
    other = _device(api, device={"model": "Galaxy S24", "os_version": "14", "name": "Bob"})
    api.checkin(android, detections=[malware()])
    browser = signed_in(api.app, api.clock, "read-only")

    def names(query: str) -> list[str]:
        r = browser.get("/console/devices" + query)
        assert r.status_code == 200
        return re.findall(r'<a class="strong" href="/console/devices/[^"]+">([^<]+)</a>', r.text)

    assert sorted(names("")) == ["Amy iphone", "Bob", "Zed android"]
    assert names("?platform=ios") == ["Amy iphone"]
    assert names("?risk=Medium") == ["Zed android"]
    assert sorted(names("?compliant=true")) == ["Amy iphone", "Bob"]
    assert names("?compliant=false") == ["Zed android"]
    assert sorted(names("?tag=sales")) == ["Amy iphone", "Zed android"]
    assert sorted(names("?group=emea")) == ["Amy iphone", "Zed android"]
    assert names("?q=galaxy") == ["Bob"]
    assert names("?scenario=ios-device-enrollment") == ["Amy iphone"]
    assert names("?unresponsive=true") == []
    assert names("?sort=name") == ["Amy iphone", "Bob", "Zed android"]
    # Unknown filter values are ignored rather than failing the page.
    assert len(names("?platform=windows&risk=Purple&compliant=maybe&page=x")) == 3
    # The form keeps the filters in force.
    page = browser.get("/console/devices?platform=ios&q=amy").text
    assert '<option value="ios" selected>' in page
    assert 'value="amy"' in page
    assert "Clear filters" in page
    assert other["device_id"] in browser.get("/console/devices?q=" + other["device_id"][:13]).text


def test_device_list_paginates_and_keeps_filters_in_links(api: Api) -> None:
    token = api.onboarding_token()
    for i in range(52):
        _device(
            api,
            token=token,
            device={"model": "Pixel 8", "os_version": "14", "name": f"dev-{i:02d}"},
        )
    _device(api, "ios-mam", token=token)
    browser = signed_in(api.app, api.clock, "read-only")
    first = browser.get("/console/devices?platform=android&sort=name").text
    assert "1–50 of 52 devices" in first
    assert 'href="/console/devices?platform=android&amp;sort=name&amp;page=2"' in first
    assert first.count('<a class="strong" href="/console/devices/') == 50
    second = browser.get("/console/devices?platform=android&sort=name&page=2").text
    assert "51–52 of 52 devices" in second
    assert re.findall(r'href="/console/devices/[^"]+">(dev-\d+)</a>', second) == [
        "dev-50",
        "dev-51",
    ]
    assert 'href="/console/devices?platform=android&amp;sort=name"' in second  # page 1
    # The sort form and the sorting links keep the filters too.
    assert '<option value="name" selected>' in second
    assert '<a class="sort" href="/console/devices?platform=android">Last seen</a>' in second


def test_device_page_shows_facts_risk_compliance_apps_alerts_and_timeline(api: Api) -> None:
    device = _device(
        api,
        "android-device-admin",
        token=api.onboarding_token(tags=["corp"], device_group="field-sales"),
        device={
            "model": "Pixel 7",
            "manufacturer": "Google",
            "os_version": "14",
            "name": "Field <script>alert(1)</script> phone",
        },
    )
    api.checkin(
        device,
        facts={
            "platform": "android",
            "scenario": "android-device-admin",
            "os_version": "14",
            "security_patch_level": "2026-10-01",
            "model": "Pixel 7",
            "tags": ["kiosk-2"],
        },
        apps=[
            {
                "identifier": "com.example.mail",
                "version": "2.1",
                "name": "Mail",
                "install_source": "store",
            },
            {
                "identifier": "com.evil.app",
                "version": "0.1",
                "name": "Flashlight",
                "install_source": "sideloaded",
                "sha256": "ab" * 32,
            },
        ],
        detections=[malware()],
    )
    alert_id = _alert_ids(api, device)[0]
    page = signed_in(api.app, api.clock, "read-only").get(f"/console/devices/{device['device_id']}")
    assert page.status_code == 200
    text = page.text
    # Escaped, never raw HTML from the device.
    assert "<script>alert(1)</script>" not in text
    assert "Field &lt;script&gt;alert(1)&lt;/script&gt; phone" in text
    # Facts.
    assert "Device Administrator" in text  # the scenario's title from the enrollment table
    assert "android-device-admin" in text
    assert "Entire device" in text
    assert "2026-10-01" in text
    assert "Pixel 7" in text
    assert "field-sales" in text
    for tag in ("corp", "kiosk-2"):
        assert f'href="/console/devices?tag={tag}">{tag}</a>' in text
    assert "Enrolled" in text and "2026-11-26 12:00" in text
    # Risk, with its reason; compliance, with its reasons.
    assert '<div class="risk-level risk-medium">' in text
    assert f"active Medium alert(s) #{alert_id}" in text
    assert "Noncompliant" in text
    assert "threat level Medium is above the allowed Low" in text
    # Enrollment warnings and privacy settings.
    assert "Enrollment warnings" in text
    assert "is deprecated" in text
    assert "Hide URL and domain in phishing reports" in text
    # Apps, alerts and timeline.
    assert "com.example.mail" in text and "Mail" in text
    assert "Flashlight" in text and "Sideloaded" in text
    assert "abababababab…" in text
    assert f'href="/console/alerts/{alert_id}">Malicious app com.evil.app</a>' in text
    assert 'id="timeline"' in text
    assert "enrolled as Device Administrator" in text
    assert f"Medium alert #{alert_id} raised" in text
    assert "risk Secured -&gt; Medium" in text


def test_alert_queue_filters_and_links(api: Api) -> None:
    android = _device(api, device={"model": "Pixel 8", "os_version": "14", "name": "droid"})
    ios = _device(
        api, "ios-supervised", device={"model": "iPhone", "os_version": "18.1", "name": "fruit"}
    )
    api.checkin(android, detections=[malware("a1"), malware("a2", "Low")])
    api.checkin(ios, detections=[malware("i1", "High") | {"category": "Jailbreak"}])
    first = _alert_ids(api, android)[-1]
    api.client.patch(
        f"/api/alerts/{first}", json={"status": "Resolved"}, headers=api.headers("analyst")
    )
    browser = signed_in(api.app, api.clock, "read-only")

    def titles(query: str) -> list[str]:
        r = browser.get("/console/alerts" + query)
        assert r.status_code == 200
        return re.findall(r'<a class="strong" href="/console/alerts/\d+">([^<]+)</a>', r.text)

    assert len(titles("")) == 3
    assert titles("?severity=High") == ["Malicious app i1"]
    assert sorted(titles("?status=active")) == ["Malicious app a2", "Malicious app i1"]
    assert sorted(titles("?active=1")) == ["Malicious app a2", "Malicious app i1"]
    assert titles("?status=Resolved") == ["Malicious app a1"]
    assert titles("?platform=ios") == ["Malicious app i1"]
    assert titles("?category=Jailbreak") == ["Malicious app i1"]
    assert titles("?platform=android&status=active") == ["Malicious app a2"]
    page = browser.get("/console/alerts?platform=ios").text
    assert 'href="/console/devices/' + ios["device_id"] + '">fruit</a>' in page


def test_alert_page_shows_evidence_and_device(api: Api) -> None:
    device = _device(api, device={"model": "Pixel 8", "os_version": "14", "name": "droid"})
    api.checkin(device, detections=[malware()])
    alert_id = _alert_ids(api, device)[0]
    page = signed_in(api.app, api.clock, "analyst").get(f"/console/alerts/{alert_id}").text
    assert "Malicious app com.evil.app" in page
    assert '<th scope="row">package</th>' in page
    assert "known malware family" in page
    assert f'href="/console/devices/{device["device_id"]}"' in page
    assert '<span class="badge sev-medium">' in page
    assert "Medium alert #" in page  # the alert's own activity
    assert "Assign to me" in page


def test_resolving_an_alert_in_the_console_returns_the_device_to_secured(api: Api) -> None:
    device = _device(api)
    api.checkin(device, detections=[malware()])
    assert _risk(api, device) == "Medium"
    alert_id = _alert_ids(api, device)[0]
    analyst = signed_in(api.app, api.clock, "analyst")
    device_page = analyst.get(f"/console/devices/{device['device_id']}").text
    assert '<div class="risk-level risk-medium">' in device_page

    r = analyst.post(
        f"/console/alerts/{alert_id}",
        {"status": "Resolved", "classification": "TruePositive", "assigned_to": ""},
    )
    assert r.status_code == 303
    page = analyst.get(r.headers["location"])
    assert "Alert updated." in page.text
    assert '<span class="badge status-resolved">Resolved</span>' in page.text

    assert _risk(api, device) == "Secured"
    device_page = analyst.get(f"/console/devices/{device['device_id']}").text
    assert '<div class="risk-level risk-secured">' in device_page
    assert "Compliant" in device_page
    assert f"alert #{alert_id} set to Resolved by {analyst.username}" in device_page
    audit = signed_in(api.app, api.clock, "admin").get("/console/audit").text
    assert "alert.update" in audit and f"alert:{alert_id}" in audit


def test_assign_to_me_and_unassign(api: Api) -> None:
    device = _device(api)
    api.checkin(device, detections=[malware()])
    alert_id = _alert_ids(api, device)[0]
    analyst = signed_in(api.app, api.clock, "analyst")
    assert (
        analyst.post(f"/console/alerts/{alert_id}", {"assigned_to": analyst.username}).status_code
        == 303
    )
    alert = api.client.get(f"/api/alerts/{alert_id}", headers=api.headers("admin")).json()
    assert alert["assigned_to"] == analyst.username
    assert alert["status"] == "New"  # fields not in the form stay as they are
    assert analyst.post(f"/console/alerts/{alert_id}", {"assigned_to": ""}).status_code == 303
    alert = api.client.get(f"/api/alerts/{alert_id}", headers=api.headers("admin")).json()
    assert alert["assigned_to"] is None
    bad = analyst.post(f"/console/alerts/{alert_id}", {"status": "Closed"})
    assert bad.status_code == 422
    assert "Check your input" in bad.text
    too_long = analyst.post(f"/console/alerts/{alert_id}", {"assigned_to": "x" * 65})
    assert too_long.status_code == 422
    missing = analyst.post("/console/alerts/99999", {"status": "Resolved"})
    assert missing.status_code == 404
