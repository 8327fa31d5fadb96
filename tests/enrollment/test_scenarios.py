"""The seed's Android and iOS enrollment tables, row by row, and the enrollment rules."""

from __future__ import annotations

from datetime import date

import pytest

from openmtd.domain.enums import EnrollmentScenario as S
from openmtd.domain.enums import OnboardingMode, Platform, ProtectionScope
from openmtd.enrollment.scenarios import (
    SCENARIOS,
    EnrollmentRefused,
    check_enrollment,
    spec_for,
    supported_scenarios,
)

A, IOS = Platform.ANDROID, Platform.IOS
WP, PP, ED = (
    ProtectionScope.WORK_PROFILE,
    ProtectionScope.PERSONAL_PROFILE,
    ProtectionScope.ENTIRE_DEVICE,
)
EA, WD = ProtectionScope.ENROLLED_APPS, ProtectionScope.WORK_DATA
LOW, ZERO, MANUAL = OnboardingMode.LOW_TOUCH, OnboardingMode.ZERO_TOUCH, OnboardingMode.MANUAL

# (scenario, platform, supported, company portal, protects, onboarding) — PRODUCT.md and the
# seed's tables ("Is the company portal app required on the device?").
TABLE = [
    (S.ANDROID_WORK_PROFILE, A, True, "required", WP, LOW),
    (S.ANDROID_PERSONAL_PROFILE, A, True, "required", PP, MANUAL),
    (S.ANDROID_COPE, A, True, "required", WP, LOW),
    (S.ANDROID_CORPORATE_PERSONAL_PROFILE, A, False, "-", None, MANUAL),
    (S.ANDROID_COBO, A, True, "required", ED, LOW),
    (S.ANDROID_COSU, A, False, "-", None, MANUAL),
    (S.ANDROID_MAM, A, True, "install only", EA, MANUAL),
    (S.ANDROID_DEVICE_ADMIN, A, True, "required", ED, MANUAL),
    (S.ANDROID_AOSP, A, False, "-", None, MANUAL),
    (S.IOS_SUPERVISED, IOS, True, "required", ED, ZERO),
    (S.IOS_DEVICE_ENROLLMENT, IOS, True, "required", ED, ZERO),
    (S.IOS_USER_ENROLLMENT, IOS, True, "required", WD, MANUAL),
    (S.IOS_MAM, IOS, True, "not required", EA, MANUAL),
    (S.IOS_SHARED, IOS, False, "-", None, MANUAL),
]
TODAY = date(2026, 11, 26)


def test_the_table_covers_every_scenario_exactly_once() -> None:
    assert [row[0] for row in TABLE] == list(S)
    assert set(SCENARIOS) == set(S)


@pytest.mark.parametrize(("scenario", "platform", "supported", "portal", "scope", "mode"), TABLE)
def test_row_matches_the_seed(
    scenario: S,
    platform: Platform,
    supported: bool,
    portal: str,
    scope: ProtectionScope | None,
    mode: OnboardingMode,
) -> None:
    spec = spec_for(scenario)
    assert spec.scenario is scenario
    assert spec.platform is platform
    assert spec.supported is supported
    assert spec.company_portal == portal
    assert spec.company_portal_required is (portal in {"required", "install only"})
    assert spec.scope is scope
    assert spec.onboarding is mode
    if supported:
        assert spec.refusal == ""
    else:
        assert spec.refusal, "an unsupported row must say why"


def test_low_touch_and_zero_touch_sets() -> None:
    low = {s for s, spec in SCENARIOS.items() if spec.onboarding is LOW}
    zero = {s for s, spec in SCENARIOS.items() if spec.onboarding is ZERO}
    assert low == {S.ANDROID_WORK_PROFILE, S.ANDROID_COPE, S.ANDROID_COBO}
    assert zero == {S.IOS_SUPERVISED, S.IOS_DEVICE_ENROLLMENT}
    assert all(SCENARIOS[s].platform is A for s in low)
    assert all(SCENARIOS[s].platform is IOS for s in zero)


