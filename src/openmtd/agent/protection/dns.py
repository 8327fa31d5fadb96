"""The agent's local DNS listener: protective DNS on the device, over UDP and TCP.

The device (or the agent's VPN) sends its DNS queries here. Each query is judged by the same
engine as the server's DNS-over-HTTPS endpoint (`openmtd.engines.web.dns`) against the web
index the agent synced last, so it keeps protecting offline: a blocked or warned name gets the
policy's block answer at once, without any network; other names are forwarded to the upstream
resolver (UDP, TCP when the answer is truncated), cached by their TTL, and their answers'
addresses and aliases judged too.

Blocks, warnings and audits are reported through ``on_detection`` at most once per detection
key and minute (a browser retrying a blocked name must not flood the outbox); the detection
honours the privacy setting "exclude URL in report".

Robustness: a malformed packet gets FORMERR (or nothing when even its id is unreadable), an
upstream failure gets SERVFAIL, an answer too large for the client's UDP size is truncated so
that the client retries over TCP, TCP connections idle for `idle_timeout` are closed, and no
input can stop the listener.

Threading: the listener runs on one asyncio loop; ``index``, ``block``, ``exclude_url``,
``clock`` and ``on_detection`` are called on that loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import struct
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import dns.asyncquery
import dns.exception

from openmtd.domain.device import Detection
from openmtd.domain.web import WebVerdict
from openmtd.engines.web.detections import web_detection
from openmtd.engines.web.dns import (
    BlockAnswer,
    DnsCache,
    DnsFilter,
    DnsQuery,
    NeedUpstream,
    ReportLimiter,
    UpstreamAnswer,
    VerdictMemo,
    fit_udp,
    parse_query,
    parse_resolver_address,
    upstream_query,
)
from openmtd.engines.web.index import WebIndex

log = logging.getLogger("openmtd.agent.dns")

CHANNEL = "dns"
REPORT_WINDOW_SECONDS = 60.0
_LENGTH = struct.Struct("!H")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: DnsListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.listener._spawn(self.listener._udp_query(data, addr))

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        log.debug("DNS listener: UDP error %s", exc)


class DnsListener:
    """A protective DNS resolver on a loopback address, UDP and TCP on the same port.

    index: returns the current web index at every query (a newly synced one swaps in).
    upstream: "host:port" (or "[v6]:port", or an address for port 53) of the resolver that
        allowed names are forwarded to.
    block: returns how blocked names are answered (the synced policy's DNS section).
    device_groups: the device's tags, for indicators scoped to device groups.
    exclude_url: the privacy setting "exclude URL in report", read at each report.
    on_detection: called with each detection to report (at most once per key and minute).
    """

    def __init__(
        self,
        *,
        index: Callable[[], WebIndex],
        upstream: str,
        block: Callable[[], BlockAnswer] = BlockAnswer,
        device_groups: frozenset[str] = frozenset(),
        exclude_url: Callable[[], bool] = lambda: False,
        on_detection: Callable[[Detection], None] = lambda _d: None,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        cache_entries: int = 10_000,
        upstream_timeout: float = 2.0,
        idle_timeout: float = 10.0,
        max_tcp_connections: int = 128,
    ) -> None:
        self._index = index
        self.upstream = parse_resolver_address(upstream)
        self._block = block
        self.device_groups = device_groups
        self._exclude_url = exclude_url
        self._on_detection = on_detection
        self._clock = clock
        self._monotonic = monotonic
        self.filter = DnsFilter(DnsCache(cache_entries))
        self.limiter = ReportLimiter(REPORT_WINDOW_SECONDS)
        self.verdicts = VerdictMemo()
        self.upstream_timeout = upstream_timeout
        self.idle_timeout = idle_timeout
        self.max_tcp_connections = max_tcp_connections
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # UDP queries in flight
        self._clients: dict[asyncio.StreamWriter, asyncio.Task[None] | None] = {}
        self._address: tuple[str, int] | None = None
        self.reported: list[Detection] = []

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on UDP and TCP host:port (0: a free port, the same for both); returns it."""
        if self._udp is not None:
            raise RuntimeError("the DNS listener is already running")
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for attempt in range(20):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(host, port), family=family
            )
            bound = int(transport.get_extra_info("sockname")[1])
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, host, bound)
            except OSError:
                transport.close()
                if port != 0 or attempt == 19:
                    raise
                continue  # the free UDP port is taken on TCP: pick another
            self._udp = transport
            self._address = (host, bound)
            log.info("DNS listener on %s port %d (UDP and TCP)", host, bound)
            return bound
        raise RuntimeError("unreachable")  # pragma: no cover

    async def stop(self) -> None:
        udp, self._udp = self._udp, None
        tcp, self._tcp = self._tcp, None
        if udp is not None:
            udp.close()
        if tcp is not None:
            tcp.close()
        for task in list(self._tasks):
            task.cancel()
        # TCP handlers are ended by closing their connection (a cancelled handler task would
        # be reported by asyncio's streams as an error).
        clients = [t for t in self._clients.values() if t is not None]
        for writer in list(self._clients):
            writer.close()
        pending = [*self._tasks, *clients]
        if pending:
            await asyncio.wait(pending, timeout=5)
        if tcp is not None:
            await tcp.wait_closed()

    async def __aenter__(self) -> DnsListener:
        if self._udp is None:
            await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._address is None:
            raise RuntimeError("the DNS listener has not been started")
        return self._address[1]

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError("the DNS listener has not been started")
        return self._address

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- transports ---------------------------------------------------------------------

    async def _udp_query(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            response = await self.answer(data, udp=True)
        except Exception:  # one query's failure must never stop the listener
            log.exception("DNS listener: a UDP query failed")
            return
        if response is not None and self._udp is not None:
            self._udp.sendto(response, addr)

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tcp is None or len(self._clients) >= self.max_tcp_connections:
            writer.close()
            return
        self._clients[writer] = asyncio.current_task()
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        (length,) = _LENGTH.unpack(await reader.readexactly(2))
                        data = await reader.readexactly(length)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                response = await self.answer(data, udp=False)
                if response is None:
                    return  # nothing to say to a packet without an id: drop the connection
                writer.write(_LENGTH.pack(len(response)) + response)
                await writer.drain()
        except Exception:
            log.exception("DNS listener: a TCP connection failed")
        finally:
            self._clients.pop(writer, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # -- answering ----------------------------------------------------------------------

    async def answer(self, wire: bytes, *, udp: bool = False) -> bytes | None:
        """The response to one query (None: send nothing)."""
        query = parse_query(wire)
        if not isinstance(query, DnsQuery):
            log.debug("DNS listener: %s", query.reason)
            return query.response
        index = self._current_index()
        now = self._clock()
        groups = self.device_groups

        def check(name: str) -> WebVerdict:
            return index.check_host(name, now=now, device_groups=groups)

        judge = self.verdicts.judge(index, groups, self._monotonic(), check)
        block = self._current_block()
        step = self.filter.start(query, judge=judge, block=block, now=self._monotonic())
        if isinstance(step, NeedUpstream):
            answer = await self._ask_upstream(query)
            step = self.filter.finish(step, answer, judge=judge, block=block, now=self._monotonic())
        decision = step.decision
        if decision.verdict is not None and decision.reportable:
            self._report(decision.verdict)
        return fit_udp(query, step.response) if udp else step.response

    def _current_index(self) -> WebIndex:
        try:
            return self._index()
        except Exception:  # fail to the builtin rules, which need no index
            log.exception("DNS listener: the index is unavailable; using builtins only")
            return WebIndex()

    def _current_block(self) -> BlockAnswer:
        try:
            return self._block()
        except Exception:
            log.exception("DNS listener: block settings unavailable; using the defaults")
            return BlockAnswer()

    async def _ask_upstream(self, query: DnsQuery) -> UpstreamAnswer | None:
        host, port = self.upstream
        message = upstream_query(query, secrets.randbelow(65536))
        timeout = self.upstream_timeout
        try:
            async with asyncio.timeout(timeout):
                response, _tcp = await dns.asyncquery.udp_with_fallback(
                    message, host, timeout=timeout, port=port, ignore_unexpected=True
                )
        except (TimeoutError, OSError, EOFError, dns.exception.DNSException) as e:
            log.info("DNS listener: upstream %s:%d failed for %s: %s", host, port, query.name, e)
            return None
        return UpstreamAnswer.from_message(response)

    def _report(self, verdict: WebVerdict) -> None:
        try:
            exclude = bool(self._exclude_url())
        except Exception:  # when in doubt, keep the name private
            log.exception("DNS listener: exclude_url() failed; excluding the name")
            exclude = True
        detection = web_detection(verdict, channel=CHANNEL, exclude_url=exclude)
        if detection is None or not self.limiter.allow(detection.key, self._monotonic()):
            return
        self.reported.append(detection)
        del self.reported[:-1000]
        try:
            self._on_detection(detection)
        except Exception:
            log.exception("DNS listener: on_detection failed")
