from datetime import UTC, datetime, timedelta

import pytest

from openmtd.domain.enums import Severity
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.engines.web.canonical import canonical_indicator
from openmtd.engines.web.index import PILOT_TEST_TARGET, IndexLayer, WebIndex, build_index
from openmtd.engines.web.lookalike import LookalikeDetector, LookalikePolicy

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
D, U, IP = IndicatorType.DOMAIN, IndicatorType.URL, IndicatorType.IP
ALLOW, AUDIT, WARN, BLOCK = (
    IndicatorAction.ALLOW,
    IndicatorAction.AUDIT,
    IndicatorAction.WARN,
    IndicatorAction.BLOCK,
)


def meta(action: IndicatorAction, source: str = "#1", **kw: object) -> IndicatorMeta:
    return IndicatorMeta(kind=MatchKind.INDICATOR, source=source, action=action, **kw)  # type: ignore[arg-type]


def ind(
    kind: IndicatorType, value: str, action: IndicatorAction, source: str = "#1", **kw: object
) -> Indicator:
    return Indicator(kind, canonical_indicator(kind, value), meta(action, source, **kw))


def index(*inds: Indicator, lookalike: LookalikeDetector | None = None) -> WebIndex:
    return build_index([("custom", inds)], lookalike=lookalike)


def test_domain_covers_itself_and_subdomains_but_not_lookalike_suffixes() -> None:
    idx = index(ind(D, "evil.example", BLOCK, title="Known phishing"))
    for url in ("http://evil.example/", "https://a.b.evil.example/login?x=1", "EVIL.example."):
        v = idx.check_url(url, now=NOW)
        assert v.blocks, url
        assert v.decision is not None
        assert v.decision.expression == "evil.example"
        assert "custom domain indicator #1 on evil.example (Known phishing)" in v.explanation
    assert idx.check_url("http://notevil.example/", now=NOW).action is None
    assert idx.check_url("http://evil.example.org/", now=NOW).action is None
    assert idx.check_host("x.evil.example", now=NOW).blocks


def test_url_indicator_covers_its_path_and_below_only() -> None:
    idx = index(ind(U, "https://site.example/login", BLOCK))
    assert idx.check_url("http://site.example/login", now=NOW).blocks
    assert idx.check_url("http://site.example/login/step2?a=b", now=NOW).blocks
    assert idx.check_url("http://www.site.example/login", now=NOW).blocks  # host suffix
    assert idx.check_url("http://site.example/loginx", now=NOW).action is None
    assert idx.check_url("http://site.example/", now=NOW).action is None
    # a bare host check (DNS, CONNECT) does not see path-scoped indicators
    assert idx.check_host("site.example", now=NOW).action is None


def test_url_indicator_with_a_query_matches_that_query_only() -> None:
    idx = index(ind(U, "http://site.example/p?id=7", BLOCK))
    assert idx.check_url("http://site.example/p?id=7", now=NOW).blocks
    assert idx.check_url("http://site.example/p?id=8", now=NOW).action is None
    assert idx.check_url("http://site.example/p", now=NOW).action is None


def test_longest_path_wins() -> None:
    idx = index(
        ind(U, "http://site.example/a", BLOCK, "#1"),
        ind(U, "http://site.example/a/b", ALLOW, "#2"),
        ind(U, "http://site.example/a/b/c", WARN, "#3"),
    )
    assert idx.check_url("http://site.example/a/x", now=NOW).action is BLOCK
    v = idx.check_url("http://site.example/a/b/x", now=NOW)
    assert v.action is ALLOW
    assert v.decision is not None and v.decision.meta.source == "#2"
    assert [m.meta.source for m in v.matches] == ["#2", "#1"]
    assert "1 other match overruled" in v.explanation
    assert idx.check_url("http://site.example/a/b/c/d", now=NOW).action is WARN


def test_more_specific_host_wins_over_parent_domain() -> None:
    idx = index(ind(D, "example.org", BLOCK, "#1"), ind(D, "safe.example.org", ALLOW, "#2"))
    assert idx.check_url("http://safe.example.org/", now=NOW).action is ALLOW
    assert idx.check_url("http://x.safe.example.org/", now=NOW).action is ALLOW
    assert idx.check_url("http://other.example.org/", now=NOW).action is BLOCK


@pytest.mark.parametrize(
    ("actions", "winner"),
    [
        ((BLOCK, WARN), WARN),
        ((BLOCK, ALLOW), ALLOW),
        ((WARN, ALLOW), ALLOW),
        ((BLOCK, AUDIT), AUDIT),
        ((WARN, AUDIT, BLOCK, ALLOW), ALLOW),
    ],
)
def test_same_target_allow_beats_warn_beats_block(
    actions: tuple[IndicatorAction, ...], winner: IndicatorAction
) -> None:
    layers = [
        (f"feed{i}", [ind(D, "contested.example", a, f"#{i}")]) for i, a in enumerate(actions)
    ]
    v = build_index(layers).check_url("http://contested.example/", now=NOW)
    assert v.action is winner
    assert len(v.matches) == len(actions)


def test_same_value_twice_in_one_layer_keeps_both() -> None:
    idx = index(ind(D, "twice.example", BLOCK, "#1"), ind(D, "twice.example", WARN, "#2"))
    v = idx.check_host("twice.example", now=NOW)
    assert v.action is WARN
    assert {m.meta.source for m in v.matches} == {"#1", "#2"}


