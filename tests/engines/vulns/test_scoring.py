"""Severity of vulnerabilities and exposure scores: real CVSS vectors, the documented formula's
worked examples as exact numbers, bands at their boundaries, and its properties."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from openmtd.domain.vulns import (
    EpssScore,
    KevEntry,
    Product,
    VersionRange,
    VulnFinding,
    VulnRecord,
    VulnSource,
)
from openmtd.engines.vulns.scoring import (
    UNKNOWN_BASE,
    CvssScore,
    ExposureBand,
    ExposureScore,
    SeverityBasis,
    VulnSeverity,
    cvss_score,
    exploit_multiplier,
    exposure_band,
    exposure_for_ids,
    exposure_score,
    organisation_exposure,
    record_severity,
    severity_index,
)
from openmtd.intel.vuln_feeds.kev import parse_kev
from openmtd.intel.vuln_feeds.nvd import parse_nvd

CVE_RECORDS = SHARED / "data" / "cve-records"
KEV_FILE = SHARED / "data" / "cisa-kev" / "known_exploited_vulnerabilities.json"


# --- CVSS ------------------------------------------------------------------------------------


def _stated_metrics(node: Any) -> list[tuple[str, float, str]]:
    """Every (vectorString, baseScore, baseSeverity) a CVE JSON 5 or NVD file states."""
    found: list[tuple[str, float, str]] = []
    if isinstance(node, dict):
        if "vectorString" in node and "baseScore" in node:
            found.append((node["vectorString"], node["baseScore"], node.get("baseSeverity", "")))
        for value in node.values():
            found.extend(_stated_metrics(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_stated_metrics(value))
    return found


def _real_metrics() -> list[tuple[str, str, float, str]]:
    rows = []
    for path in sorted(CVE_RECORDS.rglob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for vector, score, severity in _stated_metrics(document):
            rows.append((f"{path.parent.name}/{path.name}", vector, score, severity))
    return rows


REAL_METRICS = _real_metrics()


def test_the_shared_records_state_cvss_vectors() -> None:
    assert len(REAL_METRICS) >= 20
    assert {vector[:9] for _file, vector, _score, _severity in REAL_METRICS} == {"CVSS:3.1/"}


@pytest.mark.parametrize(("file", "vector", "stated", "severity"), REAL_METRICS)
def test_real_vectors_score_what_the_record_states(
    file: str, vector: str, stated: float, severity: str
) -> None:
    scored = cvss_score(vector)
    assert scored is not None, file
    assert scored.version == "3.1"
    assert scored.base_score == stated
    assert scored.severity == severity.capitalize()


def test_known_scores_of_the_other_versions() -> None:
    # The base vectors of the FIRST specifications' calculators.
    assert cvss_score(
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    ) == CvssScore(
        "4.0", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, "Critical"
    )
    v30 = cvss_score("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    assert v30 is not None
    assert (v30.version, v30.base_score, v30.severity) == ("3.0", 9.8, "Critical")
    v2 = cvss_score("AV:N/AC:L/Au:N/C:P/I:P/A:P")
    assert v2 is not None
    assert (v2.version, v2.base_score, v2.severity) == ("2.0", 7.5, "High")
    bracketed = cvss_score("(AV:N/AC:L/Au:N/C:C/I:C/A:C)")
    assert bracketed is not None
    assert (bracketed.base_score, bracketed.severity) == (10.0, "High")
    nothing = cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N")
    assert nothing is not None
    assert (nothing.base_score, nothing.severity) == (0.0, "None")


@pytest.mark.parametrize(
    "vector",
    [
        "",
        "garbage",
        "CVSS:3.1/",
        "CVSS:3.1/AV:L",  # mandatory metrics missing
        "CVSS:3.1/AV:Q/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",  # unknown value
        "CVSS:3.1/AV:L/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",  # duplicate metric
        "CVSS:3.2/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",  # no such version
        "CVSS:4.0/AV:N/AC:L",
        "CVSS:5.0/AV:N",
        "AV:N/AC:L/Au:N",
        "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H\x00",
        "CVSS:3.1/" + "AV:L/" * 200,
    ],
)
def test_garbage_vectors_score_none(vector: str) -> None:
    assert cvss_score(vector) is None


@pytest.mark.parametrize("value", [None, 7.8, b"CVSS:3.1/AV:L", ["CVSS:3.1/AV:L"]])
def test_what_is_not_text_scores_none(value: object) -> None:
    assert cvss_score(value) is None


@given(st.text(max_size=120))
def test_any_text_scores_without_raising(text: str) -> None:
    scored = cvss_score(text)
    assert scored is None or 0.0 <= scored.base_score <= 10.0


_METRIC = st.sampled_from(
    ["AV", "AC", "PR", "UI", "S", "C", "I", "A", "AT", "VC", "VI", "VA", "Au", "E", "XX"]
)
_VALUE = st.sampled_from(["N", "L", "H", "P", "R", "U", "C", "A", "X", "M", ""])


@given(
    st.sampled_from(["CVSS:3.1/", "CVSS:3.0/", "CVSS:4.0/", "CVSS:2.0/", ""]),
    st.lists(st.tuples(_METRIC, _VALUE), max_size=14),
)
def test_vector_shaped_text_scores_without_raising(
    prefix: str, fields: list[tuple[str, str]]
) -> None:
    vector = prefix + "/".join(f"{metric}:{value}" for metric, value in fields)
    scored = cvss_score(vector)
    assert scored is None or 0.0 <= scored.base_score <= 10.0


# --- severity of one record ------------------------------------------------------------------

V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3
V31_HIGH = "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"  # 7.8
V31_HIGHER = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"  # 8.8
V2 = "AV:N/AC:L/Au:N/C:P/I:P/A:P"  # 7.5


def rec(
    cvss: tuple[str, ...] = (),
    severity: str = "",
    exploited: bool = False,
    record_id: str = "CVE-2024-0001",
    aliases: tuple[str, ...] = (),
    source: VulnSource = VulnSource.NVD,
) -> VulnRecord:
    return VulnRecord(
        id=record_id,
        source=source,
        aliases=aliases,
        severity=severity,
        cvss=cvss,
        exploited=exploited,
    )


def kev_entry(cve: str) -> KevEntry:
    return KevEntry(cve, "Apple", "iOS", "a name", date(2024, 3, 5), date(2024, 3, 26), False)


def test_v4_is_preferred_to_v3() -> None:
    severity = record_severity(rec((V31_HIGHER, V4)), {}, {})
    assert (severity.base, severity.severity, severity.basis) == (9.3, "Critical", "cvss")
    assert severity.cvss is not None
    assert severity.cvss.version == "4.0"


def test_the_highest_vector_of_one_version_and_an_invalid_v4_is_ignored() -> None:
    severity = record_severity(rec(("CVSS:4.0/AV:N", V31_HIGH, V31_HIGHER)), {}, {})
    assert (severity.base, severity.severity) == (8.8, "High")


def test_cvss_is_preferred_to_the_feed_word() -> None:
    severity = record_severity(rec((V31_HIGH,), severity="Critical"), {}, {})
    assert (severity.base, severity.basis, severity.feed_severity) == (7.8, "cvss", "Critical")


@pytest.mark.parametrize(
    ("word", "base", "normalised"),
    [
        ("Critical", 9.5, "Critical"),
        ("HIGH", 8.0, "High"),
        ("Important", 8.0, "High"),
        ("Moderate", 5.5, "Medium"),
        ("medium", 5.5, "Medium"),
        (" Low ", 2.5, "Low"),
    ],
)
def test_feed_words_map_to_representative_scores(word: str, base: float, normalised: str) -> None:
    severity = record_severity(rec(severity=word), {}, {})
    assert (severity.base, severity.severity, severity.basis) == (
        base,
        normalised,
        SeverityBasis.FEED_WORD,
    )


def test_v2_is_the_last_resort_then_unknown() -> None:
    assert record_severity(rec((V2,)), {}, {}).base == 7.5
    assert record_severity(rec((V2,)), {}, {}).basis is SeverityBasis.CVSS2
    assert record_severity(rec((V2,), severity="Low"), {}, {}).base == 2.5
    unknown = record_severity(rec(("junk",), severity="whatever"), {}, {})
    assert (unknown.base, unknown.severity, unknown.basis) == (UNKNOWN_BASE, "Unknown", "unknown")


def test_exploited_by_the_feed_or_by_kev() -> None:
    by_feed = record_severity(rec(exploited=True, source=VulnSource.SOFA), {}, {})
    assert (by_feed.exploited, by_feed.exploited_by) == (True, ("feed:sofa",))
    cve = "CVE-2024-0001"
    by_kev = record_severity(rec(), {cve: kev_entry(cve)}, {})
    assert (by_kev.exploited, by_kev.exploited_by, by_kev.kev) == (True, ("kev",), kev_entry(cve))
    assert not record_severity(rec(), {"CVE-2099-1": kev_entry("CVE-2099-1")}, {}).exploited


def test_epss_is_the_highest_of_the_cve_ids_and_bad_values_are_unknown() -> None:
    record = rec(record_id="GHSA-xxxx", aliases=("CVE-2024-0001", "CVE-2024-0002"))
    epss = {
        "CVE-2024-0001": EpssScore("CVE-2024-0001", 0.02, 0.5),
        "CVE-2024-0002": EpssScore("CVE-2024-0002", 0.3, 0.9),
    }
    severity = record_severity(record, {}, epss)
    assert severity.vuln_id == "CVE-2024-0001"
    assert severity.epss == epss["CVE-2024-0002"]
    broken = {"CVE-2024-0001": EpssScore("CVE-2024-0001", float("nan"), 0.5)}
    assert record_severity(rec(), {}, broken).epss is None
    assert record_severity(rec(), {}, {"CVE-2024-0001": EpssScore("x", 1.5, 0.5)}).epss is None


def test_real_nvd_record_and_kev_catalog() -> None:
    records = parse_nvd((CVE_RECORDS / "nvd-api-2.0" / "CVE-2025-24200.json").read_bytes())
    entries, _problems = parse_kev(KEV_FILE.read_bytes())
    kev = {entry.cve: entry for entry in entries}
    (record,) = records.records
    severity = record_severity(record, kev, {})
    # NVD's file holds 6.1 (CISA-ADP) and 4.6 (NVD): the higher one counts.
    assert (severity.vuln_id, severity.base, severity.severity) == ("CVE-2025-24200", 6.1, "Medium")
    assert severity.exploited
    assert "kev" in severity.exploited_by
    assert severity.kev is not None
    assert severity.kev.vendor == "Apple"


def test_severity_index_merges_feeds_per_cve() -> None:
    nvd = rec((V31_HIGH,), severity="High")
    sofa = rec(severity="Critical", exploited=True, source=VulnSource.SOFA)
    android = rec(record_id="ASB-A-1", severity="High", source=VulnSource.OSV)
    epss = {"CVE-2024-0001": EpssScore("CVE-2024-0001", 0.2, 0.8)}
    index = severity_index([sofa, nvd, android], {}, epss)
    merged = index["CVE-2024-0001"]
    assert (merged.base, merged.basis, merged.exploited) == (7.8, SeverityBasis.CVSS, True)
    assert merged.exploited_by == ("feed:sofa",)
    assert merged.records == ("CVE-2024-0001",)  # both records have the CVE's own id
    assert merged.epss == epss["CVE-2024-0001"]
    assert index["ASB-A-1"].base == 8.0


# --- exposure --------------------------------------------------------------------------------


def sev(
    vuln_id: str, base: float, exploited: bool = False, epss: float | None = None
) -> VulnSeverity:
    return VulnSeverity(
        vuln_id=vuln_id,
        base=base,
        severity="x",
        basis=SeverityBasis.CVSS,
        exploited=exploited,
        epss=None if epss is None else EpssScore(vuln_id, epss, 0.5),
    )


def exposure_of(*severities: VulnSeverity) -> ExposureScore:
    return exposure_for_ids([s.vuln_id for s in severities], {s.vuln_id: s for s in severities})


@pytest.mark.parametrize(
    ("severity", "multiplier"),
    [
        (sev("a", 5, exploited=True, epss=0.01), 1.0),
        (sev("a", 5, epss=0.5), 0.7),
        (sev("a", 5, epss=0.49), 0.4),
        (sev("a", 5, epss=0.1), 0.4),
        (sev("a", 5, epss=0.0999), 0.2),
        (sev("a", 5), 0.25),
        (None, 0.25),
    ],
)
def test_exploit_multiplier(severity: VulnSeverity | None, multiplier: float) -> None:
    assert exploit_multiplier(severity) == multiplier


def test_worked_example_one_exploited_critical() -> None:
    score = exposure_of(sev("CVE-1", 9.8, exploited=True))
    assert score.exact == pytest.approx(88.2)
    assert (score.score, score.band, score.vulnerabilities, score.exploited) == (88, "high", 1, 1)
    (top,) = score.top
    assert top.risk == pytest.approx(0.98)
    assert top.factor == pytest.approx(0.118)


def test_worked_example_one_exploited_high() -> None:
    score = exposure_of(sev("CVE-1", 7.8, exploited=True))
    assert score.exact == pytest.approx(70.2)
    assert (score.score, score.band) == (70, ExposureBand.HIGH)


def test_worked_example_one_unexploited_high_with_low_epss() -> None:
    score = exposure_of(sev("CVE-1", 7.8, epss=0.02))
    assert score.exact == pytest.approx(14.04)
    assert (score.score, score.band) == (14, ExposureBand.LOW)


def test_worked_example_one_likely_exploited_critical() -> None:
    score = exposure_of(sev("CVE-1", 9.8, epss=0.6))
    assert score.exact == pytest.approx(61.74)
    assert (score.score, score.band) == (62, ExposureBand.MEDIUM)


def test_worked_example_two_vulnerabilities() -> None:
    score = exposure_of(sev("CVE-1", 7.8, exploited=True), sev("CVE-2", 8.8, epss=0.2))
    assert [c.factor for c in score.top] == [pytest.approx(0.298), pytest.approx(0.73072)]
    assert score.exact == pytest.approx(100 * (1 - 0.298 * 0.73072))
    assert (score.score, score.band) == (78, ExposureBand.HIGH)
    assert [c.vuln_id for c in score.top] == ["CVE-1", "CVE-2"]
    assert "CVE-1 (x 7.8, exploited), CVE-2 (x 8.8, EPSS 0.20)" in score.explanation


def test_worked_example_fifty_low_vulnerabilities() -> None:
    lows = [sev(f"CVE-{i}", 3.9, epss=0.01) for i in range(50)]
    score = exposure_of(*lows)
    assert score.exact == pytest.approx(37.939, abs=1e-3)
    assert (score.score, score.band, score.vulnerabilities) == (38, ExposureBand.MEDIUM, 50)
    assert len(score.top) == 5
    many = exposure_of(*(sev(f"CVE-{i}", 3.9, epss=0.01) for i in range(2000)))
    assert many.score == 38


def test_no_findings_is_zero_low() -> None:
    score = exposure_score([], {})
    assert (score.score, score.band, score.exact, score.top) == (0, ExposureBand.LOW, 0.0, ())


def finding(vuln_id: str, *cves: str, product: Product = Product.IOS) -> VulnFinding:
    return VulnFinding(
        vuln_id, cves, product, "", "", "17.4", VersionRange(end="17.4.1"), VulnSource.NVD
    )


def test_findings_count_each_cve_once_and_unknown_ones_count() -> None:
    severities = {"CVE-1": sev("CVE-1", 7.8, exploited=True)}
    findings = [
        finding("CVE-1", "CVE-1"),
        finding("GHSA-1", "CVE-1"),  # the same CVE from another feed
        finding("ASB-A-9"),  # no CVE, no severity: base 5.0, EPSS unknown
    ]
    score = exposure_score(findings, severities)
    assert score.vulnerabilities == 2
    unknown = 1 - 0.9 * 0.5 * 0.25 * 0.85
    assert score.exact == pytest.approx(100 * (1 - 0.298 * unknown))
    assert [c.vuln_id for c in score.top] == ["CVE-1", "ASB-A-9"]
    assert score.top[1].severity == "Unknown"


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (0, ExposureBand.LOW),
        (29, ExposureBand.LOW),
        (30, ExposureBand.MEDIUM),
        (69, ExposureBand.MEDIUM),
        (70, ExposureBand.HIGH),
        (100, ExposureBand.HIGH),
    ],
)
def test_band_boundaries(score: int, band: ExposureBand) -> None:
    assert exposure_band(score) is band


def test_rounding_at_the_band_boundaries() -> None:
    # base 3.3 exploited: exact 29.7 -> 30, medium; base 3.2: 28.8 -> 29, low.
    assert exposure_of(sev("a", 3.3, exploited=True)).score == 30
    assert exposure_of(sev("a", 3.3, exploited=True)).band is ExposureBand.MEDIUM
    assert exposure_of(sev("a", 3.2, exploited=True)).band is ExposureBand.LOW
    # 7.7 exploited: 69.3 -> 69, medium; 7.8: 70.2 -> 70, high.
    assert exposure_of(sev("a", 7.7, exploited=True)).score == 69
    assert exposure_of(sev("a", 7.7, exploited=True)).band is ExposureBand.MEDIUM


SEVERITY = st.builds(
    lambda base, exploited, epss: (base, exploited, epss),
    st.floats(0, 10, allow_nan=False),
    st.booleans(),
    st.none() | st.floats(0, 1, allow_nan=False),
)


def _severities(items: list[tuple[float, bool, float | None]]) -> list[VulnSeverity]:
    return [sev(f"CVE-{i}", b, e, p) for i, (b, e, p) in enumerate(items)]


@given(st.lists(SEVERITY, max_size=40), SEVERITY)
def test_an_extra_vulnerability_never_lowers_the_score(
    items: list[tuple[float, bool, float | None]], extra: tuple[float, bool, float | None]
) -> None:
    before = exposure_of(*_severities(items))
    after = exposure_of(*_severities([*items, extra]))
    assert 0.0 <= before.exact <= after.exact <= 100.0
    assert 0 <= before.score <= after.score <= 100


@given(st.lists(SEVERITY, min_size=1, max_size=30), st.data())
def test_a_worse_vulnerability_never_lowers_the_score(
    items: list[tuple[float, bool, float | None]], data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(items) - 1))
    base, exploited, epss = items[position]
    worse = (
        data.draw(st.floats(base, 10, allow_nan=False)),
        exploited or data.draw(st.booleans()),
        epss if epss is None else data.draw(st.floats(epss, 1, allow_nan=False)),
    )
    changed = [*items[:position], worse, *items[position + 1 :]]
    assert exposure_of(*_severities(items)).exact <= exposure_of(*_severities(changed)).exact


@given(st.lists(SEVERITY, max_size=60))
def test_scores_stay_in_bounds_and_one_vulnerability_never_reaches_100(
    items: list[tuple[float, bool, float | None]],
) -> None:
    score = exposure_of(*_severities(items))
    assert 0 <= score.score <= 100
    assert score.band is exposure_band(score.score)
    if len(items) <= 1:
        assert score.score <= 90


@given(
    st.lists(
        st.tuples(
            st.floats(0, 3.9, allow_nan=False),
            st.none() | st.floats(0, 0.4999, allow_nan=False),
        ),
        max_size=300,
    )
)
def test_low_findings_alone_never_reach_high(items: list[tuple[float, float | None]]) -> None:
    score = exposure_of(*_severities([(base, False, epss) for base, epss in items]))
    assert score.band is not ExposureBand.HIGH


# --- the organisation ------------------------------------------------------------------------


def device(score: int) -> ExposureScore:
    return ExposureScore(score, exposure_band(score), float(score))


def test_empty_fleet_is_zero_low() -> None:
    fleet = organisation_exposure([])
    assert (fleet.score, fleet.band, fleet.devices) == (0, ExposureBand.LOW, 0)


def test_organisation_worked_example() -> None:
    fleet = organisation_exposure([device(s) for s in (0, 80, 10, 20)])
    assert (fleet.exact, fleet.score, fleet.band, fleet.devices) == (53.75, 54, "medium", 4)
    assert fleet.explanation == "4 devices: 0.5 × mean 27.5 + 0.5 × 90th percentile 80 = 54"


def test_organisation_of_ten_devices_uses_the_ninth() -> None:
    fleet = organisation_exposure([device(s) for s in (0, 0, 0, 0, 0, 0, 0, 0, 60, 100)])
    # mean 16, 90th percentile: the 9th smallest of 10 = 60
    assert (fleet.exact, fleet.score) == (38.0, 38)


def test_one_device_is_the_organisation() -> None:
    assert organisation_exposure([device(73)]).score == 73


@given(st.lists(st.integers(0, 100), min_size=1, max_size=50), st.data())
def test_organisation_is_monotone_in_each_device(scores: list[int], data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(scores) - 1))
    raised = list(scores)
    raised[position] = data.draw(st.integers(scores[position], 100))
    before = organisation_exposure([device(s) for s in scores])
    after = organisation_exposure([device(s) for s in raised])
    assert 0 <= before.score <= after.score <= 100
    assert min(scores) <= before.exact <= max(scores)
