"""CISA KEV and FIRST EPSS parsers: the real KEV catalog, a hand-written EPSS file (plain and
gzip), bad rows, bad documents and property tests."""

from __future__ import annotations

import contextlib
import gzip
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from openmtd.domain.vulns import EpssScore, ImportProblem, KevEntry
from openmtd.intel.vuln_feeds import _common, parse_epss, parse_kev

KEV = SHARED / "data" / "cisa-kev" / "known_exploited_vulnerabilities.json"
EPSS = Path(__file__).parent / "fixtures" / "vulns" / "epss_scores-2026-11-25.csv"


# --- KEV ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kev() -> tuple[list[KevEntry], list[ImportProblem]]:
    return parse_kev(KEV.read_bytes())


def test_real_catalog(kev: tuple[list[KevEntry], list[ImportProblem]]) -> None:
    entries, problems = kev
    assert problems == []
    assert len(entries) == 1_404 == json.loads(KEV.read_text())["count"]
    assert sum(e.ransomware for e in entries) == 293
    assert sum(e.vendor == "Apple" for e in entries) == 84
    assert sum(e.vendor == "Android" for e in entries) == 13
    assert entries[0].cve == "CVE-2025-48384"  # the newest first, as the catalog lists them


def test_real_entry(kev: tuple[list[KevEntry], list[ImportProblem]]) -> None:
    entry = next(e for e in kev[0] if e.cve == "CVE-2025-43300")
    assert entry == KevEntry(
        cve="CVE-2025-43300",
        vendor="Apple",
        product="iOS, iPadOS, and macOS",
        name="Apple iOS, iPadOS, and macOS Out-of-Bounds Write Vulnerability",
        date_added=date(2025, 8, 21),
        due_date=date(2025, 9, 11),
        ransomware=False,
    )


def _catalog(*entries: Any) -> bytes:
    return json.dumps({"catalogVersion": "x", "vulnerabilities": list(entries)}).encode()


def _kev_entry(**changes: Any) -> dict[str, Any]:
    entry = {
        "cveID": "CVE-2024-43093",
        "vendorProject": "Android",
        "product": "Framework",
        "vulnerabilityName": "Android Framework Privilege Escalation Vulnerability",
        "dateAdded": "2024-11-07",
        "dueDate": "2024-11-28",
        "knownRansomwareCampaignUse": "Known",
    }
    entry.update(changes)
    return entry


