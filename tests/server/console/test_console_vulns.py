"""The console's vulnerability pages, signed in through the login form, over real feed imports
and check-ins: the overview and its filters, one vulnerability, the software inventory, the
recommendations, the device page's card and the admin's imports, mapping and re-match."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from console_helpers import Browser, signed_in

from conftest import SHARED, Api
from openmtd.server.console.vuln_pages import reference_links, rematch_notice
from openmtd.server.vulns.protection import RematchStatus

FIXTURES = Path(__file__).parents[2] / "intel" / "fixtures" / "vulns"
ASB = FIXTURES / "asb_handwritten.json"
APPS_OSV = FIXTURES / "osv_apps_handwritten.json"
CVE5 = SHARED / "data" / "cve-records" / "cve5"
ANDROID_14_2024_01 = {
    "CVE-2024-43093",
    "CVE-2099-10001",
    "CVE-2099-10002",
    "CVE-2099-10008",
    "CVE-2099-10009",
}
SHOP_CVE = "CVE-2099-20001"
MAPPING = "identifier,product\ncom.example.shop,Maven:com.example.http:client\n"
SHOP_APP = {"identifier": "com.example.shop", "version": "3.14.1", "name": "Example Shop"}
ADMIN_PAGE = "/console/vulnerabilities/admin"
IMPORT_PAGE = f"{ADMIN_PAGE}/import"
MAPPING_PAGE = f"{ADMIN_PAGE}/mapping"
REMATCH_PAGE = f"{ADMIN_PAGE}/rematch"

#: A hand-made OSV record whose texts try to get markup and a script link into the pages.
HOSTILE_OSV = {
    "id": "GHSA-test-0001-hostile",
    "modified": "2024-05-01T00:00:00Z",
    "aliases": ["CVE-2099-29999"],
    "summary": 'Bad client <script>alert("feed")</script> and <b>bold</b>',
    "affected": [
        {
            "package": {"ecosystem": "Maven", "name": "com.example.http:client"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.9"}]}],
        }
    ],
    "references": [
        {"type": "WEB", "url": "javascript:alert(document.cookie)"},
        {"type": "ADVISORY", "url": "https://example.org/advisory?a=1&b=<x>"},
    ],
}


def _import(api: Api, name: str, data: bytes) -> None:
    r = api.client.post(
        "/api/vulns/imports",
        params={"name": name},
        content=data,
        headers={**api.headers(), "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text


def _settle(api: Api) -> None:
    assert api.app.state.ctx.vulns.wait(120)


def _feeds(api: Api, *, mapping: bool = True) -> None:
    for path in (ASB, APPS_OSV, *sorted(CVE5.glob("CVE-*.json"))):
        _import(api, path.name, path.read_bytes())
    if mapping:
        r = api.client.put(
            "/api/vulns/mapping",
            content=MAPPING,
            headers={**api.headers(), "Content-Type": "text/csv"},
        )
        assert r.status_code == 200, r.text
    _settle(api)


def _facts(level: str) -> dict[str, Any]:
    return {
        "platform": "android",
        "scenario": "android-work-profile",
        "os_version": "14",
        "security_patch_level": level,
        "model": "Pixel 8",
    }


def _fleet(api: Api) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Two devices behind (Android 14 at 2024-01-01, the vulnerable shop app), one patched."""
    _feeds(api)
    old = [api.enroll() for _ in range(2)]
    for device in old:
        api.checkin(device, facts=_facts("2024-01-01"), apps=[SHOP_APP])
    new = api.enroll()
    api.checkin(new, facts=_facts("2026-10-01"), apps=[{**SHOP_APP, "version": "3.14.2"}])
    return old, new


def _page(browser: Browser, path: str, status: int = 200) -> str:
    r = browser.get(path)
    assert r.status_code == status, (path, r.text[:2000])
    assert r.headers["content-type"].startswith("text/html")
    assert " style=" not in r.text, path  # the strict CSP forbids inline styles
    return r.text


def _table_ids(page: str) -> set[str]:
    """The vulnerability ids the page's vulnerability table lists."""
    table = page.split('class="table vuln-list"')[1]
    return set(re.findall(r'<a class="strong" href="/console/vulnerabilities/([^"]+)">', table))


def _card(page: str) -> str:
    """The device page's vulnerability card."""
    return page.split('<section class="card" id="vulnerabilities">')[1].split("</section>")[0]


def _api(api: Api, path: str, **params: Any) -> Any:
    r = api.client.get(path, params=params, headers=api.headers("read-only"))
    assert r.status_code == 200, r.text
    return r.json()


