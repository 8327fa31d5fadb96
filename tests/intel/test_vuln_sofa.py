"""SOFA iOS feed parser on the real v1 and v2 feeds, counts read straight from the JSON, the
merge rules, bad input and property tests."""

from __future__ import annotations

import contextlib
import copy
import json
from collections import defaultdict
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from openmtd.domain.vulns import Affected, ImportProblem, Product, VersionRange, VulnSource
from openmtd.intel.vuln_feeds import parse_sofa

SOFA = SHARED / "data" / "sofa"
FEEDS = ["v1_ios_data_feed.json", "v2_ios_data_feed.json"]


def _raw(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SOFA / name).read_text())
    return data


def _releases(feed: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for train in feed["OSVersions"] for r in train["SecurityReleases"]]


@pytest.fixture(scope="module", params=FEEDS)
def feed(request: pytest.FixtureRequest) -> tuple[str, Any]:
    name: str = request.param
    return name, parse_sofa((SOFA / name).read_bytes())


def test_counts_of_the_real_feeds() -> None:
    """The README's numbers, recounted from the JSON."""
    v1, v2 = _raw(FEEDS[0]), _raw(FEEDS[1])
    assert [t["OSVersion"] for t in v1["OSVersions"]] == ["26", "18", "17"]
    assert len(_releases(v1)) == 70 and len(_releases(v2)) == 72
    assert sum(len(r["CVEs"]) for r in _releases(v1)) == 1_560
    assert sum(len(r["CVEs"]) for r in _releases(v2)) == 1_586
    assert sum(len(r["ActivelyExploitedCVEs"]) for r in _releases(v1)) == 42
    assert sum(len(r["ActivelyExploitedCVEs"]) for r in _releases(v2)) == 41
    by_name = {r["UpdateName"]: len(r["CVEs"]) for r in _releases(v1)}
    assert by_name["iOS 18.4 and iPadOS 18.4"] == 78
    assert by_name["iOS 17 and iPadOS 17"] == 76
    assert by_name["iOS 26.6.1 and iPadOS 26.6.1"] == 29
    assert by_name["iPadOS 17.7.10"] == 1


def test_one_record_per_cve(feed: tuple[str, Any]) -> None:
    name, result = feed
    raw = _releases(_raw(name))
    unique = {c for r in raw for c in r["CVEs"]}
    assert len(unique) == 1_108
    assert sorted(r.id for r in result.records) == sorted(unique)
    assert result.problems == ()
    # CVEs listed under a "<train>.0" release: 36 (26.0) + 48 (18.0) + 76 (17.0)
    assert dict(result.skipped) == {"fixed in a train's first release": 160}
    assert all(r.source is VulnSource.SOFA and r.modified == "" for r in result.records)


def test_records_without_ranges_are_only_in_first_releases(feed: tuple[str, Any]) -> None:
    name, result = feed
    listings: dict[str, set[str]] = defaultdict(set)
    for release in _releases(_raw(name)):
        for cve in release["CVEs"]:
            listings[cve].add(release["ProductVersion"])
    only_first = {c for c, versions in listings.items() if versions <= {"26.0", "18.0", "17.0"}}
    assert len(only_first) == 128
    assert {r.id for r in result.records if not r.affected} == only_first


def test_exploited_flags(feed: tuple[str, Any]) -> None:
    name, result = feed
    exploited = set()
    for release in _releases(_raw(name)):
        exploited |= set(release["ActivelyExploitedCVEs"])
        for cve, value in release["CVEs"].items():
            if value is True or (isinstance(value, dict) and value.get("ActivelyExploited")):
                exploited.add(cve)
    assert len(exploited) == (28 if name.startswith("v1") else 27)
    assert {r.id for r in result.records if r.exploited} == exploited


def test_cve_2025_43300_fixed_in_two_trains(feed: tuple[str, Any]) -> None:
    _, result = feed
    record = next(r for r in result.records if r.id == "CVE-2025-43300")
    ranges = (
        VersionRange("17.0", True, "17.7.10", False),  # "iPadOS 17.7.10"
        VersionRange("18.0", True, "18.6.2", False),
    )
    assert record.affected == (Affected(Product.IOS, ranges), Affected(Product.IPADOS, ranges))
    assert record.exploited
    assert record.published == date(2025, 8, 20)
    assert record.references == (
        "https://support.apple.com/en-us/124925",
        "https://support.apple.com/en-us/124926",
    )


def test_cve_listed_twice_in_a_train_keeps_the_first_fix(feed: tuple[str, Any]) -> None:
    """CVE-2025-43529 is under 26.2 and again under 26.3 (named there in another entry's
    text); 26.2 fixed it, as 18.7.3 did on the same day."""
    _, result = feed
    record = next(r for r in result.records if r.id == "CVE-2025-43529")
    assert record.affected[0].ranges == (
        VersionRange("18.0", True, "18.7.3", False),
        VersionRange("26.0", True, "26.2", False),
    )


