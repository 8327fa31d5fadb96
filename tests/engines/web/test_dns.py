"""The protective-DNS engine: parsing, decisions, block answers, the answer cache, reporting."""

from __future__ import annotations

import ipaddress
import struct
from datetime import UTC, datetime

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmtd.domain.web import (
    Indicator,
    IndicatorAction,
    IndicatorMeta,
    IndicatorType,
    MatchKind,
    WebMatch,
    WebVerdict,
)
from openmtd.engines.web.dns import (
    BlockAnswer,
    BlockMode,
    DnsAction,
    DnsCache,
    DnsFilter,
    DnsQuery,
    DnsRejection,
    NeedUpstream,
    ReportLimiter,
    Source,
    UpstreamAnswer,
    VerdictMemo,
    check_answer,
    decide,
    fit_udp,
    parse_query,
    render_answer,
    upstream_query,
)
from openmtd.engines.web.index import WebIndex, build_index

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BLOCK = BlockAnswer()
NX = BlockAnswer(mode=BlockMode.NXDOMAIN, ttl=30)


def meta(
    action: IndicatorAction, source: str = "#1", kind: MatchKind = MatchKind.INDICATOR
) -> IndicatorMeta:
    return IndicatorMeta(kind=kind, source=source, action=action, title=f"{action.value} test")


def make_index() -> WebIndex:
    return build_index(
        [
            (
                "custom",
                [
                    Indicator(IndicatorType.DOMAIN, "evil.example", meta(IndicatorAction.BLOCK)),
                    Indicator(IndicatorType.DOMAIN, "warn.example", meta(IndicatorAction.WARN)),
                    Indicator(IndicatorType.DOMAIN, "audit.example", meta(IndicatorAction.AUDIT)),
                    Indicator(IndicatorType.DOMAIN, "ok.evil.example", meta(IndicatorAction.ALLOW)),
                    Indicator(IndicatorType.IP, "203.0.113.66", meta(IndicatorAction.BLOCK, "#ip")),
                    Indicator(
                        IndicatorType.IP, "2001:db8::66", meta(IndicatorAction.BLOCK, "#ip6")
                    ),
                    Indicator(IndicatorType.IP, "198.51.100.7", meta(IndicatorAction.AUDIT, "#a")),
                ],
            )
        ]
    )


INDEX = make_index()


def judge(name: str) -> WebVerdict:
    return INDEX.check_host(name, now=NOW)


def query(
    name: str, qtype: str = "A", *, edns: bool = False, dnssec: bool = False, qid: int = 4242
) -> DnsQuery:
    message = dns.message.make_query(
        name, qtype, use_edns=0 if edns or dnssec else False, want_dnssec=dnssec, id=qid
    )
    parsed = parse_query(message.to_wire())
    assert isinstance(parsed, DnsQuery), parsed
    return parsed


def upstream(
    q: DnsQuery,
    *,
    a: tuple[str, ...] = ("192.0.2.1",),
    ttl: int = 300,
    cname: str | None = None,
    rcode: int = dns.rcode.NOERROR,
    soa: int | None = None,
    extra_ttl: int | None = None,
    edns: bool = True,
) -> UpstreamAnswer:
    """An upstream response to `q` as dnspython would render it."""
    request = upstream_query(q, 7)
    if not edns:
        request.use_edns(False)
    response = dns.message.make_response(request)
    response.flags |= dns.flags.RA
    response.set_rcode(rcode)
    owner = request.question[0].name
    if cname:
        response.answer.append(dns.rrset.from_text(owner, ttl, "IN", "CNAME", cname + "."))
        owner = dns.name.from_text(cname)
    for address in a:
        rdtype = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
        response.answer.append(dns.rrset.from_text(owner, ttl, "IN", rdtype, address))
    if soa is not None:
        response.authority.append(
            dns.rrset.from_text("example.", soa, "IN", "SOA", "ns. host. 1 2 3 4 45")
        )
    if extra_ttl is not None:
        response.additional.append(
            dns.rrset.from_text("ns.example.", extra_ttl, "IN", "A", "1.1.1.1")
        )
    answer = UpstreamAnswer.from_message(response)
    assert answer is not None
    return answer


def parsed(wire: bytes) -> dns.message.Message:
    return dns.message.from_wire(wire)


# -- parsing ------------------------------------------------------------------------------


