"""Protective DNS, without I/O: parse a query, judge its name, answer a block, cache answers.

The same engine serves DNS-over-HTTPS on the server and the agent's local listener; each edge
does its own sockets and hands bytes in and out. The flow for one query:

1. `parse_query(wire)`: a `DnsQuery`, or a `DnsRejection` that says why it cannot be answered
   (with the FORMERR/NOTIMP/REFUSED response to send when one can be sent). Never raises.
2. `DnsFilter.start(...)`: the query name is judged (`decide`); a blocked name gets a
   synthesized answer at once, an allowed one is answered from the cache or needs upstream.
3. The edge forwards `upstream_query(query)` to its resolver, then `DnsFilter.finish(...)`
   caches the answer and checks the addresses and aliases in it against the indicators (an IP
   indicator blocks a name whose answer points at a listed address).

How a block is answered (the policy's `dns` section, `BlockAnswer` here):
- block mode "address": A and AAAA queries get the block address (0.0.0.0 / :: by default) with
  the blocked TTL; every other type gets NODATA (NOERROR, no answer), so that a browser asking
  for HTTPS/SVCB records falls back to the addresses;
- block mode "nxdomain": NXDOMAIN for every type;
- negative block answers carry a synthetic SOA whose TTL and MINIMUM are the blocked TTL, so
  clients cache them exactly as long as a positive block answer.

Warn is blocked at the DNS layer too: DNS cannot show a warning page and let the user click
through, so the safe reading of "warn" is "do not resolve". (The agent's proxy, which sees
HTTP, shows the warning page instead.) Allow, Audit and "nothing matched" are forwarded; Audit
verdicts are still returned as the decision so that the edge can record them.

Answers are handled at the wire level (header, question splice, TTL patching) rather than by
re-rendering dnspython messages: a cache hit then costs a few microseconds, not a parse and a
render (dnspython takes ~40 us to parse a query and ~150 us for a response). dnspython parses
whatever the fast path does not accept, so unusual but valid queries are still served.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import struct
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import StrEnum

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rdatatype

from openmtd.domain.web import IndicatorAction, MatchKind, WebVerdict

Judge = Callable[[str], WebVerdict]

MAX_MESSAGE = 65_535  # the largest DNS message (TCP length prefix, RFC 8484 POST limit)
EDNS_PAYLOAD = 1232  # what we advertise and ask upstream for (the DNS flag day 2020 value)
MAX_CACHE_TTL = 86_400  # an answer stays in the cache at most a day, whatever its TTL says
_UDP_DEFAULT = 512

# Header flags.
_QR = 0x8000
_AA = 0x0400
_TC = 0x0200
_RD = 0x0100
_RA = 0x0080
_AD = 0x0020
_CD = 0x0010
_OPCODE_MASK = 0x7800
_DO = 0x8000  # in the OPT record's TTL field

# Response codes.
NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
BADVERS = 16  # extended: upper 8 bits go in the OPT record

# Record types the engine looks at.
_A = 1
_CNAME = 5
_SOA = 6
_OPT = 41
_AAAA = 28
_DNAME = 39
_REFUSED_QTYPES = frozenset({_OPT, 251, 252, 253, 254})  # OPT, IXFR, AXFR, MAILB, MAILA
_CLASS_IN = 1

_HEADER = struct.Struct("!6H")
_TYPE_CLASS = struct.Struct("!HH")
_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, rdata length
_U32 = struct.Struct("!I")
_QNAME_POINTER = b"\xc0\x0c"  # a compression pointer to the question name (offset 12)
# The synthetic SOA of negative block answers: MNAME openmtd.invalid. and RNAME
# blocked.openmtd.invalid. (RFC 6761: .invalid never exists), serial 1, refresh, retry, expire.
_SOA_MNAME = b"\x07openmtd\x07invalid\x00"
_SOA_TIMERS = struct.Struct("!5I")


_DEFAULT_V4 = ipaddress.IPv4Address("0.0.0.0")
_DEFAULT_V6 = ipaddress.IPv6Address("::")


class BlockMode(StrEnum):
    ADDRESS = "address"
    NXDOMAIN = "nxdomain"


@dataclass(frozen=True, slots=True)
class BlockAnswer:
    """How a blocked name is answered (the web policy's `dns` section, validated)."""

    mode: BlockMode = BlockMode.ADDRESS
    ipv4: ipaddress.IPv4Address = _DEFAULT_V4
    ipv6: ipaddress.IPv6Address = _DEFAULT_V6
    ttl: int = 60

    def __post_init__(self) -> None:
        if not 0 <= self.ttl <= MAX_CACHE_TTL:
            raise ValueError(f"blocked TTL {self.ttl} is outside 0..{MAX_CACHE_TTL}")

    @classmethod
    def of(cls, mode: str, ipv4: str, ipv6: str, ttl: int) -> BlockAnswer:
        """From the policy's strings; an address that does not parse falls back to the default
        (a policy must never stop DNS from answering)."""
        try:
            v4 = ipaddress.IPv4Address(ipv4)
        except ValueError:
            v4 = _DEFAULT_V4
        try:
            v6 = ipaddress.IPv6Address(ipv6)
        except ValueError:
            v6 = _DEFAULT_V6
        return cls(BlockMode(mode), v4, v6, max(0, min(ttl, MAX_CACHE_TTL)))


# -- queries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnsQuery:
    """One question from a client, with what an answer must echo back."""

    id: int
    flags: int  # the client's header flags
    name: str  # lower-case text without the final dot; "" for the root
    qtype: int
    qclass: int
    question: bytes  # the question section as the client wrote it (case kept, uncompressed)
    edns: bool  # the client sent an OPT record (EDNS version 0)
    payload: int  # the client's UDP payload size (512 without EDNS)
    dnssec_ok: bool
    host: bool  # the name is a plain host name that can be judged

    @property
    def type_name(self) -> str:
        return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(self.qtype))

    @property
    def cache_key(self) -> tuple[bytes, int, int, bool]:
        """(name, type, class, DO): case-insensitive. Length bytes are < 64, never A-Z."""
        return (self.question[:-4].lower(), self.qtype, self.qclass, self.dnssec_ok)