def _audit_actions(api: Api) -> list[str]:
    r = api.client.get("/api/audit", params={"limit": 200}, headers=api.headers("admin"))
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["items"]]


def test_overview_shows_exposure_charts_recommendations_and_the_table(api: Api) -> None:
    _fleet(api)
    browser = signed_in(api.app, api.clock, "read-only")
    page = _page(browser, "/console/vulnerabilities")
    assert _table_ids(page) == ANDROID_14_2024_01 | {SHOP_CVE}
    assert "No vulnerability feeds imported yet" not in page
    summary = _api(api, "/api/vulns/summary")
    assert f'aria-label="organisation exposure {summary["exposure"]} of 100"' in page
    assert html.escape(summary["explanation"]) in page
    assert 'aria-label="Devices by exposure band"' in page
    assert 'aria-label="Vulnerabilities by severity"' in page
    top = _api(api, "/api/vulns/recommendations")["items"][0]
    assert top["title"].startswith("Update Android 14 devices to security patch level")
    assert html.escape(top["title"]) in page.split('id="recommendations"')[1]
    assert 'href="/console/vulnerabilities/recommendations"' in page
    assert '<a href="/console/vulnerabilities"' in page  # the navigation entry
    assert 'href="/api/vulns?format=csv"' in page
    assert "1–6 of 6 vulnerabilities" in page
    assert 'href="/console/vulnerabilities/admin"' not in page  # read-only: no admin tab


def test_filters_narrow_the_table_and_the_csv_link_follows(api: Api) -> None:
    _fleet(api)
    browser = signed_in(api.app, api.clock, "read-only")
    assert _table_ids(_page(browser, "/console/vulnerabilities?q=2099-2")) == {SHOP_CVE}
    assert _table_ids(_page(browser, "/console/vulnerabilities?platform=ios")) == set()
    assert "No vulnerability matches these filters." in _page(
        browser, "/console/vulnerabilities?platform=ios"
    )
    every = {v["vuln_id"]: v for v in _api(api, "/api/vulns", limit=100)["items"]}
    assert {v["severity"] for v in every.values()} == {"High"}  # the fixtures' records
    assert _table_ids(_page(browser, "/console/vulnerabilities?severity=Critical")) == set()
    page = _page(browser, "/console/vulnerabilities?severity=High")
    assert _table_ids(page) == set(every)
    assert 'name="severity" value="High" checked' in page
    assert 'name="severity" value="Low">' in page
    exploited = {k for k, v in every.items() if v["exploited"]}
    assert exploited == {"CVE-2024-43093"}  # the CVE record says so
    page = _page(browser, "/console/vulnerabilities?exploited=true")
    assert _table_ids(page) == exploited and ">KEV<" not in page and ">Exploited<" in page
    # Two severities at once (the form repeats the parameter; the page links join them).
    query = "severity=Low&severity=High"
    page = _page(browser, f"/console/vulnerabilities?{query}&q=CVE-2099-1")
    both = {k for k in every if k.startswith("CVE-2099-1")}
    assert _table_ids(page) == both
    # The export link carries the same filters, in the API's form, and works with the session.
    link = html.unescape(re.findall(r'href="(/api/vulns\?format=csv[^"]*)"', page)[0])
    assert link == "/api/vulns?format=csv&severity=High&severity=Low&q=CVE-2099-1"
    exported = browser.get(link)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["vulnerability"] for r in rows} == both


def test_one_vulnerability_with_its_records_and_devices(api: Api) -> None:
    old, new = _fleet(api)
    browser = signed_in(api.app, api.clock, "read-only")
    page = _page(browser, f"/console/vulnerabilities/{SHOP_CVE}")
    assert "GHSA-xxxx-9001-okhttp" in page
    assert "Certificate pinning bypass in an HTTP client" in page
    assert "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N" in page
    assert '<a href="https://github.com/advisories/GHSA-xxxx-9001-okhttp"' in page
    devices = page.split('id="devices"')[1]
    for device in old:
        assert f'href="/console/devices/{device["device_id"]}"' in devices
    assert new["device_id"] not in devices
    assert "com.example.shop" in devices and "3.14.1" in devices
    assert "1–2 of 2 devices" in devices
    android = _page(browser, "/console/vulnerabilities/CVE-2099-10001")
    assert "ASB-A-900000001" in android and "Patch 2024-01-01" in android
    for missing in ("/console/vulnerabilities/CVE-1999-0000", "/console/vulnerabilities/a%20b"):
        r = browser.get(missing)
        assert r.status_code == 404, missing
        assert "Not found" in r.text and r.headers["content-type"].startswith("text/html")


