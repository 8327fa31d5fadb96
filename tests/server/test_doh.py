"""DNS-over-HTTPS (RFC 8484) per device, and the admin routes that issue DNS profiles.

Through FastAPI's TestClient on both backends; allowed names go to tests/dnsfake.py's upstream.
"""

from __future__ import annotations

import base64
import plistlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.opcode
import dns.rcode
import pytest
from fastapi.testclient import TestClient
from server_helpers import dump_database, error

from conftest import Api, FakeClock
from dnsfake import FakeUpstream
from openmtd.config import Settings
from openmtd.server.app import create_app
from openmtd.server.dns import service as dns_service
from openmtd.server.dns.views import DohFastPath

RECORDS = {
    "good.example": ["192.0.2.10", "2001:db8::10"],
    "parked.example": ["203.0.113.66"],
}
DNS_MESSAGE = "application/dns-message"


class Monotonic:
    def __init__(self) -> None:
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(RECORDS, ttl=300) as up:
        yield up


@pytest.fixture
def settings(database_url: str, tmp_path: Path, upstream: FakeUpstream) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        public_url="https://mtd.example.test",
        migrate_on_start=False,
        dns_upstream=upstream.address,
        dns_upstream_timeout_seconds=1.0,
    )


@pytest.fixture(params=["fast-path", "routes"])
def app(request: pytest.FixtureRequest, settings: Settings, clock: FakeClock) -> Iterator[Any]:
    """The app with DoH served by the DohFastPath middleware, and by the FastAPI routes alone
    (both must answer alike)."""
    application = create_app(settings, clock=clock)
    application.user_middleware = [
        m for m in application.user_middleware if m.cls is not DohFastPath
    ]
    if request.param == "fast-path":
        application.add_middleware(DohFastPath)
    yield application
    application.state.ctx.close()


@pytest.fixture
def monotonic(app: Any) -> Monotonic:
    clock = Monotonic()
    dns_service.resolver(app.state.ctx, app.state).monotonic = clock
    return clock


def issue(api: Api, device: dict[str, Any], role: str = "admin") -> Any:
    return api.client.post(
        f"/api/devices/{device['device_id']}/dns-profile", headers=api.headers(role)
    )


def doh_url(api: Api, device: dict[str, Any]) -> str:
    r = issue(api, device)
    assert r.status_code == 201, r.text
    url = str(r.json()["doh_url"])
    assert url.startswith("https://mtd.example.test/dns-query/omt_dns_")
    return url.removeprefix("https://mtd.example.test")


def indicator(api: Api, value: str, action: str = "Block", **extra: Any) -> None:
    body = {"type": "domain", "value": value, "action": action, "title": "Test phish", **extra}
    if value[0].isdigit():
        body["type"] = "ip"
    r = api.client.post("/api/web/indicators", json=body, headers=api.headers())
    assert r.status_code == 201, r.text


def b64(wire: bytes) -> str:
    return base64.urlsafe_b64encode(wire).rstrip(b"=").decode()


def get(client: TestClient, path: str, name: str, qtype: str = "A", **kw: Any) -> Any:
    q = dns.message.make_query(name, qtype, id=0, **kw)
    return client.get(path, params={"dns": b64(q.to_wire())}, headers={"Accept": DNS_MESSAGE})


def post(client: TestClient, path: str, name: str, qtype: str = "A", **kw: Any) -> Any:
    q = dns.message.make_query(name, qtype, **kw)
    return client.post(path, content=q.to_wire(), headers={"Content-Type": DNS_MESSAGE})


def answer(response: Any) -> dns.message.Message:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == DNS_MESSAGE
    return dns.message.from_wire(response.content)


def addresses(message: dns.message.Message) -> list[str]:
    return [r.address for rrset in message.answer for r in rrset if hasattr(r, "address")]


