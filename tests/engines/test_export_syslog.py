"""RFC 5424 messages and RFC 6587 octet-counting frames, read back by the test's own parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exportwire import parse_rfc5424, split_frames
from openmtd.domain.enums import Severity
from openmtd.engines.export.syslog import (
    SYSLOG_SEVERITY,
    escape_param,
    octet_counted,
    origin,
    rfc5424,
    structured_data,
)

AT = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_message() -> None:
    data = rfc5424(
        facility=13,
        severity=3,
        at=AT.astimezone(timezone(timedelta(hours=2))),
        hostname="mtd.example.com",
        app_name="openmtd",
        msgid="alert.raised",
        message="CEF:0|openmtd|…",
        sd=[origin("openmtd", "0.1.0")],
    )
    assert data.startswith(
        b"<107>1 2026-11-26T12:00:00.123456Z mtd.example.com openmtd - alert.raised "
        b'[origin software="openmtd" swVersion="0.1.0"] CEF:0|'
    )
    parsed = parse_rfc5424(data)
    assert (parsed.facility, parsed.severity) == (13, 3)
    assert parsed.message == "CEF:0|openmtd|…"
    assert parsed.sd == [("origin", {"software": "openmtd", "swVersion": "0.1.0"})]


def test_empty_fields_are_nil_and_odd_characters_replaced() -> None:
    data = rfc5424(
        facility=0, severity=0, at=AT, hostname="", app_name="my app", msgid="", message=""
    )
    assert data == b"<0>1 2026-11-26T12:00:00.123456Z - my_app - - -"


def test_severity_mapping() -> None:
    assert SYSLOG_SEVERITY == {
        Severity.INFORMATIONAL: 6,
        Severity.LOW: 5,
        Severity.MEDIUM: 4,
        Severity.HIGH: 3,
    }


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="facility 24"):
        rfc5424(facility=24, severity=0, at=AT, hostname="h", app_name="a", msgid="m", message="")
    with pytest.raises(ValueError, match="severity 8"):
        rfc5424(facility=1, severity=8, at=AT, hostname="h", app_name="a", msgid="m", message="")
    with pytest.raises(ValueError, match="naive"):
        rfc5424(
            facility=1,
            severity=1,
            at=datetime(2026, 1, 1),
            hostname="h",
            app_name="a",
            msgid="m",
            message="",
        )
    with pytest.raises(ValueError, match="SD-ID"):
        structured_data([("bad id", {})])


def test_param_escaping() -> None:
    assert escape_param('a"b\\c]d') == 'a\\"b\\\\c\\]d'


printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)


@given(
    facility=st.integers(0, 23),
    severity=st.integers(0, 7),
    hostname=printable,
    msgid=printable,
    value=st.text(max_size=80),
    message=st.text(max_size=200),
    at=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
def test_messages_parse_back(
    facility: int,
    severity: int,
    hostname: str,
    msgid: str,
    value: str,
    message: str,
    at: datetime,
) -> None:
    data = rfc5424(
        facility=facility,
        severity=severity,
        at=at,
        hostname=hostname,
        app_name="openmtd",
        msgid=msgid,
        message=message,
        sd=[("meta@32473", {"v": value})],
    )
    parsed = parse_rfc5424(data)
    assert (parsed.facility, parsed.severity) == (facility, severity)
    assert parsed.hostname == (hostname[:255] or "-")
    assert parsed.msgid == (msgid[:32] or "-")
    assert datetime.fromisoformat(parsed.timestamp) == at
    assert parsed.sd == [("meta@32473", {"v": value})]
    assert parsed.message == message


@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(1, 50))
def test_octet_counted_frames_split_back_in_any_chunking(messages: list[bytes], chunk: int) -> None:
    stream = b"".join(octet_counted(m) for m in messages)
    frames: list[bytes] = []
    rest = b""
    for i in range(0, len(stream), chunk):  # as a TCP reader sees it: arbitrary pieces
        found, rest = split_frames(rest + stream[i : i + chunk])
        frames.extend(found)
    assert frames == messages and rest == b""
