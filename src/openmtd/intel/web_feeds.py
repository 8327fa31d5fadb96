"""Indicator feeds -> `Indicator`s: domain lists, hosts files, adblock lists, URL lists, CSV,
STIX 2.1 bundles, the reference product's admin CSV, and the stalkerware-indicators project's
YAML and samples CSV.

Web indicators (domain, URL, IP) and app indicators (APK file hashes, signing-certificate
thumbprints, package names) come out of the same parsers: STIX bundles and the admin CSV hold
both, the stalkerware YAML too, the samples CSV only app indicators.

Everything here is pure: a parser takes the document's text and returns the indicators it found
and an `ImportReport` that accounts for every line (or STIX object). A bad line never aborts an
import: it becomes a `LineProblem` with its 1-based line number and a reason, and parsing goes
on. A document that cannot be read at all (a STIX file that is not JSON, JSON that is not a
bundle, a CSV without a usable header) yields no indicators and one problem — nothing raises.

Every value goes through `canonical_indicator`, so the values of the returned indicators are the
ones the web engine matches on. Indicators with the same type, value and meta are kept once and
counted as duplicates. Metas are interned: rows with the same attributes share one
`IndicatorMeta` object, so a million-row feed costs one meta, not a million.

Counting: `lines` is the number of physical lines read (STIX: objects in the bundle, the
stalkerware YAML: its entries);
`accepted`, `duplicates`, `ignored` and `problem_count` count entries — a hosts line can name
several hosts and a STIX pattern several comparisons, so these need not add up to `lines`.
Problems of a STIX object have line 0 and name the object ("objects[3] indicator--…: …").
Problems of a stalkerware YAML entry have the entry's first line and name it by index and name
("entries[3] 'TheTruthSpy': certificates[2]: …").

STIX patterns are parsed by stix2-patterns (the OASIS ANTLR grammar), walked by a small
listener that keeps the comparisons in order and notes AND, FOLLOWEDBY and qualifiers. The one
shape nearly every feed uses, "[domain-name:value = 'x']", skips the ANTLR parser (about
0.3 ms a pattern) through an exact str-method fast path; a test holds the two to the same
answers.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
import yaml
from stix2patterns.exceptions import ParseException  # type: ignore[import-untyped]
from stix2patterns.v21.grammars.STIXPatternListener import (  # type: ignore[import-untyped]
    STIXPatternListener,
)
from stix2patterns.v21.pattern import Pattern  # type: ignore[import-untyped]

from openmtd.domain.enums import Severity
from openmtd.domain.errors import InvalidInput
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType
from openmtd.engines.apps.identifiers import InvalidAppIdentifier, cert_type_of
from openmtd.engines.web.canonical import canonical_indicator

MAX_PROBLEMS = 100  # LineProblems kept in a report; problem_count counts them all
MAX_PROBLEM_TEXT = 200


class FeedFormat(StrEnum):
    DOMAINS = "domains"  # one domain per line
    HOSTS = "hosts"  # hosts file: "0.0.0.0 ads.example.com other.example"
    ADBLOCK = "adblock"  # Adblock Plus / uBlock / AdGuard network rules
    URLS = "urls"  # one URL (or bare host) per line
    CSV = "csv"  # any CSV with an url/domain/host/ip/indicator/value column
    STIX = "stix"  # STIX 2.1 (or 2.0) bundle
    ADMIN_CSV = "admin-csv"  # the reference product's indicator import CSV
    STALKERWARE_YAML = "stalkerware-yaml"  # stalkerware-indicators' ioc.yaml / watchware.yaml
    SAMPLES_CSV = "samples-csv"  # stalkerware-indicators' samples.csv (APK hashes)


@dataclass(frozen=True, slots=True)
class LineProblem:
    """One line (or STIX object) that could not be imported. Line 0: the whole document, or a
    STIX object, whose index the reason names ("objects[3] indicator--…: …")."""

    line: int
    reason: str
    text: str  # the offending line, at most MAX_PROBLEM_TEXT characters


@dataclass(slots=True)
class ImportReport:
    format: FeedFormat
    lines: int = 0  # lines (STIX: objects) read
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0  # comments, blank lines, valid but unsupported entries; see ignored_reasons
    ignored_reasons: dict[str, int] = field(default_factory=dict)
    problems: list[LineProblem] = field(default_factory=list)  # the first MAX_PROBLEMS
    problem_count: int = 0  # all of them

    def note_ignored(self, reason: str) -> None:
        self.ignored += 1
        self.ignored_reasons[reason] = self.ignored_reasons.get(reason, 0) + 1

    def note_problem(self, line: int, reason: str, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(LineProblem(line, reason, text[:MAX_PROBLEM_TEXT]))


# --- the reference product's admin CSV ------------------------------------------------------

ADMIN_CSV_COLUMNS = (
    "IndicatorType",
    "IndicatorValue",
    "ExpirationTime",
    "Action",
    "Severity",
    "Title",
    "Description",
    "RecommendedActions",
    "RbacGroups",
    "Category",
    "MitreTechniques",
    "GenerateAlert",
)
# The IndicatorType column: the reference product's names, then our extensions for what it has
# no name for (CertificateSha256, CertificateMd5, PackageName). On import CertificateThumbprint
# (the reference product's, a SHA-1) takes its algorithm from its length: 40 hex digits SHA-1,
# 64 SHA-256, 32 MD5. Export writes the names below, so every type reads back as itself.
ADMIN_TYPE_NAMES = {
    IndicatorType.DOMAIN: "DomainName",
    IndicatorType.URL: "Url",
    IndicatorType.IP: "IpAddress",
    IndicatorType.FILE_SHA256: "FileSha256",
    IndicatorType.FILE_SHA1: "FileSha1",
    IndicatorType.FILE_MD5: "FileMd5",
    IndicatorType.CERT_SHA1: "CertificateThumbprint",
    IndicatorType.CERT_SHA256: "CertificateSha256",  # extension
    IndicatorType.CERT_MD5: "CertificateMd5",  # extension
    IndicatorType.PACKAGE: "PackageName",  # extension
}
_ADMIN_TYPES = {name.lower(): t for t, name in ADMIN_TYPE_NAMES.items()}
_ADMIN_THUMBPRINT = "certificatethumbprint"
_ADMIN_ACTIONS = {
    "allowed": IndicatorAction.ALLOW,
    "allow": IndicatorAction.ALLOW,
    "audit": IndicatorAction.AUDIT,
    "warn": IndicatorAction.WARN,
    "block": IndicatorAction.BLOCK,
    "blocked": IndicatorAction.BLOCK,
    "blockandremediate": IndicatorAction.BLOCK,
}
_SEVERITIES = {s.value.lower(): s for s in Severity}
_BOOLEANS = {"true": True, "false": False}


# --- entry points -----------------------------------------------------------------------------


def detect_format(text: str, filename: str = "") -> FeedFormat:
    """Guess a document's format from its file name and its first lines.

    Rules, first match wins:
    1. the content starts with "{" (after a BOM and white space), or the name ends in .stix2,
       .stix or .json: STIX;
    2. the first non-blank line is the admin CSV header (any order, any case): ADMIN_CSV;
    2a. the first non-blank line is the samples CSV header (SHA256,Package Name,Certificate,…
       with any order and case): SAMPLES_CSV;
    2b. the name ends in .yaml or .yml, or the first line that is neither blank nor a "#"
       comment starts with "- name:": STALKERWARE_YAML;
    3. the name ends in .csv, or the first line that is neither blank nor a comment ("#", "!")
       — or the comment line right before it, as URLhaus writes its header — is a CSV header
       with a column named like url/domain/host/ip/indicator/value: CSV;
    4. a "[Adblock …]" first line, or any adblock rule ("||…", "@@…", "|http…", "…##…",
       "…#@#…") among the first 200 lines that are neither blank nor comments: ADBLOCK;
    5. more than half of those lines are "<IP address> <name> …": HOSTS;
    6. any of them holds "://": URLS;
    7. otherwise DOMAINS.
    """
    name = filename.lower().partition("?")[0].partition("#")[0]  # a feed URL works too
    head = text[:4096].lstrip("\ufeff \t\r\n")
    if head.startswith("{") or name.endswith((".stix2", ".stix", ".json")):
        return FeedFormat.STIX
    first = next((ln.strip() for ln in _lines(head) if ln.strip()), "")
    if _is_admin_header(first):
        return FeedFormat.ADMIN_CSV
    if _samples_columns(next(csv.reader([first]), [])) is not None:
        return FeedFormat.SAMPLES_CSV
    if name.endswith((".yaml", ".yml")):
        return FeedFormat.STALKERWARE_YAML
    content = next((ln.strip() for ln in _lines(head) if ln.strip()[:1] not in ("", "#")), "")
    if content.startswith("- name:"):
        return FeedFormat.STALKERWARE_YAML
    if name.endswith(".csv"):
        return FeedFormat.CSV
    if first.lower().startswith("[adblock"):
        return FeedFormat.ADBLOCK
    sampled = hosts = urls = 0
    last_comment = ""
    for raw in _lines(text):
        line = raw.strip()
        if not line:
            continue
        if line[0] == "#" or line[0] == "!":
            if not sampled:
                last_comment = line
            continue
        if not sampled and ("," in line and _looks_like_csv_header(line, last_comment)):
            return FeedFormat.CSV
        sampled += 1
        if line.startswith(("||", "@@", "|http")) or "##" in line or "#@#" in line:
            return FeedFormat.ADBLOCK
        fields = line.split()
        if len(fields) >= 2 and _parse_ip(fields[0]) is not None:
            hosts += 1
        if "://" in line:
            urls += 1
        if sampled >= 200:
            break
    if sampled and hosts * 2 > sampled:
        return FeedFormat.HOSTS
    if urls:
        return FeedFormat.URLS
    return FeedFormat.DOMAINS


def _looks_like_csv_header(line: str, comment: str) -> bool:
    if _value_column(next(csv.reader([line]), [])) is not None:
        return True
    return bool(comment) and _value_column(next(csv.reader([comment]), [])) is not None


def parse_indicators(
    text: str, fmt: FeedFormat, *, defaults: IndicatorMeta
) -> tuple[list[Indicator], ImportReport]:
    """Parse a document of format `fmt`; every indicator starts from `defaults` (its kind and
    source always come from there). Never raises on bad input: see the module docstring."""
    if text.startswith("\ufeff"):
        text = text[1:]
    sink = _Sink(fmt, defaults)
    _PARSERS[fmt](text, sink)
    return sink.indicators, sink.report


# --- shared machinery -------------------------------------------------------------------------


class _Sink:
    """Collects indicators: canonicalises, de-duplicates, interns metas, counts."""

    __slots__ = ("_metas", "_seen", "defaults", "indicators", "report")

    def __init__(self, fmt: FeedFormat, defaults: IndicatorMeta) -> None:
        self.report = ImportReport(format=fmt)
        self.indicators: list[Indicator] = []
        self._metas: dict[IndicatorMeta, IndicatorMeta] = {}
        # (type, id(meta)) -> canonical values; metas are interned, so identity is equality
        self._seen: dict[tuple[IndicatorType, int], set[str]] = {}
        self.defaults = self.intern(defaults)

    def intern(self, meta: IndicatorMeta) -> IndicatorMeta:
        return self._metas.setdefault(meta, meta)

    def add(
        self,
        type_: IndicatorType,
        raw: str,
        meta: IndicatorMeta,
        line: int,
        text: str,
        where: str = "",
    ) -> None:
        """`meta` must come from intern() (or be self.defaults); `where` prefixes a problem."""
        if type_ is IndicatorType.URL and not _scheme_ok(raw):
            self.report.note_problem(line, f"{where}not a URL: {raw[:80]!r}", text)
            return
        try:
            value = canonical_indicator(type_, raw)
        except (InvalidInput, ValueError) as e:
            reason = f"{where}invalid {type_.value} {raw[:80]!r}: {_message(e)}"
            self.report.note_problem(line, reason, text)
            return
        if (
            type_ is IndicatorType.DOMAIN
            and (value[-1].isdigit() or ":" in value)
            and _parse_ip(value) is not None
        ):  # "192.0.2.1" or "3221225985" in a domain list
            type_ = IndicatorType.IP
        key = (type_, id(meta))
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = set()
        if value in seen:
            self.report.duplicates += 1
            return
        seen.add(value)
        self.indicators.append(Indicator(type_, value, meta))
        self.report.accepted += 1

    def name_adder(self, meta: IndicatorMeta) -> Callable[[str, int, str], None]:
        """add() for one token of a domain list or hosts file: a domain or an IP address,
        never a URL. Domain names take a fast path (this runs a million times for big lists)."""
        domain, canonical, add = IndicatorType.DOMAIN, canonical_indicator, self.add
        report, append = self.report, self.indicators.append
        seen = self._seen.setdefault((domain, id(meta)), set())

        def add_name(raw: str, line: int, text: str) -> None:
            if "/" in raw or ":" in raw or raw[-1].isdigit() or raw[0] == "[":
                type_, value = _classify(raw)
                if type_ is IndicatorType.URL:
                    report.note_problem(line, "not a domain name or IP address", text)
                else:
                    add(type_, value, meta, line, text)
                return
            try:
                value = canonical(domain, raw)
            except (InvalidInput, ValueError) as e:
                report.note_problem(line, f"invalid domain {raw[:80]!r}: {_message(e)}", text)
                return
            if value[-1].isdigit():  # "0x7f.0.0.0xa" is an IPv4 address
                add(domain, raw, meta, line, text)
            elif value in seen:
                report.duplicates += 1
            else:
                seen.add(value)
                append(Indicator(domain, value, meta))
                report.accepted += 1

        return add_name


def _scheme_ok(url: str) -> bool:
    """No "://", or a scheme (RFC 3986: a letter, then letters, digits, "+", "-", ".") before
    it: '"12","2026-01-01","http://x/"' is a CSV row, not a URL."""
    scheme, sep, _ = url.partition("://")
    return not sep or (
        scheme[:1].isascii()
        and scheme[:1].isalpha()
        and all(c.isascii() and (c.isalnum() or c in "+-.") for c in scheme)
    )


def _message(e: Exception) -> str:
    return str(getattr(e, "message", "") or e) or type(e).__name__


def _lines(text: str) -> Iterator[str]:
    """The document's lines, split like an editor does (\\n, \\r\\n or \\r), streamed."""
    return iter(io.StringIO(text, newline=None))


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text or (":" not in text and not text[-1].isdigit()):
        return None  # cheap rejection of names, before paying for an exception
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _classify(value: str) -> tuple[IndicatorType, str]:
    """The type of a bare value: IP (an address or a network), URL (a scheme or a path), or
    domain ("*.example.com" meaning example.com)."""
    if "://" in value:
        return IndicatorType.URL, value
    host, slash, rest = value.partition("/")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if _parse_ip(host) is not None and (not slash or rest.isdigit()):
        return IndicatorType.IP, host + slash + rest
    if slash:
        return IndicatorType.URL, value
    if value.startswith("*."):
        value = value[2:]
    return IndicatorType.DOMAIN, value


