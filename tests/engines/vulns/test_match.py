"""Matching devices against records: exact CVE sets computed by hand for concrete devices.

The records are written here in the shape the feed parsers produce: Android OS ranges in OSV's
``"<major>:<YYYY-MM-DD>"`` form, iOS ranges as NVD's and SOFA's bounds, apps by CPE / OSV name.
"""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from openmtd.domain.device import AppInfo, DeviceFacts
from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.domain.vulns import (
    Affected,
    Product,
    VersionRange,
    VulnFinding,
    VulnRecord,
    VulnSource,
)
from openmtd.engines.vulns.index import VulnIndex
from openmtd.engines.vulns.mapping import DEFAULT_MAPPING, AppMapping
from openmtd.engines.vulns.match import (
    Matcher,
    apple_product,
    match_device,
    match_device_report,
    match_fleet,
)

R = VersionRange


def record(
    cve: str,
    product: Product,
    *ranges: VersionRange,
    package: str = "",
    more: tuple[Affected, ...] = (),
    source: VulnSource = VulnSource.NVD,
    record_id: str = "",
    component: str = "",
) -> VulnRecord:
    return VulnRecord(
        id=record_id or cve,
        source=source,
        aliases=(cve,) if record_id else (),
        affected=(Affected(product, tuple(ranges), package, component), *more),
    )


def android(major: str, level: date | None, *apps: AppInfo) -> DeviceFacts:
    return DeviceFacts(
        platform=Platform.ANDROID,
        scenario=EnrollmentScenario.ANDROID_WORK_PROFILE,
        os_version=major,
        model="Pixel 8",
        manufacturer="Google",
        security_patch_level=level,
        apps=apps,
    )


def apple(version: str, *apps: AppInfo, model: str = "iPhone 15 (iPhone15,4)") -> DeviceFacts:
    return DeviceFacts(
        platform=Platform.IOS,
        scenario=EnrollmentScenario.IOS_SUPERVISED,
        os_version=version,
        model=model,
        manufacturer="Apple",
        apps=apps,
    )


def cves(findings: list[VulnFinding]) -> set[str]:
    return {cve for finding in findings for cve in finding.cve_ids}


# --- Android OS --------------------------------------------------------------------------------

ANDROID_RECORDS = (
    record("CVE-2024-0001", Product.ANDROID, R("14:0", True, "14:2023-12-01")),
    record("CVE-2024-0002", Product.ANDROID, R("14:0", True, "14:2024-01-01")),  # boundary
    record("CVE-2024-0003", Product.ANDROID, R("14:0", True, "14:2024-02-01")),
    record("CVE-2024-0004", Product.ANDROID, R("13:0", True, "13:2024-02-01")),
    record("CVE-2024-0005", Product.ANDROID, R("12L:0", True, "12L:2024-02-01")),
    record(  # one record, three majors: reported once, with the device's own range
        "CVE-2024-0006",
        Product.ANDROID,
        R("13:0", True, "13:2024-03-01"),
        R("14:0", True, "14:2024-03-01"),
        R("15:0", True, "15:2024-03-01"),
        source=VulnSource.OSV,
        record_id="ASB-A-300000006",
        component="platform/frameworks/base",
    ),
    record("CVE-2024-0007", Product.ANDROID, R(":0", True, ":2024-01-05")),  # kernel: any major
    record("CVE-2024-0008", Product.ANDROID, R("16-qpr2:0", True, "16-qpr2:2025-12-01")),
    record("CVE-2024-0009", Product.ANDROID, R("14:2024-01-01", True, "14:2024-03-01")),
    record("CVE-2024-0010", Product.ANDROID, R("14:2024-01-05", True, "14:2024-03-01")),
    record("CVE-2024-0011", Product.ANDROID, R("14:0", True, "14:2024-01-01", True)),
    record("CVE-2024-0012", Product.ANDROID, R("14:0", True, None)),  # no fix yet
    record("CVE-2024-0013", Product.ANDROID, R.exactly("12.0")),  # NVD: no patch level
)
ANDROID_INDEX = VulnIndex.build(ANDROID_RECORDS)


