"""Web protection through the API: indicators, imports, exports, feeds, the URL check, agents."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import error
from sqlalchemy import select

from conftest import Api
from openmtd.server.web.refresh import refresh_due
from openmtd.store.models import Alert, AuditEntry, DeviceEvent

MVT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mvt-indicators"


def create(api: Api, expect: int = 201, role: str = "admin", **body: Any) -> dict[str, Any]:
    r = api.client.post("/api/web/indicators", json=body, headers=api.headers(role))
    assert r.status_code == expect, r.text
    return dict(r.json())


def check(api: Api, url: str, **extra: Any) -> dict[str, Any]:
    r = api.client.post(
        "/api/web/check", json={"url": url, **extra}, headers=api.headers("read-only")
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_an_indicator_is_stored_canonical_and_applies_at_once(api: Api) -> None:
    made = create(
        api,
        type="domain",
        value="Evil.EXAMPLE.",
        action="Block",
        title="Credential phishing",
        severity="Medium",
    )
    assert made["value"] == "evil.example"
    v = check(api, "http://login.evil.example/x")
    assert v["blocked"] is True
    assert v["decision"]["kind"] == "indicator"
    assert v["decision"]["source"] == f"#{made['id']}"
    assert v["decision"]["expression"] == "evil.example"
    assert "Credential phishing" in v["explanation"]
    # edit to Warn, then delete: each applies to the next check
    r = api.client.patch(
        f"/api/web/indicators/{made['id']}", json={"action": "Warn"}, headers=api.headers()
    )
    assert r.status_code == 200, r.text
    assert check(api, "http://evil.example/")["action"] == "Warn"
    r = api.client.delete(f"/api/web/indicators/{made['id']}", headers=api.headers())
    assert r.status_code == 204
    assert check(api, "http://evil.example/")["action"] is None
    with api.app.state.ctx.sessions() as db:
        actions = [a.action for a in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    mine = [a for a in actions if a.startswith("indicator.")]
    assert mine == ["indicator.create", "indicator.update", "indicator.delete"]


def test_roles_and_bad_values(api: Api) -> None:
    body = {"type": "domain", "value": "x.example"}
    for role in ("read-only", "analyst"):
        r = api.client.post("/api/web/indicators", json=body, headers=api.headers(role))
        error(r, 403, "role_required")
    assert api.client.get("/api/web/indicators").status_code == 401
    create(api, **body)
    error(
        api.client.post("/api/web/indicators", json=body, headers=api.headers()),
        409,
        "indicator_exists",
    )
    for bad in ({"type": "ip", "value": "300.1.2.3"}, {"type": "domain", "value": "a b"}):
        r = api.client.post("/api/web/indicators", json=bad, headers=api.headers())
        error(r, 422, "bad_indicator")
    error(api.client.get("/api/web/indicators/999", headers=api.headers()), 404, "not_found")


def test_search_and_paging(api: Api) -> None:
    for i in range(5):
        create(api, type="domain", value=f"d{i}.example", title=f"number {i}")
    create(api, type="url", value="http://u.example/path", title="a url")
    r = api.client.get("/api/web/indicators", params={"q": "d3"}, headers=api.headers("read-only"))
    assert [i["value"] for i in r.json()["items"]] == ["d3.example"]
    r = api.client.get(
        "/api/web/indicators", params={"type": "url"}, headers=api.headers("read-only")
    )
    assert r.json()["total"] == 1
    r = api.client.get(
        "/api/web/indicators", params={"limit": 2, "offset": 2}, headers=api.headers()
    )
    assert r.json()["total"] == 6 and len(r.json()["items"]) == 2


HEADER = (
    "IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,"
    "RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert\n"
)
ADMIN_CSV = (
    HEADER
    + """DomainName,phish.example,,Block,High,Phish kit,Known kit,Reset pw,,Phishing,T1566,TRUE