def _cut_comment(line: str) -> str:
    """Drop a trailing "# comment" (domain and hosts lines never contain "#")."""
    at = line.find("#")
    return line if at < 0 else line[:at].rstrip()


# --- DOMAINS --------------------------------------------------------------------------------


def _parse_domains(text: str, sink: _Sink) -> None:
    report, add_name = sink.report, sink.name_adder(sink.defaults)
    number = 0
    for number, raw in enumerate(_lines(text), 1):  # noqa: B007 - number is the line count
        line = raw.strip()
        if not line:
            report.note_ignored("blank line")
            continue
        if line[0] == "#" or line[0] == "!":
            report.note_ignored("comment")
            continue
        value = _cut_comment(line) if "#" in line else line
        if " " in value or "\t" in value:
            report.note_problem(number, "expected one domain on the line", line)
            continue
        add_name(value, number, line)
    report.lines = number


# --- HOSTS ----------------------------------------------------------------------------------

_LOCAL_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "0.0.0.0",
    }
)
_SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "::0"})


def _parse_hosts(text: str, sink: _Sink) -> None:
    report, add_name = sink.report, sink.name_adder(sink.defaults)
    number = 0
    for number, raw in enumerate(_lines(text), 1):  # noqa: B007 - number is the line count
        line = raw.strip()
        if not line:
            report.note_ignored("blank line")
            continue
        if line[0] == "#" or line[0] == "!":
            report.note_ignored("comment")
            continue
        fields = (_cut_comment(line) if "#" in line else line).split()
        address = fields[0]
        if address not in _SINKS:
            ip = _parse_ip(address)
            if ip is None:
                report.note_problem(number, "expected an IP address followed by host names", line)
                continue
            if not (ip.is_unspecified or ip.is_loopback):
                # "10.0.0.5 nas.home" gives a name an address, it does not block it
                report.note_ignored("address is not 0.0.0.0 or loopback (not a block entry)")
                continue
        if len(fields) == 1:
            report.note_problem(number, "no host name after the address", line)
            continue
        for name in fields[1:]:
            lowered = name.lower()
            if lowered in _LOCAL_NAMES or lowered.endswith((".localhost", ".localdomain")):
                report.note_ignored("local host name")
            else:
                add_name(name, number, line)
    report.lines = number


