"""The agent's web protection proxy: a local HTTP forward proxy that enforces web verdicts.

The device's browser (or the system) is configured with this proxy. Every request is judged by
the same engine the server uses (`WebIndex`), before anything is resolved or connected:

* ``GET http://host/path`` (absolute form) is judged on the full URL. Block answers ``403``
  with a block page that explains itself; Warn answers ``200`` with an interstitial whose
  "Continue anyway" button posts a single-use, short-lived, unguessable token to
  ``http://openmtd-proxy.invalid/continue`` (a reserved name no DNS will ever answer, so only
  this proxy can serve it). The token is bound to the warned URL; using it allows the warning's
  match (same indicator, same matched expression) on this device for an hour, reports a
  "warning overlooked" detection and redirects to the URL, which then passes, together with the
  page's own resources under the same match. Allow, Audit and no verdict are forwarded to the
  origin; Audit also reports a detection.
* ``CONNECT host:port`` (https and anything else tunnelled) is judged on the host only. This
  proxy deliberately does not intercept TLS: it would need a root certificate on the device
  and it would break certificate pinning and the user's trust. So a blocked host gets a bare
  ``403 Forbidden`` to the CONNECT (the browser shows its own tunnel error, not our page), and
  a Warn on a CONNECT is enforced as a block, because there is no way to show an interstitial
  inside a TLS session the proxy cannot read (a Warn the user already continued through on
  http:// stays allowed here too).
* When the name passes (and is not explicitly allowed), the proxy resolves it and judges each
  address too, so IP indicators apply to named hosts; it then connects to exactly the
  addresses it judged. A blocked name is never resolved.

The interstitial is served in band, as the warned site's own response, so a script of that
same site (another of its pages that is not warned) could fetch it and read the token: a Warn is
a speed bump for the user, not a barrier against the site; what must not be reached is Block.
"Continue anyway" always ends in a GET of the warned URL (a warned form POST is not replayed).

Blocks and warnings are reported through ``on_detection`` at most once per (detection key,
minute); the detection honours the privacy setting "exclude URL in report".

Robustness: one connection is one request (``Connection: close`` both ways, no keep-alive);
request lines, URLs and headers are bounded (414/431/400), bodies and tunnels are streamed in
64 KiB pieces with back-pressure, every wait has a timeout (408/504), an unreachable origin
gets a 502 page, and no input can stop the proxy: each connection's failure stays with it.

Threading: the proxy runs on one asyncio loop; ``index``, ``exclude_url``, ``clock`` and
``on_detection`` are called on that loop's thread. ``ProxyThread`` runs it in a background
thread for tests and the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import secrets
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Literal
from urllib.parse import parse_qs

from openmtd.agent.protection import blockpage
from openmtd.domain.device import Detection
from openmtd.domain.web import IndicatorAction, WebMatch, WebVerdict
from openmtd.engines.web.canonical import (
    MAX_URL_LENGTH,
    CanonicalUrl,
    InvalidUrl,
    canonical_host,
    canonicalize,
)
from openmtd.engines.web.detections import web_detection
from openmtd.engines.web.index import WebIndex

log = logging.getLogger(__name__)

CONTROL_HOST = "openmtd-proxy.invalid"
CONTINUE_PATH = "/continue"
CONTINUE_URL = f"http://{CONTROL_HOST}{CONTINUE_PATH}"

MAX_REQUEST_LINE = MAX_URL_LENGTH + 64  # method, URL, version
MAX_HEAD_BYTES = 32 * 1024  # request headers, all lines together
MAX_HEADERS = 100
MAX_RESPONSE_HEAD_BYTES = 64 * 1024
MAX_RESPONSE_HEADERS = 200
MAX_CHUNK_LINE = 1024
MAX_TRAILER_BYTES = 8 * 1024
MAX_CONTINUE_BODY = 4096
BUFFER = 64 * 1024  # one read; also the stream limit (so one line can never exceed it)
MAX_PENDING_TOKENS = 1024
MAX_OVERRIDES = 4096
REPORTED_KEPT = 1000

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_ABSOLUTE = re.compile(rb"[hH][tT][tT][pP]://([^/?#]*)([^#]*)(?:#.*)?", re.DOTALL)
_OTHER_SCHEME = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://")
# Host characters a browser sends: no "@" (userinfo), "%", "\", brackets or controls, so that
# this parser and the canonicalizer always agree on which host a URL names.
_AUTHORITY = re.compile(
    rb"(?:\[([0-9A-Fa-f:.]+)\]|([^\x00-\x20\x7f:@\[\]\\%/?#]+))(?::([0-9]{0,5}))?"
)
_TARGET_BAD = re.compile(rb"[\x00-\x20\x7f]")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([^\r\n]*))?\r?\n")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")

# Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own; never forwarded either way.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
    }
)

_REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HttpError(Exception):
    """A request the proxy answers itself with an error page (and then closes)."""

    def __init__(self, status: int, title: str, message: str, *, url: str = "") -> None:
        super().__init__(f"{status} {title}: {message}")
        self.status = status
        self.title = title
        self.message = message
        self.url = url


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    target: bytes
    version: str
    headers: tuple[tuple[str, str], ...]

    def get(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]


@dataclass(frozen=True, slots=True)
class _HttpTarget:
    """An absolute-form http:// request target, split and canonicalized."""

    url: str  # as sent (fragment dropped), for pages and the redirect after "Continue anyway"
    canonical: CanonicalUrl
    host: str  # the canonical host: what was judged, and what is resolved and connected to
    port: int
    path: bytes  # path and query exactly as sent, for the origin

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class _Pending:
    """An issued "Continue anyway" token."""

    url: str
    verdict: WebVerdict
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class _Framing:
    kind: str  # "none" | "length" | "chunked"
    length: int = 0


