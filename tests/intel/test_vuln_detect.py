"""Feed format detection on every real feed file, the hand-written fixtures and junk."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from openmtd.intel.vuln_feeds.detect import VulnFormat, detect_format

DATA = SHARED / "data"
FIXTURES = Path(__file__).parent / "fixtures" / "vulns"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (DATA / "osv-android" / "vanir_test_vulnerabilities_platform.json", VulnFormat.OSV),
        (DATA / "osv-android" / "vanir_test_vulnerabilities_kernel.json", VulnFormat.OSV),
        (FIXTURES / "asb_handwritten.json", VulnFormat.OSV),
        (FIXTURES / "osv_apps_handwritten.json", VulnFormat.OSV),
        (DATA / "sofa" / "v1_ios_data_feed.json", VulnFormat.SOFA),
        (DATA / "sofa" / "v2_ios_data_feed.json", VulnFormat.SOFA),
        (DATA / "cisa-kev" / "known_exploited_vulnerabilities.json", VulnFormat.KEV),
        (FIXTURES / "epss_scores-2026-11-25.csv", VulnFormat.EPSS),
        *[(p, VulnFormat.CVE5) for p in sorted((DATA / "cve-records" / "cve5").glob("*.json"))],
        *[
            (p, VulnFormat.NVD)
            for p in sorted((DATA / "cve-records" / "nvd-api-2.0").glob("*.json"))
        ],
    ],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_real_files(path: Path, expected: VulnFormat) -> None:
    assert detect_format(path.read_bytes()) is expected


def test_an_nvd_api_answer_and_an_osv_api_answer() -> None:
    assert detect_format(b'{"resultsPerPage": 0, "vulnerabilities": []}') is VulnFormat.NVD
    assert detect_format(b'{"vulns": []}') is VulnFormat.OSV


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"hello": 1}', "top-level keys: hello"),
        (b"[1, 2]", "found int"),
        (b"not json at all", "not JSON"),
        (b"", "empty input"),
    ],
)
def test_unknown_documents_are_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        detect_format(data)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_format_or_a_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        assert isinstance(detect_format(data), VulnFormat)