# --- ADBLOCK --------------------------------------------------------------------------------

_COSMETIC_MARKERS = ("##", "#@#", "#?#", "#$#", "#%#", "$$", "$@$")
# Options that only narrow which requests of the host a rule blocks (by party or resource
# type): blocking the whole host is what a DNS-level blocker does with these rules too. Every
# other option (domain=, denyallow=, badfilter, redirect, csp, removeparam, dnsrewrite, …)
# changes what the rule means, so such rules are ignored rather than guessed at.
_PLAIN_OPTIONS = frozenset(
    {
        "third-party",
        "3p",
        "first-party",
        "1p",
        "strict1p",
        "strict3p",
        "strict-first-party",
        "strict-third-party",
        "important",
        "all",
        "document",
        "doc",
        "popup",
        "script",
        "image",
        "stylesheet",
        "css",
        "xmlhttprequest",
        "xhr",
        "subdocument",
        "frame",
        "media",
        "font",
        "object",
        "object-subrequest",
        "ping",
        "beacon",
        "websocket",
        "webrtc",
        "other",
        "match-case",
    }
)
_HOST_END = frozenset("^/|*?:")


def _parse_adblock(text: str, sink: _Sink) -> None:
    report = sink.report
    block = sink.defaults
    allow = sink.intern(replace(block, action=IndicatorAction.ALLOW))
    number = 0
    for number, raw in enumerate(_lines(text), 1):  # noqa: B007 - number is the line count
        line = raw.strip()
        if not line:
            report.note_ignored("blank line")
            continue
        if line[0] == "!":
            report.note_ignored("comment")
            continue
        if line[0] == "[" and line[-1] == "]":
            report.note_ignored("header")
            continue
        if any(marker in line for marker in _COSMETIC_MARKERS):
            report.note_ignored("cosmetic rule")
            continue
        if line[0] == "#":
            report.note_ignored("comment")
            continue
        is_exception = line.startswith("@@")
        outcome = _adblock_target(line[2:] if is_exception else line)
        if isinstance(outcome, _Skip):
            if outcome.problem:
                report.note_problem(number, outcome.reason, line)
            else:
                report.note_ignored(outcome.reason)
            continue
        type_, value = outcome
        sink.add(type_, value, allow if is_exception else block, number, line)
    report.lines = number


@dataclass(frozen=True, slots=True)
class _Skip:
    reason: str
    problem: bool = False


