"""Recommendations on a hand-built fleet: exact titles, targets, counts and ranking."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmtd.domain.device import AppInfo, DeviceFacts
from openmtd.domain.enums import EnrollmentScenario, Platform
from openmtd.domain.vulns import (
    EpssScore,
    Product,
    VersionRange,
    VulnFinding,
    VulnRecord,
    VulnSource,
)
from openmtd.engines.vulns.recommendations import (
    DeviceContext,
    Recommendation,
    RecommendationKind,
    recommend,
)
from openmtd.engines.vulns.scoring import SeverityBasis, VulnSeverity, exposure_for_ids

TELEGRAM = "org.telegram.messenger"
TELEGRAM_CPE = "cpe:2.3:a:telegram:telegram"


def sev(vuln_id: str, base: float, exploited: bool = False, epss: float = 0.01) -> VulnSeverity:
    return VulnSeverity(
        vuln_id=vuln_id,
        base=base,
        severity="x",
        basis=SeverityBasis.CVSS,
        exploited=exploited,
        epss=EpssScore(vuln_id, epss, 0.5),
    )


SEVERITIES = {
    s.vuln_id: s
    for s in (
        sev("CVE-2024-0001", 7.8, exploited=True),
        sev("CVE-2024-0002", 5.5),
        sev("CVE-2024-0003", 8.8),
        sev("CVE-2024-0004", 9.8, exploited=True),
        sev("CVE-2024-0010", 7.8),
        sev("CVE-2024-0011", 9.8, epss=0.6),
        sev("CVE-2024-0012", 5.5),
        sev("CVE-2024-0020", 8.1),
        sev("CVE-2024-0030", 9.8, exploited=True),
    )
}


def os_finding(
    cve: str, product: Product, installed: str, end: str | None, inclusive: bool = False
) -> VulnFinding:
    return VulnFinding(
        cve,
        (cve,),
        product,
        "",
        "",
        installed,
        VersionRange(end=end, end_inclusive=inclusive),
        VulnSource.NVD,
    )


def app_finding(
    cve: str, installed: str, end: str | None, identifier: str = TELEGRAM
) -> VulnFinding:
    return VulnFinding(
        cve,
        (cve,),
        Product.APP,
        TELEGRAM_CPE,
        identifier,
        installed,
        VersionRange(end=end),
        VulnSource.NVD,
    )


def ios(version: str, product: Product = Product.IOS) -> DeviceContext:
    return DeviceContext(product, version.split(".")[0], version)


def android(major: str, level: str, **apps: str) -> DeviceContext:
    return DeviceContext(Product.ANDROID, major, f"{major}:{level}", apps)


Fleet = list[tuple[str, DeviceContext, Sequence[VulnFinding]]]


def fleet() -> Fleet:
    i, pad, a = Product.IOS, Product.IPADOS, Product.ANDROID
    return [
        (
            "ios-1",
            ios("17.3"),
            [
                os_finding("CVE-2024-0001", i, "17.3", "17.4.1"),
                os_finding("CVE-2024-0002", i, "17.3", "17.4"),
                os_finding("CVE-2024-0030", i, "17.3", None),  # no fix yet
            ],
        ),
        ("ios-2", ios("17.4"), [os_finding("CVE-2024-0001", i, "17.4", "17.4.1")]),
        ("ios-3", ios("17.4"), [os_finding("CVE-2024-0001", i, "17.4", "17.4.1")]),
        # an iPad matched against the iOS ranges of a record that names no iPadOS
        ("ipad-1", ios("17.4", pad), [os_finding("CVE-2024-0001", i, "17.4", "17.4.1")]),
        (
            "ios-4",
            ios("16.7"),
            [
                os_finding("CVE-2024-0003", i, "16.7", "16.7.8"),
                os_finding("CVE-2024-0004", i, "16.7", "18.2"),  # fixed in 18 only
            ],
        ),
        (
            "and-1",
            android("14", "2024-01-01", **{TELEGRAM: "Telegram"}),
            [
                os_finding("CVE-2024-0010", a, "14:2024-01-01", "14:2024-02-01"),
                os_finding("CVE-2024-0011", a, "14:2024-01-01", "14:2024-03-01"),
                os_finding("CVE-2024-0012", a, "14:2024-01-01", ":2024-02-05"),  # kernel
                app_finding("CVE-2024-0020", "10.0", "10.14.5"),
            ],
        ),
        (
            "and-2",
            android("14", "2024-02-01"),
            [os_finding("CVE-2024-0011", a, "14:2024-02-01", "14:2024-03-01")],
        ),
    ]


def by_title(recommendations: list[Recommendation]) -> dict[str, Recommendation]:
    return {r.title: r for r in recommendations}


def test_titles_of_the_hand_built_fleet() -> None:
    titles = [r.title for r in recommend(fleet(), {}, SEVERITIES)]
    assert sorted(titles) == sorted(
        [
            "Update iOS to 17.4.1: fixes 2 CVEs, 1 actively exploited, on 3 devices",
            "Update iPadOS to 17.4.1: fixes 1 CVE, 1 actively exploited, on 1 device",
            "Update iOS to 16.7.8: fixes 1 CVE on 1 device",
            "Update iOS to 18.2: fixes 1 CVE, 1 actively exploited, on 1 device",
            "Update Android 14 devices to security patch level 2024-03-01 or later: "
            "fixes 3 CVEs on 2 devices",
            "Update Telegram (org.telegram.messenger) to 10.14.5 or later: fixes 1 CVE on 1 device",
            "No fix available yet for iOS 17: 1 CVE, 1 actively exploited, on 1 device",
        ]
    )


def test_fields_of_one_recommendation() -> None:
    recommendations = by_title(recommend(fleet(), {}, SEVERITIES))
    update = recommendations[
        "Update iOS to 17.4.1: fixes 2 CVEs, 1 actively exploited, on 3 devices"
    ]
    assert update.kind is RecommendationKind.UPDATE_OS
    assert (update.product, update.subject, update.line) == (Product.IOS, "iOS", "17")
    assert (update.target_version, update.target_is_after) == ("17.4.1", False)
    assert update.cve_ids == ("CVE-2024-0001", "CVE-2024-0002")
    assert update.exploited_ids == ("CVE-2024-0001",)
    assert (update.exploited_count, update.device_count) == (1, 3)
    assert update.device_ids == ("ios-1", "ios-2", "ios-3")
    assert update.id.startswith("rec-")
    assert len(update.id) == 20
    android_update = next(r for r in recommendations.values() if r.product is Product.ANDROID)
    assert (android_update.target_version, android_update.line) == ("2024-03-01", "14")
    assert android_update.subject == "Android 14"
    app = next(r for r in recommendations.values() if r.product is Product.APP)
    assert (app.kind, app.app_identifier, app.package) == (
        RecommendationKind.UPDATE_APP,
        TELEGRAM,
        TELEGRAM_CPE,
    )
    no_fix = next(r for r in recommendations.values() if r.kind is RecommendationKind.NO_FIX)
    assert (no_fix.target_version, no_fix.subject, no_fix.device_ids) == ("", "iOS 17", ("ios-1",))


def _impact(devices: Fleet, removed: dict[str, set[str]]) -> float:
    total = 0.0
    for device_id, _context, findings in devices:
        everything = {cve for f in findings for cve in f.cve_ids}
        if removed.get(device_id):
            kept = everything - removed[device_id]
            total += (
                exposure_for_ids(everything, SEVERITIES).exact
                - exposure_for_ids(kept, SEVERITIES).exact
            )
    return total


def test_impact_is_the_exposure_removed_summed_over_devices() -> None:
    recommendations = by_title(recommend(fleet(), {}, SEVERITIES))
    update = recommendations[
        "Update iOS to 17.4.1: fixes 2 CVEs, 1 actively exploited, on 3 devices"
    ]
    expected = _impact(
        fleet(),
        {
            "ios-1": {"CVE-2024-0001", "CVE-2024-0002"},
            "ios-2": {"CVE-2024-0001"},
            "ios-3": {"CVE-2024-0001"},
        },
    )
    assert update.impact == pytest.approx(expected, abs=1e-4)
    # ios-2 and ios-3 lose their exploited 7.8 (70.2 each); ios-1 goes from its exploited 9.8,
    # exploited 7.8 and 5.5 (factors 0.118, 0.4033, 0.9284725: 95.58) to the 9.8 alone (88.2).
    ios_1_before = 100 * (1 - 0.118 * (1 - 0.9 * 0.78 * 0.85) * (1 - 0.9 * 0.11 * 0.85**2))
    assert update.impact == pytest.approx(70.2 * 2 + ios_1_before - 88.2, abs=1e-4)
    assert update.impact == pytest.approx(147.78, abs=1e-2)


def test_ranking_updates_by_impact_then_no_fix() -> None:
    ranked = recommend(fleet(), {}, SEVERITIES)
    assert [r.kind for r in ranked][-1] is RecommendationKind.NO_FIX
    updates = ranked[:-1]
    impacts = [r.impact for r in updates]
    assert impacts == sorted(impacts, reverse=True)
    assert [r.title.split(":")[0] for r in ranked] == [
        "Update iOS to 17.4.1",
        "Update Android 14 devices to security patch level 2024-03-01 or later",
        "Update iOS to 18.2",
        "Update iPadOS to 17.4.1",
        "Update Telegram (org.telegram.messenger) to 10.14.5 or later",
        "Update iOS to 16.7.8",
        "No fix available yet for iOS 17",
    ]


def test_ties_are_broken_by_exploited_then_size_then_id() -> None:
    severities = {
        "CVE-2024-0100": sev("CVE-2024-0100", 0.0, exploited=True),
        "CVE-2024-0101": sev("CVE-2024-0101", 0.0),
        "CVE-2024-0102": sev("CVE-2024-0102", 0.0),
    }
    devices: Fleet = [
        ("a", ios("17.4"), [os_finding("CVE-2024-0101", Product.IOS, "17.4", "17.5")]),
        (
            "b",
            ios("16.7"),
            [
                os_finding("CVE-2024-0101", Product.IOS, "16.7", "16.7.8"),
                os_finding("CVE-2024-0102", Product.IOS, "16.7", "16.7.8"),
            ],
        ),
        ("c", ios("15.8"), [os_finding("CVE-2024-0100", Product.IOS, "15.8", "15.8.3")]),
    ]
    ranked = recommend(devices, {}, severities)
    assert [r.impact for r in ranked] == [0.0, 0.0, 0.0]
    assert [r.target_version for r in ranked] == ["15.8.3", "16.7.8", "17.5"]


def test_the_same_fleet_in_another_order_gives_the_same_answer() -> None:
    forward = recommend(fleet(), {}, SEVERITIES)
    backward = recommend(list(reversed(fleet())), {}, SEVERITIES)
    assert forward == backward
    assert len({r.id for r in forward}) == len(forward)


def test_inclusive_ends_give_a_version_after() -> None:
    i, a = Product.IOS, Product.ANDROID
    devices: Fleet = [
        (
            "ios-1",
            ios("17.3"),
            [
                os_finding("CVE-2024-0001", i, "17.3", "17.4.1"),
                os_finding("CVE-2024-0002", i, "17.3", "17.5", inclusive=True),
            ],
        ),
        (
            "and-1",
            android("14", "2024-01-01"),
            [os_finding("CVE-2024-0010", a, "14:2024-01-01", "14:2024-02-01", inclusive=True)],
        ),
        (
            "and-2",
            android("13", "2024-01-01", **{TELEGRAM: "Telegram"}),
            [
                VulnFinding(
                    "CVE-2024-0020",
                    ("CVE-2024-0020",),
                    Product.APP,
                    TELEGRAM_CPE,
                    TELEGRAM,
                    "10.0",
                    VersionRange(end="10.14.5", end_inclusive=True),
                    VulnSource.OSV,
                )
            ],
        ),
    ]
    titles = {r.title for r in recommend(devices, {}, SEVERITIES)}
    assert titles == {
        "Update iOS to a version after 17.5: fixes 2 CVEs, 1 actively exploited, on 1 device",
        "Update Android 14 devices to a security patch level after 2024-02-01: "
        "fixes 1 CVE on 1 device",
        "Update Telegram (org.telegram.messenger) to a version after 10.14.5: "
        "fixes 1 CVE on 1 device",
    }


def test_an_exclusive_end_above_an_inclusive_one_is_the_target() -> None:
    devices: Fleet = [
        (
            "ios-1",
            ios("17.3"),
            [
                os_finding("CVE-2024-0001", Product.IOS, "17.3", "17.4", inclusive=True),
                os_finding("CVE-2024-0002", Product.IOS, "17.3", "17.4.1"),
            ],
        )
    ]
    (only,) = recommend(devices, {}, SEVERITIES)
    assert (only.target_version, only.target_is_after) == ("17.4.1", False)


def test_records_without_cve_and_exploited_records_without_severity() -> None:
    records = {
        "ASB-A-1": VulnRecord("ASB-A-1", VulnSource.OSV, exploited=True),
        "ASB-A-2": VulnRecord("ASB-A-2", VulnSource.OSV),
    }
    finding = VulnFinding(
        "ASB-A-1",
        (),
        Product.ANDROID,
        "",
        "",
        "14:2024-01-01",
        VersionRange(end="14:2024-02-01"),
        VulnSource.OSV,
    )
    other = VulnFinding(
        "ASB-A-2",
        (),
        Product.ANDROID,
        "",
        "",
        "14:2024-01-01",
        VersionRange(end=None),
        VulnSource.OSV,
    )
    titles = [
        r.title
        for r in recommend([("p", android("14", "2024-01-01"), [finding, other])], records, {})
    ]
    assert titles == [
        "Update Android 14 devices to security patch level 2024-02-01 or later: "
        "fixes 1 vulnerability, 1 actively exploited, on 1 device",
        "No fix available yet for Android 14: 1 vulnerability on 1 device",
    ]


def test_app_name_without_a_reported_name_comes_from_the_product() -> None:
    devices: Fleet = [
        ("x", android("14", "2024-01-01"), [app_finding("CVE-2024-0020", "10.0", "10.14.5")]),
        ("y", android("14", "2024-01-01"), [app_finding("CVE-2024-0020", "10.0", None)]),
    ]
    titles = [r.title for r in recommend(devices, {}, SEVERITIES)]
    assert titles == [
        "Update Telegram (org.telegram.messenger) to 10.14.5 or later: fixes 1 CVE on 1 device",
        "No fix available yet for Telegram (org.telegram.messenger): 1 CVE on 1 device",
    ]


def test_the_most_reported_app_name_wins() -> None:
    finding = app_finding("CVE-2024-0020", "10.0", "10.14.5")
    devices: Fleet = [
        ("a", android("14", "2024-01-01", **{TELEGRAM: "Telegram X"}), [finding]),
        ("b", android("14", "2024-01-01", **{TELEGRAM: "Telegram"}), [finding]),
        ("c", android("14", "2024-01-01", **{TELEGRAM: "Telegram"}), [finding]),
    ]
    (only,) = recommend(devices, {}, SEVERITIES)
    assert only.subject == "Telegram (org.telegram.messenger)"


def test_empty_fleet_has_no_recommendations() -> None:
    assert recommend([], {}, {}) == []
    assert recommend([("a", ios("17.4"), [])], {}, {}) == []


def test_context_from_device_facts() -> None:
    ipad = DeviceFacts(
        platform=Platform.IOS,
        scenario=EnrollmentScenario.IOS_USER_ENROLLMENT,
        os_version="17.4.1",
        model="iPad14,1",
    )
    assert DeviceContext.from_facts(ipad) == DeviceContext(Product.IPADOS, "17", "17.4.1", {})
    pixel = DeviceFacts(
        platform=Platform.ANDROID,
        scenario=EnrollmentScenario.ANDROID_WORK_PROFILE,
        os_version="14",
        model="Pixel 8",
        security_patch_level=date(2024, 1, 5),
        apps=(AppInfo(TELEGRAM, "10.0", "Telegram"), AppInfo("com.example", "1.0")),
    )
    assert DeviceContext.from_facts(pixel) == DeviceContext(
        Product.ANDROID, "14", "14:2024-01-05", {TELEGRAM: "Telegram"}
    )


_VERSION_TEXT = st.none() | st.sampled_from(["17.4.1", "14:2024-03-01", ":2024-02-05", "x", ""])


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(Product)),
            st.text(max_size=12) | _VERSION_TEXT,
            st.booleans(),
            st.text(max_size=6),
        ),
        max_size=12,
    ),
    st.sampled_from(list(Product)),
    st.text(max_size=8),
)
def test_hostile_findings_never_raise(
    items: list[tuple[Product, str | None, bool, str]], device_product: Product, line: str
) -> None:
    findings = [
        VulnFinding(
            cve,
            (cve,) if cve.startswith("CVE-") else (),
            product,
            "weird package",
            "id",
            "?",
            VersionRange(end=end, end_inclusive=inclusive),
            VulnSource.NVD,
        )
        for product, end, inclusive, cve in items
    ]
    context = DeviceContext(device_product, line, "?")
    for recommendation in recommend([("d", context, findings)], {}, {}):
        assert recommendation.title
        assert recommendation.impact >= 0.0
