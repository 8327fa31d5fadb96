"""Exporters: the admin CSV and STIX 2.1 bundles are well-formed and read back to the same
indicators through parse_indicators."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from stix2patterns.validator import run_validator  # type: ignore[import-untyped]

from openmtd.domain.enums import Severity
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.engines.web.canonical import canonical_indicator
from openmtd.intel.web_export import (
    CSV_CHUNK_ROWS,
    export_admin_csv,
    export_stix_bundle,
    stix_pattern,
    stix_string_literal,
)
from openmtd.intel.web_feeds import (
    ADMIN_CSV_COLUMNS,
    FeedFormat,
    parse_indicators,
    unescape_stix_string,
)

MVT = Path(__file__).resolve().parents[3] / "shared" / "data" / "mvt-indicators"
BASE = IndicatorMeta(kind=MatchKind.INDICATOR, source="console", action=IndicatorAction.BLOCK)
CREATED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
D, U, IP = IndicatorType.DOMAIN, IndicatorType.URL, IndicatorType.IP

RICH = IndicatorMeta(
    kind=MatchKind.INDICATOR,
    source="console",
    action=IndicatorAction.WARN,
    severity=Severity.HIGH,
    title='Credential phishing, kit "X"',
    description="Seen in an SMS campaign;\nline two",
    recommended_actions="Reset the password",
    category="Phishing",
    mitre_techniques=("T1660", "T1417.001"),
    generate_alert=False,
    expires_at=datetime(2027, 3, 1, 8, 30, 15, 123456, tzinfo=UTC),
    device_groups=("Sales", "Field Staff"),
)


def ind(type_: IndicatorType, value: str, meta: IndicatorMeta = BASE) -> Indicator:
    return Indicator(type_, canonical_indicator(type_, value), meta)


SAMPLE = [
    ind(D, "phish.example", RICH),
    ind(U, "https://evil.example/login?next=/home", RICH),
    ind(U, "http://[2001:db8::7]/gate.php"),
    ind(U, "http://x.example/a?q=it's\\"),  # a quote and a backslash reach the STIX pattern
    ind(IP, "10.0.0.0/8", IndicatorMeta(MatchKind.INDICATOR, "console", IndicatorAction.ALLOW)),
    ind(IP, "2001:db8::1", IndicatorMeta(MatchKind.INDICATOR, "console", IndicatorAction.AUDIT)),
    ind(D, "xn--bcher-kva.example"),
]


def admin_roundtrip(indicators: Iterable[Indicator]) -> list[Indicator]:
    text = "".join(export_admin_csv(indicators))
    parsed, report = parse_indicators(text, FeedFormat.ADMIN_CSV, defaults=BASE)
    assert report.problems == [], report.problems
    return parsed


# --- admin CSV --------------------------------------------------------------------------------


def test_admin_csv_roundtrip() -> None:
    assert SAMPLE[3].value == "x.example/a?q=it's\\"
    assert admin_roundtrip(SAMPLE) == SAMPLE


def test_admin_csv_layout() -> None:
    chunks = list(export_admin_csv(SAMPLE[:1]))
    assert chunks[0] == ",".join(ADMIN_CSV_COLUMNS) + "\r\n"
    rows = list(csv.reader(io.StringIO("".join(chunks), newline="")))
    assert rows[1] == [
        "DomainName",
        "phish.example",
        "2027-03-01T08:30:15.123456Z",
        "Warn",
        "High",
        'Credential phishing, kit "X"',
        "Seen in an SMS campaign;\nline two",
        "Reset the password",
        "Sales,Field Staff",
        "Phishing",
        "T1660,T1417.001",
        "FALSE",
    ]
    rows = list(csv.reader(io.StringIO("".join(export_admin_csv(SAMPLE[2:3])))))
    assert rows[1][:2] == ["Url", "[2001:db8::7]/gate.php"]  # the IPv6 host keeps brackets


def test_admin_csv_streams_in_chunks() -> None:
    many = [ind(D, f"d{i}.example") for i in range(2 * CSV_CHUNK_ROWS + 5)]
    chunks = list(export_admin_csv(iter(many)))
    assert len(chunks) == 4  # header, two full chunks, the rest
    assert chunks[1].count("\r\n") == CSV_CHUNK_ROWS
    assert admin_roundtrip(many) == many
    assert list(export_admin_csv([])) == [",".join(ADMIN_CSV_COLUMNS) + "\r\n"]


_NAMES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters=",;\r\n\x00"), min_size=1, max_size=12
).map(str.strip)
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
_METAS = st.builds(
    IndicatorMeta,
    kind=st.just(BASE.kind),
    source=st.just(BASE.source),
    action=st.sampled_from(list(IndicatorAction)),
    severity=st.sampled_from(list(Severity)),
    title=_TEXT.map(str.strip),
    description=_TEXT.map(str.strip),
    recommended_actions=_TEXT.map(str.strip),
    category=_NAMES,
    mitre_techniques=st.lists(st.from_regex(r"T1[0-9]{3}(\.00[1-9])?", fullmatch=True)).map(
        lambda ts: tuple(dict.fromkeys(ts))
    ),
    generate_alert=st.booleans(),
    expires_at=st.none()
    | st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(UTC),
    ),
    device_groups=st.lists(_NAMES.filter(bool), max_size=3).map(tuple),
)
_VALUES = st.one_of(
    st.tuples(
        st.just(D), st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){1,3}", fullmatch=True)
    ),
    st.tuples(st.just(IP), st.ip_addresses().map(str)),
    st.tuples(
        st.just(U),
        st.from_regex(r"[a-z]{1,8}\.example/[a-zA-Z0-9._~'!$&()*+,;=:@/\\-]{0,20}", fullmatch=True),
    ),
)


def _indicators(draws: list[tuple[tuple[IndicatorType, str], IndicatorMeta]]) -> list[Indicator]:
    seen: dict[tuple[IndicatorType, str, IndicatorMeta], Indicator] = {}
    for (type_, value), meta in draws:
        canonical = canonical_indicator(type_, value)
        if type_ is D and _is_ip(canonical):  # "1.2" is the address 1.0.0.2, as importers say
            type_ = IP
        made = Indicator(type_, canonical, meta)
        seen.setdefault((made.type, made.value, meta), made)
    return list(seen.values())


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _clean(meta: IndicatorMeta) -> bool:
    """Texts as a CSV cell or a STIX property carries them: without surrounding white space
    (both importers strip it)."""
    return all(c.strip() == c for c in (meta.title, meta.description, meta.recommended_actions))


@settings(max_examples=60, deadline=None)
@given(draws=st.lists(st.tuples(_VALUES, _METAS.filter(_clean)), max_size=8))
def test_admin_csv_roundtrip_property(
    draws: list[tuple[tuple[IndicatorType, str], IndicatorMeta]],
) -> None:
    indicators = _indicators(draws)
    assert admin_roundtrip(indicators) == indicators


# --- STIX -------------------------------------------------------------------------------------

_ID = re.compile(
    r"^[a-z][a-z0-9-]+[a-z0-9]--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_INDICATOR_PROPERTIES = {
    "type",
    "spec_version",
    "id",
    "created_by_ref",
    "created",
    "modified",
    "name",
    "description",
    "indicator_types",
    "pattern",
    "pattern_type",
    "pattern_version",
    "valid_from",
    "valid_until",
    "kill_chain_phases",
    "external_references",
}
_CUSTOM_PROPERTY = re.compile(r"^x_[a-z0-9_]{1,248}$")  # a-z, 0-9, _; 3 to 250 characters


def assert_valid_bundle(bundle: dict[str, object]) -> None:
    """The STIX 2.1 rules an exporter can break, checked by hand (no stix2 library here)."""
    assert bundle["type"] == "bundle"
    assert isinstance(bundle["id"], str) and _ID.match(bundle["id"])
    assert set(bundle) == {"type", "id", "objects"}  # 2.1 bundles have no spec_version
    objects = bundle["objects"]
    assert isinstance(objects, list)
    ids = [o["id"] for o in objects]
    assert len(ids) == len(set(ids))
    identity = objects[0]
    assert identity["type"] == "identity" and identity["spec_version"] == "2.1"
    assert _ID.match(identity["id"]) and identity["name"]
    for sdo in objects[1:]:
        assert sdo["type"] == "indicator" and sdo["spec_version"] == "2.1"
        assert _ID.match(sdo["id"]) and sdo["id"].startswith("indicator--")
        assert sdo["created_by_ref"] == identity["id"]
        for key in ("created", "modified", "valid_from", "valid_until"):
            if key in sdo:
                assert _TIMESTAMP.match(sdo[key]), (key, sdo[key])
        assert sdo["created"] == sdo["modified"]
        if "valid_until" in sdo:
            assert _parse_time(sdo["valid_until"]) > _parse_time(sdo["valid_from"])
        assert sdo["pattern_type"] == "stix" and sdo["pattern_version"] == "2.1"
        assert run_validator(sdo["pattern"], "2.1") == [], sdo["pattern"]
        for key in set(sdo) - _INDICATOR_PROPERTIES:
            assert _CUSTOM_PROPERTY.match(key), key
        for types in sdo.get("indicator_types", []):
            assert isinstance(types, str) and types
    json.dumps(bundle)  # plain JSON values only


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def stix_roundtrip(indicators: list[Indicator]) -> list[Indicator]:
    bundle = export_stix_bundle(indicators, created=CREATED)
    assert_valid_bundle(bundle)
    parsed, report = parse_indicators(json.dumps(bundle), FeedFormat.STIX, defaults=BASE)
    assert report.problems == [], report.problems
    assert report.ignored_reasons == {"identity object": 1}
    return parsed


def test_stix_bundle_shape() -> None:
    bundle = export_stix_bundle(SAMPLE, created=CREATED, identity_name="Contoso MTD")
    assert_valid_bundle(bundle)
    objects = bundle["objects"]
    assert isinstance(objects, list)
    assert objects[0]["name"] == "Contoso MTD"
    assert objects[0]["identity_class"] == "system"
    phish = objects[1]
    assert phish["pattern"] == "[domain-name:value = 'phish.example']"
    assert phish["name"] == 'Credential phishing, kit "X"'
    assert phish["indicator_types"] == ["Phishing"]
    assert phish["valid_from"] == "2026-11-26T12:00:00.000Z"
    assert phish["valid_until"] == "2027-03-01T08:30:15.123456Z"
    assert phish["x_openmtd_action"] == "Warn" and phish["x_openmtd_severity"] == "High"
    assert phish["x_openmtd_generate_alert"] is False
    assert phish["x_openmtd_device_groups"] == ["Sales", "Field Staff"]
    assert [r["external_id"] for r in phish["external_references"]] == ["T1660", "T1417.001"]
    assert {r["source_name"] for r in phish["external_references"]} == {"mitre-attack"}
    patterns = [o["pattern"] for o in objects[1:]]
    assert patterns[1:] == [
        "[url:value = 'http://evil.example/login?next=/home']",
        "[url:value = 'http://[2001:db8::7]/gate.php']",
        "[url:value = 'http://x.example/a?q=it\\'s\\\\']",
        "[ipv4-addr:value = '10.0.0.0/8']",
        "[ipv6-addr:value = '2001:db8::1']",
        "[domain-name:value = 'xn--bcher-kva.example']",
    ]
    plain = objects[-1]
    assert "name" not in plain and "valid_until" not in plain and "indicator_types" not in plain


def test_stix_roundtrip() -> None:
    assert stix_roundtrip(SAMPLE) == SAMPLE


@settings(max_examples=60, deadline=None)
@given(
    draws=st.lists(
        st.tuples(_VALUES, _METAS.filter(_clean)),  # _NAMES: categories hold no ","
        max_size=8,
    )
)
def test_stix_roundtrip_property(
    draws: list[tuple[tuple[IndicatorType, str], IndicatorMeta]],
) -> None:
    indicators = _indicators(draws)
    assert stix_roundtrip(indicators) == indicators


def test_stix_ids_are_deterministic_uuid5_over_type_value_source() -> None:
    first = export_stix_bundle(SAMPLE, created=CREATED)
    again = export_stix_bundle(list(SAMPLE), created=CREATED)
    assert first == again
    later = export_stix_bundle(SAMPLE, created=CREATED + timedelta(days=1))
    ids = [o["id"] for o in first["objects"]]
    assert ids == [o["id"] for o in later["objects"]]
    assert all(uuid.UUID(i.split("--")[1]).version == 5 for i in ids)
    # the meta other than source does not change the id; the source does
    reworded = [Indicator(SAMPLE[0].type, SAMPLE[0].value, BASE)]
    assert export_stix_bundle(reworded, created=CREATED)["objects"][1]["id"] == ids[1]
    other = IndicatorMeta(MatchKind.FEED, "another-feed", IndicatorAction.BLOCK)
    moved = [Indicator(SAMPLE[0].type, SAMPLE[0].value, other)]
    assert export_stix_bundle(moved, created=CREATED)["objects"][1]["id"] != ids[1]


def test_stix_same_target_twice_gets_two_ids() -> None:
    allow = IndicatorMeta(MatchKind.FEED, "list", IndicatorAction.ALLOW)
    block = IndicatorMeta(MatchKind.FEED, "list", IndicatorAction.BLOCK)
    pair = [ind(D, "a.example", allow), ind(D, "a.example", block)]
    bundle = export_stix_bundle(pair, created=CREATED)
    assert_valid_bundle(bundle)
    parsed, _ = parse_indicators(json.dumps(bundle), FeedFormat.STIX, defaults=block)
    assert [i.meta.action for i in parsed] == [IndicatorAction.ALLOW, IndicatorAction.BLOCK]


def test_stix_expired_indicator_keeps_valid_from_before_valid_until() -> None:
    expired = IndicatorMeta(
        MatchKind.INDICATOR,
        "console",
        IndicatorAction.BLOCK,
        expires_at=CREATED - timedelta(days=3),
    )
    bundle = export_stix_bundle([ind(D, "old.example", expired)], created=CREATED)
    assert_valid_bundle(bundle)
    sdo = bundle["objects"][1]
    assert sdo["valid_until"] == "2026-11-23T12:00:00.000Z"
    assert sdo["valid_from"] == "2026-11-23T11:59:59.000Z"


def test_stix_created_in_another_zone_is_written_in_utc() -> None:
    local = datetime(2026, 11, 26, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    bundle = export_stix_bundle([], created=local)
    assert bundle["objects"][0]["created"] == "2026-11-26T12:00:00.000Z"


def test_stix_string_literal_escaping() -> None:
    for value in ["plain", "it's", "back\\slash", "\\'", "''", "\\\\", "end\\"]:
        literal = stix_string_literal(value)
        assert run_validator(f"[url:value = {literal}]", "2.1") == []
        assert unescape_stix_string(literal) == value
    assert stix_pattern(ind(IP, "192.0.2.1")) == "[ipv4-addr:value = '192.0.2.1']"


def test_real_bundle_survives_import_export_import() -> None:
    text = (MVT / "operation_triangulation.stix2").read_text(encoding="utf-8")
    feed = IndicatorMeta(MatchKind.FEED, "mvt", IndicatorAction.BLOCK)
    first, _ = parse_indicators(text, FeedFormat.STIX, defaults=feed)
    bundle = export_stix_bundle(first, created=CREATED)
    assert_valid_bundle(bundle)
    second, report = parse_indicators(json.dumps(bundle), FeedFormat.STIX, defaults=feed)
    assert second == first and len(second) == 75
    assert report.problems == []