def _adblock_target(rule: str) -> tuple[IndicatorType, str] | _Skip:
    """What a network rule (without its "@@") blocks, if it names a host or a host + path."""
    if rule.startswith("/") and rule.endswith("/") and len(rule) > 1:
        return _Skip("regex rule")
    pattern, dollar, options = rule.rpartition("$") if "$" in rule else (rule, "", "")
    if pattern.startswith("/") and pattern.endswith("/") and len(pattern) > 1:
        return _Skip("regex rule")
    if dollar:
        for option in options.split(","):
            name = option.strip().lstrip("~").partition("=")[0].lower()
            if name not in _PLAIN_OPTIONS:
                return _Skip("rule with an unsupported option")
    if pattern.startswith("||"):
        rest = pattern[2:]
    elif pattern.startswith("|") and "://" in pattern:
        rest = pattern[1:].partition("://")[2]
    else:
        return _Skip("generic rule (no domain anchor)")
    if rest.startswith("*."):
        rest = rest[2:]
    end = next((i for i, ch in enumerate(rest) if ch in _HOST_END), len(rest))
    host, tail = rest[:end], rest[end:]
    if not host:
        return _Skip("no domain after the anchor", problem=True)
    if tail in ("", "^", "|", "^|"):
        type_, value = _classify(host)
        return type_, value
    if tail[0] != "/":
        return _Skip("wildcard rule")
    path = tail.rstrip("^|*")
    if "*" in path or "^" in path or "|" in path:
        return _Skip("wildcard rule")
    return IndicatorType.URL, host + path


# --- URLS -----------------------------------------------------------------------------------


def _parse_urls(text: str, sink: _Sink) -> None:
    report, meta, add = sink.report, sink.defaults, sink.add
    number = 0
    for number, raw in enumerate(_lines(text), 1):  # noqa: B007 - number is the line count
        line = raw.strip()
        if not line:
            report.note_ignored("blank line")
            continue
        if line[0] == "#" or line[0] == "!":
            report.note_ignored("comment")
            continue
        value = line
        for marker in (" #", "\t#"):  # a URL may hold "#" (a fragment), a comment follows a space
            at = value.find(marker)
            if at >= 0:
                value = value[:at].rstrip()
        if " " in value or "\t" in value:
            report.note_problem(number, "expected one URL on the line", line)
            continue
        type_, value = _classify(value)
        add(type_, value, meta, number, line)
    report.lines = number


# --- CSV ------------------------------------------------------------------------------------

# Column names (lower case, without " ", "_", "-") that hold the indicator, most specific first.
_VALUE_COLUMNS = (
    "indicator",
    "indicatorvalue",
    "ioc",
    "value",
    "url",
    "uri",
    "domain",
    "domainname",
    "hostname",
    "host",
    "ip",
    "ipaddress",
)


def _column_key(name: str) -> str:
    return (
        name.strip().strip("#").strip().lower().replace(" ", "").replace("_", "").replace("-", "")
    )


def _value_column(header: list[str]) -> int | None:
    keys = [_column_key(h) for h in header]
    for wanted in _VALUE_COLUMNS:
        if wanted in keys:
            return keys.index(wanted)
    return None


class _CsvRows:
    """csv.reader over the text with 1-based start line numbers; a csv.Error is reported as a
    problem on its row and reading goes on."""

    def __init__(self, text: str, report: ImportReport) -> None:
        self._reader = csv.reader(io.StringIO(text, newline=""))
        self._report = report

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                self._report.note_problem(start, f"unreadable CSV row: {e}", "")
                continue
            yield start, row

    @property
    def lines(self) -> int:
        return int(self._reader.line_num)


def _is_comment_row(row: list[str]) -> bool:
    return bool(row) and row[0].lstrip().startswith("#")