def test_android_14_at_2024_01_01() -> None:
    findings = match_device(ANDROID_INDEX, android("14", date(2024, 1, 1)), DEFAULT_MAPPING)
    assert cves(findings) == {
        "CVE-2024-0003",  # fixed 2024-02-01 > patch level
        "CVE-2024-0006",  # the 14 range of a three-major record
        "CVE-2024-0007",  # kernel record of no major, fixed 2024-01-05
        "CVE-2024-0009",  # introduced at 2024-01-01 (inclusive)
        "CVE-2024-0011",  # last affected 2024-01-01 (inclusive)
        "CVE-2024-0012",  # no fix at all
    }
    # not: 0001 (fixed before), 0002 (fixed at exactly this level), 0004 (Android 13),
    # 0005 (12L), 0008 (Android 16), 0010 (introduced after), 0013 (no patch level)
    assert len(findings) == 6


def test_android_finding_carries_its_evidence() -> None:
    findings = match_device(ANDROID_INDEX, android("14", date(2024, 1, 1)), DEFAULT_MAPPING)
    asb = next(f for f in findings if f.vuln_id == "ASB-A-300000006")
    assert asb == VulnFinding(
        vuln_id="ASB-A-300000006",
        cve_ids=("CVE-2024-0006",),
        product=Product.ANDROID,
        package="",
        app_identifier="",
        installed_version="14:2024-01-01",
        matched_range=R("14:0", True, "14:2024-03-01"),
        source=VulnSource.OSV,
        component="platform/frameworks/base",
    )


def test_android_patch_level_equal_to_the_fix_is_patched() -> None:
    at_fix = match_device(ANDROID_INDEX, android("14", date(2024, 2, 1)), DEFAULT_MAPPING)
    assert "CVE-2024-0003" not in cves(at_fix)
    day_before = match_device(ANDROID_INDEX, android("14", date(2024, 1, 31)), DEFAULT_MAPPING)
    assert "CVE-2024-0003" in cves(day_before)


def test_android_other_majors() -> None:
    on_12l = match_device(ANDROID_INDEX, android("12L", date(2024, 1, 1)), DEFAULT_MAPPING)
    assert cves(on_12l) == {"CVE-2024-0005", "CVE-2024-0007"}
    on_12 = match_device(ANDROID_INDEX, android("12", date(2024, 1, 1)), DEFAULT_MAPPING)
    assert cves(on_12) == {"CVE-2024-0007"}  # 12L records are not 12's
    on_13 = match_device(ANDROID_INDEX, android("13.0", date(2024, 2, 1)), DEFAULT_MAPPING)
    assert cves(on_13) == {"CVE-2024-0006"}  # 0004 fixed at exactly 2024-02-01
    on_16 = match_device(ANDROID_INDEX, android("16", date(2025, 11, 5)), DEFAULT_MAPPING)
    assert cves(on_16) == {"CVE-2024-0008"}  # a QPR record is one of its major


def test_android_without_patch_level_cannot_be_matched() -> None:
    report = match_device_report(ANDROID_INDEX, android("14", None), DEFAULT_MAPPING)
    assert report.findings == ()
    assert report.problems == (
        "no security patch level reported: the Android OS cannot be matched",
    )


def test_android_major_the_feeds_do_not_cover_is_reported() -> None:
    report = match_device_report(ANDROID_INDEX, android("10", date(2023, 1, 1)), DEFAULT_MAPPING)
    assert cves(list(report.findings)) == {"CVE-2024-0007"}
    assert report.problems == ("the vulnerability feeds hold no records for Android 10",)


def test_android_release_that_is_no_version_is_reported() -> None:
    report = match_device_report(
        ANDROID_INDEX, android("Baklava", date(2024, 1, 1)), DEFAULT_MAPPING
    )
    assert report.findings == ()
    assert report.problems == ("Android release 'Baklava' names no major version",)