def test_a_typical_query_is_parsed_on_the_fast_path_with_its_edns() -> None:
    q = query("WWW.Evil.Example.", "AAAA", dnssec=True, qid=77)
    assert (q.id, q.name, q.qtype, q.qclass, q.type_name) == (77, "www.evil.example", 28, 1, "AAAA")
    assert q.edns and q.dnssec_ok and q.payload == 1232 and q.host
    assert q.question.startswith(b"\x03WWW\x04Evil\x07Example\x00")  # case kept for the answer
    assert q.cache_key == (b"\x03www\x04evil\x07example\x00", 28, 1, True)
    plain = query("example.org")
    assert not plain.edns and plain.payload == 512 and not plain.dnssec_ok


def test_edns_options_such_as_padding_are_accepted() -> None:
    message = dns.message.make_query(
        "example.org",
        "A",
        use_edns=0,
        options=[dns.edns.GenericOption(dns.edns.PADDING, b"\0" * 40)],
    )
    q = parse_query(message.to_wire())
    assert isinstance(q, DnsQuery) and q.edns and q.name == "example.org"


def test_unusual_but_valid_queries_are_parsed_by_dnspython() -> None:
    # An extra (non-OPT) record in the additional section is not the fast path's shape.
    message = dns.message.make_query("example.org", "A")
    message.additional.append(dns.rrset.from_text("x.example.", 5, "IN", "A", "192.0.2.9"))
    q = parse_query(message.to_wire())
    assert isinstance(q, DnsQuery) and (q.name, q.qtype) == ("example.org", 1)


def test_names_that_are_not_host_names_are_parsed_but_not_hosts() -> None:
    message = dns.message.make_query(dns.name.Name([b"a b", b"ex\x00ample", b""]), "A")
    q = parse_query(message.to_wire())
    assert isinstance(q, DnsQuery) and not q.host and q.name == "a\\032b.ex\\000ample"
    root = parse_query(dns.message.make_query(".", "NS").to_wire())
    assert isinstance(root, DnsQuery) and root.name == "" and root.host


@pytest.mark.parametrize(
    ("wire", "reason", "rcode"),
    [
        (b"", "too short", None),
        (b"\x12", "too short", None),
        (b"\x12\x34\x01\x00\x00\x01", "too short", dns.rcode.FORMERR),
        (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03abc", "", dns.rcode.FORMERR),
    ],
)
def test_malformed_packets_are_rejected_with_formerr_when_the_id_can_be_read(
    wire: bytes, reason: str, rcode: int | None
) -> None:
    result = parse_query(wire)
    assert isinstance(result, DnsRejection) and result.malformed
    assert reason in result.reason
    if rcode is None:
        assert result.response is None
    else:
        assert result.response is not None
        answer = parsed(result.response)
        assert answer.id == 0x1234 and answer.rcode() == rcode and answer.flags & dns.flags.QR


def test_trailing_bytes_two_questions_and_responses_are_rejected() -> None:
    wire = dns.message.make_query("example.org", "A").to_wire()
    junk = parse_query(wire + b"\x00")
    assert isinstance(junk, DnsRejection) and "junk" in junk.reason
    two = bytearray(wire[:-4] + b"\x00\x01\x00\x01" + wire[12:])
    two[5] = 2
    result = parse_query(bytes(two))
    assert isinstance(result, DnsRejection) and result.response is not None
    assert parsed(result.response).rcode() == dns.rcode.FORMERR
    response = dns.message.make_response(dns.message.make_query("example.org", "A"))
    answered = parse_query(response.to_wire())
    assert isinstance(answered, DnsRejection) and answered.response is None  # never answer one


def test_other_opcodes_get_notimp_and_edns1_gets_badvers_both_not_malformed() -> None:
    notify = dns.message.make_query("example.org", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    result = parse_query(notify.to_wire())
    assert isinstance(result, DnsRejection) and not result.malformed
    assert result.response is not None and parsed(result.response).rcode() == dns.rcode.NOTIMP
    v1 = dns.message.make_query("example.org", "A", use_edns=1)
    result = parse_query(v1.to_wire())
    assert isinstance(result, DnsRejection) and not result.malformed and result.response
    assert parsed(result.response).rcode() == dns.rcode.BADVERS


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(wire: bytes) -> None:
    result = parse_query(wire)
    if isinstance(result, DnsRejection):
        assert result.reason
        if result.response is not None:
            answer = parsed(result.response)
            assert answer.flags & dns.flags.QR
            assert answer.id == int.from_bytes(wire[:2], "big")
    else:
        assert isinstance(result, DnsQuery)
    assert UpstreamAnswer.from_wire(wire) is None or isinstance(
        UpstreamAnswer.from_wire(wire), UpstreamAnswer
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True), min_size=1, max_size=5),
    st.sampled_from(["A", "AAAA", "TXT", "HTTPS", "MX", "PTR"]),
    st.booleans(),
    st.integers(0, 65535),
)
def test_fast_path_agrees_with_dnspython(
    labels: list[str], qtype: str, edns: bool, qid: int
) -> None:
    name = ".".join(labels) + "."
    message = dns.message.make_query(name, qtype, use_edns=0 if edns else False, id=qid)
    q = parse_query(message.to_wire())
    assert isinstance(q, DnsQuery)
    reference = dns.message.from_wire(message.to_wire())
    assert q.id == reference.id
    assert q.name == reference.question[0].name.to_text(omit_final_dot=True).lower()
    assert q.qtype == reference.question[0].rdtype and q.edns == (reference.edns == 0)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=12, max_size=300))
