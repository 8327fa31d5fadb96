"""A fake upstream resolver on loopback (UDP and TCP, one port) for protective-DNS tests.

It answers fixed A/AAAA records (and CNAMEs) with a fixed TTL, NXDOMAIN with an SOA for any
other name (unless `default` addresses are set, then every name resolves), and counts the
queries it receives, so that a test can tell a cached answer from a forwarded one.

    with FakeUpstream({"example.org": ["192.0.2.10", "2001:db8::10"]}, ttl=300) as up:
        ... Settings(dns_upstream=up.address) ...
        assert up.count("example.org", "A") == 1
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class FakeUpstream:
    def __init__(
        self,
        records: dict[str, Iterable[str]] | None = None,
        *,
        ttl: int = 300,
        cnames: dict[str, str] | None = None,
        default: Iterable[str] = (),
        truncate_udp: bool = False,
        silent: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.records = {k.lower().rstrip("."): list(v) for k, v in (records or {}).items()}
        self.cnames = {
            k.lower().rstrip("."): v.lower().rstrip(".") for k, v in (cnames or {}).items()
        }
        self.default = list(default)
        self.ttl = ttl
        self.truncate_udp = truncate_udp  # every UDP answer has TC set: clients must use TCP
        self.silent = silent  # never answer: clients time out
        self.host = host
        self.queries: Counter[tuple[str, str]] = Counter()
        self.transports: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.udp, self.tcp = self._bind()
        self.port: int = self.udp.getsockname()[1]

    # -- lifecycle ----------------------------------------------------------------------

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(50):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((self.host, 0))
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(64)
            return udp, tcp
        raise RuntimeError("no free port for both UDP and TCP")

    @property
    def address(self) -> str:
        """host:port, as Settings.dns_upstream takes it."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{shown}:{self.port}"

    def start(self) -> FakeUpstream:
        self.udp.settimeout(0.1)
        self.tcp.settimeout(0.1)
        for target in (self._serve_udp, self._serve_tcp):
            t = threading.Thread(target=target, name=f"dnsfake-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self.udp.close()
        self.tcp.close()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- counting -----------------------------------------------------------------------

    def count(self, name: str | None = None, qtype: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (qname, t), n in self.queries.items()
                if (name is None or qname == name.lower().rstrip("."))
                and (qtype is None or t == qtype)
            )

    # -- answering ----------------------------------------------------------------------

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 - a fake: ignore what it cannot read
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        qtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries[(name, qtype)] += 1
            self.transports[transport] += 1
        if self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if transport == "udp" and self.truncate_udp:
            return self._truncated(response)
        target = name
        if target in self.cnames:
            alias = self.cnames[target]
            response.answer.append(
                dns.rrset.from_text(question.name, self.ttl, "IN", "CNAME", alias + ".")
            )
            target = alias
        addresses = self.records.get(target)
        if addresses is None and self.default:
            addresses = self.default
        if addresses is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self._soa())
            return response.to_wire()
        want = 4 if question.rdtype == dns.rdatatype.A else 6
        matching = [
            a
            for a in addresses
            if question.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            and ipaddress.ip_address(a).version == want
        ]
        if matching:
            response.answer.append(
                dns.rrset.from_text(
                    target + ".", self.ttl, "IN", dns.rdatatype.to_text(question.rdtype), *matching
                )
            )
        elif not response.answer:
            response.authority.append(self._soa())  # NODATA
        if transport == "udp":
            limit = max(query.payload, 512) if query.edns >= 0 else 512
            try:
                return response.to_wire(max_size=limit)
            except dns.exception.TooBig:
                return self._truncated(response)
        return response.to_wire(max_size=65535)

    @staticmethod
    def _truncated(response: dns.message.Message) -> bytes:
        response.answer.clear()
        response.authority.clear()
        response.additional.clear()
        response.flags |= dns.flags.TC
        return response.to_wire()

    def _soa(self) -> Any:
        return dns.rrset.from_text(
            "test.", self.ttl, "IN", "SOA", "ns.test. hostmaster.test. 1 3600 600 86400 60"
        )

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            response = self.answer(wire, "udp")
            if response is not None:
                with contextlib.suppress(OSError):
                    self.udp.sendto(response, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _peer = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._tcp_connection, args=(conn,), daemon=True).start()

    def _tcp_connection(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with conn:
            while not self._stop.is_set():
                try:
                    header = _recv_exactly(conn, 2)
                    if header is None:
                        return
                    body = _recv_exactly(conn, struct.unpack("!H", header)[0])
                    if body is None:
                        return
                except OSError:
                    return
                response = self.answer(body, "tcp")
                if response is None:
                    continue
                try:
                    conn.sendall(struct.pack("!H", len(response)) + response)
                except OSError:
                    return


def _recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve_forever(records: dict[str, list[str]], ttl: int, default: list[str], ready: Any) -> None:
    """Entry point for a separate process (bench/doh.py): reports its address, then serves."""
    up = FakeUpstream(records, ttl=ttl, default=default).start()
    ready.put(up.address)
    threading.Event().wait()
