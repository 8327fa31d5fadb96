"""App indicators from feeds: STIX (the real MVT bundles), the stalkerware-indicators YAML and
samples CSV (the real files), the admin CSV's file and certificate rows, format detection, and
property tests that no input makes the new parsers raise."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2patterns.v21.pattern import Pattern  # type: ignore[import-untyped]

from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.intel import web_feeds
from openmtd.intel.web_feeds import (
    ADMIN_CSV_COLUMNS,
    MAX_YAML_CHARS,
    FeedFormat,
    ImportReport,
    detect_format,
    parse_indicators,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
MVT = DATA / "mvt-indicators"
STALKERWARE = DATA / "stalkerware-indicators"
DEFAULTS = IndicatorMeta(kind=MatchKind.FEED, source="stalkerware", action=IndicatorAction.BLOCK)
ADMIN_HEADER = ",".join(ADMIN_CSV_COLUMNS)
SAMPLES_HEADER = "SHA256,Package Name,Certificate,Version,App"

T = IndicatorType
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SHA1 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
MD5 = "098f6bcd4621d373cade4e832627b4f6"


def parse(text: str, fmt: FeedFormat) -> tuple[list[Indicator], ImportReport]:
    return parse_indicators(text, fmt, defaults=DEFAULTS)


def pairs(indicators: list[Indicator]) -> list[tuple[IndicatorType, str]]:
    return [(i.type, i.value) for i in indicators]


def problems(report: ImportReport) -> list[tuple[int, str]]:
    return [(p.line, p.reason) for p in report.problems]


# --- STIX: the real MVT bundles ---------------------------------------------------------------

# Pattern prefix (as MVT writes it) -> the type it imports as; counted by regex over the raw JSON.
_MVT_PATTERNS = {
    "domain-name:value": T.DOMAIN,
    "ipv4-addr:value": T.IP,
    "app:id": T.PACKAGE,
    "app:cert.sha256": T.CERT_SHA256,
    "file:hashes.sha256": T.FILE_SHA256,
}


def _expected_kinds(text: str) -> Counter[IndicatorType]:
    found = re.findall(r'"pattern":\s*"\[([a-z0-9-]+:[a-z0-9.]+)\s*=', text)
    return Counter(_MVT_PATTERNS[p] for p in found if p in _MVT_PATTERNS)


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("residentbat.stix2", {T.IP: 24, T.PACKAGE: 8, T.CERT_SHA256: 8, T.FILE_SHA256: 8}),
        ("rcs_lab.stix2", {T.DOMAIN: 26, T.PACKAGE: 5, T.FILE_SHA256: 9}),
        ("darksword.stix2", {T.DOMAIN: 10, T.IP: 3, T.FILE_SHA256: 1}),
        ("operation_triangulation.stix2", {T.DOMAIN: 75}),
    ],
)
def test_mvt_bundles_app_indicators(name: str, counts: dict[IndicatorType, int]) -> None:
    text = (MVT / name).read_text(encoding="utf-8")
    indicators, report = parse(text, FeedFormat.STIX)
    assert Counter(i.type for i in indicators) == _expected_kinds(text) == counts
    assert report.problems == [] and report.duplicates == 0
    assert not any(r.startswith("unsupported observable app:") for r in report.ignored_reasons)
    # app indicators get the meta domains and IPs of the same bundle get: one, interned
    malware = next(o for o in json.loads(text)["objects"] if o["type"] == "malware")
    assert {id(i.meta) for i in indicators} == {id(indicators[0].meta)}
    assert indicators[0].meta.title == f"{malware['name']}: malicious-activity"


def test_mvt_residentbat_values() -> None:
    text = (MVT / "residentbat.stix2").read_text(encoding="utf-8")
    indicators, _ = parse(text, FeedFormat.STIX)
    found = set(pairs(indicators))
    assert (T.PACKAGE, "com.oneplussync.bat") in found
    assert (T.PACKAGE, "cm.google.android.apps.assistant") in found
    cert = "d12616542268d32329f1c4357b5d5a57e954e13d2338d27bb8439794291b8c6d"
    assert (T.CERT_SHA256, cert) in found
    # every app value is exactly the pattern's literal (MVT writes canonical values already)
    literals = re.findall(r"\[(?:app:id|app:cert\.sha256|file:hashes\.sha256)='([^']+)'\]", text)
    assert sorted(v for t, v in found if t.is_app) == sorted(literals)
    meta = next(i.meta for i in indicators if i.type is T.PACKAGE)
    assert meta.title == "ResidentBat: malicious-activity"


def _bundle(*patterns: str) -> str:
    objects = [
        {"type": "indicator", "id": f"indicator--{n}", "pattern": p, "pattern_type": "stix"}
        for n, p in enumerate(patterns)
    ]
    return json.dumps({"type": "bundle", "objects": objects})


def test_stix_app_pattern_spellings() -> None:
    text = _bundle(
        f"[file:hashes.'SHA-256' = '{SHA256.upper()}']",
        f"[file:hashes.'SHA-1' = '{SHA1}'] OR [file:hashes.'MD5' = '{MD5}']",
        f"[file:hashes.sha1 = '{SHA1}']",  # same as the SHA-1 above, another SDO: another meta?
        f"[file:hashes.md5 = '{MD5}']",
        f"[app:cert.sha1 = '{SHA1}']",
        f"[app:cert.md5 = '{MD5}']",
        f"[x509-certificate:hashes.'SHA-256' = '{SHA256}']",
        "[app:id = 'com.Example.Spy']",
        f"[file:hashes.'SHA3-256' = '{SHA256}']",
        f"[file:hashes.'SHA-256' = '{SHA1}']",  # wrong length
        "[app:id = 'spy']",  # no dot
        "[app:id = 5]",
        "[app:id LIKE 'com.%']",
    )
    indicators, report = parse(text, FeedFormat.STIX)
    assert pairs(indicators) == [
        (T.FILE_SHA256, SHA256),
        (T.FILE_SHA1, SHA1),
        (T.FILE_MD5, MD5),
        (T.CERT_SHA1, SHA1),
        (T.CERT_MD5, MD5),
        (T.CERT_SHA256, SHA256),
        (T.PACKAGE, "com.Example.Spy"),
    ]
    assert report.duplicates == 2  # the SDOs have no malware or name: one meta, defaults
    assert report.ignored_reasons == {
        "unsupported observable file:hashes.SHA3-256": 1,
        "unsupported operator LIKE": 1,
    }
    assert [p.reason for p in report.problems] == [
        f"objects[9] indicator--9: invalid file_sha256 '{SHA1}':"
        f" '{SHA1}' has 40 hex digits; a SHA-256 hash has 64",
        "objects[10] indicator--10: invalid package 'spy':"
        " package name 'spy' has no dot; give the full name, like com.example.app",
        "objects[11] indicator--11: app:id is not a string",
    ]


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(sorted(web_feeds._FAST_PATHS)),
    spaces=st.lists(st.sampled_from(["", " ", "\t", "\r\n"]), min_size=5, max_size=5),
    literal=st.text(st.characters(codec="utf-8", exclude_characters="'\\")),
)
def test_fast_path_agrees_with_stix2_patterns_on_app_paths(
    where: tuple[str, str], spaces: list[str], literal: str
) -> None:
    object_type, path = where
    a, b, c, d, e = spaces
    pattern = f"{a}[{b}{object_type}:{path}{c}={d}'{literal}'{e}]"
    fast = web_feeds._simple_comparison(pattern)
    listener = web_feeds._PatternShape()
    Pattern(pattern).walk(listener)
    assert listener.unsupported == []
    assert fast is not None and [fast] == listener.comparisons


# --- the stalkerware YAML: the real files -----------------------------------------------------


def _load(name: str) -> tuple[str, list[dict[str, object]]]:
    text = (STALKERWARE / name).read_text(encoding="utf-8")
    return text, yaml.safe_load(text)


def _values(entry: dict[str, object], *path: str) -> list[str]:
    node: object = entry
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return [str(v) for v in node] if isinstance(node, list) else []


def test_ioc_yaml_counts() -> None:
    text, entries = _load("ioc.yaml")
    assert detect_format(text, "ioc.yaml") is FeedFormat.STALKERWARE_YAML
    assert detect_format(text) is FeedFormat.STALKERWARE_YAML
    indicators, report = parse(text, FeedFormat.STALKERWARE_YAML)
    kinds = Counter(i.type for i in indicators)

    # the README's totals
    packages = [p for e in entries for p in _values(e, "packages")]
    certificates = [c for e in entries for c in _values(e, "certificates")]
    assert (len(entries), len(packages), len(certificates)) == (147, 616, 472)
    # Every entry is its own meta ("Stalkerware: <name>"), and duplicates are counted per meta:
    # three packages and one certificate are listed under two apps each, and are kept once for
    # each (a match names both apps), so all 616 and 472 are imported though 613 and 471
    # values are distinct.
    assert kinds[T.PACKAGE] == 616 and len(set(packages)) == 613
    assert kinds[T.CERT_SHA1] == 472 and len(set(certificates)) == 471
    apps_of = {
        name: sorted(i.meta.title for i in indicators if i.value == name)
        for name in ("com.sc.spyier.v2",)
    }
    assert apps_of == {"com.sc.spyier.v2": ["Stalkerware: Cocospy", "Stalkerware: Spyier"]}

    # web values, counted from the entries: a host is a domain (or an IP), a URL a URL
    web: Counter[IndicatorType] = Counter()
    distinct = 0
    for e in entries:
        hosts = _values(e, "websites") + _values(e, "c2", "domains") + _values(e, "distribution")
        urls = {h for h in hosts if "://" in h}
        ips = {h for h in hosts if re.fullmatch(r"[0-9.]+", h)} | set(_values(e, "c2", "ips"))
        names = {h.lower() for h in hosts if h not in urls and h not in ips}
        web.update({T.URL: len(urls), T.IP: len(ips), T.DOMAIN: len(names)})
        distinct += len(hosts) + len(_values(e, "c2", "ips"))
    assert {t: kinds[t] for t in (T.DOMAIN, T.URL, T.IP)} == web
    assert web == {T.DOMAIN: 1454, T.URL: 2, T.IP: 66}
    # 624 websites + 925 C2 domains + 44 distribution hosts + 65 C2 IPs, 136 of them repeated
    # within their entry (126 C2 domains are also websites, 10 distribution hosts are either)
    assert distinct == 624 + 925 + 44 + 65
    assert report.duplicates == distinct - sum(web.values()) == 136
    assert report.accepted == len(indicators) == 616 + 472 + 1454 + 2 + 66
    assert report.problems == [] and report.lines == 147
    assert report.ignored_reasons == {
        "field certificate_organizations (not an indicator)": 5,
        "field certificate_cname_re (not an indicator)": 1,
    }


def test_ioc_yaml_values_and_meta() -> None:
    text, _ = _load("ioc.yaml")
    indicators, _ = parse(text, FeedFormat.STALKERWARE_YAML)
    by_value = {(i.type, i.value): i.meta for i in indicators}
    meta = by_value[T.CERT_SHA1, "31a6ececd97cf39bc4126b8745cd94a7c30bf81c"]
    assert meta.title == "Stalkerware: TheTruthSpy"
    assert meta.category == "stalkerware"
    assert meta.description.startswith("TheTruthSpy, also known as Copy9, InoSPy, ExactSpy")
    assert (meta.kind, meta.source, meta.action) == (
        MatchKind.FEED,
        "stalkerware",
        IndicatorAction.BLOCK,
    )
    assert by_value[T.PACKAGE, "com.thetruth"] is meta
    assert by_value[T.DOMAIN, "copy9.com"] is meta
    # a "website" that is a GitHub repository blocks that repository, not all of github.com
    assert (T.URL, "github.com/karma9874/AndroRAT") in by_value
    assert (T.DOMAIN, "github.com") not in by_value
    assert (T.IP, "178.63.71.15") in by_value  # a distribution host given as an address


def test_watchware_yaml() -> None:
    text, entries = _load("watchware.yaml")
    indicators, report = parse(text, FeedFormat.STALKERWARE_YAML)
    kinds = Counter(i.type for i in indicators)
    bundles = [b for e in entries for b in _values(e, "ios_bundles")]
    packages = [p for e in entries for p in _values(e, "packages")]
    assert (len(packages), len(bundles)) == (30, 6)
    assert kinds[T.PACKAGE] == 36  # Android packages and iOS bundle ids alike
    assert kinds[T.CERT_SHA1] == 14
    assert report.problems == [] and report.lines == 27
    life360 = {i.value: i.meta for i in indicators if i.meta.title == "Watchware: Life360"}
    assert "com.life360.safetymap" in life360 and "com.life360.android.safetymapd" in life360
    assert "19c0868f028757f49fd8f7bdf39ff70c771d622b" in life360
    assert {m.category for m in life360.values()} == {"watchware"}


# --- the stalkerware YAML: bad documents and entries ------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("- name: A\n  packages: [com.a\n", 3, "not YAML: "),
        ("- name: A\n\tpackages: []\n", 2, "not YAML: "),
        ("name: A\n", 0, "expected a list of apps, found a mapping"),
        ("", 0, "expected a list of apps, found nothing"),
        ("just text", 0, "expected a list of apps, found a str"),
        ("- &a [*a]\n", 1, "entries[0]: expected a mapping, found a list"),  # a recursive list
    ],
)
def test_yaml_whole_document_problems(text: str, line: int, reason: str) -> None:
    indicators, report = parse(text, FeedFormat.STALKERWARE_YAML)
    assert indicators == []
    assert len(report.problems) == report.problem_count == 1
    assert report.problems[0].reason.startswith(reason)
    assert report.problems[0].line == line


def test_yaml_recursive_alias_is_harmless() -> None:
    indicators, report = parse(
        "- &a\n  name: A\n  packages: [com.a.b]\n  c2: *a\n", FeedFormat.STALKERWARE_YAML
    )
    assert pairs(indicators) == [(T.PACKAGE, "com.a.b")]
    assert report.problem_count == 0


def test_yaml_size_cap() -> None:
    text = "#" * (MAX_YAML_CHARS + 1)
    indicators, report = parse(text, FeedFormat.STALKERWARE_YAML)
    assert indicators == []
    assert report.problems[0].reason == (
        f"document of {MAX_YAML_CHARS + 1} characters, more than the {MAX_YAML_CHARS} allowed"
    )


def test_yaml_bad_entries_are_reported_and_the_rest_imported() -> None:
    text = (
        "- name: Good\n"  # line 1
        "  packages: [com.good.app, com.good.app]\n"
        "  certificates: [31A6ECECD97CF39BC4126B8745CD94A7C30BF81C, ABCD]\n"
        "- just a string\n"  # line 4
        "- packages: [com.nameless.app]\n"  # line 5
        "- name: Broken\n"  # line 6
        "  type: watchware\n"
        "  packages: com.not.a.list\n"
        "  websites: [broken.example, 12, '', 'bad..host']\n"
        "  c2: [1.2.3.4]\n"
        "  distribution:\n"
        "  - https://dl.broken.example/app.apk\n"
        "  extra: 1\n"
        "- name: Also good\n"  # line 14
        "  c2: {ips: [198.51.100.7], domains: [c2.example]}\n"
    )
    indicators, report = parse(text, FeedFormat.STALKERWARE_YAML)
    assert pairs(indicators) == [
        (T.PACKAGE, "com.good.app"),
        (T.CERT_SHA1, "31a6ececd97cf39bc4126b8745cd94a7c30bf81c"),
        (T.DOMAIN, "broken.example"),
        (T.URL, "dl.broken.example/app.apk"),
        (T.DOMAIN, "c2.example"),
        (T.IP, "198.51.100.7"),
    ]
    assert indicators[2].meta.title == "Watchware: Broken"
    assert indicators[2].meta.category == "watchware"
    assert indicators[4].meta.title == "Stalkerware: Also good"
    assert report.lines == 5 and report.duplicates == 1
    assert report.ignored_reasons == {"field extra (not an indicator)": 1}
    assert problems(report) == [
        (
            1,
            "entries[0] 'Good': certificates[1]: invalid cert_sha1 'ABCD':"
            " 'ABCD' has 4 hex digits; a SHA-1 thumbprint has 40",
        ),
        (4, "entries[1]: expected a mapping, found a str"),
        (5, "entries[2]: no name"),
        (6, "entries[3] 'Broken': packages is a str, not a list"),
        (6, "entries[3] 'Broken': websites[1] is a int, not a value"),
        (6, "entries[3] 'Broken': websites[2] is empty, not a value"),
        (
            6,
            "entries[3] 'Broken': websites[3]: invalid domain 'bad..host':"
            " 'bad..host' has an empty label",
        ),
        (6, "entries[3] 'Broken': c2 is a list, not a mapping"),
    ]


# --- the samples CSV: the real file -----------------------------------------------------------


def test_samples_csv_counts_and_values() -> None:
    text = (STALKERWARE / "samples.csv").read_text(encoding="utf-8")
    assert detect_format(text, "samples.csv") is FeedFormat.SAMPLES_CSV
    assert detect_format(text) is FeedFormat.SAMPLES_CSV
    indicators, report = parse(text, FeedFormat.SAMPLES_CSV)

    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3228
    # one meta per app; a package or certificate repeated within an app is a duplicate
    hashes = {(r["App"], r["SHA256"].lower()) for r in rows}
    certs = {(r["App"], r["Certificate"].lower()) for r in rows if r["Certificate"]}
    packages = {(r["App"], r["Package Name"]) for r in rows if r["Package Name"]}
    kinds = Counter(i.type for i in indicators)
    assert kinds == {
        T.FILE_SHA256: len(hashes),
        T.CERT_SHA1: len(certs),
        T.PACKAGE: len(packages),
    }
    assert kinds == {T.FILE_SHA256: 3228, T.CERT_SHA1: 659, T.PACKAGE: 202}
    filled = sum(1 for r in rows for k in ("Certificate", "Package Name") if r[k])
    assert report.duplicates == 3228 + filled - len(indicators)
    assert report.problems == [] and report.lines == 3229
    assert len({id(i.meta) for i in indicators}) == len({r["App"] for r in rows}) == 91

    first = {(i.type, i.value): i.meta for i in indicators}
    sha = "2f3bc9ebe8c249f0416f5b0367f34b4b8f6aaa7d351dc5b4912fe2558491b6b7"
    meta = first[T.FILE_SHA256, sha]
    assert (meta.title, meta.category) == ("Stalkerware: 1TopSpy", "stalkerware")
    assert first[T.CERT_SHA1, "7f5c0d54a813ba9b87a91420ca2c3de5e7948f09"] is meta
    assert first[T.PACKAGE, "com.topspy"] is meta


def test_samples_csv_bad_rows() -> None:
    text = (
        f"{SAMPLES_HEADER}\n"
        f"{SHA256},com.spy.app,{SHA1.upper()},1,Spy\n"
        f"{SHA1},com.spy.app,,1,Spy\n"  # line 3: a SHA-1 in the SHA256 column
        f"{SHA256.replace('9', 'a')},not a package,XYZ,2,Spy\n"  # line 4
        "only,three,cells\n"  # line 5
        f",,,,Spy\n"  # line 6
        "\n"
        f"{MD5 * 2},,,,\n"  # line 8: no app: the defaults' title
    )
    indicators, report = parse(text, FeedFormat.SAMPLES_CSV)
    assert pairs(indicators) == [
        (T.FILE_SHA256, SHA256),
        (T.CERT_SHA1, SHA1),
        (T.PACKAGE, "com.spy.app"),
        (T.FILE_SHA256, SHA256.replace("9", "a")),
        (T.FILE_SHA256, MD5 * 2),
    ]
    assert indicators[-1].meta.title == "" and indicators[-1].meta.category == "stalkerware"
    assert report.duplicates == 1
    assert problems(report) == [
        (3, f"invalid file_sha256 '{SHA1}': '{SHA1}' has 40 hex digits; a SHA-256 hash has 64"),
        (
            4,
            "invalid cert_sha1 'XYZ': 'XYZ' is not a hexadecimal thumbprint (only 0-9 and a-f"
            " can appear, in groups separated by ':' or spaces)",
        ),
        (
            4,
            "invalid package 'not a package': package name 'not a package' contains characters"
            " a package name or bundle id cannot hold (only ASCII letters, digits, '_', '-'"
            " and '.' can)",
        ),
        (5, "expected 5 columns, found 3"),
        (6, "empty SHA256"),
    ]


def test_samples_csv_needs_its_header() -> None:
    indicators, report = parse(f"{SHA256},com.a.b,,1,A\n", FeedFormat.SAMPLES_CSV)
    assert indicators == []
    assert problems(report) == [(1, f"the header must be {SAMPLES_HEADER}")]
    # any order and case
    text = f"app,version,certificate,package name,sha256\nA,1,,com.a.b,{SHA256}\n"
    indicators, _ = parse(text, FeedFormat.SAMPLES_CSV)
    assert pairs(indicators) == [(T.FILE_SHA256, SHA256), (T.PACKAGE, "com.a.b")]


# --- the admin CSV ----------------------------------------------------------------------------


def test_admin_csv_app_rows() -> None:
    colons = ":".join(SHA1[i : i + 2] for i in range(0, 40, 2)).upper()
    rows = [
        f"FileSha256,{SHA256.upper()},,Block,High,Spy APK,,,,,,",
        f"FileSha1,{SHA1},,BlockAndRemediate,,,,,,,,",
        f"filemd5,{MD5},,Allowed,,,,,,,,",
        f"CertificateThumbprint,{colons},,Warn,,,,,,,,",  # SHA-1, as in the reference
        f"CertificateThumbprint,{SHA256},,Audit,,,,,,,,",  # by length: SHA-256
        f"CertificateThumbprint,{MD5},,Block,,,,,,,,",  # by length: MD5
        f"CertificateSha256,{SHA256},,Block,,,,,,,,",
        f"CertificateMd5,{MD5},,Block,,,,,,,,",
        "PackageName,com.Spy.App,,Block,,,,,,,,",
        "CertificateThumbprint,abc,,Block,,,,,,,,",  # line 11
        f"CertificateSha256,{SHA1},,Block,,,,,,,,",  # line 12
        "PackageName,spy,,Block,,,,,,,,",  # line 13
    ]
    indicators, report = parse(ADMIN_HEADER + "\n" + "\n".join(rows) + "\n", FeedFormat.ADMIN_CSV)
    assert [(i.type, i.value, i.meta.action) for i in indicators] == [
        (T.FILE_SHA256, SHA256, IndicatorAction.BLOCK),
        (T.FILE_SHA1, SHA1, IndicatorAction.BLOCK),
        (T.FILE_MD5, MD5, IndicatorAction.ALLOW),
        (T.CERT_SHA1, SHA1, IndicatorAction.WARN),
        (T.CERT_SHA256, SHA256, IndicatorAction.AUDIT),
        (T.CERT_MD5, MD5, IndicatorAction.BLOCK),
        (T.CERT_SHA256, SHA256, IndicatorAction.BLOCK),
        (T.PACKAGE, "com.Spy.App", IndicatorAction.BLOCK),
    ]
    assert indicators[0].meta.title == "Spy APK"
    assert report.ignored == 0 and report.duplicates == 1  # CertificateMd5 = the MD5 thumbprint
    assert problems(report) == [
        (
            11,
            "certificate thumbprint 'abc' has 3 characters;"
            " expected 40 hex digits (SHA-1), 64 (SHA-256) or 32 (MD5)",
        ),
        (
            12,
            f"invalid cert_sha256 '{SHA1}': '{SHA1}' has 40 hex digits;"
            " a SHA-256 thumbprint has 64",
        ),
        (
            13,
            "invalid package 'spy': package name 'spy' has no dot;"
            " give the full name, like com.example.app",
        ),
    ]


# --- format detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "filename", "expected"),
    [
        ("- name: Spy\n  packages: [com.a.b]\n", "", FeedFormat.STALKERWARE_YAML),
        ("# comment\n\n- name: Spy\n", "", FeedFormat.STALKERWARE_YAML),
        ("anything: 1\n", "https://example.org/raw/ioc.yml", FeedFormat.STALKERWARE_YAML),
        ("a: 1\n", "IOC.YAML", FeedFormat.STALKERWARE_YAML),
        (f"{SAMPLES_HEADER}\n", "", FeedFormat.SAMPLES_CSV),
        (f"\n{SAMPLES_HEADER.lower()}\r\n", "x.csv", FeedFormat.SAMPLES_CSV),
        ("SHA256,Package Name\n", "x.csv", FeedFormat.CSV),  # not the samples header
        ("url,date\nhttp://a.example/\n", "feed.csv", FeedFormat.CSV),
        ("name.example\n- name: x\n", "", FeedFormat.DOMAINS),  # only the first content line
        ("{}", "ioc.yaml", FeedFormat.STIX),  # rule 1 first
    ],
)
def test_detect_app_formats(text: str, filename: str, expected: FeedFormat) -> None:
    assert detect_format(text, filename) is expected


def test_new_format_values_fit_the_store() -> None:
    assert all(len(f.value) <= 16 for f in FeedFormat)


# --- properties -------------------------------------------------------------------------------

_YAMLISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["name", "type", "packages", "certificates", "websites", "c2", "ips"])
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(document=_YAMLISH)
def test_stalkerware_yaml_never_raises(document: object) -> None:
    text = yaml.safe_dump(document)
    indicators, report = parse(text, FeedFormat.STALKERWARE_YAML)
    assert report.accepted == len(indicators)


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.sampled_from("- :[]{}&*!|>'\"#\n\tab.1,"), max_size=60))
def test_broken_yaml_and_csv_never_raise(text: str) -> None:
    for fmt in (FeedFormat.STALKERWARE_YAML, FeedFormat.SAMPLES_CSV):
        indicators, report = parse(text, fmt)
        assert report.accepted == len(indicators)