def test_mutated_valid_queries_never_raise(tail: bytes) -> None:
    base = dns.message.make_query("a.example", "A", use_edns=0).to_wire()
    for wire in (base[:12] + tail, base[: len(tail) % len(base)] + tail):
        result = parse_query(wire)
        assert isinstance(result, (DnsQuery, DnsRejection))


# -- decisions ----------------------------------------------------------------------------


def test_a_blocked_name_gets_the_block_address_with_the_blocked_ttl() -> None:
    q = query("login.evil.example", edns=True)
    decision = decide(q, judge, block=BlockAnswer.of("address", "10.9.8.7", "fd00::1", 120))
    assert decision.action is DnsAction.BLOCK and decision.blocked
    assert decision.verdict is not None and decision.verdict.blocks
    assert decision.subject == "login.evil.example"
    assert "custom domain indicator #1 on evil.example" in decision.explanation
    answer = parsed(decision.response)
    assert answer.id == q.id and answer.rcode() == dns.rcode.NOERROR and answer.edns == 0
    (rrset,) = answer.answer
    assert rrset.name.to_text() == "login.evil.example." and rrset.ttl == 120
    assert [r.address for r in rrset] == ["10.9.8.7"]
    six = parsed(decide(query("evil.example", "AAAA"), judge, block=BLOCK).response)
    assert [r.address for r in six.answer[0]] == ["::"] and six.answer[0].ttl == 60


def test_other_types_of_a_blocked_name_get_nodata_with_an_soa_for_negative_caching() -> None:
    for qtype in ("TXT", "HTTPS", "MX"):
        answer = parsed(decide(query("evil.example", qtype), judge, block=BLOCK).response)
        assert answer.rcode() == dns.rcode.NOERROR and not answer.answer
        (soa,) = answer.authority
        assert soa.rdtype == dns.rdatatype.SOA and soa.ttl == 60 and soa[0].minimum == 60
        assert soa[0].mname.to_text() == "openmtd.invalid."


def test_nxdomain_mode_answers_nxdomain_for_every_type() -> None:
    for qtype in ("A", "AAAA", "TXT"):
        answer = parsed(decide(query("x.evil.example", qtype), judge, block=NX).response)
        assert answer.rcode() == dns.rcode.NXDOMAIN and not answer.answer
        assert answer.authority[0].ttl == 30


def test_warn_is_blocked_at_dns_audit_and_allow_and_nothing_are_forwarded() -> None:
    warned = decide(query("warn.example"), judge, block=BLOCK)
    assert warned.blocked and warned.verdict is not None and warned.verdict.warns
    audited = decide(query("www.audit.example"), judge, block=BLOCK)
    assert audited.action is DnsAction.FORWARD and audited.reportable
    allowed = decide(query("ok.evil.example"), judge, block=BLOCK)  # Allow beats the parent
    assert allowed.action is DnsAction.FORWARD and not allowed.reportable
    clean = decide(query("example.org"), judge, block=BLOCK)
    assert clean.action is DnsAction.FORWARD and clean.verdict is None
    assert "nothing matched" in clean.explanation