@dataclass(frozen=True, slots=True)
class DnsRejection:
    """A packet that is not a query this resolver answers, and why.

    `response` is what to send back (FORMERR for a malformed query whose id could be read,
    NOTIMP for another opcode, REFUSED for zone transfers, BADVERS for EDNS > 0); None when
    nothing should be sent (too short to read an id, or a response rather than a query).
    `malformed` tells the DoH endpoint to answer HTTP 400 instead.
    """

    reason: str
    response: bytes | None
    malformed: bool = True


def parse_query(wire: bytes) -> DnsQuery | DnsRejection:
    """Parse a client's query. Never raises: anything unusable becomes a DnsRejection."""
    if len(wire) > MAX_MESSAGE:
        return DnsRejection(f"message of {len(wire)} bytes exceeds {MAX_MESSAGE}", None)
    try:
        fast = _fast_query(wire)
    except (IndexError, struct.error):  # pragma: no cover - _fast_query checks its bounds
        fast = None
    if fast is not None:
        return fast
    return _slow_query(wire)


# A label of printable ASCII without "." and "\\" (which would need escaping in text form).
_PLAIN_LABEL = re.compile(rb"[\x21-\x2d\x2f-\x5b\x5d-\x7e]*")


def _labels_text(labels: list[bytes]) -> tuple[str, bool]:
    """The name as text and whether it is a plain host name (printable, no dots or escapes)."""
    plain = _PLAIN_LABEL.fullmatch
    for label in labels:
        if plain(label) is None:
            return _escaped(labels), False
    return b".".join(labels).decode("ascii").lower(), True


def _escaped(labels: list[bytes]) -> str:
    """Presentation form of odd labels, as dig prints them (\\DDD for unprintable bytes)."""
    out = []
    for label in labels:
        text = "".join(
            chr(b)
            if 0x21 <= b < 0x7F and b not in (0x2E, 0x5C, 0x22, 0x28, 0x29, 0x3B, 0x40, 0x24)
            else ("\\" + chr(b) if 0x21 <= b < 0x7F else f"\\{b:03d}")
            for b in label
        )
        out.append(text)
    return ".".join(out).lower()