def test_ranges_that_cannot_be_indexed_are_reported_not_raised() -> None:
    assert [(p.record, p.reason) for p in ANDROID_INDEX.problems] == [
        (
            "CVE-2024-0013",
            "Android OS bound '12.0' has no security patch level ('<major>:<YYYY-MM-DD>'): "
            "it cannot be matched",
        )
    ]
    index = VulnIndex.build(
        [
            record("CVE-2024-0100", Product.IOS, R(end="seventeen")),
            record("CVE-2024-0101", Product.APP, R(end="2.0"), package="just words"),
            record("CVE-2024-0102", Product.ANDROID, R("13:0", True, "14:2024-01-01")),
            record("CVE-2024-0103", Product.ANDROID, R()),
            record("CVE-2024-0104", Product.IOS, R(end="14:2024-01-01")),
        ]
    )
    assert [p.record for p in index.problems] == [
        "CVE-2024-0100",
        "CVE-2024-0101",
        "CVE-2024-0102",
        "CVE-2024-0103",
        "CVE-2024-0104",
    ]
    assert index.range_count() == 0


def test_the_real_bulletin_record_shape() -> None:
    # ASB-A-202768292 as shared/data/osv-android/vanir_test_vulnerabilities_platform.json has it
    asb = VulnRecord(
        id="ASB-A-202768292",
        source=VulnSource.OSV,
        aliases=("CVE-2021-39630",),
        severity="High",
        affected=(
            Affected(
                Product.ANDROID,
                (R("12:0", True, "12:2022-01-01"),),
                component="platform/frameworks/base",
            ),
        ),
    )
    index = VulnIndex.build([asb])
    assert cves(match_device(index, android("12", date(2021, 12, 5)), DEFAULT_MAPPING)) == {
        "CVE-2021-39630"
    }
    assert match_device(index, android("12", date(2022, 1, 1)), DEFAULT_MAPPING) == []
    assert match_device(index, android("13", date(2021, 12, 5)), DEFAULT_MAPPING) == []


# --- iOS and iPadOS ----------------------------------------------------------------------------

APPLE_RECORDS = (
    record("CVE-2024-1001", Product.IOS, R(end="17.4")),
    record("CVE-2024-1002", Product.IOS, R(end="17.4.1")),
    record("CVE-2024-1003", Product.IOS, R("16.0", True, "16.7.6")),
    record("CVE-2024-1004", Product.IPADOS, R(end="17.5")),  # iPadOS only
    record("CVE-2024-1005", Product.IOS, R(end="17.7.2"), R("18.0", True, "18.2")),  # NVD style
    record("CVE-2024-1006", Product.IOS, R(end="18.2")),  # never fixed in 17
    record(
        "CVE-2024-1007",
        Product.IOS,
        R(end="17.3"),
        more=(Affected(Product.IPADOS, (R(end="17.5"),)),),
    ),
    record("CVE-2024-1008", Product.IOS, R(end="17.7.2"), R(end="18.2"), source=VulnSource.SOFA),
    record("CVE-2024-1009", Product.IOS, R(end="17.4", end_inclusive=True)),  # last affected
)
APPLE_INDEX = VulnIndex.build(APPLE_RECORDS)


def test_iphone_on_17_4() -> None:
    findings = match_device(APPLE_INDEX, apple("17.4"), DEFAULT_MAPPING)
    assert cves(findings) == {
        "CVE-2024-1002",  # fixed in 17.4.1
        "CVE-2024-1005",  # fixed in 17.7.2 in its train
        "CVE-2024-1006",  # fixed only in 18.2
        "CVE-2024-1008",  # fixed in 17.7.2 in its train
        "CVE-2024-1009",  # 17.4 is the last affected version
    }
    # not: 1001 (fixed in 17.4 itself), 1003 (train 16), 1004 (iPadOS only), 1007 (iOS fix 17.3)
    nearest = next(f for f in findings if f.vuln_id == "CVE-2024-1008")
    assert nearest.matched_range == R(end="17.7.2")  # the nearest fix is the evidence
    assert nearest.installed_version == "17.4"
    assert nearest.product is Product.IOS