def test_names_that_are_not_hosts_are_not_judged() -> None:
    calls: list[str] = []

    def spy(name: str) -> WebVerdict:
        calls.append(name)
        return judge(name)

    q = parse_query(dns.message.make_query(dns.name.Name([b"evil example", b""]), "A").to_wire())
    assert isinstance(q, DnsQuery)
    assert decide(q, spy, block=BLOCK).action is DnsAction.FORWARD and calls == []


def test_blocked_addresses_and_aliases_in_an_answer_block_it() -> None:
    q = query("innocent.example")
    by_ip = check_answer(q, upstream(q, a=("192.0.2.1", "203.0.113.66")), judge, block=BLOCK)
    assert by_ip.blocked and by_ip.subject == "203.0.113.66"
    assert [r.address for r in parsed(by_ip.response).answer[0]] == ["0.0.0.0"]
    q6 = query("innocent.example", "AAAA")
    assert check_answer(q6, upstream(q6, a=("2001:db8::66",)), judge, block=BLOCK).blocked
    by_alias = check_answer(q, upstream(q, cname="cdn.evil.example"), judge, block=BLOCK)
    assert by_alias.blocked and by_alias.subject == "cdn.evil.example"
    audited = check_answer(q, upstream(q, a=("198.51.100.7",)), judge, block=BLOCK)
    assert audited.action is DnsAction.FORWARD and audited.reportable
    assert not check_answer(q, upstream(q), judge, block=BLOCK).blocked


def test_heuristic_verdicts_on_aliases_are_ignored() -> None:
    heuristic = IndicatorMeta(
        kind=MatchKind.HEURISTIC, source="embedding", action=IndicatorAction.WARN
    )

    def lookalike(name: str) -> WebVerdict:
        match = WebMatch(heuristic, None, name, "looks like a brand")
        return WebVerdict(target=name, decision=match, matches=(match,))

    q = query("www.bank.example")
    answer = upstream(q, cname="www.bank.example.edgekey.example")
    assert not check_answer(q, answer, lookalike, block=BLOCK).blocked


def test_block_answer_from_a_policy_with_bad_addresses_falls_back_to_defaults() -> None:
    answer = BlockAnswer.of("nxdomain", "not-an-ip", "also bad", 10**9)
    assert answer.mode is BlockMode.NXDOMAIN
    assert str(answer.ipv4) == "0.0.0.0" and str(answer.ipv6) == "::"
    assert answer.ttl == 86_400
    with pytest.raises(ValueError, match="blocked TTL"):
        BlockAnswer(ttl=-1)


# -- answers and the cache ----------------------------------------------------------------


def test_an_answer_is_rendered_for_the_client_with_its_id_case_and_edns() -> None:
    asker = query("Example.ORG", dnssec=True, qid=99)
    answer = upstream(asker, a=("192.0.2.1", "192.0.2.2"), ttl=300, extra_ttl=100)
    assert answer.cache_ttl == 100 and answer.addresses == ("192.0.2.1", "192.0.2.2")
    out = parsed(render_answer(asker, answer, age=30))
    assert out.id == 99 and out.question[0].name.to_text() == "Example.ORG."
    assert out.answer[0].ttl == 270 and out.additional[0].ttl == 70
    assert out.edns == 0 and out.ednsflags & dns.flags.DO
    other = query("example.org", qid=5)
    plain = parsed(render_answer(other, answer))
    assert plain.id == 5 and plain.edns == -1 and plain.answer[0].ttl == 300


def test_ad_is_passed_only_to_clients_that_ask_for_dnssec() -> None:
    q = query("example.org", dnssec=True)
    answer = upstream(q)
    answer = UpstreamAnswer(**{**_fields(answer), "flags": answer.flags | dns.flags.AD})
    assert parsed(render_answer(q, answer)).flags & dns.flags.AD
    assert not parsed(render_answer(query("example.org"), answer)).flags & dns.flags.AD


def _fields(answer: UpstreamAnswer) -> dict[str, object]:
    return {name: getattr(answer, name) for name in UpstreamAnswer.__slots__}