def test_expired_and_out_of_scope_indicators_do_not_match() -> None:
    idx = index(
        ind(D, "old.example", BLOCK, "#1", expires_at=NOW - timedelta(seconds=1)),
        ind(D, "sales.example", BLOCK, "#2", device_groups=("sales",)),
    )
    assert idx.check_host("old.example", now=NOW).action is None
    assert idx.check_host("old.example", now=NOW - timedelta(minutes=1)).blocks
    assert idx.check_host("sales.example", now=NOW, device_groups=frozenset({"sales"})).blocks
    assert idx.check_host("sales.example", now=NOW, device_groups=frozenset({"eng"})).action is None
    # an admin's check without a device in mind sees scoped indicators
    assert idx.check_host("sales.example", now=NOW).blocks


def test_ip_indicators_exact_and_networks() -> None:
    idx = index(
        ind(IP, "203.0.113.7", BLOCK, "#1"),
        ind(IP, "198.51.100.0/24", WARN, "#2"),
        ind(IP, "198.51.100.128/25", ALLOW, "#3"),
        ind(IP, "2001:db8::/32", BLOCK, "#4"),
    )
    assert idx.check_url("http://203.0.113.7/x", now=NOW).blocks
    assert idx.check_host("203.0.113.7", now=NOW).blocks
    assert idx.check_url("http://3405803783/", now=NOW).blocks  # the same address, as decimal
    v = idx.check_host("198.51.100.5", now=NOW)
    assert v.action is WARN and v.decision is not None
    assert v.decision.expression == "198.51.100.0/24"
    assert idx.check_host("198.51.100.200", now=NOW).action is ALLOW  # longer prefix wins
    assert idx.check_url("http://[2001:db8::1]/", now=NOW).blocks
    assert idx.check_host("192.0.2.1", now=NOW).action is None


def test_url_indicator_on_an_ip_beats_its_network() -> None:
    idx = index(ind(IP, "192.0.2.0/24", BLOCK, "#1"), ind(U, "http://192.0.2.9/ok", ALLOW, "#2"))
    assert idx.check_url("http://192.0.2.9/ok/page", now=NOW).action is ALLOW
    assert idx.check_url("http://192.0.2.9/other", now=NOW).blocks


def test_pilot_test_target_is_always_blocked_even_against_an_allow() -> None:
    for idx in (WebIndex(), index(ind(D, PILOT_TEST_TARGET, ALLOW))):
        for url in (
            "https://smartscreentestratings2.net",
            "http://SmartScreenTestRatings2.net/some/page",
            "http://www.smartscreentestratings2.net/",
        ):
            v = idx.check_url(url, now=NOW)
            assert v.blocks, url
            assert v.decision is not None
            assert v.decision.meta.kind is MatchKind.BUILTIN
            assert v.decision.meta.category == "Phishing"
            assert "anti-phishing test target" in v.explanation
    assert WebIndex().check_host("smartscreentestratings2.net", now=NOW).blocks


def test_lookalike_heuristics_speak_only_without_an_indicator() -> None:
    detector = LookalikeDetector(LookalikePolicy(protected=("contoso.com",)))
    idx = index(ind(D, "contoso-login.example", ALLOW), lookalike=detector)
    v = idx.check_url("http://paypa1.com/", now=NOW)
    assert v.warns
    assert v.decision is not None
    assert v.decision.meta.kind is MatchKind.HEURISTIC
    assert "paypal.com" in v.explanation
    # an explicit Allow silences the heuristics
    assert idx.check_url("http://contoso-login.example/", now=NOW).action is ALLOW
    assert idx.check_url("http://contoso.com/", now=NOW).action is None
    assert idx.check_host("203.0.113.1", now=NOW).action is None


def test_bad_input_gets_a_reasoned_verdict() -> None:
    idx = index(ind(D, "evil.example", BLOCK))
    for bad in ("", "http://", "x" * 9000, "http://?q"):
        v = idx.check_url(bad, now=NOW)
        assert v.action is None
        assert v.problem
        assert v.explanation
    assert idx.check_host("", now=NOW).problem
    assert idx.check_host("a b", now=NOW).problem


def test_layers_replace_by_name() -> None:
    idx = index(ind(D, "a.example", BLOCK))
    idx2 = idx.replace_layer(IndexLayer.build("custom", [ind(D, "b.example", BLOCK)]))
    assert idx.check_host("a.example", now=NOW).blocks
    assert not idx2.check_host("a.example", now=NOW).blocks
    assert idx2.check_host("b.example", now=NOW).blocks
    assert idx2.without_layer("custom").count == 0


def test_severity_and_texts_travel_with_the_verdict() -> None:
    idx = index(
        ind(
            D,
            "bad.example",
            WARN,
            severity=Severity.HIGH,
            title="Credential phishing",
            description="Fake sign-in page",
            recommended_actions="Do not enter your password",
        )
    )
    v = idx.check_url("http://bad.example/signin", now=NOW)
    assert v.warns and v.decision is not None
    assert v.decision.meta.severity is Severity.HIGH
    assert v.decision.meta.recommended_actions == "Do not enter your password"
    assert v.target == "http://bad.example/signin"