def test_software_inventory_filters_and_exports(api: Api) -> None:
    _fleet(api)
    browser = signed_in(api.app, api.clock, "read-only")
    page = _page(browser, "/console/software")
    assert "Example Shop" in page and "3.14.1" in page and "3.14.2" in page
    assert "vulnerability privacy mode send no app inventory" in page
    assert 'href="/api/vulns/software?format=csv"' in page
    vulnerable = _page(browser, "/console/software?vulnerable=true")
    assert "3.14.1" in vulnerable and "3.14.2" not in vulnerable
    assert 'href="/api/vulns/software?format=csv&amp;vulnerable=true"' in vulnerable
    assert "No app matches these filters." in _page(browser, "/console/software?q=nothing-such")
    assert "Example Shop" not in _page(browser, "/console/software?platform=ios")
    exported = browser.get("/api/vulns/software?format=csv&vulnerable=true")
    assert [r["version"] for r in csv.DictReader(io.StringIO(exported.text))] == ["3.14.1"]


def test_recommendations_page_lists_everything_with_collapsed_cves(api: Api) -> None:
    _fleet(api)
    browser = signed_in(api.app, api.clock, "read-only")
    page = _page(browser, "/console/vulnerabilities/recommendations")
    advice = _api(api, "/api/vulns/recommendations")["items"]
    for item in advice:
        assert html.escape(item["title"]) in page
    assert page.count('<details class="vuln-cves">') == len(advice)
    shop = next(a for a in advice if a["kind"] == "update-app")
    assert f'href="/console/vulnerabilities/{SHOP_CVE}"' in page and shop["target_version"] in page
    assert 'href="/api/vulns/recommendations?format=csv"' in page


def test_device_card_lists_the_findings(api: Api) -> None:
    old, new = _fleet(api)
    browser = signed_in(api.app, api.clock, "read-only")
    page = _page(browser, f"/console/devices/{old[0]['device_id']}")
    card = _card(page)
    for cve in ANDROID_14_2024_01 | {SHOP_CVE}:
        assert f'href="/console/vulnerabilities/{cve}"' in card, cve
    assert "OS and apps" in card
    doc = _api(api, f"/api/devices/{old[0]['device_id']}/vulnerabilities")
    assert f'aria-label="device exposure {doc["exposure"]} of 100"' in card
    assert html.escape(doc["explanation"]) in card
    assert "com.example.shop" in card and "3.14.2" in card  # where, and the fixed version
    assert "14:0 ≤ v &lt; 14:2024-03-01" in card
    assert f'href="/api/devices/{old[0]["device_id"]}/vulnerabilities?format=csv"' in card
    assert '<a href="#vulnerabilities">' in page
    patched = _page(browser, f"/console/devices/{new['device_id']}")
    assert "No known vulnerability" in _card(patched)


def test_device_card_in_privacy_mode_says_os_only(api: Api) -> None:
    _feeds(api)
    device = api.enroll(privacy={"vulnerability_privacy_mode": True})
    api.checkin(device, facts=_facts("2024-01-01"), apps=[SHOP_APP])
    browser = signed_in(api.app, api.clock, "read-only")
    card = _card(_page(browser, f"/console/devices/{device['device_id']}"))
    assert "OS only" in card and "OS and apps" not in card
    assert "only its operating system is assessed" in card
    for cve in ANDROID_14_2024_01:
        assert cve in card
    assert SHOP_CVE not in card


def test_a_device_not_assessed_yet_says_so(api: Api) -> None:
    device = api.enroll()
    browser = signed_in(api.app, api.clock, "read-only")
    assert "Not assessed yet" in _card(_page(browser, f"/console/devices/{device['device_id']}"))


def test_feed_and_device_texts_are_escaped(api: Api) -> None:
    _feeds(api)
    _import(api, "hostile.json", json.dumps([HOSTILE_OSV]).encode())
    _settle(api)
    device = api.enroll()
    hostile_app = {**SHOP_APP, "name": "<img src=x onerror=alert(1)>"}
    api.checkin(device, facts=_facts("2024-01-01"), apps=[hostile_app])
    browser = signed_in(api.app, api.clock, "read-only")
    pages = [
        _page(browser, "/console/vulnerabilities"),
        _page(browser, "/console/vulnerabilities/CVE-2099-29999"),
        _page(browser, "/console/software"),
        _page(browser, f"/console/devices/{device['device_id']}"),
    ]
    for page in pages:
        assert "<script>alert" not in page and "<b>bold" not in page and "<img src=x" not in page
    listing, detail, software, _device = pages
    assert "&lt;script&gt;alert(" in listing and "&lt;script&gt;alert(" in detail
    assert "&lt;img src=x onerror=alert(1)&gt;" in software
    assert "javascript:" not in detail  # the OSV reader keeps only http(s) references
    assert '<a href="https://example.org/advisory?a=1&amp;b=&lt;x&gt;"' in detail