def test_ipad_on_17_4_uses_ipados_ranges_and_ios_ranges_of_ios_only_records() -> None:
    ipad = apple("17.4", model="iPad Air 11-inch (M2)")
    assert apple_product(ipad) is Product.IPADOS
    findings = match_device(APPLE_INDEX, ipad, DEFAULT_MAPPING)
    assert cves(findings) == {
        "CVE-2024-1002",
        "CVE-2024-1004",  # iPadOS record
        "CVE-2024-1005",
        "CVE-2024-1006",
        "CVE-2024-1007",  # its iPadOS range (fixed 17.5), not its iOS one (fixed 17.3)
        "CVE-2024-1008",
        "CVE-2024-1009",
    }
    by_id = {f.vuln_id: f for f in findings}
    assert by_id["CVE-2024-1007"].product is Product.IPADOS
    assert by_id["CVE-2024-1002"].product is Product.IOS


def test_a_fix_in_the_devices_own_train_decides() -> None:
    findings = match_device(APPLE_INDEX, apple("17.7.5"), DEFAULT_MAPPING)
    assert cves(findings) == {"CVE-2024-1006"}  # 1005 and 1008 are fixed in 17.7.2


def test_an_older_train_without_a_fix_is_vulnerable_to_later_fixes() -> None:
    findings = match_device(APPLE_INDEX, apple("16.7.10"), DEFAULT_MAPPING)
    assert cves(findings) == {
        "CVE-2024-1001",
        "CVE-2024-1002",
        "CVE-2024-1005",
        "CVE-2024-1006",
        "CVE-2024-1007",  # its iOS range: fixed in 17.3, nothing in train 16
        "CVE-2024-1008",
        "CVE-2024-1009",
    }  # not 1003: fixed in 16.7.6 in the device's train


def test_iphone_on_18_1() -> None:
    findings = match_device(APPLE_INDEX, apple("18.1"), DEFAULT_MAPPING)
    assert cves(findings) == {"CVE-2024-1005", "CVE-2024-1006", "CVE-2024-1008"}
    by_id = {f.vuln_id: f for f in findings}
    assert by_id["CVE-2024-1005"].matched_range == R("18.0", True, "18.2")


def test_rapid_security_response_patches_the_release() -> None:
    index = VulnIndex.build([record("CVE-2023-37450", Product.IOS, R("16.0", True, "16.5.1 (c)"))])
    assert cves(match_device(index, apple("16.5.1"), DEFAULT_MAPPING)) == {"CVE-2023-37450"}
    assert match_device(index, apple("16.5.1 (c)"), DEFAULT_MAPPING) == []


def test_ios_version_that_is_no_version_is_reported() -> None:
    report = match_device_report(APPLE_INDEX, apple("unknown"), DEFAULT_MAPPING)
    assert report.findings == ()
    assert report.problems == ("ios version 'unknown' is not a version",)


# --- apps --------------------------------------------------------------------------------------