def alerts(api: Api, device: dict[str, Any]) -> list[dict[str, Any]]:
    r = api.client.get(
        "/api/alerts", params={"device_id": device["device_id"]}, headers=api.headers()
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


# -- answering ----------------------------------------------------------------------------


def test_a_blocked_name_gets_the_block_address_by_get_and_post(
    api: Api, upstream: FakeUpstream
) -> None:
    device = api.enroll()
    path = doh_url(api, device)
    indicator(api, "evil.example")
    r = get(api.client, path, "login.evil.example")
    a = answer(r)
    assert addresses(a) == ["0.0.0.0"] and a.answer[0].ttl == 60 and a.id == 0
    assert r.headers["cache-control"] == "max-age=60"
    six = answer(post(api.client, path, "evil.example", "AAAA", use_edns=0))
    assert addresses(six) == ["::"] and six.edns == 0
    nodata = answer(get(api.client, path, "evil.example", "HTTPS"))
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert upstream.count() == 0  # a blocked name is never resolved


def test_the_dns_policy_sets_nxdomain_addresses_and_ttl(api: Api, clock: FakeClock) -> None:
    device = api.enroll()
    path = doh_url(api, device)
    indicator(api, "evil.example")
    policy = api.client.get("/api/web/policy", headers=api.headers()).json()
    policy["dns"] = {
        "block_mode": "address",
        "block_ipv4": "10.0.0.53",
        "block_ipv6": "fd00::53",
        "blocked_ttl": 15,
    }
    assert api.client.put("/api/web/policy", json=policy, headers=api.headers()).status_code == 200
    r = get(api.client, path, "evil.example")
    assert addresses(answer(r)) == ["10.0.0.53"] and r.headers["cache-control"] == "max-age=15"
    assert addresses(answer(get(api.client, path, "evil.example", "AAAA"))) == ["fd00::53"]
    policy["dns"]["block_mode"] = "nxdomain"
    clock.advance(seconds=1)  # the index notices a policy change by its update time
    assert api.client.put("/api/web/policy", json=policy, headers=api.headers()).status_code == 200
    nx = answer(post(api.client, path, "evil.example"))
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].ttl == 15


def test_allowed_names_are_forwarded_once_and_then_cached(
    api: Api, upstream: FakeUpstream, monotonic: Monotonic
) -> None:
    device = api.enroll()
    path = doh_url(api, device)
    first = get(api.client, path, "good.example")
    assert addresses(answer(first)) == ["192.0.2.10"]
    assert first.headers["cache-control"] == "max-age=300"
    monotonic.t += 120
    second = post(api.client, path, "Good.Example", use_edns=0)
    a = answer(second)
    assert addresses(a) == ["192.0.2.10"] and a.answer[0].ttl == 180
    assert a.question[0].name.to_text() == "Good.Example."
    assert second.headers["cache-control"] == "max-age=180"
    assert upstream.count("good.example", "A") == 1
    assert addresses(answer(get(api.client, path, "good.example", "AAAA"))) == ["2001:db8::10"]
    assert upstream.count("good.example") == 2
    missing = answer(get(api.client, path, "nothing.example"))
    assert missing.rcode() == dns.rcode.NXDOMAIN


def test_an_address_listed_as_an_ip_indicator_blocks_the_name(
    api: Api, upstream: FakeUpstream
) -> None:
    device = api.enroll()
    path = doh_url(api, device)
    indicator(api, "203.0.113.66")
    assert addresses(answer(get(api.client, path, "parked.example"))) == ["0.0.0.0"]
    (alert,) = alerts(api, device)
    assert alert["evidence"]["url"] == "203.0.113.66"


def test_an_unreachable_upstream_gives_servfail_but_blocks_still_work(api: Api, app: Any) -> None:
    device = api.enroll()
    path = doh_url(api, device)
    indicator(api, "evil.example")
    with FakeUpstream(silent=True) as silent:
        resolver = dns_service.resolver(app.state.ctx, app.state)
        resolver._upstream = (silent.host, silent.port)
        resolver.timeout = 0.3
        failed = answer(get(api.client, path, "good.example"))
        assert failed.rcode() == dns.rcode.SERVFAIL
        assert addresses(answer(get(api.client, path, "evil.example"))) == ["0.0.0.0"]


# -- detections ---------------------------------------------------------------------------


def test_a_blocked_query_raises_a_phishing_alert_for_that_device_only(
    api: Api, monotonic: Monotonic, clock: FakeClock
) -> None:
    device, other = api.enroll(), api.enroll()
    path, other_path = doh_url(api, device), doh_url(api, other)
    indicator(api, "evil.example")
    for _ in range(5):  # a browser's retries
        get(api.client, path, "www.evil.example")
    (alert,) = alerts(api, device)
    assert alert["category"] == "Phishing"
    assert alert["title"] == "Phishing warning: evil.example"
    assert alert["evidence"]["channel"] == "doh"
    assert alert["evidence"]["url"] == "www.evil.example"
    assert alert["count"] == 1  # rate-limited: one write per device, key and minute
    assert alerts(api, other) == []
    get(api.client, other_path, "good.example")
    assert alerts(api, other) == []
    monotonic.t += 61
    clock.advance(seconds=61)
    get(api.client, path, "evil.example")
    (alert,) = alerts(api, device)
    assert alert["count"] == 2


