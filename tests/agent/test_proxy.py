"""The web protection proxy over real loopback sockets, against a tiny origin server of our own.

Requests are written byte by byte on raw sockets, so the tests control framing exactly (chunked
bodies, malformed lines) and see exactly what the proxy answers and what the origin receives.
"""

from __future__ import annotations

import hashlib
import html
import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conftest import FakeClock
from openmtd.agent.protection.proxy import CONTINUE_URL, ProtectionProxy, ProxyThread
from openmtd.domain.device import Detection
from openmtd.domain.enums import Severity
from openmtd.domain.web import (
    Indicator,
    IndicatorAction,
    IndicatorMeta,
    IndicatorType,
    MatchKind,
)
from openmtd.engines.web.canonical import canonical_indicator
from openmtd.engines.web.index import WebIndex, build_index

PAGE = b"<html><body>origin page \x00\xff binary-safe</body></html>"
BINARY = bytes(range(256)) * 4096  # 1 MiB
PRIVATE_DOMAIN = "zq-distinctive-private-phish.example"


def indicator(
    type: IndicatorType,
    value: str,
    action: IndicatorAction,
    source: str,
    *,
    kind: MatchKind = MatchKind.INDICATOR,
    **meta: Any,
) -> Indicator:
    return Indicator(
        type,
        canonical_indicator(type, value),
        IndicatorMeta(kind=kind, source=source, action=action, **meta),
    )


URL, DOMAIN, IP = IndicatorType.URL, IndicatorType.DOMAIN, IndicatorType.IP
BLOCK, WARN, AUDIT = IndicatorAction.BLOCK, IndicatorAction.WARN, IndicatorAction.AUDIT

INDICATORS = [
    indicator(
        URL,
        "http://127.0.0.1/blocked",
        BLOCK,
        "ind-7",
        title="Credential phishing kit",
        description="A fake Microsoft 365 sign-in page.",
        recommended_actions="Reset your password if you typed it on this page.",
        severity=Severity.MEDIUM,
        category="Phishing",
    ),
    indicator(URL, "http://127.0.0.1/warn-me", WARN, "ind-8", title="Suspicious newsletter link"),
    indicator(URL, "http://127.0.0.1/audited", AUDIT, "ind-9", title="Watched page"),
    indicator(URL, "http://127.0.0.1/scoped", BLOCK, "ind-12", device_groups=("finance",)),
    indicator(DOMAIN, "blocked-phish.example", BLOCK, "ind-10", title="Phishing domain"),
    indicator(DOMAIN, "warned-site.example", WARN, "ind-11", title="Newly registered"),
    indicator(DOMAIN, PRIVATE_DOMAIN, BLOCK, "urlhaus", kind=MatchKind.FEED, title="Phish"),
]


# -- the origin ------------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class OriginHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Origin

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _handle(self) -> None:
        body = self._body()
        self.server.seen.append(Seen(self.command, self.path, list(self.headers.items()), body))
        if self.path == "/binary":
            self._send(200, BINARY, "application/octet-stream")
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"first,", b"second,", b"third"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.command == "POST":
            self._send(200, body, "application/octet-stream")
        else:
            self._send(200, PAGE, "text/html")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Origin", "yes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = do_PUT = _handle


class Origin(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), OriginHandler)
        self.seen: list[Seen] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    srv = Origin()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def echo() -> Iterator[int]:
    srv = EchoServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield int(srv.server_address[1])
    srv.shutdown()
    srv.server_close()


# -- the device ------------------------------------------------------------------------------------


@dataclass
class Device:
    """The proxy as an agent runs it, with the knobs the tests turn."""

    clock: FakeClock
    index: WebIndex = field(default_factory=lambda: build_index([("custom", INDICATORS)]))
    exclude: bool = False
    reported: list[Detection] = field(default_factory=list)
    port: int = 0

    def titles(self) -> list[str]:
        return [d.title for d in self.reported]


@pytest.fixture
def device(clock: FakeClock) -> Iterator[Device]:
    dev = Device(clock)
    proxy = ProtectionProxy(
        index=lambda: dev.index,
        device_groups=frozenset({"sales"}),
        exclude_url=lambda: dev.exclude,
        on_detection=dev.reported.append,
        clock=clock,
        connect_timeout=2.0,
        origin_timeout=1.0,
        idle_timeout=5.0,
    )
    with ProxyThread(proxy) as running:
        dev.port = running.port
        yield dev
        assert proxy.reported == tuple(dev.reported)  # the same detections, in the same order


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def visible(self) -> str:
        """The page's text with tags removed and entities decoded."""
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", self.text)).split())