def _fast_query(wire: bytes) -> DnsQuery | None:
    """The shape every stub resolver and browser sends: one question, at most one OPT record
    (EDNS version 0, options skipped). Anything else returns None (dnspython decides)."""
    size = len(wire)
    if size < 17:  # header, root name, type and class
        return None
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    if flags & (_QR | _OPCODE_MASK) or qdcount != 1 or ancount or nscount or arcount > 1:
        return None
    pos = 12
    labels: list[bytes] = []
    while True:
        if pos >= size:
            return None
        length = wire[pos]
        if length == 0:
            pos += 1
            break
        if length > 63:  # a compression pointer or an extended label type
            return None
        end = pos + 1 + length
        if end > size or end - 12 > 254:
            return None
        labels.append(wire[pos + 1 : end])
        pos = end
    if pos + 4 > size:
        return None
    qtype, qclass = _TYPE_CLASS.unpack_from(wire, pos)
    question_end = pos + 4
    edns = False
    payload = _UDP_DEFAULT
    dnssec_ok = False
    if arcount:
        opt = question_end
        if opt + 11 > size or wire[opt] != 0:
            return None
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(wire, opt + 1)
        if rtype != _OPT or (ttl >> 16) & 0xFF != 0 or opt + 11 + rdlen != size:
            return None
        if not _options_fit(wire, opt + 11, size):
            return None
        edns = True
        payload = max(rclass, _UDP_DEFAULT)
        dnssec_ok = bool(ttl & _DO)
    elif question_end != size:
        return None
    name, host = _labels_text(labels)
    return DnsQuery(
        id=qid,
        flags=flags,
        name=name,
        qtype=qtype,
        qclass=qclass,
        question=bytes(wire[12:question_end]),
        edns=edns,
        payload=payload,
        dnssec_ok=dnssec_ok,
        host=host,
    )


def _options_fit(wire: bytes, pos: int, end: int) -> bool:
    """EDNS options are (code, length, data) triples that exactly fill the OPT rdata."""
    while pos < end:
        if pos + 4 > end:
            return False
        pos += 4 + int.from_bytes(wire[pos + 2 : pos + 4], "big")
    return pos == end


def _slow_query(wire: bytes) -> DnsQuery | DnsRejection:
    """dnspython's full parser for everything the fast path left: a valid query of an unusual
    shape is served; anything else is rejected with the reason and the right response code."""
    try:
        message = dns.message.from_wire(wire)
    except dns.message.UnknownTSIGKey:
        return DnsRejection("TSIG-signed queries are not supported", _header_only(wire, REFUSED))
    except dns.message.BadEDNS as e:
        return DnsRejection(f"bad EDNS record: {e}", _header_only(wire, FORMERR))
    except Exception as e:  # noqa: BLE001 - any parse failure of untrusted bytes is a FORMERR
        reason = str(e) or type(e).__name__
        return DnsRejection(f"malformed DNS message: {reason}", _header_only(wire, FORMERR))
    if message.flags & dns.flags.QR:
        return DnsRejection("a DNS response, not a query", None)
    if message.opcode() != dns.opcode.QUERY:
        opcode = dns.opcode.to_text(message.opcode())
        return DnsRejection(
            f"opcode {opcode} is not supported", _header_only(wire, NOTIMP), malformed=False
        )
    if len(message.question) != 1:
        return DnsRejection(
            f"a query must ask one question, not {len(message.question)}",
            _header_only(wire, FORMERR),
        )
    if message.edns > 0:
        return DnsRejection(
            f"EDNS version {message.edns} is not supported",
            _badvers(wire, message),
            malformed=False,
        )
    rrset = message.question[0]
    name_wire = rrset.name.to_wire() or b""
    labels = [bytes(label) for label in rrset.name.labels if label]
    name, host = _labels_text(labels)
    return DnsQuery(
        id=message.id,
        flags=message.flags,
        name=name,
        qtype=int(rrset.rdtype),
        qclass=int(rrset.rdclass),
        question=name_wire + _TYPE_CLASS.pack(rrset.rdtype, rrset.rdclass),
        edns=message.edns == 0,
        payload=max(message.payload, _UDP_DEFAULT) if message.edns == 0 else _UDP_DEFAULT,
        dnssec_ok=bool(message.ednsflags & dns.flags.DO),
        host=host,
    )


def _header_only(wire: bytes, rcode: int) -> bytes | None:
    """A bare response (no sections) echoing the id and opcode, or None when the packet is too
    short to have an id, or is itself a response (answering one could start a loop)."""
    if len(wire) < 2:
        return None
    flags = int.from_bytes(wire[2:4], "big") if len(wire) >= 4 else 0
    if flags & _QR:
        return None
    out = _QR | (flags & (_OPCODE_MASK | _RD | _CD)) | _RA | rcode
    return wire[:2] + _HEADER.pack(0, out, 0, 0, 0, 0)[2:]