def test_the_cache_respects_ttls_rewrites_ids_and_decrements_ttls() -> None:
    cache = DnsCache(10)
    q = query("example.org", qid=1)
    answer = upstream(q, ttl=60)
    assert cache.put(q.cache_key, answer, now=1000.0)
    again = query("EXAMPLE.org", qid=2)
    assert again.cache_key == q.cache_key
    hit = cache.get(again.cache_key, now=1025.5)
    assert hit is not None and hit[1] == 25
    out = parsed(render_answer(again, *hit))
    assert out.id == 2 and out.answer[0].ttl == 35
    assert cache.get(q.cache_key, now=1060.0) is None  # expired at stored + min TTL
    assert len(cache) == 0 and (cache.hits, cache.misses) == (1, 1)


def test_the_cache_is_keyed_by_type_class_and_dnssec_ok() -> None:
    cache = DnsCache(10)
    q = query("example.org")
    cache.put(q.cache_key, upstream(q), now=0)
    assert cache.get(query("example.org", "AAAA").cache_key, now=1) is None
    assert cache.get(query("example.org", dnssec=True).cache_key, now=1) is None
    assert cache.get(query("example.org", edns=True).cache_key, now=1) is not None


def test_the_cache_evicts_the_least_recently_used_entry() -> None:
    cache = DnsCache(2)
    a, b, c = (query(n) for n in ("a.example", "b.example", "c.example"))
    for q in (a, b):
        cache.put(q.cache_key, upstream(q), now=0)
    assert cache.get(a.cache_key, now=1) is not None  # a is now the most recent
    cache.put(c.cache_key, upstream(c), now=1)
    assert cache.get(b.cache_key, now=2) is None
    assert cache.get(a.cache_key, now=2) is not None and cache.get(c.cache_key, now=2) is not None
    assert len(cache) == 2
    off = DnsCache(0)
    assert not off.put(a.cache_key, upstream(a), now=0) and len(off) == 0


def test_negative_answers_are_cached_by_their_soa_and_errors_not_at_all() -> None:
    q = query("nothing.example")
    nx = upstream(q, a=(), rcode=dns.rcode.NXDOMAIN, soa=600)
    assert nx.cache_ttl == 45  # min(SOA TTL, SOA MINIMUM)
    assert upstream(q, a=(), rcode=dns.rcode.NXDOMAIN).cache_ttl == 0  # no SOA: not cached
    assert upstream(q, a=(), soa=20).cache_ttl == 20  # NODATA
    assert upstream(q, rcode=dns.rcode.SERVFAIL).cache_ttl == 0
    assert upstream(q, ttl=0).cache_ttl == 0
    cache = DnsCache(10)
    assert not cache.put(q.cache_key, upstream(q, ttl=0), now=0)
    rendered = parsed(render_answer(q, nx, age=5))
    assert rendered.rcode() == dns.rcode.NXDOMAIN and rendered.authority[0].ttl == 595


def test_a_huge_ttl_is_capped_and_a_top_bit_ttl_is_zero() -> None:
    q = query("example.org")
    assert upstream(q, ttl=7 * 86_400).cache_ttl == 86_400
    wire = bytearray(render_answer(q, upstream(q, ttl=300)))
    struct.pack_into("!I", wire, len(q.question) + 12 + 6, 0x80000001)
    answer = UpstreamAnswer.from_wire(bytes(wire))
    assert answer is not None and answer.cache_ttl == 0 and answer.ttls == (0,)


def test_an_upstream_answer_without_edns_is_rendered_with_edns_for_an_edns_client() -> None:
    q = query("example.org", edns=True)
    answer = upstream(q, edns=False)
    out = parsed(render_answer(q, answer))
    assert out.edns == 0 and out.answer[0][0].address == "192.0.2.1"


def test_large_answers_are_truncated_for_small_udp_clients() -> None:
    q = query("big.example")
    many = tuple(f"192.0.2.{i}" for i in range(1, 60))
    wire = render_answer(q, upstream(q, a=many))
    assert len(wire) > 512
    cut = parsed(fit_udp(q, wire))
    assert cut.flags & dns.flags.TC and not cut.answer and cut.id == q.id
    big = query("big.example", edns=True)
    assert fit_udp(big, render_answer(big, upstream(big, a=many))) != b""
    assert not parsed(fit_udp(big, render_answer(big, upstream(big, a=many)))).flags & dns.flags.TC