def test_no_feed_notice_and_the_rematch_state(api: Api) -> None:
    _settle(api)
    reader = signed_in(api.app, api.clock, "read-only")
    page = _page(reader, "/console/vulnerabilities")
    assert "No vulnerability feeds imported yet" in page and "openmtd vulns import" in page
    assert 'href="/console/vulnerabilities/admin#import"' not in page
    admin = signed_in(api.app, api.clock, "admin")
    overview = _page(admin, "/console/vulnerabilities")
    assert 'href="/console/vulnerabilities/admin#import"' in overview
    assert "Re-matching the fleet" not in page
    ctx = api.app.state.ctx
    ctx.vulns.status = RematchStatus("matching", generation=1, done=120, total=500)
    assert "Re-matching the fleet: 120 of 500 devices." in _page(reader, "/console/vulnerabilities")
    ctx.vulns.status = RematchStatus()


def test_only_http_references_become_links() -> None:
    assert reference_links(["https://a.example/x", "HTTP://b.example", "javascript:alert(1)",
                            "data:text/html,x", "ftp://c.example", "//d.example"]) == [
        ("https://a.example/x", True),
        ("HTTP://b.example", True),
        ("javascript:alert(1)", False),
        ("data:text/html,x", False),
        ("ftp://c.example", False),
        ("//d.example", False),
    ]  # fmt: skip


def test_rematch_notice_in_words() -> None:
    assert rematch_notice(RematchStatus()) is None
    matching = rematch_notice(RematchStatus("matching", done=3, total=9))
    assert matching is not None and matching.text == "Re-matching the fleet: 3 of 9 devices."
    failed = rematch_notice(RematchStatus("failed", error="OperationalError"))
    assert failed is not None and "OperationalError" in failed.text
    building = rematch_notice(RematchStatus("building"))
    assert building is not None and "Reading the feeds" in building.text


@pytest.mark.parametrize("role", ["read-only", "analyst"])
def test_the_admin_page_and_its_forms_refuse_lower_roles(api: Api, role: str) -> None:
    browser = signed_in(api.app, api.clock, role)
    r = browser.get(ADMIN_PAGE)
    assert r.status_code == 403 and "this needs the admin role" in r.text
    assert 'href="/console/vulnerabilities/admin"' not in _page(browser, "/console/software")
    for path, data in ((MAPPING_PAGE, {"mapping": MAPPING}), (REMATCH_PAGE, {})):
        r = browser.post(path, data)
        assert r.status_code == 403, path
    r = browser.client.post(
        IMPORT_PAGE,
        data={"csrf_token": browser.csrf},
        files={"file": ("asb.json", ASB.read_bytes(), "application/json")},
    )
    assert r.status_code == 403
    assert _api(api, "/api/vulns/imports")["total"] == 0
    assert _api(api, "/api/vulns/mapping")["custom"] == []


@pytest.mark.parametrize("csrf", [None, "", "not-the-session-token"])
def test_admin_forms_check_the_csrf_token(api: Api, csrf: str | None) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    for path, data in ((MAPPING_PAGE, {"mapping": MAPPING}), (REMATCH_PAGE, {})):
        r = admin.post(path, data, csrf=csrf)
        assert r.status_code == 403 and "CSRF" in r.text, path
    fields = {} if csrf is None else {"csrf_token": csrf}
    r = admin.client.post(
        IMPORT_PAGE, data=fields, files={"file": ("asb.json", ASB.read_bytes(), "application/json")}
    )
    assert r.status_code == 403 and "CSRF" in r.text
    assert _api(api, "/api/vulns/imports")["total"] == 0
    assert _api(api, "/api/vulns/mapping")["custom"] == []
    assert "vulns.rematch" not in _audit_actions(api)


