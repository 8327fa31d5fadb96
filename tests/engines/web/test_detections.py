from datetime import UTC, datetime

from openmtd.domain.enums import Severity
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.engines.web.detections import web_detection
from openmtd.engines.web.index import build_index

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _index(action: IndicatorAction, generate_alert: bool = True):  # type: ignore[no-untyped-def]
    meta = IndicatorMeta(
        kind=MatchKind.FEED,
        source="phishtank",
        action=action,
        title="Listed phish",
        generate_alert=generate_alert,
    )
    return build_index([("f", [Indicator(IndicatorType.DOMAIN, "phish.example", meta)])])


def test_block_is_an_informational_phishing_warning_with_evidence() -> None:
    v = _index(IndicatorAction.BLOCK).check_url("http://phish.example/x", now=NOW)
    d = web_detection(v, channel="proxy", exclude_url=False)
    assert d is not None
    assert (d.category, d.severity, d.timeline_only) == ("Phishing", Severity.INFORMATIONAL, False)
    ev = dict(d.evidence)
    assert ev["url"] == "http://phish.example/x"
    assert ev["decided_by"] == "feed:phishtank"
    assert ev["action"] == "Block"
    assert "phish.example" in d.title


def test_overlooked_warning_is_low() -> None:
    v = _index(IndicatorAction.WARN).check_url("http://phish.example/", now=NOW)
    d = web_detection(v, channel="proxy", exclude_url=False, overlooked=True)
    assert d is not None
    assert d.severity is Severity.LOW
    assert d.title.startswith("Warning overlooked")


def test_exclude_url_leaves_no_trace_of_the_site() -> None:
    v = _index(IndicatorAction.BLOCK).check_url("http://x.phish.example/secret-path", now=NOW)
    d = web_detection(v, channel="dns", exclude_url=True)
    assert d is not None
    text = repr(d)
    assert "phish.example" not in text and "secret-path" not in text
    assert dict(d.evidence)["decided_by"] == "feed:phishtank"


def test_allowed_and_unmatched_traffic_is_not_reported_and_audit_is_timeline_only() -> None:
    assert (
        web_detection(
            _index(IndicatorAction.ALLOW).check_host("phish.example", now=NOW),
            channel="dns",
            exclude_url=False,
        )
        is None
    )
    assert (
        web_detection(
            _index(IndicatorAction.BLOCK).check_host("ok.example", now=NOW),
            channel="dns",
            exclude_url=False,
        )
        is None
    )
    audit = web_detection(
        _index(IndicatorAction.AUDIT).check_host("phish.example", now=NOW),
        channel="dns",
        exclude_url=False,
    )
    assert audit is not None and audit.timeline_only
    quiet = web_detection(
        _index(IndicatorAction.BLOCK, generate_alert=False).check_host("phish.example", now=NOW),
        channel="dns",
        exclude_url=False,
    )
    assert quiet is not None and quiet.timeline_only
