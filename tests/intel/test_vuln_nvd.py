"""NVD CVE API 2.0 parser: every real cve object, "runs on" configurations, CPE edge cases,
bad input and property tests."""

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
from openmtd.domain.vulns import Affected, ImportProblem, Product, VersionRange, VulnSource
from openmtd.intel.vuln_feeds import parse_nvd
from openmtd.intel.vuln_feeds.nvd import split_cpe

NVD = SHARED / "data" / "cve-records" / "nvd-api-2.0"
IOS, IPADOS, APP = Product.IOS, Product.IPADOS, Product.APP


def _load(cve: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((NVD / f"{cve}.json").read_text())
    return data


def _parse(value: object) -> Any:
    return parse_nvd(json.dumps(value).encode())


def test_multi_range_cve_2023_32434() -> None:
    """Nine cpeMatch ranges: iPadOS and iOS twice each, macOS three times, watchOS twice."""
    result = parse_nvd((NVD / "CVE-2023-32434.json").read_bytes())
    assert result.problems == ()
    assert result.skipped == (("other product", 5),)
    (record,) = result.records
    ranges = (
        VersionRange(None, True, "15.7.7", False),
        VersionRange("16.0", True, "16.5.1", False),
    )
    assert record.affected == (Affected(IPADOS, ranges), Affected(IOS, ranges))
    assert record.id == "CVE-2023-32434"
    assert record.source is VulnSource.NVD
    assert record.published == date(2023, 6, 23)
    assert record.modified == "2025-01-23T16:53:39.523"
    assert record.cvss == ("CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",)
    assert record.severity == "High"
    assert record.exploited  # cisaExploitAdd 2023-06-23
    assert record.summary.startswith("An integer overflow was addressed")


# (IOS ranges, IPADOS ranges, skipped), read from each file's cpeMatch list
EXPECTED: dict[str, tuple[Any, Any, dict[str, int]]] = {
    "CVE-2023-41061": ([(None, "16.6.1")], [(None, "16.6.1")], {"other product": 1}),
    "CVE-2023-41064": (
        [(None, "15.7.9"), ("16.0", "16.6.1")],
        [(None, "15.7.9"), ("16.0", "16.6.1")],
        {"other product": 3},
    ),
    "CVE-2023-42824": ([(None, "16.7.1")], [(None, "16.7.1")], {}),
    "CVE-2025-24200": ([(None, "18.3.1")], [(None, "17.7.5"), ("18.0", "18.3.1")], {}),
    "CVE-2025-43300": (
        [(None, "15.8.5"), ("16.0", "16.7.12")],
        [(None, "15.8.5"), ("16.0", "16.7.12")],
        {},
    ),
    "CVE-2023-35674": ([], [], {"android without patch level": 4}),
    "CVE-2024-43093": ([], [], {"android without patch level": 5}),
    "CVE-2024-32896": ([], [], {"no version": 1}),  # cpe:2.3:o:google:android:-
    "CVE-2024-0044": ([], [], {"no configurations": 1}),
}


@pytest.mark.parametrize("cve", sorted(EXPECTED))
def test_real_records(cve: str) -> None:
    ios, ipados, skipped = EXPECTED[cve]
    result = parse_nvd((NVD / f"{cve}.json").read_bytes())
    assert result.problems == ()
    assert dict(result.skipped) == skipped
    (record,) = result.records
    found = {a.product: [(r.start, r.end) for r in a.ranges] for a in record.affected}
    assert found.get(IOS, []) == ios
    assert found.get(IPADOS, []) == ipados
    assert all(not r.end_inclusive for a in record.affected for r in a.ranges)


def test_unanalysed_record_is_kept() -> None:
    (record,) = parse_nvd((NVD / "CVE-2024-0044.json").read_bytes()).records
    assert record.affected == ()
    assert record.cvss == () and not record.exploited
    assert record.summary.startswith("In createSessionInternal of PackageInstallerService.java")


def test_secondary_metrics_follow_primary() -> None:
    (record,) = parse_nvd((NVD / "CVE-2024-32896.json").read_bytes()).records
    assert record.cvss == (
        "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H",
    )


def test_every_real_file_in_one_api_answer() -> None:
    answer = {
        "resultsPerPage": 10,
        "format": "NVD_CVE",
        "version": "2.0",
        "vulnerabilities": [{"cve": _load(p.stem)} for p in sorted(NVD.glob("*.json"))],
    }
    result = _parse(answer)
    assert len(result.records) == 10
    assert result.problems == ()
    assert dict(result.skipped) == {
        "android without patch level": 9,
        "no configurations": 1,
        "no version": 1,
        "other product": 9,  # macOS and watchOS: 5 + 1 + 3
    }


def _with_configurations(configurations: list[Any]) -> dict[str, Any]:
    cve = _load("CVE-2023-42824")
    cve["configurations"] = configurations
    return cve


def _match(criteria: str, vulnerable: bool = True, **bounds: str) -> dict[str, Any]:
    return {"vulnerable": vulnerable, "criteria": criteria, "matchCriteriaId": "X", **bounds}


def test_runs_on_configuration() -> None:
    app = "cpe:2.3:a:example:messenger:*:*:*:*:*:iphone_os:*:*"
    cve = _with_configurations(
        [
            {
                "operator": "AND",
                "nodes": [
                    {
                        "operator": "OR",
                        "negate": False,
                        "cpeMatch": [
                            _match(app, versionStartExcluding="2.0", versionEndIncluding="2.4.1")
                        ],
                    },
                    {
                        "operator": "OR",
                        "negate": False,
                        "cpeMatch": [_match("cpe:2.3:o:apple:iphone_os:-:*:*:*:*:*:*:*", False)],
                    },
                ],
            }
        ]
    )
    result = _parse(cve)
    assert result.records[0].affected == (
        Affected(
            APP,
            (VersionRange("2.0", False, "2.4.1", True),),
            package="cpe:2.3:a:example:messenger",
        ),
    )
    assert result.skipped == ()  # the platform is no range and no skip


def test_cpe_edge_cases() -> None:
    cve = _with_configurations(
        [
            {
                "nodes": [
                    {
                        "operator": "OR",
                        "negate": False,
                        "cpeMatch": [
                            _match("cpe:2.3:o:apple:iphone_os:17.0:*:*:*:*:*:*:*"),
                            _match("cpe:2.3:o:apple:iphone_os:17.1:beta2:*:*:*:*:*:*"),
                            _match("cpe:2.3:a:example:lib\\:core:*:*:*:*:*:*:*:*"),
                            _match("cpe:2.3:h:apple:iphone_15:-:*:*:*:*:*:*:*"),
                            _match("cpe:2.3:a:example:tool:-:*:*:*:*:*:*:*"),
                        ],
                    },
                    {
                        "operator": "OR",
                        "negate": True,
                        "cpeMatch": [_match("cpe:2.3:o:apple:ipados:17.0:*:*:*:*:*:*:*")],
                    },
                ]
            }
        ]
    )
    result = _parse(cve)
    assert result.problems == ()
    assert result.records[0].affected == (
        Affected(IOS, (VersionRange.exactly("17.0"),)),
        Affected(APP, (VersionRange(),), package="cpe:2.3:a:example:lib\\:core"),
    )
    assert dict(result.skipped) == {
        "pre-release version": 1,
        "other product": 1,
        "no version": 1,
        "negated node": 1,
    }


def test_split_cpe() -> None:
    assert split_cpe("cpe:2.3:a:x:a\\:b:1") == ["cpe", "2.3", "a", "x", "a\\:b", "1"]


@pytest.mark.parametrize(
    ("mutate", "label", "reason"),
    [
        (lambda c: c.pop("id"), "#0", "id is null, not a string"),
        (lambda c: c.update(id="CVE-23-1"), "#0", "id 'CVE-23-1' is not a CVE id"),
        (
            lambda c: c["configurations"][0]["nodes"][0]["cpeMatch"][0].update(criteria="cpe:/o:x"),
            "CVE-2023-42824",
            "configurations[0].nodes[0].cpeMatch[0].criteria 'cpe:/o:x' is not a CPE 2.3 name",
        ),
        (
            lambda c: c["configurations"][0]["nodes"][0]["cpeMatch"][0].update(vulnerable="yes"),
            "CVE-2023-42824",
            "configurations[0].nodes[0].cpeMatch[0].vulnerable is a string, not a boolean",
        ),
        (
            lambda c: c["configurations"][0]["nodes"][0]["cpeMatch"][0].update(
                versionEndIncluding="16.7"
            ),
            "CVE-2023-42824",
            "configurations[0].nodes[0].cpeMatch[0] has both versionEndIncluding and "
            "versionEndExcluding",
        ),
        (
            lambda c: c.update(metrics={"cvssMetricV31": [{"cvssData": 3}]}),
            "CVE-2023-42824",
            "metrics.cvssMetricV31[0].cvssData is a number, not an object",
        ),
        (
            lambda c: c.update(published="2023-13-45T00:00:00"),
            "CVE-2023-42824",
            "published '2023-13-45T00:00:00' is not an ISO 8601 date",
        ),
    ],
)
def test_malformed_records(mutate: Any, label: str, reason: str) -> None:
    cve = _load("CVE-2023-42824")
    mutate(cve)
    result = _parse({"vulnerabilities": [{"cve": cve}, {"cve": _load("CVE-2025-24200")}]})
    assert [r.id for r in result.records] == ["CVE-2025-24200"]
    assert result.problems == (ImportProblem(label, reason),)


def test_rejected_record() -> None:
    cve = _load("CVE-2024-0044")
    cve["vulnStatus"] = "Rejected"
    result = _parse([cve])
    assert result.records == () and result.skipped == (("rejected", 1),)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"null", "expected an NVD API answer or cve object, found null"),
        (b'{"vulnerabilities": {}}', '"vulnerabilities" is an object, not an array'),
        (b"[1,", "not JSON"),
    ],
)
def test_bad_documents(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        parse_nvd(data)


def test_truncated_file() -> None:
    data = (NVD / "CVE-2023-32434.json").read_bytes()
    with pytest.raises(ValueError, match="^not JSON"):
        parse_nvd(data[:3000])


def test_huge_description_is_cut() -> None:
    cve = _load("CVE-2023-42824")
    cve["descriptions"][0]["value"] = "z" * 500_000
    assert len(_parse(cve).records[0].summary) == 4_000


# --- properties ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
REAL = [_load(p.stem) for p in sorted(NVD.glob("*.json"))]


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
    cve = copy.deepcopy(data.draw(st.sampled_from(REAL)))
    path = data.draw(st.sampled_from(_paths(cve)[1:]))
    target = cve
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = data.draw(JSON)
    result = _parse({"vulnerabilities": [{"cve": cve}]})
    assert len(result.records) + len(result.problems) + len(result.skipped) >= 1


@settings(deadline=None)
@given(st.lists(JSON, max_size=5))
def test_random_records_never_raise(items: list[Any]) -> None:
    _parse({"vulnerabilities": items})


@settings(deadline=None)
@given(JSON)
def test_random_documents_raise_only_value_error(document: Any) -> None:
    with contextlib.suppress(ValueError):
        _parse(document)