def _is_blank_row(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


def _row_text(row: list[str]) -> str:
    return ",".join(row)[:MAX_PROBLEM_TEXT]


def _parse_csv(text: str, sink: _Sink) -> None:
    report, meta = sink.report, sink.defaults
    rows = _CsvRows(text, report)
    header: list[str] | None = None
    column = 0
    last_comment: list[str] = []
    for number, row in rows:
        if _is_blank_row(row):
            report.note_ignored("blank line")
            continue
        if _is_comment_row(row):
            report.note_ignored("comment")
            last_comment = row
            continue
        if header is None:
            found = _value_column(row)
            if found is not None:
                header, column = row, found
                continue
            # URLhaus-style: the header is the last comment line ("# id,dateadded,url,…")
            found = _value_column(last_comment) if last_comment else None
            if found is None:
                report.note_problem(
                    number,
                    "no header row with a column named url, domain, host, ip, indicator or value",
                    _row_text(row),
                )
                break
            header, column = last_comment, found
        if len(row) != len(header):
            report.note_problem(
                number, f"expected {len(header)} columns, found {len(row)}", _row_text(row)
            )
            continue
        value = row[column].strip()
        if not value:
            report.note_problem(number, f"empty {header[column].strip()!r} column", _row_text(row))
            continue
        type_, value = _classify(value)
        sink.add(type_, value, meta, number, _row_text(row))
    report.lines = rows.lines
    if header is None and not report.problem_count:
        report.note_problem(0, "no header row", "")


# --- ADMIN_CSV ------------------------------------------------------------------------------


def _is_admin_header(line: str) -> bool:
    cells = [c.strip().strip('"').strip().lower() for c in line.split(",")]
    return sorted(cells) == sorted(c.lower() for c in ADMIN_CSV_COLUMNS)


class _RowError(Exception):
    pass


def _split_list(cell: str) -> tuple[str, ...]:
    return tuple(p for p in (part.strip() for part in cell.replace(";", ",").split(",")) if p)


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 / RFC 3339 -> an aware UTC datetime; a naive time is taken as UTC.
    Raises ValueError."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise ValueError(f"not an ISO 8601 time: {text[:40]!r}") from e
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as e:
        raise ValueError(f"time out of range: {text[:40]!r}") from e


def _admin_meta(cells: tuple[str, ...], defaults: IndicatorMeta) -> IndicatorMeta:
    """ExpirationTime … GenerateAlert (columns 3-12) -> meta; raises _RowError."""
    (expiry, action, severity, title, description, recommended, groups, category, mitre,
     alert) = cells  # fmt: skip
    changes: dict[str, Any] = {}
    if expiry.strip():
        try:
            changes["expires_at"] = parse_timestamp(expiry)
        except ValueError as e:
            raise _RowError(f"bad ExpirationTime: {e}") from e
    if action.strip():
        key = action.strip().lower()
        if key not in _ADMIN_ACTIONS:
            raise _RowError(f"unknown Action {action.strip()[:40]!r}")
        changes["action"] = _ADMIN_ACTIONS[key]
    if severity.strip():
        key = severity.strip().lower()
        if key not in _SEVERITIES:
            raise _RowError(f"unknown Severity {severity.strip()[:40]!r}")
        changes["severity"] = _SEVERITIES[key]
    if alert.strip():
        key = alert.strip().lower()
        if key not in _BOOLEANS:
            raise _RowError(f"GenerateAlert must be TRUE or FALSE, not {alert.strip()[:40]!r}")
        changes["generate_alert"] = _BOOLEANS[key]
    for name, cell in (
        ("title", title),
        ("description", description),
        ("recommended_actions", recommended),
        ("category", category),
    ):
        if cell.strip():
            changes[name] = cell.strip()
    if groups.strip():
        changes["device_groups"] = _split_list(groups)
    if mitre.strip():
        changes["mitre_techniques"] = _split_list(mitre)
    return replace(defaults, **changes) if changes else defaults


def _parse_admin_csv(text: str, sink: _Sink) -> None:
    report = sink.report
    rows = _CsvRows(text, report)
    order: list[int] | None = None  # position of each ADMIN_CSV_COLUMNS name in the file
    cache: dict[tuple[str, ...], IndicatorMeta | str] = {}  # meta cells -> meta or problem
    for number, row in rows:
        if _is_blank_row(row):
            report.note_ignored("blank line")
            continue
        if order is None:
            names = [c.strip().lower() for c in row]
            if sorted(names) != sorted(c.lower() for c in ADMIN_CSV_COLUMNS):
                report.note_problem(
                    number, "the header must be " + ",".join(ADMIN_CSV_COLUMNS), _row_text(row)
                )
                break
            order = [names.index(c.lower()) for c in ADMIN_CSV_COLUMNS]
            continue
        if len(row) != len(ADMIN_CSV_COLUMNS):
            report.note_problem(
                number,
                f"expected {len(ADMIN_CSV_COLUMNS)} columns, found {len(row)}",
                _row_text(row),
            )
            continue
        kind, raw_value, *rest = (row[i] for i in order)
        kind_key = kind.strip().lower()
        type_ = _ADMIN_TYPES.get(kind_key)
        if type_ is None:
            report.note_problem(
                number, f"unknown IndicatorType {kind.strip()[:40]!r}", _row_text(row)
            )
            continue
        cells = tuple(rest)
        meta = cache.get(cells)
        if meta is None:
            try:
                meta = sink.intern(_admin_meta(cells, sink.defaults))
            except _RowError as e:
                meta = str(e)
            cache[cells] = meta
        if isinstance(meta, str):
            report.note_problem(number, meta, _row_text(row))
            continue
        value = raw_value.strip()
        if not value:
            report.note_problem(number, "empty IndicatorValue", _row_text(row))
            continue
        if kind_key == _ADMIN_THUMBPRINT:
            try:
                type_ = cert_type_of(value)
            except InvalidAppIdentifier as e:
                report.note_problem(number, e.message, _row_text(row))
                continue
        sink.add(type_, value, meta, number, _row_text(row))
    report.lines = rows.lines
    if order is None and not report.problem_count:
        report.note_problem(0, "no header row", "")


# --- STIX 2.1 -------------------------------------------------------------------------------

# Object types whose "value" is a web indicator.
_STIX_TYPES = {
    "domain-name": IndicatorType.DOMAIN,
    "url": IndicatorType.URL,
    "ipv4-addr": IndicatorType.IP,
    "ipv6-addr": IndicatorType.IP,
}
# App indicators: MVT's custom "app" object ("app:id", "app:cert.sha256"), the standard file
# hashes ("file:hashes.'SHA-256'", MVT writes "file:hashes.sha256") and the standard
# x509-certificate hashes (a thumbprint of the certificate, like MVT's app:cert).
_STIX_HASHES = {"sha256": "SHA-256", "sha1": "SHA-1", "md5": "MD5"}  # key: lower, no "-"/"_"
_STIX_FILE_HASHES = {
    "sha256": IndicatorType.FILE_SHA256,
    "sha1": IndicatorType.FILE_SHA1,
    "md5": IndicatorType.FILE_MD5,
}
_STIX_CERT_HASHES = {
    "sha256": IndicatorType.CERT_SHA256,
    "sha1": IndicatorType.CERT_SHA1,
    "md5": IndicatorType.CERT_MD5,
}
# Exact spellings the fast path reads, and the path the grammar makes of each.
_FAST_PATHS: dict[tuple[str, str], str] = {
    **{(t, "value"): "value" for t in _STIX_TYPES},
    ("app", "id"): "id",
    **{("app", f"cert.{k}"): f"cert.{k}" for k in _STIX_HASHES},
    **{("file", f"hashes.{k}"): f"hashes.{k}" for k in _STIX_HASHES},
    **{("file", f"hashes.'{v}'"): f"hashes.{v}" for v in _STIX_HASHES.values()},
    **{("x509-certificate", f"hashes.'{v}'"): f"hashes.{v}" for v in _STIX_HASHES.values()},
}
_MITRE_SOURCES = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"})
_STIX_ACTIONS = {a.value.lower(): a for a in IndicatorAction}


@dataclass(frozen=True, slots=True)
class _Comparison:
    object_type: str
    path: str  # "value", "hashes.SHA-256", "resolves_to_refs[*].value"
    operator: str  # "=", "!=", "NOT =", "LIKE", "IN", …
    value: str | None  # the unescaped string literal, None for other literals


def unescape_stix_string(literal: str) -> str:
    """The text of a STIX pattern string literal ('…', with \\' and \\\\ escapes)."""
    body = literal[1:-1]
    if "\\" not in body:
        return body
    chars = iter(body)  # a backslash takes the next character as it is
    return "".join(next(chars, "\\") if ch == "\\" else ch for ch in chars)


class _PatternShape(STIXPatternListener):  # type: ignore[misc]
    """Walks a parsed pattern: its comparisons in order and the constructs we cannot import
    one comparison at a time (AND, FOLLOWEDBY, qualifiers)."""

    def __init__(self) -> None:
        self.comparisons: list[_Comparison] = []
        self.unsupported: list[str] = []
        self._type = ""
        self._path = ""

    def _note(self, construct: str) -> None:
        if construct not in self.unsupported:
            self.unsupported.append(construct)

    def exitObservationExpressions(self, ctx: Any) -> None:
        if ctx.FOLLOWEDBY():
            self._note("FOLLOWEDBY")

    def exitObservationExpressionAnd(self, ctx: Any) -> None:
        if ctx.AND():
            self._note("AND")

    def exitComparisonExpressionAnd(self, ctx: Any) -> None:
        if ctx.AND():
            self._note("AND")

    def exitWithinQualifier(self, ctx: Any) -> None:
        self._note("a WITHIN qualifier")

    def exitRepeatedQualifier(self, ctx: Any) -> None:
        self._note("a REPEATS qualifier")

    def exitStartStopQualifier(self, ctx: Any) -> None:
        self._note("a START/STOP qualifier")

    def exitObjectType(self, ctx: Any) -> None:
        self._type = str(ctx.getText())

    def exitFirstPathComponent(self, ctx: Any) -> None:
        literal = ctx.StringLiteral()
        self._path = unescape_stix_string(literal.getText()) if literal else str(ctx.getText())

    def exitKeyPathStep(self, ctx: Any) -> None:
        literal = ctx.StringLiteral()
        step = unescape_stix_string(literal.getText()) if literal else str(ctx.getText()[1:])
        self._path += "." + step

    def exitIndexPathStep(self, ctx: Any) -> None:
        self._path += str(ctx.getText())

    def _add(self, operator: str, literal: str | None) -> None:
        value = unescape_stix_string(literal) if literal and literal[0] == "'" else None
        self.comparisons.append(_Comparison(self._type, self._path, operator, value))

    def exitPropTestEqual(self, ctx: Any) -> None:
        operator = ("NOT " if ctx.NOT() else "") + str((ctx.EQ() or ctx.NEQ()).getText())
        self._add(operator, str(ctx.primitiveLiteral().getText()))

    def exitPropTestOrder(self, ctx: Any) -> None:
        self._add(str((ctx.GT() or ctx.LT() or ctx.GE() or ctx.LE()).getText()), None)

    def exitPropTestSet(self, ctx: Any) -> None:
        self._add("IN", None)

    def exitPropTestLike(self, ctx: Any) -> None:
        self._add("LIKE", None)

    def exitPropTestRegex(self, ctx: Any) -> None:
        self._add("MATCHES", None)

    def exitPropTestIsSubset(self, ctx: Any) -> None:
        self._add("ISSUBSET", None)

    def exitPropTestIsSuperset(self, ctx: Any) -> None:
        self._add("ISSUPERSET", None)

    def exitPropTestExists(self, ctx: Any) -> None:
        self._add("EXISTS", None)


@dataclass(frozen=True, slots=True)
class _Shape:
    comparisons: list[_Comparison]
    unsupported: list[str]  # constructs that keep the comparisons from standing alone


_STIX_WS = " \t\r\n\x0b\x0c"  # the pattern grammar's white space


def _pattern_shape(pattern: str) -> _Shape:
    """Raises ValueError for a pattern that is not valid STIX 2.1 pattern syntax."""
    simple = _simple_comparison(pattern)
    if simple is not None:
        return _Shape([simple], [])
    try:
        compiled = Pattern(pattern)
        listener = _PatternShape()
        compiled.walk(listener)
    except ParseException as e:
        raise ValueError(str(e)) from e
    except Exception as e:  # noqa: BLE001 - the ANTLR runtime's internals may raise anything
        raise ValueError(f"{type(e).__name__}: {e}") from e
    return _Shape(listener.comparisons, listener.unsupported)


def _stix_target(object_type: str, path: str) -> IndicatorType | None:
    """The indicator type a comparison's object path names, or None (not supported)."""
    if path == "value":
        return _STIX_TYPES.get(object_type)
    head, dot, key = path.partition(".")
    key = key.lower().replace("-", "").replace("_", "")
    if object_type == "app":
        if path == "id":
            return IndicatorType.PACKAGE
        return _STIX_CERT_HASHES.get(key) if dot and head == "cert" else None
    if object_type == "file" and head == "hashes":
        return _STIX_FILE_HASHES.get(key)
    if object_type == "x509-certificate" and head == "hashes":
        return _STIX_CERT_HASHES.get(key)
    return None


def _simple_comparison(pattern: str) -> _Comparison | None:
    """The shape nearly every feed uses, "[domain-name:value = 'x']" for the four web types
    (and "[app:id = 'x']", "[file:hashes.sha256 = 'x']" and the like for app indicators, see
    _FAST_PATHS), read with str methods: the ANTLR parser costs about 0.3 ms a pattern, a
    100,000-indicator bundle half a minute. Only a literal without quotes or backslashes
    qualifies, so the result is exactly the grammar's; anything else (OR, AND, qualifiers,
    other operators, literals or paths) returns None and goes to stix2-patterns."""
    text = pattern.strip(_STIX_WS)
    if len(text) < 2 or text[0] != "[" or text[-1] != "]":
        return None
    left, equals, right = text[1:-1].partition("=")
    object_type, _, raw_path = left.strip(_STIX_WS).partition(":")
    path = _FAST_PATHS.get((object_type, raw_path))
    literal = right.strip(_STIX_WS)
    if not equals or path is None or len(literal) < 2 or literal[0] != "'" or literal[-1] != "'":
        return None
    value = literal[1:-1]
    if "'" in value or "\\" in value:
        return None
    return _Comparison(object_type, path, "=", value)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _mitre_techniques(sdo: dict[str, Any]) -> tuple[str, ...]:
    """ATT&CK technique ids from external_references (external_id) and from kill_chain_phases
    whose phase_name is a technique id ("T1660", "T1437.001"); tactic names are skipped."""
    found: list[str] = []
    for ref in sdo.get("external_references") or ():
        if isinstance(ref, dict) and ref.get("source_name") in _MITRE_SOURCES:
            found.extend(_strings(ref.get("external_id")))
    for phase in sdo.get("kill_chain_phases") or ():
        if isinstance(phase, dict) and phase.get("kill_chain_name") in _MITRE_SOURCES:
            name = phase.get("phase_name")
            if isinstance(name, str) and _is_technique_id(name):
                found.append(name)
    return tuple(dict.fromkeys(t.strip() for t in found if t.strip()))


def _is_technique_id(name: str) -> bool:
    number, dot, sub = name[1:].partition(".")
    return (
        name[:1] in ("T", "t")
        and len(number) == 4
        and number.isdigit()
        and (not dot or (len(sub) == 3 and sub.isdigit()))
    )


class _Malware:
    """Malware SDOs of a bundle and which indicators `indicate` them."""

    def __init__(self, objects: list[Any]) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.indicated: dict[str, str] = {}  # indicator id -> malware id
        for obj in objects:
            if not isinstance(obj, dict):
                continue
            if obj.get("type") == "malware" and isinstance(obj.get("id"), str):
                self.by_id[obj["id"]] = obj
        for obj in objects:
            if (
                isinstance(obj, dict)
                and obj.get("type") == "relationship"
                and obj.get("relationship_type") == "indicates"
                and obj.get("target_ref") in self.by_id
                and isinstance(obj.get("source_ref"), str)
            ):
                self.indicated.setdefault(obj["source_ref"], obj["target_ref"])
        self.only = next(iter(self.by_id.values())) if len(self.by_id) == 1 else None

    def of(self, indicator_id: object) -> dict[str, Any] | None:
        if isinstance(indicator_id, str) and indicator_id in self.indicated:
            return self.by_id[self.indicated[indicator_id]]
        return self.only


def _stix_meta(
    sdo: dict[str, Any], malware: dict[str, Any] | None, defaults: IndicatorMeta
) -> IndicatorMeta:
    """An indicator SDO's meta; raises _RowError."""
    changes: dict[str, Any] = {}
    category = ", ".join(t.strip() for t in _strings(sdo.get("indicator_types")) if t.strip())
    if not category:
        category = ", ".join(t.strip() for t in _strings(sdo.get("labels")) if t.strip())
    if category:
        changes["category"] = category
    name = sdo.get("name")
    malware_name = malware.get("name") if malware else None
    if isinstance(name, str) and name.strip():
        changes["title"] = name.strip()
    elif isinstance(malware_name, str) and malware_name.strip():
        changes["title"] = f"{malware_name.strip()}: {category or 'indicator'}"
    description = sdo.get("description")
    if not (isinstance(description, str) and description.strip()) and malware:
        description = malware.get("description")
    if isinstance(description, str) and description.strip():
        changes["description"] = description.strip()
    valid_until = sdo.get("valid_until")
    if valid_until is not None:
        if not isinstance(valid_until, str):
            raise _RowError("valid_until is not a timestamp")
        try:
            changes["expires_at"] = parse_timestamp(valid_until)
        except ValueError as e:
            raise _RowError(f"bad valid_until: {e}") from e
    techniques = _mitre_techniques(sdo)
    if techniques:
        changes["mitre_techniques"] = techniques
    action = sdo.get("x_openmtd_action")
    if action is not None:
        if not isinstance(action, str) or action.strip().lower() not in _STIX_ACTIONS:
            raise _RowError(f"unknown x_openmtd_action {str(action)[:40]!r}")
        changes["action"] = _STIX_ACTIONS[action.strip().lower()]
    severity = sdo.get("x_openmtd_severity")
    if severity is not None:
        if not isinstance(severity, str) or severity.strip().lower() not in _SEVERITIES:
            raise _RowError(f"unknown x_openmtd_severity {str(severity)[:40]!r}")
        changes["severity"] = _SEVERITIES[severity.strip().lower()]
    recommended = sdo.get("x_openmtd_recommended_actions")
    if isinstance(recommended, str) and recommended.strip():
        changes["recommended_actions"] = recommended.strip()
    alert = sdo.get("x_openmtd_generate_alert")
    if alert is not None:
        if not isinstance(alert, bool):
            raise _RowError("x_openmtd_generate_alert is not a boolean")
        changes["generate_alert"] = alert
    groups = sdo.get("x_openmtd_device_groups")
    if groups is not None:
        changes["device_groups"] = tuple(g.strip() for g in _strings(groups) if g.strip())
    return replace(defaults, **changes) if changes else defaults


def _parse_stix(text: str, sink: _Sink) -> None:
    report = sink.report
    try:
        bundle = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        report.note_problem(0, f"not JSON: {e}", text[:MAX_PROBLEM_TEXT])
        return
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        report.note_problem(0, 'not a STIX bundle (no "type": "bundle")', text[:MAX_PROBLEM_TEXT])
        return
    objects = bundle.get("objects", [])
    if not isinstance(objects, list):
        report.note_problem(0, "the bundle's objects is not a list", text[:MAX_PROBLEM_TEXT])
        return
    report.lines = len(objects)
    malware = _Malware(objects)
    for index, sdo in enumerate(objects):
        if not isinstance(sdo, dict):
            report.note_problem(0, f"objects[{index}] is not a JSON object", repr(sdo))
            continue
        kind = sdo.get("type")
        if kind != "indicator":
            report.note_ignored(f"{kind if isinstance(kind, str) else 'untyped'} object"[:80])
            continue
        _stix_indicator(index, sdo, malware, sink)


def _stix_indicator(index: int, sdo: dict[str, Any], malware: _Malware, sink: _Sink) -> None:
    report = sink.report
    where = f"objects[{index}] {str(sdo.get('id', 'indicator'))[:80]}"
    pattern = sdo.get("pattern")
    if sdo.get("revoked") is True:
        report.note_ignored("revoked indicator")
        return
    pattern_type = sdo.get("pattern_type", "stix")  # STIX 2.0 indicators have no pattern_type
    if pattern_type != "stix":
        report.note_ignored(f"pattern_type {str(pattern_type)[:40]}")
        return
    if not isinstance(pattern, str):
        report.note_problem(0, f"{where}: no pattern", "")
        return
    try:
        shape = _pattern_shape(pattern)
    except ValueError as e:
        report.note_problem(0, f"{where}: invalid STIX pattern: {e}", pattern)
        return
    if shape.unsupported:
        report.note_ignored(f"pattern with {shape.unsupported[0]}")
        return
    try:
        meta = sink.intern(_stix_meta(sdo, malware.of(sdo.get("id")), sink.defaults))
    except _RowError as e:
        report.note_problem(0, f"{where}: {e}", pattern)
        return
    for comparison in shape.comparisons:
        type_ = _stix_target(comparison.object_type, comparison.path)
        if type_ is None:
            observable = f"{comparison.object_type}:{comparison.path}"[:80]
            report.note_ignored(f"unsupported observable {observable}")
        elif comparison.operator != "=":
            report.note_ignored(f"unsupported operator {comparison.operator}")
        elif comparison.value is None:
            observable = f"{comparison.object_type}:{comparison.path}"[:80]
            report.note_problem(0, f"{where}: {observable} is not a string", pattern)
        else:
            sink.add(type_, comparison.value, meta, 0, pattern, where=f"{where}: ")


# --- STALKERWARE_YAML ------------------------------------------------------------------------

MAX_YAML_CHARS = 16 * 1024 * 1024  # the real ioc.yaml is under 100 KB
# List fields of an entry and the indicator type of their values (None: by the value's shape,
# see _classify: a host is a domain or an IP address, anything with a scheme or path a URL).
_YAML_FIELDS: tuple[tuple[str, IndicatorType | None], ...] = (
    ("packages", IndicatorType.PACKAGE),
    ("ios_bundles", IndicatorType.PACKAGE),
    ("certificates", IndicatorType.CERT_SHA1),  # SHA-1 of the signing certificate
    ("websites", None),
    ("distribution", None),
)
_YAML_C2_FIELDS: tuple[tuple[str, IndicatorType | None], ...] = (
    ("domains", None),
    ("ips", IndicatorType.IP),
)
_YAML_INFO_FIELDS = frozenset({"name", "names", "type", "c2"})


# libyaml's loader when PyYAML was built with it: the same safe_load, ten times as fast.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str) -> tuple[Any, list[int]]:
    """yaml.safe_load, plus the 1-based first line of each item of a top-level list.
    Raises whatever PyYAML raises."""
    loader = _YAML_LOADER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, []
        lines = (
            [item.start_mark.line + 1 for item in root.value]
            if isinstance(root, yaml.SequenceNode)
            else []
        )
        return loader.construct_document(root), lines
    finally:
        loader.dispose()


def _parse_stalkerware_yaml(text: str, sink: _Sink) -> None:
    """ioc.yaml / watchware.yaml: a list of apps, each {name, names, type, packages,
    certificates, websites, distribution, c2: {domains, ips}} (watchware adds ios_bundles).
    Every entry gets its own meta: title "<Type>: <name>", category its type, description the
    other names it goes by."""
    report = sink.report
    if len(text) > MAX_YAML_CHARS:
        report.note_problem(
            0, f"document of {len(text)} characters, more than the {MAX_YAML_CHARS} allowed", ""
        )
        return
    try:
        data, lines = _load_yaml(text)
    except yaml.MarkedYAMLError as e:
        where = e.problem_mark or e.context_mark
        line = where.line + 1 if where is not None else 0
        report.note_problem(line, f"not YAML: {e.problem or e.context or e}", "")
        return
    except Exception as e:  # noqa: BLE001 - PyYAML's constructors raise assorted errors
        report.note_problem(0, f"not YAML: {type(e).__name__}: {e}"[:MAX_PROBLEM_TEXT], "")
        return
    if not isinstance(data, list):
        report.note_problem(0, f"expected a list of apps, found {_yaml_kind(data)}", "")
        return
    report.lines = len(data)
    for index, entry in enumerate(data):
        line = lines[index] if index < len(lines) else 0
        _stalkerware_entry(index, line, entry, sink)


def _yaml_kind(value: object) -> str:
    """What a YAML value is, for a message (never its repr: aliases can make that huge)."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _stalkerware_entry(index: int, line: int, entry: object, sink: _Sink) -> None:
    report = sink.report
    if not isinstance(entry, dict):
        report.note_problem(
            line, f"entries[{index}]: expected a mapping, found {_yaml_kind(entry)}", ""
        )
        return
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        report.note_problem(line, f"entries[{index}]: no name", "")
        return
    name = name.strip()
    where = f"entries[{index}] {name[:80]!r}: "
    kind = entry.get("type")
    category = kind.strip().lower() if isinstance(kind, str) and kind.strip() else "stalkerware"
    aliases = [n.strip() for n in _strings(entry.get("names")) if n.strip() and n.strip() != name]
    changes: dict[str, Any] = {"title": f"{category.capitalize()}: {name}", "category": category}
    if aliases:
        changes["description"] = f"{name}, also known as {', '.join(dict.fromkeys(aliases))}."
    meta = sink.intern(replace(sink.defaults, **changes))
    text = name[:MAX_PROBLEM_TEXT]
    for field_name, type_ in _YAML_FIELDS:
        _yaml_values(entry.get(field_name), field_name, type_, meta, line, where, text, sink)
    c2 = entry.get("c2")
    if isinstance(c2, dict):
        for field_name, type_ in _YAML_C2_FIELDS:
            path = f"c2.{field_name}"
            _yaml_values(c2.get(field_name), path, type_, meta, line, where, text, sink)
    elif c2 is not None:
        report.note_problem(line, f"{where}c2 is {_yaml_kind(c2)}, not a mapping", text)
    for key in entry:
        known = key in _YAML_INFO_FIELDS or any(key == f for f, _ in _YAML_FIELDS)
        if not known:
            report.note_ignored(f"field {str(key)[:40]} (not an indicator)")


def _yaml_values(
    values: object,
    path: str,
    type_: IndicatorType | None,
    meta: IndicatorMeta,
    line: int,
    where: str,
    text: str,
    sink: _Sink,
) -> None:
    if values is None:
        return
    report = sink.report
    if not isinstance(values, list):
        report.note_problem(line, f"{where}{path} is {_yaml_kind(values)}, not a list", text)
        return
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            found = _yaml_kind(value) if not isinstance(value, str) else "empty"
            report.note_problem(line, f"{where}{path}[{i}] is {found}, not a value", text)
            continue
        raw = value.strip()
        if type_ is None:
            kind, raw = _classify(raw)
        else:
            kind = type_
        sink.add(kind, raw, meta, line, text, where=f"{where}{path}[{i}]: ")


# --- SAMPLES_CSV ------------------------------------------------------------------------------

SAMPLES_CSV_COLUMNS = ("SHA256", "Package Name", "Certificate", "Version", "App")


def _samples_columns(header: list[str]) -> tuple[int, int, int, int] | None:
    """Positions of SHA256, Package Name, Certificate and App in a samples CSV header."""
    keys = [_column_key(h) for h in header]
    wanted = [_column_key(c) for c in SAMPLES_CSV_COLUMNS]
    if sorted(keys) != sorted(wanted):
        return None
    sha, package, certificate, _, app = (keys.index(w) for w in wanted)
    return sha, package, certificate, app


def _parse_samples_csv(text: str, sink: _Sink) -> None:
    """samples.csv: one APK sample a row (SHA256,Package Name,Certificate,Version,App) ->
    its file SHA-256, its signing certificate (a SHA-1, upper-case hex) and its package, with
    a meta per app (title "Stalkerware: <App>"); rows of one app repeat packages and
    certificates, which count as duplicates."""
    report = sink.report
    rows = _CsvRows(text, report)
    columns: tuple[int, int, int, int] | None = None
    metas: dict[str, IndicatorMeta] = {}
    for number, row in rows:
        if _is_blank_row(row):
            report.note_ignored("blank line")
            continue
        if columns is None:
            columns = _samples_columns(row)
            if columns is None:
                report.note_problem(
                    number, "the header must be " + ",".join(SAMPLES_CSV_COLUMNS), _row_text(row)
                )
                break
            continue
        if len(row) != len(SAMPLES_CSV_COLUMNS):
            report.note_problem(
                number,
                f"expected {len(SAMPLES_CSV_COLUMNS)} columns, found {len(row)}",
                _row_text(row),
            )
            continue
        sha, package, certificate, app = (row[i].strip() for i in columns)
        meta = metas.get(app)
        if meta is None:
            changes: dict[str, Any] = {"category": "stalkerware"}
            if app:
                changes["title"] = f"Stalkerware: {app}"
            meta = metas[app] = sink.intern(replace(sink.defaults, **changes))
        line_text = _row_text(row)
        if sha:
            sink.add(IndicatorType.FILE_SHA256, sha, meta, number, line_text)
        else:
            report.note_problem(number, "empty SHA256", line_text)
        if certificate:
            sink.add(IndicatorType.CERT_SHA1, certificate, meta, number, line_text)
        if package:
            sink.add(IndicatorType.PACKAGE, package, meta, number, line_text)
    report.lines = rows.lines
    if columns is None and not report.problem_count:
        report.note_problem(0, "no header row", "")


_PARSERS = {
    FeedFormat.DOMAINS: _parse_domains,
    FeedFormat.HOSTS: _parse_hosts,
    FeedFormat.ADBLOCK: _parse_adblock,
    FeedFormat.URLS: _parse_urls,
    FeedFormat.CSV: _parse_csv,
    FeedFormat.STIX: _parse_stix,
    FeedFormat.ADMIN_CSV: _parse_admin_csv,
    FeedFormat.STALKERWARE_YAML: _parse_stalkerware_yaml,
    FeedFormat.SAMPLES_CSV: _parse_samples_csv,
}
