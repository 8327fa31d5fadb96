"""Known-bad Wi-Fi network lists -> `WifiIndicator`s, for the Wi-Fi engine's known-bad rule.

Two formats, told apart by the first line that is neither blank nor a comment:

* CSV, when that line is a header naming the columns ``type`` and ``value`` (and optionally
  ``title``; any order and case, other columns are ignored): each row is ``ssid`` or ``bssid``,
  the value, and why it is bad. An empty title takes the importer's `default_title`.
* A plain list otherwise: one network per line; a line that is a MAC address is a BSSID, any
  other line an SSID. A line that looks like a MAC address but is not one (a typo such as
  "aa:bb:cc:dd:ee:gg") is reported rather than taken for an SSID.

In both, lines starting with "#" are comments and blank lines are skipped; values are trimmed
of surrounding white space (so an SSID that starts with "#" or with a space cannot be listed).
BSSIDs are stored canonical ("0a:1b:2c:3d:4e:5f"); SSIDs as written, and since they match
ignoring case, two SSIDs that differ only in case are one indicator.

Pure, and nothing raises: a bad line becomes a `WifiLineProblem` with its 1-based line number
and a reason, and parsing goes on; a document that cannot be read at all (too large, not UTF-8)
gives no indicators and one problem on line 0. At most `MAX_INDICATORS` are read; the line where
the limit struck is reported and the rest is not read.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from enum import StrEnum

from openmtd.domain.network import (
    PLACEHOLDER_MACS,
    WifiIndicator,
    WifiIndicatorType,
    is_multicast_mac,
    normalize_mac,
    printable,
    ssid_problem,
)

__all__ = [
    "WifiIndicatorImport",
    "WifiLineProblem",
    "WifiListFormat",
    "parse_wifi_indicators",
    "wifi_indicator",
]

MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
MAX_INDICATORS = 100_000
MAX_LINE_CHARS = 1024
MAX_TITLE_CHARS = 200
MAX_PROBLEMS = 100  # problems kept in a report; problem_count counts them all
MAX_PROBLEM_TEXT = 200


class WifiListFormat(StrEnum):
    CSV = "csv"  # header type,value,title
    PLAIN = "plain"  # one SSID or BSSID per line


@dataclass(frozen=True, slots=True)
class WifiLineProblem:
    """One line that could not be imported; line 0 is the whole document."""

    line: int
    reason: str
    text: str  # the offending line, printable, at most MAX_PROBLEM_TEXT characters


@dataclass(frozen=True, slots=True)
class WifiIndicatorImport:
    """What a list held: its indicators, and an account of every line."""

    format: WifiListFormat
    indicators: tuple[WifiIndicator, ...]
    lines: int  # lines read
    duplicates: int  # indicators listed more than once (kept once, the first title wins)
    ignored: int  # blank lines, comments and the CSV header
    problems: tuple[WifiLineProblem, ...]  # the first MAX_PROBLEMS
    problem_count: int  # all of them


_MAC_LOOKALIKE = re.compile(r"[0-9a-z]{1,2}([:-])(?:[0-9a-z]{1,2}\1){4}[0-9a-z]{1,2}", re.I)


def wifi_indicator(type_name: str, value: str, title: str = "") -> WifiIndicator | str:
    """One indicator from its parts (type "ssid" or "bssid", any case), canonical; or the
    reason it cannot be one. For the server's single-indicator form as well as the importer."""
    kind = type_name.strip().lower()
    if kind not in (WifiIndicatorType.SSID.value, WifiIndicatorType.BSSID.value):
        return f'unknown type {printable(type_name, 40)!r}: use "ssid" or "bssid"'
    text = value.strip()
    if not text:
        return "the value is empty"
    clean_title = printable(title.strip(), MAX_TITLE_CHARS)
    if kind == WifiIndicatorType.BSSID.value:
        mac = _bssid(text)
        if isinstance(mac, _Reason):
            return mac.text
        return WifiIndicator(WifiIndicatorType.BSSID, mac, clean_title)
    problem = _ssid_reason(text)
    if problem is not None:
        return problem
    return WifiIndicator(WifiIndicatorType.SSID, text, clean_title)