def test_exclude_url_in_report_keeps_the_name_out_of_the_alert(api: Api) -> None:
    device = api.enroll(privacy={"exclude_url_in_report": True})
    path = doh_url(api, device)
    indicator(api, "evil.example")
    get(api.client, path, "secret-project.evil.example")
    (alert,) = alerts(api, device)
    assert "evil.example" not in str(alert["evidence"]) and "evil.example" not in alert["title"]
    assert alert["evidence"]["decided_by"].startswith("indicator:")


def test_audit_indicators_record_a_timeline_event_and_resolve(
    api: Api, upstream: FakeUpstream
) -> None:
    device = api.enroll()
    path = doh_url(api, device)
    indicator(api, "good.example", action="Audit")
    assert addresses(answer(get(api.client, path, "good.example"))) == ["192.0.2.10"]
    assert alerts(api, device) == []
    detail = api.client.get(f"/api/devices/{device['device_id']}", headers=api.headers()).json()
    assert any(e["kind"] == "Phishing" for e in detail["timeline"])


def test_indicators_scoped_to_a_device_group_apply_to_its_devices(api: Api) -> None:
    sales = api.enroll(token=api.onboarding_token(tags=["sales"]))
    others = api.enroll()
    indicator(api, "evil.example", device_groups=["sales"])
    assert addresses(answer(get(api.client, doh_url(api, sales), "evil.example"))) == ["0.0.0.0"]
    assert addresses(answer(get(api.client, doh_url(api, others), "evil.example"))) != ["0.0.0.0"]


# -- refusals -----------------------------------------------------------------------------


def test_unknown_rotated_and_retired_tokens_are_all_just_not_found(api: Api) -> None:
    device = api.enroll()
    old = doh_url(api, device)
    new = doh_url(api, device)  # rotated
    assert answer(get(api.client, new, "good.example"))
    first = error(get(api.client, old, "good.example"), 404, "dns_endpoint_not_found")
    unknown = error(
        get(api.client, "/dns-query/omt_dns_" + "x" * 43, "good.example"),
        404,
        "dns_endpoint_not_found",
    )
    error(get(api.client, "/dns-query/nonsense", "good.example"), 404, "dns_endpoint_not_found")
    r = api.client.post(
        f"/api/devices/{device['device_id']}/retire",
        json={"reason": "lost"},
        headers=api.headers(),
    )
    assert r.status_code == 200, r.text
    dns_service.resolver(api.app.state.ctx, api.app.state).forget(device["device_id"])
    retired = error(get(api.client, new, "good.example"), 404, "dns_endpoint_not_found")
    assert first == unknown == retired


def test_bad_requests(api: Api) -> None:
    device = api.enroll()
    path = doh_url(api, device)
    query = dns.message.make_query("good.example", "A").to_wire()
    error(api.client.get(path), 400, "bad_dns_message")
    error(api.client.get(path, params={"dns": "not base64!"}), 400, "bad_dns_message")
    error(api.client.get(path, params={"dns": "AAAAA"}), 400, "bad_dns_message")
    error(api.client.get(path, params={"dns": b64(b"\x00\x01junk")}), 400, "bad_dns_message")
    response = dns.message.make_response(dns.message.make_query("good.example", "A"))
    error(api.client.get(path, params={"dns": b64(response.to_wire())}), 400, "bad_dns_message")
    error(
        api.client.post(path, content=query, headers={"Content-Type": "application/json"}),
        415,
        "unsupported_media_type",
    )
    error(api.client.post(path, content=query), 415, "unsupported_media_type")
    error(
        api.client.post(path, content=b"\0" * 65_536, headers={"Content-Type": DNS_MESSAGE}),
        413,
        "payload_too_large",
    )
    # Padding is tolerated; a content type with parameters is accepted.
    padded = base64.urlsafe_b64encode(query).decode()
    assert answer(api.client.get(path, params={"dns": padded}))
    r = api.client.post(
        path, content=query, headers={"Content-Type": "Application/DNS-Message; charset=x"}
    )
    assert answer(r)


