"""Web-protection pages of the console: indicators, imports, feeds, the URL check, the policy."""

from __future__ import annotations

import base64
import html
import plistlib
import re
from pathlib import Path
from typing import Any

import pytest
from console_helpers import Browser, signed_in
from sqlalchemy import func, select

from conftest import Api
from openmtd.store.models import AuditEntry

INDICATORS = "/console/web/indicators"
FEEDS = "/console/web/feeds"
CHECK = "/console/web/check"
POLICY = "/console/web/policy"
IMPORT = "/console/web/indicators/import"
PAGES = [INDICATORS, FEEDS, CHECK, POLICY]

ADMIN_CSV = (
    "IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,"
    "RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert\n"
    "DomainName,phish.example,,Block,High,Phish kit,Known kit,Reset pw,,Phishing,T1566,TRUE\n"
    "Url,http://files.example/payload,,Warn,Medium,Payload,,,sales;emea,Malware,,FALSE\n"
    "DomainName,not a domain,,Block,High,bad,,,,,,TRUE\n"
    "IpAddress,203.0.113.9,,Audit,Low,C2,,,,,,TRUE\n"
)


def text_of(page: str) -> str:
    """The page's text with tags removed and white space collapsed (for phrase asserts)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def check(browser: Browser, url: str, **extra: str) -> str:
    r = browser.post(CHECK, {"url": url, **extra})
    assert r.status_code == 200, r.text[:2000]
    return r.text


def verdict_badge(page: str) -> str:
    match = re.search(r'<span class="verdict-badge action-([a-z]+)">([^<]+)</span>', page)
    assert match is not None, page[:3000]
    return match.group(2)


def api_indicators(api: Api) -> list[dict[str, Any]]:
    r = api.client.get("/api/web/indicators", headers=api.headers("read-only"))
    return list(r.json()["items"])


def web_audit(api: Api) -> list[str]:
    """The audit log's web-protection actions, oldest first (users created on the way aside)."""
    with api.app.state.ctx.sessions() as db:
        actions = db.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
        return [a for a in actions if not a.startswith("user.")]


def audit_count(api: Api) -> int:
    with api.app.state.ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_every_page_renders_for_read_only(api: Api) -> None:
    browser = signed_in(api.app, api.clock, "read-only")
    dashboard = browser.get("/console").text
    assert 'href="/console/web/indicators"' in dashboard
    assert "Web protection" in dashboard
    for path in PAGES:
        r = browser.get(path)
        assert r.status_code == 200, (path, r.text[:1000])
        assert r.headers["cache-control"] == "no-store"
        assert 'class="active" aria-current="page"><svg class="icon icon-web"' in r.text
        assert ("needs the admin role" in r.text) is (path != CHECK), path
    assert browser.get("/console/web").headers["location"] == INDICATORS
    page = browser.get(INDICATORS).text
    # read-only sees exports and the table, but no change forms
    assert 'href="/api/web/indicators/export?format=csv"' in page
    assert 'href="/api/web/indicators/export?format=stix"' in page
    assert f'action="{INDICATORS}#add"' not in page
    assert f'href="{IMPORT}"' not in page
    assert 'action="/console/web/policy"' not in browser.get(POLICY).text
    assert 'action="/console/web/check"' in browser.get(CHECK).text  # read-only may check URLs
    # the import page is for admins
    r = browser.get(IMPORT)
    assert r.status_code == 403 and "this needs the admin role" in r.text
    # a browser session authenticates the export links
    export = browser.get("/api/web/indicators/export", params={"format": "csv"})
    assert export.status_code == 200
    assert export.text.startswith("IndicatorType,IndicatorValue")