APP_RECORDS = (
    record(
        "CVE-2024-2001",
        Product.APP,
        R(end="11.2.0"),
        package="cpe:2.3:a:telegram:telegram:*:*:*:*:*:android:*:*",
    ),
    record(
        "CVE-2024-2002",
        Product.APP,
        R(end="2.24.17.5"),
        package="cpe:2.3:a:whatsapp:whatsapp:*:*:*:*:*:android:*:*",
    ),
    record(
        "CVE-2024-2003",
        Product.APP,
        R(end="24.16"),
        package="cpe:2.3:a:whatsapp:whatsapp:*:*:*:*:*:iphone_os:*:*",
    ),
    record(
        "CVE-2024-2004",
        Product.APP,
        R(end="128.0.6613.84"),
        package="cpe:2.3:a:google:chrome:*:*:*:*:*:*:*:*",
    ),
    record(
        "CVE-2024-2005",
        Product.APP,
        R("4.5.0-beta.1", True, "4.5.0"),
        package="Maven:com.example:sdk",
        source=VulnSource.OSV,
        record_id="GHSA-aaaa-bbbb-cccc",
    ),
    record(
        "CVE-2024-2006",
        Product.APP,
        R(end="999"),
        package="cpe:2.3:a:mozilla:firefox:*:*:*:*:*:windows:*:*",
    ),
    record(
        "CVE-2024-2007",
        Product.APP,
        R.exactly("7.0 (1234)"),
        package="cpe:2.3:a:example:notes",
    ),
)
APP_INDEX = VulnIndex.build(APP_RECORDS)
APP_MAPPING = DEFAULT_MAPPING.merged(
    AppMapping.from_rows(
        [
            ("com.example.field", "Maven:com.example:sdk"),
            ("com.example.notes", "cpe:2.3:a:example:notes"),
        ]
    )
)


def app(identifier: str, version: str) -> AppInfo:
    return AppInfo(identifier, version)


def test_android_apps_through_the_mapping() -> None:
    device = android(
        "15",
        date(2025, 1, 1),
        app("org.telegram.messenger", "11.0.0"),  # < 11.2.0
        app("com.whatsapp", "2.24.15.78"),  # < 2.24.17.5
        app("com.android.chrome", "127.0.6533.103"),  # < 128.0.6613.84
        app("com.example.field", "4.5.0-beta.2"),  # a pre-release inside the range
        app("org.mozilla.firefox", "130.0"),  # the record is for Windows
        app("com.example.notes", "7.0"),  # the build number is not part of the version
        app("com.contoso.crm", "1.0"),  # not mapped
    )
    findings = match_device(APP_INDEX, device, APP_MAPPING)
    assert cves(findings) == {
        "CVE-2024-2001",
        "CVE-2024-2002",
        "CVE-2024-2004",
        "CVE-2024-2005",
        "CVE-2024-2007",
    }
    field = next(f for f in findings if f.vuln_id == "GHSA-aaaa-bbbb-cccc")
    assert field == VulnFinding(
        vuln_id="GHSA-aaaa-bbbb-cccc",
        cve_ids=("CVE-2024-2005",),
        product=Product.APP,
        package="maven:com.example:sdk",
        app_identifier="com.example.field",
        installed_version="4.5.0-beta.2",
        matched_range=R("4.5.0-beta.1", True, "4.5.0"),
        source=VulnSource.OSV,
    )


def test_patched_app_versions_are_not_vulnerable() -> None:
    device = android(
        "15",
        date(2025, 1, 1),
        app("org.telegram.messenger", "11.2.3"),
        app("com.whatsapp", "2.25.1.77"),
        app("com.android.chrome", "131.0.6778.104"),
        app("com.example.field", "4.5.0"),
        app("com.example.notes", "7.0.1"),
    )
    assert match_device(APP_INDEX, device, APP_MAPPING) == []
    rc = android("15", date(2025, 1, 1), app("com.example.field", "4.5.0-rc1"))
    assert cves(match_device(APP_INDEX, rc, APP_MAPPING)) == {"CVE-2024-2005"}
    alpha = android("15", date(2025, 1, 1), app("com.example.field", "4.5.0-alpha"))
    assert match_device(APP_INDEX, alpha, APP_MAPPING) == []  # before the introduced beta.1


