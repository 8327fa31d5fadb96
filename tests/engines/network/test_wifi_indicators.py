"""The known-bad Wi-Fi network list importer: CSV and plain lists, every bad line reported with
its number and never fatal, limits, and that no document can make it raise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmtd.domain.enums import Platform
from openmtd.domain.network import (
    SecurityKind,
    WifiHistory,
    WifiIndicator,
    WifiIndicatorType,
    WifiObservation,
    WifiPolicy,
    normalize_mac,
)
from openmtd.engines.network import wifi_indicators
from openmtd.engines.network.wifi import evaluate_wifi
from openmtd.engines.network.wifi_indicators import (
    MAX_LINE_CHARS,
    MAX_PROBLEMS,
    WifiListFormat,
    parse_wifi_indicators,
    wifi_indicator,
)

SSID = WifiIndicatorType.SSID
BSSID = WifiIndicatorType.BSSID


def values(text: str | bytes, **kw: str) -> list[tuple[str, str, str]]:
    return [(i.type.value, i.value, i.title) for i in parse_wifi_indicators(text, **kw).indicators]


def problem_lines(text: str | bytes) -> list[int]:
    return [p.line for p in parse_wifi_indicators(text).problems]


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------

CSV = """type,value,title
ssid,Free Public WiFi,Default lure SSID
bssid,00:13:37:AA:BB:CC,WiFi Pineapple
bssid,0013.37aa.bbcd,
"""


def test_csv() -> None:
    report = parse_wifi_indicators(CSV, default_title="Imported")
    assert report.format is WifiListFormat.CSV
    assert values(CSV, default_title="Imported") == [
        ("ssid", "Free Public WiFi", "Default lure SSID"),
        ("bssid", "00:13:37:aa:bb:cc", "WiFi Pineapple"),
        ("bssid", "00:13:37:aa:bb:cd", "Imported"),
    ]
    assert (report.lines, report.ignored, report.duplicates, report.problem_count) == (4, 1, 0, 0)


def test_csv_header_in_any_order_and_case_with_other_columns() -> None:
    text = "# exported 2025-05-01\n\nValue , TYPE,source\nEvil,SSID,osint\n"
    assert values(text) == [("ssid", "Evil", "")]
    assert values("value,type\n00:13:37:00:00:01,bssid\n") == [("bssid", "00:13:37:00:00:01", "")]


def test_csv_quoting_and_line_endings() -> None:
    text = '\ufefftype,value,title\r\nssid,"Cafe, Free","with ""quotes"""\r\n'
    assert values(text) == [("ssid", "Cafe, Free", 'with "quotes"')]
    assert values(text.encode("utf-8")) == values(text)


def test_csv_bad_lines_are_reported_with_their_numbers() -> None:
    text = "\n".join(
        [
            "type,value,title",  # 1
            "ssid,Good,",  # 2
            "mac,00:13:37:00:00:01,",  # 3 unknown type
            "ssid,,",  # 4 empty value
            "bssid,00:13:37:00:00,",  # 5 five octets
            "bssid,02:00:00:00:00:00,",  # 6 placeholder
            "bssid,01:00:5e:00:00:01,",  # 7 multicast
            "ssid," + "x" * 33,  # 8 too long
            "ssid,tab\there",  # 9 control character
            'ssid,"unclosed',  # 10 bad CSV
            "ssid",  # 11 too few columns
            "# comment",  # 12
            "bssid,00:13:37:00:00:02,Good too",  # 13
        ]
    )
    report = parse_wifi_indicators(text)
    assert [p.line for p in report.problems] == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert [i.value for i in report.indicators] == ["Good", "00:13:37:00:00:02"]
    reasons = {p.line: p.reason for p in report.problems}
    assert "ssid" in reasons[3] and "bssid" in reasons[3]
    assert "placeholder" in reasons[6]
    assert "32" in reasons[8]
    assert report.problems[0].text == "mac,00:13:37:00:00:01,"
    assert report.ignored == 2  # the header and the comment


def test_duplicates_are_kept_once() -> None:
    text = (
        "type,value,title\nssid,Evil,first\nssid,EVIL,second\n"
        "bssid,00:13:37:00:00:01,\nbssid,00-13-37-00-00-01,\n"
    )
    report = parse_wifi_indicators(text)
    assert [(i.value, i.title) for i in report.indicators] == [
        ("Evil", "first"),
        ("00:13:37:00:00:01", ""),
    ]
    assert report.duplicates == 2


# --------------------------------------------------------------------------------------------
# Plain lists
# --------------------------------------------------------------------------------------------


def test_plain_list() -> None:
    text = (
        "# known bad\nFree Public WiFi\n00:13:37:AA:BB:CC\n0013.37aa.bbcd\n001337aabbce\n"
        "\n  attwifi  \n"
    )
    report = parse_wifi_indicators(text, default_title="From the list")
    assert report.format is WifiListFormat.PLAIN
    assert [(i.type, i.value) for i in report.indicators] == [
        (SSID, "Free Public WiFi"),
        (BSSID, "00:13:37:aa:bb:cc"),
        (BSSID, "00:13:37:aa:bb:cd"),
        (BSSID, "00:13:37:aa:bb:ce"),
        (SSID, "attwifi"),
    ]
    assert {i.title for i in report.indicators} == {"From the list"}
    assert (report.lines, report.ignored) == (7, 2)