def test_indicator_page_sums_up_web_protection(api: Api, settings: Any) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    r = admin.post(INDICATORS, {"type": "domain", "value": "one.example"})
    assert r.status_code == 303, r.text[:2000]
    folder = settings.data_dir / "feeds"
    folder.mkdir()
    (folder / "list.txt").write_text("a.example\nb.example\nc.example\n")
    created = api.client.post(
        "/api/web/feeds",
        json={"name": "three", "location": str(folder / "list.txt"), "format": "domains"},
        headers=api.headers(),
    ).json()
    api.client.post(f"/api/web/feeds/{created['id']}/refresh", headers=api.headers())
    device = api.enroll()
    phishing = {
        "category": "Phishing",
        "title": "Phishing warning",
        "severity": "Informational",
        "key": "web:block:indicator:#1:one.example",
        "evidence": {"action": "Block", "decided_by": "indicator:#1", "channel": "proxy"},
    }
    api.checkin(device, detections=[phishing])

    def kpis() -> dict[str, str]:
        page = signed_in(api.app, api.clock, "read-only").get(INDICATORS).text
        found = re.findall(
            r'<span class="kpi-label">([^<]+)</span>\s*<span class="kpi-value">(\d+)</span>', page
        )
        return dict(found)

    assert kpis() == {
        "Custom indicators": "1",
        "Feeds": "1",
        "Feed entries": "3",
        "Phishing alerts": "1",
    }
    api.clock.advance(days=8)
    assert kpis()["Phishing alerts"] == "0"