def test_ios_apps_only_meet_records_for_ios_or_any_platform() -> None:
    device = apple(
        "18.2",
        app("ph.telegra.Telegraph", "11.0"),  # Telegram record is for Android
        app("net.whatsapp.WhatsApp", "24.15.78"),  # < 24.16 on iphone_os
        app("com.google.chrome.ios", "127.0.6533.107"),  # any platform
    )
    findings = match_device(APP_INDEX, device, APP_MAPPING)
    assert cves(findings) == {"CVE-2024-2003", "CVE-2024-2004"}
    whatsapp = next(f for f in findings if f.vuln_id == "CVE-2024-2003")
    assert whatsapp.app_identifier == "net.whatsapp.WhatsApp"
    assert whatsapp.package == "cpe:2.3:a:whatsapp:whatsapp"
    assert whatsapp.installed_version == "24.15.78"


def test_mapped_app_with_a_version_that_is_no_version_is_reported() -> None:
    device = android(
        "15", date(2025, 1, 1), app("com.whatsapp", "unknown"), app("com.contoso.x", "??")
    )
    report = match_device_report(APP_INDEX, device, APP_MAPPING)
    assert report.findings == ()
    assert report.problems == (
        "the vulnerability feeds hold no records for Android 15",
        "app com.whatsapp: version 'unknown' is not a version",
    )


# --- fleets ------------------------------------------------------------------------------------


def test_match_fleet_gives_what_match_device_gives_for_each_device() -> None:
    index = VulnIndex.build((*ANDROID_RECORDS, *APPLE_RECORDS, *APP_RECORDS))
    devices = [
        android("14", date(2024, 1, 1), app("com.whatsapp", "2.24.15.78")),
        apple("17.4", app("net.whatsapp.WhatsApp", "24.15.78")),
        android("14", date(2024, 1, 1), app("com.whatsapp", "2.24.15.78")),  # same again
        android("14", None, app("com.whatsapp", "2.25.1.77")),
        apple("18.1", model="iPad (A16)"),
    ]
    results = list(match_fleet(index, devices, APP_MAPPING))
    assert [position for position, _findings in results] == [0, 1, 2, 3, 4]
    for (position, findings), device in zip(results, devices, strict=True):
        assert findings == match_device(index, device, APP_MAPPING), position
    assert cves(results[0][1]) == {
        "CVE-2024-0003",
        "CVE-2024-0006",
        "CVE-2024-0007",
        "CVE-2024-0009",
        "CVE-2024-0011",
        "CVE-2024-0012",
        "CVE-2024-2002",
    }
    assert results[3][1] == []


def test_a_small_memo_gives_the_same_answers() -> None:
    index = VulnIndex.build((*ANDROID_RECORDS, *APP_RECORDS))
    matcher = Matcher(index, APP_MAPPING, memo_limit=1)
    for level in (date(2024, 1, 1), date(2024, 2, 1), date(2024, 1, 1)):
        device = android(
            "14", level, app("com.whatsapp", "2.24.15.78"), app("com.android.chrome", "1")
        )
        assert list(matcher.match(device).findings) == match_device(index, device, APP_MAPPING)


# --- hostile input -----------------------------------------------------------------------------

FULL_INDEX = VulnIndex.build((*ANDROID_RECORDS, *APPLE_RECORDS, *APP_RECORDS))
_TEXT = st.text(max_size=30)


@given(
    st.sampled_from(Platform),
    _TEXT,
    _TEXT,
    st.one_of(st.none(), st.dates()),
    st.lists(
        st.tuples(st.sampled_from(["com.whatsapp", "com.example.field", "x"]), _TEXT), max_size=4
    ),
)
def test_matching_never_raises(
    platform: Platform,
    os_version: str,
    model: str,
    level: date | None,
    apps: list[tuple[str, str]],
) -> None:
    facts = DeviceFacts(
        platform=platform,
        scenario=EnrollmentScenario.ANDROID_WORK_PROFILE,
        os_version=os_version,
        model=model,
        security_patch_level=level,
        apps=tuple(AppInfo(identifier, version) for identifier, version in apps),
    )
    report = match_device_report(FULL_INDEX, facts, APP_MAPPING)
    assert all(isinstance(finding, VulnFinding) for finding in report.findings)