def _badvers(wire: bytes, message: dns.message.Message) -> bytes:
    flags = _QR | (message.flags & (_RD | _CD)) | _RA
    return (
        wire[:2]
        + _HEADER.pack(0, flags, 0, 0, 0, 1)[2:]
        + _opt_record(BADVERS >> 4, dnssec_ok=False)
    )


def _opt_record(ext_rcode: int, *, dnssec_ok: bool) -> bytes:
    ttl = (ext_rcode & 0xFF) << 24 | (_DO if dnssec_ok else 0)
    return b"\x00" + _RR_FIXED.pack(_OPT, EDNS_PAYLOAD, ttl, 0)


# -- decisions ----------------------------------------------------------------------------


class DnsAction(StrEnum):
    FORWARD = "forward"  # resolve as usual (from the cache or upstream)
    BLOCK = "block"  # answer with the synthesized block response


@dataclass(frozen=True, slots=True)
class DnsDecision:
    """What to do with a query or an upstream answer, and which verdict decided.

    `verdict` is set whenever something matched (a block, a warning, an audit): the edge turns
    it into a detection. `subject` is what was judged: the name, or an address or alias found
    in the upstream answer.
    """

    action: DnsAction
    verdict: WebVerdict | None = None
    subject: str = ""
    response: bytes = b""  # the block response (action BLOCK)

    @property
    def blocked(self) -> bool:
        return self.action is DnsAction.BLOCK

    @property
    def reportable(self) -> bool:
        v = self.verdict
        return v is not None and v.action is not None and v.action is not IndicatorAction.ALLOW

    @property
    def explanation(self) -> str:
        if self.verdict is None:
            return f"{self.subject or '(root)'}: nothing matched; resolved as usual"
        verb = "blocked at DNS" if self.blocked else "resolved"
        return f"{verb}: {self.verdict.explanation}"


FORWARD = DnsDecision(DnsAction.FORWARD)


def _stops(verdict: WebVerdict) -> bool:
    """Block and Warn stop a name at the DNS layer (no warning page can be shown there)."""
    return verdict.action in (IndicatorAction.BLOCK, IndicatorAction.WARN)


def _heuristic(verdict: WebVerdict) -> bool:
    return verdict.decision is not None and verdict.decision.meta.kind is MatchKind.HEURISTIC


def decide(query: DnsQuery, judge: Judge, *, block: BlockAnswer) -> DnsDecision:
    """Judge the query name: a block response for Block and Warn, else forward."""
    if not query.host:
        return FORWARD  # not a host name (root, escaped bytes): a clean verdict
    verdict = judge(query.name)
    if _stops(verdict):
        return DnsDecision(DnsAction.BLOCK, verdict, query.name, block_response(query, block))
    if verdict.action is None or verdict.action is IndicatorAction.ALLOW:
        return DnsDecision(DnsAction.FORWARD, None, query.name)
    return DnsDecision(DnsAction.FORWARD, verdict, query.name)


def check_answer(
    query: DnsQuery, answer: UpstreamAnswer, judge: Judge, *, block: BlockAnswer
) -> DnsDecision:
    """Judge the aliases (CNAME/DNAME targets) and addresses in an upstream answer.

    A listed address or alias turns the answer into a block response: an IP indicator protects
    every name that resolves to it, and a CNAME to a listed domain cannot launder it.
    """
    audited: DnsDecision | None = None
    for subject in (*answer.aliases, *answer.addresses):
        verdict = judge(subject)
        if _heuristic(verdict):
            continue  # lookalike heuristics judge names people type, not a CDN's alias names
        if _stops(verdict):
            return DnsDecision(DnsAction.BLOCK, verdict, subject, block_response(query, block))
        if audited is None and verdict.action is IndicatorAction.AUDIT:
            audited = DnsDecision(DnsAction.FORWARD, verdict, subject)
    return audited or FORWARD


# -- responses ----------------------------------------------------------------------------


def _response_header(query: DnsQuery, rcode: int, counts: tuple[int, int, int]) -> bytes:
    flags = _QR | (query.flags & (_RD | _CD)) | _RA | (rcode & 0xF)
    an, ns, ar = counts
    return _HEADER.pack(query.id, flags, 1, an, ns, ar + (1 if query.edns else 0))


def _edns_tail(query: DnsQuery, rcode: int = 0) -> bytes:
    return _opt_record(rcode >> 4, dnssec_ok=query.dnssec_ok) if query.edns else b""


