"""Matching on the real records of shared/data: exact CVE sets for concrete devices.

Every record goes through its real parser (SOFA v2 feed, the CVE JSON 5 and NVD API 2.0
records, the osv-android files) into one `VulnIndex`, as the server will build it. Only one
real platform record of the Android Security Bulletin is freely licensed, so the hand-written
bulletin records of tests/intel/fixtures/vulns/asb_handwritten.json (CVE-2099-1xxxx) join them
for Android. The expected sets were worked out by hand from the files; the reasoning for each id
is written next to it. For the SOFA feed the expected set is computed again here, from the raw
JSON with a few lines of plain Python and without the parser, and compared with the engine's.

What the records hold for Android (after the parsers' rules: kernel and SoC entries, bare
majors without a patch level and withdrawn records are not matchable):

* ASB-A-202768292 / CVE-2021-39630 (real OSV): 12:0 .. fixed 12:2022-01-01;
* CVE-2023-35674 (real cve5): majors 11, 12, 12L, 13, bulletin 2023-09-01 -> each major
  ``<major>:0 .. <major>:2023-09-01``; not 14;
* CVE-2024-43093 (real cve5): majors 12, 12L, 13, 14, 15; the newest bulletin it references is
  2025-03-01 -> ``<major>:0 .. <major>:2025-03-01``;
* NVD names Android majors only ("14.0"), never a patch level: nothing of it is matchable;
* hand-written: CVE-2099-10001 12/12L/13/14 .. 2024-03-01; CVE-2099-10002 14/15 .. 2025-01-01;
  CVE-2099-10003 15/15-next .. 2025-06-01; CVE-2099-10004 16/16-qpr2 .. 2026-06-01;
  ASB-A-900000008 (CVE-2099-10008 and -10009) 13/14 .. 2024-09-01 (its kernel entry is not
  matched); CVE-2099-10013 13/14 .. 2023-12-01; CVE-2099-10014 12L .. 2022-05-01;
  CVE-2099-10015 13 up to and including (last_affected) 13:2023-07-05; the rest are kernel, SoC
  or withdrawn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from conftest import SHARED
from openmtd.domain.device import DeviceFacts
from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.domain.vulns import Product, VersionRange, VulnFinding, VulnRecord, VulnSource
from openmtd.engines.vulns.index import VulnIndex
from openmtd.engines.vulns.mapping import DEFAULT_MAPPING
from openmtd.engines.vulns.match import match_device, match_device_report
from openmtd.intel.vuln_feeds import parse_cve5, parse_nvd, parse_osv, parse_sofa

DATA = SHARED / "data"
SOFA_V2 = DATA / "sofa" / "v2_ios_data_feed.json"
CVE5 = DATA / "cve-records" / "cve5"
NVD = DATA / "cve-records" / "nvd-api-2.0"
OSV_ANDROID = DATA / "osv-android"
ASB_HANDWRITTEN = Path(__file__).resolve().parents[2] / "intel/fixtures/vulns/asb_handwritten.json"

IPHONE = "iPhone 15 (iPhone15,4)"
IPAD = "iPad Pro 11-inch (4th generation) (iPad14,3)"


# --- the records and indexes ------------------------------------------------------------------


def _records(parse: Any, files: Iterable[Path]) -> tuple[VulnRecord, ...]:
    found: list[VulnRecord] = []
    for path in sorted(files):
        result = parse(path.read_bytes())
        assert result.problems == (), (path.name, result.problems)
        found.extend(result.records)
    return tuple(found)


@cache
def sofa_records() -> tuple[VulnRecord, ...]:
    return _records(parse_sofa, [SOFA_V2])


@cache
def cve5_records() -> tuple[VulnRecord, ...]:
    return _records(parse_cve5, CVE5.glob("CVE-*.json"))


@cache
def nvd_records() -> tuple[VulnRecord, ...]:
    return _records(parse_nvd, NVD.glob("CVE-*.json"))


@cache
def osv_records() -> tuple[VulnRecord, ...]:
    return _records(parse_osv, [*OSV_ANDROID.glob("*.json"), ASB_HANDWRITTEN])


@cache
def full_index() -> VulnIndex:
    index = VulnIndex.build((*sofa_records(), *cve5_records(), *nvd_records(), *osv_records()))
    assert index.problems == ()
    return index


@cache
def sofa_index() -> VulnIndex:
    return VulnIndex.build(sofa_records())


@cache
def cve5_index() -> VulnIndex:
    return VulnIndex.build(cve5_records())


# --- devices ------------------------------------------------------------------------------------


def android(major: str, level: date) -> DeviceFacts:
    return DeviceFacts(
        platform=Platform.ANDROID,
        scenario=EnrollmentScenario.ANDROID_COBO,
        os_version=major,
        model="Pixel 8",
        manufacturer="Google",
        security_patch_level=level,
    )


def apple(version: str, model: str = IPHONE) -> DeviceFacts:
    return DeviceFacts(
        platform=Platform.IOS,
        scenario=EnrollmentScenario.IOS_SUPERVISED,
        os_version=version,
        model=model,
        manufacturer="Apple",
    )


def findings(facts: DeviceFacts, index: VulnIndex | None = None) -> list[VulnFinding]:
    report = match_device_report(index or full_index(), facts, DEFAULT_MAPPING)
    assert report.problems == ()
    return list(report.findings)


def cves(facts: DeviceFacts, index: VulnIndex | None = None) -> set[str]:
    return {cve for finding in findings(facts, index) for cve in finding.cve_ids}


# --- the SOFA feed, read without the parser -----------------------------------------------------


def _numbers(version: str) -> tuple[int, ...]:
    numbers = [int(part) for part in version.split(".")]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


@cache
def sofa_first_fix() -> dict[tuple[int, str], tuple[int, ...]]:
    """(train, CVE) -> the earliest release of that train whose CVE list names the CVE.

    Apple fixes a CVE once per train; SOFA sometimes lists it again under a later release (the
    later page mentions it), so the earliest listing is the fix (CVE-2023-42893: 17.2 and 17.5).
    """
    feed = json.loads(SOFA_V2.read_bytes())
    first: dict[tuple[int, str], tuple[int, ...]] = {}
    for train in feed["OSVersions"]:
        for release in train["SecurityReleases"]:
            fixed_in = _numbers(release["ProductVersion"])
            for cve in release.get("CVEs") or {}:
                key = (fixed_in[0], cve)
                if key not in first or fixed_in < first[key]:
                    first[key] = fixed_in
    return first


def sofa_expected(version: str) -> set[str]:
    """The CVEs a device on `version` still has by SOFA: fixed in its train after it."""
    installed = _numbers(version)
    return {
        cve
        for (train, cve), fixed_in in sofa_first_fix().items()
        if train == installed[0] and fixed_in > installed
    }


# === Android =====================================================================================


def test_android_12_before_the_fix_of_cve_2021_39630() -> None:
    assert cves(android("12", date(2021, 12, 1))) == {
        "CVE-2021-39630",  # real OSV: 12:0 .. fixed 12:2022-01-01; 2021-12-01 is before it
        "CVE-2023-35674",  # real cve5: 12 up to the 2023-09-01 bulletin
        "CVE-2024-43093",  # real cve5: 12 up to the 2025-03-01 bulletin
        "CVE-2099-10001",  # hand-written: 12 up to 2024-03-01
    }


def test_android_12_at_exactly_the_fixing_patch_level_is_patched() -> None:
    # Boundary: a patch level equal to OSV's "fixed" is outside the range.
    assert cves(android("12", date(2022, 1, 1))) == {
        "CVE-2023-35674",
        "CVE-2024-43093",
        "CVE-2099-10001",
    }


def test_android_14_at_2024_01_01() -> None:
    assert cves(android("14", date(2024, 1, 1))) == {
        # real cve5 CVE-2024-43093 names 14 and references the 2025-03-01 bulletin
        "CVE-2024-43093",
        # ASB-A-900000001: 14:0 .. fixed 14:2024-03-01
        "CVE-2099-10001",
        # ASB-A-900000002: 14:0 .. fixed 14:2025-01-01 (its own range for 14)
        "CVE-2099-10002",
        # ASB-A-900000008, both of its CVE aliases: 14:0 .. fixed 14:2024-09-01
        "CVE-2099-10008",
        "CVE-2099-10009",
    }
    # Not in it: CVE-2023-35674 (real cve5, names 11 to 13 only), CVE-2021-39630 (12 only),
    # CVE-2099-10013 (14 fixed at 2023-12-01, before this level), CVE-2099-10003/-10004
    # (15 and 16), CVE-2099-10014/-10015 (12L and 13), CVE-2099-10016 (withdrawn),
    # ASB-A-900000005/-6/-7/-10/-11/-12 (kernel and SoC: not the OS version's business).


def test_android_14_evidence() -> None:
    by_id = {f.vuln_id: f for f in findings(android("14", date(2024, 1, 1)))}
    assert set(by_id) == {
        "CVE-2024-43093",
        "ASB-A-900000001",
        "ASB-A-900000002",
        "ASB-A-900000008",
    }
    real = by_id["CVE-2024-43093"]
    assert real.source is VulnSource.CVE5
    assert real.product is Product.ANDROID
    assert real.installed_version == "14:2024-01-01"
    assert real.matched_range == VersionRange("14:0", True, "14:2025-03-01", False)
    assert real.component == "platform/frameworks/base"
    assert by_id["ASB-A-900000008"].cve_ids == ("CVE-2099-10008", "CVE-2099-10009")
    assert by_id["ASB-A-900000008"].component == "platform/system/core"


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        # a month before CVE-2099-10013's fix (14:2023-12-01): that one is still open too
        (
            date(2023, 11, 1),
            {
                "CVE-2024-43093",
                "CVE-2099-10001",
                "CVE-2099-10002",
                "CVE-2099-10008",
                "CVE-2099-10009",
                "CVE-2099-10013",
            },
        ),
        # exactly CVE-2099-10001's fix (14:2024-03-01): patched against it
        (
            date(2024, 3, 1),
            {"CVE-2024-43093", "CVE-2099-10002", "CVE-2099-10008", "CVE-2099-10009"},
        ),
        # exactly CVE-2024-43093's bulletin (2025-03-01), past every other fix for 14
        (date(2025, 3, 1), set()),
    ],
)
def test_android_14_boundaries(level: date, expected: set[str]) -> None:
    assert cves(android("14", level)) == expected


def test_android_13_last_affected_is_inclusive() -> None:
    base = {"CVE-2023-35674", "CVE-2024-43093", "CVE-2099-10001", "CVE-2099-10008"}
    base |= {"CVE-2099-10009", "CVE-2099-10013"}
    # CVE-2099-10015: last_affected 13:2023-07-05 -> that very level is still vulnerable
    assert cves(android("13", date(2023, 7, 5))) == base | {"CVE-2099-10015"}
    assert cves(android("13", date(2023, 7, 6))) == base


def test_android_12l_is_its_own_major() -> None:
    # CVE-2099-10014 names 12L only (fixed 12L:2022-05-01); CVE-2021-39630 names 12 only.
    common = {"CVE-2023-35674", "CVE-2024-43093", "CVE-2099-10001"}
    assert cves(android("12L", date(2022, 4, 1))) == common | {"CVE-2099-10014"}
    assert cves(android("12L", date(2022, 5, 1))) == common
    assert "CVE-2021-39630" not in cves(android("12L", date(2021, 12, 1)))


def test_android_11_only_in_the_real_cve5_record() -> None:
    assert cves(android("11", date(2023, 8, 1))) == {"CVE-2023-35674"}
    assert cves(android("11", date(2023, 9, 1))) == set()


def test_android_major_without_records_says_so() -> None:
    report = match_device_report(full_index(), android("10", date(2023, 1, 1)), DEFAULT_MAPPING)
    assert report.findings == ()
    assert report.problems == ("the vulnerability feeds hold no records for Android 10",)


# === iOS: the SOFA feed ==========================================================================


def test_sofa_reading_of_the_raw_feed_is_not_empty() -> None:
    # Guards the plain-Python reading below against a silent misreading of the file.
    expected = sofa_expected("17.4")
    assert len(expected) > 200
    assert "CVE-2024-1580" in expected  # the one CVE of "iOS 17.4.1 and iPadOS 17.4.1"


def test_iphone_on_17_4_sofa_only() -> None:
    found = cves(apple("17.4"), sofa_index())
    assert found == sofa_expected("17.4")
    assert len(found) == 271
    # fixed in 17.4.1 and in 17.5, after 17.4: still open
    assert {"CVE-2024-1580", "CVE-2024-27796"} <= found
    # exploited, fixed in iOS 17.7.2 (the last 17.x for iPhones): open
    assert {"CVE-2024-44308", "CVE-2024-44309"} <= found
    # fixed in 17.4 itself (exploited, ActivelyExploitedCVEs of 17.4): patched
    assert not {"CVE-2024-23225", "CVE-2024-23296"} & found
    # fixed earlier in the train (17.0.3, 17.1.2): patched
    assert not {"CVE-2023-42824", "CVE-2023-42916", "CVE-2023-42917"} & found
    # listed under 17.2 and again under 17.5: fixed in 17.2, so patched on 17.4
    assert "CVE-2023-42893" not in found


@pytest.mark.parametrize(
    "version",
    ["17.0", "17.0.3", "17.3.1", "17.4", "17.4.1", "17.5", "17.7.2", "17.7.10", "18.3", "26.2"],
)
def test_sofa_only_matches_the_plain_reading(version: str) -> None:
    assert cves(apple(version), sofa_index()) == sofa_expected(version)


def test_iphone_on_17_4_full_index_adds_nothing_to_sofa() -> None:
    # The cve5/NVD records that reach 17.4 are CVE-2025-24200 (iOS < 18.3.1, no 17.x fix for
    # iOS) and CVE-2025-43300 (iOS < 18.6.2 in cve5); SOFA already has both on train 17, from
    # the iPadOS 17.7.5 and 17.7.10 releases. The others end in trains 15 and 16.
    found = cves(apple("17.4"))
    assert found == sofa_expected("17.4")
    assert {"CVE-2025-24200", "CVE-2025-43300"} <= found


def test_iphone_on_a_fixing_version_is_patched_against_that_cve() -> None:
    assert "CVE-2024-1580" in cves(apple("17.4"))
    assert "CVE-2024-1580" not in cves(apple("17.4.1"))  # version equal to the fix
    # CVE-2025-43300: SOFA 18.6.2, cve5 lessThan "18.6" read as 18.6.2 from the description
    assert "CVE-2025-43300" in cves(apple("18.6.1"))
    assert "CVE-2025-43300" not in cves(apple("18.6.2"))
    assert "CVE-2025-43300" not in cves(apple("18.6.2.0"))  # trailing zeros change nothing
    # every CVE of 17.5's own list is patched on 17.5
    assert not cves(apple("17.5"), sofa_index()) & {"CVE-2024-27796", "CVE-2024-23251"}


def test_sofa_keeps_the_earliest_of_two_listings_in_one_train() -> None:
    # CVE-2025-14174 (exploited) is listed under 26.2 and again under 26.3.
    assert "CVE-2025-14174" in cves(apple("26.1"))
    assert "CVE-2025-14174" not in cves(apple("26.2"))


# === iOS: Apple's cve5 lessThan ==================================================================


def test_cve_2023_42824_lessthan_is_the_train_not_the_fix() -> None:
    # The record says lessThan "16.7"; its description says fixed in iOS 16.7.1 (SOFA agrees:
    # no 16 train in SOFA, but 17.0.3 on train 17). 16.7 (= 16.7.0) is vulnerable.
    index = cve5_index()
    assert "CVE-2023-42824" in cves(apple("16.6"), index)
    assert "CVE-2023-42824" in cves(apple("16.7"), index)
    assert "CVE-2023-42824" in cves(apple("16.7.0"), index)
    assert "CVE-2023-42824" not in cves(apple("16.7.1"), index)
    assert "CVE-2023-42824" not in cves(apple("16.7.2"), index)
    (finding,) = (f for f in findings(apple("16.7"), index) if f.vuln_id == "CVE-2023-42824")
    assert finding.matched_range == VersionRange(None, True, "16.7.1", False)


def test_iphone_on_16_7_full_index() -> None:
    assert cves(apple("16.7")) == {
        "CVE-2023-42824",  # cve5 and NVD: < 16.7.1
        "CVE-2025-24200",  # cve5 and NVD: iOS < 18.3.1, no fix on 16 named
        "CVE-2025-43300",  # cve5 iOS < 18.6.2 (no 16 fix named); NVD [16.0, 16.7.12)
    }
    # 16.7.1: CVE-2023-42824 fixed. Nothing else: every other Apple record ends in train 16
    # before 16.7 (16.3, 16.4, 16.5.1, 16.6, 16.6.1) or lies in trains SOFA lists (17, 18, 26).
    assert cves(apple("16.7.1")) == {"CVE-2025-24200", "CVE-2025-43300"}


def test_cve_2023_42824_on_train_17_comes_from_sofa() -> None:
    # cve5/NVD name only a 16.x fix: read per train they say nothing of 17.0; SOFA lists the
    # CVE under 17.0.3.
    assert "CVE-2023-42824" not in cves(apple("17.0"), cve5_index())
    assert "CVE-2023-42824" in cves(apple("17.0"))
    assert "CVE-2023-42824" not in cves(apple("17.0.3"))


def test_triangulation_per_train_reading() -> None:
    # CVE-2023-32434: cve5/NVD iOS (-, 15.7.7) and [16.0, 16.5.1). A 15.7.7 device is patched
    # on its own train even though 15.7.7 < 16.5.1.
    assert "CVE-2023-32434" in cves(apple("15.7.6"))
    assert "CVE-2023-32434" not in cves(apple("15.7.7"))
    assert "CVE-2023-32434" in cves(apple("16.5"))
    assert "CVE-2023-32434" not in cves(apple("16.5.1"))


# === iPad and iPhone =============================================================================


def test_ipad_and_iphone_agree_where_both_run_the_release() -> None:
    # SOFA lists every release as "iOS and iPadOS", and the cve5/NVD iPadOS ranges agree with the
    # iOS ones on every version both run.
    for version in ("16.7", "17.4", "17.7.2", "18.3", "18.6.1"):
        assert cves(apple(version, IPAD)) == cves(apple(version, IPHONE)), version


def test_ipad_only_17_7_releases() -> None:
    # iPadOS 17.7.5 and 17.7.10 fixed CVE-2025-24200 and CVE-2025-43300 for iPads left on 17
    # (cve5 and NVD: "iPadOS lessThan 17.7" -> 17.7.5 / 17.7.10). For iOS the cve5 and NVD
    # records name no 17.x fix, but SOFA lists those iPad releases under "iOS and iPadOS" 17,
    # and a fix any feed names in the device's own train decides for every feed: a device that
    # reports 17.7.10 with an iPhone model is judged like the iPad.
    ipad = cves(apple("17.7.10", IPAD))
    assert ipad == sofa_expected("17.7.10") == {"CVE-2026-28950"}  # fixed in iPadOS 17.7.11
    assert cves(apple("17.7.10", IPHONE)) == ipad
    assert "CVE-2025-24200" not in cves(apple("17.7.5", IPAD))
    assert "CVE-2025-24200" in cves(apple("17.7.4", IPAD))


def test_every_sofa_record_names_both_products() -> None:
    assert all(
        {a.product for a in record.affected} == {Product.IOS, Product.IPADOS}
        for record in sofa_records()
        if record.affected
    )


def test_match_device_agrees_with_the_report() -> None:
    facts = apple("17.4")
    assert match_device(full_index(), facts, DEFAULT_MAPPING) == findings(facts)


def test_a_backport_named_by_one_feed_decides_for_the_others() -> None:
    # CVE-2025-43300: the stored cve5 record names only the 18.6.2 fix for iOS; the newer NVD
    # record also names the 16.7.12 and 15.8.5 backports. A device on 16.7.12 is patched, even
    # though the cve5 record's "< 18.6.2" alone would contain it; 16.7.11 is not.
    assert "CVE-2025-43300" not in cves(apple("16.7.12", IPHONE))
    assert "CVE-2025-43300" in cves(apple("16.7.11", IPHONE))
    assert "CVE-2025-43300" not in cves(apple("15.8.5", IPHONE))