def test_supported_scenarios_by_platform() -> None:
    assert {s.scenario for s in supported_scenarios(A)} == {
        S.ANDROID_WORK_PROFILE,
        S.ANDROID_PERSONAL_PROFILE,
        S.ANDROID_COPE,
        S.ANDROID_COBO,
        S.ANDROID_MAM,
        S.ANDROID_DEVICE_ADMIN,
    }
    assert {s.scenario for s in supported_scenarios(IOS)} == {
        S.IOS_SUPERVISED,
        S.IOS_DEVICE_ENROLLMENT,
        S.IOS_USER_ENROLLMENT,
        S.IOS_MAM,
    }
    assert len(supported_scenarios()) == 10


@pytest.mark.parametrize(
    ("scenario", "why"),
    [
        (S.ANDROID_CORPORATE_PERSONAL_PROFILE, "personal profile of a corporate-owned device"),
        (S.ANDROID_COSU, "dedicated, kiosk and shared Android devices are not supported"),
        (S.ANDROID_AOSP, "AOSP devices (no Google Mobile Services) are not supported"),
        (S.IOS_SHARED, "dedicated, shared and kiosk iOS devices are not supported"),
    ],
)
def test_unsupported_scenarios_are_refused_naming_the_scenario_and_why(
    scenario: S, why: str
) -> None:
    spec = SCENARIOS[scenario]
    with pytest.raises(EnrollmentRefused) as info:
        check_enrollment(scenario, spec.platform, today=TODAY, work_profile_active=True)
    message = str(info.value)
    assert f"{scenario.value!r}" in message
    assert spec.title in message
    assert "is not supported" in message and why in message
    assert info.value.code == "enrollment_refused"
    assert info.value.status == 422


@pytest.mark.parametrize(("scenario", "platform"), [(row[0], row[1]) for row in TABLE])
def test_platform_mismatch_is_refused(scenario: S, platform: Platform) -> None:
    other = IOS if platform is A else A
    with pytest.raises(EnrollmentRefused) as info:
        check_enrollment(scenario, other, today=TODAY, work_profile_active=True)
    assert str(info.value) == (
        f"scenario {scenario.value!r} ({SCENARIOS[scenario].title}) is a {platform.value} "
        f"scenario, but the device reports platform {other.value!r}"
    )


@pytest.mark.parametrize("row", [r for r in TABLE if r[2]], ids=lambda r: r[0].value)
def test_supported_scenarios_enroll_with_their_scope(row: tuple[object, ...]) -> None:
    scenario, platform, _sup, _portal, scope, _mode = row
    assert isinstance(scenario, S) and isinstance(platform, Platform)
    decision = check_enrollment(scenario, platform, today=TODAY, work_profile_active=True)
    assert decision.scope is scope
    assert decision.spec is SCENARIOS[scenario]


def test_personal_profile_needs_an_active_work_profile() -> None:
    with pytest.raises(EnrollmentRefused) as info:
        check_enrollment(S.ANDROID_PERSONAL_PROFILE, A, today=TODAY)
    message = str(info.value)
    assert "'android-personal-profile'" in message
    assert "requires the agent to be enrolled and active in this device's work profile" in message
    assert "'android-work-profile'" in message

    decision = check_enrollment(
        S.ANDROID_PERSONAL_PROFILE, A, today=TODAY, work_profile_active=True
    )
    assert decision.scope is PP
    assert decision.warnings == (
        "this agent protects the personal profile; with the agent active in the work profile, "
        "the two together protect the entire device",
    )


def test_other_scenarios_do_not_need_a_work_profile() -> None:
    assert check_enrollment(S.ANDROID_WORK_PROFILE, A, today=TODAY).warnings == ()
    assert check_enrollment(S.IOS_SUPERVISED, IOS, today=TODAY).warnings == ()


@pytest.mark.parametrize(
    ("today", "state"),
    [(date(2024, 12, 30), "ends"), (date(2024, 12, 31), "ends"), (date(2025, 1, 1), "ended")],
)
def test_device_administrator_enrolls_with_a_deprecation_warning(today: date, state: str) -> None:
    decision = check_enrollment(S.ANDROID_DEVICE_ADMIN, A, today=today)
    assert decision.scope is ED
    (warning,) = decision.warnings
    assert "'android-device-admin' (Device Administrator) is deprecated" in warning
    assert f"Google Mobile Services in this mode {state} on 2024-12-31" in warning
    assert "move the device to Android Enterprise" in warning