def parse_wifi_indicators(document: str | bytes, *, default_title: str = "") -> WifiIndicatorImport:
    """The indicators of a known-bad network list (CSV or plain; see the module docstring)."""
    text = _text(document)
    if isinstance(text, _Reason):
        return _Report(WifiListFormat.PLAIN).problem(0, text.text, "").result()
    lines = text.split("\n") if text else []
    if text.endswith("\n"):
        lines.pop()  # the empty string after the last newline is no line
    report = _Report(_format(lines))
    columns: dict[str, int] | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        report.lines = number
        if len(line) > MAX_LINE_CHARS:
            report.problem(number, f"the line is longer than {MAX_LINE_CHARS} characters", line)
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            report.ignored += 1
            continue
        if report.format is WifiListFormat.CSV and columns is None:
            columns = _header(stripped) or {}
            report.ignored += 1
            continue
        if len(report.indicators) >= MAX_INDICATORS:
            reason = f"the limit of {MAX_INDICATORS} indicators was reached; the rest was not read"
            report.problem(number, reason, line)
            break
        if report.format is WifiListFormat.CSV:
            parsed = _csv_row(stripped, columns or {}, default_title)
        else:
            parsed = _plain_line(stripped, default_title)
        if isinstance(parsed, str):
            report.problem(number, parsed, line)
        else:
            report.add(parsed)
    return report.result()


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reason:
    text: str


class _Report:
    def __init__(self, fmt: WifiListFormat) -> None:
        self.format = fmt
        self.indicators: dict[tuple[WifiIndicatorType, str], WifiIndicator] = {}
        self.lines = 0
        self.duplicates = 0
        self.ignored = 0
        self.problems: list[WifiLineProblem] = []
        self.problem_count = 0

    def problem(self, line: int, reason: str, text: str) -> _Report:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(WifiLineProblem(line, reason, printable(text, MAX_PROBLEM_TEXT)))
        return self

    def add(self, indicator: WifiIndicator) -> None:
        same = indicator.value.casefold() if indicator.type is WifiIndicatorType.SSID else None
        key = (indicator.type, same or indicator.value)
        if key in self.indicators:
            self.duplicates += 1
        else:
            self.indicators[key] = indicator

    def result(self) -> WifiIndicatorImport:
        return WifiIndicatorImport(
            format=self.format,
            indicators=tuple(self.indicators.values()),
            lines=self.lines,
            duplicates=self.duplicates,
            ignored=self.ignored,
            problems=tuple(self.problems),
            problem_count=self.problem_count,
        )


def _text(document: str | bytes) -> str | _Reason:
    if isinstance(document, bytes | bytearray):
        if len(document) > MAX_DOCUMENT_BYTES:
            return _Reason(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            return bytes(document).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            return _Reason(f"the document is not UTF-8 text (byte {e.start})")
    if not isinstance(document, str):
        return _Reason("the document is not text")
    if len(document) > MAX_DOCUMENT_BYTES:
        return _Reason(f"the document is larger than {MAX_DOCUMENT_BYTES} characters")
    return document.removeprefix("\ufeff")


def _format(lines: list[str]) -> WifiListFormat:
    for raw in lines:
        line = raw.strip()
        if line and not line.startswith("#"):
            return WifiListFormat.CSV if _header(line) else WifiListFormat.PLAIN
    return WifiListFormat.PLAIN


def _header(line: str) -> dict[str, int] | None:
    """Column positions when `line` is the CSV header, else None."""
    if len(line) > MAX_LINE_CHARS:
        return None
    cells = _cells(line)
    if cells is None:
        return None
    names = [cell.strip().lower() for cell in cells]
    if "type" not in names or "value" not in names:
        return None
    return {name: names.index(name) for name in ("type", "value", "title") if name in names}


def _cells(line: str) -> list[str] | None:
    try:
        return next(csv.reader([line], strict=True), [])
    except csv.Error:
        return None


def _csv_row(line: str, columns: dict[str, int], default_title: str) -> WifiIndicator | str:
    cells = _cells(line)
    if cells is None:
        return "the line is not valid CSV"
    needed = max(columns["type"], columns["value"]) + 1
    if len(cells) < needed:
        return f"the row has {len(cells)} column(s); type and value need {needed}"
    at_title = columns.get("title")
    title = cells[at_title] if at_title is not None and at_title < len(cells) else ""
    return wifi_indicator(
        cells[columns["type"]], cells[columns["value"]], title.strip() or default_title
    )


def _plain_line(line: str, default_title: str) -> WifiIndicator | str:
    if normalize_mac(line) is not None or _MAC_LOOKALIKE.fullmatch(line):
        return wifi_indicator("bssid", line, default_title)
    return wifi_indicator("ssid", line, default_title)


def _bssid(text: str) -> str | _Reason:
    mac = normalize_mac(text)
    if mac is None:
        return _Reason(f"{printable(text, 40)!r} is not a MAC address of 6 hex octets")
    if mac in PLACEHOLDER_MACS:
        return _Reason(f"{mac} is a placeholder devices report when the BSSID is hidden")
    if is_multicast_mac(mac):
        return _Reason(f"{mac} is a group address; no access point has one")
    return mac


def _ssid_reason(text: str) -> str | None:
    problem = ssid_problem(text)
    if problem is not None:
        return problem
    if not text.isprintable():
        return "the SSID contains control characters"
    return None