def test_bad_kev_entries() -> None:
    entries, problems = parse_kev(
        _catalog(
            _kev_entry(),
            _kev_entry(cveID=None),
            _kev_entry(cveID="CVE-2024-1"),
            _kev_entry(cveID="CVE-2024-50302", dateAdded="07/11/2024"),
            _kev_entry(cveID="CVE-2024-50303", vendorProject=["Android"]),
            _kev_entry(),
            "junk",
            _kev_entry(cveID="CVE-2024-50304", product="x" * 5000, knownRansomwareCampaignUse=None),
        )
    )
    assert [e.cve for e in entries] == ["CVE-2024-43093", "CVE-2024-50304"]
    assert entries[0].ransomware and not entries[1].ransomware
    assert len(entries[1].product) == 200
    assert problems == [
        ImportProblem("#1", "cveID is null, not a string"),
        ImportProblem("#2", "cveID 'CVE-2024-1' is not a CVE id"),
        ImportProblem("CVE-2024-50302", "dateAdded '07/11/2024' is not an ISO 8601 date"),
        ImportProblem("CVE-2024-50303", "vendorProject is an array, not a string"),
        ImportProblem("CVE-2024-43093", "listed again; the first entry is kept"),
        ImportProblem("#6", "the entry is a string, not an object"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "expected the KEV catalog object, found an array"),
        (b"{}", '"vulnerabilities" is null, not an array: not a KEV catalog'),
        (b'{"vulnerabilities"', "not JSON"),
    ],
)
def test_bad_kev_documents(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        parse_kev(data)


def test_truncated_kev() -> None:
    with pytest.raises(ValueError, match="^not JSON"):
        parse_kev(KEV.read_bytes()[:600_000])


# --- EPSS ---------------------------------------------------------------------------------------


def test_epss_file() -> None:
    scores, problems = parse_epss(EPSS.read_bytes())
    assert problems == []
    assert len(scores) == 12
    assert scores[0] == EpssScore("CVE-2023-32434", 0.00532, 0.76114)
    assert scores[-1] == EpssScore("CVE-2025-43300", 0.00187, 0.41)


def test_epss_gzip() -> None:
    assert parse_epss(gzip.compress(EPSS.read_bytes())) == parse_epss(EPSS.read_bytes())


def test_epss_bad_rows() -> None:
    text = (
        "#model_version:v2025.03.14,score_date:2026-11-25T00:00:00+0000\r\n"
        "cve,epss,percentile\r\n"
        "CVE-2025-0001,0.5,0.9\r\n"
        "CVE-2025-0002,1.5,0.9\r\n"
        "CVE-2025-0003,abc,0.9\r\n"
        "CVE-2025-0004,nan,0.9\r\n"
        "not-a-cve,0.1,0.1\r\n"
        "CVE-2025-0005,0.1\r\n"
        "\r\n"
        "# a comment in the middle\r\n"
        "CVE-2025-0001,0.4,0.8\r\n"
        "CVE-2025-0006,0,1\r\n"
    )
    scores, problems = parse_epss(text.encode())
    assert scores == [EpssScore("CVE-2025-0001", 0.5, 0.9), EpssScore("CVE-2025-0006", 0.0, 1.0)]
    assert problems == [
        ImportProblem("#4", "epss '1.5' is not between 0 and 1"),
        ImportProblem("#5", "epss 'abc' is not a number"),
        ImportProblem("#6", "epss 'nan' is not between 0 and 1"),
        ImportProblem("#7", "'not-a-cve' is not a CVE id"),
        ImportProblem("#8", "expected 3 columns, found 2"),
        ImportProblem("#11", "CVE-2025-0001 listed again; the first row is kept"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no header line cve,epss,percentile"),
        (b"#model_version:v1\n", "no header line cve,epss,percentile"),
        (b"cve,score\nCVE-2025-0001,0.1\n", "line 1: expected the header cve,epss,percentile"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt gzip data"),
        (b"cve,epss,percentile\n\xff\xfe\n", "not UTF-8 text"),
    ],
)
def test_bad_epss_documents(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        parse_epss(data)


def test_epss_overlong_field() -> None:
    data = (
        b"cve,epss,percentile\nCVE-2025-0001," + b"9" * 200_000 + b",0.1\nCVE-2025-0002,0.1,0.2\n"
    )
    scores, problems = parse_epss(data)
    assert scores == [EpssScore("CVE-2025-0002", 0.1, 0.2)]
    assert problems == [ImportProblem("#2", "not CSV: field larger than field limit (131072)")]


def test_epss_truncated_gzip() -> None:
    data = gzip.compress(EPSS.read_bytes())
    with pytest.raises(ValueError, match="^corrupt gzip data"):
        parse_epss(data[: len(data) // 2])


def test_epss_gzip_bomb_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("openmtd.intel.vuln_feeds.epss.MAX_INPUT_BYTES", 10_000)
    bomb = gzip.compress(b"cve,epss,percentile\n" + b"#" * 1_000_000)
    assert len(bomb) < 10_000
    with pytest.raises(ValueError, match="^decompresses to more than the 10000 bytes allowed"):
        parse_epss(bomb)


def test_epss_input_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "MAX_INPUT_BYTES", 100)
    with pytest.raises(ValueError, match="^input of 101 bytes"):
        parse_epss(b"#" * 101)


# --- properties ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(deadline=None)
@given(st.lists(JSON, max_size=6))
def test_random_kev_entries_never_raise(items: list[Any]) -> None:
    entries, problems = parse_kev(_catalog(*items))
    assert len(entries) + len(problems) == len(items)


@settings(deadline=None)
@given(JSON)
def test_random_kev_documents_raise_only_value_error(document: Any) -> None:
    with contextlib.suppress(ValueError):
        parse_kev(json.dumps(document).encode())


@settings(deadline=None)
@given(st.lists(st.text(max_size=40), max_size=8))
def test_random_epss_rows_never_raise(rows: list[str]) -> None:
    text = "cve,epss,percentile\n" + "\n".join(r.replace("\r", "") for r in rows)
    parse_epss(text.encode())


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_random_epss_bytes_raise_only_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_epss(data)
