"""App reputation: which indicator decides, what every match says, expiry and device groups,
merging indexes, and the web index skipping app entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openmtd.domain.apps import AppFingerprint, AppMatch, AppReputation
from openmtd.domain.enums import Severity
from openmtd.domain.web import (
    Indicator,
    IndicatorAction,
    IndicatorMeta,
    IndicatorType,
    MatchKind,
)
from openmtd.engines.apps.reputation import AppIndex
from openmtd.engines.web.index import IndexLayer, WebIndex
from openmtd.engines.web.wire import IndicatorSet

T = IndicatorType
A = IndicatorAction
NOW = datetime(2026, 3, 1, tzinfo=UTC)
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SHA1 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
MD5 = "098f6bcd4621d373cade4e832627b4f6"
CERT1 = "31a6ececd97cf39bc4126b8745cd94a7c30bf81c"
CERT256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PKG = "com.thetruth"

FP = AppFingerprint(package=PKG, sha256=SHA256, sha1=SHA1, md5=MD5, signer_sha1=CERT1)


def feed(action: A = A.BLOCK, name: str = "stalkerware", **kw: object) -> IndicatorMeta:
    return IndicatorMeta(
        kind=MatchKind.FEED,
        source=name,
        action=action,
        title=str(kw.pop("title", "Stalkerware: TheTruthSpy")),
        **kw,  # type: ignore[arg-type]
    )


def custom(action: A, number: int = 12, title: str = "Spy app", **kw: object) -> IndicatorMeta:
    return IndicatorMeta(
        kind=MatchKind.INDICATOR,
        source=f"#{number}",
        action=action,
        title=title,
        **kw,  # type: ignore[arg-type]
    )


def check(
    index: AppIndex, fp: AppFingerprint = FP, groups: frozenset[str] | None = None
) -> AppReputation:
    return index.check(fp, now=NOW, device_groups=groups)


def summary(matches: tuple[AppMatch, ...]) -> list[tuple[IndicatorType, A]]:
    return [(m.indicator_type, m.action) for m in matches]


def test_nothing_matches() -> None:
    index = AppIndex([Indicator(T.PACKAGE, "com.other", feed())])
    result = check(index)
    assert result.decision is None and result.matches == () and result.action is None
    assert result.explanation == "no app indicator matches"
    assert check(AppIndex()).decision is None


def test_each_kind_alone_with_its_reason() -> None:
    cases = [
        (T.FILE_SHA256, SHA256, "APK file SHA-256 9f86d081…"),
        (T.FILE_SHA1, SHA1, "APK file SHA-1 a94a8fe5…"),
        (T.FILE_MD5, MD5, "APK file MD5 098f6bcd…"),
        (T.CERT_SHA1, CERT1, "signing certificate SHA-1 31a6ecec…"),
        (T.PACKAGE, PKG, "package name com.thetruth"),
    ]
    for type_, value, what in cases:
        result = check(AppIndex([Indicator(type_, value, feed())]))
        assert result.decision is not None
        assert (result.decision.indicator_type, result.decision.value) == (type_, value)
        assert result.explanation == (f"{what} is on feed 'stalkerware' (Stalkerware: TheTruthSpy)")
    result = check(AppIndex([Indicator(T.CERT_SHA1, CERT1, custom(A.WARN))]))
    assert (
        result.explanation
        == "signing certificate SHA-1 31a6ecec… matches custom indicator #12 'Spy app'"
    )
    result = check(AppIndex([Indicator(T.PACKAGE, PKG, custom(A.WARN, title=""))]))
    assert result.explanation == "package name com.thetruth matches custom indicator #12"
    builtin = IndicatorMeta(kind=MatchKind.BUILTIN, source="pilot", action=A.BLOCK)
    result = check(AppIndex([Indicator(T.PACKAGE, PKG, builtin)]))
    assert result.explanation == "package name com.thetruth is listed by pilot"


def test_the_most_specific_kind_decides() -> None:
    """An allowed APK hash beats a blocked certificate, which beats an allowed package."""
    index = AppIndex(
        [
            Indicator(T.PACKAGE, PKG, custom(A.ALLOW, 1)),
            Indicator(T.CERT_SHA1, CERT1, feed(A.BLOCK)),
            Indicator(T.FILE_MD5, MD5, custom(A.ALLOW, 2)),
        ]
    )
    result = check(index)
    assert result.action is A.ALLOW
    assert summary(result.matches) == [
        (T.FILE_MD5, A.ALLOW),
        (T.CERT_SHA1, A.BLOCK),
        (T.PACKAGE, A.ALLOW),
    ]
    no_hash = AppFingerprint(package=PKG, signer_sha1=CERT1)
    assert check(index, no_hash).action is A.BLOCK  # the certificate, over the package
    assert check(index, AppFingerprint(package=PKG)).action is A.ALLOW


def test_within_a_kind_allow_audit_warn_block() -> None:
    index = AppIndex(
        [
            Indicator(T.FILE_SHA256, SHA256, feed(A.BLOCK)),
            Indicator(T.FILE_SHA1, SHA1, custom(A.WARN)),
            Indicator(T.FILE_MD5, MD5, custom(A.AUDIT, 3)),
            Indicator(T.PACKAGE, PKG, custom(A.ALLOW, 4)),  # less specific: does not decide
        ]
    )
    result = check(index)
    assert summary(result.matches) == [
        (T.FILE_MD5, A.AUDIT),
        (T.FILE_SHA1, A.WARN),
        (T.FILE_SHA256, A.BLOCK),
        (T.PACKAGE, A.ALLOW),
    ]
    assert result.explanation == "APK file MD5 098f6bcd… matches custom indicator #3 'Spy app'"


def test_expired_and_out_of_scope_indicators_do_not_match() -> None:
    index = AppIndex(
        [
            Indicator(T.FILE_SHA256, SHA256, custom(A.ALLOW, expires_at=NOW)),
            Indicator(T.CERT_SHA1, CERT1, custom(A.ALLOW, 2, device_groups=("Execs",))),
            Indicator(T.PACKAGE, PKG, feed(A.WARN, expires_at=NOW + timedelta(days=1))),
        ]
    )
    assert summary(check(index).matches) == [(T.CERT_SHA1, A.ALLOW), (T.PACKAGE, A.WARN)]
    sales = check(index, groups=frozenset({"Sales"}))
    assert summary(sales.matches) == [(T.PACKAGE, A.WARN)]
    execs = check(index, groups=frozenset({"Sales", "Execs"}))
    assert execs.action is A.ALLOW
    later = index.check(FP, now=NOW + timedelta(days=2), device_groups=frozenset())
    assert later.decision is None


def test_fingerprint_case_and_unknown_fields() -> None:
    index = AppIndex(
        [
            Indicator(T.CERT_SHA256, CERT256, feed()),
            Indicator(T.PACKAGE, "Com.Case.App", feed(A.WARN)),
        ]
    )
    upper = AppFingerprint(signer_sha256=CERT256.upper())
    result = check(index, upper)
    assert result.decision is not None and result.decision.value == CERT256
    assert check(index, AppFingerprint(package="com.case.app")).decision is None  # exact
    assert check(index, AppFingerprint(package="Com.Case.App")).action is A.WARN
    assert check(index, AppFingerprint()).decision is None


def test_a_hash_never_matches_as_another_kind() -> None:
    """A certificate indicator does not match an APK file with that hash, nor the reverse."""
    index = AppIndex([Indicator(T.CERT_SHA1, SHA1, feed()), Indicator(T.FILE_SHA1, CERT1, feed())])
    assert check(index).decision is None


def test_web_indicators_are_ignored_and_counted_out() -> None:
    index = AppIndex(
        [
            Indicator(T.DOMAIN, "com.thetruth", feed()),
            Indicator(T.PACKAGE, PKG, feed(A.WARN)),
        ]
    )
    assert len(index) == index.count == 1
    assert summary(check(index).matches) == [(T.PACKAGE, A.WARN)]


def test_merge() -> None:
    one = AppIndex([Indicator(T.PACKAGE, PKG, feed(A.BLOCK, "one"))])
    two = AppIndex(
        [
            Indicator(T.PACKAGE, PKG, custom(A.AUDIT)),
            Indicator(T.FILE_SHA256, SHA256, feed(A.WARN, "two")),
        ]
    )
    merged = AppIndex.merge([one, two])
    assert merged.count == 3
    assert summary(check(merged).matches) == [
        (T.FILE_SHA256, A.WARN),
        (T.PACKAGE, A.AUDIT),
        (T.PACKAGE, A.BLOCK),
    ]
    assert summary(check(one).matches) == [(T.PACKAGE, A.BLOCK)]  # inputs unchanged


def test_severity_and_meta_travel_with_the_match() -> None:
    meta = feed(severity=Severity.HIGH, category="stalkerware")
    result = check(AppIndex([Indicator(T.PACKAGE, PKG, meta)]))
    assert result.decision is not None and result.decision.meta is meta


def test_a_big_index_builds_and_checks() -> None:
    """Not a timing test: a few hundred thousand indicators build, and misses stay misses."""
    meta = feed()
    indicators = [Indicator(T.FILE_SHA256, f"{i:064x}", meta) for i in range(200_000)]
    indicators += [Indicator(T.PACKAGE, f"com.spy.n{i}", meta) for i in range(100_000)]
    index = AppIndex(indicators)
    assert index.count == 300_000
    assert check(index, AppFingerprint(package="com.spy.n99999")).action is A.BLOCK
    assert check(index, AppFingerprint(sha256=f"{7:064x}")).action is A.BLOCK
    assert check(index, AppFingerprint(package="com.spy.n100000")).decision is None


# --- the web index skips app entries ----------------------------------------------------------


def test_web_layers_skip_app_entries_everywhere() -> None:
    meta = feed()
    indicators = [
        Indicator(T.DOMAIN, "spy.example", meta),
        Indicator(T.PACKAGE, PKG, meta),
        Indicator(T.FILE_SHA256, SHA256, meta),
        Indicator(T.CERT_SHA1, CERT1, meta),
        Indicator(T.IP, "192.0.2.1", meta),
    ]
    built = IndexLayer.build("feed:x", indicators)
    wire = IndicatorSet.of("feed:x", 1, indicators)
    carried = IndicatorSet.from_dict(wire.to_dict())
    assert carried == wire  # wire sets carry app entries
    from_set = IndexLayer.build_set(carried)
    from_entries = IndexLayer.build_entries("feed:x", wire.metas, wire.entries)
    for layer in (built, from_set, from_entries):
        assert layer.count == 2
        index = WebIndex([layer], builtin=False)
        assert index.check_host("spy.example", now=NOW).blocks
        assert index.check_host("192.0.2.1", now=NOW).blocks
        assert index.check_host("com.thetruth", now=NOW).decision is None
    assert AppIndex(carried.indicators()).count == 3
