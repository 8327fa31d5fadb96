"""The agent's DNS listener over real UDP and TCP sockets, with dnspython as the client."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import pytest

from dnsfake import FakeUpstream
from openmtd.agent.protection.dns import DnsListener
from openmtd.domain.device import Detection
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.engines.web.dns import BlockAnswer, BlockMode
from openmtd.engines.web.index import WebIndex, build_index

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def indicator(kind: IndicatorType, value: str, action: IndicatorAction) -> Indicator:
    meta = IndicatorMeta(
        kind=MatchKind.INDICATOR,
        source="#7",
        action=action,
        title="Test phishing",
        category="Phishing",
    )
    return Indicator(kind, value, meta)


INDEX = build_index(
    [
        (
            "custom",
            [
                indicator(IndicatorType.DOMAIN, "evil.example", IndicatorAction.BLOCK),
                indicator(IndicatorType.DOMAIN, "warned.example", IndicatorAction.WARN),
                indicator(IndicatorType.IP, "203.0.113.66", IndicatorAction.BLOCK),
            ],
        )
    ]
)
RECORDS = {
    "good.example": ["192.0.2.10", "2001:db8::10"],
    "parked.example": ["203.0.113.66"],
    "big.example": [f"192.0.2.{i}" for i in range(1, 80)],
}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run(
    test: Callable[[DnsListener, FakeUpstream], Awaitable[None]],
    *,
    upstream: FakeUpstream | None = None,
    **options: Any,
) -> None:
    up = upstream or FakeUpstream(RECORDS, ttl=300)

    async def main() -> None:
        listener = DnsListener(
            index=options.pop("index", lambda: INDEX),
            upstream=up.address,
            clock=lambda: NOW,
            upstream_timeout=options.pop("upstream_timeout", 2.0),
            **options,
        )
        port = await listener.start()
        assert port == listener.port and port > 0
        try:
            await test(listener, up)
        finally:
            await listener.stop()

    with up:
        asyncio.run(main())


async def udp(listener: DnsListener, name: str, qtype: str = "A", **kw: Any) -> dns.message.Message:
    q = dns.message.make_query(name, qtype, **kw)
    return await dns.asyncquery.udp(q, "127.0.0.1", port=listener.port, timeout=3)


async def tcp(listener: DnsListener, name: str, qtype: str = "A", **kw: Any) -> dns.message.Message:
    q = dns.message.make_query(name, qtype, **kw)
    return await dns.asyncquery.tcp(q, "127.0.0.1", port=listener.port, timeout=3)


def addresses(message: dns.message.Message) -> list[str]:
    return [r.address for rrset in message.answer for r in rrset if hasattr(r, "address")]


def test_blocked_names_get_the_block_address_over_udp_and_tcp_without_upstream() -> None:
    reports: list[Detection] = []

    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        for ask in (udp, tcp):
            a = await ask(listener, "www.evil.example")
            assert a.rcode() == dns.rcode.NOERROR and addresses(a) == ["0.0.0.0"]
            assert a.answer[0].ttl == 60
        aaaa = await udp(listener, "evil.example", "AAAA", use_edns=0)
        assert addresses(aaaa) == ["::"] and aaaa.edns == 0
        warned = await udp(listener, "warned.example")
        assert addresses(warned) == ["0.0.0.0"]  # Warn is a block at the DNS layer
        assert up.count() == 0

    run(test, on_detection=reports.append)
    # Retries of the same name within a minute: one report per detection key.
    assert [(d.category, d.title) for d in reports] == [
        ("Phishing", "Phishing warning: evil.example"),
        ("Phishing", "Phishing warning: warned.example"),
    ]
    evidence = dict(reports[0].evidence)
    assert evidence["channel"] == "dns" and evidence["url"] == "www.evil.example"


def test_nxdomain_mode_and_block_settings_come_from_the_callable() -> None:
    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        a = await udp(listener, "evil.example", "TXT")
        assert a.rcode() == dns.rcode.NXDOMAIN and a.authority[0].ttl == 5

    run(test, block=lambda: BlockAnswer(mode=BlockMode.NXDOMAIN, ttl=5))


def test_allowed_names_are_forwarded_once_then_served_from_the_cache() -> None:
    clock = Clock()

    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        first = await udp(listener, "good.example")
        assert addresses(first) == ["192.0.2.10"] and first.answer[0].ttl == 300
        clock.t += 100
        second = await tcp(listener, "GOOD.example")
        assert addresses(second) == ["192.0.2.10"] and second.answer[0].ttl == 200
        assert second.question[0].name.to_text() == "GOOD.example."
        assert up.count("good.example", "A") == 1
        six = await udp(listener, "good.example", "AAAA")
        assert addresses(six) == ["2001:db8::10"] and up.count("good.example", "AAAA") == 1
        clock.t += 300  # past the TTL: asked again
        await udp(listener, "good.example")
        assert up.count("good.example", "A") == 2
        missing = await udp(listener, "nothing.example")
        assert missing.rcode() == dns.rcode.NXDOMAIN

    run(test, monotonic=clock)


def test_a_listed_address_in_the_answer_blocks_the_name() -> None:
    reports: list[Detection] = []

    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        a = await udp(listener, "parked.example")
        assert addresses(a) == ["0.0.0.0"] and up.count("parked.example") == 1
        again = await udp(listener, "parked.example")  # from the cache, judged again
        assert addresses(again) == ["0.0.0.0"] and up.count("parked.example") == 1

    run(test, on_detection=reports.append)
    assert len(reports) == 1 and dict(reports[0].evidence)["url"] == "203.0.113.66"


def test_a_newly_synced_index_applies_to_the_next_query() -> None:
    current = {"index": WebIndex()}

    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        assert addresses(await udp(listener, "good.example")) == ["192.0.2.10"]
        current["index"] = build_index(
            [("custom", [indicator(IndicatorType.DOMAIN, "good.example", IndicatorAction.BLOCK)])]
        )
        assert addresses(await udp(listener, "good.example")) == ["0.0.0.0"]

    run(test, index=lambda: current["index"])


def test_offline_blocked_names_still_answer_and_others_get_servfail() -> None:
    silent = FakeUpstream(RECORDS, silent=True)

    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        assert addresses(await udp(listener, "evil.example")) == ["0.0.0.0"]
        failed = await udp(listener, "good.example")
        assert failed.rcode() == dns.rcode.SERVFAIL

    run(test, upstream=silent, upstream_timeout=0.3)


def test_a_truncated_upstream_answer_is_fetched_again_over_tcp() -> None:
    truncating = FakeUpstream(RECORDS, truncate_udp=True)

    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        a = await udp(listener, "good.example")
        assert addresses(a) == ["192.0.2.10"]
        assert up.transports["udp"] == 1 and up.transports["tcp"] == 1

    run(test, upstream=truncating)


def test_an_answer_too_big_for_udp_is_truncated_and_complete_over_tcp() -> None:
    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        small = await udp(listener, "big.example")
        assert small.flags & dns.flags.TC and not small.answer
        full = await tcp(listener, "big.example")
        assert len(addresses(full)) == 79
        # Upstream truncated it too: asked over UDP, then TCP; then served from the cache.
        assert (up.transports["udp"], up.transports["tcp"]) == (1, 1)
        edns = await udp(listener, "big.example", use_edns=0, payload=4096)
        assert len(addresses(edns)) == 79 and not edns.flags & dns.flags.TC
        assert up.count("big.example") == 2

    run(test)


def test_malformed_packets_get_formerr_or_nothing_and_the_listener_keeps_going() -> None:
    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            await loop.sock_connect(s, ("127.0.0.1", listener.port))
            await loop.sock_sendall(s, b"\xab\xcd\x01\x00\x00\x01garbage")
            reply = dns.message.from_wire(await asyncio.wait_for(loop.sock_recv(s, 512), 3))
            assert reply.id == 0xABCD and reply.rcode() == dns.rcode.FORMERR
            await loop.sock_sendall(s, b"\x01")  # no id to answer: silence
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(loop.sock_recv(s, 512), 0.3)
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(b"\x00\x03abc")  # an id, then nothing usable: FORMERR
        writer.write(b"\x00\x01a")  # not even an id: the connection is closed
        await writer.drain()
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        reply = dns.message.from_wire(await reader.readexactly(length))
        assert reply.id == 0x6162 and reply.rcode() == dns.rcode.FORMERR
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        assert addresses(await tcp(listener, "www.evil.example")) == ["0.0.0.0"]

    run(test)


def test_exclude_url_keeps_the_name_out_of_the_report() -> None:
    reports: list[Detection] = []

    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        await udp(listener, "login.evil.example")

    run(test, on_detection=reports.append, exclude_url=lambda: True)
    (detection,) = reports
    assert "evil.example" not in repr(detection)
    assert dict(detection.evidence)["decided_by"] == "indicator:#7"


def test_a_failing_callback_or_index_never_stops_the_listener() -> None:
    def broken_index() -> WebIndex:
        raise RuntimeError("index file corrupt")

    def broken_report(_d: Detection) -> None:
        raise RuntimeError("outbox full")

    async def test(listener: DnsListener, up: FakeUpstream) -> None:
        # The builtin pilot target is blocked even without an index.
        a = await udp(listener, "smartscreentestratings2.net")
        assert addresses(a) == ["0.0.0.0"]
        assert addresses(await udp(listener, "good.example")) == ["192.0.2.10"]

    run(test, index=broken_index, on_detection=broken_report)


def test_the_upstream_must_be_an_address() -> None:
    with pytest.raises(ValueError):
        DnsListener(index=WebIndex, upstream="resolver.example:53")
    listener = DnsListener(index=WebIndex, upstream="[::1]:5353")
    assert listener.upstream == ("::1", 5353)
    assert DnsListener(index=WebIndex, upstream="192.0.2.53").upstream == ("192.0.2.53", 53)
