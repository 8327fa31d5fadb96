"""The reference product's Android and iOS enrollment tables, as data, and the rules over them.

Each row is transcribed from the seed document (../shared/seed): whether the scenario is
supported, whether the company portal app must be on the device, what the agent protects, the
prerequisites, and whether low-touch (Android) or zero-touch (iOS) onboarding applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from openmtd.domain.enums import EnrollmentScenario as S
from openmtd.domain.enums import OnboardingMode, Platform, ProtectionScope
from openmtd.domain.errors import InvalidInput


class EnrollmentRefused(InvalidInput):
    """The scenario cannot be enrolled; the message names it and says why."""

    code = "enrollment_refused"


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    scenario: S
    platform: Platform
    title: str
    supported: bool
    company_portal: str  # "required", "install only", "not required", or "-" when unsupported
    scope: ProtectionScope | None
    onboarding: OnboardingMode
    notes: str = ""
    refusal: str = ""  # why an unsupported scenario is refused
    deprecated_after: date | None = None
    requires_work_profile: bool = False

    @property
    def company_portal_required(self) -> bool:
        return self.company_portal in {"required", "install only"}


_ROWS: tuple[ScenarioSpec, ...] = (
    ScenarioSpec(
        S.ANDROID_WORK_PROFILE,
        Platform.ANDROID,
        "Android Enterprise personally owned devices using a work profile",
        True,
        "required",
        ProtectionScope.WORK_PROFILE,
        OnboardingMode.LOW_TOUCH,
        notes="Protects only the work profile.",
    ),
    ScenarioSpec(
        S.ANDROID_PERSONAL_PROFILE,
        Platform.ANDROID,
        "Android Enterprise personally owned devices using a personal profile",
        True,
        "required",
        ProtectionScope.PERSONAL_PROFILE,
        OnboardingMode.MANUAL,
        notes=(
            "Protects the personal profile; together with the work profile the whole device. "
            "The company portal must be enabled on the personal profile."
        ),
        requires_work_profile=True,
    ),
    ScenarioSpec(
        S.ANDROID_COPE,
        Platform.ANDROID,
        "Android Enterprise corporate owned work profile (COPE)",
        True,
        "required",
        ProtectionScope.WORK_PROFILE,
        OnboardingMode.LOW_TOUCH,
        notes="Protects only the work profile; company portal and MDM app are auto-installed.",
    ),
    ScenarioSpec(
        S.ANDROID_CORPORATE_PERSONAL_PROFILE,
        Platform.ANDROID,
        "Android Enterprise corporate owned personal profile",
        False,
        "-",
        None,
        OnboardingMode.MANUAL,
        refusal="the reference product does not support protecting the personal profile of a "
        "corporate-owned device",
    ),
    ScenarioSpec(
        S.ANDROID_COBO,
        Platform.ANDROID,
        "Android Enterprise corporate owned fully managed - no work profile (COBO)",
        True,
        "required",
        ProtectionScope.ENTIRE_DEVICE,
        OnboardingMode.LOW_TOUCH,
        notes="Protects the entire device; company portal and MDM app are auto-installed.",
    ),
    ScenarioSpec(
        S.ANDROID_COSU,
        Platform.ANDROID,
        "Android Enterprise corporate owned dedicated devices (COSU) (Kiosk/Shared)",
        False,
        "-",
        None,
        OnboardingMode.MANUAL,
        refusal="dedicated, kiosk and shared Android devices are not supported",
    ),
    ScenarioSpec(
        S.ANDROID_MAM,
        Platform.ANDROID,
        "MAM (app protection without or with device enrollment)",
        True,
        "install only",
        ProtectionScope.ENROLLED_APPS,
        OnboardingMode.MANUAL,
        notes="Protects only enrolled apps; works with or without device enrollment or a "
        "third-party EMM. The company portal only needs to be installed.",
    ),
    ScenarioSpec(
        S.ANDROID_DEVICE_ADMIN,
        Platform.ANDROID,
        "Device Administrator",
        True,
        "required",
        ProtectionScope.ENTIRE_DEVICE,
        OnboardingMode.MANUAL,
        notes="Legacy management mode.",
        deprecated_after=date(2024, 12, 31),
    ),
    ScenarioSpec(
        S.ANDROID_AOSP,
        Platform.ANDROID,
        "Android Open-Source Project (AOSP)",
        False,
        "-",
        None,
        OnboardingMode.MANUAL,
        refusal="AOSP devices (no Google Mobile Services) are not supported",
    ),
    ScenarioSpec(
        S.IOS_SUPERVISED,
        Platform.IOS,
        "Supervised Devices (ADE and Apple Configurator Enrollment)",
        True,
        "required",
        ProtectionScope.ENTIRE_DEVICE,
        OnboardingMode.ZERO_TOUCH,
        notes="Protects the entire device. With ADE just-in-time registration the company "
        "portal is not needed.",
    ),
    ScenarioSpec(
        S.IOS_DEVICE_ENROLLMENT,
        Platform.IOS,
        "Unsupervised Devices (Device Enrollment)",
        True,
        "required",
        ProtectionScope.ENTIRE_DEVICE,
        OnboardingMode.ZERO_TOUCH,
        notes="Protects the entire device. Web-based device enrollment needs no company portal.",
    ),
    ScenarioSpec(
        S.IOS_USER_ENROLLMENT,
        Platform.IOS,
        "Unsupervised Devices (User Enrollment)",
        True,
        "required",
        ProtectionScope.WORK_DATA,
        OnboardingMode.MANUAL,
        notes="Protects work data only (the VPN still sees all app traffic).",
    ),
    ScenarioSpec(
        S.IOS_MAM,
        Platform.IOS,
        "MAM (app protection)",
        True,
        "not required",
        ProtectionScope.ENROLLED_APPS,
        OnboardingMode.MANUAL,
        notes="Protects only enrolled apps (the VPN still sees all app traffic).",
    ),
    ScenarioSpec(
        S.IOS_SHARED,
        Platform.IOS,
        "Dedicated/Shared/Kiosk Devices",
        False,
        "-",
        None,
        OnboardingMode.MANUAL,
        refusal="dedicated, shared and kiosk iOS devices are not supported",
    ),
)

SCENARIOS: dict[S, ScenarioSpec] = {row.scenario: row for row in _ROWS}


def spec_for(scenario: S) -> ScenarioSpec:
    return SCENARIOS[scenario]


def supported_scenarios(platform: Platform | None = None) -> list[ScenarioSpec]:
    return [r for r in _ROWS if r.supported and (platform is None or r.platform is platform)]


@dataclass(frozen=True, slots=True)
class EnrollmentDecision:
    """The outcome of a successful enrollment check."""

    spec: ScenarioSpec
    scope: ProtectionScope
    warnings: tuple[str, ...]


def check_scenario(scenario: S, platform: Platform) -> ScenarioSpec:
    """The scenario's row if a `platform` device may enroll in it at all; else EnrollmentRefused.

    Needs nothing but the request, so the server answers it before looking at the token.
    """
    spec = SCENARIOS[scenario]
    if spec.platform is not platform:
        raise EnrollmentRefused(
            f"scenario {scenario.value!r} ({spec.title}) is a {spec.platform.value} scenario, "
            f"but the device reports platform {platform.value!r}"
        )
    if not spec.supported:
        raise EnrollmentRefused(
            f"scenario {scenario.value!r} ({spec.title}) is not supported: {spec.refusal}"
        )
    return spec


def check_enrollment(
    scenario: S,
    platform: Platform,
    *,
    today: date,
    work_profile_active: bool = False,
) -> EnrollmentDecision:
    """Decide whether a device may enroll in `scenario`; raise EnrollmentRefused otherwise.

    `work_profile_active` says whether the same physical device already runs an active agent
    in its work profile (checked by the caller against the store).
    """
    spec = check_scenario(scenario, platform)
    assert spec.scope is not None  # every supported row has a scope
    warnings: list[str] = []
    if spec.requires_work_profile:
        if not work_profile_active:
            raise EnrollmentRefused(
                f"scenario {scenario.value!r} ({spec.title}) requires the agent to be enrolled "
                "and active in this device's work profile first; enroll the work profile "
                f"({S.ANDROID_WORK_PROFILE.value!r}) and retry"
            )
        warnings.append(
            "this agent protects the personal profile; with the agent active in the work "
            "profile, the two together protect the entire device"
        )
    if spec.deprecated_after is not None:
        state = "ended" if today > spec.deprecated_after else "ends"
        warnings.append(
            f"scenario {scenario.value!r} ({spec.title}) is deprecated: management of devices "
            f"with Google Mobile Services in this mode {state} on "
            f"{spec.deprecated_after.isoformat()}; move the device to Android Enterprise "
            "(work profile or fully managed)"
        )
    return EnrollmentDecision(spec, spec.scope, tuple(warnings))
