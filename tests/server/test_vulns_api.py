"""Vulnerability management through the real API, on SQLite and PostgreSQL: feed imports,
matching at check-in and in the background re-match, per device / per CVE / per app queries,
recommendations, the app mapping, privacy mode, CSV exports, roles."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from server_helpers import error

from conftest import SHARED, Api

DATA = SHARED / "data"
FIXTURES = Path(__file__).parents[1] / "intel" / "fixtures" / "vulns"
ASB = FIXTURES / "asb_handwritten.json"
APPS_OSV = FIXTURES / "osv_apps_handwritten.json"
CVE5 = DATA / "cve-records" / "cve5"
SOFA = DATA / "sofa" / "v2_ios_data_feed.json"
KEV = DATA / "cisa-kev" / "known_exploited_vulnerabilities.json"

# The hand-computed set of tests/engines/vulns/test_real_records.py for Android 14 at
# 2024-01-01 over the real cve5 records and the hand-written bulletin records.
ANDROID_14_2024_01 = {
    "CVE-2024-43093",
    "CVE-2099-10001",
    "CVE-2099-10002",
    "CVE-2099-10008",
    "CVE-2099-10009",
}
MAPPING = "identifier,product\ncom.example.shop,Maven:com.example.http:client\n"


def _import(api: Api, path: Path, *, expect: int = 201, role: str = "admin") -> dict[str, Any]:
    r = api.client.post(
        "/api/vulns/imports",
        params={"name": path.name},
        content=path.read_bytes(),
        headers={**api.headers(role), "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


def _settle(api: Api) -> None:
    assert api.app.state.ctx.vulns.wait(120)


def _feeds(api: Api) -> None:
    _import(api, ASB)
    _import(api, APPS_OSV)
    for path in sorted(CVE5.glob("CVE-*.json")):
        _import(api, path)
    _settle(api)


def _android_facts(level: str, os_version: str = "14") -> dict[str, Any]:
    return {
        "platform": "android",
        "scenario": "android-work-profile",
        "os_version": os_version,
        "security_patch_level": level,
        "model": "Pixel 8",
    }


SHOP_APP = {"identifier": "com.example.shop", "version": "3.14.1", "name": "Example Shop"}


def _get(api: Api, path: str, role: str = "read-only", **params: Any) -> Any:
    r = api.client.get(path, params=params, headers=api.headers(role))
    assert r.status_code == 200, r.text
    return r.json()


def _cves(api: Api, device_id: str) -> set[str]:
    doc = _get(api, f"/api/devices/{device_id}/vulnerabilities")
    return {c for f in doc["findings"] if f["product"] != "app" for c in f["cve_ids"]}


def test_a_device_is_matched_at_check_in_with_its_evidence(api: Api) -> None:
    _feeds(api)
    r = api.client.put(
        "/api/vulns/mapping",
        content=MAPPING,
        headers={**api.headers(), "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    _settle(api)
    device = api.enroll()
    api.checkin(device, facts=_android_facts("2024-01-01"), apps=[SHOP_APP])

    doc = _get(api, f"/api/devices/{device['device_id']}/vulnerabilities")
    assert doc["assessment"] == "full"
    assert _cves(api, device["device_id"]) == ANDROID_14_2024_01
    app = [f for f in doc["findings"] if f["product"] == "app"]
    assert [(f["app_identifier"], f["cve_ids"], f["installed_version"]) for f in app] == [
        ("com.example.shop", ["CVE-2099-20001"], "3.14.1")
    ]
    assert app[0]["package"] == "maven:com.example.http:client"
    assert app[0]["fixed_version"] == "3.14.2"
    android = next(f for f in doc["findings"] if f["record_id"] == "ASB-A-900000001")
    assert android["installed_version"] == "14:2024-01-01"
    assert android["range"] == "14:0 ≤ v < 14:2024-03-01"
    assert doc["count"] == len(ANDROID_14_2024_01) + 1
    assert 0 < doc["exposure"] <= 100 and doc["band"] in {"low", "medium", "high"}
    assert "exposure" in doc["explanation"]

    # A patch to exactly the fix of ASB-A-900000001 (14:2024-03-01) removes it: the boundary.
    api.checkin(device, facts=_android_facts("2024-03-01"), apps=[SHOP_APP])
    assert _cves(api, device["device_id"]) == ANDROID_14_2024_01 - {"CVE-2099-10001"}


def test_an_import_rematches_the_fleet_in_the_background(api: Api) -> None:
    _settle(api)  # the state the server builds when it starts
    devices = [api.enroll() for _ in range(3)]
    for device in devices:
        api.checkin(device, facts=_android_facts("2024-01-01"))
    for device in devices:  # no feeds yet: assessed, and clean
        doc = _get(api, f"/api/devices/{device['device_id']}/vulnerabilities")
        assert doc["assessment"] == "full" and doc["findings"] == [] and doc["exposure"] == 0

    _import(api, ASB)  # answered at once; the re-match runs behind it
    _settle(api)
    status = _get(api, "/api/vulns/rematch")
    assert status["state"] == "idle" and status["done"] == 3 and status["total"] == 3
    for device in devices:
        assert _cves(api, device["device_id"]) == ANDROID_14_2024_01 - {"CVE-2024-43093"}

    # A re-import of the same document changes nothing and re-matches nobody.
    again = _import(api, ASB)
    assert again["new"] == 0 and again["changed"] == 0
    _settle(api)
    assert _get(api, "/api/vulns/rematch")["total"] in {0, 3}


def test_fleet_views_per_cve_per_app_and_recommendations(api: Api) -> None:
    _feeds(api)
    api.client.put(
        "/api/vulns/mapping", content=MAPPING, headers={**api.headers(), "Content-Type": "text/csv"}
    )
    _settle(api)
    old = [api.enroll() for _ in range(2)]
    new = api.enroll()
    for device in old:
        api.checkin(device, facts=_android_facts("2024-01-01"), apps=[SHOP_APP])
    api.checkin(new, facts=_android_facts("2026-10-01"), apps=[{**SHOP_APP, "version": "3.14.2"}])

    page = _get(api, "/api/vulns", limit=100)
    by_id = {v["vuln_id"]: v for v in page["items"]}
    assert set(by_id) == ANDROID_14_2024_01 | {"CVE-2099-20001"}
    assert by_id["CVE-2099-10001"]["devices"] == 2
    assert by_id["CVE-2099-20001"]["products"] == ["app:com.example.shop"]
    assert page["total"] == len(by_id)
    # Filters: platform iOS has none; a severity filter keeps only that severity.
    assert _get(api, "/api/vulns", platform="ios")["total"] == 0
    high = _get(api, "/api/vulns", severity=["High"])
    assert all(v["severity"] == "High" for v in high["items"])
    assert _get(api, "/api/vulns", q="2099-2")["total"] == 1

    detail = _get(api, "/api/vulns/CVE-2099-20001")
    assert detail["affected_total"] == 2
    assert {a["device_id"] for a in detail["affected"]} == {d["device_id"] for d in old}
    assert detail["records"][0]["id"] == "GHSA-xxxx-9001-okhttp"
    error(api.client.get("/api/vulns/CVE-1999-0000", headers=api.headers()), 404, "unknown_vuln")

    software = _get(api, "/api/vulns/software")
    rows = {(s["identifier"], s["version"]): s for s in software["items"]}
    assert rows[("com.example.shop", "3.14.1")]["devices"] == 2
    assert rows[("com.example.shop", "3.14.1")]["vulnerabilities"] == 1
    assert rows[("com.example.shop", "3.14.2")]["vulnerabilities"] == 0
    assert _get(api, "/api/vulns/software", vulnerable=True)["total"] == 1

    advice = _get(api, "/api/vulns/recommendations")["items"]
    titles = [a["title"] for a in advice]
    assert titles[0].startswith("Update Android 14 devices to security patch level 2025-03-01"), (
        titles
    )
    shop = next(a for a in advice if a["kind"] == "update-app")
    assert shop["target_version"] == "3.14.2" and shop["device_count"] == 2
    assert advice == sorted(advice, key=lambda a: -a["impact"])

    summary = _get(api, "/api/vulns/summary")
    assert summary["devices_by_assessment"]["full"] == 3
    assert summary["vulnerabilities"] == len(by_id)
    assert summary["devices_by_band"]["low"] >= 1  # the patched device scores 0
    assert summary["feed_records"] > 0 and summary["top_recommendations"]


def test_csv_exports_are_real_csv_and_defuse_formulas(api: Api) -> None:
    _feeds(api)
    device = api.enroll()
    api.checkin(
        device,
        facts=_android_facts("2024-01-01"),
        apps=[{"identifier": "com.example.eq", "version": "=1+1", "name": "=HYPERLINK(1)"}],
    )
    for path in ("/api/vulns", "/api/vulns/software", "/api/vulns/recommendations",
                 f"/api/devices/{device['device_id']}/vulnerabilities"):  # fmt: skip
        r = api.client.get(path, params={"format": "csv"}, headers=api.headers("read-only"))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text)))
        assert len(rows) >= 2, path
        assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    software = api.client.get(
        "/api/vulns/software", params={"format": "csv"}, headers=api.headers("read-only")
    ).text
    assert "'=HYPERLINK(1)" in software and "'=1+1" in software


def test_vulnerability_privacy_mode_assesses_the_os_only(api: Api) -> None:
    _feeds(api)
    api.client.put(
        "/api/vulns/mapping", content=MAPPING, headers={**api.headers(), "Content-Type": "text/csv"}
    )
    _settle(api)
    device = api.enroll(privacy={"vulnerability_privacy_mode": True})
    api.checkin(device, facts=_android_facts("2024-01-01"), apps=[SHOP_APP])
    doc = _get(api, f"/api/devices/{device['device_id']}/vulnerabilities")
    assert doc["assessment"] == "os-only"
    assert "only its operating system is assessed" in doc["privacy_note"]
    assert _cves(api, device["device_id"]) == ANDROID_14_2024_01
    assert not [f for f in doc["findings"] if f["product"] == "app"]
    assert _get(api, "/api/vulns/software")["total"] == 0
    assert _get(api, "/api/vulns/summary")["devices_by_assessment"] == {"os-only": 1}


def test_an_iphone_is_matched_against_sofa_and_kev(api: Api) -> None:
    _import(api, SOFA)
    _import(api, KEV)
    _settle(api)
    device = api.enroll("ios-device-enrollment")
    facts = {"platform": "ios", "scenario": "ios-device-enrollment", "os_version": "17.4",
             "model": "iPhone 15 (iPhone15,4)"}  # fmt: skip
    api.checkin(device, scenario="ios-device-enrollment", facts=facts)
    doc = _get(api, f"/api/devices/{device['device_id']}/vulnerabilities")
    assert doc["count"] > 0 and doc["exploited"] > 0 and doc["band"] == "high"
    assert all(f["product"] == "ios" for f in doc["findings"])
    advice = _get(api, "/api/vulns/recommendations")["items"]
    assert advice[0]["title"].startswith("Update iOS to 17.")


def test_bad_feeds_and_mappings_are_refused_and_change_nothing(api: Api) -> None:
    headers = {**api.headers(), "Content-Type": "application/octet-stream"}
    r = api.client.post("/api/vulns/imports", content=b"\x00\x01 not a feed", headers=headers)
    error(r, 422, "bad_vuln_feed")
    r = api.client.post("/api/vulns/imports", content=b"", headers=headers)
    error(r, 422, "empty_body")
    r = api.client.post(
        "/api/vulns/imports", params={"location": "/nonexistent/feed.json"}, headers=headers
    )
    assert r.status_code == 422
    r = api.client.put(
        "/api/vulns/mapping",
        content="com.example.shop,not a product\n",
        headers={**api.headers(), "Content-Type": "text/csv"},
    )
    error(r, 422, "bad_mapping")
    assert _get(api, "/api/vulns/mapping")["custom"] == []
    assert _get(api, "/api/vulns/imports")["total"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/vulns/imports"),
        ("put", "/api/vulns/mapping"),
        ("post", "/api/vulns/rematch"),
    ],
)
def test_changes_need_an_admin(api: Api, method: str, path: str) -> None:
    r = api.client.request(method, path, content=b"x", headers=api.headers("analyst"))
    assert r.status_code == 403
    assert api.client.request(method, path, content=b"x").status_code == 401


def test_reads_need_a_signed_in_user(api: Api) -> None:
    reads = ("", "/summary", "/software", "/recommendations", "/rematch", "/mapping")
    for path in reads:
        assert api.client.get(f"/api/vulns{path}").status_code == 401


def test_admin_changes_are_audited_and_rematch_all_works(api: Api) -> None:
    _import(api, ASB)
    _settle(api)
    device = api.enroll()
    api.checkin(device, facts=_android_facts("2024-01-01"))
    r = api.client.post("/api/vulns/rematch", params={"all": True}, headers=api.headers())
    assert r.status_code == 202
    _settle(api)
    assert _get(api, "/api/vulns/rematch")["done"] == 1
    actions = [e["action"] for e in _get(api, "/api/audit", role="admin")["items"]]
    assert "vulns.import" in actions and "vulns.rematch" in actions


def test_the_cli_imports_and_rematches_what_the_server_serves(api: Api) -> None:
    from typer.testing import CliRunner

    from openmtd.cli.main import app as cli

    _settle(api)
    device = api.enroll()
    api.checkin(device, facts=_android_facts("2024-01-01"))
    url = str(api.app.state.ctx.settings.database_url)
    runner = CliRunner()
    imported = runner.invoke(cli, ["vulns", "import", str(ASB), "--database-url", url, "--json"])
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(cli, ["vulns", "rematch", "--database-url", url, "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["devices"] == 1 and figures["records"] > 0
    assert _cves(api, device["device_id"]) == ANDROID_14_2024_01 - {"CVE-2024-43093"}
    # Nothing is behind any more; --all matches every device again.
    again = json.loads(runner.invoke(cli, ["vulns", "rematch", "--database-url", url,
                                           "--json"]).output)  # fmt: skip
    assert again["devices"] == 0
    everything = runner.invoke(cli, ["vulns", "rematch", "--all", "--database-url", url, "--json"])
    assert json.loads(everything.output)["devices"] == 1


def test_a_location_must_be_a_url_or_a_file_in_a_feed_folder(api: Api) -> None:
    headers = api.headers()
    r = api.client.post("/api/vulns/imports", params={"location": "/etc/passwd"}, headers=headers)
    error(r, 422, "feed_location_refused")
    folder = api.app.state.ctx.settings.data_dir / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "asb.json").write_bytes(ASB.read_bytes())
    r = api.client.post(
        "/api/vulns/imports", params={"location": str(folder / "asb.json")}, headers=headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["new"] > 0


def test_configured_feeds_are_imported_on_schedule(api: Api, tmp_path: Path) -> None:
    from openmtd.server.web.refresh import refresh_vuln_feeds

    feed = tmp_path / "asb.json"
    feed.write_bytes(ASB.read_bytes())
    ctx = api.app.state.ctx
    missing = str(tmp_path / "gone.json")
    ctx.settings = ctx.settings.model_copy(
        update={"vuln_feed_locations": [str(feed), missing], "vuln_feed_refresh_hours": 24}
    )
    assert refresh_vuln_feeds(ctx) == 1
    log = _get(api, "/api/vulns/imports")["items"]
    assert {(i["origin"], i["format"]) for i in log} == {(str(feed), "osv"), (missing, "failed")}
    failed = next(i for i in log if i["format"] == "failed")
    assert "gone.json" in failed["error"]
    # Not due again within the interval, whether the last attempt worked or not.
    api.clock.advance(hours=23)
    assert refresh_vuln_feeds(ctx) == 0
    assert _get(api, "/api/vulns/imports")["total"] == 2
    # Due after it: the unchanged feed is read again and changes nothing.
    api.clock.advance(hours=2)
    assert refresh_vuln_feeds(ctx) == 0
    assert _get(api, "/api/vulns/imports")["total"] == 4


def test_a_kev_update_marks_the_stored_findings_exploited(api: Api, tmp_path: Path) -> None:
    _import(api, ASB)
    _settle(api)
    device = api.enroll()
    api.checkin(device, facts=_android_facts("2024-01-01"))
    before = _get(api, f"/api/devices/{device['device_id']}/vulnerabilities")
    assert before["exploited"] == 0
    kev = {
        "title": "CISA Catalog of Known Exploited Vulnerabilities",
        "catalogVersion": "2026.11.26",
        "dateReleased": "2026-11-26T12:00:00.000Z",
        "count": 1,
        "vulnerabilities": [
            {
                "cveID": "CVE-2099-10002",
                "vendorProject": "Android",
                "product": "Framework",
                "vulnerabilityName": "Android Framework privilege escalation",
                "dateAdded": "2026-11-20",
                "shortDescription": "hand-written for this test",
                "requiredAction": "Apply the update.",
                "dueDate": "2026-12-11",
                "knownRansomwareCampaignUse": "Unknown",
                "notes": "",
            }
        ],
    }
    path = tmp_path / "kev.json"
    path.write_text(json.dumps(kev))
    _import(api, path)
    _settle(api)
    after = _get(api, f"/api/devices/{device['device_id']}/vulnerabilities")
    exploited = {c for f in after["findings"] if f["exploited"] for c in f["cve_ids"]}
    assert exploited == {"CVE-2099-10002"}
    assert after["exploited"] == 1 and after["exposure"] > before["exposure"]
    assert {f["record_id"] for f in after["findings"]} == {
        f["record_id"] for f in before["findings"]
    }
    flagged = _get(api, "/api/vulns", exploited=True)["items"]
    assert [v["vuln_id"] for v in flagged] == ["CVE-2099-10002"]
    assert flagged[0]["exploited_by"] == ["kev"]
