"""OSV parser: the real Android Security Bulletin records, the hand-written ones (every major
shape, kernel and SoC entries), other ecosystems, bad input, and property tests."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from openmtd.domain.vulns import (
    Affected,
    ImportProblem,
    Product,
    VersionRange,
    VulnRecord,
    VulnSource,
)
from openmtd.intel.vuln_feeds import _common, parse_osv
from openmtd.intel.vuln_feeds._common import MAX_INPUT_BYTES, MAX_RANGES_PER_RECORD

OSV_ANDROID = SHARED / "data" / "osv-android"
FIXTURES = Path(__file__).parent / "fixtures" / "vulns"


def _bytes(value: object) -> bytes:
    return json.dumps(value).encode()


def _by_id(records: tuple[VulnRecord, ...]) -> dict[str, VulnRecord]:
    return {r.id: r for r in records}


def _platform(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "ASB-A-1",
        "modified": "2024-01-02T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Android", "name": "platform/frameworks/base"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "14:0"}, {"fixed": "14:2024-01-01"}],
                    }
                ],
            }
        ],
    }
    record.update(changes)
    return record


# --- the real records -------------------------------------------------------------------------


def test_real_platform_record() -> None:
    result = parse_osv((OSV_ANDROID / "vanir_test_vulnerabilities_platform.json").read_bytes())
    assert result.problems == ()
    assert result.skipped == ()
    assert result.records == (
        VulnRecord(
            id="ASB-A-202768292",
            source=VulnSource.OSV,
            aliases=("CVE-2021-39630",),
            summary="[Security Issue] Inconsistent Root Permission Check for Fabricated Overlays",
            published=date(2022, 1, 1),
            modified="2023-04-12T18:19:27Z",
            severity="High",
            affected=(
                Affected(
                    Product.ANDROID,
                    (VersionRange("12:0", True, "12:2022-01-01", False),),
                    component="platform/frameworks/base",
                ),
            ),
            references=(
                "https://source.android.com/security/bulletin/2022-01-01",
                "https://android.googlesource.com/platform/frameworks/base/+/"
                "b2dc041a4e84986e3a6932b127d3a18ef02b6d0a",
            ),
        ),
    )
    assert result.records[0].cve_ids == ("CVE-2021-39630",)


def test_real_kernel_records_are_skipped_and_counted() -> None:
    """Three kernel records: two ":linux_kernel:", one "kernel/common"; all ":0" ranges."""
    result = parse_osv((OSV_ANDROID / "vanir_test_vulnerabilities_kernel.json").read_bytes())
    assert result.records == ()
    assert result.problems == ()
    assert dict(result.skipped) == {"kernel": 3, "record with nothing to match": 3}


# --- the hand-written bulletin records ---------------------------------------------------------


@pytest.fixture(scope="module")
def handwritten() -> Any:
    return parse_osv((FIXTURES / "asb_handwritten.json").read_bytes())


def test_handwritten_counts(handwritten: Any) -> None:
    assert handwritten.problems == ()
    assert sorted(r.id for r in handwritten.records) == [
        "ASB-A-900000001",
        "ASB-A-900000002",
        "ASB-A-900000003",
        "ASB-A-900000004",
        "ASB-A-900000008",
        "ASB-A-900000013",
        "ASB-A-900000014",
        "ASB-A-900000015",
    ]
    assert dict(handwritten.skipped) == {
        "kernel": 2,  # 900000005 (:linux_kernel:) and 900000008's kernel/common entry
        "soc": 5,  # Qualcomm, MediaTek, Arm, Imagination, Unisoc
        "record with nothing to match": 6,
        "withdrawn": 1,
    }


def test_handwritten_several_majors_in_one_range(handwritten: Any) -> None:
    record = _by_id(handwritten.records)["ASB-A-900000001"]
    assert record.affected == (
        Affected(
            Product.ANDROID,
            tuple(
                VersionRange(f"{m}:0", True, f"{m}:2024-03-01", False)
                for m in ("12", "12L", "13", "14")
            ),
            component="platform/frameworks/base",
        ),
    )
    assert record.severity == "High"
    assert record.published == date(2024, 3, 1)
    assert record.summary == "Permission bypass in ActivityManagerService"


def test_handwritten_one_range_per_major_and_cvss(handwritten: Any) -> None:
    record = _by_id(handwritten.records)["ASB-A-900000002"]
    assert record.affected[0].ranges == (
        VersionRange("14:0", True, "14:2025-01-01", False),
        VersionRange("15:0", True, "15:2025-01-01", False),
    )
    assert record.severity == "Critical"
    assert record.cvss == ("CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",)


def test_handwritten_version_suffixes_are_kept(handwritten: Any) -> None:
    records = _by_id(handwritten.records)
    assert records["ASB-A-900000003"].affected[0].ranges == (
        VersionRange("15:0", True, "15:2025-06-01", False),
        VersionRange("15-next:0", True, "15-next:2025-06-01", False),
    )
    assert records["ASB-A-900000004"].affected[0].ranges == (
        VersionRange("16:0", True, "16:2026-06-01", False),
        VersionRange("16-qpr2:0", True, "16-qpr2:2026-06-01", False),
    )
    assert records["ASB-A-900000014"].affected[0].ranges == (
        VersionRange("12L:0", True, "12L:2022-05-01", False),
    )


def test_handwritten_platform_entry_survives_its_kernel_sibling(handwritten: Any) -> None:
    record = _by_id(handwritten.records)["ASB-A-900000008"]
    assert record.aliases == ("CVE-2099-10008", "CVE-2099-10009")
    assert record.affected == (
        Affected(
            Product.ANDROID,
            (
                VersionRange("13:0", True, "13:2024-09-01", False),
                VersionRange("14:0", True, "14:2024-09-01", False),
            ),
            component="platform/system/core",
        ),
    )


def test_handwritten_two_components_and_last_affected(handwritten: Any) -> None:
    records = _by_id(handwritten.records)
    assert [a.component for a in records["ASB-A-900000013"].affected] == [
        "platform/frameworks/av",
        "platform/external/libavc",
    ]
    assert records["ASB-A-900000013"].severity == "Critical"
    assert records["ASB-A-900000015"].affected[0].ranges == (
        VersionRange("13:0", True, "13:2023-07-05", True),
    )


# --- other ecosystems -------------------------------------------------------------------------


def test_app_ecosystems() -> None:
    result = parse_osv((FIXTURES / "osv_apps_handwritten.json").read_bytes())
    assert result.problems == ()
    assert dict(result.skipped) == {"git range": 1, "record with nothing to match": 1}
    records = _by_id(result.records)
    assert set(records) == {"GHSA-xxxx-9001-okhttp", "GHSA-xxxx-9002-npm", "PYSEC-2099-3"}
    maven = records["GHSA-xxxx-9001-okhttp"]
    assert maven.affected == (
        Affected(
            Product.APP,
            (
                VersionRange(None, True, "3.14.2", False),
                VersionRange("4.0.0", True, "4.9.1", False),
            ),
            package="Maven:com.example.http:client",
            component="pkg:maven/com.example.http/client",
        ),
    )
    assert maven.severity == "MODERATE"
    assert maven.cvss[0].startswith("CVSS:4.0/") and maven.cvss[1].startswith("CVSS:3.1/")
    npm = records["GHSA-xxxx-9002-npm"]
    assert npm.affected[0].package == "npm:@example/rn-helper"
    assert npm.affected[0].ranges == (
        VersionRange("1.2.0", True, "1.4.7", True),
        VersionRange("2.0.0", True, None, False),
    )
    # GIT ranges hold commits; the listed versions are used instead
    assert records["PYSEC-2099-3"].affected[0].ranges == (
        VersionRange.exactly("0.9"),
        VersionRange.exactly("1.0"),
    )


def test_api_answer_and_single_record() -> None:
    answer = parse_osv(_bytes({"vulns": [_platform(), _platform(id="ASB-A-2")]}))
    assert [r.id for r in answer.records] == ["ASB-A-1", "ASB-A-2"]
    assert parse_osv(_bytes(_platform())).records[0].id == "ASB-A-1"


def test_android_version_list_without_range() -> None:
    record = _platform()
    del record["affected"][0]["ranges"]
    record["affected"][0]["versions"] = ["14"]
    result = parse_osv(_bytes(record))
    assert result.records == ()
    assert dict(result.skipped) == {
        "android without patch level": 1,
        "record with nothing to match": 1,
    }


def test_android_full_version_in_list_is_exact() -> None:
    record = _platform()
    record["affected"][0]["versions"] = ["14", "15:2024-01-01"]
    result = parse_osv(_bytes(record))
    assert result.records[0].affected[0].ranges == (
        VersionRange("14:0", True, "14:2024-01-01", False),
        VersionRange.exactly("15:2024-01-01"),
    )
    assert result.skipped == ()


def test_android_major_listed_without_its_range_is_counted() -> None:
    record = _platform()
    record["affected"][0]["versions"] = ["14", "13"]
    result = parse_osv(_bytes(record))
    assert len(result.records) == 1
    assert result.skipped == (("android without patch level", 1),)


def test_free_form_severity_objects_are_not_errors() -> None:
    record = _platform(database_specific={"severity": {"score": 9}})
    record["affected"][0]["ecosystem_specific"] = ["High"]
    record["affected"][0]["database_specific"] = {"severity": " Low "}
    result = parse_osv(_bytes(record))
    assert result.problems == ()
    assert result.records[0].severity == "Low"


def test_empty_android_prefix_on_platform_package_is_kernel() -> None:
    record = _platform()
    record["affected"][0]["ranges"][0]["events"] = [{"introduced": ":0"}, {"fixed": ":2024-01-05"}]
    assert dict(parse_osv(_bytes(record)).skipped)["kernel"] == 1


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "id is null, not a string"),
        ({"id": ""}, "id is empty"),
        ({"id": "A" * 300}, "id has 300 characters, more than 200"),
        ({"aliases": "CVE-1"}, "aliases is a string, not an array"),
        ({"published": "yesterday"}, "published 'yesterday' is not an ISO 8601 date"),
        ({"affected": {}}, "affected is an object, not an array"),
        ({"modified": 5}, "modified is a number, not a string"),
    ],
)
def test_malformed_record_fields(change: dict[str, Any], reason: str) -> None:
    result = parse_osv(_bytes([_platform(**change), _platform(id="ASB-A-2")]))
    assert [r.id for r in result.records] == ["ASB-A-2"]
    assert len(result.problems) == 1
    assert result.problems[0].reason == reason


def test_record_missing_its_id_is_named_by_index() -> None:
    record = _platform()
    del record["id"]
    result = parse_osv(_bytes([_platform(), record, 7]))
    assert result.problems == (
        ImportProblem("#1", "no id"),
        ImportProblem("#2", "the record is a number, not an object"),
    )
    assert len(result.records) == 1


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        (
            [{"introduced": "14:0"}, {"fixed": "2024-01-01"}],
            "affected[0].ranges[0].events[1].fixed '2024-01-01' is not "
            "'<android version>:<patch level YYYY-MM-DD or 0>'",
        ),
        (
            [{"introduced": "14:0"}, {"fixed": "14:2024-02-30"}],
            "affected[0].ranges[0].events[1].fixed '14:2024-02-30': 2024-02-30 is not a date",
        ),
        (
            [{"fixed": "14:2024-01-01"}],
            "affected[0].ranges[0].events[0].fixed '14:2024-01-01' has no introduced event "
            "before it",
        ),
        (
            [{"introduced": "14:0", "fixed": "14:2024-01-01"}],
            "affected[0].ranges[0].events[0] holds several events "
            "(introduced, fixed, last_affected, limit)",
        ),
        ([], "affected[0].ranges[0].events is empty"),
        (
            [{"introduced": 14}],
            "affected[0].ranges[0].events[0].introduced is a number, not a string",
        ),
    ],
)
def test_malformed_events(events: list[Any], reason: str) -> None:
    record = _platform()
    record["affected"][0]["ranges"][0]["events"] = events
    result = parse_osv(_bytes(record))
    assert result.records == ()
    assert result.problems == (ImportProblem("ASB-A-1", reason),)


def test_unknown_range_type() -> None:
    record = _platform()
    record["affected"][0]["ranges"][0]["type"] = "SEMVER"
    reason = parse_osv(_bytes(record)).problems[0].reason
    assert reason == "affected[0].ranges[0].type 'SEMVER' is not ECOSYSTEM or GIT"


def test_too_many_ranges() -> None:
    record = _platform()
    events: list[dict[str, str]] = []
    for i in range(MAX_RANGES_PER_RECORD + 1):
        events += [{"introduced": f"{i}.0.0"}, {"fixed": f"{i}.0.1"}]
    record["affected"] = [
        {
            "package": {"ecosystem": "npm", "name": "x"},
            "ranges": [{"type": "SEMVER", "events": events}],
        }
    ]
    result = parse_osv(_bytes(record))
    assert result.problems == (
        ImportProblem("ASB-A-1", "10001 affected ranges, more than the 10000 allowed"),
    )


def test_huge_strings_are_cut_or_refused() -> None:
    long_summary = _platform(summary="x" * 100_000)
    assert len(parse_osv(_bytes(long_summary)).records[0].summary) == 4_000
    long_version = _platform()
    long_version["affected"][0]["ranges"][0]["events"][1]["fixed"] = "14:" + "1" * 200
    assert "more than 128" in parse_osv(_bytes(long_version)).problems[0].reason
    long_url = _platform(references=[{"url": "https://e.example/" + "a" * 3000}])
    assert parse_osv(_bytes(long_url)).records[0].references == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty input, expected JSON"),
        (b"[{", "not JSON"),
        (b'"text"', "expected an OSV record or an array of records, found a string"),
        (b'{"vulns": 3}', '"vulns" is a number, not an array of OSV records'),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_bad_documents_raise_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        parse_osv(data)


def test_truncated_real_file_raises_value_error() -> None:
    data = (OSV_ANDROID / "vanir_test_vulnerabilities_kernel.json").read_bytes()
    with pytest.raises(ValueError, match="^not JSON"):
        parse_osv(data[: len(data) // 2])


def test_input_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_INPUT_BYTES == 256 * 1024 * 1024
    monkeypatch.setattr(_common, "MAX_INPUT_BYTES", 1_000)
    parse_osv(b" " * 990 + b"[]")
    with pytest.raises(ValueError, match="^input of 1001 bytes, more than the 1000 allowed"):
        parse_osv(b" " * 999 + b"[]")


def test_deep_nesting_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="^not JSON"):
        parse_osv(b"[" * 100_000 + b"]" * 100_000)


# --- properties ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
REAL = json.loads((FIXTURES / "asb_handwritten.json").read_text())


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    value = copy.deepcopy(value)
    target = value
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return value


@settings(deadline=None)
@given(st.lists(JSON, max_size=5))
def test_random_records_never_raise(items: list[Any]) -> None:
    result = parse_osv(_bytes(items))
    assert len(result.records) + len(result.problems) <= len(items)


@settings(deadline=None)
@given(JSON)
def test_random_documents_raise_only_value_error(document: Any) -> None:
    with contextlib.suppress(ValueError):
        parse_osv(_bytes(document))


@settings(deadline=None)
@given(st.data())
def test_mutated_real_records_never_raise(data: st.DataObject) -> None:
    record = data.draw(st.sampled_from(REAL))
    path = data.draw(st.sampled_from(_paths(record)[1:]))
    mutated = _replace(record, path, data.draw(JSON))
    result = parse_osv(_bytes([mutated]))
    accounted = len(result.records) + len(result.problems) + sum(n for _, n in result.skipped)
    assert accounted >= 1


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_osv(data)