_OverrideKey = tuple[str, str, str]
_Outcome = Literal["pass", "warn", "block"]


def _override_key(match: WebMatch) -> _OverrideKey:
    return (match.meta.kind.value, match.meta.source, match.expression)


class ProtectionProxy:
    """An asyncio HTTP forward proxy that blocks, warns, audits or forwards each request.

    index: returns the current index on every request, so a freshly synced one swaps in.
    device_groups: the device's tags, for indicators scoped to device groups.
    exclude_url: the privacy setting "exclude URL in report", read at each report.
    on_detection: called with each detection to report (rate-limited per key and minute).
    clock: the current time (tz-aware), for indicator expiry, tokens, overrides and rate limits.
    """

    def __init__(
        self,
        *,
        index: Callable[[], WebIndex],
        device_groups: frozenset[str] = frozenset(),
        exclude_url: Callable[[], bool] = lambda: False,
        on_detection: Callable[[Detection], None] = lambda _d: None,
        clock: Callable[[], datetime] = _utc_now,
        warn_allow_for: timedelta = timedelta(hours=1),
        token_ttl: timedelta = timedelta(minutes=5),
        head_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        origin_timeout: float = 30.0,
        idle_timeout: float = 60.0,
        tunnel_idle_timeout: float = 300.0,
        max_connections: int = 256,
    ) -> None:
        self._index = index
        self.device_groups = device_groups
        self._exclude_url = exclude_url
        self._on_detection = on_detection
        self._clock = clock
        self.warn_allow_for = warn_allow_for
        self.token_ttl = token_ttl
        self.head_timeout = head_timeout
        self.connect_timeout = connect_timeout
        self.origin_timeout = origin_timeout
        self.idle_timeout = idle_timeout
        self.tunnel_idle_timeout = tunnel_idle_timeout
        self.max_connections = max_connections

        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._stopped: asyncio.Event | None = None
        self._address: tuple[str, int] | None = None
        self._tokens: dict[str, _Pending] = {}
        self._overrides: dict[_OverrideKey, datetime] = {}
        self._minute: datetime | None = None
        self._reported_keys: set[str] = set()
        self._reported: deque[Detection] = deque(maxlen=REPORTED_KEPT)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0: any free port); returns the port actually bound."""
        if self._server is not None:
            raise RuntimeError("the proxy is already running")
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(self._accept, host, port, limit=BUFFER)
        sockname = self._server.sockets[0].getsockname()
        self._address = (str(sockname[0]), int(sockname[1]))
        log.info("web protection proxy listening on %s:%d", *self._address)
        return self._address[1]

    async def stop(self) -> None:
        """Stop listening and end every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        # Stop accepting first and let connections accepted just now finish their setup: on
        # Python 3.11 a connection accepted right before Server.close() fails to get a
        # transport and its socket leaks.
        loop = asyncio.get_running_loop()
        for sock in server.sockets:
            with contextlib.suppress(NotImplementedError, ValueError, OSError):
                loop.remove_reader(sock.fileno())
        for _ in range(5):
            await asyncio.sleep(0)
        server.close()
        connections = dict(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        for writer in connections.values():  # a task cancelled before it ran closed nothing
            writer.close()
        await server.wait_closed()
        if self._stopped is not None:
            self._stopped.set()

    async def serve_forever(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start (unless started) and run until stop() is called or the task is cancelled."""
        if self._server is None:
            await self.start(host, port)
        assert self._stopped is not None
        try:
            await self._stopped.wait()
        finally:
            await self.stop()

    @property
    def port(self) -> int:
        if self._address is None:
            raise RuntimeError("the proxy has not been started")
        return self._address[1]

    @property
    def url(self) -> str:
        """The proxy's address as a browser's --proxy-server wants it."""
        if self._address is None:
            raise RuntimeError("the proxy has not been started")
        host, port = self._address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def reported(self) -> tuple[Detection, ...]:
        """The detections passed to on_detection, oldest first (the last 1000)."""
        return tuple(self._reported)

    # -- connections --------------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Called as each connection is made: registers it at once (so stop() can end it)."""
        task = asyncio.get_running_loop().create_task(self._serve_connection(reader, writer))
        self._connections[task] = writer

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        try:
            if len(self._connections) > self.max_connections:
                await self._send_page(
                    writer,
                    503,
                    "Too many connections",
                    "Web protection is handling too many connections; try again in a moment.",
                )
            else:
                await self._handle(reader, writer)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, OSError) as e:
            log.debug("web protection proxy: connection ended: %s", e)
        except Exception:  # a bug must cost one connection, never the proxy
            log.exception("web protection proxy: unexpected error on a connection")
        finally:
            if task is not None:
                self._connections.pop(task, None)
            await _close(reader, writer, linger=self._server is not None)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self.head_timeout):
                request = await _read_request(reader)
        except HttpError as e:
            await self._send_error(writer, e)
            return
        except TimeoutError:
            await self._send_page(
                writer, 408, "Request timeout", "The request did not arrive in time."
            )
            return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        if request is None:
            return
        if request.method == "CONNECT":
            await self._connect_method(request, reader, writer)
            return
        try:
            await self._http(request, reader, writer)
        except HttpError as e:
            await self._send_error(writer, e, head=request.method == "HEAD")

    # -- plain http ---------------------------------------------------------------------------

    async def _http(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        target = _parse_http_target(request.target)
        framing = _request_framing(request)
        if target.host == CONTROL_HOST:
            await self._control(request, target, framing, reader, writer)
            return
        index = self._current_index()
        now = self._clock()
        verdict = index.check_canonical(target.canonical, now=now, device_groups=self.device_groups)
        outcome = self._enforce(verdict, now=now)
        addresses: list[str] = []
        if outcome == "pass" and verdict.action is not IndicatorAction.ALLOW:
            addresses = await self._resolve(target.host, target.port, url=target.url)
            verdict, outcome = self._judge_addresses(
                index, target.host, addresses, verdict, now=now
            )
        head_only = request.method == "HEAD"
        if outcome == "block":
            html = blockpage.render_block_page(verdict, url=target.url)
            await self._send_html(writer, 403, html, head_only=head_only)
            return
        if outcome == "warn":
            token = self._issue_token(target.url, verdict, now=now)
            html = blockpage.render_warn_page(
                verdict,
                url=target.url,
                continue_url=CONTINUE_URL,
                token=token,
                allow_minutes=max(int(self.warn_allow_for.total_seconds() // 60), 1),
            )
            await self._send_html(writer, 200, html, head_only=head_only)
            return
        if not addresses:
            addresses = await self._resolve(target.host, target.port, url=target.url)
        origin_reader, origin_writer = await self._open(addresses, target.port, url=target.url)
        try:
            await self._exchange(
                request, target, framing, reader, writer, origin_reader, origin_writer
            )
        finally:
            await _close(origin_reader, origin_writer, linger=False)

    async def _exchange(
        self,
        request: _Request,
        target: _HttpTarget,
        framing: _Framing,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        origin_reader: asyncio.StreamReader,
        origin_writer: asyncio.StreamWriter,
    ) -> None:
        """Send the request to the origin and stream its answer back."""
        origin_writer.write(_origin_request_head(request, target, framing))
        body = asyncio.create_task(self._send_body(framing, reader, origin_writer))
        head = asyncio.create_task(self._read_response_head(origin_reader, writer, request))
        try:
            await asyncio.wait({body, head}, return_when=asyncio.FIRST_COMPLETED)
            if body.done() and not head.done():
                error = body.result()
                if error is not None:
                    raise error
            try:
                async with asyncio.timeout(self.origin_timeout):
                    status, response_head, response_framing = await head
            except TimeoutError:
                raise HttpError(
                    504,
                    "The site did not answer",
                    f"{target.host_header} did not answer within {self.origin_timeout:g} seconds.",
                    url=target.url,
                ) from None
            writer.write(response_head)
            await writer.drain()
            if request.method == "HEAD" or status in (204, 304):
                return
            await self._relay_body(response_framing, origin_reader, writer)
        finally:
            for task in (body, head):
                if not task.done():
                    task.cancel()
            await asyncio.gather(body, head, return_exceptions=True)

    async def _send_body(
        self, framing: _Framing, reader: asyncio.StreamReader, origin: asyncio.StreamWriter
    ) -> HttpError | None:
        """Stream the request body to the origin; an HttpError when the client's body is bad."""
        try:
            if framing.kind == "length":
                await _copy_exactly(reader, origin, framing.length, self.idle_timeout)
            elif framing.kind == "chunked":
                await self._copy_chunked(reader, origin)
            else:
                await origin.drain()
        except HttpError as e:
            return e
        except (TimeoutError, asyncio.IncompleteReadError):
            return HttpError(400, "Incomplete request", "The request body did not arrive.")
        except (ConnectionError, OSError):
            return None  # the origin went away; its answer (or its absence) tells the rest
        return None

    async def _copy_chunked(
        self, reader: asyncio.StreamReader, origin: asyncio.StreamWriter
    ) -> None:
        bad = HttpError(400, "Bad request", "The request's chunked body is malformed.")
        while True:
            line = await _read_line(reader, MAX_CHUNK_LINE, self.idle_timeout, bad)
            m = _CHUNK_SIZE.fullmatch(line)
            if m is None:
                raise bad
            size = int(m[1], 16)
            origin.write(b"%x\r\n" % size)
            if size == 0:
                break
            await _copy_exactly(reader, origin, size, self.idle_timeout)
            if await _read_line(reader, 2, self.idle_timeout, bad) not in (b"\r\n", b"\n"):
                raise bad
            origin.write(b"\r\n")
        total = 0
        while True:  # trailer fields: read, bounded, and dropped
            line = await _read_line(reader, MAX_TRAILER_BYTES, self.idle_timeout, bad)
            total += len(line)
            if total > MAX_TRAILER_BYTES:
                raise bad
            if line in (b"\r\n", b"\n"):
                break
        origin.write(b"\r\n")
        await origin.drain()

    async def _read_response_head(
        self, origin: asyncio.StreamReader, client: asyncio.StreamWriter, request: _Request
    ) -> tuple[int, bytes, _Framing | None]:
        """(status, head to send to the client, body framing or None: read to the end).

        Interim 1xx answers (100 Continue) are passed to an HTTP/1.1 client as they come.
        """
        while True:
            status, reason, headers = await _read_response(origin)
            if 100 <= status < 200 and status != 101:
                if request.version == "HTTP/1.1":
                    client.write(_head(status, reason, headers, close=False))
                    await client.drain()
                continue
            if status == 101:
                raise HttpError(
                    502, "Bad answer from the site", "The site asked to switch protocols."
                )
            return status, *_response_head(status, reason, headers)

    async def _relay_body(
        self, framing: _Framing | None, origin: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        try:
            if framing is not None and framing.kind == "length":
                await _copy_exactly(origin, client, framing.length, self.idle_timeout)
            else:
                await _copy_to_eof(origin, client, self.idle_timeout)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            return  # the head is out; all that is left is to close

    # -- the control host: "Continue anyway" --------------------------------------------------

    async def _control(
        self,
        request: _Request,
        target: _HttpTarget,
        framing: _Framing,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        path = target.path.partition(b"?")[0]
        if path != CONTINUE_PATH.encode():
            raise HttpError(404, "Not found", "Web protection has no page at this address.")
        if request.method != "POST":
            raise HttpError(405, "Method not allowed", "Use the page's Continue button.")
        if framing.kind != "length":
            raise HttpError(411, "Length required", "The form must be sent with a length.")
        if framing.length > MAX_CONTINUE_BODY:
            raise HttpError(413, "Too large", "The form is larger than expected.")
        try:
            async with asyncio.timeout(self.idle_timeout):
                body = await reader.readexactly(framing.length)
        except (TimeoutError, asyncio.IncompleteReadError):
            raise HttpError(400, "Incomplete request", "The form did not arrive.") from None
        tokens = parse_qs(body.decode("ascii", "replace")).get("token", [])
        now = self._clock()
        pending = self._tokens.pop(tokens[0], None) if len(tokens) == 1 else None
        if pending is None or pending.expires_at <= now:
            raise HttpError(
                403,
                "This link cannot be used",
                "The Continue button is valid once and only for a few minutes. Go back and open "
                "the page again to get a new warning.",
            )
        decision = pending.verdict.decision
        assert decision is not None
        self._prune_overrides(now)
        self._overrides[_override_key(decision)] = now + self.warn_allow_for
        self._report(pending.verdict, overlooked=True)
        body_html = blockpage.render_redirect_page(location=pending.url).encode()
        head = _head(
            303,
            "See Other",
            [
                ("Location", pending.url),
                *blockpage.PAGE_HEADERS,
                ("Content-Length", str(len(body_html))),
            ],
        )
        writer.write(head + body_html)
        await writer.drain()

    def _issue_token(self, url: str, verdict: WebVerdict, *, now: datetime) -> str:
        if len(self._tokens) >= MAX_PENDING_TOKENS:
            for key in [k for k, p in self._tokens.items() if p.expires_at <= now]:
                del self._tokens[key]
            while len(self._tokens) >= MAX_PENDING_TOKENS:
                del self._tokens[next(iter(self._tokens))]
        token = secrets.token_urlsafe(32)
        self._tokens[token] = _Pending(url=url, verdict=verdict, expires_at=now + self.token_ttl)
        return token

    def _prune_overrides(self, now: datetime) -> None:
        if len(self._overrides) < MAX_OVERRIDES:
            return
        for key in [k for k, until in self._overrides.items() if until <= now]:
            del self._overrides[key]
        while len(self._overrides) >= MAX_OVERRIDES:
            del self._overrides[next(iter(self._overrides))]

    # -- CONNECT ------------------------------------------------------------------------------

    async def _connect_method(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            host, port = _parse_authority(request.target)
        except HttpError as e:
            await _send_text(writer, e.status, e.message)
            return
        if host.lower().rstrip(".") == CONTROL_HOST:
            await _send_text(writer, 400, "Web protection's own pages are served over http only.")
            return
        index = self._current_index()
        now = self._clock()
        verdict = index.check_host(host, now=now, device_groups=self.device_groups)
        if verdict.problem:
            await _send_text(writer, 400, verdict.explanation)
            return
        outcome = self._enforce(verdict, now=now)
        try:
            addresses: list[str] = []
            if outcome == "pass" and verdict.action is not IndicatorAction.ALLOW:
                addresses = await self._resolve(verdict.target, port, url="")
                verdict, outcome = self._judge_addresses(
                    index, verdict.target, addresses, verdict, now=now
                )
            if outcome != "pass":
                # Warn is enforced as Block: an interstitial cannot be shown inside TLS.
                await _send_text(writer, 403, f"Blocked by web protection: {verdict.explanation}")
                return
            if not addresses:
                addresses = await self._resolve(verdict.target, port, url="")
            origin_reader, origin_writer = await self._open(addresses, port, url="")
        except HttpError as e:
            await _send_text(writer, e.status, e.message)
            return
        try:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _tunnel(reader, writer, origin_reader, origin_writer, self.tunnel_idle_timeout)
        finally:
            await _close(origin_reader, origin_writer, linger=False)

    # -- verdicts, overrides and reports ------------------------------------------------------

    def _current_index(self) -> WebIndex:
        try:
            return self._index()
        except Exception:  # fail to the builtin rules, which need no index
            log.exception("web protection proxy: the index is unavailable; using builtins only")
            return WebIndex()

    def _enforce(self, verdict: WebVerdict, *, now: datetime) -> _Outcome:
        """The outcome, "pass", "warn" or "block"; reports what needs reporting."""
        decision = verdict.decision
        if decision is None or decision.action is IndicatorAction.ALLOW:
            return "pass"
        if decision.action is IndicatorAction.AUDIT:
            self._report(verdict)
            return "pass"
        if decision.action is IndicatorAction.WARN:
            until = self._overrides.get(_override_key(decision))
            if until is not None and until > now:
                return "pass"
            self._report(verdict)
            return "warn"
        self._report(verdict)
        return "block"

    def _judge_addresses(
        self,
        index: WebIndex,
        host: str,
        addresses: Iterable[str],
        verdict: WebVerdict,
        *,
        now: datetime,
    ) -> tuple[WebVerdict, _Outcome]:
        """The verdict on the addresses a name resolved to, when one of them is listed."""
        if _is_ip(host):
            return verdict, "pass"  # an IP address was judged as such already
        strongest: WebVerdict | None = None
        rank = 0
        for address in addresses:
            v = index.check_host(address, now=now, device_groups=self.device_groups)
            if v.action is None or v.action is IndicatorAction.ALLOW:
                continue
            if v.action.precedence > rank:
                strongest, rank = v, v.action.precedence
        if strongest is None:
            return verdict, "pass"
        return strongest, self._enforce(strongest, now=now)

    def _report(self, verdict: WebVerdict, *, overlooked: bool = False) -> None:
        try:
            exclude = bool(self._exclude_url())
        except Exception:  # when in doubt, keep the URL private
            log.exception("web protection proxy: exclude_url() failed; excluding the URL")
            exclude = True
        detection = web_detection(
            verdict, channel="proxy", exclude_url=exclude, overlooked=overlooked
        )
        if detection is None:
            return
        minute = self._clock().replace(second=0, microsecond=0)
        if minute != self._minute:
            self._minute = minute
            self._reported_keys.clear()
        if detection.key in self._reported_keys:
            return
        self._reported_keys.add(detection.key)
        self._reported.append(detection)
        try:
            self._on_detection(detection)
        except Exception:
            log.exception("web protection proxy: on_detection failed")

    # -- origins ------------------------------------------------------------------------------

    async def _resolve(self, host: str, port: int, *, url: str) -> list[str]:
        """The addresses of `host` (itself when it is an IP address)."""
        if _is_ip(host):
            return [host]
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                infos = await loop.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                )
        except TimeoutError:
            raise HttpError(
                504,
                "The site's name did not resolve in time",
                f"Looking up {host} timed out.",
                url=url,
            ) from None
        except (OSError, UnicodeError) as e:
            raise HttpError(
                502, "The site cannot be reached", f"{host} could not be found ({e}).", url=url
            ) from None
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    async def _open(
        self, addresses: list[str], port: int, *, url: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the first address that answers."""
        problem = "no address"
        try:
            async with asyncio.timeout(self.connect_timeout):
                for address in addresses:
                    try:
                        return await asyncio.open_connection(address, port, limit=BUFFER)
                    except OSError as e:
                        problem = e.strerror or str(e)
        except TimeoutError:
            raise HttpError(
                504,
                "The site did not answer",
                f"Connecting to port {port} timed out after {self.connect_timeout:g} seconds.",
                url=url,
            ) from None
        raise HttpError(
            502,
            "The site cannot be reached",
            f"Connecting to port {port} failed: {problem}.",
            url=url,
        )

    # -- answers ------------------------------------------------------------------------------

    async def _send_error(
        self, writer: asyncio.StreamWriter, e: HttpError, *, head: bool = False
    ) -> None:
        html = blockpage.render_error_page(
            status=e.status, title=e.title, message=e.message, url=e.url
        )
        await self._send_html(writer, e.status, html, head_only=head)

    async def _send_page(
        self, writer: asyncio.StreamWriter, status: int, title: str, message: str
    ) -> None:
        html = blockpage.render_error_page(status=status, title=title, message=message)
        await self._send_html(writer, status, html)

    async def _send_html(
        self, writer: asyncio.StreamWriter, status: int, html: str, *, head_only: bool = False
    ) -> None:
        body = html.encode("utf-8")
        headers = [*blockpage.PAGE_HEADERS, ("Content-Length", str(len(body)))]
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(_head(status, _REASONS.get(status, "Error"), headers))
            if not head_only:
                writer.write(body)
            await writer.drain()


# -- request parsing -----------------------------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """The request line and headers (None: the client closed without sending anything)."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise HttpError(414, "Address too long", "The request line is too long.") from None
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            return None
        raise HttpError(400, "Bad request", "The request line is incomplete.") from None
    if len(line) > MAX_REQUEST_LINE:
        raise HttpError(
            414, "Address too long", f"Addresses are limited to {MAX_URL_LENGTH} characters."
        )
    if b"\0" in line:
        raise HttpError(400, "Bad request", "The request line contains a NUL byte.")
    parts = line.rstrip(b"\r\n").split(b" ")
    if len(parts) != 3 or not parts[1] or _TOKEN.fullmatch(parts[0]) is None:
        raise HttpError(400, "Bad request", "The request line is malformed.")
    method, target, version = parts
    if re.fullmatch(rb"HTTP/[0-9]\.[0-9]", version) is None:
        raise HttpError(400, "Bad request", "The request line is malformed.")
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        raise HttpError(
            505, "HTTP version not supported", "Web protection speaks HTTP/1.0 and 1.1."
        )
    if len(target) > MAX_URL_LENGTH:
        raise HttpError(
            414, "Address too long", f"Addresses are limited to {MAX_URL_LENGTH} characters."
        )
    headers: list[tuple[str, str]] = []
    total = 0
    while True:
        try:
            raw = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise HttpError(431, "Headers too large", "A request header is too long.") from None
        except asyncio.IncompleteReadError:
            raise HttpError(400, "Bad request", "The request headers are incomplete.") from None
        total += len(raw)
        if total > MAX_HEAD_BYTES:
            raise HttpError(431, "Headers too large", "The request headers are too large.")
        if raw in (b"\r\n", b"\n"):
            break
        if len(headers) >= MAX_HEADERS:
            raise HttpError(431, "Headers too large", "The request has too many headers.")
        headers.append(
            _parse_header(raw, HttpError(400, "Bad request", "A request header is malformed."))
        )
    return _Request(method.decode("ascii"), target, version.decode("ascii"), tuple(headers))


def _parse_header(raw: bytes, bad: HttpError) -> tuple[str, str]:
    if raw[:1] in (b" ", b"\t"):  # obsolete line folding
        raise bad
    name, sep, value = raw.rstrip(b"\r\n").partition(b":")
    if not sep or _TOKEN.fullmatch(name) is None:
        raise bad
    text = value.decode("latin-1").strip(" \t")
    if _HEADER_VALUE_BAD.search(text):
        raise bad
    return name.decode("ascii"), text


def _parse_http_target(target: bytes) -> _HttpTarget:
    if target.startswith(b"/") or target == b"*":
        raise HttpError(
            400,
            "This is a web protection proxy",
            "Send requests through it as a proxy (for example, configure it as the HTTP proxy of "
            "your browser or system); it does not serve pages of its own.",
        )
    m = _ABSOLUTE.fullmatch(target)
    if m is None:
        if _OTHER_SCHEME.match(target) is not None:
            if target[:8].lower() == b"https://":
                raise HttpError(
                    501, "Use CONNECT for https", "Send https:// requests with the CONNECT method."
                )
            raise HttpError(501, "Unsupported address", "Only http:// addresses can be proxied.")
        raise HttpError(400, "Bad request", "The request's address is not a URL.")
    authority, rest = m[1], m[2]
    if _TARGET_BAD.search(target.partition(b"#")[0]):
        raise HttpError(400, "Bad request", "The address contains spaces or control characters.")
    text = target.partition(b"#")[0].decode("utf-8", "surrogateescape")
    host_text, port = _parse_authority(authority, default_port=80)
    try:
        canonical = canonicalize(text)
    except InvalidUrl as e:
        raise HttpError(400, "Invalid address", e.message, url=_shown(text)) from None
    if canonical.idn_problem:
        raise HttpError(
            400,
            "Invalid international domain name",
            f"The host name {host_text!r} cannot be used: {canonical.idn_problem}.",
            url=_shown(text),
        )
    host = canonical.host
    if not canonical.host_is_ip:
        try:
            host = canonical_host(host)
        except InvalidUrl as e:
            raise HttpError(400, "Invalid host name", e.message, url=_shown(text)) from None
    path = rest if rest.startswith(b"/") else b"/" + rest
    return _HttpTarget(url=_shown(text), canonical=canonical, host=host, port=port, path=path)


def _shown(text: str) -> str:
    """A URL as text safe for pages and the Location header (raw bytes percent-escaped)."""
    return (
        text.encode("utf-8", "surrogateescape")
        .decode("latin-1")
        .translate({c: f"%{c:02X}" for c in range(0x80, 0x100)})
        if not text.isascii()
        else text
    )


def _parse_authority(authority: bytes, *, default_port: int | None = None) -> tuple[str, int]:
    """(host, port) of "host:port" or "[v6]:port"; the port is required without a default."""
    m = _AUTHORITY.fullmatch(authority)
    if m is None:
        raise HttpError(400, "Bad request", "The address's host is malformed.")
    try:
        host = m[1].decode("ascii") if m[1] is not None else m[2].decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "Invalid host name", "The host name is not valid UTF-8.") from None
    if m[1] is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise HttpError(400, "Bad request", "The address's IPv6 host is malformed.") from None
    if m[3]:
        port = int(m[3])
    elif default_port is not None:
        port = default_port
    else:
        raise HttpError(400, "Bad request", "CONNECT needs host:port.")
    if not 0 < port < 65536:
        raise HttpError(400, "Bad request", "The address's port is out of range.")
    return host, port


def _request_framing(request: _Request) -> _Framing:
    """How the request body is delimited; refuses ambiguous framing (request smuggling)."""
    encodings = request.get("Transfer-Encoding")
    lengths = request.get("Content-Length")
    if encodings:
        if lengths:
            raise HttpError(400, "Bad request", "Both Transfer-Encoding and Content-Length.")
        codings = [c.strip().lower() for e in encodings for c in e.split(",") if c.strip()]
        if codings != ["chunked"]:
            raise HttpError(
                501, "Not implemented", "Only the chunked transfer coding is supported."
            )
        return _Framing("chunked")
    if lengths:
        values = {v.strip() for e in lengths for v in e.split(",")}
        if len(values) != 1:
            raise HttpError(400, "Bad request", "Conflicting Content-Length headers.")
        value = values.pop()
        if not value.isdigit() or len(value) > 18:
            raise HttpError(400, "Bad request", "Invalid Content-Length.")
        length = int(value)
        return _Framing("length", length) if length else _Framing("none")
    return _Framing("none")


def _origin_request_head(request: _Request, target: _HttpTarget, framing: _Framing) -> bytes:
    dropped = set(_HOP_BY_HOP) | {"host", "content-length", "transfer-encoding"}
    for value in request.get("Connection"):
        dropped.update(t.strip().lower() for t in value.split(","))
    lines = [b"%s %s %s\r\n" % (request.method.encode(), target.path, request.version.encode())]
    lines.append(f"Host: {target.host_header}\r\n".encode())
    for name, value in request.headers:
        lname = name.lower()
        if lname in dropped or lname.startswith("proxy-"):
            continue
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    if framing.kind == "length":
        lines.append(b"Content-Length: %d\r\n" % framing.length)
    elif framing.kind == "chunked":
        lines.append(b"Transfer-Encoding: chunked\r\n")
    lines.append(b"Connection: close\r\n\r\n")
    return b"".join(lines)


# -- responses -------------------------------------------------------------------------------------


async def _read_response(origin: asyncio.StreamReader) -> tuple[int, str, list[tuple[str, str]]]:
    bad = HttpError(502, "Bad answer from the site", "The site sent a malformed answer.")
    try:
        line = await origin.readuntil(b"\n")
        m = _STATUS_LINE.fullmatch(line)
        if m is None:
            raise bad
        headers: list[tuple[str, str]] = []
        total = len(line)
        while True:
            raw = await origin.readuntil(b"\n")
            total += len(raw)
            if total > MAX_RESPONSE_HEAD_BYTES or len(headers) > MAX_RESPONSE_HEADERS:
                raise HttpError(
                    502, "Bad answer from the site", "The site's headers are too large."
                )
            if raw in (b"\r\n", b"\n"):
                break
            headers.append(_parse_header(raw, bad))
    except asyncio.LimitOverrunError:
        raise HttpError(
            502, "Bad answer from the site", "The site's headers are too large."
        ) from None
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        raise HttpError(
            502, "Bad answer from the site", "The site closed the connection."
        ) from None
    reason = (m[2] or b"").decode("latin-1")
    if _HEADER_VALUE_BAD.search(reason):
        raise bad
    return int(m[1]), reason, headers


def _response_head(
    status: int, reason: str, headers: list[tuple[str, str]]
) -> tuple[bytes, _Framing | None]:
    """The head for the client and how the body ends (None: when the origin closes).

    The body is passed through as the origin framed it (a chunked body stays chunked), so the
    framing headers stay; the connection closes after it either way.
    """
    dropped = set(_HOP_BY_HOP)
    for name, value in headers:
        if name.lower() == "connection":
            dropped.update(t.strip().lower() for t in value.split(","))
    chunked = any(n.lower() == "transfer-encoding" for n, _ in headers)
    lengths = {v.strip() for n, v in headers if n.lower() == "content-length"}
    framing: _Framing | None = None
    if chunked:
        dropped.add("content-length")  # Transfer-Encoding wins (RFC 9112 §6.3)
    elif lengths:
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise HttpError(
                502, "Bad answer from the site", "The site's Content-Length is invalid."
            )
        framing = _Framing("length", int(lengths.pop()))
    kept = [
        (n, v)
        for n, v in headers
        if n.lower() not in dropped and not n.lower().startswith("proxy-")
    ]
    return _head(status, reason, kept), framing


def _head(
    status: int, reason: str, headers: Iterable[tuple[str, str]], *, close: bool = True
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers)
    if close:
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


async def _send_text(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    """A short plain-text answer (to CONNECT, whose body the browser never shows)."""
    body = (text + "\n").encode("utf-8")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]
    with contextlib.suppress(ConnectionError, OSError):
        writer.write(_head(status, _REASONS.get(status, "Error"), headers) + body)
        await writer.drain()


# -- byte moving -----------------------------------------------------------------------------------


async def _read_line(
    reader: asyncio.StreamReader, limit: int, timeout: float, bad: HttpError
) -> bytes:
    try:
        async with asyncio.timeout(timeout):
            line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise bad from None
    if len(line) > limit:
        raise bad
    return line


async def _copy_exactly(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, length: int, timeout: float
) -> None:
    left = length
    while left > 0:
        async with asyncio.timeout(timeout):
            data = await src.read(min(left, BUFFER))
            if not data:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(data)
            dst.write(data)
            await dst.drain()


async def _copy_to_eof(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, timeout: float
) -> None:
    while True:
        async with asyncio.timeout(timeout):
            data = await src.read(BUFFER)
            if not data:
                return
            dst.write(data)
            await dst.drain()


async def _tunnel(
    a_reader: asyncio.StreamReader,
    a_writer: asyncio.StreamWriter,
    b_reader: asyncio.StreamReader,
    b_writer: asyncio.StreamWriter,
    idle_timeout: float,
) -> None:
    """Copy bytes both ways until both sides are done, either fails, or both are idle too long."""
    loop = asyncio.get_running_loop()
    last = [loop.time()]

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> bool:
        try:
            while True:
                try:
                    async with asyncio.timeout(idle_timeout):
                        data = await src.read(BUFFER)
                except TimeoutError:
                    if loop.time() - last[0] >= idle_timeout:
                        return False
                    continue
                if not data:
                    if dst.can_write_eof():
                        dst.write_eof()
                    return True
                last[0] = loop.time()
                dst.write(data)
                async with asyncio.timeout(idle_timeout):
                    await dst.drain()
        except (TimeoutError, ConnectionError, OSError):
            return False

    async def guarded(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        if not await pump(src, dst):
            for w in (a_writer, b_writer):
                w.transport.abort()

    await asyncio.gather(guarded(a_reader, b_writer), guarded(b_reader, a_writer))


async def _close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, linger: bool = True
) -> None:
    """Close a connection; with `linger`, first let the peer read our answer.

    Closing a socket with unread input makes the kernel send a reset, which can destroy the
    answer just written (say, a 403 to an upload that was never read). So the write side is
    shut down first, and what the client still sends is read and dropped, briefly and boundedly.
    """
    try:
        if linger and not writer.is_closing() and writer.can_write_eof():
            writer.write_eof()
            async with asyncio.timeout(1.0):
                drained = 0
                while drained < 1024 * 1024:
                    data = await reader.read(BUFFER)
                    if not data:
                        break
                    drained += len(data)
    except (TimeoutError, ConnectionError, OSError, RuntimeError):
        pass
    writer.close()
    with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
        await writer.wait_closed()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# -- running in a thread ---------------------------------------------------------------------------


class ProxyThread:
    """Runs a ProtectionProxy on its own event loop in a daemon thread (tests, the CLI).

    with ProxyThread(proxy) as running:
        requests go to running.url ...
    """

    def __init__(self, proxy: ProtectionProxy, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.proxy = proxy
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> int:
        """Start the thread and the proxy; returns the bound port."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._main, name="openmtd-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the web protection proxy did not start in time")
        if self._error is not None:
            raise RuntimeError(
                f"the web protection proxy did not start: {self._error}"
            ) from self._error
        return self.proxy.port

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            stopping = self.proxy.stop()
            try:
                asyncio.run_coroutine_threadsafe(stopping, loop).result(timeout)
            except RuntimeError:  # the loop ended in the meantime
                stopping.close()
        thread.join(timeout)
        self._thread = None
        self._loop = None

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def url(self) -> str:
        return self.proxy.url

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await self.proxy.start(self._host, self._port)
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        await self.proxy.serve_forever()

    def __enter__(self) -> ProxyThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
