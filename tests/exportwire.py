"""Receivers of alert export on loopback, and the test's own parsers of what they receive.

The parsers are written from the specifications, independently of openmtd's formatters:
RFC 5424 (header, structured data with escapes), RFC 6587 octet counting, and CEF (header
fields split on unescaped pipes, extension values up to the next unescaped `key=`).
The receivers: an HTTP webhook receiver that checks the HMAC signature and de-duplicates by
Idempotency-Key (optionally failing its first requests, or holding each request until the
test releases it), and syslog receivers over UDP, TCP and TLS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"

# --- RFC 5424 / RFC 6587 ----------------------------------------------------------------------

_HEADER = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
)


def split_frames(stream: bytes) -> tuple[list[bytes], bytes]:
    """Octet-counted frames (`LEN SP MSG`) out of a byte stream; returns (frames, rest)."""
    frames = []
    while stream:
        space = stream.find(b" ")
        if space < 0:
            break
        length = int(stream[:space])
        end = space + 1 + length
        if len(stream) < end:
            break
        frames.append(stream[space + 1 : end])
        stream = stream[end:]
    return frames, stream


def parse_sd(text: str) -> tuple[list[tuple[str, dict[str, str]]], str]:
    """Structured data at the start of `text`: the elements and what follows."""
    if text.startswith("-"):
        return [], text[1:]
    elements: list[tuple[str, dict[str, str]]] = []
    i = 0
    while i < len(text) and text[i] == "[":
        j = i + 1
        while text[j] not in " ]":
            j += 1
        sd_id = text[i + 1 : j]
        params: dict[str, str] = {}
        i = j
        while text[i] == " ":
            eq = text.index("=", i)
            name = text[i + 1 : eq]
            assert text[eq + 1] == '"'
            k = eq + 2
            value = []
            while text[k] != '"':
                if text[k] == "\\" and text[k + 1] in '"\\]':
                    value.append(text[k + 1])
                    k += 2
                else:
                    value.append(text[k])
                    k += 1
            params[name] = "".join(value)
            i = k + 1
        assert text[i] == "]", text[i:]
        elements.append((sd_id, params))
        i += 1
    return elements, text[i:]


@dataclass
class Syslog:
    facility: int
    severity: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    sd: list[tuple[str, dict[str, str]]]
    message: str


def parse_rfc5424(data: bytes) -> Syslog:
    match = _HEADER.match(data)
    assert match, data[:200]
    pri = int(match["pri"])
    rest = data[match.end() :].decode("utf-8")
    sd, after = parse_sd(rest)
    assert after == "" or after.startswith(" "), after[:50]
    return Syslog(
        facility=pri // 8,
        severity=pri % 8,
        timestamp=match["ts"].decode(),
        hostname=match["host"].decode(),
        app_name=match["app"].decode(),
        procid=match["procid"].decode(),
        msgid=match["msgid"].decode(),
        sd=sd,
        message=after[1:],
    )


# --- CEF --------------------------------------------------------------------------------------


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """(header fields after 'CEF:0', extension) with every escape undone."""
    assert line.startswith("CEF:0|"), line[:40]
    fields: list[str] = []
    current: list[str] = []
    i = len("CEF:0|")
    while len(fields) < 6:
        c = line[i]
        if c == "\\" and line[i + 1] in "\\|":
            current.append(line[i + 1])
            i += 2
        elif c == "|":
            fields.append("".join(current))
            current = []
            i += 1
        else:
            current.append(c)
            i += 1
    return fields, parse_extension(line[i:])


def _unescape_value(raw: str) -> str:
    out = []
    i = 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append({"n": "\n", "r": "\r"}.get(nxt, nxt))
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def parse_extension(ext: str) -> dict[str, str]:
    segments: list[str] = []
    start = i = 0
    while i < len(ext):
        if ext[i] == "\\":
            i += 2
            continue
        if ext[i] == "=":
            segments.append(ext[start:i])
            start = i + 1
        i += 1
    segments.append(ext[start:])
    if len(segments) == 1:
        return {}
    out: dict[str, str] = {}
    key = segments[0]
    for seg in segments[1:-1]:
        cut = seg.rfind(" ")
        out[key] = _unescape_value(seg[:cut])
        key = seg[cut + 1 :]
    out[key] = _unescape_value(segments[-1])
    return out


# --- webhook receiver -------------------------------------------------------------------------


@dataclass
class WebhookReceiver:
    """An HTTP server on loopback that receives openmtd webhooks.

    Every request is recorded (`requests`, at-least-once on the wire); a request with a valid
    signature and a recent timestamp whose Idempotency-Key was not seen before is passed on
    to the application (`events`: exactly once). `fail_first` answers that many requests with
    503; `gate`, when given, holds every request until the test sets it."""

    secret: bytes
    fail_first: int = 0
    gate: threading.Event | None = None
    status: int = 200
    bind_port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    seen_keys: set[str] = field(default_factory=set)
    bad_signatures: int = 0
    entered: threading.Event = field(default_factory=threading.Event)
    received: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.entered.set()
                if receiver.gate is not None:
                    receiver.gate.wait(60)
                status = receiver.handle(dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"no")

        self.server = ThreadingHTTPServer((LOOPBACK, self.bind_port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/hook"

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        lower = {k.lower(): v for k, v in headers.items()}
        with self.received:
            self.requests.append({"headers": lower, "body": body})
            self.received.notify_all()
            if self.fail_first > 0:
                self.fail_first -= 1
                return 503
            stamp = lower.get("x-openmtd-timestamp", "")
            expected = (
                "sha256="
                + hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            )
            fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
            if not fresh or not hmac.compare_digest(expected, lower.get("x-openmtd-signature", "")):
                self.bad_signatures += 1
                return 401
            key = lower["idempotency-key"]
            if key not in self.seen_keys:
                self.seen_keys.add(key)
                self.events.append(json.loads(body))
            return self.status

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until `count` requests arrived (used with the background worker)."""
        with self.received:
            return self.received.wait_for(lambda: len(self.requests) >= count, timeout)

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A loopback port nothing listens on (a dead receiver; or one to start a receiver on)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


# --- syslog receivers -------------------------------------------------------------------------


class UdpReceiver:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]

    def receive(self, count: int) -> list[bytes]:
        return [self.sock.recvfrom(65535)[0] for _ in range(count)]

    def close(self) -> None:
        self.sock.close()


class StreamReceiver:
    """A TCP (or, with a context, TLS) syslog receiver: every connection's octet-counted
    frames, in arrival order."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.context = context
        self.listener = socket.create_server((LOOPBACK, 0))
        self.port = self.listener.getsockname()[1]
        self.frames: list[bytes] = []
        self.connections = 0
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            conn.settimeout(10)
            buffer = b""
            with self._cond:
                self.connections += 1
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                frames, buffer = split_frames(buffer)
                with self._cond:
                    self.frames.extend(frames)
                    self._cond.notify_all()
            assert buffer == b"", buffer
        except (OSError, AssertionError) as e:
            with self._cond:
                self.errors.append(repr(e))
                self._cond.notify_all()
        finally:
            conn.close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.frames) >= count, timeout)
            return list(self.frames)

    def close(self) -> None:
        self.listener.close()