def send(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2 :]
        body = out
    return Response(status, headers, body, raw)


def request(port: int, data: bytes) -> Response:
    return parse(send(port, data))


def get(port: int, url: str, *extra: str) -> Response:
    head = f"GET {url} HTTP/1.1\r\nHost: ignored\r\n" + "".join(f"{h}\r\n" for h in extra)
    return request(port, (head + "\r\n").encode())


def continue_with(port: int, token: str) -> Response:
    body = f"token={token}".encode()
    head = (
        f"POST {CONTINUE_URL} HTTP/1.1\r\nHost: openmtd-proxy.invalid\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return request(port, head.encode() + body)


def token_of(page: Response) -> str:
    m = re.search(r'name="token" value="([^"]+)"', page.text)
    assert m is not None, page.text
    return m[1]


# -- blocking --------------------------------------------------------------------------------------


def test_a_blocked_url_gets_a_403_page_that_explains_itself(device: Device, origin: Origin) -> None:
    before = len(origin.seen)
    r = get(device.port, f"http://127.0.0.1:{origin.port}/blocked/login.html?u=1")
    assert r.status == 403
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    page = r.visible
    assert "This page was blocked because it is unsafe" in page
    assert f"http://127.0.0.1:{origin.port}/blocked/login.html?u=1" in page
    assert "Action Block" in page
    assert "Decided by custom indicator ind-7" in page
    assert "Matched 127.0.0.1/blocked (url)" in page
    assert "Indicator Credential phishing kit" in page
    assert "A fake Microsoft 365 sign-in page." in page
    assert "Reset your password if you typed it on this page." in page
    assert "Severity Medium" in page
    assert "custom url indicator ind-7 on 127.0.0.1/blocked (Credential phishing kit)" in page
    assert "contact your IT administrator and quote the reference indicator:ind-7" in page
    # No external assets: nothing is loaded from anywhere, not even from the blocked site.
    assert not re.search(r"""(src|href)\s*=|<script|<link|@import|url\(""", r.text)
    assert len(origin.seen) == before  # the origin never saw the request

    [d] = device.reported
    assert d.title == "Phishing warning: 127.0.0.1/blocked"
    assert d.severity is Severity.INFORMATIONAL
    evidence = dict(d.evidence)
    assert evidence["action"] == "Block"
    assert evidence["decided_by"] == "indicator:ind-7"
    assert evidence["channel"] == "proxy"
    assert evidence["url"] == "http://127.0.0.1/blocked/login.html?u=1"


def test_the_pilot_target_is_blocked_by_the_builtin_without_resolving_it(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    reported: list[Detection] = []
    proxy = ProtectionProxy(
        index=lambda: build_index([]), on_detection=reported.append, clock=clock
    )
    with ProxyThread(proxy) as running:
        r = get(running.port, "http://smartscreentestratings2.net/")
        assert r.status == 403
        assert "Phishing test page" in r.visible
        assert "built-in rule pilot-test-target" in r.visible
        assert "smartscreentestratings2.net is the anti-phishing test target" in r.visible
        tunnel = request(running.port, b"CONNECT smartscreentestratings2.net:443 HTTP/1.1\r\n\r\n")
        assert tunnel.status == 403
    assert not [h for h in looked_up if "smartscreentestratings2" in h]
    assert [dict(d.evidence)["decided_by"] for d in reported] == ["builtin:pilot-test-target"]
    assert reported[0].title == "Phishing warning: smartscreentestratings2.net"


def test_blocks_are_reported_once_per_key_and_minute(device: Device, origin: Origin) -> None:
    url = f"http://127.0.0.1:{origin.port}/blocked"
    for _ in range(3):
        assert get(device.port, url).status == 403
    assert request(device.port, b"CONNECT blocked-phish.example:443 HTTP/1.1\r\n\r\n").status == 403
    assert request(device.port, b"CONNECT blocked-phish.example:443 HTTP/1.1\r\n\r\n").status == 403
    assert device.titles() == [
        "Phishing warning: 127.0.0.1/blocked",
        "Phishing warning: blocked-phish.example",
    ]
    device.clock.advance(seconds=61)
    assert get(device.port, url).status == 403
    assert len(device.reported) == 3


def test_a_head_request_to_a_blocked_url_gets_the_status_without_a_body(
    device: Device, origin: Origin
) -> None:
    r = request(
        device.port, f"HEAD http://127.0.0.1:{origin.port}/blocked HTTP/1.1\r\n\r\n".encode()
    )
    assert r.status == 403
    assert int(r.headers["content-length"]) > 0
    assert r.body == b""


def test_an_indicator_scoped_to_other_device_groups_does_not_block(
    device: Device, origin: Origin
) -> None:
    r = get(device.port, f"http://127.0.0.1:{origin.port}/scoped")
    assert r.status == 200
    assert r.body == PAGE
    assert device.reported == []


def test_an_ip_indicator_applies_to_the_address_a_name_resolves_to(
    device: Device, origin: Origin
) -> None:
    device.index = build_index(
        [("custom", [indicator(IP, "127.0.0.1", BLOCK, "ind-ip", title="Bad hosting")])]
    )
    r = get(device.port, f"http://localhost:{origin.port}/page")
    assert r.status == 403
    assert "Matched 127.0.0.1 (ip)" in r.visible
    assert "Bad hosting" in r.visible
    assert dict(device.reported[0].evidence)["decided_by"] == "indicator:ind-ip"


def test_a_freshly_synced_index_applies_to_the_next_request(device: Device, origin: Origin) -> None:
    url = f"http://127.0.0.1:{origin.port}/fresh"
    assert get(device.port, url).status == 200
    device.index = device.index.replace_layer(
        build_index([("custom", [indicator(URL, url, BLOCK, "ind-new")])]).layers[0]
    )
    assert get(device.port, url).status == 403


def test_a_failing_index_still_blocks_the_builtin_and_forwards_the_rest(
    clock: FakeClock, origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> WebIndex:
        raise RuntimeError("index file is corrupt")

    with ProxyThread(ProtectionProxy(index=broken, clock=clock)) as running:
        assert get(running.port, "http://smartscreentestratings2.net/").status == 403
        assert get(running.port, f"http://127.0.0.1:{origin.port}/blocked").status == 200
    assert "the index is unavailable; using builtins only" in caplog.text


def test_on_detection_failing_does_not_stop_the_proxy(
    clock: FakeClock, origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(_d: Detection) -> None:
        raise RuntimeError("spool is full")

    proxy = ProtectionProxy(
        index=lambda: build_index([("custom", INDICATORS)]), on_detection=explode, clock=clock
    )
    with ProxyThread(proxy) as running:
        assert get(running.port, f"http://127.0.0.1:{origin.port}/blocked").status == 403
        assert get(running.port, f"http://127.0.0.1:{origin.port}/page").status == 200
    assert len(proxy.reported) == 1
    assert "on_detection failed" in caplog.text


# -- warnings --------------------------------------------------------------------------------------


def test_warn_then_continue_reaches_the_origin_and_reports_overlooked_once(
    device: Device, origin: Origin
) -> None:
    url = f"http://127.0.0.1:{origin.port}/warn-me?x=1"
    before = len(origin.seen)
    page = get(device.port, url)
    assert page.status == 200
    assert "This page may be unsafe" in page.visible
    assert "Suspicious newsletter link" in page.visible
    assert "Action Warn" in page.visible
    assert "Matched 127.0.0.1/warn-me (url)" in page.visible
    assert f'action="{CONTINUE_URL}"' in page.text
    assert "Continue anyway" in page.visible
    assert len(origin.seen) == before
    token = token_of(page)
    assert len(token) >= 40
    assert device.titles() == ["Phishing warning: 127.0.0.1/warn-me"]

    go = continue_with(device.port, token)
    assert go.status == 303
    assert go.headers["location"] == url
    assert device.titles() == [
        "Phishing warning: 127.0.0.1/warn-me",
        "Warning overlooked: 127.0.0.1/warn-me",
    ]
    overlooked = device.reported[1]
    assert overlooked.severity is Severity.LOW
    assert dict(overlooked.evidence)["action"] == "Warn"

    r = get(device.port, go.headers["location"])
    assert r.status == 200
    assert r.body == PAGE
    assert origin.seen[-1].path == "/warn-me?x=1"
    # The page's own resources under the same warning pass too, without more reports.
    assert get(device.port, f"http://127.0.0.1:{origin.port}/warn-me/style.css").status == 200

    # The token was single-use.
    again = continue_with(device.port, token)
    assert again.status == 403
    assert "cannot be used" in again.visible
    assert [t for t in device.titles() if t.startswith("Warning overlooked")] == [
        "Warning overlooked: 127.0.0.1/warn-me"
    ]

    # The allowance lasts an hour; then the warning is back.
    device.clock.advance(minutes=61)
    assert "This page may be unsafe" in get(device.port, url).visible


def test_tampered_and_expired_tokens_are_refused(device: Device, origin: Origin) -> None:
    url = f"http://127.0.0.1:{origin.port}/warn-me"
    token = token_of(get(device.port, url))
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert continue_with(device.port, tampered).status == 403
    assert continue_with(device.port, "").status == 403
    assert continue_with(device.port, f"{token}&token={token}").status == 403

    device.clock.advance(minutes=6)  # tokens live five minutes
    assert continue_with(device.port, token).status == 403
    assert "This page may be unsafe" in get(device.port, url).visible
    assert not [t for t in device.titles() if t.startswith("Warning overlooked")]

    # The control host answers only the Continue form.
    assert get(device.port, CONTINUE_URL).status == 405
    assert get(device.port, "http://openmtd-proxy.invalid/other").status == 404


def test_a_warned_host_is_blocked_on_connect(device: Device) -> None:
    r = request(device.port, b"CONNECT www.warned-site.example:443 HTTP/1.1\r\n\r\n")
    assert r.status == 403
    assert b"Blocked by web protection" in r.body
    [d] = device.reported
    assert dict(d.evidence)["action"] == "Warn"
    assert d.title == "Phishing warning: warned-site.example"


# -- forwarding ------------------------------------------------------------------------------------


def test_an_allowed_page_is_forwarded_byte_exact(device: Device, origin: Origin) -> None:
    r = get(device.port, f"http://127.0.0.1:{origin.port}/binary")
    assert r.status == 200
    assert r.headers["x-origin"] == "yes"
    assert r.headers["connection"] == "close"
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(BINARY).digest()
    assert device.reported == []


def test_a_post_body_is_forwarded_byte_exact(device: Device, origin: Origin) -> None:
    body = bytes(range(256)) * 800 + b"\r\n\r\n0\r\n"
    r = request(
        device.port,
        f"POST http://127.0.0.1:{origin.port}/echo HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
    )
    assert r.status == 200
    assert r.body == body
    assert origin.seen[-1].body == body


def test_a_chunked_request_body_is_forwarded(device: Device, origin: Origin) -> None:
    parts = [b"hello ", b"\x00\xffchunked", b"x" * 70000]
    wire = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nX-T: 1\r\n\r\n"
    r = request(
        device.port,
        f"POST http://127.0.0.1:{origin.port}/echo HTTP/1.1\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
        + wire,
    )
    assert r.status == 200
    assert r.body == b"".join(parts)
    seen = {k.lower(): v for k, v in origin.seen[-1].headers}
    assert seen["transfer-encoding"] == "chunked"


def test_expect_100_continue_is_relayed_before_the_body(device: Device, origin: Origin) -> None:
    body = b"sent after 100 Continue"
    with socket.create_connection(("127.0.0.1", device.port), timeout=10) as s:
        s.sendall(
            f"POST http://127.0.0.1:{origin.port}/echo HTTP/1.1\r\nExpect: 100-continue\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += s.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 ")
        s.sendall(body)
        rest = interim.partition(b"\r\n\r\n")[2]
        while chunk := s.recv(65536):
            rest += chunk
    r = parse(rest)
    assert (r.status, r.body) == (200, body)


def test_a_chunked_response_is_passed_through(device: Device, origin: Origin) -> None:
    r = get(device.port, f"http://127.0.0.1:{origin.port}/chunked")
    assert r.status == 200
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.body == b"first,second,third"


def test_hop_by_hop_and_proxy_headers_are_not_forwarded(device: Device, origin: Origin) -> None:
    r = get(
        device.port,
        f"http://127.0.0.1:{origin.port}/page?q=1",
        "Proxy-Authorization: Basic c2VjcmV0",
        "Proxy-Connection: keep-alive",
        "Connection: keep-alive, X-Hop",
        "X-Hop: dropped",
        "Keep-Alive: 300",
        "X-Kept: kept",
    )
    assert r.status == 200
    seen = origin.seen[-1]
    assert seen.path == "/page?q=1"
    names = [k.lower() for k, _ in seen.headers]
    assert "proxy-authorization" not in names
    assert "proxy-connection" not in names
    assert "x-hop" not in names
    assert "keep-alive" not in names
    headers = {k.lower(): v for k, v in seen.headers}
    assert headers["host"] == f"127.0.0.1:{origin.port}"
    assert headers["connection"] == "close"
    assert headers["x-kept"] == "kept"


def test_an_audited_url_is_forwarded_and_reported(device: Device, origin: Origin) -> None:
    r = get(device.port, f"http://127.0.0.1:{origin.port}/audited")
    assert r.status == 200
    assert r.body == PAGE
    [d] = device.reported
    assert d.timeline_only
    assert dict(d.evidence)["action"] == "Audit"


def test_an_http_1_0_client_and_a_head_request_are_served(device: Device, origin: Origin) -> None:
    r = request(device.port, f"GET http://127.0.0.1:{origin.port}/page HTTP/1.0\r\n\r\n".encode())
    assert (r.status, r.body) == (200, PAGE)
    r = request(device.port, f"HEAD http://127.0.0.1:{origin.port}/page HTTP/1.1\r\n\r\n".encode())
    assert (r.status, r.body, r.headers["content-length"]) == (200, b"", str(len(PAGE)))


def test_unreachable_and_silent_origins_get_502_and_504_pages(device: Device) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    r = get(device.port, f"http://127.0.0.1:{dead_port}/")
    assert r.status == 502
    assert "The site cannot be reached" in r.visible

    with socket.socket() as silent:  # listens, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        r = get(device.port, f"http://127.0.0.1:{silent.getsockname()[1]}/")
    assert r.status == 504
    assert "The site did not answer" in r.visible
    assert get(device.port, "http://smartscreentestratings2.net/").status == 403


# -- CONNECT ---------------------------------------------------------------------------------------


def test_connect_to_a_blocked_host_is_refused_and_reported(device: Device) -> None:
    r = request(device.port, b"CONNECT login.blocked-phish.example:443 HTTP/1.1\r\n\r\n")
    assert r.status == 403
    assert b"custom domain indicator ind-10 on blocked-phish.example" in r.body
    [d] = device.reported
    assert d.title == "Phishing warning: blocked-phish.example"
    assert dict(d.evidence)["action"] == "Block"


def test_connect_to_an_allowed_host_tunnels_both_ways(device: Device, echo: int) -> None:
    with socket.create_connection(("127.0.0.1", device.port), timeout=10) as s:
        # The first bytes for the tunnel travel with the CONNECT itself (as TLS clients do).
        s.sendall(f"CONNECT 127.0.0.1:{echo} HTTP/1.1\r\nHost: x\r\n\r\nearly ".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, _, rest = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        payload = bytes(range(256)) * 1024
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        while chunk := s.recv(65536):
            rest += chunk
    assert rest == b"early " + payload
    assert device.reported == []


# -- privacy ---------------------------------------------------------------------------------------


def test_exclude_url_keeps_url_and_domain_out_of_every_detection(device: Device) -> None:
    device.exclude = True
    r = get(device.port, f"http://login.{PRIVATE_DOMAIN}/account?id=42")
    assert r.status == 403
    assert PRIVATE_DOMAIN in r.visible  # the user still sees what was blocked
    device.clock.advance(minutes=1)
    assert (
        request(device.port, f"CONNECT {PRIVATE_DOMAIN}:443 HTTP/1.1\r\n\r\n".encode()).status
        == 403
    )
    assert len(device.reported) == 2
    for d in device.reported:
        assert "zq-distinctive" not in repr(d)
        assert dict(d.evidence)["decided_by"] == "feed:urlhaus"
        assert d.title == "Phishing warning"


# -- bad input -------------------------------------------------------------------------------------

BAD_REQUESTS = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET http://a.example/ HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET http://a.example/\x00 HTTP/1.1\r\n\r\n", 400),
    (b"GET http://a.example/ HTTP/1.1\r\nX-Nul: a\x00b\r\n\r\n", 400),
    (b"GET http://a.example/ HTTP/1.1\r\nBad Header\r\n\r\n", 400),
    (b"GET http://a.example/ HTTP/1.1\r\n folded: x\r\n\r\n", 400),
    (b"GET http://a.example/" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET http://a.example/" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET http://a.example/ HTTP/1.1\r\nX-Big: " + b"b" * 40_000 + b"\r\n\r\n", 431),
    (b"GET http://a.example/ HTTP/1.1\r\nX-Huge: " + b"b" * 100_000 + b"\r\n\r\n", 431),
    (b"GET http://a.example/ HTTP/1.1\r\n" + b"X-H: 1\r\n" * 150 + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", 400),
    (b"GET http://a.example/ HTTP/2.0\r\n\r\n", 505),
    (b"GET ftp://a.example/file HTTP/1.1\r\n\r\n", 501),
    (b"GET https://a.example/ HTTP/1.1\r\n\r\n", 501),
    (b"GET http://user@a.example/ HTTP/1.1\r\n\r\n", 400),
    (b"GET http://a.example:99999/ HTTP/1.1\r\n\r\n", 400),
    (b"GET http:///path HTTP/1.1\r\n\r\n", 400),
    (b"GET http://\xff\xfe.example/ HTTP/1.1\r\n\r\n", 400),  # not UTF-8
    (b"GET http://\xcc\x81abc.example/ HTTP/1.1\r\n\r\n", 400),  # invalid IDN
    (b"GET http://a\xe2\x80\x8db.example/ HTTP/1.1\r\n\r\n", 400),  # invalid IDN (joiner)
    (b"GET http://bad!host.example/ HTTP/1.1\r\n\r\n", 400),
    (
        b"POST http://a.example/ HTTP/1.1\r\n"
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    (b"POST http://a.example/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    (b"POST http://a.example/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST http://a.example/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"CONNECT a.example HTTP/1.1\r\n\r\n", 400),
    (b"CONNECT bad!host:443 HTTP/1.1\r\n\r\n", 400),
    (b"CONNECT [nonsense]:443 HTTP/1.1\r\n\r\n", 400),
    (b"CONNECT \xcc\x81abc.example:443 HTTP/1.1\r\n\r\n", 400),
    (b"CONNECT openmtd-proxy.invalid:80 HTTP/1.1\r\n\r\n", 400),
]


@pytest.mark.parametrize(("raw", "status"), BAD_REQUESTS, ids=lambda v: repr(v)[:40])
def test_bad_input_gets_a_4xx_or_5xx_and_the_proxy_keeps_serving(
    device: Device, origin: Origin, raw: bytes, status: int
) -> None:
    assert request(device.port, raw).status == status
    assert get(device.port, f"http://127.0.0.1:{origin.port}/page").body == PAGE


def test_a_malformed_chunked_body_is_refused(device: Device, origin: Origin) -> None:
    r = request(
        device.port,
        f"POST http://127.0.0.1:{origin.port}/echo HTTP/1.1\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n0\r\n\r\n".encode(),
    )
    assert r.status == 400
    assert get(device.port, f"http://127.0.0.1:{origin.port}/page").body == PAGE


def test_clients_that_hang_up_or_stall_do_not_disturb_others(
    device: Device, origin: Origin
) -> None:
    silent = [socket.create_connection(("127.0.0.1", device.port)) for _ in range(5)]
    try:
        partial = socket.create_connection(("127.0.0.1", device.port))
        partial.sendall(b"GET http://a.example/ HT")
        partial.close()
        empty = socket.create_connection(("127.0.0.1", device.port))
        empty.close()
        assert get(device.port, f"http://127.0.0.1:{origin.port}/page").body == PAGE
    finally:
        for s in silent:
            s.close()


def test_origin_form_requests_get_an_explanation(device: Device) -> None:
    r = request(device.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert r.status == 400
    assert "This is a web protection proxy" in r.visible


def test_the_proxy_stops_and_its_port_closes(clock: FakeClock) -> None:
    proxy = ProtectionProxy(index=lambda: build_index([]), clock=clock)
    thread = ProxyThread(proxy)
    port = thread.start()
    hanging = socket.create_connection(("127.0.0.1", port))
    thread.stop()
    hanging.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