def test_other_opcodes_get_a_dns_answer_not_an_http_error(api: Api) -> None:
    device = api.enroll()
    path = doh_url(api, device)
    notify = dns.message.make_query("good.example", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    r = api.client.post(path, content=notify.to_wire(), headers={"Content-Type": DNS_MESSAGE})
    assert answer(r).rcode() == dns.rcode.NOTIMP
    axfr = answer(get(api.client, path, "good.example", "AXFR"))
    assert axfr.rcode() == dns.rcode.REFUSED


# -- profiles -----------------------------------------------------------------------------


def test_issuing_a_profile_returns_the_secret_once_and_audits_it(api: Api) -> None:
    device = api.enroll()
    r = issue(api, device)
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    body = r.json()
    token = body["doh_url"].rsplit("/", 1)[1]
    assert token.startswith("omt_dns_") and len(token) > 40
    profile = plistlib.loads(base64.b64decode(body["mobileconfig_base64"]))
    assert profile["PayloadType"] == "Configuration"
    (payload,) = profile["PayloadContent"]
    assert payload["PayloadType"] == "com.apple.dnsSettings.managed"
    assert payload["DNSSettings"] == {"DNSProtocol": "HTTPS", "ServerURL": body["doh_url"]}
    assert body["mobileconfig_filename"].endswith(".mobileconfig")
    assert "DNS-over-TLS" in body["android_instructions"]
    assert body["doh_url"] in body["android_instructions"]
    assert token not in dump_database(api.app)  # only its digest is stored
    audit = api.client.get("/api/audit", headers=api.headers()).json()["items"]
    assert any(
        e["action"] == "device.dns_token.issue" and e["target"] == f"device:{device['device_id']}"
        for e in audit
    )
    status = api.client.get(
        f"/api/devices/{device['device_id']}/dns-profile", headers=api.headers("read-only")
    )
    assert status.status_code == 200 and status.json()["token_issued"] is True
    assert "omt_dns_" not in status.text


def test_the_mobileconfig_download_is_a_profile_file(api: Api) -> None:
    device = api.enroll("ios-supervised")
    r = api.client.post(
        f"/api/devices/{device['device_id']}/dns-profile.mobileconfig", headers=api.headers()
    )
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/x-apple-aspen-config"
    assert r.headers["content-disposition"].startswith('attachment; filename="openmtd-dns-')
    profile = plistlib.loads(r.content)
    url = profile["PayloadContent"][0]["DNSSettings"]["ServerURL"]
    assert profile["PayloadIdentifier"] == f"org.openmtd.dns.{device['device_id']}"
    assert answer(get(api.client, url.removeprefix("https://mtd.example.test"), "good.example"))


def test_only_admins_issue_profiles_and_only_for_live_devices(api: Api) -> None:
    device = api.enroll()
    error(issue(api, device, "analyst"), 403, "role_required")
    error(issue(api, device, "read-only"), 403, "role_required")
    missing = {"device_id": "00000000-0000-0000-0000-000000000000"}
    error(issue(api, missing), 404, "not_found")
    api.client.post(
        f"/api/devices/{device['device_id']}/retire", json={"reason": "x"}, headers=api.headers()
    )
    error(issue(api, device), 409, "device_retired")
    error(
        api.client.post(f"/api/devices/{device['device_id']}/dns-profile"),
        401,
        "authentication_required",
    )


def test_other_methods_and_paths_under_dns_query_are_left_to_the_app(api: Api) -> None:
    device = api.enroll()
    path = doh_url(api, device)
    assert api.client.put(path, content=b"x").status_code == 405
    assert api.client.get("/dns-query/").status_code == 404
    assert api.client.get(path + "/more", params={"dns": "AAAA"}).status_code == 404


def test_the_upstream_setting_and_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch corp.example\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n")
    assert dns_service.parse_upstream("", resolv_conf=conf) == ("10.0.0.53", 53)
    assert dns_service.parse_upstream("127.0.0.1:5300") == ("127.0.0.1", 5300)
    assert dns_service.parse_upstream("[::1]:5300") == ("::1", 5300)
    assert dns_service.parse_upstream("2001:db8::53") == ("2001:db8::53", 53)
    for bad in ("resolver.example:53", "127.0.0.1:0", "127.0.0.1:x"):
        with pytest.raises(ValueError):
            dns_service.parse_upstream(bad)
    with pytest.raises(ValueError, match="unreadable"):
        dns_service.parse_upstream("", resolv_conf=tmp_path / "missing")
    conf.write_text("search corp.example\n")
    with pytest.raises(ValueError, match="no nameserver"):
        dns_service.parse_upstream("", resolv_conf=conf)


def test_an_unusable_upstream_setting_gives_servfail(api: Api, app: Any) -> None:
    device = api.enroll()
    path = doh_url(api, device)
    resolver = dns_service.resolver(app.state.ctx, app.state)
    resolver._upstream, resolver._upstream_setting = None, "resolver.example:53"
    assert answer(get(api.client, path, "good.example")).rcode() == dns.rcode.SERVFAIL