def block_response(query: DnsQuery, block: BlockAnswer) -> bytes:
    """The synthesized answer for a blocked name (see the module docstring)."""
    ttl = block.ttl
    if block.mode is BlockMode.ADDRESS and query.qclass == _CLASS_IN:
        if query.qtype == _A:
            record = _QNAME_POINTER + _RR_FIXED.pack(_A, _CLASS_IN, ttl, 4) + block.ipv4.packed
            return (
                _response_header(query, NOERROR, (1, 0, 0))
                + query.question
                + record
                + _edns_tail(query)
            )
        if query.qtype == _AAAA:
            record = _QNAME_POINTER + _RR_FIXED.pack(_AAAA, _CLASS_IN, ttl, 16) + block.ipv6.packed
            return (
                _response_header(query, NOERROR, (1, 0, 0))
                + query.question
                + record
                + _edns_tail(query)
            )
    rcode = NXDOMAIN if block.mode is BlockMode.NXDOMAIN else NOERROR
    mname_at = 12 + len(query.question) + 12  # after the question and the SOA's fixed part
    rdata = (
        _SOA_MNAME
        + b"\x07blocked"
        + (0xC000 | mname_at).to_bytes(2, "big")
        + _SOA_TIMERS.pack(1, 3600, 600, 86_400, ttl)
    )
    soa = _QNAME_POINTER + _RR_FIXED.pack(_SOA, query.qclass, ttl, len(rdata)) + rdata
    return _response_header(query, rcode, (0, 1, 0)) + query.question + soa + _edns_tail(query)


def error_response(query: DnsQuery, rcode: int) -> bytes:
    """An empty answer with this code (SERVFAIL when upstream fails, REFUSED ...)."""
    return _response_header(query, rcode, (0, 0, 0)) + query.question + _edns_tail(query, rcode)


def refusal(query: DnsQuery) -> DnsRejection | None:
    """Queries this resolver never forwards: zone transfers and meta types."""
    if query.qtype in _REFUSED_QTYPES:
        return DnsRejection(
            f"{query.type_name} queries are refused", error_response(query, REFUSED), False
        )
    return None


def fit_udp(query: DnsQuery, response: bytes) -> bytes:
    """Over UDP, an answer larger than the client's payload size becomes a truncated one (TC
    set, no records) so that the client retries over TCP."""
    if len(response) <= query.payload:
        return response
    flags = int.from_bytes(response[2:4], "big") | _TC
    header = _HEADER.pack(query.id, flags, 1, 0, 0, 1 if query.edns else 0)
    return header + query.question + _edns_tail(query)


def upstream_query(query: DnsQuery, qid: int) -> dns.message.Message:
    """The query to send upstream: the client's question with recursion desired, our own EDNS
    (payload 1232, DO as the client asked) and CD as the client set it. The answer is cached for
    every client asking the same (name, type, class, DO), so no client option is passed on."""
    name, _ = dns.name.from_wire(query.question, 0)
    message = dns.message.make_query(
        name,
        dns.rdatatype.RdataType.make(query.qtype),
        dns.rdataclass.RdataClass.make(query.qclass),
        use_edns=0,
        payload=EDNS_PAYLOAD,
        want_dnssec=query.dnssec_ok,
        id=qid,
    )
    if query.flags & _CD:
        message.flags |= dns.flags.CD
    return message


