"""The compliance engine: at-or-under for every level, minimum OS, onboarding, unresponsiveness
and the MDM partner health state, each with its explanation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openmtd.domain.enums import Platform, RiskLevel
from openmtd.engines.compliance import (
    ComplianceFacts,
    CompliancePolicy,
    PartnerState,
    UnresponsiveAction,
    evaluate,
    policy_for_group,
    valid_min_os,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LEVELS = list(RiskLevel)


def facts(**changes: object) -> ComplianceFacts:
    base: dict[str, object] = {
        "platform": Platform.ANDROID,
        "os_version": "14",
        "risk_level": RiskLevel.SECURED,
        "risk_reason": "no active alert above Informational",
        "last_seen_at": NOW,
    }
    base.update(changes)
    return ComplianceFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("allowed", LEVELS)
@pytest.mark.parametrize("level", LEVELS)
def test_a_level_is_compliant_at_or_under_the_allowed_one(
    level: RiskLevel, allowed: RiskLevel
) -> None:
    verdict = evaluate(
        facts(risk_level=level, risk_reason=f"{level.value}: because"),
        CompliancePolicy(name="p", max_risk=allowed),
    )
    assert verdict.is_compliant(NOW) is (level.rank <= allowed.rank)
    if level.rank > allowed.rank:
        assert [r.text for r in verdict.reasons] == [
            f"threat level {level.value} is above the allowed {allowed.value}: "
            f"{level.value}: because"
        ]


def test_the_minimum_os_version_is_per_platform() -> None:
    policy = CompliancePolicy(name="p", min_os_android="14", min_os_ios="17.4")
    assert evaluate(facts(os_version="14"), policy).is_compliant(NOW)
    old = evaluate(facts(os_version="13"), policy)
    assert [r.text for r in old.reasons] == ["OS version 13 is below the minimum 14 for android"]
    ios = facts(platform=Platform.IOS, os_version="17.3.1")
    assert [r.code for r in evaluate(ios, policy).reasons] == ["os_version"]
    assert evaluate(facts(platform=Platform.IOS, os_version="17.4.1"), policy).is_compliant(NOW)
    garbled = evaluate(facts(os_version="tiramisu"), policy)
    assert "cannot be compared with the minimum 14" in garbled.reasons[0].text


def test_unresponsive_after_n_days_noncompliant_or_ignored() -> None:
    seen = NOW - timedelta(days=3)
    strict = evaluate(facts(last_seen_at=seen), CompliancePolicy(name="p", unresponsive_days=3))
    assert strict.is_compliant(NOW)  # exactly N days: not yet
    later = NOW + timedelta(seconds=1)
    assert strict.is_unresponsive(later) and not strict.is_compliant(later)
    assert strict.all_reasons(later)[0].text == (
        "unresponsive: no check-in for more than 3 days (last seen 2026-11-24 12:00 UTC)"
    )
    assert strict.partner_state(later) is PartnerState.UNRESPONSIVE
    lenient = evaluate(
        facts(last_seen_at=seen),
        CompliancePolicy(
            name="p", unresponsive_days=3, unresponsive_action=UnresponsiveAction.IGNORE
        ),
    )
    assert lenient.is_compliant(later) and lenient.is_unresponsive(later)
    assert lenient.partner_state(later) is PartnerState.UNRESPONSIVE


def test_a_retired_device_is_deactivated_and_noncompliant_where_onboarding_is_required() -> None:
    retired = evaluate(facts(onboarded=False), CompliancePolicy(name="p"))
    assert [r.code for r in retired.reasons] == ["not_onboarded"]
    assert retired.partner_state(NOW + timedelta(days=30)) is PartnerState.DEACTIVATED
    relaxed = evaluate(facts(onboarded=False), CompliancePolicy(name="p", require_onboarding=False))
    assert relaxed.is_compliant(NOW)


@pytest.mark.parametrize(
    ("changes", "state"),
    [
        ({"checked_in": False}, PartnerState.ACTIVATED),
        ({}, PartnerState.SECURED),
        ({"risk_level": RiskLevel.LOW}, PartnerState.LOW_SEVERITY),
        ({"risk_level": RiskLevel.MEDIUM}, PartnerState.MEDIUM_SEVERITY),
        ({"risk_level": RiskLevel.HIGH}, PartnerState.HIGH_SEVERITY),
        ({"risk_level": RiskLevel.HIGH, "compromised": True}, PartnerState.COMPROMISED),
        ({"protection_issues": ("vpn_permission_missing",)}, PartnerState.MISCONFIGURED),
        ({"onboarded": False}, PartnerState.DEACTIVATED),
    ],
)
def test_partner_health_states(changes: dict[str, object], state: PartnerState) -> None:
    assert evaluate(facts(**changes), CompliancePolicy(name="p")).partner_state(NOW) is state


def test_a_group_policy_wins_over_the_all_groups_one() -> None:
    default = CompliancePolicy(name="default")
    sales = CompliancePolicy(name="sales", device_group="sales", max_risk=RiskLevel.MEDIUM)
    assert policy_for_group([sales, default], "sales") is sales
    assert policy_for_group([sales, default], "finance") is default
    assert policy_for_group([sales], "finance") is None


def test_the_fingerprint_moves_with_every_rule() -> None:
    base = CompliancePolicy(name="p")
    variants = [
        CompliancePolicy(name="p", max_risk=RiskLevel.HIGH),
        CompliancePolicy(name="p", require_onboarding=False),
        CompliancePolicy(name="p", unresponsive_days=8),
        CompliancePolicy(name="p", unresponsive_action=UnresponsiveAction.IGNORE),
        CompliancePolicy(name="p", min_os_android="14"),
        CompliancePolicy(name="p", min_os_ios="17"),
    ]
    prints = {base.fingerprint(), *(v.fingerprint() for v in variants)}
    assert len(prints) == len(variants) + 1


def test_minimum_versions_must_be_versions() -> None:
    assert valid_min_os("14") and valid_min_os("17.4.1")
    assert not valid_min_os("") and not valid_min_os("x" * 500)
