"""CVE JSON 5 parser: every real record (Apple's train-only lessThan made precise from the text,
cross-checked against SOFA and NVD), Google's Android records, bad input, property tests."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from openmtd.domain.vulns import Affected, ImportProblem, Product, VersionRange, VulnRecord
from openmtd.intel.vuln_feeds import parse_cve5, parse_nvd, parse_sofa

CVE5 = SHARED / "data" / "cve-records" / "cve5"
NVD = SHARED / "data" / "cve-records" / "nvd-api-2.0"
SOFA_V2 = SHARED / "data" / "sofa" / "v2_ios_data_feed.json"
IOS, IPADOS, ANDROID = Product.IOS, Product.IPADOS, Product.ANDROID


def _load(cve: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CVE5 / f"{cve}.json").read_text())
    return data


def _one(cve: str) -> tuple[VulnRecord, dict[str, int]]:
    result = parse_cve5((CVE5 / f"{cve}.json").read_bytes())
    assert result.problems == ()
    assert len(result.records) == 1
    return result.records[0], dict(result.skipped)


def _ranges(record: VulnRecord) -> dict[Product, tuple[tuple[str | None, str | None], ...]]:
    found = {}
    for affected in record.affected:
        assert all(not r.end_inclusive and r.start_inclusive for r in affected.ranges)
        found[affected.product] = tuple((r.start, r.end) for r in affected.ranges)
    return found


# Read independently from each record's description ("This issue is fixed in …") and its
# lessThan values: the exclusive ends, per product, oldest train first.
EXPECTED_APPLE = {
    "CVE-2023-32434": (
        {
            IOS: ((None, "15.7.7"), ("16.0", "16.5.1")),
            IPADOS: ((None, "15.7.7"), ("16.0", "16.5.1")),
        },
        {"other product": 5},  # macOS x3, watchOS x2
    ),
    "CVE-2023-32435": (
        {IOS: ((None, "15.7.7"), ("16.0", "16.4")), IPADOS: ((None, "15.7.7"), ("16.0", "16.4"))},
        {"other product": 2},  # macOS, Safari
    ),
    "CVE-2023-38606": (
        {IOS: ((None, "15.7.8"), ("16.0", "16.6")), IPADOS: ((None, "15.7.8"), ("16.0", "16.6"))},
        {"other product": 5},
    ),
    "CVE-2023-41061": (
        {IOS: ((None, "16.6.1"),), IPADOS: ((None, "16.6.1"),)},
        {"other product": 1},
    ),
    "CVE-2023-41990": (
        {IOS: ((None, "15.7.8"), ("16.0", "16.3")), IPADOS: ((None, "15.7.8"), ("16.0", "16.3"))},
        {"other product": 5},
    ),
    "CVE-2023-42824": ({IOS: ((None, "16.7.1"),), IPADOS: ((None, "16.7.1"),)}, {}),
    "CVE-2025-24200": (
        {IOS: ((None, "18.3.1"),), IPADOS: ((None, "17.7.5"), ("18.0", "18.3.1"))},
        {},
    ),
    "CVE-2025-43300": (
        {IOS: ((None, "18.6.2"),), IPADOS: ((None, "17.7.10"), ("18.0", "18.6.2"))},
        {"other product": 3},
    ),
}


@pytest.mark.parametrize("cve", sorted(EXPECTED_APPLE))
def test_real_apple_records(cve: str) -> None:
    record, skipped = _one(cve)
    ranges, other = EXPECTED_APPLE[cve]
    assert _ranges(record) == ranges
    assert skipped == other
    assert record.id == cve
    assert record.exploited  # "Apple is aware of a report that this issue may have been exploited"
    assert record.summary.startswith(
        _load(cve)["containers"]["cna"]["descriptions"][0]["value"][:40]
    )


def test_lessthan_is_only_the_train() -> None:
    """The record says lessThan 16.7; read literally, 16.7.0 would be safe. It is not: the fix
    is 16.7.1, and both the description and NVD say so."""
    raw = _load("CVE-2023-42824")["containers"]["cna"]["affected"][0]["versions"][0]
    assert raw == {
        "version": "unspecified",
        "status": "affected",
        "lessThan": "16.7",
        "versionType": "custom",
    }
    record, _ = _one("CVE-2023-42824")
    assert record.affected[0].ranges == (VersionRange(None, True, "16.7.1", False),)


@pytest.mark.parametrize(
    "cve", ["CVE-2023-32434", "CVE-2023-41061", "CVE-2023-42824", "CVE-2025-24200"]
)
def test_apple_ranges_agree_with_nvd(cve: str) -> None:
    """NVD's analysts wrote the same ranges from Apple's advisories."""
    ours = {a.product: set(a.ranges) for a in _one(cve)[0].affected}
    nvd = parse_nvd((NVD / f"{cve}.json").read_bytes()).records[0]
    assert ours == {a.product: set(a.ranges) for a in nvd.affected}


@pytest.mark.parametrize(("cve", "train"), [("CVE-2025-24200", 18), ("CVE-2025-43300", 18)])
def test_apple_fixed_versions_are_the_sofa_releases(cve: str, train: int) -> None:
    """SOFA lists the release that fixed each CVE; the text-derived ends are those releases."""
    sofa = {r.id: r for r in parse_sofa(SOFA_V2.read_bytes()).records}[cve]
    ours = _one(cve)[0]
    for product in (IOS, IPADOS):
        sofa_end = {r.start: r.end for a in sofa.affected if a.product is product for r in a.ranges}
        our_ends = {r.end for a in ours.affected if a.product is product for r in a.ranges}
        assert sofa_end[f"{train}.0"] in our_ends


def test_cisa_adp_metrics() -> None:
    record, _ = _one("CVE-2023-32435")
    assert record.cvss == ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",)
    assert record.published == date(2023, 6, 23)
    assert record.modified == "2025-07-28T19:44:13.391Z"
    assert record.severity == ""  # Apple's CNA container has no metrics
    # CVE-2023-32434 is dataVersion 5.0 without any ADP container
    old, _ = _one("CVE-2023-32434")
    assert old.cvss == ()
    assert len(old.references) == 8


def test_real_android_records() -> None:
    record, skipped = _one("CVE-2024-43093")
    assert skipped == {}
    assert record.exploited  # CISA-ADP "kev" entry
    assert record.affected == (
        Affected(
            ANDROID,
            tuple(
                VersionRange(f"{major}:0", True, f"{major}:2025-03-01", False)
                for major in ("15", "14", "13", "12L", "12")
            ),
            component="platform/frameworks/base",
        ),
    )
    record, _ = _one("CVE-2023-35674")
    assert record.affected[0].ranges == tuple(
        VersionRange(f"{major}:0", True, f"{major}:2023-09-01", False)
        for major in ("13", "12L", "12", "11")
    )


def test_android_without_bulletin_is_skipped() -> None:
    data = _load("CVE-2023-35674")
    data["containers"]["cna"]["references"] = [
        {"url": "https://source.android.com/docs/security/bulletin/pixel/2023-09-01"}
    ]
    del data["containers"]["adp"]  # the CVE Program container repeats the bulletin link
    result = parse_cve5(json.dumps(data).encode())
    assert result.records[0].affected == ()
    assert dict(result.skipped) == {"android without patch level": 4}


def test_android_kernel_version_and_latest_bulletin() -> None:
    data = _load("CVE-2023-35674")
    cna = data["containers"]["cna"]
    cna["affected"][0]["versions"] = [
        {"version": "Android kernel", "status": "affected"},
        {"version": "14", "status": "affected"},
        {"version": "13", "status": "unaffected"},
    ]
    cna["references"].append({"url": "https://source.android.com/security/bulletin/2023-11-01#x"})
    result = parse_cve5(json.dumps(data).encode())
    assert result.records[0].affected[0].ranges == (
        VersionRange("14:0", True, "14:2023-11-01", False),
    )
    assert dict(result.skipped) == {"kernel": 1, "unaffected": 1}


def test_lessthan_without_text_is_kept_literally_and_exact_versions() -> None:
    data = _load("CVE-2023-42824")
    cna = data["containers"]["cna"]
    cna["descriptions"][0]["value"] = "An issue."
    cna["affected"].append(
        {
            "vendor": "Apple",
            "product": "iOS",
            "versions": [
                {"version": "17.0", "status": "affected", "lessThanOrEqual": "17.0.2"},
                {"version": "15.1", "status": "affected"},
            ],
        }
    )
    record = parse_cve5(json.dumps(data).encode()).records[0]
    assert record.exploited  # CISA-ADP's KEV entry still says so
    del data["containers"]["adp"]
    assert not parse_cve5(json.dumps(data).encode()).records[0].exploited
    ios = next(a for a in record.affected if a.product is IOS)
    assert ios.ranges == (
        VersionRange.exactly("15.1"),
        VersionRange("16.0", True, "16.7", False),  # not the lowest branch: starts at its train
        VersionRange("17.0", True, "17.0.2", True),
    )


def test_apple_entry_without_versions() -> None:
    data = _load("CVE-2023-42824")
    data["containers"]["cna"]["affected"].append(
        {"vendor": "Apple", "product": "iPadOS", "defaultStatus": "affected"}
    )
    result = parse_cve5(json.dumps(data).encode())
    assert result.skipped == (("no version bound", 1),)
    assert len(result.records[0].affected) == 2


def test_array_of_records_and_rejected() -> None:
    rejected = {
        "dataType": "CVE_RECORD",
        "cveMetadata": {"cveId": "CVE-2099-10001", "state": "REJECTED"},
    }
    data = json.dumps([_load("CVE-2023-42824"), rejected, _load("CVE-2024-43093")]).encode()
    result = parse_cve5(data)
    assert [r.id for r in result.records] == ["CVE-2023-42824", "CVE-2024-43093"]
    assert result.skipped == (("rejected", 1),)


@pytest.mark.parametrize(
    ("mutate", "label", "reason"),
    [
        (lambda d: d["cveMetadata"].pop("cveId"), "#0", "cveMetadata.cveId is null, not a string"),
        (
            lambda d: d["cveMetadata"].update(cveId="GHSA-1"),
            "#0",
            "cveMetadata.cveId 'GHSA-1' is not a CVE id",
        ),
        (
            lambda d: d.update(containers=[]),
            "CVE-2023-42824",
            "containers is an array, not an object",
        ),
        (
            lambda d: d["containers"]["cna"]["affected"][0]["versions"][0].update(lessThan="16.x"),
            "CVE-2023-42824",
            "containers.cna.affected[0].versions[0]: '16.x' is not an iOS version",
        ),
        (
            lambda d: d["cveMetadata"].update(datePublished="soon"),
            "CVE-2023-42824",
            "cveMetadata.datePublished 'soon' is not an ISO 8601 date",
        ),
        (
            lambda d: d.update(dataType="CVE_LIST"),
            "CVE-2023-42824",
            "dataType 'CVE_LIST' is not CVE_RECORD",
        ),
    ],
)
def test_malformed_records(mutate: Any, label: str, reason: str) -> None:
    data = _load("CVE-2023-42824")
    mutate(data)
    result = parse_cve5(json.dumps([data, _load("CVE-2024-43093")]).encode())
    assert [r.id for r in result.records] == ["CVE-2024-43093"]
    assert result.problems == (ImportProblem(label, reason),)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"7", "expected a CVE record or an array of records, found a number"), (b"{", "not JSON")],
)
def test_bad_documents(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        parse_cve5(data)


def test_truncated_record() -> None:
    data = (CVE5 / "CVE-2025-43300.json").read_bytes()
    with pytest.raises(ValueError, match="^not JSON"):
        parse_cve5(data[:-10])


def test_huge_description_is_cut() -> None:
    data = _load("CVE-2023-42824")
    text = "This issue is fixed in iOS 16.7.1 and iPadOS 16.7.1. " + "y" * 1_000_000
    data["containers"]["cna"]["descriptions"][0]["value"] = text
    record = parse_cve5(json.dumps(data).encode()).records[0]
    assert len(record.summary) == 4_000
    assert record.affected[0].ranges[0].end == "16.7.1"


# --- properties ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
REAL = [_load(p.stem) for p in sorted(CVE5.glob("*.json"))]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@settings(deadline=None)
@given(st.data())
def test_mutated_real_records_never_raise(data: st.DataObject) -> None:
    record = copy.deepcopy(data.draw(st.sampled_from(REAL)))
    path = data.draw(st.sampled_from(_paths(record)[1:]))
    target = record
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = data.draw(JSON)
    result = parse_cve5(json.dumps([record]).encode())
    assert len(result.records) + len(result.problems) + len(result.skipped) >= 1


@settings(deadline=None)
@given(st.lists(JSON, max_size=5))
def test_random_records_never_raise(items: list[Any]) -> None:
    parse_cve5(json.dumps(items).encode())


@settings(deadline=None)
@given(JSON)
def test_random_documents_raise_only_value_error(document: Any) -> None:
    with contextlib.suppress(ValueError):
        parse_cve5(json.dumps(document).encode())