# -- upstream answers ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    """An upstream response, taken apart once so that it can be re-served cheaply.

    `records` is the wire after the question section, without the OPT record; `ttl_offsets`
    are absolute positions of each record's TTL in a response built as header (12 bytes),
    question (`question_length` bytes), records. Compression pointers in `records` stay valid
    in every such response, because the question always has the same length (the same name,
    whatever its letter case).
    """

    flags: int
    rcode: int  # including the extended bits from the OPT record
    counts: tuple[int, int, int]  # answer, authority, additional (OPT not counted)
    question_length: int
    records: bytes
    ttl_offsets: tuple[int, ...]
    ttls: tuple[int, ...]
    cache_ttl: int  # seconds this answer may be cached (0: not at all)
    addresses: tuple[str, ...]  # A and AAAA data in the answer section
    aliases: tuple[str, ...]  # CNAME and DNAME targets in the answer section

    @classmethod
    def from_message(cls, message: dns.message.Message) -> UpstreamAnswer | None:
        try:
            wire = message.to_wire()
        except dns.exception.DNSException:
            return None
        return cls.from_wire(wire)

    @classmethod
    def from_wire(cls, wire: bytes) -> UpstreamAnswer | None:
        """None when the response cannot be taken apart (then the edge answers SERVFAIL)."""
        try:
            return _walk_response(wire)
        except (IndexError, struct.error, ValueError):
            return None

    def remaining_ttl(self, age: int) -> int:
        return max(self.cache_ttl - age, 0)


def _skip_name(wire: bytes, pos: int) -> int:
    """The position after the name at `pos` (a pointer ends a name)."""
    while True:
        length = wire[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 2 > len(wire):
                raise IndexError("pointer past the end")
            return pos + 2
        if length > 63:
            raise ValueError("extended label type")
        pos += 1 + length


def _read_name(wire: bytes, pos: int) -> str:
    """A (possibly compressed) name as lower-case text; ValueError when it is not a host."""
    labels: list[bytes] = []
    hops = 0
    total = 0
    while True:
        length = wire[pos]
        if length == 0:
            break
        if length & 0xC0 == 0xC0:
            target = ((length & 0x3F) << 8) | wire[pos + 1]
            hops += 1
            if target >= pos or hops > 64:
                raise ValueError("bad compression pointer")
            pos = target
            continue
        if length > 63:
            raise ValueError("extended label type")
        label = wire[pos + 1 : pos + 1 + length]
        if len(label) != length:
            raise IndexError("label past the end")
        total += length + 1
        if total > 255:
            raise ValueError("name too long")
        labels.append(label)
        pos += 1 + length
    text, host = _labels_text(labels)
    if not host:
        raise ValueError("not a host name")
    return text


def _walk_response(wire: bytes) -> UpstreamAnswer | None:
    _qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    if qdcount != 1:
        return None
    pos = _skip_name(wire, 12) + 4
    question_length = pos - 12
    records_start = pos
    records_end = len(wire)
    ext_rcode = 0
    opt_seen = False
    offsets: list[int] = []
    ttls: list[int] = []
    addresses: list[str] = []
    aliases: list[str] = []
    soa_minimum: int | None = None
    counts = [ancount, nscount, arcount]
    for section, count in enumerate((ancount, nscount, arcount)):
        for _ in range(count):
            start = pos
            pos = _skip_name(wire, pos)
            rtype, _rclass, ttl, rdlen = _RR_FIXED.unpack_from(wire, pos)
            rdata = pos + 10
            end = rdata + rdlen
            if end > len(wire):
                return None
            if rtype == _OPT:
                if opt_seen or section != 2 or end != len(wire):
                    return None  # an OPT record must be the last one (dnspython renders so)
                opt_seen = True
                ext_rcode = ttl >> 24
                records_end = start
                counts[2] -= 1
                break
            if ttl & 0x80000000:  # RFC 2181: a TTL with the top bit set means zero
                ttl = 0
            offsets.append(pos + 4)
            ttls.append(ttl)
            if section == 0:
                if rtype == _A and rdlen == 4:
                    addresses.append(str(ipaddress.IPv4Address(wire[rdata:end])))
                elif rtype == _AAAA and rdlen == 16:
                    addresses.append(str(ipaddress.IPv6Address(wire[rdata:end])))
                elif rtype in (_CNAME, _DNAME):
                    # An alias that is not a host name cannot match an indicator.
                    with contextlib.suppress(ValueError):
                        aliases.append(_read_name(wire, rdata))
            elif section == 1 and rtype == _SOA and rdlen >= 22:
                soa_minimum = _U32.unpack_from(wire, end - 4)[0]
            pos = end
    if not opt_seen and pos != len(wire):
        return None  # trailing bytes
    rcode = (ext_rcode << 4) | (flags & 0xF)
    cache_ttl = _cache_ttl(rcode, ancount, ttls, soa_minimum)
    return UpstreamAnswer(
        flags=flags,
        rcode=rcode,
        counts=(counts[0], counts[1], counts[2]),
        question_length=question_length,
        records=bytes(wire[records_start:records_end]),
        ttl_offsets=tuple(offsets),
        ttls=tuple(ttls),
        cache_ttl=cache_ttl,
        addresses=tuple(addresses),
        aliases=tuple(aliases),
    )


def _cache_ttl(rcode: int, ancount: int, ttls: list[int], soa_minimum: int | None) -> int:
    """The minimum TTL of the records; negative answers (NXDOMAIN, NODATA) by RFC 2308, and
    only with an SOA. Errors (SERVFAIL, REFUSED ...) and truncated answers are not cached."""
    if rcode not in (NOERROR, NXDOMAIN):
        return 0
    negative = rcode == NXDOMAIN or ancount == 0
    if negative:
        if soa_minimum is None:
            return 0
        ttl = min([*ttls, soa_minimum])
    else:
        ttl = min(ttls) if ttls else 0
    return max(0, min(ttl, MAX_CACHE_TTL))


def render_answer(query: DnsQuery, answer: UpstreamAnswer, age: int = 0) -> bytes:
    """The upstream answer for this client: its id, its question (letter case kept), its EDNS,
    every TTL less `age` seconds."""
    if len(query.question) != answer.question_length:
        raise ValueError("the answer is for another question")
    flags = (
        _QR
        | (query.flags & (_RD | _CD))
        | _RA
        | (answer.flags & (_AA | _TC))
        | (answer.rcode & 0xF)
    )
    if query.dnssec_ok or query.flags & _AD:
        flags |= answer.flags & _AD  # RFC 6840 5.8: AD only to clients that show they want it
    an, ns, ar = answer.counts
    header = _HEADER.pack(query.id, flags, 1, an, ns, ar + (1 if query.edns else 0))
    out = bytearray(header)
    out += query.question
    out += answer.records
    if age > 0:
        for offset, ttl in zip(answer.ttl_offsets, answer.ttls, strict=True):
            _U32.pack_into(out, offset, max(ttl - age, 0))
    else:
        for offset, ttl in zip(answer.ttl_offsets, answer.ttls, strict=True):
            _U32.pack_into(out, offset, ttl)
    if query.edns:
        out += _opt_record(answer.rcode >> 4, dnssec_ok=query.dnssec_ok)
    return bytes(out)


# -- the cache ----------------------------------------------------------------------------

CacheKey = tuple[bytes, int, int, bool]


@dataclass(slots=True)
class _Entry:
    answer: UpstreamAnswer
    stored_at: float
    expires_at: float


class DnsCache:
    """Upstream answers by (name, type, class, DO), LRU-bounded, expiring by their TTL.

    `now` is a monotonic time in seconds, passed in. A hit returns the answer and its age in
    whole seconds; rendering subtracts the age from every TTL.
    """

    __slots__ = ("_entries", "hits", "max_entries", "misses")

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(0, max_entries)
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey, now: float) -> tuple[UpstreamAnswer, int] | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if now >= entry.expires_at:
            del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.answer, max(0, int(now - entry.stored_at))

    def put(self, key: CacheKey, answer: UpstreamAnswer, now: float) -> bool:
        """Store a cacheable answer; False when it is not (TTL 0, error, cache disabled)."""
        if answer.cache_ttl <= 0 or self.max_entries == 0 or answer.flags & _TC:
            return False
        self._entries[key] = _Entry(answer, now, now + answer.cache_ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    def clear(self) -> None:
        self._entries.clear()


# -- the flow -----------------------------------------------------------------------------


class Source(StrEnum):
    BLOCKED = "blocked"
    CACHE = "cache"
    UPSTREAM = "upstream"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Answered:
    """The response to send, why, and how long a DoH client may cache it."""

    response: bytes
    decision: DnsDecision
    source: Source
    max_age: int


@dataclass(frozen=True, slots=True)
class NeedUpstream:
    """The edge must ask upstream, then call `DnsFilter.finish` with the answer."""

    query: DnsQuery
    decision: DnsDecision  # the name's decision (FORWARD, maybe with an Audit verdict)


@dataclass(slots=True)
class DnsFilter:
    """The per-query flow over a shared cache; the edge does the I/O in between."""

    cache: DnsCache = field(default_factory=lambda: DnsCache(10_000))

    def start(
        self, query: DnsQuery, *, judge: Judge, block: BlockAnswer, now: float
    ) -> Answered | NeedUpstream:
        refused = refusal(query)
        if refused is not None and refused.response is not None:
            return Answered(refused.response, FORWARD, Source.ERROR, 0)
        decision = decide(query, judge, block=block)
        if decision.blocked:
            return Answered(decision.response, decision, Source.BLOCKED, block.ttl)
        hit = self.cache.get(query.cache_key, now)
        if hit is None:
            return NeedUpstream(query, decision)
        answer, age = hit
        return self._serve(query, answer, age, decision, judge, block, Source.CACHE)

    def finish(
        self,
        step: NeedUpstream,
        answer: UpstreamAnswer | None,
        *,
        judge: Judge,
        block: BlockAnswer,
        now: float,
    ) -> Answered:
        """`answer` None: upstream failed (timeout, unreachable, unusable response)."""
        query = step.query
        if answer is None or answer.question_length != len(query.question):
            return Answered(error_response(query, SERVFAIL), step.decision, Source.ERROR, 0)
        self.cache.put(query.cache_key, answer, now)
        return self._serve(query, answer, 0, step.decision, judge, block, Source.UPSTREAM)

    @staticmethod
    def _serve(
        query: DnsQuery,
        answer: UpstreamAnswer,
        age: int,
        decision: DnsDecision,
        judge: Judge,
        block: BlockAnswer,
        source: Source,
    ) -> Answered:
        checked = check_answer(query, answer, judge, block=block)
        if checked.blocked:
            return Answered(checked.response, checked, Source.BLOCKED, block.ttl)
        reported = decision if decision.reportable else checked
        return Answered(
            render_answer(query, answer, age), reported, source, answer.remaining_ttl(age)
        )


# -- verdict memo -------------------------------------------------------------------------


class VerdictMemo:
    """Recent verdicts by (subject, device groups), for one index.

    Judging a name costs tens of microseconds (canonical form, layers, lookalike heuristics),
    more than the rest of a cached answer; a resolver sees the same few names over and over.
    A verdict is reused for `ttl` seconds (monotonic), so an indicator's expiry takes effect up
    to that much later; a new index (a sync, an edit) starts a new memo at once.
    """

    __slots__ = ("_entries", "_index", "max_entries", "ttl")

    def __init__(self, ttl: float = 2.0, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._index: object = None
        self._entries: dict[tuple[str, frozenset[str] | None], tuple[float, WebVerdict]] = {}

    def judge(
        self,
        index: object,
        groups: frozenset[str] | None,
        now: float,
        judge: Judge,
    ) -> Judge:
        """A judge for one query: `judge` through the memo. `index` is the index `judge` uses
        (compared by identity)."""
        if index is not self._index:
            self._index = index
            self._entries = {}
        entries = self._entries

        def memoized(subject: str) -> WebVerdict:
            key = (subject, groups)
            found = entries.get(key)
            if found is not None and found[0] > now:
                return found[1]
            verdict = judge(subject)
            if len(entries) >= self.max_entries:
                entries.clear()
            entries[key] = (now + self.ttl, verdict)
            return verdict

        return memoized


# -- reporting ----------------------------------------------------------------------------


class ReportLimiter:
    """At most one report per key (device and detection) per window: a browser retrying a
    blocked name many times a second must not write as many alerts."""

    __slots__ = ("_last", "max_keys", "window")

    def __init__(self, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.window = window
        self.max_keys = max_keys
        self._last: dict[Hashable, float] = {}

    def allow(self, key: Hashable, now: float) -> bool:
        last = self._last.get(key)
        if last is not None and now - last < self.window:
            return False
        self._last.pop(key, None)
        self._last[key] = now  # re-inserted: the dict stays ordered by time
        if len(self._last) > self.max_keys:
            self._prune(now)
        return True

    def _prune(self, now: float) -> None:
        for key in list(self._last):
            if now - self._last[key] < self.window and len(self._last) <= self.max_keys:
                break
            del self._last[key]


__all__ = [
    "BlockAnswer",
    "BlockMode",
    "DnsAction",
    "DnsCache",
    "DnsDecision",
    "DnsFilter",
    "DnsQuery",
    "DnsRejection",
    "NeedUpstream",
    "ReportLimiter",
    "UpstreamAnswer",
    "VerdictMemo",
    "check_answer",
    "decide",
    "parse_query",
    "render_answer",
]


# -- resolver addresses -------------------------------------------------------------------


def parse_resolver_address(value: str) -> tuple[str, int]:
    """ "host:port", "[v6]:port" or a bare address (port 53) as (address, port).

    Raises ValueError for a name (dnspython sends to addresses, never to names) or a port out
    of range.
    """
    text = value.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    ipaddress.ip_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return host, port


def first_nameserver(resolv_conf: str) -> str | None:
    """The first `nameserver` address of a resolv.conf text (a zone index dropped), or None."""
    for line in resolv_conf.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            return parts[1].split("%")[0]
    return None