def test_plain_list_bad_lines() -> None:
    text = "aa:bb:cc:dd:ee:gg\nGood\n02:00:00:00:00:00\n" + "y" * 40 + "\nff-ff-ff-ff-ff-ff\n"
    assert problem_lines(text) == [1, 3, 4, 5]
    assert values(text) == [("ssid", "Good", "")]


def test_a_list_of_only_comments() -> None:
    report = parse_wifi_indicators("# nothing\n\n")
    assert (report.indicators, report.problems, report.lines, report.ignored) == ((), (), 2, 2)
    assert parse_wifi_indicators("").lines == 0


# --------------------------------------------------------------------------------------------
# Limits and unreadable documents
# --------------------------------------------------------------------------------------------


def test_long_lines_are_problems() -> None:
    text = "Good\n" + "z" * (MAX_LINE_CHARS + 1) + "\nAlso good\n"
    report = parse_wifi_indicators(text)
    assert [p.line for p in report.problems] == [2]
    assert len(report.problems[0].text) <= 200
    assert len(report.indicators) == 2


def test_the_indicator_limit_stops_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wifi_indicators, "MAX_INDICATORS", 3)
    report = parse_wifi_indicators("\n".join(f"net{i}" for i in range(10)))
    assert len(report.indicators) == 3
    assert [p.line for p in report.problems] == [4]
    assert "limit" in report.problems[0].reason


def test_problems_kept_are_bounded_but_all_counted() -> None:
    text = "type,value,title\n" + "nope,x,\n" * (MAX_PROBLEMS + 50)
    report = parse_wifi_indicators(text)
    assert len(report.problems) == MAX_PROBLEMS
    assert report.problem_count == MAX_PROBLEMS + 50


def test_too_large_a_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wifi_indicators, "MAX_DOCUMENT_BYTES", 100)
    for document in ("x\n" * 100, b"x\n" * 100):
        report = parse_wifi_indicators(document)
        assert report.indicators == () and [p.line for p in report.problems] == [0]


def test_not_utf8() -> None:
    report = parse_wifi_indicators(b"Good\n\xff\xfe bad\n")
    assert report.indicators == ()
    assert report.problems[0].line == 0 and "UTF-8" in report.problems[0].reason


def test_not_a_document() -> None:
    report = parse_wifi_indicators(None)  # type: ignore[arg-type]
    assert report.indicators == () and report.problem_count == 1


# --------------------------------------------------------------------------------------------
# One indicator
# --------------------------------------------------------------------------------------------


def test_wifi_indicator() -> None:
    assert wifi_indicator("BSSID", " 0:13:37:0:0:1 ", "x") == WifiIndicator(
        BSSID, "00:13:37:00:00:01", "x"
    )
    assert wifi_indicator("ssid", "Evil", "t\x07itle") == WifiIndicator(SSID, "Evil", "t?itle")
    for bad in [("oui", "00:13:37"), ("ssid", "  "), ("bssid", "nope"), ("ssid", "a\x00")]:
        assert isinstance(wifi_indicator(*bad), str)


# --------------------------------------------------------------------------------------------
# Into the engine
# --------------------------------------------------------------------------------------------


def test_imported_indicators_drive_the_known_bad_rule() -> None:
    report = parse_wifi_indicators(CSV)
    at = datetime(2025, 5, 1, tzinfo=UTC)
    seen = WifiObservation(
        Platform.ANDROID,
        at,
        ssid="Lobby",
        bssid="00:13:37:aa:bb:cc",
        security=SecurityKind.WPA2_PERSONAL,
    )
    findings, _ = evaluate_wifi([seen], WifiPolicy(indicators=report.indicators), WifiHistory(), at)
    assert [(f.rule_id, dict(f.evidence)["indicator_bssid_title"]) for f in findings] == [
        ("wifi.known_bad_network", "WiFi Pineapple")
    ]


# --------------------------------------------------------------------------------------------
# Nothing raises
# --------------------------------------------------------------------------------------------

LINES = st.one_of(
    st.text(max_size=60),
    st.text(alphabet='0123456789abcdefABCDEF:-.,"# ', max_size=40),
    st.sampled_from(["type,value,title", "ssid,x,y", "bssid,00:13:37:00:00:01,", "#", ""]),
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(LINES, max_size=20), sep=st.sampled_from(["\n", "\r\n", "\r"]))
def test_random_text_never_raises(lines: list[str], sep: str) -> None:
    text = sep.join(lines)
    report = parse_wifi_indicators(text)
    assert report.problem_count >= len(report.problems)
    assert all(0 <= p.line <= max(report.lines, 1) for p in report.problems)
    for indicator in report.indicators:
        if indicator.type is BSSID:
            assert normalize_mac(indicator.value) == indicator.value
        else:
            assert indicator.value and len(indicator.value.encode()) <= 32
    assert len({(i.type, i.value.casefold()) for i in report.indicators}) == len(report.indicators)


@settings(max_examples=200, deadline=None)
@given(document=st.binary(max_size=200))
def test_random_bytes_never_raise(document: bytes) -> None:
    report = parse_wifi_indicators(document)
    assert report.problem_count >= len(report.problems)
