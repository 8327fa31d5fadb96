"""Device risk: the highest severity among active, non-informational alerts, with its reason."""

from __future__ import annotations

import pytest

from openmtd.domain.enums import AlertStatus, RiskLevel, Severity
from openmtd.engines.risk import AlertFact, assess_risk, is_at_or_under

NEW, IN_PROGRESS, RESOLVED = AlertStatus.NEW, AlertStatus.IN_PROGRESS, AlertStatus.RESOLVED


def fact(
    alert_id: int, severity: Severity, status: AlertStatus = NEW, title: str = ""
) -> AlertFact:
    return AlertFact(alert_id, title or f"alert {alert_id}", severity, status)


def test_no_alerts_is_secured_and_says_why() -> None:
    result = assess_risk([])
    assert result.level is RiskLevel.SECURED
    assert result.reason == "no active alert above Informational"
    assert result.driving_alert_ids == ()


def test_informational_alerts_never_raise_risk() -> None:
    result = assess_risk([fact(1, Severity.INFORMATIONAL), fact(2, Severity.INFORMATIONAL)])
    assert result.level is RiskLevel.SECURED
    assert result.driving_alert_ids == ()


def test_resolved_alerts_do_not_count() -> None:
    result = assess_risk([fact(1, Severity.HIGH, RESOLVED), fact(2, Severity.LOW)])
    assert result.level is RiskLevel.LOW
    assert result.driving_alert_ids == (2,)


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (Severity.LOW, RiskLevel.LOW),
        (Severity.MEDIUM, RiskLevel.MEDIUM),
        (Severity.HIGH, RiskLevel.HIGH),
    ],
)
@pytest.mark.parametrize("status", [NEW, IN_PROGRESS])
def test_each_severity_maps_to_its_level(
    severity: Severity, level: RiskLevel, status: AlertStatus
) -> None:
    assert assess_risk([fact(7, severity, status)]).level is level


def test_highest_severity_wins_and_the_reason_names_the_driving_alerts() -> None:
    alerts = [
        fact(3, Severity.LOW, title="rogue wifi"),
        fact(9, Severity.HIGH, title="jailbreak"),
        fact(4, Severity.MEDIUM, title="malware"),
        fact(5, Severity.HIGH, title="root"),
        fact(6, Severity.INFORMATIONAL, title="phishing warning"),
    ]
    result = assess_risk(alerts)
    assert result.level is RiskLevel.HIGH
    assert result.driving_alert_ids == (5, 9)  # sorted by id, only the worst severity
    assert result.reason == "High: active High alert(s) #5 'root', #9 'jailbreak'"


def test_reason_lists_at_most_three_drivers() -> None:
    result = assess_risk([fact(i, Severity.MEDIUM) for i in range(1, 6)])
    assert result.level is RiskLevel.MEDIUM
    assert result.driving_alert_ids == (1, 2, 3, 4, 5)
    assert result.reason.endswith("#3 'alert 3' and 2 more")
    assert "#4" not in result.reason


def test_accepts_any_iterable_once() -> None:
    result = assess_risk(fact(i, Severity.LOW) for i in (2, 1))
    assert result.driving_alert_ids == (1, 2)


@pytest.mark.parametrize("allowed", list(RiskLevel))
@pytest.mark.parametrize("level", list(RiskLevel))
def test_compliance_is_at_or_under_the_allowed_level(level: RiskLevel, allowed: RiskLevel) -> None:
    order = [RiskLevel.SECURED, RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH]
    assert is_at_or_under(level, allowed) is (order.index(level) <= order.index(allowed))


def test_conditional_launch_codes() -> None:
    assert [
        r.code for r in (RiskLevel.SECURED, RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH)
    ] == [1, 2, 3, 4]
