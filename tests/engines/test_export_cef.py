"""CEF for alert events: the escaping round-trips through the test's own CEF parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exportwire import parse_cef
from openmtd.domain.enums import AlertClassification, AlertStatus, Severity
from openmtd.engines.export.cef import (
    CEF_SEVERITY,
    alert_cef,
    cef_line,
    escape_extension,
    escape_header,
)
from openmtd.engines.export.event import AlertChange, AlertDevice, AlertEvent

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def event(**changes: object) -> AlertEvent:
    base: dict[str, object] = {
        "key": "alert:7:raised:20261126T120000.000000Z",
        "change": AlertChange.RAISED,
        "occurred_at": AT,
        "alert_id": 7,
        "title": "Malicious app com.evil|app = bad\\thing",
        "category": "Malware",
        "severity": Severity.HIGH,
        "status": AlertStatus.NEW,
        "classification": AlertClassification.UNKNOWN,
        "first_seen": AT,
        "last_seen": AT,
        "count": 1,
        "evidence": {"package": "com.evil.app", "note": "a=b\nc\\d"},
        "device": AlertDevice(
            id="0b6f0d52-2d5c-4f3c-9a53-8d6f3b2c9e11",
            name="Alice's phone",
            platform="android",
            scenario="android-work-profile",
            device_group="sales",
        ),
    }
    base.update(changes)
    return AlertEvent(**base)  # type: ignore[arg-type]


def test_an_alert_as_cef() -> None:
    line = alert_cef(event(), version="0.1.0")
    assert "\n" not in line and "\r" not in line
    header, ext = parse_cef(line)
    assert header == [
        "openmtd",
        "openmtd",
        "0.1.0",
        "openmtd:Malware",
        "Malicious app com.evil|app = bad\\thing",
        "8",
    ]
    assert ext["act"] == "raised"
    assert ext["externalId"] == "7"
    assert ext["msg"] == "Malicious app com.evil|app = bad\\thing"
    assert ext["rt"] == str(int(AT.timestamp() * 1000))
    assert ext["cs1Label"] == "deviceId" and ext["cs1"] == "0b6f0d52-2d5c-4f3c-9a53-8d6f3b2c9e11"
    assert ext["shost"] == "Alice's phone"
    assert ext["cs3"] == "sales" and ext["cs4"] == "New" and ext["cs5"] == "Unknown"
    assert json.loads(ext["cs6"]) == {"note": "a=b\nc\\d", "package": "com.evil.app"}
    assert ext["flexString2Label"] == "idempotencyKey"
    assert ext["flexString2"] == "alert:7:raised:20261126T120000.000000Z"
    # The escapes themselves, as the specification writes them.
    assert "Malicious app com.evil\\|app = bad\\\\thing|8|" in line
    assert "msg=Malicious app com.evil|app \\= bad\\\\thing " in line


@pytest.mark.parametrize(
    ("severity", "number"),
    [(Severity.INFORMATIONAL, 1), (Severity.LOW, 3), (Severity.MEDIUM, 5), (Severity.HIGH, 8)],
)
def test_severity_mapping(severity: Severity, number: int) -> None:
    assert CEF_SEVERITY[severity] == number
    assert parse_cef(alert_cef(event(severity=severity), version="1"))[0][5] == str(number)


def test_long_evidence_is_cut() -> None:
    line = alert_cef(event(evidence={"blob": "x" * 10_000}), version="1")
    assert len(parse_cef(line)[1]["cs6"]) == 2000


def test_bad_parts_are_refused() -> None:
    with pytest.raises(ValueError, match="severity 11"):
        cef_line(version="1", signature_id="s", name="n", severity=11, extension=[])
    with pytest.raises(ValueError, match="not alphanumeric"):
        cef_line(version="1", signature_id="s", name="n", severity=1, extension=[("a b", "c")])


def test_escape_functions() -> None:
    assert escape_header("a|b\\c\nd") == "a\\|b\\\\c d"
    assert escape_extension("a=b\\c\nd\re|f") == "a\\=b\\\\c\\nd\\re|f"


header_text = st.text(st.characters(blacklist_characters="\r\n"), max_size=40)
value_text = st.text(max_size=60)
keys = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,11}", fullmatch=True)


@given(
    sig=header_text,
    name=header_text,
    version=header_text,
    values=st.dictionaries(keys, value_text, max_size=6),
)
def test_cef_round_trips_through_a_parser(
    sig: str, name: str, version: str, values: dict[str, str]
) -> None:
    line = cef_line(
        version=version,
        signature_id=sig,
        name=name,
        severity=5,
        extension=list(values.items()),
    )
    assert "\n" not in line and "\r" not in line
    header, ext = parse_cef(line)
    assert header == ["openmtd", "openmtd", version, sig, name, "5"]
    assert ext == values


@given(name=st.text(max_size=40))
def test_header_line_breaks_become_spaces(name: str) -> None:
    line = cef_line(version="1", signature_id="s", name=name, severity=0, extension=[])
    expected = name.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    assert parse_cef(line)[0][4] == expected