Url,http://files.example/payload,,Warn,Medium,Payload,,,sales;emea,Malware,,FALSE
IpAddress,203.0.113.9,2030-01-01T00:00:00Z,Audit,Low,C2,,,,,,TRUE
DomainName,not a domain,,Block,High,bad,,,,,,TRUE
FileSha256,aa,,Block,High,hash,,,,,,TRUE
DomainName,ok.example,,Explode,High,bad action,,,,,,TRUE
"""
)


def test_admin_csv_import_reports_bad_lines_and_keeps_the_good(api: Api) -> None:
    r = api.client.post(
        "/api/web/indicators/import",
        params={"format": "admin-csv"},
        content=ADMIN_CSV.encode(),
        headers={**api.headers(), "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["updated"]) == (3, 0)
    assert result["problem_count"] == 3  # "FileSha256,aa" is an app indicator with a bad hash
    assert sorted(p["line"] for p in result["problems"]) == [5, 6, 7]
    assert check(api, "http://a.phish.example/")["decision"]["title"] == "Phish kit"
    scoped = check(api, "http://files.example/payload/x", device_groups=["emea"])
    assert scoped["action"] == "Warn"
    assert check(api, "http://files.example/payload", device_groups=["eng"])["action"] is None
    assert check(api, "203.0.113.9")["action"] == "Audit"
    # importing again changes nothing; exports round-trip
    again = api.client.post(
        "/api/web/indicators/import",
        params={"format": "admin-csv"},
        content=ADMIN_CSV.encode(),
        headers=api.headers(),
    ).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    csv_text = api.client.get(
        "/api/web/indicators/export", params={"format": "csv"}, headers=api.headers("read-only")
    ).text
    assert csv_text.splitlines()[0].startswith("IndicatorType,IndicatorValue")
    assert "phish.example" in csv_text and "sales" in csv_text
    bundle = api.client.get(
        "/api/web/indicators/export", params={"format": "stix"}, headers=api.headers()
    ).json()
    assert bundle["type"] == "bundle"
    patterns = {o.get("pattern") for o in bundle["objects"]}
    assert "[domain-name:value = 'phish.example']" in patterns


def test_stix_import_of_a_real_bundle(api: Api) -> None:
    text = (MVT / "rcs_lab.stix2").read_text()
    r = api.client.post(
        "/api/web/indicators/import",
        params={"filename": "rcs_lab.stix2"},
        content=text.encode(),
        headers=api.headers(),
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["format"] == "stix"
    assert result["created"] == 40  # 26 domains + 5 packages + 9 APK SHA-256 (app indicators)
    assert result["problem_count"] == 0


def test_empty_import_is_refused(api: Api) -> None:
    r = api.client.post("/api/web/indicators/import", content=b"  \n", headers=api.headers())
    error(r, 422, "empty_document")


class _Feed(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def feed_server() -> Iterator[tuple[str, type[_Feed]]]:
    handler = type("Handler", (_Feed,), {"body": b""})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/list.txt", handler
    server.shutdown()
    server.server_close()


def test_feed_from_a_url_refreshes_and_reports(api: Api, feed_server: tuple[str, Any]) -> None:
    url, handler = feed_server
    handler.body = b"# a domain list\nbad1.example\nbad2.example\nnot..valid..\n"
    r = api.client.post(
        "/api/web/feeds",
        json={"name": "local", "location": url, "format": "domains", "action": "Block"},
        headers=api.headers(),
    )
    assert r.status_code == 201, r.text
    feed = r.json()
    assert feed["last_status"] == "never"
    r = api.client.post(f"/api/web/feeds/{feed['id']}/refresh", headers=api.headers())
    assert r.status_code == 200, r.text
    feed = r.json()
    assert feed["entry_count"] == 2 and feed["revision"] == 1
    assert feed["last_report"]["added"] == 2
    assert feed["last_report"]["problem_count"] == 1
    v = check(api, "http://bad2.example/")
    assert v["decision"]["kind"] == "feed" and v["decision"]["source"] == "local"
    # the next refresh writes only the difference
    handler.body = b"bad2.example\nbad3.example\n"
    feed = api.client.post(f"/api/web/feeds/{feed['id']}/refresh", headers=api.headers()).json()
    assert (feed["last_report"]["added"], feed["last_report"]["removed"]) == (1, 1)
    assert check(api, "http://bad1.example/")["action"] is None
    assert check(api, "http://bad3.example/")["blocked"] is True
    # an unreachable feed keeps its entries and says why
    api.client.patch(
        f"/api/web/feeds/{feed['id']}",
        json={"location": "http://127.0.0.1:9/none"},
        headers=api.headers(),
    )
    feed = api.client.post(f"/api/web/feeds/{feed['id']}/refresh", headers=api.headers()).json()
    assert feed["last_status"] == "error" and "127.0.0.1:9" in feed["last_report"]["error"]
    assert check(api, "http://bad3.example/")["blocked"] is True


def test_feed_files_only_from_feed_folders_and_scheduled_refresh(
    api: Api, settings: Any, clock: Any
) -> None:
    r = api.client.post(
        "/api/web/feeds",
        json={"name": "passwd", "location": "/etc/passwd"},
        headers=api.headers(),
    )
    error(r, 422, "feed_location_refused")
    for location in ("feeds/\x00hosts", "~no-such-user-zz/hosts"):  # found by schemathesis
        r = api.client.post(
            "/api/web/feeds", json={"name": "odd", "location": location}, headers=api.headers()
        )
        error(r, 422, "feed_location_refused")
    folder = settings.data_dir / "feeds"
    folder.mkdir()
    (folder / "hosts").write_text("0.0.0.0 tracker.example\n127.0.0.1 localhost\n")
    r = api.client.post(
        "/api/web/feeds",
        json={"name": "hosts", "location": str(folder / "hosts"), "refresh_minutes": 10},
        headers=api.headers(),
    )
    assert r.status_code == 201, r.text
    ctx = api.app.state.ctx
    assert refresh_due(ctx) == 1
    assert refresh_due(ctx) == 0  # not due again yet
    clock.advance(minutes=11)
    assert refresh_due(ctx) == 1
    assert check(api, "http://tracker.example/")["blocked"] is True


def test_url_check_explains_and_handles_bad_input(api: Api) -> None:
    v = check(api, "https://smartscreentestratings2.net")
    assert v["blocked"] is True and v["decision"]["kind"] == "builtin"
    assert "anti-phishing test target" in v["explanation"]
    bad = check(api, "http://" + "a" * 9000)
    assert bad["action"] is None and bad["problem"]
    nul = check(api, "http://evil\x00.example/")
    assert nul["explanation"]
    lookalike = check(api, "http://paypa1.com/login")
    assert lookalike["action"] == "Warn"
    assert lookalike["decision"]["kind"] == "heuristic"


def test_policy_changes_heuristics(api: Api) -> None:
    policy = api.client.get("/api/web/policy", headers=api.headers("read-only")).json()
    assert policy["anti_phishing"] == {"android": True, "ios": True}
    policy["heuristics"]["protected_domains"] = ["Contoso.com"]
    policy["heuristics"]["actions"] = {"edit-distance": "Block"}
    r = api.client.put("/api/web/policy", json=policy, headers=api.headers())
    assert r.status_code == 200, r.text
    assert r.json()["heuristics"]["protected_domains"] == ["contoso.com"]
    assert check(api, "http://c0ntoso.com/")["action"] in ("Warn", "Block")
    assert check(api, "http://contosso.com/")["action"] == "Block"
    r = api.client.put("/api/web/policy", json=policy, headers=api.headers("analyst"))
    error(r, 403, "role_required")


def test_agents_sync_indicator_sets_and_only_changed_ones(api: Api) -> None:
    device = api.enroll()
    auth = {"Authorization": f"Bearer {device['device_credential']}"}
    base = f"/api/agent/v1/devices/{device['device_id']}"
    first = api.client.get(f"{base}/sync", headers=auth)
    assert first.status_code == 200
    sets = {s["name"]: s for s in first.json()["indicator_sets"]}
    assert sets["custom"]["count"] == 0
    create(api, type="domain", value="synced.example", action="Block")
    second = api.client.get(
        f"{base}/sync", headers={**auth, "If-None-Match": first.headers["etag"]}
    )
    assert second.status_code == 200  # the indicator changed the ETag
    ref = next(s for s in second.json()["indicator_sets"] if s["name"] == "custom")
    assert ref["count"] == 1 and ref["revision"] > sets["custom"]["revision"]
    got = api.client.get(f"{base}/indicator-sets/custom", headers=auth)
    assert got.status_code == 200
    doc = got.json()
    assert doc["entries"] == [["domain", "synced.example", 0]]
    assert doc["metas"][0]["action"] == "Block"
    again = api.client.get(
        f"{base}/indicator-sets/custom", headers={**auth, "If-None-Match": got.headers["etag"]}
    )
    assert again.status_code == 304
    # another device's credential cannot read this device's sets
    other = api.enroll()
    r = api.client.get(
        f"{base}/indicator-sets/custom",
        headers={"Authorization": f"Bearer {other['device_credential']}"},
    )
    error(r, 403, "not_your_device")
    assert api.client.get(f"{base}/indicator-sets/feed:99", headers=auth).status_code == 404


def test_server_strips_urls_when_the_device_excludes_them(api: Api) -> None:
    device = api.enroll(privacy={"exclude_url_in_report": True})
    detection = {
        "category": "Phishing",
        "title": "Phishing warning: very-private-site.example",
        "severity": "Informational",
        "key": "web:warning:feed:x:very-private-site.example",
        "evidence": {
            "url": "http://very-private-site.example/a",
            "expression": "very-private-site.example",
            "reason": "feed lists very-private-site.example",
            "decided_by": "feed:x",
        },
    }
    api.checkin(device, detections=[detection])
    with api.app.state.ctx.sessions() as db:
        rows = [repr(a.__dict__) for a in db.scalars(select(Alert))]
        rows += [repr(e.__dict__) for e in db.scalars(select(DeviceEvent))]
    assert rows
    assert not any("very-private-site" in r for r in rows)