def test_v2_severity_and_duplicate_release() -> None:
    result = parse_sofa((SOFA / FEEDS[1]).read_bytes())
    records = {r.id: r for r in result.records}
    assert records["CVE-2025-43300"].severity == "Critical"
    assert records["CVE-2026-20606"].severity == ""
    # "iOS 18.7.7 and iPadOS 18.7.7" is in v2 twice; its CVEs still get one range
    assert records["CVE-2026-20643"].affected[0].ranges == (
        VersionRange("18.0", True, "18.7.7", False),
        VersionRange("26.0", True, "26.4", False),
    )


def test_cve_42824_is_one_train() -> None:
    result = parse_sofa((SOFA / FEEDS[0]).read_bytes())
    record = next(r for r in result.records if r.id == "CVE-2023-42824")
    assert record.affected[0].ranges == (VersionRange("17.0", True, "17.0.3", False),)


# --- bad input ----------------------------------------------------------------------------------


def _small_feed() -> dict[str, Any]:
    feed = _raw(FEEDS[1])
    feed["OSVersions"] = [feed["OSVersions"][2]]  # train 17
    return feed


def test_bad_release_is_one_problem() -> None:
    feed = _small_feed()
    releases = feed["OSVersions"][0]["SecurityReleases"]
    releases[0]["ProductVersion"] = "17.7.x"
    releases[1]["CVEs"] = ["CVE-2025-1"]
    releases[2]["ReleaseDate"] = 20250101
    releases[3]["CVEs"]["not-a-cve"] = {}
    releases.append("junk")
    releases.append({"UpdateName": "macOS Sequoia 15.6", "ProductName": "macOS", "CVEs": {}})
    result = parse_sofa(json.dumps(feed).encode())
    assert result.problems == (
        ImportProblem("iPadOS 17.7.11", "ProductVersion '17.7.x' is not an iOS version"),
        ImportProblem("iPadOS 17.7.10", "CVEs is an array, not an object"),
        ImportProblem("iPadOS 17.7.9", "ReleaseDate is a number, not a date"),
        ImportProblem("not-a-cve", "iPadOS 17.7.8: not a CVE id"),
        ImportProblem(
            "OSVersions[0].SecurityReleases[30]", "the release is a string, not an object"
        ),
    )
    assert dict(result.skipped)["other product"] == 1
    assert result.records  # the other releases went on


def test_bad_train_entries() -> None:
    feed = {"OSVersions": [3, {"OSVersion": "17"}, {"SecurityReleases": []}]}
    result = parse_sofa(json.dumps(feed).encode())
    assert result.records == ()
    assert result.problems == (
        ImportProblem("OSVersions[0]", "is a number, not an object"),
        ImportProblem("OSVersions[1]", "SecurityReleases is null, not an array"),
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "expected a SOFA feed object, found an array"),
        (b"{}", "OSVersions is null, not an array: not a SOFA feed"),
        (b'{"OSVersions": {}}', "OSVersions is an object, not an array: not a SOFA feed"),
        (b"{'a': 1}", "not JSON"),
    ],
)
def test_bad_documents(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        parse_sofa(data)


def test_truncated_feed() -> None:
    data = (SOFA / FEEDS[0]).read_bytes()
    with pytest.raises(ValueError, match="^not JSON"):
        parse_sofa(data[:50_000])


def test_huge_product_version_is_refused() -> None:
    feed = _small_feed()
    feed["OSVersions"][0]["SecurityReleases"][0]["ProductVersion"] = "1" * 10_000
    reason = parse_sofa(json.dumps(feed).encode()).problems[0].reason
    assert reason == "ProductVersion has 10000 characters, more than 128"


# --- properties ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
RELEASES = _releases(_raw(FEEDS[1]))[:20]


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
def test_mutated_releases_never_raise(data: st.DataObject) -> None:
    release = copy.deepcopy(data.draw(st.sampled_from(RELEASES)))
    path = data.draw(st.sampled_from(_paths(release)[1:]))
    target = release
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = data.draw(JSON)
    parse_sofa(json.dumps({"OSVersions": [{"SecurityReleases": [release]}]}).encode())


@settings(deadline=None)
@given(st.lists(JSON, max_size=4))
def test_random_releases_never_raise(releases: list[Any]) -> None:
    parse_sofa(json.dumps({"OSVersions": [{"SecurityReleases": releases}]}).encode())


@settings(deadline=None)
@given(JSON)
def test_random_documents_raise_only_value_error(document: Any) -> None:
    with contextlib.suppress(ValueError):
        parse_sofa(json.dumps(document).encode())