def test_upload_and_location_imports(api: Api, tmp_path: Path) -> None:
    _settle(api)
    admin = signed_in(api.app, api.clock, "admin")
    page = _page(admin, ADMIN_PAGE)
    assert "No feed imported yet." in page and 'enctype="multipart/form-data"' in page
    r = admin.client.post(
        IMPORT_PAGE,
        data={"csrf_token": admin.csrf},
        files={"file": ("asb_handwritten.json", ASB.read_bytes(), "application/json")},
    )
    assert r.status_code == 303, r.text[:2000]
    assert r.headers["location"] == f"{ADMIN_PAGE}?msg=vulns-imported#imports"
    _settle(api)
    page = _page(admin, r.headers["location"])
    assert "Feed imported; its counts are in the import log." in page
    log = page.split('id="imports"')[1].split("</section>")[0]
    imported = _api(api, "/api/vulns/imports")["items"][0]
    assert imported["origin"] == "asb_handwritten.json" and imported["new"] > 0
    row = re.findall(r'<td class="num">(\d+)</td>', log)
    assert row[:2] == [str(imported["records"]), str(imported["new"])]
    # From a location on the server, as the API's ?location= does: a file in a feed folder.
    folder = api.app.state.ctx.settings.data_dir / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "apps.json"
    copy.write_bytes(APPS_OSV.read_bytes())
    outside = tmp_path / "outside.json"
    outside.write_bytes(APPS_OSV.read_bytes())
    r = admin.post(IMPORT_PAGE, {"location": str(outside)})
    assert r.status_code == 422 and "feed folder" in r.text
    r = admin.post(IMPORT_PAGE, {"location": str(copy)})
    assert r.status_code == 303, r.text[:2000]
    assert _api(api, "/api/vulns/imports")["items"][0]["origin"] == str(copy)
    _settle(api)
    assert "No vulnerability feeds imported yet" not in _page(admin, "/console/vulnerabilities")
    # A document that is no feed, a missing file, or nothing at all: the page says why and
    # keeps the location.
    r = admin.client.post(
        IMPORT_PAGE,
        data={"csrf_token": admin.csrf},
        files={"file": ("junk.bin", b"\x00\x01 not a feed", "application/octet-stream")},
    )
    assert r.status_code == 422 and "junk.bin" in r.text and 'role="alert"' in r.text
    r = admin.post(IMPORT_PAGE, {"location": str(folder / "missing.json")})
    assert r.status_code == 422 and 'value="' + str(folder / "missing.json") + '"' in r.text
    r = admin.post(IMPORT_PAGE, {"location": ""})
    assert r.status_code == 422 and "nothing to import" in r.text
    assert _api(api, "/api/vulns/imports")["total"] == 2
    assert _audit_actions(api).count("vulns.import") == 2


def test_mapping_form_refuses_a_bad_line_and_keeps_the_text(api: Api) -> None:
    _settle(api)
    admin = signed_in(api.app, api.clock, "admin")
    page = _page(admin, ADMIN_PAGE)
    assert "identifier,product" in page.split('id="map-text"')[1]
    assert "com.android.chrome" in page.split('class="vuln-builtin"')[1]  # built-in rows
    bad = "identifier,product\ncom.example.shop,Maven:com.example.http:client\nbroken line <x>\n"
    r = admin.post(MAPPING_PAGE, {"mapping": bad})
    assert r.status_code == 422
    assert "bad line(s) in the mapping, nothing changed" in r.text and "line 3" in r.text
    textarea = r.text.split('id="map-text"')[1].split("</textarea>")[0]
    assert html.unescape(textarea.split(">", 1)[1]).strip() == bad.strip()
    assert _api(api, "/api/vulns/mapping")["custom"] == []

    r = admin.post(MAPPING_PAGE, {"mapping": MAPPING})
    assert r.status_code == 303
    assert r.headers["location"] == f"{ADMIN_PAGE}?msg=vulns-mapping-saved#mapping"
    _settle(api)
    assert _api(api, "/api/vulns/mapping")["custom"] == [
        {"identifier": "com.example.shop", "product": "maven:com.example.http:client"}
    ]
    page = _page(admin, r.headers["location"])
    assert "App mapping saved" in page
    assert "com.example.shop,maven:com.example.http:client" in page.split('id="map-text"')[1]


def test_rematch_button_matches_every_device_again(api: Api) -> None:
    _feeds(api, mapping=False)
    device = api.enroll()
    api.checkin(device, facts=_facts("2024-01-01"))
    admin = signed_in(api.app, api.clock, "admin")
    r = admin.post(REMATCH_PAGE, {})
    assert r.status_code == 303
    assert r.headers["location"] == f"{ADMIN_PAGE}?msg=vulns-rematch-started#rematch"
    _settle(api)
    status = _api(api, "/api/vulns/rematch")
    assert status["state"] == "idle" and status["done"] == 1
    assert "vulns.rematch" in _audit_actions(api)
    page = _page(admin, f"{ADMIN_PAGE}?msg=vulns-rematch-started")
    assert "Every active device is being matched again" in page