def test_upstream_query_asks_the_question_with_our_edns() -> None:
    q = query("Example.org", "AAAA", dnssec=True)
    message = upstream_query(q, 1234)
    assert message.id == 1234 and message.question[0].name.to_text() == "Example.org."
    assert message.question[0].rdtype == dns.rdatatype.AAAA
    assert message.payload == 1232 and message.ednsflags & dns.flags.DO
    assert message.flags & dns.flags.RD


# -- the flow -----------------------------------------------------------------------------


def test_the_filter_blocks_forwards_caches_and_fails_closed_to_servfail() -> None:
    flow = DnsFilter(DnsCache(100))
    blocked = flow.start(query("evil.example"), judge=judge, block=BLOCK, now=0)
    assert not isinstance(blocked, NeedUpstream)
    assert blocked.source is Source.BLOCKED and blocked.max_age == 60
    q = query("example.org", qid=1)
    step = flow.start(q, judge=judge, block=BLOCK, now=0)
    assert isinstance(step, NeedUpstream)
    fresh = flow.finish(step, upstream(q, ttl=100), judge=judge, block=BLOCK, now=0)
    assert fresh.source is Source.UPSTREAM and fresh.max_age == 100
    cached = flow.start(query("example.org", qid=2), judge=judge, block=BLOCK, now=40)
    assert not isinstance(cached, NeedUpstream)
    assert cached.source is Source.CACHE and cached.max_age == 60
    assert parsed(cached.response).id == 2
    failed_q = query("down.example")
    failed_step = flow.start(failed_q, judge=judge, block=BLOCK, now=0)
    assert isinstance(failed_step, NeedUpstream)
    failed = flow.finish(failed_step, None, judge=judge, block=BLOCK, now=0)
    assert failed.source is Source.ERROR and parsed(failed.response).rcode() == dns.rcode.SERVFAIL
    refused = flow.start(query("example.org", "AXFR"), judge=judge, block=BLOCK, now=0)
    assert not isinstance(refused, NeedUpstream)
    assert parsed(refused.response).rcode() == dns.rcode.REFUSED


def test_a_cached_answer_is_judged_again_for_each_query() -> None:
    """The cache is shared; the verdict on its addresses is not (the index may change)."""
    flow = DnsFilter(DnsCache(100))
    q = query("moved.example")
    step = flow.start(q, judge=judge, block=BLOCK, now=0)
    assert isinstance(step, NeedUpstream)
    flow.finish(step, upstream(q, a=("192.0.2.50",)), judge=judge, block=BLOCK, now=0)
    stricter = build_index(
        [("custom", [Indicator(IndicatorType.IP, "192.0.2.50", meta(IndicatorAction.BLOCK))])]
    )
    hit = flow.start(q, judge=lambda n: stricter.check_host(n, now=NOW), block=BLOCK, now=1)
    assert not isinstance(hit, NeedUpstream) and hit.source is Source.BLOCKED
    assert hit.decision.subject == "192.0.2.50"


def test_the_report_limiter_allows_one_report_per_key_and_window() -> None:
    limiter = ReportLimiter(window=60, max_keys=3)
    assert limiter.allow(("dev", "k"), 0)
    assert not limiter.allow(("dev", "k"), 59.9)
    assert limiter.allow(("dev", "other"), 1)
    assert limiter.allow(("dev", "k"), 60)
    for n in range(10):
        assert limiter.allow(n, 100 + n)
    assert len(limiter._last) <= 3


def test_the_verdict_memo_reuses_verdicts_briefly_and_per_index_and_groups() -> None:
    calls: list[str] = []

    def counting(name: str) -> WebVerdict:
        calls.append(name)
        return judge(name)

    memo = VerdictMemo(ttl=2.0)
    first = memo.judge(INDEX, frozenset({"a"}), 100.0, counting)
    assert first("evil.example").blocks and first("evil.example").blocks
    assert calls == ["evil.example"]
    memo.judge(INDEX, frozenset({"b"}), 100.5, counting)("evil.example")  # other groups
    assert len(calls) == 2
    memo.judge(INDEX, frozenset({"a"}), 101.9, counting)("evil.example")
    assert len(calls) == 2
    memo.judge(INDEX, frozenset({"a"}), 102.0, counting)("evil.example")  # expired
    assert len(calls) == 3
    memo.judge(make_index(), frozenset({"a"}), 102.1, counting)("evil.example")  # new index
    assert len(calls) == 4
