"""Web indicator feeds: every format with good, bad and ignored lines, the real MVT bundles,
format detection, meta interning, and a property test that no input makes a parser raise."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2patterns.v21.pattern import Pattern  # type: ignore[import-untyped]

from openmtd.domain.enums import Severity
from openmtd.domain.web import Indicator, IndicatorAction, IndicatorMeta, IndicatorType, MatchKind
from openmtd.intel import web_feeds
from openmtd.intel.web_feeds import (
    ADMIN_CSV_COLUMNS,
    MAX_PROBLEMS,
    FeedFormat,
    ImportReport,
    LineProblem,
    detect_format,
    parse_indicators,
    unescape_stix_string,
)

FIXTURES = Path(__file__).parent / "fixtures"
MVT = Path(__file__).resolve().parents[3] / "shared" / "data" / "mvt-indicators"
DEFAULTS = IndicatorMeta(kind=MatchKind.FEED, source="test-feed", action=IndicatorAction.BLOCK)
ADMIN_HEADER = ",".join(ADMIN_CSV_COLUMNS)

D, U, IP = IndicatorType.DOMAIN, IndicatorType.URL, IndicatorType.IP


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def parse(
    text: str, fmt: FeedFormat, defaults: IndicatorMeta = DEFAULTS
) -> tuple[list[Indicator], ImportReport]:
    return parse_indicators(text, fmt, defaults=defaults)


def pairs(indicators: list[Indicator]) -> list[tuple[IndicatorType, str]]:
    return [(i.type, i.value) for i in indicators]


def problems(report: ImportReport) -> list[tuple[int, str]]:
    return [(p.line, p.reason) for p in report.problems]


# --- DOMAINS ----------------------------------------------------------------------------------


def test_domains_list() -> None:
    indicators, report = parse(fixture("domains.txt"), FeedFormat.DOMAINS)
    assert pairs(indicators) == [
        (D, "ads.example.com"),
        (D, "tracker.example.net"),  # "*.tracker.example.net   # comment"
        (IP, "192.0.2.10"),
        (D, "xn--bcher-kva.example"),
    ]
    assert all(i.meta is DEFAULTS for i in indicators)
    assert (report.lines, report.accepted, report.duplicates) == (13, 4, 2)  # ADS.Example, bücher
    assert report.ignored == 3
    assert report.ignored_reasons == {"comment": 2, "blank line": 1}
    assert problems(report)[:3] == [
        (7, "invalid domain 'bad..name': 'bad..name' has an empty label"),
        (8, "expected one domain on the line"),
        (10, "not a domain name or IP address"),
    ]
    assert report.problems[3].line == 13  # "localhost"
    assert report.problems[3].reason.startswith("invalid domain 'localhost'")
    assert "single label" in report.problems[3].reason
    assert report.problems[1].text == "two domains.example"
    assert report.problem_count == 4


def test_problem_text_is_truncated_and_problems_are_capped() -> None:
    text = "\n".join(["x" * 300 + "..bad"] + [f"bad..{i}.example" for i in range(150)])
    indicators, report = parse(text, FeedFormat.DOMAINS)
    assert indicators == []
    assert report.problem_count == 151
    assert len(report.problems) == MAX_PROBLEMS
    assert len(report.problems[0].text) == 200
    assert report.problems[-1].line == MAX_PROBLEMS


def test_line_numbers_follow_every_newline_convention() -> None:
    text = "\ufeffa.example\r\nbad..one\rb.example\n\nbad..two"
    indicators, report = parse(text, FeedFormat.DOMAINS)
    assert pairs(indicators) == [(D, "a.example"), (D, "b.example")]
    assert [p.line for p in report.problems] == [2, 5]
    assert report.lines == 5


# --- HOSTS ------------------------------------------------------------------------------------


def test_hosts_file() -> None:
    indicators, report = parse(fixture("hosts.txt"), FeedFormat.HOSTS)
    assert pairs(indicators) == [
        (D, "ads.example.com"),
        (D, "tracker.example.net"),
        (D, "ipv6-sink.example"),
    ]
    assert (report.lines, report.accepted, report.duplicates) == (13, 3, 1)
    assert report.ignored_reasons == {
        "comment": 1,
        "local host name": 5,  # localhost x2, ip6-localhost, ip6-loopback, 0.0.0.0
        "address is not 0.0.0.0 or loopback (not a block entry)": 2,  # 255.255.255.255, LAN
        "blank line": 1,
    }
    assert report.ignored == 9
    assert [p.line for p in report.problems] == [8, 9, 11]
    assert report.problems[0].reason == "no host name after the address"
    assert report.problems[1].reason == "expected an IP address followed by host names"
    assert report.problems[2].reason.startswith("invalid domain 'bad_host!.example'")
    assert report.problems[2].text == "0.0.0.0 bad_host!.example"


# --- ADBLOCK ----------------------------------------------------------------------------------


def test_adblock_list() -> None:
    indicators, report = parse(fixture("adblock.txt"), FeedFormat.ADBLOCK)
    found = [(i.type, i.value, i.meta.action) for i in indicators]
    block, allow = IndicatorAction.BLOCK, IndicatorAction.ALLOW
    assert found == [
        (D, "ads.example.com", block),
        (D, "tracker.example.net", block),  # $third-party dropped
        (D, "good.example.com", allow),  # @@ exception
        (U, "example.org/banners/ad.js", block),
        (U, "phish.example/login", block),  # |https://…| address anchor
        (U, "example.org/banners/ok.js", allow),
        (IP, "192.0.2.44", block),
    ]
    allow_meta = indicators[2].meta
    assert allow_meta.source == DEFAULTS.source and allow_meta.kind is DEFAULTS.kind
    assert indicators[5].meta is allow_meta  # interned
    assert (report.lines, report.accepted, report.duplicates) == (19, 7, 1)  # $important dup
    assert report.ignored_reasons == {
        "header": 1,
        "comment": 1,
        "cosmetic rule": 2,
        "regex rule": 1,
        "generic rule (no domain anchor)": 1,
        "rule with an unsupported option": 1,  # $domain=
        "wildcard rule": 1,
        "blank line": 1,
    }
    assert problems(report) == [
        (13, "no domain after the anchor"),
        (16, "invalid domain 'bad..example': 'bad..example' has an empty label"),
    ]


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("||ads.example^$badfilter", "rule with an unsupported option"),
        ("||ads.example^$denyallow=x.example", "rule with an unsupported option"),
        ("/ads$/", "regex rule"),
        ("/ads/$script", "regex rule"),
        ("/banner/ad.", "generic rule (no domain anchor)"),
        ("||example.com^*/ads", "wildcard rule"),
        ("||example.com/ads/*/x", "wildcard rule"),
        ("example.com#@#.ad", "cosmetic rule"),
        ("# a hosts-style comment", "comment"),
    ],
)
def test_adblock_ignored_rules(rule: str, reason: str) -> None:
    indicators, report = parse(rule, FeedFormat.ADBLOCK)
    assert indicators == []
    assert report.ignored_reasons == {reason: 1}
    assert report.problems == []


# --- URLS -------------------------------------------------------------------------------------


def test_url_list() -> None:
    indicators, report = parse(fixture("urls.txt"), FeedFormat.URLS)
    assert pairs(indicators) == [
        (U, "phish.example/login.php"),
        (D, "evil.example"),  # a line that is only a host
        (U, "evil.example/path?q=1"),  # the fragment is dropped
        (IP, "203.0.113.7"),
        (IP, "198.51.100.0/24"),
    ]
    assert (report.lines, report.accepted, report.duplicates) == (10, 5, 1)  # https:// same page
    assert report.ignored_reasons == {"comment": 2}
    assert problems(report) == [
        (6, "invalid url 'http://': no host in URL 'http://'"),
        (8, "expected one URL on the line"),
    ]


def test_url_with_a_bad_scheme_is_a_problem() -> None:
    _, report = parse('"1","2026-01-01","http://x.example/"', FeedFormat.URLS)
    assert report.accepted == 0
    assert report.problems[0].reason.startswith("not a URL")


# --- CSV --------------------------------------------------------------------------------------


def test_csv_feed() -> None:
    indicators, report = parse(fixture("feed.csv"), FeedFormat.CSV)
    assert pairs(indicators) == [
        (U, "malware.example/payload.apk"),
        (D, "malware.example"),
        (IP, "198.51.100.7"),
        (U, "quoted.example/a,b"),
    ]
    assert (report.lines, report.accepted, report.duplicates) == (11, 4, 1)
    assert report.ignored_reasons == {"comment": 1, "blank line": 1}
    assert [(p.line, p.reason) for p in report.problems[:2]] == [
        (6, "empty 'URL' column"),
        (8, "expected 3 columns, found 2"),
    ]
    assert report.problems[2].line == 11
    assert report.problems[2].reason.startswith("invalid domain 'not a host!'")
    assert report.problems[1].text == "2026-01-06,only-two-columns"


@pytest.mark.parametrize("column", ["Domain", "HOST", "ip_address", "Indicator", "value", "url"])
def test_csv_value_column_names(column: str) -> None:
    indicators, report = parse(f"id,{column}\n1,a.example\n", FeedFormat.CSV)
    assert pairs(indicators) == [(D, "a.example")]
    assert report.problems == []


def test_csv_header_in_the_last_comment_line_urlhaus_style() -> None:
    text = (
        "# URLhaus database dump\n"
        "# id,dateadded,url,url_status\n"
        '"1","2026-01-01 00:00:00","http://203.0.113.5/x.apk","online"\n'
        '"2","2026-01-01 00:00:01","http://spam.example/a","offline"\n'
    )
    indicators, report = parse(text, FeedFormat.CSV)
    assert pairs(indicators) == [(U, "203.0.113.5/x.apk"), (U, "spam.example/a")]
    assert report.problems == []
    assert detect_format(text) is FeedFormat.CSV


def test_csv_without_a_usable_header() -> None:
    indicators, report = parse("a.example,b\nc.example,d\n", FeedFormat.CSV)
    assert indicators == []
    assert problems(report) == [
        (1, "no header row with a column named url, domain, host, ip, indicator or value")
    ]
    _, empty = parse("", FeedFormat.CSV)
    assert problems(empty) == [(0, "no header row")]


# --- ADMIN_CSV --------------------------------------------------------------------------------


def test_admin_csv() -> None:
    indicators, report = parse(fixture("admin.csv"), FeedFormat.ADMIN_CSV)
    assert pairs(indicators) == [
        (D, "phish.example"),
        (U, "evil.example/login?x=1"),
        (IP, "10.0.0.0/8"),
        (IP, "2001:db8::1"),
    ]
    phish, evil, net, v6 = (i.meta for i in indicators)
    assert phish == IndicatorMeta(
        kind=MatchKind.FEED,
        source="test-feed",
        action=IndicatorAction.WARN,
        severity=Severity.HIGH,
        title="Credential phishing, kit X",
        description="Seen in SMS campaign",
        recommended_actions="Reset the password",
        category="Phishing",
        mitre_techniques=("T1660", "T1417.001"),
        generate_alert=True,
        expires_at=datetime(2026, 12, 1, tzinfo=UTC),
        device_groups=("Sales", "Field Staff"),
    )
    assert (evil.action, evil.generate_alert, evil.severity) == (
        IndicatorAction.ALLOW,
        False,
        Severity.INFORMATIONAL,
    )
    assert (net.action, net.severity) == (IndicatorAction.AUDIT, Severity.LOW)
    assert net.expires_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # naive means UTC
    assert v6.expires_at == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # +02:00 -> UTC
    assert v6.expires_at is not None and v6.expires_at.tzinfo is UTC
    # the last row repeats the first with ";"/"," swapped and "true": same meta, a duplicate
    assert (report.lines, report.accepted, report.duplicates) == (15, 4, 1)
    assert report.ignored_reasons == {}  # app types are imported now (tests/intel/test_app_*)
    assert problems(report) == [
        (
            5,
            "invalid file_sha256 '3f786850e387550fdab836ed7e6dc881de23001b':"
            " '3f786850e387550fdab836ed7e6dc881de23001b' has 40 hex digits;"
            " a SHA-256 hash has 64",
        ),
        (
            6,
            "certificate thumbprint 'aa' has 2 characters;"
            " expected 40 hex digits (SHA-1), 64 (SHA-256) or 32 (MD5)",
        ),
        (7, "invalid domain 'bad..name': 'bad..name' has an empty label"),
        (8, "unknown Action 'Explode'"),
        (9, "bad ExpirationTime: not an ISO 8601 time: 'next tuesday'"),
        (10, "expected 12 columns, found 2"),
        (11, "unknown IndicatorType 'Md5Hash'"),
        (12, "unknown Severity 'Severe'"),
        (13, "GenerateAlert must be TRUE or FALSE, not 'maybe'"),
    ]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("Allowed", IndicatorAction.ALLOW),
        ("allow", IndicatorAction.ALLOW),
        ("AUDIT", IndicatorAction.AUDIT),
        ("Warn", IndicatorAction.WARN),
        ("Block", IndicatorAction.BLOCK),
        ("Blocked", IndicatorAction.BLOCK),
        ("BlockAndRemediate", IndicatorAction.BLOCK),
        ("", IndicatorAction.BLOCK),  # empty keeps the default
    ],
)
def test_admin_csv_actions(action: str, expected: IndicatorAction) -> None:
    text = f"{ADMIN_HEADER}\nDomainName,a.example,,{action},,,,,,,,\n"
    indicators, report = parse(text, FeedFormat.ADMIN_CSV)
    assert report.problems == []
    assert indicators[0].meta.action is expected


def test_admin_csv_header_must_name_the_columns() -> None:
    indicators, report = parse("Type,Value\nDomainName,a.example\n", FeedFormat.ADMIN_CSV)
    assert indicators == []
    assert report.problems[0].line == 1
    assert report.problems[0].reason == "the header must be " + ADMIN_HEADER
    # any order and case is accepted
    shuffled = list(reversed(ADMIN_CSV_COLUMNS))
    row = dict.fromkeys(ADMIN_CSV_COLUMNS, "") | {
        "IndicatorType": "DomainName",
        "IndicatorValue": "a.example",
        "Action": "Warn",
    }
    text = ",".join(c.lower() for c in shuffled) + "\n" + ",".join(row[c] for c in shuffled)
    indicators, report = parse(text, FeedFormat.ADMIN_CSV)
    assert pairs(indicators) == [(D, "a.example")]
    assert indicators[0].meta.action is IndicatorAction.WARN


def test_admin_csv_metas_are_interned() -> None:
    rows = "".join(
        f"DomainName,d{i}.example,2027-01-01T00:00:00Z,Block,High,Spyware C2,,,"
        f"Sales,Malware,T1437,TRUE\n"
        for i in range(1000)
    )
    indicators, report = parse(f"{ADMIN_HEADER}\n{rows}", FeedFormat.ADMIN_CSV)
    assert report.accepted == 1000
    assert len({id(i.meta) for i in indicators}) == 1
    # different spellings of the same attributes also end up as the same object
    text = (
        f"{ADMIN_HEADER}\n"
        "DomainName,a.example,,Block,high,,,,,,,\n"
        "DomainName,b.example,,blocked,High,,,,,,,TRUE\n"
        "DomainName,c.example,,BlockAndRemediate,HIGH,,,,,,,\n"
    )
    indicators, _ = parse(text, FeedFormat.ADMIN_CSV)
    assert len(indicators) == 3
    assert indicators[0].meta is indicators[1].meta is indicators[2].meta
    # and rows with the defaults' attributes share the defaults object itself
    indicators, _ = parse(f"{ADMIN_HEADER}\nUrl,a.example/x,,,,,,,,,,\n", FeedFormat.ADMIN_CSV)
    assert indicators[0].meta is DEFAULTS


# --- STIX -------------------------------------------------------------------------------------


def test_stix_bundle_fixture() -> None:
    indicators, report = parse(fixture("bundle.stix2"), FeedFormat.STIX)
    assert pairs(indicators) == [
        (D, "c2.example"),
        (U, "c2.example/gate.php"),
        (IP, "203.0.113.9"),
        (IP, "2001:db8::1"),
        (
            IndicatorType.FILE_SHA256,
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
        (IndicatorType.PACKAGE, "com.spy.app"),
    ]
    c2 = indicators[0].meta
    assert indicators[1].meta is c2 and indicators[2].meta is c2  # one SDO, one meta
    assert c2.title == "TestSpy: malicious-activity"  # malware name, no indicator name
    assert c2.description == "Test spyware used by openmtd's tests."
    assert c2.category == "malicious-activity"
    assert c2.expires_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert c2.mitre_techniques == ("T1437", "T1437.001")  # tactic names are skipped
    assert (c2.source, c2.kind, c2.action) == ("test-feed", MatchKind.FEED, IndicatorAction.BLOCK)
    named = indicators[3].meta
    assert (named.title, named.description) == ("Named indicator", "Its own description")
    assert (named.action, named.severity) == (IndicatorAction.WARN, Severity.HIGH)
    assert report.lines == 19
    assert (report.accepted, report.duplicates) == (6, 1)  # objects[13] 'C2.example.'
    assert report.ignored_reasons == {
        "malware object": 1,
        "relationship object": 2,
        "unsupported observable email-addr:value": 1,
        "pattern with AND": 1,
        "pattern with FOLLOWEDBY": 1,
        "pattern with a WITHIN qualifier": 1,
        "pattern_type sigma": 1,
        "unsupported operator LIKE": 1,
        "revoked indicator": 1,
    }
    assert report.ignored == 10
    reasons = [p.reason for p in report.problems]
    assert all(p.line == 0 for p in report.problems)
    assert [r.split(" ", 1)[0] for r in reasons] == [
        "objects[6]",
        "objects[8]",
        "objects[9]",
        "objects[14]",
        "objects[16]",
    ]
    assert "invalid STIX pattern" in reasons[0]
    assert reasons[1].endswith("bad valid_until: not an ISO 8601 time: 'tomorrow'")
    assert reasons[2].endswith("invalid domain 'bad..example': 'bad..example' has an empty label")
    assert reasons[3].endswith("unknown x_openmtd_action 'Nuke'")
    assert reasons[4] == "objects[16] is not a JSON object"
    assert report.problems[0].text == "[domain-name:value = ]"


@pytest.mark.parametrize(
    ("name", "kinds", "ignored"),
    [
        ("rcs_lab.stix2", {D: 26, IndicatorType.PACKAGE: 5, IndicatorType.FILE_SHA256: 9}, {}),
        (
            "operation_triangulation.stix2",
            {D: 75},
            {
                "unsupported observable email-addr:value": 36,
                "unsupported observable process:name": 1,
            },
        ),
        (
            "darksword.stix2",
            {D: 10, IP: 3, IndicatorType.FILE_SHA256: 1},
            {
                "unsupported observable file:path": 22,
                "unsupported observable file:name": 7,
            },
        ),
        (
            "residentbat.stix2",
            {
                IP: 24,
                IndicatorType.PACKAGE: 8,
                IndicatorType.CERT_SHA256: 8,
                IndicatorType.FILE_SHA256: 8,
            },
            {},
        ),
    ],
)
def test_real_mvt_bundles(
    name: str, kinds: dict[IndicatorType, int], ignored: dict[str, int]
) -> None:
    path = MVT / name
    text = path.read_text(encoding="utf-8")
    assert detect_format(text, path.name) is FeedFormat.STIX
    indicators, report = parse(text, FeedFormat.STIX)
    bundle = json.loads(text)
    sdos = [o for o in bundle["objects"] if o["type"] == "indicator"]
    assert Counter(i.type for i in indicators) == kinds
    assert report.accepted == sum(kinds.values()) == len(indicators)
    assert report.problems == [] and report.duplicates == 0
    assert report.lines == len(bundle["objects"])
    expected_ignored = dict(ignored)
    expected_ignored["malware object"] = 1
    expected_ignored["relationship object"] = len(sdos)
    assert report.ignored_reasons == expected_ignored
    assert sum(kinds.values()) + sum(ignored.values()) == len(sdos)
    malware = next(o for o in bundle["objects"] if o["type"] == "malware")
    assert len({id(i.meta) for i in indicators}) == 1  # all share one interned meta
    meta = indicators[0].meta
    assert meta.title == f"{malware['name']}: malicious-activity"
    assert meta.category == "malicious-activity"
    assert meta.source == DEFAULTS.source


def test_mvt_values_are_the_patterns_values() -> None:
    text = (MVT / "rcs_lab.stix2").read_text(encoding="utf-8")
    indicators, _ = parse(text, FeedFormat.STIX)
    patterns = [
        o["pattern"]
        for o in json.loads(text)["objects"]
        if o["type"] == "indicator" and o["pattern"].startswith("[domain-name:value=")
    ]
    expected = [p.split("'")[1].lower() for p in patterns]
    assert [i.value for i in indicators if i.type is D] == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", 'not a STIX bundle (no "type": "bundle")'),
        ('{"type": "indicator"}', 'not a STIX bundle (no "type": "bundle")'),
        ('{"type": "bundle", "objects": {}}', "the bundle's objects is not a list"),
    ],
)
def test_stix_whole_document_problems(text: str, reason: str) -> None:
    indicators, report = parse(text, FeedFormat.STIX)
    assert indicators == []
    assert len(report.problems) == report.problem_count == 1
    assert report.problems[0].line == 0
    assert report.problems[0].reason.startswith(reason)


def test_stix_pattern_shapes() -> None:
    def sdo(pattern: str) -> dict[str, object]:
        return {"type": "indicator", "id": "indicator--x", "pattern": pattern}

    bundle = {
        "type": "bundle",
        "objects": [
            sdo("[domain-name:value = 'a.example'] OR ([url:value = 'b.example/x'])"),
            sdo("[(domain-name:value = 'c.example' OR domain-name:value = 'd.example')]"),
            sdo("[domain-name:value != 'e.example']"),
            sdo("[domain-name:value IN ('f.example', 'g.example')]"),
            sdo("[domain-name:value = 'h.example'] REPEATS 2 TIMES"),
            sdo("[url:value = 'http://x.example/it\\'s']"),  # an escaped quote
            sdo("[domain-name:resolves_to_refs[*].value = '192.0.2.1']"),
        ],
    }
    indicators, report = parse(json.dumps(bundle), FeedFormat.STIX)
    assert pairs(indicators) == [
        (D, "a.example"),
        (U, "b.example/x"),
        (D, "c.example"),
        (D, "d.example"),
        (U, "x.example/it's"),
    ]
    assert report.ignored_reasons == {
        "unsupported operator !=": 1,
        "unsupported operator IN": 1,
        "pattern with a REPEATS qualifier": 1,
        "unsupported observable domain-name:resolves_to_refs[*].value": 1,
    }


def test_unescape_stix_string() -> None:
    assert unescape_stix_string("'plain'") == "plain"
    assert unescape_stix_string(r"'it\'s'") == "it's"
    assert unescape_stix_string(r"'back\\slash'") == "back\\slash"
    assert unescape_stix_string(r"'\\\''") == "\\'"


# --- detection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("domains.txt", FeedFormat.DOMAINS),
        ("hosts.txt", FeedFormat.HOSTS),
        ("adblock.txt", FeedFormat.ADBLOCK),
        ("urls.txt", FeedFormat.URLS),
        ("feed.csv", FeedFormat.CSV),
        ("admin.csv", FeedFormat.ADMIN_CSV),
        ("bundle.stix2", FeedFormat.STIX),
    ],
)
def test_detect_format_by_content_and_name(name: str, fmt: FeedFormat) -> None:
    text = fixture(name)
    assert detect_format(text, name) is fmt
    assert detect_format(text) is fmt  # content alone suffices for every fixture


@pytest.mark.parametrize(
    ("text", "filename", "fmt"),
    [
        ("", "", FeedFormat.DOMAINS),
        ("not json", "feed.json", FeedFormat.STIX),
        ('  \n{"type": "bundle"}', "feed.txt", FeedFormat.STIX),
        ("a.example\n", "list.CSV", FeedFormat.CSV),
        ("[Adblock Plus 2.0]\nexample.com\n", "", FeedFormat.ADBLOCK),
        ("example.com##.ad\n", "", FeedFormat.ADBLOCK),
        ("0.0.0.0 a.example\na.example\nb.example\n", "", FeedFormat.DOMAINS),  # 1 of 3
        ("0.0.0.0 a.example\n127.0.0.1 b.example\nc.example\n", "", FeedFormat.HOSTS),
        ("a.example\nhttps://b.example/x\n", "", FeedFormat.URLS),
        ("domain,first_seen\na.example,2026\n", "", FeedFormat.CSV),
    ],
)
def test_detect_format_rules(text: str, filename: str, fmt: FeedFormat) -> None:
    assert detect_format(text, filename) is fmt


# --- nothing raises ---------------------------------------------------------------------------

_TOKENS = st.sampled_from(
    [
        "||",
        "@@",
        "^",
        "$",
        "third-party",
        "domain=",
        "##",
        "#",
        "!",
        "*.",
        "0.0.0.0",
        "::1",
        "127.0.0.1",
        "http://",
        "https://",
        "[",
        "]",
        "/",
        "?",
        ":",
        "%",
        "'",
        '"',
        ",",
        ";",
        " ",
        "\t",
        "\n",
        "\r",
        "example",
        ".",
        "com",
        "xn--",
        "ü",
        "localhost",
        "192.0.2.1",
        "2001:db8::",
        "/24",
        "\x00",
        "\ufeff",
        ADMIN_HEADER + "\n",
        "DomainName,",
        "Url,",
        "IpAddress,",
        "Block,",
        "High,",
        "TRUE",
        "url,domain\n",
    ]
)
_FEEDISH = st.lists(st.one_of(_TOKENS, st.text(max_size=8)), max_size=40).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(), _FEEDISH), fmt=st.sampled_from(list(FeedFormat)))
def test_parse_never_raises(text: str, fmt: FeedFormat) -> None:
    indicators, report = parse(text, fmt)
    assert report.format is fmt
    assert report.accepted == len(indicators)
    assert report.problem_count >= len(report.problems)
    assert all(isinstance(p, LineProblem) and len(p.text) <= 200 for p in report.problems)
    assert sum(report.ignored_reasons.values()) == report.ignored
    detect_format(text)


_PATTERN = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "[",
                "]",
                "(",
                ")",
                "domain-name:value",
                "url:value",
                "ipv4-addr:value",
                "ipv6-addr:value",
                "file:hashes.'SHA-256'",
                " = ",
                " != ",
                " OR ",
                " AND ",
                " FOLLOWEDBY ",
                " LIKE ",
                " WITHIN 5 SECONDS",
                "'a.example'",
                "'bad..example'",
                "'http://x.example/p'",
                "'192.0.2.1'",
                "'::1'",
                "'it\\'s'",
                "1",
                "b'AA=='",
            ]
        ),
        st.text(max_size=4),
    ),
    max_size=14,
).map("".join)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pattern=st.one_of(_PATTERN, _JSONISH),
    extra=st.dictionaries(
        st.sampled_from(
            [
                "name",
                "description",
                "valid_until",
                "indicator_types",
                "labels",
                "revoked",
                "pattern_type",
                "external_references",
                "kill_chain_phases",
                "x_openmtd_action",
                "x_openmtd_severity",
                "x_openmtd_generate_alert",
                "x_openmtd_device_groups",
                "x_openmtd_recommended_actions",
                "id",
            ]
        ),
        _JSONISH,
        max_size=4,
    ),
    others=st.lists(_JSONISH, max_size=3),
)
def test_stix_never_raises(pattern: object, extra: dict[str, object], others: list[object]) -> None:
    sdo = {"type": "indicator", "pattern": pattern, "pattern_type": "stix"} | extra
    text = json.dumps({"type": "bundle", "objects": [sdo, *others]})
    indicators, report = parse(text, FeedFormat.STIX)
    assert report.lines == 1 + len(others)
    assert report.accepted == len(indicators)


@settings(max_examples=200, deadline=None)
@given(
    object_type=st.sampled_from(["domain-name", "url", "ipv4-addr", "ipv6-addr"]),
    spaces=st.lists(st.sampled_from(["", " ", "\t", "\r\n", "\x0b"]), min_size=5, max_size=5),
    literal=st.text(st.characters(codec="utf-8", exclude_characters="'\\")),
)
def test_simple_pattern_fast_path_agrees_with_stix2_patterns(
    object_type: str, spaces: list[str], literal: str
) -> None:
    """Single comparisons skip the ANTLR parser; they must read exactly as the library reads
    them."""
    a, b, c, d, e = spaces
    pattern = f"{a}[{b}{object_type}:value{c}={d}'{literal}'{e}]"
    fast = web_feeds._simple_comparison(pattern)
    listener = web_feeds._PatternShape()
    Pattern(pattern).walk(listener)
    assert listener.unsupported == []
    assert fast is not None and [fast] == listener.comparisons