def test_admin_adds_edits_and_deletes_an_indicator_and_the_check_follows(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    assert verdict_badge(check(admin, "http://login.evil.example/x")) == "No match"
    r = admin.post(
        INDICATORS,
        {
            "type": "domain",
            "value": "Evil.EXAMPLE.",
            "action": "Block",
            "severity": "High",
            "title": "Credential phishing",
            "description": "A kit that copies our sign-in page.",
            "recommended_actions": "Reset the password.",
            "category": "Phishing",
            "mitre_techniques": "t1566, T1566.002",
            "generate_alert": "true",
            "expires_at": "",
            "device_groups": "sales, emea",
        },
    )
    assert r.status_code == 303, r.text[:2000]
    assert r.headers["location"] == f"{INDICATORS}?msg=web-indicator-created"
    listing = admin.get(r.headers["location"]).text
    assert "Indicator added" in listing
    assert f'method="post" action="{INDICATORS}#add"' in listing
    assert '<span class="badge action-block">Block</span>' in listing
    assert '<code class="wrap">evil.example</code>' in listing
    (made,) = api_indicators(api)
    assert made["value"] == "evil.example"
    assert made["mitre_techniques"] == ["T1566", "T1566.002"]
    assert made["device_groups"] == ["emea", "sales"]
    assert made["created_by"] == admin.username

    page = check(admin, "http://login.evil.example/x")
    assert verdict_badge(page) == "Block"
    words = text_of(page)
    assert "Credential phishing" in words
    assert "Reset the password." in words
    assert f'<a href="/console/web/indicators/{made["id"]}">indicator #{made["id"]}</a>' in page
    # scoped to groups: a device outside them is not blocked
    assert verdict_badge(check(admin, "http://evil.example/", device_groups="eng")) == "No match"
    assert verdict_badge(check(admin, "http://evil.example/", device_groups="emea")) == "Block"

    # edit: action and expiry from the indicator's page
    detail = admin.get(f"{INDICATORS}/{made['id']}")
    assert detail.status_code == 200
    assert 'id="edit-indicator"' in detail.text
    r = admin.post(f"{INDICATORS}/{made['id']}", {"action": "Warn"})
    assert r.status_code == 303, r.text[:2000]
    assert "Indicator saved" in admin.get(r.headers["location"]).text
    assert verdict_badge(check(admin, "http://evil.example/")) == "Warn"
    (edited,) = api_indicators(api)
    assert edited["title"] == "Credential phishing"  # fields not sent are kept
    r = admin.post(f"{INDICATORS}/{made['id']}", {"expires_at": "2026-11-26T11:00"})
    assert r.status_code == 303
    assert verdict_badge(check(admin, "http://evil.example/")) == "No match"  # expired
    listing = admin.get(INDICATORS).text
    assert 'class="row-muted row-expired"' in listing and "Expired" in listing
    r = admin.post(f"{INDICATORS}/{made['id']}", {"expires_at": ""})  # clears the expiry
    assert r.status_code == 303
    assert verdict_badge(check(admin, "http://evil.example/")) == "Warn"
    # a bad edit is shown on the form and changes nothing
    r = admin.post(f"{INDICATORS}/{made['id']}", {"action": "Warn", "mitre_techniques": "X1"})
    assert r.status_code == 422
    assert "MITRE techniques" in text_of(r.text)
    assert api_indicators(api)[0]["mitre_techniques"] == ["T1566", "T1566.002"]

    # delete
    r = admin.post(f"{INDICATORS}/{made['id']}/delete")
    assert r.status_code == 303
    assert "Indicator deleted" in admin.get(r.headers["location"]).text
    assert api_indicators(api) == []
    assert verdict_badge(check(admin, "http://evil.example/")) == "No match"
    assert admin.get(f"{INDICATORS}/{made['id']}").status_code == 404
    updates = ["indicator.update"] * 3
    assert web_audit(api)[-5:] == ["indicator.create", *updates, "indicator.delete"]


def test_add_form_shows_problems_and_keeps_the_input(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    r = admin.post(INDICATORS, {"type": "ip", "value": "300.1.2.3", "title": "kept title"})
    assert r.status_code == 422
    assert 'class="callout callout-error"' in r.text
    assert "300.1.2.3" in text_of(r.text)
    assert 'value="kept title"' in r.text
    assert admin.post(INDICATORS, {"type": "domain", "value": "x.example"}).status_code == 303
    r = admin.post(INDICATORS, {"type": "domain", "value": "X.example"})
    assert r.status_code == 409
    assert "already covers domain x.example" in text_of(r.text)
    assert len(api_indicators(api)) == 1


def test_search_filters_and_paging(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    for i in range(53):
        r = admin.post(INDICATORS, {"type": "domain", "value": f"d{i}.example", "title": f"n{i}"})
        assert r.status_code == 303
    admin.post(INDICATORS, {"type": "url", "value": "http://u.example/p", "action": "Allow"})
    page = admin.get(INDICATORS).text
    assert "1–50 of 54 indicators" in page
    assert 'href="/console/web/indicators?page=2"' in page
    assert "51–54 of 54 indicators" in admin.get(INDICATORS, params={"page": 2}).text
    found = admin.get(INDICATORS, params={"q": "d17"}).text
    assert "d17.example" in found and "d18.example" not in found
    by_type = admin.get(INDICATORS, params={"type": "url", "action": "Allow"}).text
    assert "u.example/p" in by_type and "d1.example" not in by_type
    assert '<span class="badge action-allow">Allow</span>' in by_type
    none = admin.get(INDICATORS, params={"action": "Audit"}).text
    assert "No indicators match these filters." in none


def test_import_form_reports_counts_and_bad_lines(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    page = admin.get(IMPORT)
    assert page.status_code == 200
    assert "openmtd indicators import" in page.text and "256 KiB" in page.text
    r = admin.client.post(
        IMPORT,
        data={"csrf_token": admin.csrf, "format": "auto", "action": "Block", "category": ""},
        files={"file": ("indicators.csv", ADMIN_CSV.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text[:2000]
    counts = dict(re.findall(r"<dt>([A-Za-z ]+)</dt><dd[^>]*>(\d+)</dd>", r.text))
    assert counts["Created"] == "3" and counts["Updated"] == "0"
    assert counts["Bad lines"] == "1"
    assert "format admin-csv" in r.text and "indicators.csv" in r.text
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]+)</td>', r.text)
    assert len(rows) == 1
    line, reason = rows[0]
    assert line == "4"
    assert "not a domain" in html.unescape(r.text.split('id="problems"')[1])
    assert reason.strip()
    assert {i["value"] for i in api_indicators(api)} == {
        "phish.example",
        "files.example/payload",
        "203.0.113.9",
    }
    page = check(admin, "http://a.phish.example/")
    assert verdict_badge(page) == "Block" and "Phish kit" in page
    # again: nothing new; and a pasted domain list with the defaults of the form
    r = admin.client.post(
        IMPORT,
        data={"csrf_token": admin.csrf, "format": "auto"},
        files={"file": ("indicators.csv", ADMIN_CSV.encode(), "text/csv")},
    )
    counts = dict(re.findall(r"<dt>([A-Za-z ]+)</dt><dd[^>]*>(\d+)</dd>", r.text))
    assert (counts["Created"], counts["Unchanged"]) == ("0", "3")
    r = admin.post(
        IMPORT,
        {"format": "domains", "action": "Warn", "title": "Pasted", "text": "p1.example\n"},
    )
    assert r.status_code == 200
    assert verdict_badge(check(admin, "http://p1.example/")) == "Warn"
    # an empty document is refused on the form
    r = admin.post(IMPORT, {"format": "auto", "text": "  "})
    assert r.status_code == 422 and "nothing to import" in r.text


def test_feed_from_a_feed_folder_added_refreshed_disabled_deleted(api: Api, settings: Any) -> None:
    folder: Path = settings.data_dir / "feeds"
    folder.mkdir()
    (folder / "phish.txt").write_text("# a list\nbad1.example\nbad2.example\nnot..valid..\n")
    admin = signed_in(api.app, api.clock, "admin")
    page = admin.get(FEEDS).text
    assert str(folder) in page
    r = admin.post(FEEDS, {"name": "passwd", "location": "/etc/passwd"})
    assert r.status_code == 422 and "feed folder" in text_of(r.text)
    r = admin.post(
        FEEDS,
        {
            "name": "local-list",
            "location": str(folder / "phish.txt"),
            "format": "domains",
            "action": "Block",
            "severity": "Medium",
            "category": "Phishing",
            "refresh_minutes": "0",
            "enabled": "true",
        },
    )
    assert r.status_code == 303, r.text[:2000]
    assert "Feed added" in admin.get(r.headers["location"]).text
    (feed,) = api.client.get("/api/web/feeds", headers=api.headers()).json()
    assert feed["last_status"] == "never" and feed["refresh_minutes"] == 0

    r = admin.post(f"{FEEDS}/{feed['id']}/refresh")
    assert r.status_code == 303
    page = admin.get(r.headers["location"].split("#")[0]).text
    words = text_of(page)
    assert "Feed refreshed" in words
    row = text_of(page.split(f'id="feed-{feed["id"]}"')[1].split("</tr>")[0])
    assert "4 lines · 2 accepted · +2 −0 ~0" in row
    assert "1 bad" in row and "line 4:" in row and "not..valid.." in row
    assert '<span class="badge feed-ok">ok</span>' in page
    page = check(admin, "http://bad2.example/")
    assert verdict_badge(page) == "Block"
    assert '<a href="/console/web/feeds">feed local-list</a>' in page

    r = admin.post(f"{FEEDS}/{feed['id']}/enabled", {"enabled": "false"})
    assert r.status_code == 303
    assert verdict_badge(check(admin, "http://bad2.example/")) == "No match"
    assert ">Enable</button>" in admin.get(FEEDS).text
    admin.post(f"{FEEDS}/{feed['id']}/enabled", {"enabled": "true"})
    assert verdict_badge(check(admin, "http://bad2.example/")) == "Block"

    r = admin.post(f"{FEEDS}/{feed['id']}/delete")
    assert r.status_code == 303
    assert "No feeds yet." in admin.get(FEEDS).text
    assert verdict_badge(check(admin, "http://bad2.example/")) == "No match"
    assert web_audit(api)[-5:] == [
        "feed.create",
        "feed.refresh",
        "feed.update",
        "feed.update",
        "feed.delete",
    ]


def test_url_check_explains_and_shows_problems(api: Api) -> None:
    browser = signed_in(api.app, api.clock, "read-only")
    page = check(browser, "http://smartscreentestratings2.net/")
    assert verdict_badge(page) == "Block"
    assert "anti-phishing test target" in text_of(page)
    assert '<p class="verdict-explanation">' in page
    assert "<dt>Kind</dt><dd>Builtin</dd>" in page
    assert 'id="matches"' in page and "Decides" in page

    long_url = "http://" + "a" * 9000 + ".example/"
    page = check(browser, long_url)
    assert verdict_badge(page) == "Cannot judge"
    assert "more than the 8192 allowed" in text_of(page)
    # longer than the check accepts at all: the problem, still not an error page
    page = check(browser, "http://" + "b" * 20000)
    assert verdict_badge(page) == "Cannot judge"
    assert "at most 16384 characters" in text_of(page)
    page = check(browser, "http://exa mple.com\x00/")
    assert 'class="verdict-explanation"' in page
    lookalike = check(browser, "http://paypa1.com/login")
    assert verdict_badge(lookalike) == "Warn"
    assert "<dt>Kind</dt><dd>Heuristic</dd>" in lookalike
    # an indicator that is overruled is listed as such
    admin = signed_in(api.app, api.clock, "admin")
    admin.post(INDICATORS, {"type": "domain", "value": "example.org", "action": "Block"})
    admin.post(INDICATORS, {"type": "domain", "value": "www.example.org", "action": "Allow"})
    page = check(browser, "http://www.example.org/")
    assert verdict_badge(page) == "Allow"
    assert "Overruled" in page and "1 other match overruled" in text_of(page)


def _policy_form(page: str) -> dict[str, Any]:
    """What the browser would submit from the policy page as it stands."""
    form: dict[str, Any] = {}
    for name, value in re.findall(r'<input[^>]*name="([a-z_0-9]+)"[^>]*value="([^"]*)"', page):
        if name == "csrf_token":
            continue
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*value="{re.escape(value)}"[^>]*>', page)
        assert tag is not None
        if 'type="checkbox"' in tag.group(0):
            if " checked" in tag.group(0):
                form.setdefault(name, []).append(value)
        else:
            form[name] = html.unescape(value)
    for name, value in re.findall(r'<textarea[^>]*name="([a-z_]+)"[^>]*>([^<]*)</textarea>', page):
        form[name] = html.unescape(value)
    for name, body in re.findall(r'<select[^>]*name="([a-z_\-]+)"[^>]*>(.*?)</select>', page, re.S):
        selected = re.search(r'<option value="([^"]*)" selected>', body)
        form[name] = selected.group(1) if selected else ""
    return form


def test_policy_form_round_trip_and_validation(api: Api) -> None:
    admin = signed_in(api.app, api.clock, "admin")
    page = admin.get(POLICY)
    assert page.status_code == 200
    form = _policy_form(page.text)
    assert form["anti_phishing_android"] == ["true"] and form["anti_phishing_ios"] == ["true"]
    assert form["block_mode"] == "address" and form["blocked_ttl"] == "60"
    form.pop("local_proxy_ios")
    form.update(
        protected_domains="Contoso.com\n\nfabrikam.com\n",
        known_good="contoso-partner.com",
        **{"action_edit-distance": "Block", "disabled": ["mixed-script"]},
        block_mode="nxdomain",
        blocked_ttl="300",
    )
    r = admin.post(POLICY, form)
    assert r.status_code == 303, r.text[:3000]
    assert "policy saved" in admin.get(r.headers["location"]).text
    stored = api.client.get("/api/web/policy", headers=api.headers("read-only")).json()
    assert stored["local_proxy"] == {"android": True, "ios": False}
    assert stored["heuristics"]["protected_domains"] == ["contoso.com", "fabrikam.com"]
    assert stored["heuristics"]["known_good"] == ["contoso-partner.com"]
    assert stored["heuristics"]["actions"] == {"edit-distance": "Block"}
    assert stored["heuristics"]["disabled"] == ["mixed-script"]
    assert stored["dns"]["block_mode"] == "nxdomain" and stored["dns"]["blocked_ttl"] == 300
    # the page shows what is stored, and the check applies it at once
    again = _policy_form(admin.get(POLICY).text)
    assert again["protected_domains"] == "contoso.com\nfabrikam.com"
    assert again["action_edit-distance"] == "Block" and again["disabled"] == ["mixed-script"]
    assert "local_proxy_ios" not in again
    assert verdict_badge(check(admin, "http://contosso.com/")) == "Block"
    assert web_audit(api)[-1] == "web_policy.update"

    # validation errors are listed on the form, which keeps the input; nothing is saved
    before = web_audit(api)
    bad = {**again, "protected_domains": "ok.example\nnot a domain!", "blocked_ttl": "-5"}
    r = admin.post(POLICY, bad)
    assert r.status_code == 422
    words = text_of(r.text)
    assert "The policy was not saved" in words
    assert "Protected domains: 'not a domain!'" in words
    assert "TTL of blocked answers: Input should be greater than or equal to 0" in words
    assert "ok.example\nnot a domain!</textarea>" in r.text
    assert 'value="-5"' in r.text
    assert api.client.get("/api/web/policy", headers=api.headers()).json() == stored
    assert web_audit(api) == before


def _changes(api: Api, feed_id: int, indicator_id: int) -> dict[str, dict[str, Any]]:
    """One valid submission of every web-protection form that changes something."""
    return {
        INDICATORS: {"type": "domain", "value": "sneaky.example"},
        f"{INDICATORS}/{indicator_id}": {"action": "Allow"},
        f"{INDICATORS}/{indicator_id}/delete": {},
        IMPORT: {"format": "domains", "text": "imported.example\n"},
        FEEDS: {"name": "sneaky", "location": "https://feeds.example/list.txt"},
        f"{FEEDS}/{feed_id}/enabled": {"enabled": "false"},
        f"{FEEDS}/{feed_id}/refresh": {},
        f"{FEEDS}/{feed_id}/delete": {},
        POLICY: {
            "block_mode": "nxdomain",
            "block_ipv4": "0.0.0.0",
            "block_ipv6": "::",
            "blocked_ttl": "5",
        },
    }


def _state(api: Api) -> dict[str, Any]:
    headers = api.headers("admin")
    return {
        "indicators": api.client.get("/api/web/indicators", headers=headers).json(),
        "feeds": api.client.get("/api/web/feeds", headers=headers).json(),
        "policy": api.client.get("/api/web/policy", headers=headers).json(),
        "audit": audit_count(api),
    }


def _setup(api: Api, settings: Any) -> tuple[int, int]:
    headers = api.headers("admin")
    folder: Path = settings.data_dir / "feeds"
    folder.mkdir()
    (folder / "kept.txt").write_text("kept-feed.example\n")
    indicator = api.client.post(
        "/api/web/indicators", json={"type": "domain", "value": "kept.example"}, headers=headers
    ).json()
    feed = api.client.post(
        "/api/web/feeds",
        json={"name": "kept", "location": str(folder / "kept.txt")},
        headers=headers,
    ).json()
    return int(feed["id"]), int(indicator["id"])


@pytest.mark.parametrize("role", ["read-only", "analyst"])
def test_lower_roles_cannot_change_web_protection(api: Api, settings: Any, role: str) -> None:
    feed_id, indicator_id = _setup(api, settings)
    browser = signed_in(api.app, api.clock, role)
    before = _state(api)
    for path, data in _changes(api, feed_id, indicator_id).items():
        r = browser.post(path, data)
        assert r.status_code == 403, path
        assert "this needs the admin role" in r.text, path
        assert r.headers["content-type"].startswith("text/html")
    r = browser.client.post(
        IMPORT,
        data={"csrf_token": browser.csrf, "format": "auto"},
        files={"file": ("list.txt", b"uploaded.example\n", "text/plain")},
    )
    assert r.status_code == 403
    assert _state(api) == before
    # and their pages offer no change forms
    page = browser.get(f"{INDICATORS}/{indicator_id}").text
    assert f'action="{INDICATORS}/{indicator_id}"' not in page
    assert f'action="{FEEDS}/{feed_id}/refresh"' not in browser.get(FEEDS).text


@pytest.mark.parametrize("csrf", [None, "", "not-the-session-token"])
def test_every_web_form_checks_the_csrf_token(api: Api, settings: Any, csrf: str | None) -> None:
    feed_id, indicator_id = _setup(api, settings)
    admin = signed_in(api.app, api.clock, "admin")
    before = _state(api)
    forms = {**_changes(api, feed_id, indicator_id), CHECK: {"url": "http://kept.example/"}}
    for path, data in forms.items():
        r = admin.post(path, data, csrf=csrf)
        assert r.status_code == 403, path
        assert "CSRF" in r.text, path
    files = {"file": ("list.txt", b"uploaded.example\n", "text/plain")}
    data = {"format": "auto"} if csrf is None else {"format": "auto", "csrf_token": csrf}
    assert admin.client.post(IMPORT, data=data, files=files).status_code == 403
    assert _state(api) == before
    # the same forms work with the token (the indicator's delete last, the feed's too)
    for path, data in forms.items():
        r = admin.post(path, data)
        assert r.status_code in (200, 303), (path, r.text[:2000])


def test_unknown_web_pages_are_html_404s(api: Api) -> None:
    browser = signed_in(api.app, api.clock, "admin")
    for path in [f"{INDICATORS}/999", f"{INDICATORS}/not-a-number", "/console/web/nothing"]:
        r = browser.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")
    for path in [f"{INDICATORS}/999", f"{INDICATORS}/999/delete", f"{FEEDS}/999/refresh"]:
        r = browser.post(path, {"action": "Warn"})
        assert r.status_code == 404, path
        assert "Not found" in r.text


def test_admin_issues_a_dns_profile_from_the_device_page(api: Api) -> None:
    device = api.enroll("ios-supervised")
    admin = signed_in(api.app, api.clock, "admin")
    page = admin.get(f"/console/devices/{device['device_id']}")
    assert 'id="issue-dns-profile"' in page.text
    issued = admin.post(f"/console/devices/{device['device_id']}/dns-profile")
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store"
    url = re.search(r'<code id="doh-url">([^<]+)</code>', issued.text)
    assert url is not None and "/dns-query/omt_dns_" in url.group(1)
    encoded = re.search(r"base64,([A-Za-z0-9+/=]+)", issued.text)
    assert encoded is not None
    profile = plistlib.loads(base64.b64decode(encoded.group(1)))
    dns = profile["PayloadContent"][0]["DNSSettings"]
    assert dns["DNSProtocol"] == "HTTPS" and dns["ServerURL"] == url.group(1)
    assert "Private DNS" in issued.text
    # read-only users see no button and cannot issue one; a missing CSRF token is refused
    reader = signed_in(api.app, api.clock, "read-only")
    assert (
        'id="issue-dns-profile"' not in reader.get(f"/console/devices/{device['device_id']}").text
    )
    assert reader.post(f"/console/devices/{device['device_id']}/dns-profile").status_code == 403
    assert (
        admin.post(f"/console/devices/{device['device_id']}/dns-profile", csrf=None).status_code
        == 403
    )
