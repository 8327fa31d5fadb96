"""Device compliance and the MDM partner health state, from a policy and the device's facts.

A compliance policy applies to one device group (or to every group without a policy of its
own). A device is compliant when its threat level is at or under the policy's allowed level, its
OS is at least the policy's minimum for its platform, it is onboarded (when the policy requires
onboarding) and, when the policy says so, it has checked in within the last N days.

Unresponsiveness is a matter of time alone, so it is not part of the stored verdict: the verdict
carries the moment the device becomes unresponsive (`unresponsive_after`) and whether that makes
it noncompliant, and `is_compliant(now)` / `partner_state(now)` finish the answer at read time.
A device that stops checking in thus becomes noncompliant at exactly the right second without a
sweep having to run first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from openmtd.domain.enums import Platform, RiskLevel
from openmtd.engines.risk import is_at_or_under
from openmtd.engines.vulns.versions import compare, parse_version


class UnresponsiveAction(StrEnum):
    """What a device that stopped checking in is, as the reference's partner-unresponsive rule."""

    NONCOMPLIANT = "noncompliant"
    IGNORE = "ignore"


class PartnerState(StrEnum):
    """The device health states an MDM partner integration reports (the reference's names)."""

    UNKNOWN = "unknown"
    ACTIVATED = "activated"
    DEACTIVATED = "deactivated"
    SECURED = "secured"
    LOW_SEVERITY = "lowSeverity"
    MEDIUM_SEVERITY = "mediumSeverity"
    HIGH_SEVERITY = "highSeverity"
    UNRESPONSIVE = "unresponsive"
    COMPROMISED = "compromised"
    MISCONFIGURED = "misconfigured"


_STATE_FOR_LEVEL = {
    RiskLevel.SECURED: PartnerState.SECURED,
    RiskLevel.LOW: PartnerState.LOW_SEVERITY,
    RiskLevel.MEDIUM: PartnerState.MEDIUM_SEVERITY,
    RiskLevel.HIGH: PartnerState.HIGH_SEVERITY,
}

DEFAULT_POLICY_NAME = "default"


@dataclass(frozen=True, slots=True)
class CompliancePolicy:
    name: str
    max_risk: RiskLevel = RiskLevel.LOW
    require_onboarding: bool = True
    unresponsive_days: int = 7
    unresponsive_action: UnresponsiveAction = UnresponsiveAction.NONCOMPLIANT
    min_os_android: str | None = None
    min_os_ios: str | None = None
    device_group: str | None = None  # None: every group without a policy of its own

    def min_os(self, platform: Platform) -> str | None:
        return self.min_os_android if platform is Platform.ANDROID else self.min_os_ios

    def fingerprint(self) -> str:
        """Changes whenever anything that decides compliance changes (stale verdicts are redone)."""
        return "|".join(
            str(part)
            for part in (
                self.name,
                self.max_risk.value,
                int(self.require_onboarding),
                self.unresponsive_days,
                self.unresponsive_action.value,
                self.min_os_android or "",
                self.min_os_ios or "",
            )
        )


def policy_for_group(policies: Iterable[CompliancePolicy], group: str) -> CompliancePolicy | None:
    """The group's own policy, else the all-groups one (None when neither exists)."""
    fallback = None
    for policy in policies:
        if policy.device_group == group:
            return policy
        if policy.device_group is None:
            fallback = policy
    return fallback


@dataclass(frozen=True, slots=True)
class ComplianceFacts:
    """What the policy is checked against; `protection_issues`: what the agent reports as not
    set up (a missing VPN permission, notifications off ...), which makes it misconfigured."""

    platform: Platform
    os_version: str
    risk_level: RiskLevel
    risk_reason: str
    last_seen_at: datetime
    onboarded: bool = True
    checked_in: bool = True
    compromised: bool = False
    protection_issues: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # risk, os_version, not_onboarded, unresponsive
    text: str


@dataclass(frozen=True, slots=True)
class ComplianceVerdict:
    """The time-independent part of compliance plus what time adds to it."""

    policy: str
    reasons: tuple[Reason, ...]  # without unresponsiveness, which depends on `now`
    unresponsive_after: datetime
    unresponsive_noncompliant: bool
    base_state: PartnerState  # the partner state while the device is responsive
    last_seen_at: datetime
    unresponsive_days: int

    def is_unresponsive(self, now: datetime) -> bool:
        return now > self.unresponsive_after

    def all_reasons(self, now: datetime) -> tuple[Reason, ...]:
        if self.unresponsive_noncompliant and self.is_unresponsive(now):
            return (*self.reasons, unresponsive_reason(self.unresponsive_days, self.last_seen_at))
        return self.reasons

    def is_compliant(self, now: datetime) -> bool:
        return not self.all_reasons(now)

    def partner_state(self, now: datetime) -> PartnerState:
        return partner_state_at(self.base_state, unresponsive=self.is_unresponsive(now))


def unresponsive_reason(days: int, last_seen_at: datetime) -> Reason:
    return Reason(
        "unresponsive",
        f"unresponsive: no check-in for more than {days} days "
        f"(last seen {last_seen_at:%Y-%m-%d %H:%M} UTC)",
    )


def partner_state_at(base: PartnerState, *, unresponsive: bool) -> PartnerState:
    """Deactivated (no longer onboarded) beats unresponsive, which beats everything else."""
    if base is PartnerState.DEACTIVATED:
        return base
    return PartnerState.UNRESPONSIVE if unresponsive else base


def evaluate(facts: ComplianceFacts, policy: CompliancePolicy) -> ComplianceVerdict:
    """The policy's verdict over the device's facts; every reason says what and why."""
    reasons: list[Reason] = []
    if not is_at_or_under(facts.risk_level, policy.max_risk):
        reasons.append(
            Reason(
                "risk",
                f"threat level {facts.risk_level.value} is above the allowed "
                f"{policy.max_risk.value}: {facts.risk_reason}",
            )
        )
    minimum = policy.min_os(facts.platform)
    if minimum:
        order = compare(facts.os_version, minimum)
        if order is None:
            reasons.append(
                Reason(
                    "os_version",
                    f"OS version {facts.os_version!r} cannot be compared with the minimum "
                    f"{minimum} for {facts.platform.value}",
                )
            )
        elif order < 0:
            reasons.append(
                Reason(
                    "os_version",
                    f"OS version {facts.os_version} is below the minimum {minimum} "
                    f"for {facts.platform.value}",
                )
            )
    if not facts.onboarded and policy.require_onboarding:
        reasons.append(Reason("not_onboarded", "retired: no longer onboarded"))
    return ComplianceVerdict(
        policy=policy.name,
        reasons=tuple(reasons),
        unresponsive_after=facts.last_seen_at + timedelta(days=policy.unresponsive_days),
        unresponsive_noncompliant=policy.unresponsive_action is UnresponsiveAction.NONCOMPLIANT,
        base_state=_base_state(facts),
        last_seen_at=facts.last_seen_at,
        unresponsive_days=policy.unresponsive_days,
    )


def _base_state(facts: ComplianceFacts) -> PartnerState:
    if not facts.onboarded:
        return PartnerState.DEACTIVATED
    if not facts.checked_in:
        return PartnerState.ACTIVATED
    if facts.compromised:
        return PartnerState.COMPROMISED
    if facts.protection_issues:
        return PartnerState.MISCONFIGURED
    return _STATE_FOR_LEVEL[facts.risk_level]


def valid_min_os(text: str) -> bool:
    """Whether a minimum OS version is a version this engine can compare."""
    key = parse_version(text)
    return key is not None and not key.is_patch_level
