"""Incremental re-imports: only new or changed records are written again."""

from __future__ import annotations

from dataclasses import replace

from conftest import SHARED
from openmtd.domain.vulns import VulnRecord, VulnSource
from openmtd.intel.vuln_feeds import incremental, parse_nvd, parse_sofa, revision

NVD = SHARED / "data" / "cve-records" / "nvd-api-2.0"
SOFA_V1 = SHARED / "data" / "sofa" / "v1_ios_data_feed.json"


def _nvd_records() -> list[VulnRecord]:
    return [r for p in sorted(NVD.glob("*.json")) for r in parse_nvd(p.read_bytes()).records]


def test_first_import_writes_everything() -> None:
    records = _nvd_records()
    changed, unchanged = incremental({}, records)
    assert changed == records and unchanged == []


def test_reimport_writes_only_what_changed() -> None:
    records = _nvd_records()
    previous = {r.id: revision(r) for r in records}
    assert revision(records[0]) == records[0].modified
    again = list(records)
    again[2] = replace(again[2], modified="2026-11-26T00:00:00.000", exploited=True)
    brand_new = VulnRecord(id="CVE-2099-10001", source=VulnSource.NVD, modified="2026-11-26")
    changed, unchanged = incremental(previous, [*again, brand_new])
    assert changed == [again[2], brand_new]
    assert unchanged == [r.id for i, r in enumerate(records) if i != 2]


def test_records_without_modified_compare_by_content() -> None:
    """SOFA gives no per-CVE time: a CVE it marks exploited later must count as changed."""
    records = list(parse_sofa(SOFA_V1.read_bytes()).records)
    previous = {r.id: revision(r) for r in records}
    assert all(v.startswith("sha256:") for v in previous.values())
    assert incremental(previous, records) == ([], [r.id for r in records])
    flipped = replace(records[5], exploited=not records[5].exploited)
    changed, unchanged = incremental(previous, [*records[:5], flipped, *records[6:]])
    assert changed == [flipped]
    assert len(unchanged) == len(records) - 1


def test_repeated_id_is_listed_once() -> None:
    record = VulnRecord(id="CVE-2099-10002", source=VulnSource.OSV, modified="1")
    changed, unchanged = incremental({"CVE-2099-10002": "1"}, [record, record])
    assert changed == [] and unchanged == ["CVE-2099-10002"]
    changed, _ = incremental({"CVE-2099-10002": "0"}, [record, record])
    assert changed == [record, record]
